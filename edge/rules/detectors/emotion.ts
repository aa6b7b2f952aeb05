import { CHANNELS, type Channel, type PipelineEventOf } from '../../events.js';
import { signalRule, type Detector, type RuleContext } from '../detector.js';
import type { Alert } from '../types.js';

type Stretch = PipelineEventOf<'emotion'>;

interface Alerted {
  alert: Alert;
  /** The stretch's latest report: its figures so far, final once closed. */
  stretch: Stretch;
  closed: boolean;
  /** The alert quoted the stretch's words when raised. */
  hadWords: boolean;
}

/** Stretches alerted and not yet settled, by side and start: their alert may still need revising. */
type State = { alerted: Set<string>; unsettled: Map<string, Alerted> };

/** A rise with its sign: a cue that fell (slower, quieter) reads as such, never as "+-3%". */
const signed = (x: number, digits: number) => {
  const n = Math.abs(x).toFixed(digits);
  return `${x < 0 && Number(n) !== 0 ? '-' : '+'}${n}`;
};
/** The three cues the stretch was judged on, as the index records them. */
const figures = (e: Stretch) =>
  `pitch ${signed(e.f0RisePct, 0)}%, tempo ${signed(e.tempoRisePct, 0)}%, loudness ${signed(e.loudnessRiseDb, 1)} dB (score ${e.score.toFixed(2)})`;
const evidence = (e: Stretch, said: string) => `${e.channel} voice raised: ${figures(e)}${said ? `: "${said}"` : ''}`;

/**
 * Agitation: a raised stretch on `channel` (default the customer) scoring at least minScore. Raised while the
 * stretch goes on, once per stretch; sent again (a revision) once it has closed, with its words if they were
 * not in yet and with the stretch's final figures, so the alert quotes what the index records.
 */
export const emotion: Detector<State> = {
  kind: 'emotion',
  params: { minScore: 0.5, minDurationSec: 0 },
  compile: (spec, tools) => ({ ...signalRule(spec, tools), channel: 'customer' }),
  start: () => ({ alerted: new Set(), unsettled: new Map() }),
  event(ctx, event) {
    if (event.type === 'words') settle(ctx, event.channel, false);
    if (event.type !== 'emotion') return;
    const { rule, state } = ctx;
    if (rule.channel && event.channel !== rule.channel) return;
    const key = `${event.channel}@${event.start.toFixed(3)}`;
    const unsettled = state.unsettled.get(key);
    if (unsettled) Object.assign(unsettled, { stretch: event, closed: !event.ongoing });
    if (!state.alerted.has(key) && event.score >= rule.params.minScore && event.end - event.start >= rule.params.minDurationSec) {
      state.alerted.add(key);
      const said = ctx.call.wordsAround(event.channel, event.start, event.end, 2);
      const alert = ctx.raise({ channel: event.channel, start: event.start, end: event.end, evidence: evidence(event, said) });
      if (alert) state.unsettled.set(key, { alert, stretch: event, closed: !event.ongoing, hadWords: said !== '' });
    }
    if (!event.ongoing) settle(ctx, event.channel, false);
  },
  end(ctx) {
    for (const channel of CHANNELS) settle(ctx, channel, true);
  },
};

/** Alerts of closed stretches: revised once their words are in (or the call has ended), if anything changed. */
function settle(ctx: RuleContext<State>, channel: Channel, callEnded: boolean): void {
  for (const [key, a] of ctx.state.unsettled) {
    if (a.stretch.channel !== channel || !(a.closed || callEnded)) continue;
    const said = ctx.call.wordsAround(channel, a.stretch.start, a.stretch.end, 2);
    if (!a.hadWords && !said && !callEnded) continue;
    ctx.state.unsettled.delete(key);
    const now = evidence(a.stretch, said);
    const learnt = a.hadWords ? !a.alert.evidence.includes(figures(a.stretch)) : said !== '' || !a.alert.evidence.includes(figures(a.stretch));
    if (learnt) ctx.revise(a.alert, now);
  }
}

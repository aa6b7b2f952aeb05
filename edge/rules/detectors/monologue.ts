import { otherChannel } from '../../events.js';
import { formatTime } from '../../search/query.js';
import { signalRule, type Detector } from '../detector.js';

/** Monologues already alerted: a turn overlapping one of these is the same monologue. */
type State = { start: number; end: number }[];

/**
 * A monologue: one side (`channel`, default the agent) holds the floor for more than minSec without the other
 * getting a word in. A turn (edge/call/turns.ts) goes on across the speaker's pauses up to
 * analysis.monologue.maxPauseSec and the other side's back-channels (shorter than analysis.monologue.backchannelSec).
 * Raised while the speaker is still going, the moment the turn passes minSec.
 */
export const monologue: Detector<State> = {
  kind: 'monologue',
  params: { minSec: 30 },
  compile: (spec, tools) => ({ ...signalRule(spec, tools), channel: 'agent' }),
  start: () => [],
  tick(ctx, horizon) {
    const by = ctx.rule.channel ?? 'agent';
    const { minSec } = ctx.rule.params;
    for (const turn of ctx.call.turns(horizon)) {
      if (turn.channel !== by || turn.durationSec <= minSec) continue;
      if (ctx.state.some((a) => a.start < turn.end && turn.start < a.end)) continue;
      ctx.state.push(turn);
      const said = ctx.call.wordsAround(by, turn.start, turn.start + 1, 5);
      ctx.raise({
        channel: by,
        start: turn.start,
        end: turn.start + minSec,
        evidence: `the ${by} talked for more than ${minSec} s from ${formatTime(turn.start)} without the ${otherChannel(by)} getting a word in${said ? `: "${said}"` : ''}`,
      });
    }
  },
};

/**
 * A score per alert, for the threshold analysis: what each threshold would have kept of the reviewed alerts.
 * An alert carries no score of its own (edge/rules/types.ts): it is derived here from the alert and its
 * call's index, in the unit of the threshold a site would tune for that kind of rule (docs/central.md,
 * "Review"). The live engine raises a timed alert the moment its threshold is crossed, so the alert's own
 * span is the threshold itself (dead air: start + silenceSec); the index holds how long the silence, the
 * over-talk or the agent's silence really lasted. Input comes from the boxes: nothing here trusts its shape.
 */
import { RulePackRegistry } from '../../edge/rules/pack.js';

export type ScoreKind = 'silence' | 'silent-agent' | 'overtalk' | 'emotion' | 'phrase';

/** What a score is, per kind, for the page and the CSV. */
export const SCORE_UNITS: Record<ScoreKind, { unit: 's' | 'score'; what: string }> = {
  silence: { unit: 's', what: 'length of the silence (both sides quiet)' },
  'silent-agent': { unit: 's', what: 'how long the agent stayed silent' },
  overtalk: { unit: 's', what: 'length of the over-talk' },
  emotion: { unit: 'score', what: 'emotion score of the agitated stretch (0..1)' },
  phrase: { unit: 'score', what: "keyword score of the phrase heard (spotter: the threshold it cleared; recogniser: the words' confidence)" },
};

/** By the detector that judges the rule (edge/rules/detectors/); the agent's monologue has no threshold score yet. */
const DETECTOR_KIND: Record<string, ScoreKind | null> = {
  'dead-air': 'silence',
  'late-hangup': 'silence',
  'silent-agent': 'silent-agent',
  overtalk: 'overtalk',
  emotion: 'emotion',
  // Lower is worse (how soon after the customer's last words the call ended): no threshold to keep above.
  'hurried-hangup': null,
  monologue: null,
};

let builtinKinds: Map<string, ScoreKind | null> | null = null;

/** The kind of a built-in rule, by id; undefined for a rule the centre does not know (a site's own pack). */
export function builtinRuleKind(rule: string): ScoreKind | null | undefined {
  builtinKinds ??= new Map(
    RulePackRegistry.withBuiltins()
      .rules()
      .map((r) => [r.id, r.kind in DETECTOR_KIND ? DETECTOR_KIND[r.kind] : r.query && r.terms.length > 0 ? 'phrase' : null] as const),
  );
  return builtinKinds.get(rule);
}

/** Spans of one call's index and alert, read defensively. */
interface Span {
  start: number;
  end: number;
}
type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v.map(obj).filter((x): x is Obj => x !== null) : []);
const span = (o: Obj): Span | null => {
  const start = num(o.start);
  const end = num(o.end);
  return start === null || end === null ? null : { start, end };
};

/** The engine and the index round times to the millisecond and work in 32 ms frames. */
const EPS = 0.05;
const near = (a: number, b: number) => Math.abs(a - b) <= EPS;
const round3 = (x: number) => Math.round(x * 1000) / 1000;

export interface ScoredAlert {
  kind: ScoreKind;
  score: number;
}

/**
 * The score of `alert` (an entry of the index's alerts[], or an alert record's data) in its call's `index`,
 * or null when its rule has no meaningful score or the index holds nothing to take it from.
 */
export function alertScore(alert: unknown, index: unknown): ScoredAlert | null {
  const a = obj(alert);
  const ix = obj(index);
  if (!a || !ix || typeof a.rule !== 'string') return null;
  const at = span(a);
  if (!at) return null;
  const channel = typeof a.channel === 'string' ? a.channel : null;
  const known = builtinRuleKind(a.rule);
  const kinds: ScoreKind[] = known === undefined ? ['emotion', 'overtalk', 'silence', 'phrase'] : known === null ? [] : [known];
  for (const kind of kinds) {
    const score = SCORERS[kind](at, channel, ix, known !== undefined);
    if (score !== null) return { kind, score: round3(score) };
  }
  return null;
}

type Scorer = (a: Span, channel: string | null, index: Obj, known: boolean) => number | null;

const SCORERS: Record<ScoreKind, Scorer> = {
  // dead air, late hang-up: the silence the alert was raised in (it starts where the alert does)
  silence: (a, channel, ix, known) => {
    if (!known && channel !== 'both') return null;
    const s = list(ix.silences).find((x) => num(x.start) !== null && near(num(x.start)!, a.start));
    return s ? (num(s.durationSec) ?? spanLength(s)) : null;
  },
  // from where the agent's silence was timed (the connect, or the end of the customer's unanswered words)
  // to the agent's next words, or the end of the call
  'silent-agent': (a, _channel, ix) => {
    const next = list(ix.utterances)
      .filter((u) => u.channel === 'agent')
      .map((u) => num(u.start))
      .filter((s): s is number => s !== null && s >= a.start - EPS)
      .sort((x, y) => x - y)[0];
    const end = next ?? num(ix.durationSec);
    return end === null ? null : Math.max(0, end - a.start);
  },
  // the over-talk the interrupter (the alert's channel) started where the alert starts
  overtalk: (a, channel, ix) => {
    const o = list(ix.overtalk)
      .filter((x) => x.by === channel)
      .map((x) => ({ x, s: span(x) }))
      .filter((c): c is { x: Obj; s: Span } => c.s !== null && c.s.start - EPS <= a.start && a.start <= c.s.end + EPS)
      .sort((p, q) => Math.abs(p.s.start - a.start) - Math.abs(q.s.start - a.start))[0];
    return o ? (num(o.x.durationSec) ?? o.s.end - o.s.start) : null;
  },
  // the agitated stretch the alert was raised on (same voice, same start)
  emotion: (a, channel, ix) => {
    const e = list(ix.emotion).find((x) => x.channel === channel && num(x.start) !== null && near(num(x.start)!, a.start));
    return e ? num(e.score) : null;
  },
  // The hits the alert was raised on: inside its span and starting or ending where it does (a NEAR rule
  // spans from its first hit to its last). An alert is only as sure as its least sure hit. Without a keyword
  // hit there (a phrase the spotters were not listening for), the recognised words' mean confidence: the
  // same measure the index gives a phrase found in the words.
  phrase: (a, channel, ix) => {
    const side = (c: unknown) => channel === 'both' || channel === null || c === channel;
    const inside = (s: Span) => s.start >= a.start - EPS && s.end <= a.end + EPS;
    const hits = list(ix.keywords)
      .filter((k) => side(k.channel))
      .map((k) => ({ s: span(k), score: num(k.score) }))
      .filter((h): h is { s: Span; score: number } => h.s !== null && h.score !== null && inside(h.s) && (near(h.s.start, a.start) || near(h.s.end, a.end)));
    if (hits.length > 0) return Math.min(...hits.map((h) => h.score));
    const confs = list(ix.utterances)
      .filter((u) => side(u.channel))
      .flatMap((u) => list(u.words))
      .map((w) => ({ s: span(w), conf: num(w.conf) }))
      .filter((w): w is { s: Span; conf: number } => w.s !== null && w.conf !== null && inside(w.s))
      .map((w) => w.conf);
    return confs.length ? confs.reduce((x, y) => x + y, 0) / confs.length : null;
  },
};

const spanLength = (o: Obj): number | null => {
  const s = span(o);
  return s ? s.end - s.start : null;
};

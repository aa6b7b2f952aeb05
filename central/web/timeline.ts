/**
 * The call page's picture and transcript, from a stored call index (docs/call-index.md): pure functions, so
 * a Node test counts the marks against the index and the page draws exactly what was counted. One lane per
 * channel (agent, customer) holds that side's utterances, the over-talk it started, its agitated stretches,
 * the watched phrases it said and the alerts on it; silences (both sides quiet) and alerts on both sides
 * span the two lanes. An index is read defensively: it comes from a box, may lack optional fields (no words
 * without a recogniser, no `line` for a recording) and must still draw.
 */
import { formatTime } from '../../edge/search/query.js';

export type Channel = 'agent' | 'customer';
export type Lane = Channel | 'both';
export type MarkKind = 'silence' | 'utterance' | 'overtalk' | 'agitation' | 'keyword' | 'alert';
/** In drawing order: a later kind is drawn over an earlier one. */
export const MARK_KINDS: readonly MarkKind[] = ['silence', 'utterance', 'overtalk', 'agitation', 'keyword', 'alert'];

export interface Mark {
  kind: MarkKind;
  lane: Lane;
  start: number;
  end: number;
  /** the tooltip: what it is, when, and what the index says of it */
  title: string;
  /** alerts: info, warning or critical */
  severity?: string;
  /** alerts: the box withdrew it (a false alarm), so it is drawn greyed, not in its severity's colour */
  withdrawn?: boolean;
}

export interface Timeline {
  durationSec: number;
  marks: Mark[];
  /** seconds at which the axis is labelled */
  ticks: number[];
}

export interface TranscriptWord {
  w: string;
  start: number;
  end: number;
}

export interface TranscriptUtterance {
  channel: Channel;
  start: number;
  end: number;
  /** the recogniser's words with their times; empty when it gave none */
  words: TranscriptWord[];
  /** the utterance's text when it has no timed words; null when this side was not transcribed */
  text: string | null;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : null);
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v.map(obj).filter((x): x is Obj => x !== null) : []);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const channel = (v: unknown): Channel | null => (v === 'agent' || v === 'customer' ? v : null);
const other = (c: Channel): Channel => (c === 'agent' ? 'customer' : 'agent');
const short = (s: string, max = 140) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);
const span = (start: number, end: number) => `${formatTime(start)}–${formatTime(end)}`;

/** A stretch's times, or null when the index gives none usable. */
function times(o: Obj): { start: number; end: number } | null {
  const start = num(o.start);
  const end = num(o.end);
  return start === null || end === null || end < start ? null : { start, end };
}

/** The call's length: as the index says, else as far as anything in it reaches. */
function durationOf(ix: Obj): number {
  const d = num(ix.durationSec);
  if (d !== null && d > 0) return d;
  const ends = ['utterances', 'silences', 'overtalk', 'emotion', 'keywords', 'alerts'].flatMap((k) => list(ix[k]).map((o) => num(o.end) ?? 0));
  return Math.max(1, ...ends);
}

function ticksFor(durationSec: number): number[] {
  const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600].find((s) => durationSec / s <= 10) ?? 7200;
  const out: number[] = [];
  for (let t = 0; t <= durationSec + 1e-9; t += step) out.push(t);
  return out;
}

/** The marks of an index, one per utterance, silence, over-talk, agitated stretch, keyword hit and alert. */
export function timelineOf(index: unknown): Timeline {
  const ix = obj(index) ?? {};
  const marks: Mark[] = [];
  for (const u of list(ix.utterances)) {
    const c = channel(u.channel);
    const t = times(u);
    if (!c || !t) continue;
    const text = str(u.text) ?? (Array.isArray(u.words) ? list(u.words).map((w) => str(w.w) ?? '').join(' ') : '');
    marks.push({ kind: 'utterance', lane: c, ...t, title: `${c} ${span(t.start, t.end)}${text ? `: "${short(text)}"` : ' (not transcribed)'}` });
  }
  for (const s of list(ix.silences)) {
    const t = times(s);
    if (!t) continue;
    const where = str(s.position);
    marks.push({ kind: 'silence', lane: 'both', ...t, title: `silence of ${(t.end - t.start).toFixed(1)} s${where ? ` (${where} of call)` : ''}, ${span(t.start, t.end)}` });
  }
  for (const o of list(ix.overtalk)) {
    const by = channel(o.by);
    const t = times(o);
    if (!by || !t) continue;
    marks.push({ kind: 'overtalk', lane: by, ...t, title: `over-talk of ${(t.end - t.start).toFixed(1)} s: the ${by} talked over the ${other(by)}, ${span(t.start, t.end)}` });
  }
  for (const e of list(ix.emotion)) {
    const c = channel(e.channel);
    const t = times(e);
    if (!c || !t) continue;
    const f0 = num(e.f0RisePct);
    const db = num(e.loudnessRiseDb);
    const score = num(e.score);
    const how = [f0 !== null ? `pitch +${f0.toFixed(0)}%` : '', db !== null ? `loudness +${db.toFixed(1)} dB` : '', score !== null ? `score ${score.toFixed(2)}` : ''].filter(Boolean);
    marks.push({ kind: 'agitation', lane: c, ...t, title: `${c} agitated, ${span(t.start, t.end)}${how.length ? `: ${how.join(', ')}` : ''}` });
  }
  for (const k of list(ix.keywords)) {
    const c = channel(k.channel);
    const t = times(k);
    if (!c || !t) continue;
    const source = k.source === 'kws' ? 'keyword spotter' : k.source === 'asr' ? 'transcript' : null;
    marks.push({ kind: 'keyword', lane: c, ...t, title: `"${short(str(k.term) ?? '?', 60)}" said by the ${c} at ${formatTime(t.start)}${source ? ` (${source})` : ''}` });
  }
  for (const a of list(ix.alerts)) {
    const t = times(a);
    if (!t) continue;
    const lane: Lane = channel(a.channel) ?? 'both';
    const severity = str(a.severity) ?? 'info';
    const evidence = str(a.evidence);
    const withdrawn = str(a.withdrawn) !== null;
    marks.push({
      kind: 'alert',
      lane,
      ...t,
      severity,
      withdrawn,
      title: `${withdrawn ? 'withdrawn ' : ''}${severity}: ${str(a.title) ?? str(a.rule) ?? 'alert'}${a.rule ? ` (${String(a.rule)})` : ''}, ${span(t.start, t.end)}${evidence ? ` — ${short(evidence, 200)}` : ''}`,
    });
  }
  const durationSec = durationOf(ix);
  return { durationSec, marks, ticks: ticksFor(durationSec) };
}

/** Both sides' utterances interleaved in time, with their words. */
export function transcriptOf(index: unknown): TranscriptUtterance[] {
  const out: TranscriptUtterance[] = [];
  for (const u of list(obj(index)?.utterances)) {
    const c = channel(u.channel);
    const t = times(u);
    if (!c || !t) continue;
    const words = list(u.words).flatMap((w) => {
      const wt = times(w);
      const text = str(w.w);
      return wt && text ? [{ w: text, ...wt }] : [];
    });
    out.push({ channel: c, ...t, words, text: words.length ? null : str(u.text) });
  }
  return out.sort((a, b) => a.start - b.start || (a.channel < b.channel ? -1 : 1));
}

/** A place in the transcript: an utterance (its position in transcriptOf's order) and one of its words (-1: all of it). */
export interface TranscriptPlace {
  u: number;
  w: number;
}

/**
 * The words said in [start, end] on a lane ('both': either side): what a click on a mark, or `#t=` in the
 * URL, shows. Without timed words, the utterances there; where nobody spoke (a silence), the last words
 * before it (else the first after).
 */
export function wordsAt(transcript: readonly TranscriptUtterance[], lane: Lane, start: number, end: number = start): TranscriptPlace[] {
  const onLane = (u: TranscriptUtterance) => lane === 'both' || u.channel === lane;
  // A point (start = end) is in a stretch that contains it; a stretch of time meets what overlaps it.
  const overlaps = (s: number, e: number) => (start === end ? s <= start && start <= e : (s < end && e > start) || (s === e && s >= start && s <= end));
  const words: TranscriptPlace[] = [];
  const utterances: TranscriptPlace[] = [];
  transcript.forEach((u, i) => {
    if (!onLane(u) || !overlaps(u.start, u.end)) return;
    const hit = u.words.flatMap((w, j) => (overlaps(w.start, w.end) ? [{ u: i, w: j }] : []));
    if (hit.length) words.push(...hit);
    else utterances.push({ u: i, w: -1 });
  });
  if (words.length) return words;
  if (utterances.length) return utterances;
  let before = -1;
  let after = -1;
  transcript.forEach((u, i) => {
    if (!onLane(u)) return;
    if (u.end <= start && (before < 0 || u.end >= transcript[before].end)) before = i;
    if (u.start >= end && after < 0) after = i;
  });
  const near = before >= 0 ? before : after;
  return near >= 0 ? [{ u: near, w: -1 }] : [];
}

// Drawing: viewBox units; the SVG scales to the page's width.
const W = 1000;
const LEFT = 78;
const RIGHT = 12;
const LANE_H = 46;
const TOP: Record<Lane, number> = { agent: 4, both: 52, customer: 64 };
const AXIS = TOP.customer + LANE_H + 4;
const HEIGHT = AXIS + 20;
/** Each kind's band within its lane (y offset, height); silences span both lanes. */
const BAND: Record<MarkKind, [number, number]> = {
  alert: [1, 8],
  keyword: [11, 6],
  utterance: [19, 16],
  overtalk: [19, 16],
  agitation: [37, 8],
  silence: [0, 0],
};

const SVG_NS = 'http://www.w3.org/2000/svg';

/** The timeline as SVG; each mark a `rect.mark` with data-kind, data-lane, data-start, data-end, data-i (its place in `marks`) and a <title>. */
export function drawTimeline(doc: Document, t: Timeline): SVGSVGElement {
  const x = (sec: number) => LEFT + (Math.min(Math.max(sec, 0), t.durationSec) / t.durationSec) * (W - LEFT - RIGHT);
  const node = <K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, parent: Element): SVGElementTagNameMap[K] => {
    const e = doc.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    parent.append(e);
    return e;
  };
  const svg = doc.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${HEIGHT}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'call timeline: agent and customer lanes');
  svg.classList.add('timeline');
  for (const lane of ['agent', 'customer'] as const) {
    node('rect', { class: `lane lane-${lane}`, x: LEFT, y: TOP[lane], width: W - LEFT - RIGHT, height: LANE_H }, svg);
    node('text', { class: 'lane-label', x: 6, y: TOP[lane] + LANE_H / 2 + 5 }, svg).textContent = lane;
  }
  node('line', { class: 'axis', x1: LEFT, x2: W - RIGHT, y1: AXIS, y2: AXIS }, svg);
  for (const tick of t.ticks) {
    node('line', { class: 'tick', x1: x(tick), x2: x(tick), y1: TOP.agent, y2: AXIS + 4 }, svg);
    node('text', { class: 'tick-label', x: x(tick), y: AXIS + 16 }, svg).textContent = formatTime(tick).replace(/\.0$/, '');
  }
  const order = t.marks.map((m, i) => ({ m, i })).sort((a, b) => MARK_KINDS.indexOf(a.m.kind) - MARK_KINDS.indexOf(b.m.kind));
  for (const { m, i } of order) {
    const [dy, h] = BAND[m.kind];
    const y = m.kind === 'silence' ? TOP.agent : TOP[m.lane] + dy;
    const height = m.kind === 'silence' ? TOP.customer + LANE_H - TOP.agent : h;
    const left = x(m.start);
    const width = Math.max(x(m.end) - left, m.kind === 'keyword' || m.kind === 'alert' ? 3 : 1);
    const r = node('rect', { class: `mark m-${m.kind} lane-${m.lane}${m.severity ? ` sev-${m.severity}` : ''}${m.withdrawn ? ' withdrawn' : ''}`, x: left, y, width, height }, svg);
    r.dataset.kind = m.kind;
    r.dataset.lane = m.lane;
    r.dataset.start = String(m.start);
    r.dataset.end = String(m.end);
    r.dataset.i = String(i);
    node('title', {}, r).textContent = m.title;
  }
  return svg;
}

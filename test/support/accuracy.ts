/**
 * Scores call indexes against the evaluation set's truth (scripts/eval-set.ts), one table per class of issue 19:
 * language, agitation, interrupter, keyword recall per rule phrase, rules end to end, and the worst misses.
 * bench/accuracy.ts runs the calls through the pipeline and prints this; test/eval-set.test.ts feeds it
 * hand-built indexes. Pure: nothing here reads audio or files.
 */
import type { CallIndex } from '../../edge/index/call-index.js';
import { standing } from '../../edge/rules/types.js';
import type { EvalTruth } from '../../scripts/eval-set.js';
import { NOISY_FROM_DB } from '../../scripts/eval-set.js';
import type { Speaker } from '../../scripts/make-call.js';

export interface ScoredCall {
  truth: EvalTruth;
  index: CallIndex;
}

/** An agitated stretch counts as flagged when the box says so within this long of its start (issue 19). */
export const FLAG_WITHIN_SEC = 1.5;
/** A keyword hit belongs to a said phrase when it falls in the phrase's turn, give or take this much. */
const TURN_SLACK = { before: 0.5, after: 0.8 };

const ratio = (a: number, b: number): number | null => (b > 0 ? Number((a / b).toFixed(3)) : null);
const perHour = (n: number, sec: number): number | null => (sec > 0 ? Number(((n * 3600) / sec).toFixed(2)) : null);
const round = (x: number, d = 3) => Number(x.toFixed(d));
const overlaps = (a: { start: number; end: number }, b: { start: number; end: number }, slack = 0) => a.start < b.end + slack && a.end > b.start - slack;
const lower = (s: string) => s.toLowerCase();

export interface Miss {
  class: 'rule-missed' | 'rule-false-alarm' | 'language' | 'agitation' | 'interrupter' | 'keyword';
  call: string;
  time: number;
  expected: string;
  got: string;
  /** Larger is worse: how plainly the truth called for it. */
  weight: number;
}

function speakingSides(t: EvalTruth): Speaker[] {
  return t.speechOn ?? (['agent', 'customer'] as const).filter((c) => t.turns.some((x) => x.channel === c));
}

function condition(t: EvalTruth): string {
  if (t.kind === 'real') return `real/${t.language}`;
  const noisy = t.noiseDb !== null && t.noiseDb >= NOISY_FROM_DB ? 'noisy' : 'clean';
  return `${noisy}/${t.sampleRate >= 16000 ? '16k' : '8k'}`;
}

function tally(): { calls: number; right: number } {
  return { calls: 0, right: 0 };
}

function languageTable(calls: ScoredCall[], misses: Miss[]) {
  const by: Record<string, { calls: number; right: number }> = {};
  const byLang: Record<string, { calls: number; right: number }> = {};
  const all = tally();
  for (const { truth, index } of calls) {
    const got = speakingSides(truth).map((c) => index.recognition?.[c]?.language ?? null);
    const right = got.every((l) => l === truth.language);
    for (const t of [(by[condition(truth)] ??= tally()), (byLang[truth.language] ??= tally()), all]) {
      t.calls++;
      if (right) t.right++;
    }
    if (!right) misses.push({ class: 'language', call: truth.id, time: 0, expected: truth.language, got: speakingSides(truth).map((c, i) => `${c}: ${got[i] ?? 'undecided'}`).join(', '), weight: 3 });
  }
  const view = (t: { calls: number; right: number }) => ({ calls: t.calls, right: t.right, share: ratio(t.right, t.calls) });
  return {
    what: 'calls whose every speaking side was recognised in the right language (index.recognition.<side>.language)',
    all: view(all),
    byCondition: Object.fromEntries(Object.entries(by).sort().map(([k, v]) => [k, view(v)])),
    byLanguage: Object.fromEntries(Object.entries(byLang).sort().map(([k, v]) => [k, view(v)])),
    goal: 0.99,
  };
}

function agitationTable(calls: ScoredCall[], misses: Miss[]) {
  let stretches = 0;
  let flagged = 0;
  let alerted = 0;
  let strong = 0;
  let strongFlagged = 0;
  const dims = { pitch: {} as Record<string, { stretches: number; flagged: number }>, tempo: {} as Record<string, { stretches: number; flagged: number }>, gainDb: {} as Record<string, { stretches: number; flagged: number }> };
  let calmSec = 0;
  let longCalmSec = 0;
  let falseEvents = 0;
  let falseAlerts = 0;
  for (const { truth, index } of calls) {
    if (truth.kind === 'real') continue;
    for (const a of truth.agitated) {
      stretches++;
      // The index keeps each emotion stretch as it closed (start = where the raised voice began); only the
      // rule's alert says when the box knew, so both are counted.
      const event = index.emotion.some((e) => e.channel === a.channel && overlaps(e, a) && e.start <= a.start + FLAG_WITHIN_SEC);
      const alert = index.alerts.some((x) => x.rule === 'customer-agitation' && x.channel === a.channel && x.raisedAt >= a.start - 0.5 && x.raisedAt <= a.start + FLAG_WITHIN_SEC);
      if (event) flagged++;
      if (alert) alerted++;
      if (a.twoLargeRises) {
        strong++;
        if (event) strongFlagged++;
      }
      for (const key of ['pitch', 'tempo', 'gainDb'] as const) {
        const d = (dims[key][String(a.agitation[key])] ??= { stretches: 0, flagged: 0 });
        d.stretches++;
        if (event) d.flagged++;
      }
      if (!event) {
        const got = index.emotion.filter((e) => e.channel === a.channel).map((e) => `emotion ${e.start}-${e.end} score ${e.score} (f0 +${e.f0RisePct}%, +${e.loudnessRiseDb} dB)`).join('; ') || 'no emotion event';
        misses.push({
          class: 'agitation',
          call: truth.id,
          time: a.start,
          expected: `agitated ${a.channel} ${a.start}-${a.end}: pitch +${Math.round(a.agitation.pitch * 100)}%, tempo x${a.agitation.tempo}, +${a.agitation.gainDb} dB`,
          got,
          weight: (a.twoLargeRises ? 2 : 1) + a.agitation.pitch + (a.agitation.tempo - 1) + a.agitation.gainDb / 8,
        });
      }
    }
    // Calm speech: every customer turn that was not scripted agitated; a false alarm is an emotion stretch
    // (or an agitation alert) that touches no agitated stretch.
    const calm = truth.turns.filter((t) => t.channel === 'customer' && !t.agitation).reduce((s, t) => s + t.end - t.start, 0);
    calmSec += calm;
    if (truth.kind === 'long-calm') longCalmSec += calm;
    const agitatedHere = truth.agitated.filter((a) => a.channel === 'customer');
    for (const e of index.emotion.filter((e) => e.channel === 'customer')) {
      if (!agitatedHere.some((a) => overlaps(e, a, 1))) {
        falseEvents++;
        misses.push({ class: 'agitation', call: truth.id, time: e.start, expected: 'calm customer', got: `emotion ${e.start}-${e.end} score ${e.score} (f0 +${e.f0RisePct}%, +${e.loudnessRiseDb} dB)`, weight: 1.5 });
      }
    }
    falseAlerts += index.alerts.filter((x) => x.rule === 'customer-agitation' && !agitatedHere.some((a) => overlaps(x, a, 1))).length;
  }
  const dimView = (d: Record<string, { stretches: number; flagged: number }>) =>
    Object.fromEntries(Object.entries(d).sort((a, b) => Number(a[0]) - Number(b[0])).map(([k, v]) => [k, { stretches: v.stretches, flagged: v.flagged, recall: ratio(v.flagged, v.stretches) }]));
  return {
    what: `agitated stretches with an emotion event on that side starting by ${FLAG_WITHIN_SEC} s after the stretch starts; alertRecall: a customer-agitation alert raised by then`,
    stretches,
    flagged,
    recall: ratio(flagged, stretches),
    alertRecall: ratio(alerted, stretches),
    twoLargeRises: { stretches: strong, flagged: strongFlagged, recall: ratio(strongFlagged, strong) },
    byPitchRise: dimView(dims.pitch),
    byTempo: dimView(dims.tempo),
    byLoudnessDb: dimView(dims.gainDb),
    falseAlarms: {
      calmCustomerSpeechHours: round(calmSec / 3600, 3),
      ofWhichLongCalmCallsHours: round(longCalmSec / 3600, 3),
      emotionEvents: falseEvents,
      perHour: perHour(falseEvents, calmSec),
      alerts: falseAlerts,
      alertsPerHour: perHour(falseAlerts, calmSec),
    },
    goal: { recall: 0.95, falseAlarmsPerHour: 0.1 },
  };
}

function interrupterTable(calls: ScoredCall[], misses: Miss[]) {
  const t = { overlaps: 0, detected: 0, right: 0 };
  const byWho: Record<string, { overlaps: number; right: number }> = {};
  const byLength: Record<string, { overlaps: number; right: number }> = {};
  for (const { truth, index } of calls) {
    for (const o of truth.overlaps) {
      const events = index.overtalk.filter((e) => overlaps(e, o));
      const right = events.length > 0 && events.every((e) => e.by === o.by);
      t.overlaps++;
      if (events.length) t.detected++;
      if (right) t.right++;
      const w = (byWho[o.by] ??= { overlaps: 0, right: 0 });
      const l = (byLength[o.end - o.start >= 1 ? 'over1s' : 'under1s'] ??= { overlaps: 0, right: 0 });
      for (const x of [w, l]) {
        x.overlaps++;
        if (right) x.right++;
      }
      if (!right) {
        misses.push({
          class: 'interrupter',
          call: truth.id,
          time: o.start,
          expected: `${o.by} cuts in, ${o.start}-${o.end}`,
          got: events.map((e) => `${e.by} ${e.start}-${e.end}`).join('; ') || 'no over-talk',
          weight: 1 + (o.end - o.start),
        });
      }
    }
  }
  const view = (x: { overlaps: number; right: number }) => ({ ...x, share: ratio(x.right, x.overlaps) });
  return {
    what: 'scripted overlaps whose over-talk events (index.overtalk touching the overlap) all name the one who cut in',
    overlaps: t.overlaps,
    detected: t.detected,
    right: t.right,
    share: ratio(t.right, t.overlaps),
    byInterrupter: Object.fromEntries(Object.entries(byWho).map(([k, v]) => [k, view(v)])),
    byLength: Object.fromEntries(Object.entries(byLength).map(([k, v]) => [k, view(v)])),
    goal: 0.95,
  };
}

/** A said phrase accounts for a hit of `term` when the phrase is or contains it ("guaranteed return" and "guaranteed"). */
const covers = (said: string, term: string) => lower(said).includes(lower(term));

type Hit = { channel: string; start: number; end: number };
type Said = { channel: string; turnStart: number; turnEnd: number };

/** A hit belongs to a said phrase when it is on the same side and within the turn that says it. */
export const hitInTurn = (k: Hit, occ: Said): boolean => k.channel === occ.channel && k.end > occ.turnStart - TURN_SLACK.before && k.start < occ.turnEnd + TURN_SLACK.after;

/** A hit of `term` that no said phrase accounts for is a false alarm. */
export const explained = (k: Hit & { term: string }, said: readonly (Said & { phrase: string })[]): boolean => said.some((x) => covers(x.phrase, k.term) && hitInTurn(k, x));

function keywordTable(calls: ScoredCall[], phraseList: { rule: string; language: string; phrase: string }[], misses: Miss[]) {
  const speechSec: Record<string, number> = {};
  for (const { truth } of calls) {
    if (truth.kind === 'real') continue;
    speechSec[truth.language] = (speechSec[truth.language] ?? 0) + truth.turns.reduce((s, t) => s + t.end - t.start, 0);
  }
  const rows: Record<string, Record<string, unknown>> = {};
  for (const p of phraseList) {
    let said = 0;
    let found = 0;
    let falseAlarms = 0;
    let withSec = 0;
    // What each path found: the spotter (kws), and the transcript (asr) where the spotter had not already heard
    // the same words (edge/call/transcript.ts), so a phrase whose spotter only false-alarms shows as such.
    const bySource = { kws: { found: 0, falseAlarms: 0 }, asr: { found: 0, falseAlarms: 0 } };
    for (const { truth, index } of calls) {
      if (truth.kind === 'real' || truth.language !== p.language) continue;
      const mine = truth.phrases.filter((x) => lower(x.phrase) === lower(p.phrase));
      const hits = index.keywords.filter((k) => lower(k.term) === lower(p.phrase));
      for (const occ of mine) {
        said++;
        withSec += occ.turnEnd - occ.turnStart;
        const inTurn = (k: Hit) => hitInTurn(k, occ);
        const kws = hits.some((k) => k.source === 'kws' && inTurn(k));
        const asr = hits.some((k) => k.source === 'asr' && inTurn(k));
        if (kws) bySource.kws.found++;
        if (asr) bySource.asr.found++;
        if (kws || asr) found++;
        else {
          const near = index.keywords.filter(inTurn).map((k) => `${k.term} (${k.source})`);
          const words = index.utterances.filter((u) => u.channel === occ.channel && overlaps(u, { start: occ.turnStart, end: occ.turnEnd })).map((u) => u.pinyin ?? u.text ?? '').join(' ');
          misses.push({ class: 'keyword', call: truth.id, time: occ.start, expected: `${p.rule} "${p.phrase}" by ${occ.channel}`, got: `${near.join(', ') || 'no hit'}; heard: ${words.slice(0, 120) || '(nothing transcribed)'}`, weight: 1 });
        }
      }
      for (const k of hits) {
        if (explained(k, truth.phrases)) continue;
        falseAlarms++;
        bySource[k.source].falseAlarms++;
      }
    }
    const withoutSec = (speechSec[p.language] ?? 0) - withSec;
    rows[`${p.language} ${p.rule} ${p.phrase}`] = { said, found, recall: ratio(found, said), falseAlarms, speechHoursWithoutIt: round(withoutSec / 3600, 3), falseAlarmsPerHour: perHour(falseAlarms, withoutSec), bySource };
  }
  const totals = Object.values(rows).reduce<{ said: number; found: number; falseAlarms: number }>((s, x) => ({ said: s.said + (x.said as number), found: s.found + (x.found as number), falseAlarms: s.falseAlarms + (x.falseAlarms as number) }), { said: 0, found: 0, falseAlarms: 0 });
  return {
    what: "per built-in rule phrase: said = times spoken (truth); found = a keyword hit of that term (spotter or transcript) on that side within the phrase's turn; false alarms = hits no said phrase accounts for, per hour of that language's speech without the phrase",
    total: { ...totals, recall: ratio(totals.found, totals.said) },
    phrases: rows,
    goal: { recall: 0.95, falseAlarmsPerHour: 1 },
  };
}

function rulesTable(calls: ScoredCall[], ruleIds: { id: string; severity?: string }[], misses: Miss[]) {
  const rows: Record<string, Record<string, unknown>> = {};
  for (const { id, severity } of ruleIds) {
    for (const language of ['en', 'zh'] as const) {
      let tp = 0;
      let fp = 0;
      let fn = 0;
      let tn = 0;
      let undecided = 0;
      let withdrawn = 0;
      for (const { truth, index } of calls) {
        if (truth.kind === 'real' || truth.language !== language) continue;
        withdrawn += index.alerts.filter((a) => a.rule === id && a.withdrawn !== undefined).length;
        const want = truth.expectedAlerts[id];
        const fired = standing(index.alerts).filter((a) => a.rule === id);
        if (want === null || want === undefined) {
          undecided++;
          continue;
        }
        if (want && fired.length) tp++;
        else if (want) {
          fn++;
          const where = truth.phrases.find((p) => p.rule === id)?.start ?? truth.agitated[0]?.start ?? truth.overlaps[0]?.start ?? 0;
          misses.push({ class: 'rule-missed', call: truth.id, time: where, expected: id, got: index.alerts.map((a) => `${a.rule}@${a.start}`).join(', ') || 'no alert', weight: severity === 'critical' ? 5 : 4 });
        } else if (fired.length) {
          fp++;
          misses.push({ class: 'rule-false-alarm', call: truth.id, time: fired[0].start, expected: `no ${id}`, got: fired.map((a) => `${a.id} ${a.start}-${a.end} "${a.evidence}"`).join('; '), weight: severity === 'critical' ? 4.5 : 3.5 });
        } else tn++;
      }
      rows[`${id} ${language}`] = { expected: tp + fn, alerted: tp + fp, tp, fp, fn, tn, undecided, withdrawn, recall: ratio(tp, tp + fn), precision: ratio(tp, tp + fp) };
    }
  }
  return {
    what: "per call: did the rule alert (index.alerts that stand) where the truth says it must, and stay quiet where it must not; undecided = too close to the threshold to judge; withdrawn = alerts raised live and withdrawn when a side's language was overturned (seen on the floor meanwhile, not counted above)",
    rules: rows,
    goal: { recall: 0.95, precision: 0.95 },
  };
}

export interface AccuracyTables {
  calls: { scored: number; byKind: Record<string, number>; audioHours: number };
  language: ReturnType<typeof languageTable>;
  agitation: ReturnType<typeof agitationTable>;
  interrupter: ReturnType<typeof interrupterTable>;
  keywords: ReturnType<typeof keywordTable>;
  rules: ReturnType<typeof rulesTable>;
  worstMisses: Omit<Miss, 'weight'>[];
}

/** Every table for these calls; `phrases` and `rules` are the built-in rules' phrases and ids (from the packs). */
export function scoreAccuracy(
  calls: ScoredCall[],
  phrases: { rule: string; language: string; phrase: string }[],
  rules: { id: string; severity?: string }[],
  worst = 25,
): AccuracyTables {
  const misses: Miss[] = [];
  const byKind: Record<string, number> = {};
  for (const c of calls) byKind[c.truth.kind] = (byKind[c.truth.kind] ?? 0) + 1;
  const tables = {
    calls: { scored: calls.length, byKind, audioHours: round(calls.reduce((s, c) => s + c.truth.durationSec, 0) / 3600, 3) },
    language: languageTable(calls, misses),
    agitation: agitationTable(calls, misses),
    interrupter: interrupterTable(calls, misses),
    keywords: keywordTable(calls, phrases, misses),
    rules: rulesTable(calls, rules, misses),
  };
  const worstMisses = misses
    .sort((a, b) => b.weight - a.weight || a.call.localeCompare(b.call) || a.time - b.time)
    .slice(0, worst)
    .map(({ weight: _w, ...m }) => m);
  return { ...tables, worstMisses };
}

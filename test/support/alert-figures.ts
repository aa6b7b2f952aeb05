// Every figure an alert quotes must be the figure the call's index records: the rules and the index read one
// state of the call (edge/call), so an alert can never say what the index does not. alertFigureProblems()
// lists where an index's alerts and the rest of it disagree; empty when they agree.
import type { Channel } from '../../edge/events.js';
import type { CallIndex } from '../../edge/index/call-index.js';
import { GROWING_METRICS, type MetricName } from '../../edge/call/metrics.js';
import { formatTime } from '../../edge/search/query.js';
import type { Alert, CompiledRule } from '../../edge/rules/types.js';

const CHANNELS: Channel[] = ['agent', 'customer'];

/** A metric as the index reports it. */
function indexMetric(index: CallIndex, name: MetricName): number | null {
  const m = index.metrics;
  const emotions = (c: Channel) => index.emotion.filter((e) => e.channel === c).length;
  const values: Record<MetricName, number | null> = {
    durationSec: index.durationSec,
    agentTalkSec: m.agentTalkSec,
    customerTalkSec: m.customerTalkSec,
    talkRatio: m.talkRatio,
    silenceTotalSec: m.silenceTotalSec,
    longestSilenceSec: m.longestSilenceSec,
    overtalkTotalSec: m.overtalkTotalSec,
    agentOvertalkCount: m.overtalkCount.agent,
    customerOvertalkCount: m.overtalkCount.customer,
    longestMonologueSec: m.longestMonologue?.durationSec ?? 0,
    agentUtterances: m.utteranceCount.agent,
    customerUtterances: m.utteranceCount.customer,
    customerEmotionCount: emotions('customer'),
    agentEmotionCount: emotions('agent'),
    agentSpeechRate: m.speechRate.agent,
    customerSpeechRate: m.speechRate.customer,
  };
  return values[name];
}

/** Each side's words in the index, in order. */
function wordsBySide(index: CallIndex): Record<Channel, string[]> {
  const of = (c: Channel) =>
    index.utterances
      .filter((u) => u.channel === c)
      .flatMap((u) => u.words ?? [])
      .sort((a, b) => a.start - b.start)
      .map((w) => w.w);
  return { agent: of('agent'), customer: of('customer') };
}

/** Is `quoted` (words, "…" at a cut, "*" where redacted) a run of `words`? */
function isRunOf(quoted: string, words: string[]): boolean {
  const q = quoted.replace(/^… /, '').replace(/ …$/, '').split(/\s+/).filter(Boolean);
  if (q.length === 0) return true;
  outer: for (let i = 0; i + q.length <= words.length; i++) {
    for (let j = 0; j < q.length; j++) if (!q[j].includes('*') && q[j] !== words[i + j]) continue outer;
    return true;
  }
  return false;
}

const near = (a: number, b: number) => Math.abs(a - b) < 1e-6;

/** Where the alerts of an index quote something the index does not hold; empty when every figure agrees. */
export function alertFigureProblems(index: CallIndex, rules: readonly CompiledRule[]): string[] {
  const problems: string[] = [];
  const words = wordsBySide(index);
  for (const alert of index.alerts) {
    const rule = rules.find((r) => r.id === alert.rule);
    const say = (what: string) => problems.push(`${alert.id} (${alert.evidence}): ${what}`);
    if (!rule) {
      say('no such rule');
      continue;
    }
    if (!(alert.start >= 0 && alert.start <= alert.end && alert.end <= index.durationSec + 1e-6)) say(`span ${alert.start}-${alert.end} is not inside the call (${index.durationSec} s)`);
    checkQuotedWords(alert, words, index, say);
    checkKind(alert, rule, index, say);
  }
  return problems;
}

/** Every quoted run of words is a run of that side's words in the index; every spotted term a spotter hit there. */
function checkQuotedWords(alert: Alert, words: Record<Channel, string[]>, index: CallIndex, say: (what: string) => void): void {
  if (alert.evidence.startsWith('matched by absence')) return;
  // Evidence per place: "agent 0:19.3 "verification code" (keyword spotter), words: "…"" joined by "; "
  const parts = alert.evidence.replace(/ \[[^\]]*\]$/, '').split(/; (?=(?:agent|customer) \d+:\d)/);
  for (const part of parts) {
    const place = /^(?:closing )?(agent|customer) (\d+:\d+\.\d) /.exec(part);
    const spotted = /^(?:closing )?(?:agent|customer) \S+ ((?:"[^"]+"(?: \/ )?)+) \(keyword spotter\)/.exec(part);
    const terms = spotted ? spotted[1].split(' / ').map((x) => x.slice(1, -1)) : [];
    const lastWords = /last words: (agent|customer) "/.exec(part);
    const whose: Channel[] = place ? [place[1] as Channel] : lastWords ? [lastWords[1] as Channel] : /customer: "/.test(part) ? ['customer'] : alert.channel === 'both' ? CHANNELS : [alert.channel];
    for (const term of terms) {
      if (!index.keywords.some((k) => k.term === term && k.channel === whose[0] && k.source === 'kws')) say(`spotted "${term}" is not among the index's ${whose[0]} spotter hits`);
    }
    const quotes = [...part.matchAll(/"([^"]*)"/g)].map((m) => m[1]).filter((q) => !terms.includes(q));
    for (const q of quotes) {
      if (!whose.some((c) => isRunOf(q, words[c]))) say(`quoted words "${q}" are not a run of the index's ${whose.join('/')} words`);
    }
    if (place) {
      const [, side, at] = place;
      const startsThere =
        index.utterances.some((u) => u.channel === side && (u.words ?? []).some((w) => formatTime(w.start) === at)) || index.keywords.some((k) => k.channel === side && formatTime(k.start) === at);
      if (!startsThere) say(`nothing of the ${side}'s in the index starts at ${at}`);
    }
  }
}

function checkKind(alert: Alert, rule: CompiledRule, index: CallIndex, say: (what: string) => void): void {
  const p = rule.params;
  switch (rule.kind) {
    case 'dead-air':
    case 'late-hangup': {
      const s = index.silences.find((x) => near(x.start, alert.start));
      if (!s) say(`no silence in the index starts at ${alert.start}`);
      else if (!(s.durationSec > p.silenceSec)) say(`the index's silence at ${s.start} lasts ${s.durationSec} s, not more than ${p.silenceSec} s`);
      return;
    }
    case 'overtalk': {
      const o = index.overtalk.find((x) => near(x.start, alert.start) && x.by === alert.channel);
      if (!o) say(`no over-talk by the ${alert.channel} in the index starts at ${alert.start}`);
      else if (!(o.durationSec > p.minSec)) say(`the index's over-talk at ${o.start} lasts ${o.durationSec} s, not more than ${p.minSec} s`);
      return;
    }
    case 'monologue': {
      const turn = index.turns.find((x) => near(x.start, alert.start) && x.channel === alert.channel);
      if (!turn) say(`no ${alert.channel} turn in the index starts at ${alert.start}`);
      else if (!(turn.durationSec > p.minSec)) say(`the index's turn at ${turn.start} lasts ${turn.durationSec} s, not more than ${p.minSec} s`);
      return;
    }
    case 'emotion': {
      const e = index.emotion.find((x) => near(x.start, alert.start) && x.channel === alert.channel);
      const quoted = /pitch ([+-]\d+)%, tempo ([+-]\d+)%, loudness ([+-][\d.]+) dB \(score ([\d.]+)\)/.exec(alert.evidence);
      if (!e || !quoted) return void say(`no raised stretch of the ${alert.channel} in the index starts at ${alert.start}`);
      // The index keeps a tenth of a percent; the alert quotes whole percents.
      if (Math.abs(e.f0RisePct - Number(quoted[1])) > 0.5 + 1e-9) say(`pitch ${quoted[1]}% but the index has ${e.f0RisePct}%`);
      if (Math.abs((e.tempoRisePct ?? NaN) - Number(quoted[2])) > 0.5 + 1e-9) say(`tempo ${quoted[2]}% but the index has ${e.tempoRisePct}%`);
      if (Math.abs(e.loudnessRiseDb - Number(quoted[3])) > 0.05 + 1e-9) say(`loudness ${quoted[3]} dB but the index has ${e.loudnessRiseDb} dB`);
      if (e.score.toFixed(2) !== quoted[4]) say(`score ${quoted[4]} but the index has ${e.score}`);
      return;
    }
    case 'hurried-hangup': {
      const last = index.utterances.filter((u) => u.channel === 'customer').at(-1);
      if (!last || !near(last.start, alert.start)) return void say(`the customer's last utterance in the index does not start at ${alert.start}`);
      const gap = /ended ([\d.]+) s after/.exec(alert.evidence);
      const indexGap = Math.max(0, index.durationSec - last.end);
      if (gap ? Math.abs(indexGap - Number(gap[1])) > 0.05 + 1e-6 : indexGap >= 0.05 + 1e-3) say(`the index has the call end ${indexGap.toFixed(3)} s after the customer's last words`);
      return;
    }
    case 'silent-agent': {
      const agentSpoke = index.utterances.some((u) => u.channel === 'agent' && u.start < alert.end && u.end > alert.start);
      if (agentSpoke) say(`the index has the agent speaking in ${alert.start}-${alert.end}`);
      return;
    }
    default:
      checkMetrics(alert, rule, index, say);
  }
}

/** `[talkRatio 0.73 >= 0.5]`: decided at the hang-up, the figure is the index's; judged live, the index's is at least it. */
function checkMetrics(alert: Alert, rule: CompiledRule, index: CallIndex, say: (what: string) => void): void {
  for (const m of alert.evidence.matchAll(/(\w+) (-?[\d.]+)(?= >=| <=)/g)) {
    const name = m[1] as MetricName;
    if (!rule.metrics || !(name in rule.metrics)) continue;
    const quoted = Number(m[2]);
    const v = indexMetric(index, name);
    if (v === null) say(`${name} ${quoted} but the index has none`);
    else if (rule.atEnd || !GROWING_METRICS.has(name) ? Math.abs(v - quoted) > 0.005 + 1e-9 : v < quoted - 0.005) say(`${name} ${quoted} but the index has ${v}`);
  }
}

/**
 * Rules besides the built-ins that quote figures the built-ins do not: metrics judged at the hang-up and live,
 * and a common word, so that nearly every call quotes transcript words and metric figures.
 */
export const FIGURES_PACK = `pack: figures
rules:
  - id: figures-at-end
    severity: info
    when: { metrics: { talkRatio: { min: 0 }, agentSpeechRate: { min: 0 }, customerTalkSec: { min: 0 }, longestSilenceSec: { max: 1000 } } }
  - id: figures-live
    severity: info
    when: { metrics: { agentTalkSec: { min: 5 }, longestMonologueSec: { min: 3 }, agentUtterances: { min: 2 } } }
  - id: figures-words
    severity: info
    query: 'agent:(the OR 的 OR you OR 您)'
    when: { metrics: { durationSec: { min: 10 } } }
`;

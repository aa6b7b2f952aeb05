/**
 * A second keyword spotter that reads the transcript: watched phrases found in recognised words with a
 * tolerance for what a small recogniser gets nearly right. Mandarin is compared as toneless pinyin syllables
 * (initial and final apart, near sounds cheap: zh/z, n/l, an/ang, ...), English as letters across word
 * boundaries ("pass word" is "password"). Its hits are `keyword` events with `source: "asr"`: the rules treat
 * them as they treat the acoustic spotter's, and a spotter hit and a transcript hit of the same words (same
 * side, overlapping) are one piece of evidence (edge/rules/evidence.ts), so one occurrence raises one alert.
 */
import { distance } from 'fastest-levenshtein';
import type { EarshotConfig } from '../../provisioning/config.js';
import type { KeywordFound, WordsRecognized } from '../events.js';
import { hanziToSyllables, hasCjk, latinTokens, normalizeSyllable, termPattern } from '../search/normalize.js';

/** How far a stretch of transcript may be from a phrase and still count as the phrase. */
export interface Tolerance {
  /**
   * Mandarin: the largest summed syllable cost (0 same, 0.25 one near initial or final, 0.5 one far one, 1 a
   * syllable missing or extra). English: letters changed per letter of the phrase.
   */
  maxCost: number;
}

export interface TolerantPhrase {
  phrase: string;
  tolerance?: Partial<Tolerance>;
}

/**
 * Defaults measured on the generated calls (bench/keywords.ts, docs/rules.md "Keyword recall"): the costs a
 * phrase of n syllables may carry. Two-syllable phrases must be exact but for one near sound, or 推广 (tuī
 * guǎng, "promote") would be 退款 (tuì kuǎn, "refund").
 */
export function defaultTolerance(phrase: string): Tolerance {
  if (hasCjk(phrase)) {
    const n = termPattern(phrase).syllables.length;
    return { maxCost: n <= 2 ? 0.25 : n === 3 ? 0.5 : Math.min(1.5, 0.25 * n) };
  }
  const letters = latinTokens(phrase).join('').length;
  // One letter in seven: the tuning split heard "your PIN" as "your fin" and "goodbye" as "good by". One in
  // four from 9 letters: "insighting formation", "africation code", "rather manual", "have a nice" with the day
  // lost (bench/accuracy.ts rescore, tuning split: 8 more of 343 phrases found, no more false alarms once the
  // packs tune "thank you for calling" and "PIN number" back to 0.2, heard in "thank you for checking" and
  // "it number"). 0.3 began to hear "cannot list" as cannot lose.
  return { maxCost: letters < 6 ? 0 : letters < 9 ? 0.15 : 0.25 };
}

/** The watched phrases with the tolerance the packs or the site gave them. */
export function tolerantPhrases(watch: Pick<EarshotConfig['watch'], 'phrases' | 'tuning'>): TolerantPhrase[] {
  return watch.phrases.map((phrase) => {
    const maxCost = watch.tuning[phrase]?.tolerance;
    return maxCost === undefined ? { phrase } : { phrase, tolerance: { maxCost } };
  });
}

const INITIALS = ['zh', 'ch', 'sh', 'b', 'p', 'm', 'f', 'd', 't', 'n', 'l', 'g', 'k', 'h', 'j', 'q', 'x', 'r', 'z', 'c', 's', 'y', 'w'];

function split(syllable: string): [string, string] {
  for (const i of INITIALS) if (syllable.startsWith(i) && syllable.length > i.length) return [i, syllable.slice(i.length)];
  return ['', syllable];
}

/** Pairs a speaker, or a small recogniser, confuses: retroflex and flat, n and l, front and back nasals. */
const NEAR = new Set(
  [
    ['z', 'zh'], ['c', 'ch'], ['s', 'sh'], ['n', 'l'], ['l', 'r'], ['f', 'h'], ['b', 'p'], ['d', 't'], ['g', 'k'], ['j', 'q'], ['q', 'x'], ['j', 'x'],
    ['j', 'zh'], ['q', 'ch'], ['x', 'sh'], ['y', ''], ['w', ''],
    ['an', 'ang'], ['en', 'eng'], ['in', 'ing'], ['ian', 'iang'], ['uan', 'uang'], ['un', 'ong'], ['e', 'o'], ['o', 'uo'], ['u', 'v'], ['ui', 'ei'],
    ['iu', 'ou'], ['i', 'v'], ['ai', 'ei'], ['an', 'en'], ['ang', 'eng'], ['ao', 'ou'], ['ie', 'ei'],
  ].flatMap(([a, b]) => [`${a}|${b}`, `${b}|${a}`]),
);

const partCost = (a: string, b: string): number => (a === b ? 0 : NEAR.has(`${a}|${b}`) ? 0.25 : 0.5);

/** 0 for the same toneless syllable, up to 1 for nothing in common. */
export function syllableCost(a: string, b: string): number {
  if (a === b) return 0;
  const [ia, fa] = split(a);
  const [ib, fb] = split(b);
  return Math.min(1, partCost(ia, ib) + partCost(fa, fb));
}

/** Cheapest alignment of the pattern with the whole of `window` (edits: substitution by cost, gap 1). */
function alignCost(pattern: readonly string[], window: readonly string[]): number {
  let prev = Array.from({ length: window.length + 1 }, (_, j) => j);
  for (let i = 1; i <= pattern.length; i++) {
    const cur = [i];
    for (let j = 1; j <= window.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + syllableCost(pattern[i - 1], window[j - 1]));
    prev = cur;
  }
  return prev[window.length];
}

interface Unit {
  token: string;
  start: number;
  end: number;
}

interface Candidate {
  from: number;
  to: number;
  cost: number;
}

/** The best non-overlapping windows within the cost bound, cheapest first. */
function bestWindows(units: readonly Unit[], cost: (from: number, to: number) => number, lengths: readonly number[], maxCost: number): Candidate[] {
  const found: Candidate[] = [];
  for (let from = 0; from < units.length; from++) {
    for (const n of lengths) {
      const to = from + n;
      if (n < 1 || to > units.length) continue;
      const c = cost(from, to);
      if (c <= maxCost + 1e-9) found.push({ from, to, cost: c });
    }
  }
  found.sort((a, b) => a.cost - b.cost || a.from - b.from);
  const kept: Candidate[] = [];
  for (const c of found) if (!kept.some((k) => c.from < k.to && k.from < c.to)) kept.push(c);
  return kept;
}

/**
 * Words the English recogniser writes for a short rule word that sounds the same ("all right by" for "all
 * right, bye": the evaluation set's tuning split). Taken only as the last word of a recognised stretch, where
 * a closing stands and "by" or "buy" hardly ever does; anywhere else a short word must be exact.
 */
const SOUNDS_THE_SAME_AT_THE_END: Readonly<Record<string, readonly string[]>> = { bye: ['by', 'buy'] };

interface Compiled {
  phrase: string;
  chinese: boolean;
  tokens: string[];
  letters: string;
  maxCost: number;
}

export class TranscriptSpotter {
  private readonly phrases: Compiled[];

  constructor(phrases: readonly (string | TolerantPhrase)[]) {
    this.phrases = phrases
      .map((p) => (typeof p === 'string' ? { phrase: p } : p))
      .map(({ phrase, tolerance }) => {
        const pattern = termPattern(phrase);
        const tokens = pattern.chinese ? pattern.syllables : pattern.words;
        return { phrase, chinese: pattern.chinese, tokens, letters: tokens.join(''), maxCost: tolerance?.maxCost ?? defaultTolerance(phrase).maxCost };
      })
      .filter((p) => p.tokens.length > 0);
  }

  /** Watched phrases heard in one recognised segment, as keyword events of its side. */
  spot(event: WordsRecognized): KeywordFound[] {
    const mandarin = event.language === 'zh';
    const units: Unit[] = event.words.flatMap((w) => {
      const tokens = mandarin ? (hasCjk(w.w) ? hanziToSyllables(w.w) : [normalizeSyllable(w.w)]) : latinTokens(w.w);
      return tokens.filter(Boolean).map((token) => ({ token, start: w.start, end: w.end }));
    });
    const hits: KeywordFound[] = [];
    for (const p of this.phrases) {
      if (p.chinese !== mandarin) continue;
      let windows: Candidate[];
      if (p.chinese) {
        const n = p.tokens.length;
        windows = bestWindows(units, (a, b) => alignCost(p.tokens, units.slice(a, b).map((u) => u.token)), [n, n - 1, n + 1], p.maxCost);
      } else {
        // letters across word boundaries: the recogniser splits and joins English words freely
        const budget = Math.floor(p.maxCost * p.letters.length + 1e-9);
        const lengths = Array.from({ length: p.tokens.length + 2 }, (_, i) => i + 1);
        windows = bestWindows(
          units,
          (a, b) => {
            const text = units.slice(a, b).map((u) => u.token).join('');
            // a window must not begin or end with a whole word the phrase does not need
            if (Math.abs(text.length - p.letters.length) > budget) return Infinity;
            return distance(text, p.letters) / p.letters.length;
          },
          lengths,
          budget / p.letters.length,
        );
      }
      const sameSound = p.chinese || p.tokens.length !== 1 ? undefined : SOUNDS_THE_SAME_AT_THE_END[p.letters];
      const last = units.length - 1;
      if (sameSound && last >= 0 && sameSound.includes(units[last].token) && !windows.some((w) => w.to > last)) windows.push({ from: last, to: last + 1, cost: 0.5 });
      for (const w of windows) {
        const span = units.slice(w.from, w.to);
        hits.push({
          type: 'keyword',
          channel: event.channel,
          term: p.phrase,
          start: span[0].start,
          end: Math.max(...span.map((u) => u.end)),
          score: Math.round((1 - w.cost / Math.max(1, p.tokens.length)) * 1000) / 1000,
          source: 'asr',
          emittedAt: event.emittedAt,
        });
      }
    }
    return hits.sort((a, b) => a.start - b.start);
  }
}

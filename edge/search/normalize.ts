/**
 * How query terms and transcripts are compared: Latin words folded (case, accents, apostrophes), Mandarin as
 * tone-insensitive pinyin syllables, whether it was written in characters or in pinyin.
 */
import { pinyin } from 'pinyin-pro';
import { foldWord } from '../../lib/text.js';

const CJK = /[\p{Script=Han}]/u;
const CJK_RUN = /\p{Script=Han}+/gu;
export const hasCjk = (s: string): boolean => CJK.test(s);

/** Latin words: lower case, accents dropped, apostrophes removed, other punctuation separates words. */
export function latinTokensWithOffsets(text: string): { token: string; from: number; to: number }[] {
  const out: { token: string; from: number; to: number }[] = [];
  for (const m of text.matchAll(/[\p{L}\p{N}\p{M}'\u2019]+/gu)) {
    const token = foldWord(m[0]);
    if (token) out.push({ token, from: m.index!, to: m.index! + m[0].length });
  }
  return out;
}
export const latinTokens = (text: string): string[] => latinTokensWithOffsets(text).map((t) => t.token);

/**
 * One pinyin syllable, tone-insensitive: tone marks and tone numbers dropped, ü (also written u: or v)
 * becomes v, so `lǜ`, `lü`, `lv4` and `lu:` are all `lv`.
 */
export function normalizeSyllable(s: string): string {
  let n = syllableCache.get(s);
  if (n === undefined) {
    n = s
      .toLowerCase()
      .replace(/u:/g, 'v')
      .normalize('NFD')
      .replace(/u\u0308/g, 'v')
      .replace(/\p{M}/gu, '')
      .replace(/(?<=[a-z])[1-5]$/, '')
      .replace(/[^a-z0-9]/g, '');
    // Mandarin has some 1,300 toned syllables: the centre evaluating thousands of calls meets the same ones
    // again and again (bounded all the same: words that are not syllables pass through here too)
    if (syllableCache.size >= 20_000) syllableCache.clear();
    syllableCache.set(s, n);
  }
  return n;
}
const syllableCache = new Map<string, string>();

/** Pinyin written as syllables separated by spaces (apostrophes and punctuation also separate). */
export function pinyinSyllables(text: string): string[] {
  return text
    .split(/[\s'\u2019,.;:!?，。！？、]+/u)
    .map(normalizeSyllable)
    .filter((s) => s !== '');
}

/** Pinyin of a text with Chinese characters: each character's reading in context; other text as words. */
export function hanziToSyllables(text: string): string[] {
  // keyword-spotter terms are read again for every call searched (the centre searches thousands): remember
  // recent readings (copies out, so a caller cannot change what is remembered)
  const known = readingCache.get(text);
  if (known) return [...known];
  const out = readHanzi(text);
  if (readingCache.size >= 5_000) readingCache.clear();
  readingCache.set(text, out);
  return [...out];
}
const readingCache = new Map<string, string[]>();

function readHanzi(text: string): string[] {
  const out: string[] = [];
  let last = 0;
  for (const m of text.matchAll(CJK_RUN)) {
    out.push(...latinTokens(text.slice(last, m.index)).map(normalizeSyllable).filter(Boolean));
    out.push(...pinyin(m[0], { toneType: 'none', type: 'array' }).map(normalizeSyllable).filter(Boolean));
    last = m.index! + m[0].length;
  }
  out.push(...latinTokens(text.slice(last)).map(normalizeSyllable).filter(Boolean));
  return out;
}

/** What a query term looks for: words (English, or pinyin typed in Latin letters) or syllables (Chinese). */
export interface TermPattern {
  chinese: boolean;
  /** latin words, for the transcript's words */
  words: string[];
  /** pinyin syllables, for Mandarin transcripts */
  syllables: string[];
}

export function termTokens(text: string): string[] {
  return hasCjk(text) ? hanziToSyllables(text) : latinTokens(text);
}

const patternCache = new Map<string, TermPattern>();
/** The words and syllables a term's occurrences are made of, normalised as the call's are (a text index asks for these). */
export function termPattern(text: string): TermPattern {
  let p = patternCache.get(text);
  if (!p) {
    const chinese = hasCjk(text);
    p = chinese
      ? { chinese, words: [], syllables: hanziToSyllables(text) }
      : { chinese, words: latinTokens(text), syllables: latinTokens(text).map(normalizeSyllable).filter(Boolean) };
    patternCache.set(text, p);
  }
  return p;
}

import { pinyin } from 'pinyin-pro';
import { normalizeSyllable } from '../../edge/search/query.js';
import type { TruthTurn } from '../../scripts/make-call.js';
import type { CallIndex } from '../../edge/index/call-index.js';
import type { Channel } from '../../edge/events.js';

/** Edit distance between token sequences: the numerator of WER and of the pinyin syllable error rate. */
export function editDistance(ref: string[], hyp: string[]): number {
  let prev = Array.from({ length: hyp.length + 1 }, (_, j) => j);
  for (let i = 1; i <= ref.length; i++) {
    const row = [i];
    for (let j = 1; j <= hyp.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ref[i - 1] === hyp[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[hyp.length];
}

export const errorRate = (ref: string[], hyp: string[]): number => editDistance(ref, hyp) / Math.max(1, ref.length);

/** Lower-case words; hyphenated words count as two, as recognisers emit them. */
export const englishWords = (s: string): string[] => s.toLowerCase().replace(/-/g, ' ').replace(/[^a-z' ]+/g, ' ').split(/\s+/).filter(Boolean);

/** Tone-insensitive pinyin syllables, ü written v: exactly as the search module compares them. */
export const tonelessSyllables = (s: string): string[] => s.split(/\s+/).map(normalizeSyllable).filter(Boolean);

export const hanziToSyllables = (s: string): string[] =>
  pinyin(s.replace(/[^\u3400-\u9fff]/g, ''), { toneType: 'none', type: 'array', v: true });

export const truthText = (turns: TruthTurn[], channel: Channel): string =>
  turns.filter((x) => x.channel === channel).sort((a, b) => a.start - b.start).map((x) => x.text).join(' ');

export const transcriptOf = (index: CallIndex, channel: Channel): string =>
  index.utterances.filter((u) => u.channel === channel && u.text).map((u) => u.text).join(' ');

/** Reference and hypothesis tokens of one side of a generated call, in the call's language. */
export function sideTokens(language: string, turns: TruthTurn[], index: CallIndex, channel: Channel): { ref: string[]; hyp: string[] } {
  return language === 'zh'
    ? { ref: hanziToSyllables(truthText(turns, channel)), hyp: tonelessSyllables(transcriptOf(index, channel)) }
    : { ref: englishWords(truthText(turns, channel)), hyp: englishWords(transcriptOf(index, channel)) };
}

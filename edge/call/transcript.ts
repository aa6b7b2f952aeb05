import { pinyin } from 'pinyin-pro';
import type { Channel, RecognizedWordTiming } from '../events.js';
import { matchCall, parseQuery, type SearchKeyword, type SearchUtterance } from '../search/query.js';
import { sameEvidence } from './same-evidence.js';

export type Script = 'latin' | 'pinyin' | 'hanzi';

/** A word lands in the utterance whose span (widened by this) holds its midpoint. */
const HOME_SLACK_SEC = 0.3;

interface Span {
  start: number;
  end: number;
  open?: boolean;
}

/**
 * Which of a side's utterances (in order of start) a recognised word (or any stretch heard, such as a spotter
 * hit) belongs to: the first whose span, widened by 0.3 s, holds the stretch's midpoint; -1 when none does.
 */
export function homeOf(word: { start: number; end: number }, utterances: readonly Span[]): number {
  const mid = (word.start + word.end) / 2;
  // Words come in near the latest speech: look back from the last utterance that starts early enough.
  let last = utterances.length - 1;
  while (last >= 0 && utterances[last].start - HOME_SLACK_SEC > mid) last--;
  let home = -1;
  for (let i = last; i >= 0 && i > last - 4; i--) {
    const u = utterances[i];
    if (mid <= (u.open ? Infinity : u.end) + HOME_SLACK_SEC) home = i;
    else if (home >= 0) break;
  }
  return home;
}

/** Characters need no spaces between words; pinyin and English do. */
export function textOf(words: readonly RecognizedWordTiming[], script: Script | undefined): string {
  return words.map((w) => w.w).join(script === 'hanzi' ? '' : ' ');
}

/** For a character model's Mandarin: the same words in tone-marked pinyin, for phonetic search. */
export function pinyinOf(text: string): string {
  return pinyin(text, { type: 'array', nonZh: 'consecutive' }).join(' ');
}

/**
 * Watched phrases found in the recognised words (`source: "asr"`), Mandarin phonetically, where no spotter
 * hit of the same phrase on the same side overlaps them. Score: mean confidence of the words.
 */
export function transcriptHits(utterances: readonly SearchUtterance[], spotted: readonly SearchKeyword[], watched: readonly string[]): SearchKeyword[] {
  if (!utterances.some((u) => u.words?.length)) return [];
  const found: SearchKeyword[] = [];
  for (const term of watched) {
    const match = matchCall(parseQuery(`"${term.replaceAll('"', '')}"`), { utterances: [...utterances], keywords: [] });
    for (const hit of match?.hits ?? []) {
      const already = spotted.some((k) => k.term === term && sameEvidence(k, hit));
      if (already) continue;
      const words = wordsOf(utterances, hit.channel).filter((w) => w.start < hit.end && hit.start < w.end);
      const score = words.length ? words.reduce((s, w) => s + (w.conf ?? 0), 0) / words.length : 0;
      found.push({ term, channel: hit.channel, start: hit.start, end: hit.end, score, source: 'asr' });
    }
  }
  return found;
}

function wordsOf(utterances: readonly SearchUtterance[], channel: Channel) {
  return utterances.filter((u) => u.channel === channel).flatMap((u) => u.words ?? []);
}

// Which language a side speaks, judged from what both recognisers made of the same speech (language: auto).
//
// The two models' raw confidences are not on one scale (the pinyin model is fairly sure of itself on English
// too), so they are compared as log-probabilities normalised per emitted token, together with how many tokens
// each emitted and how many word pieces the English model needed per word, weighted and offset as a logistic
// fit on the tuning split of the evaluation set found them (see recognition.auto in
// provisioning/config.schema.json). The evidence is everything the side has said so
// far: a decision taken on little speech is revisited as more comes in (edge/analysis/speech.ts).

import type { RecognizedSegment } from '../../models/engines.js';
import type { EarshotConfig } from '../../provisioning/config.js';

export const LANGUAGES = ['en', 'zh'] as const;
export type Language = (typeof LANGUAGES)[number];

/** Thresholds of the decision; defaults and the measurements behind them in config.schema.json. */
export type AutoLanguageConfig = EarshotConfig['recognition']['auto'];

/** What one recogniser has emitted on a side: tokens, the words they make, and the tokens' summed log-probability. */
export interface Tally {
  tokens: number;
  words: number;
  logProb: number;
}

/** Below this a token's probability is noise either way; also guards log(0) of a rounded confidence. */
const MIN_PROB = 1e-3;

export function emptyTally(): Tally {
  return { tokens: 0, words: 0, logProb: 0 };
}

/** The segment's tokens (words, for an engine that reports none) and their summed log-probability. */
export function tallyOf(seg: RecognizedSegment): Tally {
  const tokens = seg.tokens?.length ?? seg.words.length;
  return { tokens, words: seg.words.length, logProb: tokens * Math.log(Math.max(seg.confidence, MIN_PROB)) };
}

export function addTally(into: Tally, add: Tally): Tally {
  into.tokens += add.tokens;
  into.words += add.words;
  into.logProb += add.logProb;
  return into;
}

export interface Verdict {
  lang: Language;
  /**
   * Positive favours Mandarin: per-token log-probability of zh minus en's, plus the weighted log ratios of their
   * token counts and of the English model's pieces to its words, less the bias.
   */
  score: number;
  /** The score clears the margin: enough to decide before forceAfterSec, or to overturn a decision. */
  firm: boolean;
  why: string;
}

/**
 * What the score weighs, from both models' tallies (each with at least one token): the one place its terms are
 * defined, for the judgement and for the bench that fits their weights (bench/language-fit.ts).
 */
export function scoreTerms(en: Tally, zh: Tally): { perToken: Record<Language, number>; perTokenDiff: number; tokenRatio: number; piecesPerWord: number } {
  const perToken = { en: en.logProb / en.tokens, zh: zh.logProb / zh.tokens };
  // On speech of the other language a model emits fewer tokens as well as less sure ones: in noisy 8 kHz
  // English the pinyin model is often surer per token than the English one, but finds a syllable where the
  // English model finds several word pieces.
  const tokenRatio = Math.log((zh.tokens + 1) / (en.tokens + 1));
  // The English model spells what it cannot hear as a word out of several pieces ("jo ur ne y" for a Mandarin
  // phrase), while noisy English still comes out as mostly common one-piece words: where the two models'
  // confidences are close (espeak's Mandarin, noisy 8 kHz English), this is what still tells them apart.
  // An engine that reports no words gives no evidence here (ln 1 = 0).
  const piecesPerWord = en.words > 0 ? en.tokens / en.words : 1;
  return { perToken, perTokenDiff: perToken.zh - perToken.en, tokenRatio, piecesPerWord };
}

/**
 * The language the evidence favours, or null when it says nothing yet (a model that emitted no token cannot be
 * compared per token; if only one did, that one wins, but only firmly once forceAfterSec of speech went by).
 */
export function judge(tallies: Partial<Record<Language, Tally>>, fedSec: number, cfg: AutoLanguageConfig): Verdict | null {
  const en = tallies.en ?? emptyTally();
  const zh = tallies.zh ?? emptyTally();
  if (en.tokens === 0 && zh.tokens === 0) return null;
  if (en.tokens === 0 || zh.tokens === 0) {
    const lang: Language = en.tokens === 0 ? 'zh' : 'en';
    return { lang, score: lang === 'zh' ? Infinity : -Infinity, firm: fedSec >= cfg.forceAfterSec, why: `only the ${lang} model recognised anything in ${fedSec.toFixed(1)} s of speech` };
  }
  const terms = scoreTerms(en, zh);
  const score = terms.perTokenDiff + cfg.tokenRatioWeight * terms.tokenRatio + cfg.pieceWeight * Math.log(terms.piecesPerWord) - cfg.zhBias;
  const lang: Language = score >= 0 ? 'zh' : 'en';
  const why =
    `log-prob per token zh ${terms.perToken.zh.toFixed(2)} (${zh.tokens}) vs en ${terms.perToken.en.toFixed(2)} (${en.tokens}, ` +
    `${terms.piecesPerWord.toFixed(2)} per word), score ${score.toFixed(2)} (margin ${cfg.margin}) on ${fedSec.toFixed(1)} s of speech`;
  return { lang, score, firm: Math.abs(score) >= cfg.margin, why };
}

interface SideEvidence {
  tallies: Partial<Record<Language, Tally>>;
  fedSec: number;
}

/**
 * What both sides of one call have said so far. Agents answer in the caller's language, so each side judges
 * on the whole call's speech: measured on noisy generated English calls, one side's evidence often pointed to
 * Mandarin while the other's was clearly English, and the sum decided both sides right.
 */
export class CallEvidence {
  private readonly sides = new Map<string, SideEvidence>();

  /** Records one side's evidence and returns the call's (this side's and every other side's last). */
  pool(side: string, own: SideEvidence): SideEvidence {
    this.sides.set(side, { tallies: Object.fromEntries(Object.entries(own.tallies).map(([l, t]) => [l, { ...t }])), fedSec: own.fedSec });
    const out: SideEvidence = { tallies: {}, fedSec: 0 };
    for (const e of this.sides.values()) {
      out.fedSec += e.fedSec;
      for (const lang of LANGUAGES) {
        const t = e.tallies[lang];
        if (t) out.tallies[lang] = addTally(out.tallies[lang] ?? emptyTally(), t);
      }
    }
    return out;
  }
}

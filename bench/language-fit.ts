/**
 * Where `recognition.auto`'s zhBias, tokenRatioWeight and pieceWeight come from (issue 19, item 2): every call
 * of the evaluation set's tuning split goes through the pipeline with both recognisers kept to the end
 * (revisitSec past any call), the tallies each side hands the call's evidence (CallEvidence.pool, what the
 * judgement reads: the VAD-gated audio, noise the VAD let through included) are taken at 2, 3, 4, 6, 8, 12 and
 * 20 s of the side's speech and at the end, and a logistic regression on (per-token log-probability
 * difference, log ratio of token counts, log of the English model's pieces per word) says which language each
 * snapshot is. It is fitted on both sides' tallies added up at each mark, as edge/analysis/language.ts pools
 * them, since that sum is all the judgement ever reads. The weights are reported in the score's units
 * (per-token difference = 1), with how many calls the per-token figure alone, the score without the pieces,
 * the fitted and the configured score get right at each mark and at the end, and on the real clips.
 *
 *   npm run bench -- language-fit   (EARSHOT_BENCH_ACCURACY_CALLS, default 60; EARSHOT_BENCH_ACCURACY_SEED)
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadSpeechModels } from '../edge/speech-setup.js';
import { defaultConfig } from '../provisioning/config.js';
import { analyzeRecording } from '../edge/analyze.js';
import type { CallAudioInput } from '../device/file-source.js';
import { SileroVadModel } from '../models/vad.js';
import { inputOf } from '../test/support/analysis.js';
import { addTally, CallEvidence, emptyTally, judge, scoreTerms, type Tally } from '../edge/analysis/language.js';
import { sharedDir } from '../test/support/rule-calls.js';
import { DEFAULT_SEED, EVAL_CACHE_DIR, builtinRules, evalSet, renderEvalCall, splitOf } from '../scripts/eval-set.js';
import type { Language } from '../scripts/make-call.js';
import { envInt, realClipTruth, realClips } from './accuracy.js';
import { r } from './stats.js';

const MARKS_SEC = [2, 3, 4, 6, 8, 12, 20];

interface Snapshot {
  fedSec: number;
  en: Tally;
  zh: Tally;
}

interface Side {
  id: string;
  language: Language;
  snapshots: Snapshot[];
}

type Features = [perTokenDiff: number, tokenRatio: number, piecesPerWord: number];

/** Per call analysed, per side: a snapshot at each mark of its speech passed, and the latest one. */
const recorded = new Map<string, Map<string, { marks: Snapshot[]; last: Snapshot }>>();
let analysing = '';

// The one place the pipeline hands over what a side's recognisers made of its speech so far: recorded here
// rather than re-derived, so the fit sees exactly what the judgement sees.
const pool = CallEvidence.prototype.pool;
CallEvidence.prototype.pool = function (this: CallEvidence, side: string, own: Parameters<typeof pool>[1]) {
  const sides = recorded.get(analysing) ?? new Map<string, { marks: Snapshot[]; last: Snapshot }>();
  recorded.set(analysing, sides);
  const snap: Snapshot = { fedSec: own.fedSec, en: { ...(own.tallies.en ?? emptyTally()) }, zh: { ...(own.tallies.zh ?? emptyTally()) } };
  const seen = sides.get(side) ?? { marks: [], last: snap };
  if (seen.marks.length < MARKS_SEC.length && own.fedSec >= MARKS_SEC[seen.marks.length]) seen.marks.push(snap);
  seen.last = snap;
  sides.set(side, seen);
  return pool.call(this, side, own);
};

function features(s: { en: Tally; zh: Tally }): Features | null {
  if (s.en.tokens === 0 || s.zh.tokens === 0) return null;
  const terms = scoreTerms(s.en, s.zh);
  return [terms.perTokenDiff, terms.tokenRatio, Math.log(terms.piecesPerWord)];
}

/** Logistic regression by Newton's method (a few weights; a light ridge keeps it finite on separable data). */
export function fitLogistic(x: number[][], y: boolean[], ridge = 0.1, iterations = 50): number[] {
  const n = x[0].length + 1;
  const w = new Array<number>(n).fill(0);
  for (let it = 0; it < iterations; it++) {
    const grad = w.map((v) => ridge * v);
    const hess = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? ridge : 0)));
    for (let k = 0; k < x.length; k++) {
      const a = [...x[k], 1];
      const p = 1 / (1 + Math.exp(-a.reduce((s, v, i) => s + v * w[i], 0)));
      for (let i = 0; i < n; i++) {
        grad[i] += (p - (y[k] ? 1 : 0)) * a[i];
        for (let j = 0; j < n; j++) hess[i][j] += p * (1 - p) * a[i] * a[j];
      }
    }
    const step = solve(hess, grad);
    for (let i = 0; i < n; i++) w[i] -= step[i];
  }
  return w;
}

/** Gaussian elimination for the small symmetric system of one Newton step. */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let pivot = c;
    for (let i = c + 1; i < n; i++) if (Math.abs(m[i][c]) > Math.abs(m[pivot][c])) pivot = i;
    [m[c], m[pivot]] = [m[pivot], m[c]];
    for (let i = 0; i < n; i++) {
      if (i === c) continue;
      const f = m[i][c] / m[c][c];
      for (let j = c; j <= n; j++) m[i][j] -= f * m[c][j];
    }
  }
  return m.map((row, i) => row[n] / row[i]);
}

/** Both sides' tallies added up at the i-th snapshot of each (a side with fewer snapshots gives its last). */
function pooled(sides: Side[], i: number): { en: Tally; zh: Tally; fedSec: number } {
  const out = { en: emptyTally(), zh: emptyTally(), fedSec: 0 };
  for (const s of sides) {
    const x = s.snapshots[Math.min(i, s.snapshots.length - 1)];
    addTally(out.en, x.en);
    addTally(out.zh, x.zh);
    out.fedSec += x.fedSec;
  }
  return out;
}

export async function languageFitBench(): Promise<Record<string, unknown>> {
  const perLanguage = envInt('EARSHOT_BENCH_ACCURACY_CALLS', 60);
  const seed = process.env.EARSHOT_BENCH_ACCURACY_SEED || DEFAULT_SEED;
  const config = defaultConfig();
  config.models.root = path.join(sharedDir(), 'models');
  const models = await loadSpeechModels(config);
  if (!models.recognizers.en || !models.recognizers.zh) throw new Error(`both recognisers are needed (${config.models.root}): ${models.problems.join('; ')}`);
  const vadModel = await SileroVadModel.load();
  const analyse = async (input: CallAudioInput, id: string, language: Language): Promise<Side[]> => {
    await analyzeRecording(input, { config: keepBoth, speechModels: models, vadModel, rules: [], keepEvents: false });
    return [...(recorded.get(id)?.values() ?? [])].map((x) => ({ id, language, snapshots: [...x.marks, x.last] }));
  };
  // Both recognisers to the end of every call: the evidence of a whole call, not of a decided one.
  const keepBoth = { ...config, recognition: { ...config.recognition, language: 'auto' as const, auto: { ...config.recognition.auto, revisitSec: 1e9 } } };
  const rules = builtinRules();
  const calls: Side[][] = [];
  for (const c of evalSet({ seed, callsPerLanguage: perLanguage, split: 'tuning' })) {
    const x = await renderEvalCall(c, EVAL_CACHE_DIR, rules);
    analysing = x.truth.id;
    calls.push(await analyse(inputOf(x.rendered), x.truth.id, x.truth.language));
  }
  const real: Side[] = [];
  for (const clip of realClips().clips.filter((c) => splitOf(c.id) === 'tuning')) {
    const { file } = await realClipTruth(clip, 'tuning');
    analysing = clip.id;
    real.push(...(await analyse({ stereo: file }, clip.id, clip.language)));
  }

  // The raw snapshots, for a look beyond this fit (EARSHOT_BENCH_LANGUAGE_SNAPSHOTS=file.json).
  const dump = process.env.EARSHOT_BENCH_LANGUAGE_SNAPSHOTS;
  if (dump) writeFileSync(dump, JSON.stringify({ calls, real }));
  const x: number[][] = [];
  const y: boolean[] = [];
  for (const sides of calls) {
    for (let i = 0; i <= MARKS_SEC.length; i++) {
      const p = pooled(sides, i);
      const f = features(p);
      if (f && p.fedSec >= MARKS_SEC[0]) {
        x.push(f);
        y.push(sides[0].language === 'zh');
      }
    }
  }
  const [wDiff, wRatio, wPieces, w0] = fitLogistic(x, y);
  // fittedFor as well, so what the bench prints is what recognition.auto takes for these recognisers.
  const fitted = {
    zhBias: r(-w0 / wDiff, 3),
    tokenRatioWeight: r(wRatio / wDiff, 3),
    pieceWeight: r(wPieces / wDiff, 3),
    fittedFor: { en: models.recognizers.en.model.name, zh: models.recognizers.zh.model.name },
  };
  const configured = config.recognition.auto;
  const variants = {
    perTokenAlone: { ...configured, tokenRatioWeight: 0, pieceWeight: 0, zhBias: 0.28 },
    // The defaults before the English model's pieces per word were weighed (fitted on 64 calls, per side).
    withoutPieces: { ...configured, tokenRatioWeight: 0.2, pieceWeight: 0, zhBias: 0.32 },
    fitted: { ...configured, ...fitted },
    configured,
  };
  const score = (which: keyof typeof variants) => {
    const byMark: Record<string, string> = {};
    for (const [i, name] of [...MARKS_SEC.map((m, i) => [i, `${m}s`] as const), [99, 'end'] as const]) {
      let right = 0;
      let judged = 0;
      for (const sides of calls) {
        const p = pooled(sides, i);
        const v = judge({ en: p.en, zh: p.zh }, p.fedSec, variants[which]);
        if (!v) continue;
        judged++;
        if (v.lang === sides[0].language) right++;
      }
      byMark[name] = `${right}/${judged}`;
    }
    const realRight = real.filter((s) => judge(s.snapshots[s.snapshots.length - 1], 99, variants[which])?.lang === s.language).length;
    return { pooledCallsRightAtSpeech: byMark, realClipsRight: `${realRight}/${real.length}` };
  };
  return {
    what: 'recognition.auto fitted on the tuning split: logistic regression of the language on (per-token log-probability difference zh - en, ln((zh tokens + 1) / (en tokens + 1)), ln(en tokens / en words)) over both sides\' tallies pooled at 2-20 s of each side\'s speech and at the end',
    seed,
    callsPerLanguageGenerated: perLanguage,
    tuningCalls: calls.length,
    snapshots: x.length,
    fitted,
    perTokenAlone: score('perTokenAlone'),
    withoutPieces: score('withoutPieces'),
    fittedScore: score('fitted'),
    configuredScore: { ...score('configured'), zhBias: configured.zhBias, tokenRatioWeight: configured.tokenRatioWeight, pieceWeight: configured.pieceWeight },
  };
}

/**
 * Accuracy on calls nobody tuned for (issue 19): the evaluation set (scripts/eval-set.ts) through the real
 * pipeline, as `earshot analyze` runs it (default config, built-in rule packs, the spotters listening for
 * their phrases, language auto, models from ../shared/models or EARSHOT_SHARED), plus the real recordings
 * (../shared/audio/zh-real, LibriVox from Debian's pocketsphinx-testdata) in the same split. Prints one table
 * per class (test/support/accuracy.ts) and the worst misses.
 *
 * Settings (environment):
 *   EARSHOT_BENCH_ACCURACY_CALLS   calls generated per language (default 24: about 12 per language held out);
 *                                  400 gives about 200 held-out calls per language ("hundreds of calls")
 *   EARSHOT_BENCH_ACCURACY_SPLIT   held-out (default; the only split to report), tuning, or all
 *   EARSHOT_BENCH_ACCURACY_SEED    generator seed (default scripts/eval-set.ts DEFAULT_SEED)
 *   EARSHOT_BENCH_ACCURACY_JOBS    calls analysed at once (default 2, one per core)
 *   EARSHOT_BENCH_ACCURACY_WORST   misses listed (default 25)
 *   EARSHOT_BENCH_ACCURACY_KEEP    a directory: each call's truth and index are written there (<id>.json)
 *   EARSHOT_BENCH_ACCURACY_RESCORE a directory of kept calls: no analysis; the transcript spotter runs again
 *                                  on each index's recognised words (its `asr` hits replaced) and the tables
 *                                  are scored again. Keyword tables only: the rules saw the first run's hits.
 * Renders are cached under .cache/eval (keyed on the generator versions and each call's script): a rerun
 * costs only the analysis.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import { analyzeRecording } from '../edge/analyze.js';
import type { CallAudioInput } from '../device/file-source.js';
import { loadSpeechModels } from '../edge/speech-setup.js';
import { configWithRules, loadRules } from '../edge/rules/setup.js';
import { defaultConfig } from '../provisioning/config.js';
import { inputOf, monoClipAsCall, readMono16k, sharedVad } from '../test/support/analysis.js';
import { scoreAccuracy, type ScoredCall } from '../test/support/accuracy.js';
import { sharedDir } from '../test/support/rule-calls.js';
import { repoRoot } from '../test/support/cli.js';
import { DEFAULT_SEED, EVAL_CACHE_DIR, builtinRules, evalSet, renderEvalCall, rulePhrases, splitOf, type EvalTruth, type Split } from '../scripts/eval-set.js';
import type { Language } from '../scripts/make-call.js';
import { r } from './stats.js';
import { TranscriptSpotter, tolerantPhrases } from '../edge/analysis/transcript-spotter.js';
import type { WordsRecognized } from '../edge/events.js';
import type { CallIndex } from '../edge/index/call-index.js';

/** Debian pocketsphinx-testdata's LibriVox clips: real read English, one reader, with transcripts. */
export const LIBRIVOX = '/usr/share/pocketsphinx/test/data/librivox';

/** A whole-number setting from the environment (the accuracy benches share EARSHOT_BENCH_ACCURACY_*). */
export function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a whole number >= 1, got "${v}"`);
  return n;
}

interface RealClip {
  id: string;
  language: Language;
  file: string;
  text: string;
}

/** The real recordings there are: seven Mandarin clips beside the models, five LibriVox clips from Debian. */
export function realClips(): { clips: RealClip[]; notes: string[] } {
  const clips: RealClip[] = [];
  const notes: string[] = [];
  const zhDir = path.join(sharedDir(), 'audio', 'zh-real');
  for (let i = 0; existsSync(path.join(zhDir, `${i}.wav`)); i++) clips.push({ id: `real-zh-${i}`, language: 'zh', file: path.join(zhDir, `${i}.wav`), text: '' });
  if (!clips.length) notes.push(`no Mandarin clips in ${zhDir}`);
  const transcription = path.join(LIBRIVOX, 'transcription');
  if (existsSync(transcription)) {
    for (const line of readFileSync(transcription, 'utf8').trim().split('\n')) {
      const m = /^<s>\s*(.*?)\s*<\/s>\s*\((.+)\)$/.exec(line.trim());
      if (m) clips.push({ id: `real-en-${m[2].replace(/[^\w-]/g, '_')}`, language: 'en', file: path.join(LIBRIVOX, `${m[2]}.wav`), text: m[1] });
    }
  } else notes.push('LibriVox clips missing: install Debian pocketsphinx-testdata');
  return { clips, notes };
}

/** A real clip as the customer side of a call (monoClipAsCall: 0.5 s in), with the little truth it has. */
export async function realClipTruth(clip: RealClip, split: Split): Promise<{ file: string; truth: EvalTruth }> {
  const dir = path.join(EVAL_CACHE_DIR, 'real');
  await mkdir(dir, { recursive: true });
  const file = await monoClipAsCall(clip.file, path.join(dir, `${clip.id}.wav`));
  const sec = (await readMono16k(clip.file)).length / 16000;
  const truth: EvalTruth = {
    schema: 'earshot/call-truth@1',
    evalSchema: 'earshot/eval-truth@1',
    name: clip.id,
    id: clip.id,
    kind: 'real',
    split,
    language: clip.language,
    sampleRate: 16000,
    encoding: 'pcm16',
    channels: 'stereo',
    durationSec: sec + 1,
    noiseDb: null,
    speechOn: ['customer'],
    turns: [{ channel: 'customer', start: 0.5, end: 0.5 + sec, text: clip.text }],
    agitated: [],
    overlaps: [],
    phrases: [],
    expectedAlerts: {},
  };
  return { file, truth };
}

export async function accuracyBench(): Promise<Record<string, unknown>> {
  const perLanguage = envInt('EARSHOT_BENCH_ACCURACY_CALLS', 24);
  const jobs = envInt('EARSHOT_BENCH_ACCURACY_JOBS', 2);
  const worst = envInt('EARSHOT_BENCH_ACCURACY_WORST', 25);
  const seed = process.env.EARSHOT_BENCH_ACCURACY_SEED || DEFAULT_SEED;
  const splitEnv = process.env.EARSHOT_BENCH_ACCURACY_SPLIT || 'held-out';
  if (splitEnv !== 'held-out' && splitEnv !== 'tuning' && splitEnv !== 'all') {
    throw new Error(`EARSHOT_BENCH_ACCURACY_SPLIT must be held-out, tuning or all, got "${splitEnv}"`);
  }
  const inSplit = (s: Split) => splitEnv === 'all' || s === splitEnv;
  const keep = process.env.EARSHOT_BENCH_ACCURACY_KEEP || null;
  if (keep) await mkdir(keep, { recursive: true });
  const rescoreDir = process.env.EARSHOT_BENCH_ACCURACY_RESCORE || null;
  if (rescoreDir) return rescore(rescoreDir, worst);

  // As `earshot analyze` configures itself: built-in packs, and the spotters listening for their phrases.
  const site = defaultConfig();
  site.models.root = path.join(sharedDir(), 'models');
  const { config, rules } = configWithRules(site);
  const speechModels = await loadSpeechModels(config);
  const vadModel = await sharedVad();
  const packRules = builtinRules();

  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const calls = evalSet({ seed, callsPerLanguage: perLanguage, split: splitEnv });
  const { clips, notes } = realClips();
  const real = clips.filter((c) => inSplit(splitOf(c.id)));
  // Each slot renders a call (TTS and sox in child processes; cached) and then analyses it, so rendering one
  // call overlaps analysing another.
  const limit = pLimit(jobs);
  let renderSec = 0;
  let done = 0;
  const total = calls.length + real.length;
  const analyse = async (prepare: () => Promise<{ input: CallAudioInput; truth: EvalTruth }>): Promise<ScoredCall> => {
    const r0 = performance.now();
    const { input, truth } = await prepare();
    renderSec += (performance.now() - r0) / 1000;
    const { index } = await analyzeRecording(input, { config, speechModels, vadModel, rules, keepEvents: false });
    process.stderr.write(`accuracy: ${++done}/${total} ${truth.id} (${truth.kind}, ${truth.durationSec.toFixed(0)} s)\n`);
    if (keep) await writeFile(path.join(keep, `${truth.id}.json`), JSON.stringify({ truth, index }));
    return { truth, index };
  };
  const scored: ScoredCall[] = await Promise.all([
    ...calls.map((c) =>
      limit(() =>
        analyse(async () => {
          const x = await renderEvalCall(c, EVAL_CACHE_DIR, packRules);
          return { input: inputOf(x.rendered), truth: x.truth };
        }),
      ),
    ),
    ...real.map((c) =>
      limit(() =>
        analyse(async () => {
          const x = await realClipTruth(c, splitOf(c.id));
          return { input: { stereo: x.file }, truth: x.truth };
        }),
      ),
    ),
  ]);
  const wallSec = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const audioSec = scored.reduce((s, c) => s + c.truth.durationSec, 0);

  const tables = scoreAgainstPacks(scored, packRules, worst);
  return {
    what: 'issue 19 accuracy: the evaluation set through the full pipeline as earshot analyze runs it (language auto, built-in rules, recognition and spotters from ../shared/models)',
    set: {
      seed,
      callsPerLanguageGenerated: perLanguage,
      split: splitEnv,
      generated: calls.length,
      realClips: real.length,
      heldOutIsReportOnly: 'tune on EARSHOT_BENCH_ACCURACY_SPLIT=tuning; the held-out split is only ever reported',
      ...(notes.length ? { notes } : {}),
      models: Object.fromEntries(Object.entries(speechModels.recognizers).map(([l, m]) => [l, m?.model.name ?? null])),
      ...(speechModels.problems.length ? { modelProblems: speechModels.problems } : {}),
    },
    time: {
      wallSec: r(wallSec, 1),
      renderOrCacheSec: r(renderSec, 1),
      audioSec: r(audioSec, 1),
      cpuSecThisProcess: r((cpu.user + cpu.system) / 1e6, 1),
      jobs,
      loadAverage: os.loadavg().map((x) => r(x, 2)),
    },
    ...tables,
  };
}

/** The tables of scored calls, judged by the built-in packs' phrases and rules (a run's and a rescore's alike). */
function scoreAgainstPacks(scored: ScoredCall[], packRules: ReturnType<typeof builtinRules>, worst: number): ReturnType<typeof scoreAccuracy> {
  return scoreAccuracy(scored, rulePhrases(packRules), packRules.map((x) => ({ id: x.id, severity: x.spec.severity })), worst);
}

/** The kept calls scored again with the transcript spotter as it is now: tuning it costs seconds, not a run. */
async function rescore(dir: string, worst: number): Promise<Record<string, unknown>> {
  const site = defaultConfig();
  const { watch } = loadRules(site);
  const spotter = new TranscriptSpotter(tolerantPhrases(watch));
  const packRules = builtinRules();
  const scored: ScoredCall[] = (await readdir(dir))
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as ScoredCall)
    .map(({ truth, index }) => {
      const asr = index.utterances.flatMap((u) => {
        const language = index.recognition?.[u.channel as 'agent' | 'customer']?.language;
        if (!u.words?.length || (language !== 'en' && language !== 'zh')) return [];
        const event: WordsRecognized = { type: 'words', channel: u.channel, language, script: language === 'zh' ? 'pinyin' : 'latin', start: u.start, end: u.end, text: u.text ?? '', words: u.words.map((w) => ({ ...w, conf: 1 })), confidence: 1, emittedAt: u.end };
        return spotter.spot(event).map(({ term, channel, start, end, score, source }) => ({ term, channel, start, end, score, source }));
      });
      return { truth, index: { ...index, keywords: [...index.keywords.filter((k) => k.source !== 'asr'), ...asr] } as CallIndex };
    });
  const { keywords, worstMisses } = scoreAgainstPacks(scored, packRules, worst);
  return { what: `keyword tables rescored from ${dir} (${scored.length} calls): transcript spotter as it is now`, keywords, worstMisses: worstMisses.filter((m) => m.class === 'keyword') };
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(repoRoot, 'bench/accuracy.ts')) {
  process.stdout.write(`${JSON.stringify(await accuracyBench(), null, 2)}\n`);
}

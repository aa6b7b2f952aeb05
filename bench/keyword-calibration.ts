/**
 * Per-phrase keyword spotter settings calibrated on the tuning split of the evaluation set (issue 19, item 5).
 * The spotter alone runs over both sides of every tuning call at each (threshold, boost) of a grid, all
 * phrases at once; per phrase it counts the occurrences found (a hit of the phrase on the side that says it,
 * within its turn, as bench/accuracy.ts counts it) and the false alarms (hits no said phrase accounts for), and proposes
 * the setting that finds the most with its false alarms within the goal (1 an hour of that language's speech
 * without the phrase), the least sensitive of those that tie, where that is not the default. The proposal is what the packs'
 * `tuning:` blocks were set from; the held-out split (bench/accuracy.ts) then says whether it holds.
 *
 *   npm run bench -- keyword-calibration
 * Settings (environment): EARSHOT_BENCH_ACCURACY_CALLS (calls generated per language; tuning calls are about
 * half; default 60), EARSHOT_BENCH_ACCURACY_SEED, EARSHOT_BENCH_CALIBRATION_GRID ("t/b,t/b,...").
 */
import path from 'node:path';
import pLimit from 'p-limit';
import { ModelRegistry } from '../models/registry.js';
import { createKeywordSpotter } from '../models/engines.js';
import { modelDirs } from '../edge/speech-setup.js';
import { readWav } from '../device/wav.js';
import { defaultConfig } from '../provisioning/config.js';
import { sharedDir } from '../test/support/rule-calls.js';
import { explained, hitInTurn } from '../test/support/accuracy.js';
import { DEFAULT_SEED, EVAL_CACHE_DIR, builtinRules, evalSet, renderEvalCall, rulePhrases, type EvalTruth } from '../scripts/eval-set.js';
import type { Language } from '../scripts/make-call.js';
import { envInt } from './accuracy.js';
import { r } from './stats.js';

// From least to most sensitive: a phrase the default false-alarms on needs a stricter threshold as much as a
// missed one needs a looser one.
const DEFAULT_GRID = '0.3/2,0.2/2,0.15/2,0.1/2,0.07/2,0.05/2,0.03/2,0.05/4';

interface Setting {
  threshold: number;
  boost: number;
}

interface Cell {
  found: number;
  falseAlarms: number;
}

function parseGrid(text: string): Setting[] {
  return text.split(',').map((x) => {
    const [threshold, boost] = x.split('/').map(Number);
    if (!(threshold > 0 && threshold < 1) || !(boost >= 0 && boost <= 10)) throw new Error(`EARSHOT_BENCH_CALIBRATION_GRID: "${x}" is not threshold/boost (0-1 / 0-10)`);
    return { threshold, boost };
  });
}

const key = (s: Setting) => `t${s.threshold}/b${s.boost}`;

export async function keywordCalibrationBench(): Promise<Record<string, unknown>> {
  const perLanguage = envInt('EARSHOT_BENCH_ACCURACY_CALLS', 60);
  const seed = process.env.EARSHOT_BENCH_ACCURACY_SEED || DEFAULT_SEED;
  const grid = parseGrid(process.env.EARSHOT_BENCH_CALIBRATION_GRID || DEFAULT_GRID);
  const defaults = defaultConfig().watch;
  const registry = await ModelRegistry.load(modelDirs({ root: path.join(sharedDir(), 'models'), dirs: [] }).dirs);
  const packRules = builtinRules();
  const phrasesByLanguage = new Map<Language, string[]>();
  for (const p of rulePhrases(packRules)) phrasesByLanguage.set(p.language, [...new Set([...(phrasesByLanguage.get(p.language) ?? []), p.phrase])]);

  const calls = evalSet({ seed, callsPerLanguage: perLanguage, split: 'tuning' });
  const limit = pLimit(2);
  const truths: { truth: EvalTruth; channels: Float32Array[] }[] = await Promise.all(
    calls.map((c) =>
      limit(async () => {
        const x = await renderEvalCall(c, EVAL_CACHE_DIR, packRules);
        const files = x.rendered.wav ? [x.rendered.wav] : [x.rendered.agentWav as string, x.rendered.customerWav as string];
        const channels = (await Promise.all(files.map((f) => readWav(f, 16000)))).flatMap((w) => w.channels);
        return { truth: x.truth, channels };
      }),
    ),
  );

  const out: Record<string, unknown> = {};
  // One language per core: each spotter stream decodes on the thread pool.
  await Promise.all((['en', 'zh'] as const).map(async (language) => {
    const model = registry.keywordSpotterFor(language);
    if (!model) throw new Error(`no ${language} keyword spotter in ${sharedDir()}/models`);
    const phrases = phrasesByLanguage.get(language) ?? [];
    const mine = truths.filter((t) => t.truth.language === language);
    const speechSec = mine.reduce((s, t) => s + t.truth.turns.reduce((a, u) => a + u.end - u.start, 0), 0);
    const said = new Map<string, number>();
    const saidSec = new Map<string, number>();
    for (const t of mine) {
      for (const o of t.truth.phrases) {
        said.set(o.phrase, (said.get(o.phrase) ?? 0) + 1);
        saidSec.set(o.phrase, (saidSec.get(o.phrase) ?? 0) + o.turnEnd - o.turnStart);
      }
    }
    const cells = new Map<string, Map<string, Cell>>();
    for (const setting of grid) {
      const built = await createKeywordSpotter(model, phrases.map((phrase) => ({ phrase, ...setting })), setting);
      if (!built.spotter) throw new Error(`the ${language} spotter could not be built at ${key(setting)}: ${JSON.stringify(built.problems)}`);
      const found = new Set<string>();
      const fa = new Map<string, number>();
      for (const { truth, channels } of mine) {
        for (const [ch, channel] of (['agent', 'customer'] as const).entries()) {
          const stream = built.spotter.createStream();
          await stream.accept(channels[ch]);
          const hits = [...stream.drain(), ...(await stream.finish())];
          for (const h of hits.map((x) => ({ ...x, channel }))) {
            const o = truth.phrases.find((p) => p.phrase === h.term && hitInTurn(h, p));
            if (o) found.add(`${truth.id}@${o.start}|${h.term}`);
            else if (!explained(h, truth.phrases)) fa.set(h.term, (fa.get(h.term) ?? 0) + 1);
          }
        }
      }
      for (const p of phrases) {
        const byPhrase = cells.get(p) ?? new Map<string, Cell>();
        byPhrase.set(key(setting), { found: [...found].filter((x) => x.endsWith(`|${p}`)).length, falseAlarms: fa.get(p) ?? 0 });
        cells.set(p, byPhrase);
      }
      process.stderr.write(`keyword-calibration: ${language} ${key(setting)} done\n`);
    }
    const perPhrase: Record<string, unknown> = {};
    const proposal: Record<string, Setting> = {};
    for (const p of phrases) {
      const n = said.get(p) ?? 0;
      const hoursWithout = (speechSec - (saidSec.get(p) ?? 0)) / 3600;
      const allowed = Math.floor(hoursWithout); // the goal: at most one false alarm an hour of speech without it
      const row = cells.get(p) as Map<string, Cell>;
      const atDefault = row.get(key({ threshold: defaults.threshold, boost: defaults.boost }));
      // Most found within the false-alarm budget; ties go to the least sensitive setting (fewest surprises).
      let best: Setting | null = null;
      let bestCell: Cell | null = null;
      for (const s of grid) {
        const c = row.get(key(s)) as Cell;
        if (c.falseAlarms > allowed) continue;
        if (!bestCell || c.found > bestCell.found) {
          best = s;
          bestCell = c;
        }
      }
      const defaultFits = atDefault !== undefined && atDefault.falseAlarms <= allowed;
      if (best && bestCell && (!defaultFits || (n > 0 && bestCell.found > (atDefault as Cell).found))) proposal[p] = best;
      perPhrase[p] = {
        said: n,
        speechHoursWithoutIt: r(hoursWithout, 3),
        ...Object.fromEntries([...row].map(([k, c]) => [k, `${c.found}/${n} fa ${c.falseAlarms}`])),
      };
    }
    out[language] = { tuningCalls: mine.length, speechHours: r(speechSec / 3600, 3), perPhrase, proposal };
  }));
  return {
    what: 'keyword spotter alone on the tuning split, per phrase: found/said and false alarms at each threshold/boost; proposal = where the default finds less, or false-alarms more than 1 an hour, the setting that finds most within that (least sensitive of ties)',
    seed,
    callsPerLanguageGenerated: perLanguage,
    default: { threshold: defaults.threshold, boost: defaults.boost },
    ...out,
  };
}

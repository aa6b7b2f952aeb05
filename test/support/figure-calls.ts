// The calls the alert-figure property runs over: the bundled demo calls and the generated calls that are not
// rule calls (those run in rules*.test.ts), each through the full pipeline with the speech models, the
// built-in rules and FIGURES_PACK.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { parse as parseYaml } from 'yaml';
import { analyzeRecording } from '../../edge/analyze.js';
import { loadSpeechModels } from '../../edge/speech-setup.js';
import { configWithRules } from '../../edge/rules/setup.js';
import { defaultConfig } from '../../provisioning/config.js';
import { alertFigureProblems, FIGURES_PACK } from './alert-figures.js';
import { inputOf, sharedVad } from './analysis.js';
import { CALLS_DIR, renderCallByName } from './calls.js';
import { repoRoot } from './cli.js';
import { missingSpeechModels } from './rule-calls.js';

export interface FigureCall {
  name: string;
  language: 'en' | 'zh';
  /** A bundled demo recording, or a generated call's script name. */
  demo?: string;
}

const speech = new Map<string, ReturnType<typeof loadSpeechModels>>();

/** Models load once per file and language: every call of a run listens for the same phrases. */
function speechFor(config: Parameters<typeof loadSpeechModels>[0]): ReturnType<typeof loadSpeechModels> {
  const key = config.recognition.language;
  if (!speech.has(key)) speech.set(key, loadSpeechModels(config));
  return speech.get(key)!;
}

/** The bundled demo calls, or the generated calls (not rule calls) of one language. */
export function figureCalls(which: 'demo' | 'en' | 'zh'): FigureCall[] {
  if (which === 'demo') {
    return readdirSync(path.join(repoRoot, 'demo'))
      .filter((f) => f.endsWith('.wav'))
      .map((f) => ({ name: f.replace(/\.wav$/, ''), demo: path.join(repoRoot, 'demo', f), language: /-zh\b/.test(f) ? ('zh' as const) : ('en' as const) }));
  }
  return readdirSync(CALLS_DIR)
    .filter((f) => f.endsWith('.yml') && !f.startsWith('rule-'))
    .map((f) => ({ name: f.replace(/\.yml$/, ''), language: ((parseYaml(readFileSync(path.join(CALLS_DIR, f), 'utf8')) as { language?: string }).language ?? 'en') as 'en' | 'zh' }))
    .filter((c) => c.language === which);
}

/** `missing`: the speech models the call needs are not there (one line saying which and where). */
export async function runFigureCall(t: Test, call: FigureCall): Promise<{ problems: string[]; alerts: number; missing?: string }> {
  const pack = path.join(t.testdir({}), 'figures.yml');
  writeFileSync(pack, FIGURES_PACK);
  const site = defaultConfig();
  site.models.root = path.join(process.env.EARSHOT_SHARED ?? path.resolve(repoRoot, '..', 'shared'), 'models');
  site.recognition.language = call.language;
  const { config, rules } = configWithRules(site, [pack]);
  const speechModels = await speechFor(config);
  const missing = missingSpeechModels(speechModels, call.language, config);
  if (missing) return { problems: [], alerts: 0, missing };
  const input = call.demo ? { stereo: call.demo } : inputOf(await renderCallByName(call.name));
  const { index } = await analyzeRecording(input, { config, rules, vadModel: await sharedVad(), speechModels });
  return { problems: alertFigureProblems(index, rules), alerts: index.alerts.length };
}

/** One test per call of `which`: every figure its alerts quote is the index's. */
export function testFigures(which: 'demo' | 'en' | 'zh'): void {
  for (const call of figureCalls(which)) {
    t.test(`${call.name}: every figure its alerts quote is the index's`, async (t) => {
      const { problems, alerts, missing } = await runFigureCall(t, call);
      if (missing) return void t.fail(missing);
      t.ok(alerts > 0, `${alerts} alerts to check`);
      t.same(problems, []);
    });
  }
}

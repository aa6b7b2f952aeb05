import { basename } from 'node:path';
import { analyzeRecording } from '../../edge/analyze.js';
import { demoCalls, demoModelsRoot } from '../../edge/run/demo.js';
import { configWithRules } from '../../edge/rules/setup.js';
import { loadSpeechModels } from '../../edge/speech-setup.js';
import { defaultConfig } from '../../provisioning/config.js';
import type { CallIndex } from '../../edge/index/call-index.js';
import { sharedVad } from './analysis.js';

/**
 * The bundled demo calls (demo/*.wav) analysed by the real pipeline with the default rules and, where the
 * machine has them (../shared/models, as the demo finds them), the speech models: real indexes with words,
 * keywords and alerts. `only` picks calls by file name (demo-call, demo-fraud-zh, demo-invest-en).
 */
export async function demoIndexes(only?: readonly string[]): Promise<{ name: string; index: CallIndex }[]> {
  const site = defaultConfig();
  site.models.root = demoModelsRoot(site.models.root);
  const { config, rules } = configWithRules(site);
  const speechModels = await loadSpeechModels(config);
  const out: { name: string; index: CallIndex }[] = [];
  for (const file of demoCalls()) {
    const name = basename(file, '.wav');
    if (only && !only.includes(name)) continue;
    const { index } = await analyzeRecording({ stereo: file }, { config, rules, speechModels, vadModel: await sharedVad() });
    out.push({ name, index });
  }
  return out;
}

import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { ModelRegistry } from '../models/registry.js';
import type { EarshotConfig } from '../provisioning/config.js';
import { SpeechModels } from './analysis/speech.js';

/** Model directories in lookup order: explicit ones first, then every folder under the root. */
export function modelDirs(config: EarshotConfig['models']): { dirs: string[]; problems: string[] } {
  const problems: string[] = [];
  let underRoot: string[] = [];
  try {
    underRoot = readdirSync(config.root)
      // Dot folders are the installer's: versions kept for rollback, installs under way (models/install.ts).
      .filter((name) => !name.startsWith('.'))
      .map((name) => path.join(config.root, name))
      .filter((d) => statSync(d, { throwIfNoEntry: false })?.isDirectory() ?? false)
      .sort();
  } catch {
    problems.push(`models root ${config.root} does not exist (provision models with: earshot models install <dir>)`);
  }
  return { dirs: [...config.dirs, ...underRoot], problems };
}

/** Loads what the box can hear with; never throws for a missing or broken model, it records why instead. */
export async function loadSpeechModels(config: EarshotConfig): Promise<SpeechModels> {
  const { dirs, problems } = modelDirs(config.models);
  const registry = await ModelRegistry.load(dirs);
  const models = await SpeechModels.load(registry, config.watch, config.recognition);
  models.problems.unshift(...problems);
  return models;
}

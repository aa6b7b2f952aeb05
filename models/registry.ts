// The set of models this box can use, built from the configured directories.
//
// A bad model must not stop the box: calls still get silence, over-talk, emotion and rules without
// speech models, so every failure is recorded (and reported upstream by whoever owns the registry)
// while the good models stay usable.

import path from 'node:path';
import { ModelError, primaryLanguage, verifyFiles, verifyModelDir, type ModelErrorCode, type ModelKind, type VerifiedModel } from './manifest.js';
import { repoManifest } from './install.js';

/**
 * Upstream model folders (as in ../shared/models) carry no model.json; the repo's manifest of the same
 * name pins their files, exactly as `earshot models install` would.
 */
async function verifyWithFallback(dir: string): Promise<VerifiedModel> {
  try {
    return await verifyModelDir(dir);
  } catch (err) {
    if (!(err instanceof ModelError && err.code === 'missing-manifest')) throw err;
    let manifest;
    try {
      manifest = await repoManifest(path.basename(path.resolve(dir)));
    } catch {
      throw err;
    }
    return verifyFiles(path.resolve(dir), manifest);
  }
}

export interface ModelFailure {
  dir: string;
  /** Folder name: the manifest's name is unknown when the manifest itself is what failed. */
  name: string;
  code: ModelErrorCode | 'duplicate-name' | 'error';
  reason: string;
}

export class ModelRegistry {
  /** Stores what it is given; use {@link ModelRegistry.load} to verify directories. */
  constructor(
    readonly models: readonly VerifiedModel[],
    readonly failures: readonly ModelFailure[],
  ) {}

  /** Verifies each directory (in config order, which is also lookup priority). */
  static async load(dirs: readonly string[]): Promise<ModelRegistry> {
    const settled = await Promise.allSettled(dirs.map((d) => verifyWithFallback(d)));
    const models: VerifiedModel[] = [];
    const failures: ModelFailure[] = [];
    settled.forEach((r, i) => {
      const dir = path.resolve(dirs[i]!);
      if (r.status === 'rejected') {
        const err = r.reason as unknown;
        failures.push({
          dir,
          name: path.basename(dir),
          code: err instanceof ModelError ? err.code : 'error',
          reason: err instanceof Error ? err.message : String(err),
        });
      } else if (models.some((m) => m.name === r.value.name)) {
        failures.push({ dir, name: r.value.name, code: 'duplicate-name', reason: `model ${dir}: name "${r.value.name}" is already provided by another directory` });
      } else {
        models.push(r.value);
      }
    });
    return new ModelRegistry(models, failures);
  }

  /** Models of that kind serving the language, in config order; language-independent models match any. */
  all(kind: ModelKind, language?: string): VerifiedModel[] {
    const lang = language === undefined ? undefined : primaryLanguage(language);
    return this.models.filter(
      (m) =>
        m.kinds.includes(kind) &&
        (lang === undefined || m.manifest.languages.length === 0 || m.manifest.languages.some((l) => primaryLanguage(l) === lang)),
    );
  }

  /** The first of {@link ModelRegistry.all}. */
  find(kind: ModelKind, language?: string): VerifiedModel | undefined {
    return this.all(kind, language)[0];
  }

  recognizerFor(language: string): VerifiedModel | undefined {
    return this.find('recognizer', language);
  }

  keywordSpotterFor(language: string): VerifiedModel | undefined {
    return this.find('keyword-spotter', language);
  }
}

// Putting a model directory onto the box (e.g. /var/lib/earshot/models/<name>).
//
// The copy lands in a temporary directory beside the target and is verified there; only a complete,
// verified directory is renamed into place, so a pulled USB stick or a full disk never leaves a
// half-installed model that the registry would later half-trust.

import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  MANIFEST_FILE,
  ModelError,
  parseManifest,
  readManifest,
  verifyFiles,
  verifyModelDir,
  type ModelManifest,
  type VerifiedModel,
} from './manifest.js';

export interface InstallOptions {
  /** Replace an installed model of the same name (the old one is removed only after the new one is in place). */
  replace?: boolean;
  /** Where repo manifests live; defaults to models/manifests in this checkout. */
  manifestsDir?: string;
}

/**
 * Candidates for models/manifests: next to this module when run from source (tsx), and back in the
 * source tree when run from dist/models/ (tsc does not copy directories it does not import).
 */
export function defaultManifestsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, 'manifests'), path.resolve(here, '..', '..', 'models', 'manifests')];
  return candidates.find((c) => existsSync(c)) ?? candidates[0]!;
}

export async function repoManifest(name: string, manifestsDir = defaultManifestsDir()): Promise<ModelManifest> {
  return readManifest(path.join(manifestsDir, name));
}

async function manifestFor(
  sourceDir: string,
  manifest: ModelManifest | string | undefined,
  manifestsDir: string | undefined,
): Promise<ModelManifest> {
  if (typeof manifest === 'object') return parseManifest(manifest, sourceDir);
  if (typeof manifest === 'string') return repoManifest(manifest, manifestsDir);
  if (existsSync(path.join(sourceDir, MANIFEST_FILE))) return readManifest(sourceDir);
  // Upstream model folders carry no model.json: the repo's manifest for a folder of the same name is the truth.
  return repoManifest(path.basename(sourceDir), manifestsDir);
}

/**
 * Copies the files a manifest names from `sourceDir` into `<modelsRoot>/<manifest.name>`, writes its
 * model.json and returns the installed model, verified in place.
 * `manifest`: a manifest object, the name of a repo manifest, or (default) the source's own
 * model.json, else the repo manifest named like the source folder.
 */
export async function installModel(
  sourceDir: string,
  modelsRoot: string,
  manifest?: ModelManifest | string,
  options: InstallOptions = {},
): Promise<VerifiedModel> {
  const src = path.resolve(sourceDir);
  const m = await manifestFor(src, manifest, options.manifestsDir);
  // Refuse a bad source before writing anything on the box.
  await verifyFiles(src, m);

  const root = path.resolve(modelsRoot);
  const target = path.join(root, m.name);
  if (existsSync(target) && !options.replace) {
    throw new ModelError('install-failed', target, 'already installed (pass replace to overwrite)');
  }
  await mkdir(root, { recursive: true });
  const tmp = await mkdtemp(path.join(root, `.installing-${m.name}-`));
  let old: string | undefined;
  try {
    for (const f of Object.values(m.files)) {
      const dest = path.join(tmp, f.path);
      await mkdir(path.dirname(dest), { recursive: true });
      await copyFile(path.join(src, f.path), dest);
    }
    await writeFile(path.join(tmp, MANIFEST_FILE), `${JSON.stringify(m, null, 2)}\n`);
    await verifyModelDir(tmp);
    if (existsSync(target)) {
      old = `${tmp}.old`;
      await rename(target, old);
    }
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if (old && !existsSync(target)) await rename(old, target);
    if (err instanceof ModelError) throw err;
    throw new ModelError('install-failed', target, `install failed: ${(err as Error).message}`, undefined, { cause: err });
  }
  if (old) await rm(old, { recursive: true, force: true });
  return verifyModelDir(target);
}

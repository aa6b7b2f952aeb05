// Putting a model onto the box (e.g. /var/lib/earshot/models/<name>), from a folder or a tarball, and
// taking it back.
//
// Everything lands in a temporary directory beside the target (same file system) and is verified there;
// only a complete, verified, fsynced directory is renamed into place, so a pulled USB stick, a truncated
// download or a full disk never leaves a half-installed model that the registry would later half-trust.
// The version it replaces is kept in <root>/.previous/<name> for `earshot models rollback`. Folders under
// the root whose names start with a dot are never loaded as models (edge/speech-setup.ts).

import { existsSync } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, mkdtemp, open, readdir, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { list as tarList, extract as tarExtract } from 'tar';
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

/** Where replaced versions are kept, one per model name; a dot folder, so never loaded as a model. */
export const PREVIOUS_DIR = '.previous';

export interface InstallOptions {
  /** Replace an installed model of the same name (the old one is kept in .previous/ for rollback). */
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

/** A manifest path could be fine as text and still lead out through a symlink (encoder.onnx -> /etc/shadow). */
async function refuseLinksOut(src: string, m: ModelManifest): Promise<void> {
  const root = await realpath(src);
  for (const f of Object.values(m.files)) {
    let real: string;
    try {
      real = await realpath(path.join(src, f.path));
    } catch {
      continue; // missing: verifyFiles names it
    }
    if (real !== root && !real.startsWith(root + path.sep)) {
      throw new ModelError('unsafe-path', src, `leads outside the model directory (to ${real})`, f.path);
    }
  }
}

async function fsyncPath(p: string): Promise<void> {
  const fh = await open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync every file and folder under `dir`, then `dir`: the rename that follows publishes durable bytes. */
async function fsyncTree(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await fsyncTree(p);
    else if (e.isFile()) await fsyncPath(p);
  }
  await fsyncPath(dir);
}

/** A temporary folder under the models root (made if need be); a root the user cannot write is one clear line. */
async function tempUnder(root: string, prefix: string): Promise<string> {
  try {
    await mkdir(root, { recursive: true });
    return await mkdtemp(path.join(root, prefix));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ModelError('install-failed', root, `cannot write in the models root (${code})`, undefined, { cause: err });
  }
}

export function isTarball(file: string): boolean {
  return /\.(tar|tgz|tar\.gz)$/i.test(file);
}

/** One line for a tar problem: node-tar's own messages name the cause (zlib: unexpected end of file, ...). */
function tarProblem(tarball: string, err: unknown): ModelError {
  const e = err as NodeJS.ErrnoException & { tarCode?: string };
  if (e.code === 'ENOENT') return new ModelError('missing-file', path.dirname(tarball), 'no such tarball', path.basename(tarball), { cause: err });
  const code = e.tarCode ?? e.code;
  return new ModelError('bad-tarball', tarball, `truncated or damaged tarball: ${e.message}${code && !e.message.includes(code) ? ` (${code})` : ''}`, undefined, { cause: err });
}

/**
 * Reads the whole tarball once before anything is written: an entry that would land outside the folder it
 * unpacks into (absolute, `..`, a link pointing out) refuses the tarball; a truncated or damaged one fails
 * here (strict: node-tar's warnings are errors). Only then is it unpacked, into `into`.
 */
export async function unpackTarball(tarball: string, into: string): Promise<void> {
  const problems: { entry: string; why: string }[] = [];
  const escapes = (p: string) => {
    const norm = path.posix.normalize(p.replace(/\\/g, '/'));
    return path.posix.isAbsolute(p) || /^[A-Za-z]:/.test(p) || norm === '..' || norm.startsWith('../');
  };
  try {
    await tarList({
      file: tarball,
      strict: true,
      onReadEntry: (entry) => {
        const p = entry.path;
        if (escapes(p)) problems.push({ entry: p, why: 'path leads outside the model folder' });
        else if (entry.type === 'SymbolicLink' || entry.type === 'Link') {
          const target = entry.linkpath ?? '';
          // A link's target is relative to the link's folder (symlink) or to the archive root (hard link).
          const resolved = entry.type === 'SymbolicLink' ? path.posix.join(path.posix.dirname(p), target) : target;
          if (path.posix.isAbsolute(target) || escapes(resolved)) problems.push({ entry: p, why: `link to ${target} leads outside the model folder` });
        } else if (!['File', 'OldFile', 'ContiguousFile', 'Directory'].includes(entry.type)) {
          problems.push({ entry: p, why: `${entry.type} entries are not model files` });
        }
      },
    });
  } catch (err) {
    throw tarProblem(tarball, err);
  }
  if (problems.length) {
    const first = problems[0]!;
    throw new ModelError('unsafe-path', tarball, `${first.why}; nothing installed${problems.length > 1 ? ` (${problems.length - 1} more such entries)` : ''}`, first.entry);
  }
  try {
    await tarExtract({ file: tarball, cwd: into, strict: true, preserveOwner: false, noMtime: true });
  } catch (err) {
    throw tarProblem(tarball, err);
  }
}

/** The model folder inside an unpacked tarball: its top level when model.json is there, else its one folder. */
async function modelFolderIn(unpacked: string, tarball: string): Promise<string> {
  if (existsSync(path.join(unpacked, MANIFEST_FILE))) return unpacked;
  const entries = (await readdir(unpacked, { withFileTypes: true })).filter((e) => !e.name.startsWith('.'));
  if (entries.length === 1 && entries[0]!.isDirectory()) return path.join(unpacked, entries[0]!.name);
  throw new ModelError('missing-manifest', tarball, `no ${MANIFEST_FILE} at the top of the tarball and not one folder to look in`, MANIFEST_FILE);
}

/**
 * Installs a model directory or tarball (.tar, .tar.gz, .tgz) into `<modelsRoot>/<manifest.name>` and
 * returns it, verified in place. `manifest`: a manifest object, the name of a repo manifest, or (default)
 * the source's own model.json, else the repo manifest named like the source folder.
 * On any failure nothing under `modelsRoot` has changed.
 */
export async function installModel(
  source: string,
  modelsRoot: string,
  manifest?: ModelManifest | string,
  options: InstallOptions = {},
): Promise<VerifiedModel> {
  const root = path.resolve(modelsRoot);
  const resolved = path.resolve(source);
  let st;
  try {
    st = await stat(resolved);
  } catch (err) {
    throw new ModelError('missing-file', path.dirname(resolved), `no such model folder or tarball (${(err as NodeJS.ErrnoException).code})`, path.basename(resolved), { cause: err });
  }
  if (st.isDirectory()) return installFromDir(resolved, root, manifest, options);
  if (!isTarball(resolved)) throw new ModelError('install-failed', resolved, 'not a folder, .tar, .tar.gz or .tgz');
  // Unpacked beside the models (same file system), under a dot name the registry skips.
  const unpacked = await tempUnder(root, '.unpacking-');
  try {
    await unpackTarball(resolved, unpacked);
    return await installFromDir(await modelFolderIn(unpacked, resolved), root, manifest, options, resolved);
  } finally {
    await rm(unpacked, { recursive: true, force: true });
  }
}

async function installFromDir(
  src: string,
  root: string,
  manifest: ModelManifest | string | undefined,
  options: InstallOptions,
  /** the tarball it came from, for messages */
  origin?: string,
): Promise<VerifiedModel> {
  let m: ModelManifest;
  try {
    m = await manifestFor(src, manifest, options.manifestsDir);
    // Refuse a bad source before writing anything on the box.
    await refuseLinksOut(src, m);
    await verifyFiles(src, m);
  } catch (err) {
    // An unpacked tarball's temporary folder means nothing to the installer: name the tarball instead.
    if (origin && err instanceof ModelError) throw new ModelError(err.code, origin, err.detail, err.file, { cause: err });
    throw err;
  }

  const target = path.join(root, m.name);
  if (existsSync(target) && !options.replace) {
    throw new ModelError('install-failed', target, 'already installed (pass --replace to install over it; the old one is kept for rollback)');
  }
  const tmp = await tempUnder(root, `.installing-${m.name}-`);
  const previousRoot = path.join(root, PREVIOUS_DIR);
  const previous = path.join(previousRoot, m.name);
  const displaced = `${tmp}.displaced`;
  let moved = false;
  try {
    for (const f of Object.values(m.files)) {
      const dest = path.join(tmp, f.path);
      await mkdir(path.dirname(dest), { recursive: true });
      await copyFile(path.join(src, f.path), dest);
      // Readable by the agent's own user whoever installs (root via sudo, say), whatever the stick's modes were.
      await chmod(dest, 0o644);
    }
    await writeFile(path.join(tmp, MANIFEST_FILE), `${JSON.stringify(m, null, 2)}\n`, { mode: 0o644 });
    // mkdtemp makes 0700: the installed folder must be readable by the service user.
    await chmod(tmp, 0o755);
    await fsyncTree(tmp);
    await verifyModelDir(tmp);
    if (existsSync(target)) {
      await mkdir(previousRoot, { recursive: true });
      // The version before the one being replaced goes: one step of rollback is what is promised.
      if (existsSync(previous)) await rename(previous, displaced);
      await rename(target, previous);
      moved = true;
    }
    await rename(tmp, target);
    await fsyncPath(root);
    if (moved) await fsyncPath(previousRoot);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if (moved && !existsSync(target)) await rename(previous, target);
    if (existsSync(displaced) && !existsSync(previous)) await rename(displaced, previous);
    if (err instanceof ModelError) throw err;
    throw new ModelError('install-failed', target, `install failed: ${(err as Error).message}`, undefined, { cause: err });
  }
  await rm(displaced, { recursive: true, force: true });
  return verifyModelDir(target);
}

/**
 * Puts back the version `installModel` replaced, and keeps the one it takes out as the new previous (so a
 * second rollback rolls forward). The kept version is verified first: a damaged one is refused and the
 * installed model stays.
 */
export async function rollbackModel(name: string, modelsRoot: string): Promise<{ installed: VerifiedModel; previous: VerifiedModel | null }> {
  const root = path.resolve(modelsRoot);
  if (name.includes('/') || name.includes('\\') || name.startsWith('.')) throw new ModelError('unsafe-path', root, 'not a model name', name);
  const previousRoot = path.join(root, PREVIOUS_DIR);
  const previous = path.join(previousRoot, name);
  const target = path.join(root, name);
  if (!existsSync(previous)) throw new ModelError('install-failed', root, `no previous version of ${name} to roll back to (kept only when an install replaces one)`, name);
  await verifyModelDir(previous);
  const swap = await tempUnder(root, `.rollback-${name}-`);
  const current = path.join(swap, name);
  let hadCurrent = false;
  try {
    if (existsSync(target)) {
      const info = await lstat(target);
      if (!info.isDirectory()) throw new ModelError('install-failed', target, 'is not a folder');
      await rename(target, current);
      hadCurrent = true;
    }
    await rename(previous, target);
    if (hadCurrent) await rename(current, previous);
    await fsyncPath(root);
    await fsyncPath(previousRoot);
  } catch (err) {
    if (!existsSync(target) && existsSync(current)) await rename(current, target);
    if (err instanceof ModelError) throw err;
    throw new ModelError('install-failed', target, `rollback failed: ${(err as Error).message}`, undefined, { cause: err });
  } finally {
    // Never delete a version: the swap folder goes only once what it held has been moved out of it.
    if (!existsSync(current)) await rm(swap, { recursive: true, force: true });
  }
  const installed = await verifyModelDir(target);
  const kept = hadCurrent ? await verifyModelDir(previous).catch(() => null) : null;
  return { installed, previous: kept };
}

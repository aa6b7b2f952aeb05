// `earshot models install <dir|tarball>` and `earshot models rollback`, on a real model's files (the
// shared denoise-gtcrn: small, and a real ONNX file), with tarballs made here by node-tar.
import t, { type Test } from 'tap';
import { copyFile, mkdir, readdir, readFile, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { create as tarCreate } from 'tar';
import { ModelError, type ModelErrorCode, type ModelManifest } from '../models/manifest.js';
import { installModel, PREVIOUS_DIR, repoManifest, rollbackModel } from '../models/install.js';
import { modelDirs } from '../edge/speech-setup.js';
import { ModelRegistry } from '../models/registry.js';
import { runCli, repoRoot } from './support/cli.js';

const shared = process.env.EARSHOT_SHARED ?? path.resolve(repoRoot, '..', 'shared');
const real = path.join(shared, 'models', 'denoise-gtcrn');
const NAME = 'denoise-gtcrn';

/** Version 1: the model and its notice; version 2 (the repo's manifest): the licence text too. */
async function version(n: 1 | 2): Promise<ModelManifest> {
  const m = await repoManifest(NAME);
  if (n === 1) delete m.files.licenceText;
  return { ...m, notes: `test version ${n}` };
}

/** A model folder as a vendor would ship it: its files and model.json. */
async function modelFolder(dir: string, m: ModelManifest): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const f of Object.values(m.files)) await copyFile(path.join(real, f.path), path.join(dir, f.path));
  await writeFile(path.join(dir, 'model.json'), JSON.stringify(m, null, 2));
  return dir;
}

/** Every path under a folder with its size and a digest of its bytes: "nothing changed" is this, equal. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const p = path.join(e.parentPath, e.name);
    const rel = path.relative(dir, p);
    out[rel] = e.isFile() ? createHash('sha256').update(await readFile(p)).digest('hex').slice(0, 16) : e.isDirectory() ? 'dir' : 'other';
  }
  return out;
}

async function rejectsWith(t: Test, p: Promise<unknown>, code: ModelErrorCode, ...mentions: string[]): Promise<ModelError | undefined> {
  try {
    await p;
    t.fail(`expected ModelError ${code}`);
  } catch (err) {
    t.ok(err instanceof ModelError, `is a ModelError: ${(err as Error).message}`);
    const e = err as ModelError;
    t.equal(e.code, code, e.message);
    t.notMatch(e.message, /\n/, 'one line');
    for (const m of mentions) t.match(e.message, m, `message names ${m}`);
    return e;
  }
}

const notes = async (root: string, where = NAME) => JSON.parse(await readFile(path.join(root, where, 'model.json'), 'utf8')).notes as string;

t.test('a .tgz installs; --replace keeps the old version; rollback swaps them both ways', async (t) => {
  const dir = t.testdir({});
  const root = path.join(dir, 'models');
  const v1 = await modelFolder(path.join(dir, 'v1', NAME), await version(1));
  const v2 = await modelFolder(path.join(dir, 'v2', NAME), await version(2));
  const tgz1 = path.join(dir, 'v1.tgz');
  const tar2 = path.join(dir, 'v2.tar');
  await tarCreate({ file: tgz1, gzip: true, cwd: path.dirname(v1) }, [NAME]);
  // v2 has model.json at the top of the archive, no folder.
  await tarCreate({ file: tar2, cwd: v2 }, await readdir(v2));

  const first = await installModel(tgz1, root);
  t.equal(first.dir, path.join(root, NAME));
  // Installed with sudo, read by the service's own user: the folder and its files are world-readable.
  t.equal((await stat(first.dir)).mode & 0o777, 0o755);
  for (const f of Object.values(first.paths)) t.equal((await stat(f)).mode & 0o777, 0o644, `${path.basename(f)} readable`);
  t.equal(await notes(root), 'test version 1');
  t.same(await readdir(root), [NAME], 'nothing but the model: the unpacked tarball is gone');

  await rejectsWith(t, installModel(tar2, root), 'install-failed', 'already installed', '--replace');
  const second = await installModel(tar2, root, undefined, { replace: true });
  t.ok(second.paths.licenceText, 'the new version is in place');
  t.equal(await notes(root), 'test version 2');
  t.equal(await notes(path.join(root, PREVIOUS_DIR)), 'test version 1', 'the old one is kept');
  t.same((await readdir(root)).sort(), [PREVIOUS_DIR, NAME].sort());

  // The box loads only the installed one: the kept version is not a second model of the same name.
  const { dirs } = modelDirs({ root, dirs: [] });
  t.same(dirs, [path.join(root, NAME)]);
  const registry = await ModelRegistry.load(dirs);
  t.same(registry.failures, [], 'no duplicate-name failure');

  const back = await rollbackModel(NAME, root);
  t.equal(await notes(root), 'test version 1', 'rolled back');
  t.equal(back.previous?.manifest.notes, 'test version 2', 'the version taken out is kept');
  await rollbackModel(NAME, root);
  t.equal(await notes(root), 'test version 2', 'a second rollback rolls forward');
  t.same((await readdir(root)).sort(), [PREVIOUS_DIR, NAME].sort(), 'no temporary folders left');

  // A third install drops the oldest version: one step back is what is kept.
  await installModel(v1, root, undefined, { replace: true });
  t.equal(await notes(root), 'test version 1');
  t.equal(await notes(path.join(root, PREVIOUS_DIR)), 'test version 2');
  t.same(await readdir(path.join(root, PREVIOUS_DIR)), [NAME]);
});

t.test('rollback refuses a damaged kept version and changes nothing', async (t) => {
  const dir = t.testdir({});
  const root = path.join(dir, 'models');
  await installModel(await modelFolder(path.join(dir, 'v1', NAME), await version(1)), root);
  await rejectsWith(t, rollbackModel(NAME, root), 'install-failed', 'no previous version');
  await installModel(await modelFolder(path.join(dir, 'v2', NAME), await version(2)), root, undefined, { replace: true });
  await truncate(path.join(root, PREVIOUS_DIR, NAME, 'gtcrn_simple.onnx'), 1000);
  const before = await snapshot(root);
  await rejectsWith(t, rollbackModel(NAME, root), 'size-mismatch', 'gtcrn_simple.onnx', PREVIOUS_DIR);
  t.same(await snapshot(root), before, 'nothing changed');
  await rejectsWith(t, rollbackModel('../etc', root), 'unsafe-path');
});

t.test('bad tarballs and bad models: one line naming the file and the problem, nothing installed changes', async (t) => {
  const dir = t.testdir({});
  const root = path.join(dir, 'models');
  const good = await modelFolder(path.join(dir, 'good', NAME), await version(1));
  await installModel(good, root);
  await installModel(await modelFolder(path.join(dir, 'v2', NAME), await version(2)), root, undefined, { replace: true });
  const before = await snapshot(root);
  const unchanged = async (what: string) => t.same(await snapshot(root), before, `${what}: nothing under the models root changed`);

  // Truncated: a .tgz and a plain .tar cut in half, as an interrupted copy leaves them.
  const tgz = path.join(dir, 'cut.tgz');
  await tarCreate({ file: tgz, gzip: true, cwd: path.dirname(good) }, [NAME]);
  await truncate(tgz, Math.floor((await stat(tgz)).size / 2));
  await rejectsWith(t, installModel(tgz, root, undefined, { replace: true }), 'bad-tarball', 'cut.tgz', 'truncated or damaged');
  await unchanged('truncated .tgz');
  const tarFile = path.join(dir, 'cut.tar');
  await tarCreate({ file: tarFile, cwd: path.dirname(good) }, [NAME]);
  await truncate(tarFile, Math.floor((await stat(tarFile)).size / 2));
  await rejectsWith(t, installModel(tarFile, root, undefined, { replace: true }), 'bad-tarball', 'cut.tar', 'truncated or damaged');
  await unchanged('truncated .tar');

  // A manifest whose checksum is wrong for the file it names.
  const badSum = await version(1);
  badSum.files.model!.sha256 = '0'.repeat(64);
  const bad = await modelFolder(path.join(dir, 'badsum', NAME), badSum);
  const badTgz = path.join(dir, 'badsum.tgz');
  await tarCreate({ file: badTgz, gzip: true, cwd: path.dirname(bad) }, [NAME]);
  await rejectsWith(t, installModel(badTgz, root, undefined, { replace: true }), 'sha256-mismatch', 'badsum.tgz', 'gtcrn_simple.onnx', 'sha256 mismatch');
  await unchanged('bad checksum in a tarball');
  await rejectsWith(t, installModel(bad, root, undefined, { replace: true }), 'sha256-mismatch', 'gtcrn_simple.onnx');
  await unchanged('bad checksum in a folder');

  // Entries that would land outside the folder the tarball unpacks into: `..`, absolute, a link out.
  const outside = path.join(dir, 'escaped.txt');
  const evil = path.join(dir, 'evil');
  await modelFolder(evil, await version(1));
  await writeFile(path.join(dir, 'payload'), 'x');
  const dotdot = path.join(dir, 'dotdot.tar');
  await tarCreate({ file: dotdot, cwd: evil, preservePaths: true }, ['model.json', '../payload']);
  await rejectsWith(t, installModel(dotdot, root, undefined, { replace: true }), 'unsafe-path', 'dotdot.tar', '../payload', 'outside');
  const absolute = path.join(dir, 'absolute.tar');
  await tarCreate({ file: absolute, cwd: evil, preservePaths: true }, ['model.json', path.join(dir, 'payload')]);
  await rejectsWith(t, installModel(absolute, root, undefined, { replace: true }), 'unsafe-path', 'absolute.tar', 'outside');
  await symlink('/etc/passwd', path.join(evil, 'NOTICE.md.link'));
  await symlink('../../escaped.txt', path.join(evil, 'sneaky'));
  const links = path.join(dir, 'links.tar');
  await tarCreate({ file: links, cwd: evil }, ['model.json', 'sneaky', 'NOTICE.md.link']);
  await rejectsWith(t, installModel(links, root, undefined, { replace: true }), 'unsafe-path', 'links.tar', 'sneaky', 'leads outside');
  t.notOk(existsSync(outside), 'nothing was written outside');
  await unchanged('escaping entries');

  // A folder whose model file is a link out of it is refused even when the bytes it points at are right.
  const linked = await modelFolder(path.join(dir, 'linked', NAME), await version(1));
  const elsewhere = path.join(dir, 'elsewhere.onnx');
  await copyFile(path.join(real, 'gtcrn_simple.onnx'), elsewhere);
  await rm(path.join(linked, 'gtcrn_simple.onnx'));
  await symlink(elsewhere, path.join(linked, 'gtcrn_simple.onnx'));
  await rejectsWith(t, installModel(linked, root, undefined, { replace: true }), 'unsafe-path', 'gtcrn_simple.onnx', 'outside the model directory');
  await unchanged('a link out of a folder');

  await rejectsWith(t, installModel(path.join(dir, 'nowhere.tgz'), root), 'missing-file', 'nowhere.tgz');
  // A models root that cannot be written (a file in the way here; permissions on a box): one line, not a stack.
  await rejectsWith(t, installModel(good, path.join(dir, 'payload', 'models')), 'install-failed', 'cannot write in the models root', 'ENOTDIR');
  await rejectsWith(t, installModel(tgz, path.join(dir, 'payload', 'models')), 'install-failed', 'cannot write in the models root');
  await unchanged('a missing tarball');
});

t.test('the CLI: install a tarball, refuse a truncated one with one line and exit 2, roll back', async (t) => {
  const dir = t.testdir({});
  const root = path.join(dir, 'models');
  const v1 = await modelFolder(path.join(dir, 'v1', NAME), await version(1));
  const v2 = await modelFolder(path.join(dir, 'v2', NAME), await version(2));
  const tgz1 = path.join(dir, 'v1.tgz');
  const tgz2 = path.join(dir, 'v2.tgz');
  await tarCreate({ file: tgz1, gzip: true, cwd: path.dirname(v1) }, [NAME]);
  await tarCreate({ file: tgz2, gzip: true, cwd: path.dirname(v2) }, [NAME]);
  const one = await runCli(['models', 'install', tgz1, '--root', root]);
  t.equal(one.code, 0, one.stderr);
  t.match(one.stdout, `installed ${NAME} (denoiser) in ${path.join(root, NAME)}`);
  const cut = path.join(dir, 'cut.tgz');
  await copyFile(tgz2, cut);
  await truncate(cut, 4000);
  const before = await snapshot(root);
  const refused = await runCli(['models', 'install', cut, '--root', root, '--replace']);
  t.equal(refused.code, 2);
  t.equal(refused.stderr.trim().split('\n').length, 1, `one line: ${refused.stderr}`);
  t.match(refused.stderr, /^earshot: model .*cut\.tgz: truncated or damaged tarball/);
  t.same(await snapshot(root), before, 'nothing installed changed');
  t.equal((await runCli(['models', 'install', tgz2, '--root', root, '--replace'])).code, 0);
  t.equal(await notes(root), 'test version 2');
  const rolled = await runCli(['models', 'rollback', NAME, '--root', root]);
  t.equal(rolled.code, 0, rolled.stderr);
  t.match(rolled.stdout, `rolled back ${NAME}`);
  t.equal(await notes(root), 'test version 1');
  const none = await runCli(['models', 'rollback', 'kws-en-gigaspeech-3.3M', '--root', root]);
  t.equal(none.code, 2);
  t.match(none.stderr, /no previous version of kws-en-gigaspeech-3\.3M/);
});

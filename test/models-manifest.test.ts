// Model manifests, verification, install and the degraded registry, on the real shared models.

import t, { type Test } from 'tap';
import { cp, mkdtemp, readdir, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelError, verifyFiles, verifyModelDir, type ModelErrorCode } from '../models/manifest.js';
import { installModel, repoManifest } from '../models/install.js';
import { ModelRegistry } from '../models/registry.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.EARSHOT_SHARED ?? path.resolve(repoRoot, '..', 'shared');
const sharedModels = path.join(shared, 'models');
const NAMES = ['kws-en-gigaspeech-3.3M', 'kws-zh-wenetspeech-3.3M', 'denoise-gtcrn'];

async function rejectsWith(t: Test, p: Promise<unknown>, code: ModelErrorCode, ...mentions: string[]): Promise<void> {
  try {
    await p;
    t.fail(`expected ModelError ${code}`);
  } catch (err) {
    t.ok(err instanceof ModelError, 'is a ModelError');
    const e = err as ModelError;
    t.equal(e.code, code, e.message);
    t.notMatch(e.message, /\n/, 'one line');
    for (const m of mentions) t.match(e.message, m, `message names ${m}`);
  }
}

const box = await mkdtemp(path.join(os.tmpdir(), 'earshot-models-'));
t.teardown(() => rm(box, { recursive: true, force: true }));
const modelsRoot = path.join(box, 'models');

t.test('repo manifests match the shared model files', async (t) => {
  for (const name of NAMES) {
    const m = await repoManifest(name);
    t.equal(m.name, name);
    const v = await verifyFiles(path.join(sharedModels, name), m);
    t.ok(Object.keys(v.paths).length >= 1, `${name} verified`);
  }
  // Cross-check against the shipped SHA256SUMS, so a manifest cannot drift from the provenance record.
  const sums = await readFile(path.join(sharedModels, 'SHA256SUMS'), 'utf8');
  for (const line of sums.trim().split('\n')) {
    const [sha, rel] = line.trim().split(/\s+/);
    const [dir, file] = rel!.split('/');
    const m = await repoManifest(dir!);
    const entry = Object.values(m.files).find((f) => f.path === file);
    t.ok(entry, `${rel} is in the ${dir} manifest`);
    t.equal(entry?.sha256, sha, `${rel} sha256 agrees with SHA256SUMS`);
  }
});

t.test('install copies, writes model.json and verifies', async (t) => {
  for (const name of NAMES) {
    const v = await installModel(path.join(sharedModels, name), modelsRoot);
    t.equal(v.dir, path.join(modelsRoot, name));
    t.ok(existsSync(path.join(v.dir, 'model.json')));
  }
  const zh = await verifyModelDir(path.join(modelsRoot, 'kws-zh-wenetspeech-3.3M'));
  t.same([...zh.kinds].sort(), ['keyword-spotter', 'recognizer']);
  t.same((await readdir(modelsRoot)).sort(), [...NAMES].sort(), 'no temporary directories left behind');
  await rejectsWith(t, installModel(path.join(sharedModels, NAMES[0]!), modelsRoot), 'install-failed', 'already installed');
  const again = await installModel(path.join(sharedModels, NAMES[0]!), modelsRoot, undefined, { replace: true });
  t.equal(again.name, NAMES[0]);
  t.same((await readdir(modelsRoot)).sort(), [...NAMES, '.previous'].sort(), 'replace leaves nothing behind but the version it replaced, kept for rollback');
});

async function copyOf(name: string, label: string): Promise<string> {
  const dir = path.join(box, label, name);
  await cp(path.join(modelsRoot, name), dir, { recursive: true });
  return dir;
}

t.test('a changed byte is a sha256 mismatch naming the file', async (t) => {
  const dir = await copyOf('kws-zh-wenetspeech-3.3M', 'corrupt');
  const file = path.join(dir, 'joiner.int8.onnx');
  const buf = await readFile(file);
  buf[buf.length >> 1] = buf[buf.length >> 1]! ^ 0x01;
  await writeFile(file, buf);
  await rejectsWith(t, verifyModelDir(dir), 'sha256-mismatch', dir, 'joiner.int8.onnx', 'sha256 mismatch');
});

t.test('missing and truncated files', async (t) => {
  const missing = await copyOf('kws-en-gigaspeech-3.3M', 'missing');
  await unlink(path.join(missing, 'tokens.txt'));
  await rejectsWith(t, verifyModelDir(missing), 'missing-file', missing, 'tokens.txt', 'missing');
  const short = await copyOf('kws-en-gigaspeech-3.3M', 'short');
  await truncate(path.join(short, 'encoder.int8.onnx'), 1000);
  await rejectsWith(t, verifyModelDir(short), 'size-mismatch', 'encoder.int8.onnx', '1000 bytes');
});

async function editManifest(dir: string, edit: (m: Record<string, unknown>) => void): Promise<void> {
  const file = path.join(dir, 'model.json');
  const m = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  edit(m);
  await writeFile(file, JSON.stringify(m));
}

t.test('manifest errors are clear', async (t) => {
  const rate = await copyOf('kws-zh-wenetspeech-3.3M', 'rate');
  await editManifest(rate, (m) => (m.sampleRate = 8000));
  await rejectsWith(t, verifyModelDir(rate), 'unsupported-sample-rate', '8000 Hz', '16000', rate);

  const noLicence = await copyOf('denoise-gtcrn', 'nolicence');
  await editManifest(noLicence, (m) => delete m.licence);
  await rejectsWith(t, verifyModelDir(noLicence), 'bad-manifest', 'licence');

  const badKind = await copyOf('denoise-gtcrn', 'badkind');
  await editManifest(badKind, (m) => (m.kind = ['denoiser', 'oracle']));
  await rejectsWith(t, verifyModelDir(badKind), 'bad-manifest', '/kind');

  const escape = await copyOf('denoise-gtcrn', 'escape');
  await editManifest(escape, (m) => ((m.files as Record<string, { path: string }>).model!.path = '../../etc/passwd'));
  await rejectsWith(t, verifyModelDir(escape), 'unsafe-path', 'passwd');

  const notJson = await copyOf('denoise-gtcrn', 'notjson');
  await writeFile(path.join(notJson, 'model.json'), '{ "schema": ');
  await rejectsWith(t, verifyModelDir(notJson), 'bad-manifest', 'not JSON');

  await rejectsWith(t, verifyModelDir(path.join(box, 'nowhere')), 'missing-manifest', 'model.json');
});

t.test('install refuses a corrupt source and leaves nothing', async (t) => {
  const src = await copyOf('kws-en-gigaspeech-3.3M', 'badsource');
  await truncate(path.join(src, 'joiner.int8.onnx'), 10);
  const root = path.join(box, 'other-root');
  await rejectsWith(t, installModel(src, root), 'size-mismatch', 'joiner.int8.onnx');
  t.notOk(existsSync(path.join(root, 'kws-en-gigaspeech-3.3M')));
});

t.test('registry keeps the good models and records the bad', async (t) => {
  const dirs = [
    path.join(box, 'corrupt', 'kws-zh-wenetspeech-3.3M'),
    path.join(modelsRoot, 'kws-en-gigaspeech-3.3M'),
    path.join(box, 'nowhere'),
    path.join(modelsRoot, 'kws-zh-wenetspeech-3.3M'),
    path.join(modelsRoot, 'denoise-gtcrn'),
    path.join(modelsRoot, 'kws-en-gigaspeech-3.3M'),
  ];
  const reg = await ModelRegistry.load(dirs);
  t.same(reg.models.map((m) => m.name), ['kws-en-gigaspeech-3.3M', 'kws-zh-wenetspeech-3.3M', 'denoise-gtcrn']);
  t.same(reg.failures.map((f) => f.code), ['sha256-mismatch', 'missing-manifest', 'duplicate-name']);
  t.match(reg.failures[0]!.reason, 'joiner.int8.onnx');
  t.equal(reg.failures[1]!.name, 'nowhere');
  t.equal(reg.recognizerFor('zh-CN')?.name, 'kws-zh-wenetspeech-3.3M');
  t.equal(reg.keywordSpotterFor('en')?.name, 'kws-en-gigaspeech-3.3M');
  t.equal(reg.recognizerFor('fr'), undefined);
  t.equal(reg.find('denoiser')?.name, 'denoise-gtcrn');

  const clean = await ModelRegistry.load([path.join(modelsRoot, 'kws-zh-wenetspeech-3.3M')]);
  t.same(clean.failures, []);
  t.equal(clean.keywordSpotterFor('en'), undefined, 'no English model: keywords for English are simply unavailable');
});

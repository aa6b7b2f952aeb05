/**
 * A model.json that is garbage — hostile bytes, or a real manifest with one field made hostile — is
 * refused with a ModelError naming its directory, on one line, and the models beside it still load.
 * Replay a failure with EARSHOT_FUZZ_SEED=<seed>.
 */
import t from 'tap';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ModelError, verifyModelDir } from '../models/manifest.js';
import { ModelRegistry } from '../models/registry.js';
import { repoRoot } from './support/cli.js';
import { fuzzSeed, hostilePayloads, mutateFields, seeded, toJson } from './support/fuzz.js';

const shared = process.env.EARSHOT_SHARED ?? path.resolve(repoRoot, '..', 'shared');
const goodModel = path.join(shared, 'models', 'denoise-gtcrn');
const CASES = 300;

t.test(`${CASES} hostile manifests: each a one-line ModelError naming its directory; the good model beside them loads`, async (t) => {
  const seed = fuzzSeed(t);
  const valid = JSON.parse(await readFile(path.join(repoRoot, 'models/manifests/kws-zh-wenetspeech-3.3M/model.json'), 'utf8')) as object;
  const cases: { label: string; bytes: Buffer }[] = [];
  for (const m of mutateFields(valid, seed, 3)) {
    if (cases.length >= CASES / 2) break;
    cases.push({ label: m.label, bytes: Buffer.from(toJson(m.value) ?? '') });
  }
  for (const p of hostilePayloads(seed + 1, CASES - cases.length, { valid: [JSON.stringify(valid)] })) cases.push(p);

  const root = t.testdir();
  const dirs: string[] = [];
  for (const [i, c] of cases.entries()) {
    const dir = path.join(root, `m${i}`);
    await mkdir(dir);
    await writeFile(path.join(dir, 'model.json'), c.bytes);
    dirs.push(dir);
    try {
      await verifyModelDir(dir);
      t.fail(seeded(seed, c.label, 'a manifest with no model files beside it verified'));
    } catch (err) {
      if (!(err instanceof ModelError)) {
        t.fail(seeded(seed, c.label, `not a ModelError: ${String(err)}`));
        continue;
      }
      if (err.message.includes('\n') || !err.message.includes(dir)) t.fail(seeded(seed, c.label, `not one line naming ${dir}: ${JSON.stringify(err.message.slice(0, 200))}`));
    }
  }
  t.pass(`${cases.length} manifests refused`);

  if (!existsSync(goodModel)) {
    t.comment(`${goodModel} is missing: the registry half needs ../shared/models`);
    return;
  }
  const reg = await ModelRegistry.load([...dirs.slice(0, 50), goodModel]);
  t.same(reg.models.map((m) => m.name), ['denoise-gtcrn'], 'the good model loads beside fifty bad ones');
  t.equal(reg.failures.length, 50, 'each bad one is listed with its reason');
});

/**
 * Bundles on a running agent (edge/run/live-bundles.ts, docs/bundles.md "When it takes effect"), through the
 * box's BundleStore with the agent's handler: config fragments apply their live sections and report the rest
 * as pending restart; a model manifest installs the staged files through `models install` (checksums from the
 * signed manifest, the old version kept), and a bad one changes nothing; a rule pack that would not load
 * beside the site's is refused and not written.
 */
import t from 'tap';
import { createPrivateKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { generateSigningKey, parsePublicKey } from '../lib/signing.js';
import { BundleRefused, BundleStore, buildBundle, type BundleKind } from '../edge/bundles/bundle.js';
import { changedSettings, overlay, withBundledConfig } from '../edge/bundles/config-fragment.js';
import { liveBundleHandler } from '../edge/run/live-bundles.js';
import { stagedModelDir } from '../edge/bundles/model-bundle.js';
import type { RulesChange } from '../edge/run/line-group.js';
import { repoManifest, PREVIOUS_DIR } from '../models/install.js';
import { resolveConfig } from '../provisioning/config.js';
import { repoRoot } from './support/cli.js';

const shared = process.env.EARSHOT_SHARED ?? path.resolve(repoRoot, '..', 'shared');
const centre = generateSigningKey();
const centreKey = createPrivateKey(centre.privatePem);
const keys = [{ key: parsePublicKey(centre.publicKey, 'centre'), label: 'centre' }];
const me = { site: 'lyon', floor: 'f2', box: 'box-7' };

/** A running agent as the daemon is one, with what it was asked to reload. */
function agent(dir: string, raw: Record<string, unknown> = {}) {
  const fileConfig = resolveConfig({ models: { root: path.join(dir, 'models') }, uplink: { broker: 'mqtt://127.0.0.1:1883', signing: { bundleDir: path.join(dir, 'bundles') } }, ...raw });
  let running = fileConfig;
  const reloads: RulesChange[] = [];
  const handler = liveBundleHandler({
    fileConfig,
    startConfig: fileConfig,
    running: () => running,
    rulesBundle: () => undefined,
    reload: async (change) => void reloads.push(change),
    adopt: (c) => (running = c),
    log: pino({ level: 'silent' }),
  });
  const store = new BundleStore(path.join(dir, 'bundles'), keys, me).open();
  let version = 0;
  const apply = (kind: BundleKind, content: unknown) =>
    store.apply(Buffer.from(buildBundle({ kind, version: ++version, expires: new Date(Date.now() + 86_400_000).toISOString(), target: { sites: ['lyon'] }, content }, centreKey)), Date.now(), handler);
  return { fileConfig, running: () => running, reloads, apply, store };
}

t.test('overlay merges maps key by key and replaces lists', async (t) => {
  t.same(overlay({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, e: 2 }), { a: { b: 1, c: [3] }, d: 1, e: 2 });
});

t.test('a config fragment: rules and privacy apply at once, the broker and a line wait for a restart', async (t) => {
  const dir = t.testdir({});
  const a = agent(dir);
  const { effect } = await a.apply('config', {
    rules: { overrides: { 'dead-air': { params: { silenceSec: 4 } } } },
    privacy: { clearText: [] },
    uplink: { broker: 'mqtt://127.0.0.1:1999' },
    lines: { 'desk-2': { audio: { replay: ['x.wav'] } } },
  });
  t.same(effect.pendingRestart, ['lines.desk-2', 'uplink.broker'], 'what waits for a restart is named');
  t.same(a.running().rules.overrides, { 'dead-air': { params: { silenceSec: 4 } } }, 'the threshold runs now');
  t.equal(a.running().uplink.broker, 'mqtt://127.0.0.1:1883', 'the broker does not change under a running agent');
  t.equal(a.reloads.length, 1, 'the lines were given the new rules');
  t.same(a.reloads[0]!.config.rules.overrides, { 'dead-air': { params: { silenceSec: 4 } } });
  // At the next start the whole fragment is in force.
  const next = withBundledConfig(a.fileConfig);
  t.equal(next.uplink.broker, 'mqtt://127.0.0.1:1999');
  t.same(changedSettings(a.fileConfig, next), ['lines.desk-2', 'rules.overrides', 'uplink.broker']);

  // A newer fragment replaces the older one: the broker goes back to the file's, nothing waits any more.
  const second = await a.apply('config', { rules: { overrides: { 'dead-air': { params: { silenceSec: 6 } } } } });
  t.same(second.effect.pendingRestart, []);
  t.equal(withBundledConfig(a.fileConfig).uplink.broker, 'mqtt://127.0.0.1:1883');
});

t.test('a rule pack that would not load beside the site pack is refused, not written, and nothing reloads', async (t) => {
  const dir = t.testdir({ 'site.yml': 'pack: site\nrules:\n  - id: quiet\n    title: Quiet\n    severity: info\n    detector: dead-air\n' });
  const a = agent(dir, { rules: { packs: [path.join(dir, 'site.yml')] } });
  const err = await a.apply('rules', 'pack: extra\nrules:\n  - id: quiet\n    title: Again\n    severity: info\n    detector: dead-air\n').then(() => null, (e: unknown) => e);
  t.ok(err instanceof BundleRefused && err.reason === 'load-failed', 'refused load-failed');
  t.match((err as Error).message, /^rules bundle v1 not applied, what ran before stays in force: .*rule id already defined by pack "site"/);
  t.same(a.store.inForce, {}, 'no version recorded');
  t.notOk(existsSync(path.join(dir, 'bundles', 'rules.yml')), 'no pack written');
  t.equal(a.reloads.length, 0);
  await a.apply('rules', 'pack: extra\nrules:\n  - id: quiet-too\n    title: Again\n    severity: info\n    detector: dead-air\n');
  t.same(a.reloads.map((r) => r.rulesBundle), [2], 'a good one is put in force with its version');
});

t.test('a model manifest installs the staged files by its checksums, keeps the old version, and refuses a bad file', async (t) => {
  const dir = t.testdir({});
  const a = agent(dir);
  const manifest = await repoManifest('denoise-gtcrn');
  const staged = stagedModelDir(a.running(), manifest.name);
  await mkdir(staged, { recursive: true });
  for (const f of Object.values(manifest.files)) await copyFile(path.join(shared, 'models', 'denoise-gtcrn', f.path), path.join(staged, f.path));
  await a.apply('model-manifest', { ...manifest, notes: 'v1' });
  const installed = path.join(dir, 'models', manifest.name);
  t.match(JSON.parse(await readFile(path.join(installed, 'model.json'), 'utf8')), { notes: 'v1' }, 'installed under the models root');
  t.same(a.reloads.map((r) => r.models), [true], 'the speech models reload for the next call');

  await a.apply('model-manifest', { ...manifest, notes: 'v2' });
  t.match(JSON.parse(await readFile(path.join(dir, 'models', PREVIOUS_DIR, manifest.name, 'model.json'), 'utf8')), { notes: 'v1' }, 'the replaced version kept for rollback');

  const file = Object.values(manifest.files)[0]!;
  await writeFile(path.join(staged, file.path), 'not the model');
  const err = await a.apply('model-manifest', { ...manifest, notes: 'v3' }).then(() => null, (e: unknown) => e);
  t.ok(err instanceof BundleRefused && err.reason === 'load-failed', `refused: ${(err as Error).message}`);
  t.match((err as Error).message, file.path, 'naming the file');
  t.match(JSON.parse(await readFile(path.join(installed, 'model.json'), 'utf8')), { notes: 'v2' }, 'v2 still installed');
  t.equal(a.store.inForce['model-manifest'], 2, 'and in force');
});

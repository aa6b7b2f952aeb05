/**
 * `earshot bundle` end to end, as an operator runs it: the centre builds and signs a rule pack bundle, the box
 * applies it from a file, and a second apply of the same file is refused with one line and exit 2.
 * (The refusals themselves are test/bundles.test.ts; each spawned earshot costs seconds, so three here.)
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSigningKey, writePrivateKey } from '../lib/signing.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const earshot = (args: string[]) => spawnSync(process.execPath, ['--import=tsx', join(repoRoot, 'edge/cli.ts'), ...args], { cwd: repoRoot, encoding: 'utf8' });

t.test('build with the centre key, apply on the box, and a replay refused', async (t) => {
  const dir = t.testdir();
  const centre = generateSigningKey();
  writePrivateKey(join(dir, 'centre.key'), centre.privatePem);
  writeFileSync(join(dir, 'pack.yml'), 'pack: site-extra\nrules:\n  - id: flux-phrase\n    title: flux\n    severity: warning\n    channel: agent\n    phrases:\n      en: ["flux capacitor"]\n');
  writeFileSync(join(dir, 'box.yml'), `uplink:\n  site: lyon\n  floor: f2\n  box: box-7\n  signing:\n    bundleDir: ${join(dir, 'bundles')}\n    bundleKeys:\n      - key: ${centre.publicKey}\n`);
  const bundle = join(dir, 'v1.json');
  const built = earshot(['bundle', 'build', '--kind', 'rules', '--content', join(dir, 'pack.yml'), '--bundle-version', '1', '--expires', '30d', '--floor', 'f2', '--key', join(dir, 'centre.key'), '-o', bundle]);
  t.equal(built.status, 0, built.stderr);
  t.match(JSON.parse(readFileSync(bundle, 'utf8')), { schema: 'earshot/bundle@1', kind: 'rules', version: 1, target: { floors: ['f2'] }, sig: /==$/ });
  const applied = earshot(['bundle', 'apply', bundle, '-c', join(dir, 'box.yml')]);
  t.equal(applied.status, 0, applied.stderr);
  t.match(readFileSync(join(dir, 'bundles/rules.yml'), 'utf8'), /flux capacitor/, 'the pack is on the box');
  const again = earshot(['bundle', 'apply', bundle, '-c', join(dir, 'box.yml')]);
  t.equal(again.status, 2);
  t.equal(again.stderr, 'earshot: rules bundle v1 is already in force (a replay)\n');
});

/**
 * Enrolling a box's signing key as an operator does it (the real entry point): `earshot keys generate` on the
 * box, its public line to `earshot central box add … --public-key` at the centre; and the refusals, each one
 * line with exit status 2 and nothing changed.
 */
import t from 'tap';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from './support/cli.js';
import { openStore } from '../central/store/store.js';
import type { SqlStore } from '../central/store/sql-store.js';
import { listAudit } from '../central/audit.js';

t.test('generate, print, enrol; a loose key file, an existing file and a garbled public key are refused', async (t) => {
  const dir = t.testdir();
  const keyFile = join(dir, 'box.key');
  const db = join(dir, 'centre.sqlite');

  const made = await runCli(['keys', 'generate', keyFile]);
  t.equal(made.code, 0, made.stderr);
  const publicLine = made.stdout.trim();
  t.match(publicLine, /^[A-Za-z0-9+/]+=*$/, 'one line of base64 on stdout');
  t.equal(statSync(keyFile).mode & 0o777, 0o600);
  const printed = await runCli(['keys', 'public', keyFile]);
  t.equal(printed.stdout.trim(), publicLine, 'keys public prints the same line again');

  const before = readFileSync(keyFile, 'utf8');
  const again = await runCli(['keys', 'generate', keyFile]);
  t.equal(again.code, 2);
  t.equal(again.stderr, `earshot: ${keyFile}: already exists; not replaced (remove it first if a new key is meant)\n`);
  t.equal(readFileSync(keyFile, 'utf8'), before, 'the key in use is untouched');

  chmodSync(keyFile, 0o640);
  const loose = await runCli(['keys', 'public', keyFile]);
  t.equal(loose.code, 2);
  t.equal(loose.stderr, `earshot: ${keyFile}: signing key has mode 0640, readable or writable by others: chmod 600 ${keyFile}\n`);

  const added = await runCli(['central', 'box', 'add', 'floor-3', 'box-7', '--public-key', publicLine, '--db', db]);
  t.equal(added.code, 0, added.stderr);
  t.match(added.stderr, /box box-7 registered at site floor-3 with its signing key/);
  const garbled = await runCli(['central', 'box', 'add', 'floor-3', 'box-7', '--public-key', 'bm90IGEga2V5', '--db', db]);
  t.equal(garbled.code, 2);
  t.match(garbled.stderr, /^earshot: public key: not a public key/);

  const store = (await openStore(db)) as SqlStore;
  t.teardown(() => store.close());
  t.same(await store.boxKeys(['box-7', 'other']), new Map([['box-7', { site: 'floor-3', publicKey: publicLine }]]), 'the registered key is the one generated; the garbled one changed nothing');
  t.same((await listAudit(store.db, { action: 'box.key' })).map((e) => e.detail), [{ site: 'floor-3', box: 'box-7', publicKey: publicLine, via: 'cli' }], 'the key is audited');
  const listed = await runCli(['central', 'box', 'list', '--db', db]);
  t.match(listed.stdout, /box-7 +registered \S+ +signing key/);
});

t.test('a command is only sent signed: without the centre key, one line and nothing published', async (t) => {
  const r = await runCli(['central', 'command', 'floor-3', 'box-7', 'stats', '--broker', 'mqtt://127.0.0.1:9']);
  t.equal(r.code, 2);
  t.equal(r.stderr, "earshot: a command is signed with the centre's key: --signing-key <file> or ingest.signing.key\n");
});

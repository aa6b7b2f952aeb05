/**
 * Retention and erasure on the box (edge/retention.ts), through the real `earshot forget` and `earshot prune`:
 * a forgotten call's outbox records and index files are gone from the disk (its words are nowhere in the
 * outbox's files afterwards, not only unreadable through SQL), other calls stay; prune deletes index files
 * older than the age given and leaves newer ones.
 */
import t from 'tap';
import { mkdirSync, readFileSync, readdirSync, existsSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Outbox } from '../edge/outbox/outbox.js';
import { runCli } from './support/cli.js';
import { tempDir } from './support/temp.js';

const index = (callId: string, words: string) => ({ callId, durationSec: 30, utterances: [{ channel: 'customer', start: 0, end: 2, text: words }] });

/** Every byte SQLite keeps for the outbox (the file and its WAL), as text. */
const outboxBytes = (path: string) => [path, `${path}-wal`].filter(existsSync).map((p) => readFileSync(p).toString('latin1')).join('');

t.test('earshot forget removes one call from the outbox and the index files, and says what it removed', async (t) => {
  const dir = tempDir('forget');
  const outboxPath = join(dir, 'outbox.sqlite');
  const indexDir = join(dir, 'calls');
  const o = new Outbox(outboxPath);
  o.appendMany([
    { kind: 'index', payload: index('call-a', 'please cancel the zebraplan subscription') },
    { kind: 'alert', payload: { callId: 'call-a', id: 'escalation-1', rule: 'escalation', evidence: 'zebraplan subscription' } },
    { kind: 'index', payload: index('call-b', 'I would like the walrusplan upgrade') },
  ]);
  o.close();
  t.match(outboxBytes(outboxPath), /zebraplan/, 'the call is on disk before');
  writeFileSync(join(dir, 'unrelated.json'), '{"note": "not an index"}');
  mkdirSync(indexDir);
  writeFileSync(join(indexDir, 'a.json'), JSON.stringify(index('call-a', 'zebraplan')));
  writeFileSync(join(indexDir, 'b.json'), JSON.stringify(index('call-b', 'walrusplan')));
  writeFileSync(join(indexDir, 'notes.json'), '{"callId": 7}');

  const r = await runCli(['forget', 'call-a', '--outbox', outboxPath, '--index-dir', indexDir]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /2 outbox record\(s\) removed/, 'it counts the outbox records');
  t.match(r.stdout, /index file removed: .*a\.json/, 'it names the index file');
  t.match(r.stdout, /outbox vacuumed/);
  t.same(readdirSync(indexDir).sort(), ['b.json', 'notes.json'], "only call-a's index file is deleted");
  const bytes = outboxBytes(outboxPath);
  t.notMatch(bytes, /zebraplan/, "the forgotten call's words are nowhere in the outbox's files");
  t.match(bytes, /walrusplan/, 'the other call is kept');
  const after = new Outbox(outboxPath);
  t.teardown(() => after.close());
  t.same(after.nextBatch(10).map((x) => JSON.parse(x.payload).callId), ['call-b'], 'the outbox still sends the other call');
  t.equal(after.depth(), 1);

  const again = await runCli(['forget', 'call-a', '--outbox', outboxPath, '--index-dir', indexDir]);
  t.match(again.stdout, /0 outbox record\(s\) removed[\s\S]*no index file of call-a/, 'forgetting again says nothing was left');
  const bad = await runCli(['forget', 'call-a', '--outbox', outboxPath, '--index-dir', join(dir, 'nope')]);
  t.not(bad.code, 0);
  t.match(bad.stderr, /index directory .*nope: no such directory/, 'a wrong directory is named');
});

t.test('earshot prune deletes index files older than the age given and keeps newer ones', async (t) => {
  const dir = tempDir('prune');
  const old = join(dir, 'old.json');
  const recent = join(dir, 'recent.json');
  writeFileSync(old, JSON.stringify(index('call-old', 'x')));
  writeFileSync(recent, JSON.stringify(index('call-new', 'y')));
  const fortyDaysAgo = (Date.now() - 40 * 86_400_000) / 1000;
  utimesSync(old, fortyDaysAgo, fortyDaysAgo);
  const r = await runCli(['prune', '--older-than', '30', '--index-dir', dir, '--outbox', join(dir, 'no-outbox.sqlite')]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /1 index file\(s\) older than 30 days removed/);
  t.same(readdirSync(dir), ['recent.json'], 'the 40-day-old file is gone, the new one kept');
  const bad = await runCli(['prune', '--older-than', '0', '--index-dir', dir]);
  t.not(bad.code, 0, 'an age of 0 is refused');
});

t.test('prune and forget take the index directories and the age from config; the command line overrides both', async (t) => {
  const dir = tempDir('prune-config');
  const kept = join(dir, 'calls');
  const other = join(dir, 'other');
  mkdirSync(kept);
  mkdirSync(other);
  const aged = (file: string, days: number, callId: string) => {
    writeFileSync(file, JSON.stringify(index(callId, 'x')));
    const at = (Date.now() - days * 86_400_000) / 1000;
    utimesSync(file, at, at);
  };
  aged(join(kept, 'ten-days.json'), 10, 'call-10');
  aged(join(kept, 'three-days.json'), 3, 'call-3');
  aged(join(other, 'ten-days.json'), 10, 'call-other');
  const config = join(dir, 'earshot.yml');
  writeFileSync(config, `outbox:\n  path: ${join(dir, 'outbox.sqlite')}\nprivacy:\n  indexDirs: [${kept}]\n  indexFileDays: 7\n`);

  const r = await runCli(['prune', '-c', config]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /1 index file\(s\) older than 7 days removed/, "the config's age");
  t.same(readdirSync(kept), ['three-days.json'], "in the config's directory, only the file past its age is gone");
  t.same(readdirSync(other), ['ten-days.json'], 'a directory the config does not name is left alone');

  const cli = await runCli(['prune', '-c', config, '--older-than', '2', '--index-dir', other]);
  t.equal(cli.code, 0, cli.stderr);
  t.match(cli.stdout, /1 index file\(s\) older than 2 days removed/, '--older-than wins over the config');
  t.same(readdirSync(other), [], '--index-dir wins over the config');
  t.same(readdirSync(kept), ['three-days.json'], "and the config's directory is then not touched");

  const forgot = await runCli(['forget', 'call-3', '-c', config]);
  t.equal(forgot.code, 0, forgot.stderr);
  t.match(forgot.stdout, /index file removed: .*three-days\.json/, "forget looks in the config's directories");

  writeFileSync(config, 'privacy:\n  indexFileDays: 0\n');
  const bad = await runCli(['prune', '-c', config]);
  t.not(bad.code, 0, 'an age of 0 in config is refused');
  t.match(bad.stderr, /indexFileDays/, 'naming the setting');
});

t.test("the running agent's full outbox takes records again once earshot forget has made room", async (t) => {
  const dir = tempDir('forget-full');
  const outboxPath = join(dir, 'outbox.sqlite');
  const agent = new Outbox(outboxPath, { quotaBytes: 400 });
  t.teardown(() => agent.close());
  agent.append('index', index('call-a', 'a'.repeat(250)));
  t.throws(() => agent.append('index', index('call-b', 'b'.repeat(250))), { name: 'OutboxFullError' }, 'full');
  const r = await runCli(['forget', 'call-a', '--outbox', outboxPath]);
  t.match(r.stdout, /1 outbox record\(s\) removed/);
  t.doesNotThrow(() => agent.append('index', index('call-b', 'b'.repeat(250))), 'the agent counts again before refusing');
  t.same(agent.nextBatch(10).map((x) => JSON.parse(x.payload).callId), ['call-b']);
});

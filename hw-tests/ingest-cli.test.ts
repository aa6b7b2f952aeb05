/**
 * `earshot ingest` as the CLI runs it: two processes in one shared-subscription group split a box's records,
 * together hold each exactly once. Alongside: nothing sensitive in any published byte (a subscriber on `#`),
 * the Last Will says offline when the agent dies, and bad arguments exit 2.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Broker } from '../test/support/mosquitto.js';
import { memoryLog, sleep, tempDir, waitFor, watch } from '../test/support/uplink.js';
import { repoRoot, runCli, startCli } from '../test/support/cli.js';
import { startUplink } from '../edge/uplink/start-uplink.js';
import { syntheticRecord } from '../edge/uplink/agent-harness.js';
import { resolveConfig } from '../provisioning/config.js';

const SECRETS = ['4111 1111 1111 1111', '4111111111111111', '482913', 'hunter2', '八三九二七一', '一二三四五六', '110101199003074578', '6222 0212 3456 7890 128'];
const SENSITIVE_TEXT = [
  'my card number is 4111 1111 1111 1111 and the cvv is 123',
  'card 4111111111111111, the verification code is 482913, password is hunter2',
  '验证码是八三九二七一，密码是一二三四五六',
  '身份证号 110101199003074578，卡号 6222 0212 3456 7890 128',
];

t.test('earshot ingest: two processes in a group share the load, each record held once; nothing sensitive published', async (t) => {
  const dir = tempDir('ingestcli');
  const broker = await Broker.start();
  t.teardown(() => broker.dispose());
  const everything = await watch(broker.url, '#');
  t.teardown(() => everything.close());
  const ingests = ['i1', 'i2'].map((id) => startCli(['ingest', '--broker', broker.url, '--db', join(dir, `${id}.sqlite`), '--group', 'g', '--client-id', id]));
  t.teardown(() => ingests.forEach((i) => i.child.kill('SIGKILL')));
  await waitFor('both ingests to start', () => ingests.every((i) => i.err().includes('earshot ingest:')), 20_000);
  await sleep(1000);

  const { log } = memoryLog('warn');
  const config = resolveConfig({ outbox: { path: join(dir, 'outbox.sqlite') }, uplink: { broker: broker.url, site: 'test', box: 'box-c', ackTimeoutSec: 2 } });
  const { uplink, outbox } = startUplink(config, { log });
  t.teardown(async () => {
    await uplink.stop();
    outbox.close();
  });
  for (const text of SENSITIVE_TEXT) uplink.submit('alert', { rule: 'card-data', evidence: text, utterances: [{ channel: 'customer', text }] });
  const N = 2000;
  for (let i = 0; i < N; i++) {
    const r = syntheticRecord(i, 'cli');
    uplink.submit(r.kind, r.payload);
  }
  const total = N + SENSITIVE_TEXT.length;
  await waitFor('the outbox to drain', () => outbox.depth() === 0, 60_000, 50);
  await uplink.publishStats();
  await sleep(300);
  for (const i of ingests) i.child.kill('SIGTERM');
  const codes = await Promise.all(ingests.map((i) => i.exit));
  t.same(codes, [0, 0], 'ingest stops cleanly on SIGTERM');

  const per = ['i1', 'i2'].map((id) => {
    const db = new Database(join(dir, `${id}.sqlite`), { readonly: true });
    const seqs = (db.prepare("SELECT seq FROM records WHERE box = 'box-c'").all() as { seq: number }[]).map((r) => r.seq);
    db.close();
    return seqs;
  });
  t.comment(`split: ${per[0].length} + ${per[1].length}`);
  t.ok(per[0].length > 0 && per[1].length > 0, 'both group members received records');
  const all = [...per[0], ...per[1]];
  t.equal(new Set(all).size, total, `together they hold all ${total} records`);
  t.equal(all.length, total, 'and none twice');

  const published = Buffer.concat(everything.messages.map((m) => Buffer.concat([Buffer.from(m.topic), m.payload]))).toString('utf8');
  t.ok(everything.messages.length >= total, `watched ${everything.messages.length} messages on #`);
  t.match(published, /card number is \*\*\*\* \*\*\*\* \*\*\*\* 1111/, 'the alerts went out, masked to the shape of a card, keeping only its last four digits');
  for (const s of SECRETS) t.notOk(published.includes(s), `never published: ${s}`);
  t.ok(everything.messages.some((m) => m.topic === 'earshot/test/box-c/stats'), 'stats were published');
});

t.test('the Last Will says offline when the agent is killed', async (t) => {
  const dir = tempDir('lwt');
  const broker = await Broker.start();
  t.teardown(() => broker.dispose());
  const seen = await watch(broker.url, 'earshot/test/lw/availability');
  t.teardown(() => seen.close());
  const agent = spawn(process.execPath, ['--import=tsx', join(repoRoot, 'edge/uplink/agent-harness.ts'), '--broker', broker.url, '--outbox', join(dir, 'o.sqlite'), '--box', 'lw', '--count', '100000', '--rate', '50'], { stdio: 'ignore' });
  await waitFor('online', () => seen.messages.some((m) => m.payload.toString() === 'online'), 20_000);
  agent.kill('SIGKILL');
  await waitFor('offline (Last Will)', () => seen.messages.at(-1)?.payload.toString() === 'offline', 10_000);
  t.pass('online, then offline after SIGKILL');
  const late = await watch(broker.url, 'earshot/test/lw/availability');
  await waitFor('retained', () => late.messages.length > 0, 5000);
  t.match(late.messages[0], { retain: true }, 'availability is retained for late subscribers');
  t.equal(late.messages[0].payload.toString(), 'offline');
  await late.close();
});

t.test('earshot ingest refuses bad arguments with exit 2', async (t) => {
  const r = await runCli(['ingest', '--broker', 'localhost:1883']);
  t.equal(r.code, 2);
  t.match(r.stderr, /^earshot: --broker: not an MQTT URL: localhost:1883/m);
  const g = await runCli(['ingest', '--group', 'a/b']);
  t.equal(g.code, 2);
  t.match(g.stderr, /earshot: --group: may not contain/);
});

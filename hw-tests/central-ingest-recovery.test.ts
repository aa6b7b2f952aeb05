/**
 * An ingest process that dies inside its shared-subscription group (SIGKILL of a child `earshot ingest`:
 * its socket is gone, no DISCONNECT sent) while a box publishes: how long until every record is stored in
 * PostgreSQL, (1) when it never comes back and its persistent session stays (the default week of session
 * expiry), (2) when it is restarted with the same client id, (3) when its session expires after 5 s. Every
 * case must end with each record stored once; the times go to docs/central.md.
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { Broker } from '../test/support/mosquitto.js';
import { Postgres, postgresMissing } from '../test/support/postgres.js';
import { memoryLog, sleep, tempDir, waitFor } from '../test/support/uplink.js';
import { startCli } from '../test/support/cli.js';
import { runHarness } from '../edge/uplink/agent-harness.js';
import { openStore, type Store } from '../central/store/store.js';

const missing = postgresMissing();
if (missing) t.plan(0, missing);

/** the box's ack timeout here; production's default is 30 s, and recovery without the lost member scales with it */
const ACK_TIMEOUT_SEC = 3;
const N = 600;
const RATE = 100;

let pg: Postgres;
let broker: Broker;
t.before(async () => {
  if (missing) return;
  pg = await Postgres.start();
  broker = await Broker.start();
});
t.teardown(async () => {
  await broker?.dispose();
  await pg?.dispose();
});

interface Case {
  name: string;
  /** --session-expiry of the ingest processes (default: the config's week) */
  sessionExpirySec?: number;
  /** restart the killed process with the same client id this long after the kill */
  restartAfterMs?: number;
  /** give up waiting without a restart after this long, then restart it to recover (case 1) */
  patienceMs?: number;
}

async function killOne(t: Test, c: Case): Promise<{ recoveredMs: number; restarted: boolean }> {
  const url = await pg.createDatabase(c.name.replace(/-/g, '_'));
  const dir = tempDir(`recover-${c.name}`);
  const store: Store = await openStore(url);
  t.teardown(() => store.close());
  const args = (id: string) => ['--broker', broker.url, '--db', url, '--group', c.name, '--client-id', id, ...(c.sessionExpirySec === undefined ? [] : ['--session-expiry', String(c.sessionExpirySec)])];
  const start = async (id: string) => {
    const p = startCli(['ingest', ...args(id)], { env: { EARSHOT_LOG_LEVEL: 'warn' } });
    t.teardown(() => void p.child.kill('SIGKILL'));
    await waitFor(`${id} to start`, () => p.err().includes('earshot ingest:'), 30_000);
    return p;
  };
  const [, doomed] = [await start(`${c.name}-1`), await start(`${c.name}-2`)];
  await sleep(1000); // their SUBACKs

  const box = `box-${c.name}`;
  const run = runHarness({ broker: broker.url, outbox: join(dir, 'box.sqlite'), box, count: N, rate: RATE, ackTimeoutSec: ACK_TIMEOUT_SEC, log: memoryLog('warn').log });
  await waitFor('a third of the records stored', async () => (await store.countRecords(box)) >= N / 3, 30_000, 20);
  doomed.child.kill('SIGKILL');
  await doomed.exit;
  const killedAt = Date.now();
  let restarted = false;
  const restart = async () => {
    restarted = true;
    await start(`${c.name}-2`);
  };
  if (c.restartAfterMs !== undefined) {
    await sleep(c.restartAfterMs);
    await restart();
  }
  const { uplink, outbox } = await run;
  t.teardown(async () => {
    await uplink.stop();
    outbox.close();
  });
  const all = async () => (await store.countRecords(box)) >= N && outbox.depth() === 0;
  if (c.patienceMs !== undefined) {
    try {
      await waitFor('every record without the lost member', all, c.patienceMs, 100);
    } catch {
      t.comment(`${c.name}: not every record stored ${c.patienceMs} ms after the kill (${await store.countRecords(box)} of ${N}, ${outbox.depth()} in the outbox, ${uplink.counters.resends} resends): restarting the lost member with its client id`);
      await restart();
    }
  }
  await waitFor('every record stored', all, 60_000, 100);
  const recoveredMs = Date.now() - killedAt;
  const seqs = await store.seqsFor(box);
  t.equal(seqs.length, N, `${c.name}: ${N} records, none twice`);
  t.same([...seqs].sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i + 1), `${c.name}: exactly 1..${N}`);
  t.comment(`${c.name}: every record stored ${recoveredMs} ms after the kill (production ended ${Math.round((N * 2) / 3 / RATE * 1000)} ms after it at the earliest; ack timeout ${ACK_TIMEOUT_SEC} s; ${uplink.counters.resends} resends${restarted ? '; the lost member was restarted' : ''})`);
  return { recoveredMs, restarted };
}

t.test('a lost member with its persistent session: its share waits until it is back', async (t) => {
  const r = await killOne(t, { name: 'persistent', patienceMs: 40_000 });
  t.ok(r.recoveredMs > ACK_TIMEOUT_SEC * 1000, 'recovery took longer than one ack timeout');
});

t.test('a lost member restarted with the same client id: its session is delivered', async (t) => {
  const r = await killOne(t, { name: 'restarted', restartAfterMs: 2000 });
  t.ok(r.recoveredMs < 20_000, `recovered ${r.recoveredMs} ms after the kill`);
});

t.test('a lost member whose session expires after 5 s: the group goes on without it', async (t) => {
  const r = await killOne(t, { name: 'expiring', sessionExpirySec: 5, patienceMs: 40_000 });
  t.notOk(r.restarted, 'recovered without a restart');
  t.ok(r.recoveredMs < 25_000, `recovered ${r.recoveredMs} ms after the kill`);
});

/**
 * SerialCallState on an emulated RS-232 line: a socat pty pair, the test writing as the PBX (or the hook
 * switch) on one end and the source reading the other. Covers records routed by extension in order, noise
 * skipped without losing what follows, and the line vanishing and coming back (socat killed and restarted).
 */
import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PtyPair } from './helpers/pty.js';
import { HookSwitchParser, PbxRecordParser, type CallStateEvent } from '../device/call-state.js';
import { SerialCallState } from '../device/serial-call-state.js';
import { log } from '../lib/log.js';
import { fuzzSeed, hostilePayloads, seeded } from '../test/support/fuzz.js';
import { tempDir } from '../test/support/temp.js';

async function waitFor(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

function record(source: SerialCallState) {
  const calls: CallStateEvent[] = [];
  const garbage: { line: string; reason: string }[] = [];
  const status: { state: string; reason?: string }[] = [];
  source.on('call', (e) => calls.push(e));
  source.on('garbage', (g) => garbage.push(g));
  source.on('status', (s) => status.push(s));
  return { calls, garbage, status };
}

const rec = (time: string, event: string, ext: string, rest = '') => `2026-11-25 ${time} ${event} ext=${ext}${rest}\r\n`;

t.test('PBX records: starts and ends for the right extensions, in order; noise counted and skipped', async (t) => {
  const pair = await PtyPair.start();
  t.teardown(() => pair.kill());
  const source = new SerialCallState({ path: pair.box, baudRate: 9600, parser: new PbxRecordParser() });
  t.teardown(() => source.stop());
  const seen = record(source);
  source.start();
  await waitFor('the port open', () => source.state === 'open');

  pair.write(rec('14:03:20', 'RING', '1001'));
  pair.write(rec('14:03:22', 'START', '1001', ' agent=A17 caller=13800138000 ref=8812'));
  pair.write(rec('14:03:40', 'START', '1002', ' agent=B02 ref=8813'));
  const noise = Buffer.from(Array.from({ length: 200 }, () => Math.floor(Math.random() * 256)).filter((b) => b !== 0x0a && b !== 0x0d));
  // Ending on a UTF-8 lead byte: the next record must not inherit it.
  pair.write(Buffer.concat([Buffer.from([0xff, 0x00]), noise, Buffer.from([0xe6, 0x0a])]));
  pair.write(rec('14:05:00', 'END', '1001', ' agent=A17 caller=13800138000 ref=8812'));
  // An overlong line arriving slowly (many reads, 20 KB without a newline), then one in a single write.
  for (let i = 0; i < 10; i++) {
    pair.write('Z'.repeat(2048));
    await sleep(5);
  }
  pair.write('\n');
  pair.write(`${'Y'.repeat(3000)}\n`);
  pair.write('2026-11-25 14:06:00 STA\n'); // half a record
  pair.write(rec('14:07:00', 'START', '1003').replace('\r\n', '\n')); // a bare \n ending
  pair.write(rec('14:09:10', 'END', '1002', ' agent=B02 ref=8813'));

  await waitFor('the last record', () => seen.calls.length >= 5);
  t.same(
    seen.calls.map((c) => `${c.kind} ${c.extension}`),
    ['start 1001', 'start 1002', 'end 1001', 'start 1003', 'end 1002'],
    'each record routed by its extension, in the order written',
  );
  t.match(seen.calls[0], { agentId: 'A17', caller: '13800138000', callRef: '8812', at: new Date(2026, 10, 25, 14, 3, 22).getTime() });
  t.notOk(seen.calls.some((c) => c.raw.includes('\r')), 'no \\r left on a record');
  t.equal(seen.garbage.length, 4, 'random bytes, two overlong lines and a half record');
  t.match(seen.garbage[0].reason, /non-printable/);
  t.match(seen.garbage[1].reason, /longer than 1024 bytes/);
  t.match(seen.garbage[2].reason, /longer than 1024 bytes/);
  t.ok(seen.garbage[1].line.length <= 200 && seen.garbage[2].line.length <= 200, 'an overlong line is handed on as a short preview only');
  t.match(seen.garbage[3].reason, /does not match the record pattern/);
  t.same(source.counters, { records: 5, ignored: 1, garbage: 4, reopened: 0 });
  t.same(seen.status, [{ state: 'open' }]);

  await source.stop();
  t.equal(source.state, 'closed');
  t.same(seen.status.at(-1), { state: 'closed' });
});

t.test('hook switch: one desk per port, repeats debounced', async (t) => {
  const pair = await PtyPair.start();
  t.teardown(() => pair.kill());
  const source = new SerialCallState({ path: pair.box, baudRate: 1200, parser: new HookSwitchParser() });
  t.teardown(() => source.stop());
  const seen = record(source);
  source.start();
  await waitFor('the port open', () => source.state === 'open');

  for (const line of ['OFFHOOK', 'OFFHOOK', 'ONHOOK', '\u0007garble\u0001', 'OFF-HOOK', 'ON HOOK']) {
    pair.write(`${line}\r\n`);
    await sleep(5);
  }
  await waitFor('the second call to end', () => seen.calls.length >= 4);
  t.same(
    seen.calls.map((c) => [c.kind, c.extension]),
    [['start', null], ['end', null], ['start', null], ['end', null]],
  );
  t.same(source.counters, { records: 4, ignored: 1, garbage: 1, reopened: 0 });
  await source.stop();
});

t.test('the line goes away and comes back: fault, then the source reopens by itself', async (t) => {
  const dir = tempDir('pty');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const link = join(dir, 'ttyPBX');
  let pair = await PtyPair.start(link);
  t.teardown(() => pair.kill());
  const source = new SerialCallState({ path: link, baudRate: 9600, parser: new PbxRecordParser(), retry: { minSec: 0.1, maxSec: 0.4 } });
  t.teardown(() => source.stop());
  const seen = record(source);
  source.start();
  await waitFor('the port open', () => source.state === 'open');
  pair.write(rec('14:03:22', 'START', '1001'));
  await waitFor('the first record', () => seen.calls.length === 1);

  await pair.kill('SIGKILL');
  await waitFor('a fault', () => seen.status.some((s) => s.state === 'fault'));
  t.equal(source.state === 'fault' || source.state === 'opening', true, `faulted (${source.state})`);
  t.match(seen.status.find((s) => s.state === 'fault')?.reason ?? '', /disconnected|closed|error|EOF/, 'the reason says the line went');
  // While the line is down, reopen attempts fail and are reported, without giving up.
  await waitFor('a failed reopen', () => seen.status.some((s) => s.state === 'fault' && /cannot open/.test(s.reason ?? '')), 3000);

  pair = await PtyPair.start(link);
  await waitFor('the source to reopen', () => source.state === 'open', 3000);
  t.equal(source.counters.reopened, 1);
  t.same(seen.status.at(-1), { state: 'open' });
  pair.write(rec('14:09:00', 'END', '1001'));
  pair.write(rec('14:09:05', 'START', '1004'));
  await waitFor('records after the reopen', () => seen.calls.length === 3);
  t.same(seen.calls.map((c) => `${c.kind} ${c.extension}`), ['start 1001', 'end 1001', 'start 1004']);

  await source.stop();
  t.equal(source.state, 'closed');
});

t.test('a port that cannot be opened: faults with the reason and retries until stopped, then stays quiet', async (t) => {
  const source = new SerialCallState({
    path: '/dev/earshot-no-such-tty',
    baudRate: 9600,
    parser: new PbxRecordParser(),
    retry: { minSec: 0.05, maxSec: 0.2 },
  });
  const seen = record(source);
  source.start();
  await waitFor('three failed opens', () => seen.status.filter((s) => s.state === 'fault').length >= 3);
  t.match(seen.status[0], { state: 'fault', reason: /cannot open \/dev\/earshot-no-such-tty/ });
  await source.stop();
  const after = seen.status.length;
  await sleep(500);
  t.equal(seen.status.length, after, 'no retry after stop()');
  t.same(seen.status.at(-1), { state: 'closed' });
  t.equal(source.state, 'closed');
});

t.test('seeded garbage on one PBX port: each line logged naming that port and why, its next record still routed, the other port untouched', async (t) => {
  const seed = fuzzSeed(t);
  const pairs = [await PtyPair.start(), await PtyPair.start()];
  t.teardown(() => pairs.forEach((p) => p.kill()));
  const sources = pairs.map((p) => new SerialCallState({ path: p.box, baudRate: 9600, parser: new PbxRecordParser() }));
  t.teardown(() => Promise.all(sources.map((s) => s.stop())));
  const warned = t.capture(log, 'warn');
  const [noisy, quiet] = sources.map((s) => record(s));
  sources.forEach((s) => s.start());
  await waitFor('both ports open', () => sources.every((s) => s.state === 'open'));

  let n = 0;
  for (const p of hostilePayloads(seed, 300, { maxBytes: 2048, valid: [rec('14:00:00', 'START', '2001')] })) {
    pairs[0].write(Buffer.concat([p.bytes, Buffer.from('\n')]));
    // A real line drains at its baud rate; a pty's buffer is 4 KB: let the reader keep up.
    await sleep(2);
    if (++n % 30 === 0) {
      pairs[1].write(rec('14:10:00', n % 60 === 0 ? 'END' : 'START', '3001'));
      await sleep(5);
    }
  }
  pairs[0].write(rec('14:20:00', 'START', '2999'));
  pairs[0].write(rec('14:21:00', 'END', '2999'));
  await waitFor('the record after the garbage', () => noisy.calls.some((c) => c.extension === '2999' && c.kind === 'end'), 10_000);
  await waitFor('the other port', () => quiet.calls.length === 10, 10_000);

  t.same(noisy.calls.filter((c) => c.extension === '2999').map((c) => c.kind), ['start', 'end'], seeded(seed, 'after 300 payloads', 'the next valid record starts and ends its call'));
  t.ok(sources[0].counters.garbage > 100, `garbage counted on the noisy port (${sources[0].counters.garbage})`);
  t.equal(sources[1].counters.garbage, 0, 'none on the other port');
  t.same(quiet.calls.map((c) => c.kind), ['start', 'end', 'start', 'end', 'start', 'end', 'start', 'end', 'start', 'end'], 'the other port routed every record, in order');
  const lines = warned().map((c) => c.args[0] as { path?: string; reason?: string });
  const garbageLines = lines.filter((l) => l.reason !== undefined);
  t.ok(garbageLines.length >= 5, 'garbage is logged');
  t.ok(garbageLines.every((l) => l.path === pairs[0].box && l.reason!.length > 0), 'every garbage line names the noisy port and the problem');
  t.ok(garbageLines.length <= 10, 'at most ten a minute: a port at the wrong baud rate does not flood the log');
});

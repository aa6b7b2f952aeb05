/**
 * Proof on real runs (issue 18, item 5): calls in which card numbers, CVVs, PINs, passwords and one-time
 * codes are read out, in English and Mandarin, clean 16 kHz and 8 kHz mu-law, in the shapes of the
 * redaction corpus (groups, fillers, "then"/然后, "double", answers on the other side, indirect cues), go
 * through the real product: `earshot analyze --out` into the box's index folder (and `--events` on
 * stdout), `earshot run` replaying them on two lines with its outbox and uplink to Debian's mosquitto on
 * 127.0.0.1, and `earshot central` ingesting into its SQLite store. Then everything written is scanned:
 * every file of the box's data directory and index folder, the centre's store (and WAL), mosquitto's
 * persistence file, every process's output, and every message a subscriber on `#` saw. None may hold a
 * secret in any spelling (the scan: helpers/leak-scan.ts); they must hold the calls' ordinary words, so a
 * scan of nothing fails.
 */
import t from 'tap';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { repoRoot, runCliWithin, startCli } from '../test/support/cli.js';
import { CALLS_DIR, renderCallByName } from '../test/support/calls.js';
import { Broker, freePort } from '../test/support/mosquitto.js';
import { tempDir, waitFor, watch } from '../test/support/uplink.js';
import { getJson, RunProcess, writeConfig } from './helpers/run.js';
import { bytesAsText, filesUnder, leaksIn, readable, wordCounts, type Secret } from './helpers/leak-scan.js';

const MODELS = process.env.EARSHOT_MODELS ?? resolve(repoRoot, '..', 'shared', 'models');

/** What each call reads out (test/calls/<call>.yml). */
const SECRETS: Secret[] = [
  { call: 'privacy-en', what: 'card number', digits: '4111111111111111' },
  { call: 'privacy-en', what: 'security code', digits: '731' },
  { call: 'privacy-en', what: 'password', word: 'sunshine' },
  { call: 'privacy-en', what: 'verification code', digits: '284691' },
  { call: 'privacy-zh', what: '银行卡号', digits: '6222021234567890' },
  { call: 'privacy-zh', what: '取款密码', digits: '839271' },
  { call: 'privacy-zh', what: '验证码', digits: '552180' },
  { call: 'privacy-en-shapes', what: 'card number', digits: '5454545454545454' },
  { call: 'privacy-en-shapes', what: 'PIN', digits: '4321' },
  { call: 'privacy-en-shapes', what: 'CVV', digits: '982' },
  { call: 'privacy-en-shapes', what: 'text-message code', digits: '773915' },
  { call: 'privacy-zh-shapes', what: '卡号', digits: '6228480377193567' },
  { call: 'privacy-zh-shapes', what: '动态码', digits: '394827' },
  { call: 'privacy-zh-shapes', what: '密码', digits: '715903' },
];
/** Ordinary words of the same calls, as the recognisers write them (pinyin without tones for Mandarin). */
const ORDINARY = ['security', 'banking', 'refund', 'yin hang'];

t.test('no card number, CVV, PIN, password or code in any file, log or message of the box, the broker or the centre', async (t) => {
  const t0 = Date.now();
  const phases: string[] = [];
  const phase = (name: string) => phases.push(`${name} ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  // The scan itself: it must find every secret in the scripts the calls were spoken from, in their spelling.
  for (const name of new Set(SECRETS.map((s) => s.call))) {
    const script = readFileSync(join(CALLS_DIR, `${name}.yml`), 'utf8');
    const mine = SECRETS.filter((s) => s.call === name);
    t.same(leaksIn(script, mine).map((l) => l.secret.what).sort(), mine.map((s) => s.what).sort(), `the scan finds each secret of ${name} in its script`);
  }
  const calls = await Promise.all([...new Set(SECRETS.map((s) => s.call))].map(async (name) => ({ name, wav: (await renderCallByName(name)).wav as string })));
  phase('calls rendered');

  const broker = await Broker.start();
  t.teardown(() => broker.dispose());
  const wire = await watch(broker.url, '#');
  t.teardown(() => wire.close());

  const root = tempDir('privacy-sinks');
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const boxDir = join(root, 'box');
  const indexDir = join(boxDir, 'calls');
  const centreDir = join(root, 'centre');
  mkdirSync(indexDir, { recursive: true });
  mkdirSync(centreDir);
  const logs: { what: string; text: string }[] = [];

  const centreDb = join(centreDir, 'central.sqlite');
  const central = startCli(['central', '--broker', broker.url, '--db', centreDb, '--listen', '127.0.0.1:0', '--client-id', 'privacy-centre']);
  t.teardown(() => void central.child.kill('SIGKILL'));
  await waitFor('the centre to start', () => /web app on http:\/\/127\.0\.0\.1:\d+/.test(central.out() + central.err()), 90_000, 100);
  phase('centre up');

  const healthPort = await freePort();
  const config = writeConfig(root, {
    models: { root: MODELS },
    outbox: { path: join(boxDir, 'outbox.sqlite') },
    privacy: { indexDirs: [indexDir] },
    uplink: { enabled: true, broker: broker.url, site: 'privacy', box: 'box-1', reconnect: { minSec: 0.1, maxSec: 1, jitter: 0.3 } },
    // Not a real-time test: every word must be recognised, however busy the machine, so nothing is shed; the
    // lines play four times faster than real time (what is checked is where the words go, not when).
    run: { healthPort, shed: { behindSec: 600, maxBacklogSec: 900 } },
    lines: {
      'desk-en': { agent: { id: 'A1', extension: '1001' }, audio: { replay: calls.filter((c) => !c.name.includes('zh')).map((c) => c.wav), gapSec: 2, speed: 4 } },
      'desk-zh': { agent: { id: 'A2', extension: '1002' }, audio: { replay: calls.filter((c) => c.name.includes('zh')).map((c) => c.wav), gapSec: 2, speed: 4 } },
    },
  });

  // An operator analyses the recordings by hand into the box's index folder (two at a time: two cores).
  for (let i = 0; i < calls.length; i += 2) {
    await Promise.all(
      calls.slice(i, i + 2).map(async ({ name, wav }) => {
        // The calls in the corpus's shapes also print the live event stream (each utterance redacted in the
        // context of the ones before it), the others the summary.
        const events = name.endsWith('-shapes') ? ['--events'] : [];
        const r = await runCliWithin(['analyze', wav, '--config', config, '--out', join(indexDir, `${name}.json`), ...events], 300_000);
        t.equal(r.code, 0, `earshot analyze ${name} --out ${events.join(' ')}: ${r.stderr.slice(-500)}`);
        if (events.length) t.match(r.stdout, /"type":"words"/, `${name}: the event stream carries the words`);
        logs.push({ what: `earshot analyze ${name} ${events.join(' ')} (stdout, stderr)`, text: r.stdout + r.stderr });
      }),
    );
  }
  phase('analysed');

  // The box replays them on its lines, publishes through its outbox, and the centre ingests them.
  const run = RunProcess.start(config);
  t.teardown(() => run.kill());
  await run.waitForLog('earshot running', (l) => l.msg === 'earshot running', 120_000);
  const indexes = () => wire.messages.filter((m) => m.topic.endsWith('/index'));
  await waitFor(`${calls.length} call indexes on the wire`, () => indexes().length >= calls.length || run.exited, 600_000, 250);
  t.equal(indexes().length, calls.length, `every replayed call was indexed and published\n${run.exited ? run.tail() : ''}`);
  // The outbox as it is while the box runs: its write-ahead log still holds what was queued and sent.
  const boxWhileRunning = filesUnder(boxDir).filter((f) => !f.path.startsWith(indexDir));
  await waitFor('the centre to acknowledge everything', async () => (await getJson(healthPort, '/health')).body.outboxDepth === 0, 60_000, 250);
  phase('replayed and ingested');
  const stopped = await run.terminate(30_000);
  t.equal(stopped.killed, false, 'earshot run stops on SIGTERM');
  logs.push({ what: 'earshot run (stdout, stderr)', text: run.stdout + run.stderr });
  central.child.kill('SIGTERM');
  await central.exit;
  logs.push({ what: 'earshot central (stdout, stderr)', text: central.out() + central.err() });
  await broker.stop(); // SIGTERM: mosquitto writes its persistence file
  phase('stopped');

  const store = new Database(centreDb, { readonly: true });
  const stored = (store.prepare('SELECT count(*) AS n FROM calls').get() as { n: number }).n;
  store.close();
  t.equal(stored, calls.length, 'the centre stored every call');

  // ------------------------------------------------------------------------------------------ the scan
  const sinks: { sink: string; items: { what: string; text: string; bytes: number }[]; mustHoldWords: boolean }[] = [];
  const fileItems = (dir: string) => filesUnder(dir).map((f) => ({ what: relative(root, f.path) || f.path, text: bytesAsText(f.bytes), bytes: f.bytes.length }));
  const boxFiles = fileItems(boxDir);
  sinks.push({ sink: 'index folder', items: boxFiles.filter((f) => f.what.startsWith(relative(root, indexDir))), mustHoldWords: true });
  sinks.push({ sink: "box's data dir after stopping", items: boxFiles.filter((f) => !f.what.startsWith(relative(root, indexDir))), mustHoldWords: false });
  sinks.push({ sink: "box's data dir while running", items: boxWhileRunning.map((f) => ({ what: relative(root, f.path), text: bytesAsText(f.bytes), bytes: f.bytes.length })), mustHoldWords: false });
  sinks.push({ sink: "centre's store (SQLite, WAL)", items: fileItems(centreDir), mustHoldWords: true });
  sinks.push({ sink: "mosquitto's persistence", items: filesUnder(broker.dir).map((f) => ({ what: f.path, text: bytesAsText(f.bytes), bytes: f.bytes.length })), mustHoldWords: false });
  sinks.push({ sink: 'logs', items: logs.map((l) => ({ ...l, text: readable(l.text), bytes: Buffer.byteLength(l.text) })), mustHoldWords: false });
  sinks.push({ sink: 'MQTT (subscriber on #)', items: wire.messages.map((m, i) => ({ what: `message ${i} on ${m.topic}`, text: `${m.topic}\n${readable(m.payload.toString('utf8'))}`, bytes: m.payload.length })), mustHoldWords: true });

  const summary: string[] = [];
  let found = 0;
  for (const { sink, items, mustHoldWords } of sinks) {
    const words: Record<string, number> = Object.fromEntries(ORDINARY.map((w) => [w, 0]));
    let leaked = 0;
    for (const item of items) {
      const leaks = leaksIn(item.text, SECRETS);
      leaked += leaks.length;
      for (const l of leaks) t.fail(`${sink}: ${item.what} holds the ${l.secret.call} ${l.secret.what} (${l.secret.digits ?? l.secret.word}): ${JSON.stringify(l.found)}`);
      for (const [w, n] of Object.entries(wordCounts(item.text, ORDINARY))) words[w] += n;
    }
    const ordinary = Object.values(words).reduce((a, b) => a + b, 0);
    found += ordinary;
    t.equal(leaked, 0, `${sink}: no secret in ${items.length} item(s)`);
    if (mustHoldWords) t.ok(ordinary > 0, `${sink}: the calls' ordinary words are there (${JSON.stringify(words)}): the scan read what was written`);
    summary.push(`${sink}: ${items.length} item(s), ${items.reduce((a, i) => a + i.bytes, 0)} bytes, ordinary words ${JSON.stringify(words)}`);
  }
  t.ok(found > 0, 'the scan found the ordinary words');
  const masked = indexes().map((m) => `${(JSON.parse(m.payload.toString('utf8')).data as { callId: string }).callId}: ${(m.payload.toString('utf8').match(/\*+/g) ?? []).length}`);
  t.comment(`scanned: ${summary.join('; ')}`);
  t.comment(`masked spans per published index: ${masked.join(', ')}`);
  t.comment(`phases: ${phases.join(', ')}`);
});

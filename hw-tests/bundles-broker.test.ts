/**
 * Issue 16 item 4 through Debian's real mosquitto on loopback: a running agent replaying a call applies a
 * signed rule-pack bundle the centre sends (`earshot central command ... bundle`, its library call) with no
 * restart, on two lines each in a worker thread of its own. Each line's next call raises the new rule's
 * alert and says which pack version judged it; a call in progress when it arrived finishes on the rules it
 * started with; the status reports the version. A pack that would not load beside the site's, a bundle
 * with a bad signature, and one of a lower version, are refused and reported, the version in force stays,
 * and nothing queued in the outbox (no ingest runs, so nothing is acknowledged) is lost.
 */
import t from 'tap';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { createPrivateKey } from 'node:crypto';
import pino from 'pino';
import wavefile from 'wavefile';
import { readWav } from '../device/wav.js';
import { defaultConfig, resolveConfig } from '../provisioning/config.js';
import { Daemon } from '../edge/run/daemon.js';
import { PIPELINE_RATE } from '../edge/analysis/pipeline.js';
import { buildBundle } from '../edge/bundles/bundle.js';
import type { BundleStatus } from '../edge/uplink/uplink.js';
import { sendCommand } from '../central/send-command.js';
import { generateSigningKey, writePrivateKey } from '../lib/signing.js';
import { repoRoot } from '../test/support/cli.js';
import { Broker } from '../test/support/mosquitto.js';
import { memoryLog, waitFor, watch } from '../test/support/uplink.js';

const SITE = 'floor-1';
const BOX = 'box-1';
const CALL_SEC = 6;

/** A pack whose one rule fires on the replayed call, which is cut while the customer speaks. */
const pack = (name: string) =>
  `pack: ${name}\nrules:\n  - id: cut-short\n    title: Call ended on the customer\n    severity: info\n    detector: hurried-hangup\n    params:\n      withinSec: 1\n`;

interface Record_ {
  seq: number;
  kind: string;
  data: { callId: string; rule?: string; line?: { name: string; startedAt: string; endedAt?: string; rulesBundle?: number } };
}

t.test('a rule pack bundle sent by the centre judges the next call on a running agent; bad ones are refused', async (t) => {
  const dir = t.testdir({});
  const wav = await readWav(path.join(repoRoot, 'demo', 'demo-invest-en.wav'), PIPELINE_RATE);
  const out = new wavefile.WaveFile();
  const toInt = (x: Float32Array) => Int16Array.from(x.subarray(0, CALL_SEC * PIPELINE_RATE), (v) => Math.round(Math.max(-1, Math.min(1, v)) * 32767));
  out.fromScratch(2, PIPELINE_RATE, '16', wav.channels.map(toInt));
  const call = path.join(dir, 'call.wav');
  writeFileSync(call, out.toBuffer());

  const centre = generateSigningKey();
  const box = generateSigningKey();
  const stranger = createPrivateKey(generateSigningKey().privatePem);
  const centreKey = createPrivateKey(centre.privatePem);
  writePrivateKey(path.join(dir, 'centre.key'), centre.privatePem);
  writePrivateKey(path.join(dir, 'box.key'), box.privatePem);

  const sitePack = path.join(dir, 'site.yml');
  writeFileSync(sitePack, 'pack: site\nrules:\n  - id: long-quiet\n    title: Quiet for ages\n    severity: info\n    detector: dead-air\n    params:\n      silenceSec: 600\n');

  const broker = await Broker.start();
  t.teardown(() => broker.stop());
  const seen = await watch(broker.url, `earshot/${SITE}/${BOX}/#`);
  t.teardown(() => seen.close());
  const config = resolveConfig({
    // No models: the rule is a signal rule, and a box without recognition still judges calls by it.
    models: { root: path.join(dir, 'no-models') },
    outbox: { path: path.join(dir, 'outbox.sqlite') },
    rules: { builtin: false, packs: [sitePack] },
    uplink: {
      enabled: true,
      broker: broker.url,
      site: SITE,
      box: BOX,
      ackTimeoutSec: 30,
      signing: { key: path.join(dir, 'box.key'), centreKeys: [centre.publicKey], bundleDir: path.join(dir, 'bundles') },
    },
    // Two lines, each in a worker thread of its own: the new pack must reach every one.
    run: { healthPort: 0, workers: 2 },
    lines: {
      'desk-1': { agent: { id: 'A17' }, audio: { replay: [call], loop: true, gapSec: 1 } },
      'desk-2': { agent: { id: 'A18' }, audio: { replay: [call], loop: true, gapSec: 1 } },
    },
  });
  // desk-2 starts half a call later, so whenever the bundle arrives one of the lines is in a call.
  const daemon = await Daemon.start(config, { log: pino({ level: 'silent' }), staggerSec: CALL_SEC / 2 });
  t.teardown(() => daemon.stop(0));

  const records = (): Record_[] =>
    seen.messages.filter((m) => /\/(index|alerts)$/.test(m.topic) && !m.retain).map((m) => JSON.parse(m.payload.toString()) as Record_);
  const statuses = (): BundleStatus[] =>
    seen.messages.filter((m) => m.topic.endsWith('/status')).map((m) => (JSON.parse(m.payload.toString()) as { bundles: BundleStatus }).bundles);
  const ic = { ...defaultConfig().ingest, broker: broker.url, signing: { key: path.join(dir, 'centre.key'), records: 'enrolled' as const } };
  const expires = new Date(Date.now() + 86_400_000).toISOString();
  const rules = (version: number, key = centreKey) => buildBundle({ kind: 'rules', version, expires, target: { sites: [SITE] }, content: pack(`site-v${version}`) }, key);
  const send = async (bundle: string) => {
    const n = statuses().length;
    await sendCommand(ic, SITE, BOX, 'bundle', memoryLog('warn').log, 15_000, { bundle });
    await waitFor('the status after the bundle', () => statuses().length > n, 15_000);
    return statuses()[statuses().length - 1]!;
  };

  await waitFor('two calls indexed on the rules it started with', () => records().filter((r) => r.kind === 'index').length >= 2, 60_000);
  t.notOk(records().some((r) => r.data.rule === 'cut-short'), 'no cut-short alert before the bundle');
  const depthBefore = daemon.healthReport().outboxDepth;

  const sentAt = new Date();
  const applied = await send(rules(2));
  t.match(applied, { inForce: { rules: { version: 2 } } }, 'the status reports rules v2 in force');
  t.notOk(applied.refused, 'nothing refused');

  const newCall = (line: string) => records().find((r) => r.kind === 'alert' && r.data.rule === 'cut-short' && r.data.line?.name === line);
  await waitFor("the new rule's alert on a later call on each line", () => Boolean(newCall('desk-1') && newCall('desk-2')), 60_000);
  t.equal(newCall('desk-2')?.data.line?.rulesBundle, 2, 'the other line (another worker) judges its next call by v2 too');
  const alert = newCall('desk-1')!;
  t.equal(alert.data.line?.rulesBundle, 2, 'the alert says rules bundle v2 judged its call');
  t.ok(Date.parse(alert.data.line!.startedAt) >= sentAt.getTime() - 1000, 'on a call that started after the bundle arrived');
  await waitFor('that call indexed', () => records().some((r) => r.kind === 'index' && r.data.callId === alert.data.callId), 30_000);
  t.equal(records().find((r) => r.kind === 'index' && r.data.callId === alert.data.callId)?.data.line?.rulesBundle, 2, 'its index says so too');
  // A call already running when the bundle came finishes on the rules it started with: no v2, no new alert.
  const before = records().filter((r) => r.kind === 'index' && Date.parse(r.data.line!.startedAt) < sentAt.getTime());
  t.ok(before.length >= 2, 'calls from before the bundle were indexed');
  t.ok(before.every((r) => r.data.line?.rulesBundle === undefined), 'none of them claims v2');
  await waitFor('the call in progress when the bundle came to end', () => records().some((r) => r.kind === 'index' && Date.parse(r.data.line!.startedAt) < sentAt.getTime() && Date.parse(r.data.line!.endedAt!) > sentAt.getTime()), 30_000);
  const inProgress = records().find((r) => r.kind === 'index' && Date.parse(r.data.line!.startedAt) < sentAt.getTime() && Date.parse(r.data.line!.endedAt!) > sentAt.getTime())!;
  t.equal(inProgress.data.line?.rulesBundle, undefined, `the call in progress (${inProgress.data.callId}) finished on the rules it started with`);
  const earlyIds = new Set(records().filter((r) => r.kind === 'index' && Date.parse(r.data.line!.startedAt) < sentAt.getTime()).map((r) => r.data.callId));
  t.notOk(records().some((r) => r.kind === 'alert' && earlyIds.has(r.data.callId) && r.data.rule === 'cut-short'), 'none of them raised the new rule');

  const forged = await send(rules(3, stranger));
  t.match(forged, { inForce: { rules: { version: 2 } }, refused: { reason: 'untrusted', message: /rules bundle v3 is signed by a key this box does not trust/ } }, 'a bundle with a bad signature is refused and reported');
  const older = await send(rules(1));
  t.match(older, { inForce: { rules: { version: 2 } }, refused: { reason: 'stale', message: 'rules bundle v1 is older than v2 in force (versions only go up)' } }, 'a lower version is refused and reported');
  // Valid on its own, but it reuses a rule id of the site's pack: it would not load beside it.
  const clash = await send(buildBundle({ kind: 'rules', version: 4, expires, target: { boxes: [BOX] }, content: pack('site-v4').replace('cut-short', 'long-quiet') }, centreKey));
  t.match(clash, { inForce: { rules: { version: 2 } }, refused: { reason: 'load-failed', message: /^rules bundle v4 not applied, v2 stays in force: .*long-quiet/ } }, 'a pack that fails to load leaves v2 in force, and the status says why');
  await waitFor('another call after the refusals', () => records().filter((r) => r.kind === 'alert' && r.data.rule === 'cut-short').length >= 2, 60_000);
  t.equal(records().filter((r) => r.kind === 'alert' && r.data.rule === 'cut-short').at(-1)?.data.line?.rulesBundle, 2, 'calls go on being judged by v2');

  // No ingest runs, so no record was acknowledged: every one the box accepted is still queued.
  const published = new Set(records().map((r) => r.seq));
  const depth = daemon.healthReport().outboxDepth;
  t.ok(depth >= depthBefore, `the outbox only grew (${depthBefore} -> ${depth})`);
  t.same([...published].sort((a, b) => a - b), Array.from({ length: published.size }, (_, i) => i + 1), 'seqs 1..n published without a gap');
  t.ok(depth >= published.size, `every record published is still in the outbox (${depth} >= ${published.size})`);
});

/**
 * The box's live floor state on a real mosquitto: a replayed call's line is in a call with its seconds
 * growing, then idle after the hang-up; every message passes the receivers' schema, is QoS 0 with an MQTT 5
 * expiry, and carries no words.
 */
import t from 'tap';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import pino from 'pino';
import wavefile from 'wavefile';
import { readWav } from '../device/wav.js';
import { resolveConfig } from '../provisioning/config.js';
import { Daemon } from '../edge/run/daemon.js';
import { PIPELINE_RATE } from '../edge/analysis/pipeline.js';
import { readWire, type LiveMessage } from '../edge/uplink/wire.js';
import { repoRoot } from '../test/support/cli.js';
import { Broker } from '../test/support/mosquitto.js';
import { waitFor, watch } from '../test/support/uplink.js';

const shared = process.env.EARSHOT_SHARED ?? path.resolve(repoRoot, '..', 'shared');

t.test('live state: seconds in call grow, the line goes idle at the hang-up', async (t) => {
  const dir = t.testdir({});
  const wav = await readWav(path.join(repoRoot, 'demo', 'demo-invest-en.wav'), PIPELINE_RATE);
  const out = new wavefile.WaveFile();
  const toInt = (x: Float32Array) => Int16Array.from(x.subarray(0, 5 * PIPELINE_RATE), (v) => Math.round(Math.max(-1, Math.min(1, v)) * 32767));
  out.fromScratch(2, PIPELINE_RATE, '16', wav.channels.map(toInt));
  const call = path.join(dir, 'call.wav');
  writeFileSync(call, out.toBuffer());
  const broker = await Broker.start();
  t.teardown(() => broker.stop());
  const seen = await watch(broker.url, 'earshot/+/+/live');
  t.teardown(() => seen.close());
  const config = resolveConfig({
    models: { root: path.join(shared, 'models') },
    recognition: { language: 'en' },
    outbox: { path: path.join(dir, 'outbox.sqlite') },
    uplink: { enabled: true, broker: broker.url, site: 'floor-1', box: 'box-1', ackMode: 'puback', liveIntervalSec: 0.5 },
    run: { healthPort: 0, workers: 1 },
    lines: { 'desk-1': { agent: { id: 'A17' }, audio: { replay: [call], loop: true, gapSec: 4 } } },
  });
  const daemon = await Daemon.start(config, { log: pino({ level: 'silent' }) });
  t.teardown(() => daemon.stop(0));
  const lives = () => seen.messages.map((m) => ({ m, read: readWire('live', m.payload) }));
  const desk = (l: LiveMessage) => l.lines.find((x) => x.name === 'desk-1');
  // In call for ~5 s, then idle for the gap.
  await waitFor('an in-call then idle live state', () => {
    const states = lives().flatMap(({ read }) => (read.ok ? [desk(read.value)?.state] : []));
    const lastInCall = states.lastIndexOf('in-call');
    return lastInCall >= 0 && states.slice(lastInCall).includes('idle');
  }, 30_000);
  const all = lives();
  t.ok(all.every(({ read }) => read.ok), 'every live message passes earshot/live@1');
  t.ok(all.every(({ m }) => m.topic === 'earshot/floor-1/box-1/live' && !m.retain), 'on the live topic, not retained');
  t.ok(all.every(({ m }) => typeof m.expirySec === 'number' && m.expirySec <= 3), 'with an MQTT 5 expiry of a few periods');
  const values = all.flatMap(({ read }) => (read.ok ? [read.value] : []));
  const inCall = values.map(desk).filter((l) => l?.state === 'in-call');
  t.ok(inCall.length >= 4, `several in-call states (${inCall.length})`);
  const secs = inCall.map((l) => l?.inCallSec ?? -1);
  t.ok(secs.every((s, i) => i === 0 || s >= secs[i - 1]), `seconds in call never go back (${secs.join(', ')})`);
  t.ok(secs[secs.length - 1] - secs[0] >= 1.5, 'and grow');
  t.match(inCall[0], { agentId: 'A17', callId: /^desk-1-/, talking: /^(agent|customer|both|none)$/, silenceSec: Number, agitation: Number, shedding: false, backlogSec: Number });
  const afterCall = values.map(desk).slice(values.map(desk).lastIndexOf(inCall[inCall.length - 1]) + 1);
  t.match(afterCall.find((l) => l?.state === 'idle'), { state: 'idle' }, 'idle after the hang-up');
  t.notOk(afterCall.find((l) => l?.state === 'idle')?.callId, 'no call on an idle line');
  const keys = new Set(values.flatMap((v) => v.lines.flatMap((l) => Object.keys(l))));
  t.same([...keys].filter((k) => !['name', 'agentId', 'state', 'fault', 'callId', 'inCallSec', 'talking', 'silenceSec', 'agitation', 'shedding', 'backlogSec'].includes(k)), [], 'nothing but state and signal measures');
  t.notMatch(all.map(({ m }) => m.payload.toString()).join('\n'), /guarantee|return|invest/i, 'no words of the call');
});

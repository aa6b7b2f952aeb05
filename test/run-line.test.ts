import t from 'tap';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import wavefile from 'wavefile';
import { writeFileSync } from 'node:fs';
import { CaptureError, type LiveCaptureSource } from '../device/capture.js';
import { ReplayLineSource } from '../device/replay-line.js';
import { readWav } from '../device/wav.js';
import { resolveConfig } from '../provisioning/config.js';
import { resolveLines } from '../provisioning/lines.js';
import { Line, type LiveCallRef } from '../edge/run/line.js';
import { maskCaller } from '../edge/run/line-call.js';
import { PIPELINE_RATE } from '../edge/analysis/pipeline.js';
import { loadSpeechModels } from '../edge/speech-setup.js';
import { loadRules } from '../edge/rules/setup.js';
import type { CallIndex } from '../edge/index/call-index.js';
import type { Alert } from '../edge/rules/types.js';
import { AudioRing } from '../edge/run/audio-ring.js';
import { sharedVad } from './support/analysis.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.EARSHOT_SHARED ?? path.resolve(repoRoot, '..', 'shared');
const DEMO = path.join(repoRoot, 'demo', 'demo-call.wav');
const INVEST = path.join(repoRoot, 'demo', 'demo-invest-en.wav');
const quiet = pino({ level: 'silent' });

interface Harness {
  line: Line;
  indexes: CallIndex[];
  alerts: { callId: string; alert: Alert; ref: LiveCallRef }[];
}

async function lineWith(
  raw: Record<string, unknown>,
  openSource: (line: Line) => Promise<LiveCaptureSource>,
  opts: { speech?: boolean; ring?: AudioRing } = {},
): Promise<Harness> {
  const config = resolveConfig({ models: { root: path.join(shared, 'models') }, recognition: { language: 'en' }, ...raw });
  const [settings] = resolveLines(config);
  const indexes: CallIndex[] = [];
  const alerts: Harness['alerts'] = [];
  const judge = { rules: loadRules(config), speechModels: opts.speech ? await loadSpeechModels(config) : undefined };
  const line: Line = new Line({
    settings,
    vadModel: await sharedVad(),
    rules: () => judge,
    run: config.run,
    log: quiet,
    ring: opts.ring,
    openSource: () => openSource(line),
    publisher: { alert: (callId, alert, ref) => alerts.push({ callId, alert, ref: ref as LiveCallRef }), index: (i) => indexes.push(i) },
  });
  return { line, indexes, alerts };
}

/** The replay line as the daemon builds it: each file one call, boundaries from the source. */
function replay(files: string[], paced = false, extra: Partial<ConstructorParameters<typeof ReplayLineSource>[0]> = {}) {
  return async (line: Line) => {
    const source = new ReplayLineSource({ files, agentChannel: 'left', sampleRate: PIPELINE_RATE, loop: false, gapSec: 1, paced, ...extra });
    if (line.callState.kind === 'file') source.on('boundary', (b) => line.boundary({ kind: b.kind, by: 'file', at: b.at }));
    return source;
  };
}

const replayLine = (extra: Record<string, unknown> = {}) => ({
  lines: { 'desk-7': { agent: { id: 'A7', extension: '1007' }, audio: { replay: ['x.wav'] }, ...extra } },
});

t.test('a replayed call on a line: one index naming the line and agent, alerts raised while it runs', async (t) => {
  const h = await lineWith({ ...replayLine(), run: { shed: { behindSec: 1000, caughtUpSec: 1, maxBacklogSec: 2000 } } }, replay([DEMO]));
  h.line.start();
  await h.line.done;
  t.equal(h.indexes.length, 1);
  const [index] = h.indexes;
  t.match(index.callId, /^desk-7-\d{8}T\d{6}Z-1$/);
  t.match(index.line, { name: 'desk-7', agentId: 'A7', extension: '1007', boundaries: 'file', endedBy: 'file-end' });
  t.ok(Date.parse(index.line?.endedAt ?? '') >= Date.parse(index.line?.startedAt ?? ''), 'wall-clock start and end');
  t.equal(index.degraded, undefined, 'nothing shed or dropped on an idle box');
  t.ok(Math.abs(index.durationSec - 47.3) < 0.2, `the whole call (${index.durationSec} s)`);
  // Without recognition no words come: the alert is sent again at the hang-up only for the stretch's final figures.
  t.same(h.alerts.map((a) => [a.alert.id, a.alert.revision]), [['customer-agitation-1', undefined], ['customer-agitation-1', 2]]);
  t.match(h.alerts[0].ref, { name: 'desk-7', agentId: 'A7', extension: '1007' }, 'the alert says whose desk');
  t.equal(h.alerts[0].callId, index.callId);
  t.equal(h.line.status().counters.calls, 1);
  t.equal(h.line.status().state, 'stopped');
});

t.test('a little behind real time: the extras are given up first, and recognition goes on', async (t) => {
  // Auto language (both recognisers revisit a side's first 20 s) and two spotter phases: the extras.
  const extras = { ...replayLine(), recognition: { language: 'auto' }, watch: { phases: 2 } };
  const shed = (lightenBehindSec: number) => ({ run: { shed: { lightenBehindSec, behindSec: 1000, caughtUpSec: 0.5, maxBacklogSec: 2000 } } });
  // Unpaced, the whole call is queued at once: the line is behind for all of it, never caught up.
  const behind = await lineWith({ ...extras, ...shed(1) }, replay([INVEST]), { speech: true });
  const onTime = await lineWith({ ...extras, ...shed(1000) }, replay([INVEST]), { speech: true });
  for (const h of [behind, onTime]) {
    h.line.start();
    await h.line.done;
  }
  const [light] = behind.indexes;
  const [full] = onTime.indexes;
  const counters = behind.line.status().counters;
  t.ok(counters.lightSec > 20 && counters.shedSec === 0, `the line counts the call heard without extras (${counters.lightSec.toFixed(1)} s), none shed`);
  t.equal(onTime.line.status().counters.lightSec, 0, 'on time, nothing given up');
  t.equal(light.degraded, undefined, 'recognition was not shed');
  for (const side of ['agent', 'customer'] as const) {
    t.equal(light.recognition?.[side].language, full.recognition?.[side].language, `${side}: the same language`);
    t.match(light.recognition?.[side].reason, /kept without revisiting: the line was behind real time/, `${side}: the index says the language was not revisited`);
    t.notMatch(full.recognition?.[side].reason, /kept without revisiting/);
  }
  const texts = (i: CallIndex) => i.utterances.filter((u) => u.text).map((u) => [u.channel, u.text]);
  t.same(texts(light), texts(full), 'the same transcript');
  const rules = (i: CallIndex) => i.alerts.map((a) => a.rule).sort();
  t.same(rules(light), rules(full), 'the same alerts');
  t.ok(rules(light).includes('stock-tip'), 'the text rules fire');
});

t.test('behind real time: recognition is shed and marked; signal analysis and signal rules carry on', async (t) => {
  // An unpaced replay delivers a whole call at once: the line is instantly far behind, as on an overloaded box.
  const behind = await lineWith({ ...replayLine(), run: { shed: { behindSec: 1, caughtUpSec: 0.5, maxBacklogSec: 1000 } } }, replay([INVEST]), { speech: true });
  const onTime = await lineWith({ ...replayLine(), run: { shed: { behindSec: 1000, caughtUpSec: 1, maxBacklogSec: 2000 } } }, replay([INVEST]), { speech: true });
  for (const h of [behind, onTime]) {
    h.line.start();
    await h.line.done;
  }
  const [shed] = behind.indexes;
  const [full] = onTime.indexes;
  t.ok(shed.degraded && shed.degraded.recognitionShed.length > 0, 'the index says recognition was shed');
  const shedSec = (shed.degraded?.recognitionShed ?? []).reduce((s, x) => s + x.end - x.start, 0);
  t.ok(shedSec > 20, `most of the call was shed (${shedSec.toFixed(1)} s)`);
  t.ok(behind.line.status().counters.shedSec > 20, 'and the line counts it');
  // Utterances only the recogniser heard (vad: false) come and go with recognition; the VAD's do not.
  const heard = (i: CallIndex) => i.utterances.filter((u) => u.vad !== false).map((u) => [u.channel, u.start]);
  t.same(heard(shed), heard(full), 'VAD and segmentation unchanged');
  t.same(shed.silences, full.silences, 'silences unchanged');
  t.ok(shed.alerts.some((a) => a.rule === 'dead-air'), 'the signal rule (dead air) still fires');
  const words = (i: CallIndex) => i.utterances.reduce((s, u) => s + (u.words?.length ?? 0), 0);
  t.ok(words(shed) < words(full) / 2, `far fewer words transcribed (${words(shed)} vs ${words(full)})`);
  t.ok(full.alerts.some((a) => a.rule === 'stock-tip'), 'on time, the text rules fire too');
  t.equal(full.degraded, undefined);
});

t.test('beyond the backlog limit audio is dropped: counted, logged and marked in the index, never silently', async (t) => {
  const h = await lineWith({ ...replayLine(), run: { shed: { behindSec: 1, caughtUpSec: 0.5, maxBacklogSec: 5 } } }, replay([DEMO]));
  h.line.start();
  await h.line.done;
  const [index] = h.indexes;
  const lost = (index.degraded?.audioDropped ?? []).reduce((s, x) => s + x.end - x.start, 0);
  t.ok(lost > 10, `the index marks ${lost.toFixed(1)} s dropped`);
  t.ok(Math.abs(h.line.status().counters.droppedSec - lost) < 0.5, 'the line counts the same');
  t.ok(Math.abs(index.durationSec + lost - 47.3) < 0.5, 'what was analysed plus what was dropped is the whole call');
});

t.test('a line whose audio cannot open faults alone, says why, and retries with backoff', async (t) => {
  let attempts = 0;
  const h = await lineWith({ ...replayLine(), run: { retry: { minSec: 0.05, maxSec: 0.2 } } }, async () => {
    attempts++;
    if (attempts < 3) throw new CaptureError('hw:1,0', 'device unplugged');
    return replay([DEMO])(h.line);
  });
  const good = await lineWith({ ...replayLine(), run: { shed: { behindSec: 1000, caughtUpSec: 1, maxBacklogSec: 2000 } } }, async () => {
    throw new Error('a bug in this line only');
  });
  h.line.start();
  good.line.start();
  await new Promise((r) => setTimeout(r, 30));
  t.match(good.line.status(), { state: 'faulted', fault: /internal error: a bug in this line only/ });
  t.ok((good.line.status().retryInSec ?? -1) >= 0, 'status says when it retries');
  await h.line.done;
  t.equal(attempts, 3, 'retried until the device came back');
  t.equal(h.line.status().counters.faults, 2);
  t.equal(h.indexes.length, 1, 'and then the call was analysed');
  const stopped = Date.now();
  await good.line.stop();
  t.ok(Date.now() - stopped < 1000, 'a faulted line stops promptly');
});

t.test('stopping mid-call ends the call as shutdown and publishes what was heard', async (t) => {
  const ring = new AudioRing(0.5);
  const h = await lineWith(replayLine(), replay([DEMO], true), { ring });
  h.line.start();
  await new Promise((r) => setTimeout(r, 2500));
  t.equal(h.line.status().state, 'in-call');
  await h.line.stop();
  t.equal(h.indexes.length, 1);
  t.match(h.indexes[0].line, { endedBy: 'shutdown' });
  t.ok(h.indexes[0].durationSec > 1.5 && h.indexes[0].durationSec < 4, `about what was heard (${h.indexes[0].durationSec} s)`);
  t.equal(h.line.status().counters.callsCut, 1);
  const wav = new wavefile.WaveFile(ring.wav(60));
  t.equal((wav.fmt as { numChannels: number }).numChannels, 2, 'the ring holds both sides');
  t.ok(ring.heldSec > 1.5 && ring.heldSec < 4, 'and only what was captured');
});

t.test('automatic segmentation: a call starts at speech after a quiet and ends after a long quiet', async (t) => {
  // Two calls with 13 s of quiet between them, and between those a second of speech that is not a call. Each
  // call ends 11 s into a quiet: past the built-in dead air's 10 s.
  const dir = t.testdir({});
  const demo = await readWav(DEMO, PIPELINE_RATE);
  const blip = demo.channels[0].slice(PIPELINE_RATE * 0.5, PIPELINE_RATE * 1.5);
  const toInt = (x: Float32Array) => Int16Array.from(x, (v) => Math.round(Math.max(-1, Math.min(1, v)) * 32767));
  const w = new wavefile.WaveFile();
  w.fromScratch(2, PIPELINE_RATE, '16', [toInt(blip), toInt(new Float32Array(blip.length))]);
  const blipFile = path.join(dir, 'blip.wav');
  writeFileSync(blipFile, w.toBuffer());
  t.ok(demo.channels.length === 2);
  const h = await lineWith(
    { lines: { 'trunk-1': { audio: { replay: ['x'] }, callState: { auto: { endAfterQuietSec: 11, minCallSec: 2 } } } }, run: { shed: { behindSec: 1000, caughtUpSec: 1, maxBacklogSec: 2000 } } },
    replay([DEMO, blipFile, DEMO], false, { gapSec: 13 }),
  );
  h.line.start();
  await h.line.done;
  t.equal(h.indexes.length, 2, 'two calls; the blip was not one');
  for (const index of h.indexes) {
    t.match(index.line, { boundaries: 'audio', name: 'trunk-1' });
    // Its 6.8 s hold is shorter than endAfterQuietSec, so the call holds together.
    t.ok(index.durationSec > 45 && index.durationSec < 60, `each call is the demo call plus its edges (${index.durationSec} s)`);
  }
  t.equal(h.indexes[0].line?.endedBy, 'quiet');
  t.same(
    h.indexes.flatMap((i) => i.alerts.filter((a) => a.rule === 'late-hangup' || a.rule === 'dead-air')),
    [],
    'the quiet that ended each call was after it: not a line left open, and no dead air raised for it, not even for a moment',
  );
  t.equal(h.line.status().counters.falseStarts, 1, 'the second of speech is counted as a false start');
});

t.test('caller numbers keep only their last four digits', async (t) => {
  t.equal(maskCaller('13800138000'), '*******8000');
  t.equal(maskCaller('+44 20 7946 0958'), '+** ** **** 0958');
  t.equal(maskCaller('1234'), '1234'.replace(/\d/g, '*'), 'a short number is masked whole');
});

t.test('a replay line joins its first call part-way (startAtSec), then plays every call whole', async (t) => {
  const played = async (startAtSec?: number) => {
    const source = new ReplayLineSource({ files: [INVEST, DEMO], agentChannel: 'left', sampleRate: PIPELINE_RATE, loop: false, gapSec: 0, paced: false, startAtSec });
    const perFile: number[] = [];
    let n = 0;
    source.on('boundary', (b) => {
      if (b.kind === 'end') perFile.push(n);
      n = 0;
    });
    for await (const c of source.chunks()) n += c.agent.length;
    return perFile;
  };
  const [investWhole, demoWhole] = await played();
  const [investJoined, demoAfter] = await played(10);
  t.equal(investWhole - investJoined, 10 * PIPELINE_RATE, 'the first call starts 10 s in');
  t.equal(demoAfter, demoWhole, 'the next call is whole');
  const [investLate] = await played(1e6);
  t.equal(investLate, 2 * PIPELINE_RATE, 'joined beyond its end: its last 2 s');
  t.same(resolveLines(resolveConfig(replayLine({ audio: { replay: ['x.wav'], startAtSec: 7.5 } })))[0]!.audio, { kind: 'replay', files: ['x.wav'], loop: false, gapSec: 2, startAtSec: 7.5, speed: 1, agentChannel: 'left' });
});

t.test('a replay line at speed 20 plays its calls twenty times faster than real time, its clock with them', async (t) => {
  t.match(resolveLines(resolveConfig(replayLine({ audio: { replay: ['x.wav'], speed: 20 } })))[0]!.audio, { kind: 'replay', speed: 20 });
  t.throws(() => resolveConfig(replayLine({ audio: { replay: ['x.wav'], speed: 0 } })), /speed/, 'a speed of 0 is refused, naming it');
  const source = new ReplayLineSource({ files: [DEMO], agentChannel: 'left', sampleRate: PIPELINE_RATE, loop: false, gapSec: 0, speed: 20 });
  const marks: number[] = [];
  source.on('boundary', (b) => marks.push(b.at));
  const t0 = Date.now();
  let samples = 0;
  for await (const c of source.chunks()) samples += c.agent.length;
  const wallMs = Date.now() - t0;
  const callMs = (samples / PIPELINE_RATE) * 1000;
  t.ok(Math.abs(marks[1] - marks[0] - callMs / 20) < 1, `the call's start and end, on the replay's clock, are its length / 20 apart (${marks[1] - marks[0]} ms for ${callMs} ms)`);
  t.ok(wallMs >= callMs / 20 - 150, `paced, not as fast as it can read (${wallMs} ms)`);
  t.ok(wallMs < callMs / 2, `far faster than real time (${wallMs} ms for a ${callMs / 1000} s call)`);
});

t.test("the agitated caller's alert goes out while she is upset, then again with her words", async (t) => {
  const h = await lineWith({ ...replayLine(), run: { shed: { behindSec: 1000, caughtUpSec: 1, maxBacklogSec: 2000 } } }, replay([DEMO]), { speech: true });
  h.line.start();
  await h.line.done;
  const agitation = h.alerts.filter((a) => a.alert.rule === 'customer-agitation').map((a) => a.alert);
  t.equal(agitation.length, 2, 'sent, then revised');
  const [first, revised] = agitation;
  t.notMatch(first!.evidence, /"/, 'raised before the words were recognised');
  t.match(revised, { id: first!.id, raisedAt: first!.raisedAt, start: first!.start, end: first!.end, revision: 2 });
  t.match(revised!.evidence, /voice raised.*: ".+"/);
  t.ok(revised!.revisedAt! > first!.raisedAt, 'sent once the words were in');
  const [index] = h.indexes;
  t.same(index.alerts.filter((a) => a.rule === 'customer-agitation'), [revised], 'the index keeps the revision only');
  t.equal(h.line.status().counters.alerts, index.alerts.length, 'a revision is not counted as another alert');
});

/**
 * Sound-card capture through naudiodon/PortAudio/ALSA on a machine with no sound card: ALSA's `file` plugin
 * is the microphone. Its capture side reads `infile` (raw PCM we write), its slave is the `null` device, so
 * it is not clocked: it delivers as fast as it is read, which is what `paced` is for.
 *
 * PortAudio enumerates ALSA when it initialises: hw cards, then every top-level `pcm.<name>` in the ALSA
 * configuration that it can open (a `hint` is not needed for that; it is for `arecord -L`). The configuration
 * therefore has to be in place before naudiodon first initialises, so each scenario runs in a child process
 * (this same file, in scenario mode) with ALSA_CONFIG_PATH pointing at a generated configuration.
 */
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CaptureError, type StereoChunk } from '../device/capture.js';
import { loadNaudiodon, PortAudioSource, type NaudiodonModule, type PortAudioDeviceInfo, type PortAudioSourceOptions } from '../device/portaudio-source.js';
import { runCli } from '../test/support/cli.js';
import { devicesCommand, listAudioDevices } from '../device/devices.js';
import { tempDir } from '../test/support/temp.js';

const RATE = 16000;
const SECONDS = 2;
const FRAMES = RATE * SECONDS;

const left = (i: number) => Math.round(9000 * Math.sin((2 * Math.PI * 440 * i) / RATE));
const right = (i: number) => Math.round(5000 * Math.sin((2 * Math.PI * 660 * i) / RATE));
/** The customer's mono microphone: a sawtooth, nothing like the agent's tone. */
const ramp = (i: number) => ((i * 7) % 20000) - 10000;

interface ChunkInfo {
  t0: number;
  n: number;
  capturedAt: number;
}

interface CaptureResult {
  agent: number[];
  customer: number[];
  chunks: ChunkInfo[];
  elapsedMs: number;
  closeMs: number;
  description: string;
  droppedSamples: number;
}

interface ErrorResult {
  name: string;
  source?: string;
  reason?: string;
  message: string;
}

// ---------------------------------------------------------------- scenario mode (runs in the child process)

async function capture(options: PortAudioSourceOptions, samples: number, delayMs = 0): Promise<CaptureResult> {
  const source = new PortAudioSource(options);
  await source.open();
  if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
  const started = Date.now();
  const result: CaptureResult = { agent: [], customer: [], chunks: [], elapsedMs: 0, closeMs: 0, description: '', droppedSamples: 0 };
  for await (const chunk of source.chunks() as AsyncIterable<StereoChunk>) {
    result.chunks.push({ t0: chunk.t0, n: chunk.agent.length, capturedAt: chunk.capturedAt ?? 0 });
    for (let i = 0; i < chunk.agent.length; i++) {
      result.agent.push(Math.round(chunk.agent[i] * 32768));
      result.customer.push(Math.round(chunk.customer[i] * 32768));
    }
    if (result.agent.length >= samples) break;
  }
  result.elapsedMs = Date.now() - started;
  result.description = source.description;
  result.droppedSamples = source.droppedSamples;
  const closing = Date.now();
  await source.close();
  result.closeMs = Date.now() - closing;
  return result;
}

async function openError(options: PortAudioSourceOptions): Promise<ErrorResult | null> {
  try {
    await new PortAudioSource(options).open();
    return null;
  } catch (err) {
    const e = err as CaptureError;
    return { name: e.name, source: e.source, reason: e.reason, message: e.message };
  }
}

async function devicesText(json: boolean): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await devicesCommand({ json, out: (s) => (out += s) });
  return { code, out };
}

const scenarios: Record<string, () => Promise<unknown>> = {
  async list() {
    return { devices: await listAudioDevices(), text: await devicesText(false), json: await devicesText(true) };
  },
  async stereo() {
    return capture({ device: 'fakemic', channels: 2, sampleRate: RATE, agentChannel: 0, customerChannel: 1, paced: true }, FRAMES);
  },
  async swapped() {
    return capture({ device: 'fakemic', channels: 2, sampleRate: RATE, agentChannel: 1, customerChannel: 0, paced: true }, RATE / 2);
  },
  async pair() {
    // The customer's device by a case-insensitive part of its name; `fakemic_agent` by its exact name.
    return capture({ agent: { device: 'fakemic_agent' }, customer: { device: 'FAKEMIC_CUST' }, sampleRate: RATE, paced: true }, FRAMES);
  },
  async rate48k() {
    return capture({ device: 'fakemic48', channels: 2, sampleRate: 48000, agentChannel: 0, customerChannel: 1, paced: true }, RATE);
  },
  async drop() {
    // Not paced on a device that is not clocked, and a reader that starts late: more arrives than the backlog holds.
    return capture({ device: 'fakemic', channels: 2, sampleRate: RATE, agentChannel: 0, customerChannel: 1, maxBacklogSec: 0.5 }, RATE, 1000);
  },
  async errors() {
    return {
      unknown: await openError({ device: 'no-such-card', channels: 2, sampleRate: RATE, agentChannel: 0, customerChannel: 1 }),
      ambiguous: await openError({ device: 'fakemic_', channels: 2, sampleRate: RATE, agentChannel: 0, customerChannel: 1 }),
      index: await openError({ device: 99, channels: 2, sampleRate: RATE, agentChannel: 0, customerChannel: 1 }),
      pairUnknown: await openError({ agent: { device: 'fakemic_agent' }, customer: { device: 'headset' }, sampleRate: RATE }),
    };
  },
  /** Importing the capture modules (done at the top of this file) must not load PortAudio; loading naudiodon does. */
  async lazy() {
    const mapped = () => /libportaudio|libasound/.test(readFileSync('/proc/self/maps', 'utf8'));
    const imported = mapped();
    loadNaudiodon();
    return { imported, loaded: mapped() };
  },
  async none() {
    return {
      devices: await listAudioDevices(),
      text: await devicesText(false),
      error: await openError({ device: 'fakemic', channels: 2, sampleRate: RATE, agentChannel: 0, customerChannel: 1 }),
    };
  },
};

const scenario = process.env.EARSHOT_FAKEMIC_SCENARIO;
if (scenario) {
  const run = scenarios[scenario];
  const result = run ? await run().catch((err: Error) => ({ crashed: err.stack ?? String(err) })) : { crashed: `no scenario ${scenario}` };
  writeFileSync(process.env.EARSHOT_FAKEMIC_RESULT!, JSON.stringify(result));
  process.exit(0);
} else {
  await runTests();
}

// ---------------------------------------------------------------- test mode

async function runTests(): Promise<void> {
  const { default: t } = await import('tap');
  const dir = tempDir('fakemic');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  const stereoRaw = Buffer.alloc(FRAMES * 4);
  for (let i = 0; i < FRAMES; i++) {
    stereoRaw.writeInt16LE(left(i), i * 4);
    stereoRaw.writeInt16LE(right(i), i * 4 + 2);
  }
  const agentRaw = Buffer.alloc(FRAMES * 2);
  const customerRaw = Buffer.alloc(FRAMES * 2);
  for (let i = 0; i < FRAMES; i++) {
    agentRaw.writeInt16LE(left(i), i * 2);
    customerRaw.writeInt16LE(ramp(i), i * 2);
  }
  const frames48 = 48000 * 2;
  const raw48 = Buffer.alloc(frames48 * 4);
  for (let i = 0; i < frames48; i++) {
    raw48.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 1000 * i) / 48000)), i * 4);
    raw48.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 2500 * i) / 48000)), i * 4 + 2);
  }
  const files = { stereo: join(dir, 'stereo.raw'), agent: join(dir, 'agent.raw'), customer: join(dir, 'customer.raw'), s48: join(dir, 'stereo48.raw') };
  writeFileSync(files.stereo, stereoRaw);
  writeFileSync(files.agent, agentRaw);
  writeFileSync(files.customer, customerRaw);
  writeFileSync(files.s48, raw48);

  const fakemic = (name: string, infile: string, description: string) => `
pcm.${name} {
  type file
  slave.pcm "null"
  infile "${infile}"
  format "raw"
  # The plugin refuses to open without an output file, even for capture.
  file "/dev/null"
  hint { show on description "${description}" }
}`;
  // alsa.conf's card-based defaults (default, front, surround51, hdmi...) fail on a machine without a card, and
  // PortAudio's probe of each prints "ALSA lib ... Unknown PCM" lines. Pointed at a card that does not exist by
  // number, they fail quietly: PortAudio neither lists them nor prints anything.
  const quiet = ['default', 'sysdefault', 'dmix', 'front', 'rear', 'center_lfe', 'side', 'surround21', 'surround40', 'surround41', 'surround50', 'surround51', 'surround71', 'iec958', 'spdif', 'hdmi', 'modem', 'phoneline']
    .map((n) => `pcm.!${n} { type hw card 31 }`)
    .join('\n');
  const system = '</usr/share/alsa/alsa.conf>';
  const withMics = join(dir, 'asound.conf');
  writeFileSync(
    withMics,
    [
      system,
      quiet,
      fakemic('fakemic', files.stereo, 'Earshot fake stereo microphone (440 Hz left, 660 Hz right)'),
      fakemic('fakemic_agent', files.agent, 'Earshot fake agent headset'),
      fakemic('fakemic_customer', files.customer, 'Earshot fake customer line'),
      fakemic('fakemic48', files.s48, 'Earshot fake 48 kHz microphone'),
      '',
    ].join('\n'),
  );
  const withoutMics = join(dir, 'no-inputs.conf');
  writeFileSync(withoutMics, `${system}\n${quiet}\n`);
  // The system's card-based PCMs left as they are: PortAudio's probe of them makes libasound print its noise.
  const noisy = join(dir, 'noisy.conf');
  writeFileSync(noisy, `${system}\n${fakemic('fakemic', files.stereo, 'Earshot fake stereo microphone')}\n`);

  const self = fileURLToPath(import.meta.url);
  const tsx = import.meta.resolve('tsx');
  let runs = 0;

  /** Runs one scenario in a child with its own ALSA configuration; PortAudio's stdout chatter stays there. */
  function inChild<T>(name: string, alsaConfig: string): Promise<T> {
    const resultFile = join(dir, `result-${runs++}.json`);
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [`--import=${tsx}`, self], {
        // naudiodon's segfault handler would write crash.log into the working directory.
        cwd: dir,
        env: { ...process.env, ALSA_CONFIG_PATH: alsaConfig, EARSHOT_FAKEMIC_SCENARIO: name, EARSHOT_FAKEMIC_RESULT: resultFile, EARSHOT_LOG_LEVEL: 'error' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d));
      child.stderr.on('data', (d: Buffer) => (output += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        let result: (T & { crashed?: string }) | undefined;
        try {
          result = JSON.parse(readFileSync(resultFile, 'utf8')) as T & { crashed?: string };
        } catch {
          result = undefined;
        }
        if (!result || result.crashed || code !== 0) {
          reject(new Error(`scenario ${name}: exit ${code ?? signal}; ${result?.crashed ?? 'no result'}\n${output.slice(-3000)}`));
        } else {
          resolve(result);
        }
      });
    });
  }

  /** Where the file's first samples appear in what was captured (the device may start a little late). */
  function offsetOf(got: number[], want: (i: number) => number): number {
    for (let off = 0; off < Math.min(2000, got.length); off++) {
      let ok = true;
      for (let i = 0; i < 200 && ok; i++) ok = got[off + i] === want(i);
      if (ok) return off;
    }
    return -1;
  }

  function mismatches(got: number[], offset: number, want: (i: number) => number, count: number): number {
    let bad = 0;
    for (let i = 0; i < count; i++) if (got[offset + i] !== want(i)) bad++;
    return bad;
  }

  function frequencyOf(x: number[], rate: number): number {
    const from = Math.floor(x.length * 0.1);
    const to = Math.floor(x.length * 0.9);
    let crossings = 0;
    for (let i = from + 1; i < to; i++) if ((x[i - 1] < 0) !== (x[i] < 0)) crossings++;
    return (crossings / 2) * (rate / (to - from - 1));
  }

  t.test('PortAudio lists the fake microphones, and so does `earshot devices`', async (t) => {
    const r = await inChild<{ devices: { name: string; maxInputChannels: number; hostApi: string; index: number }[]; text: { code: number; out: string }; json: { code: number; out: string } }>('list', withMics);
    const names = r.devices.map((d) => d.name);
    t.same(names.filter((n) => n.startsWith('fakemic')).sort(), ['fakemic', 'fakemic48', 'fakemic_agent', 'fakemic_customer']);
    t.same(names.filter((n) => !n.startsWith('fakemic')), [], 'the quieted card-based defaults are not listed');
    const mic = r.devices.find((d) => d.name === 'fakemic')!;
    t.ok(mic.maxInputChannels >= 2, `fakemic has ${mic.maxInputChannels} input channels`);
    t.equal(mic.hostApi, 'ALSA');
    t.equal(r.text.code, 0);
    t.match(r.text.out, /Audio inputs\n/);
    t.match(r.text.out, new RegExp(`#${mic.index}\\s+"fakemic"\\s+${mic.maxInputChannels} ch in`));
    t.match(r.text.out, /audio: \{ device: "fakemic"/, 'says how to use it in earshot.yml');
    t.match(r.text.out, /Serial ports\n/);
    const json = JSON.parse(r.json.out) as { audio: { name: string }[]; serial: unknown[] };
    t.ok(json.audio.some((d) => d.name === 'fakemic_agent'));
    t.ok(Array.isArray(json.serial));
  });

  t.test('a stereo device with a channel map returns the file, agent and customer in place', async (t) => {
    const r = await inChild<CaptureResult>('stereo', withMics);
    const off = offsetOf(r.agent, left);
    t.ok(off >= 0 && off < 1000, `the file starts at sample ${off}`);
    t.equal(offsetOf(r.customer, right), off, 'customer starts at the same sample (the sides are aligned)');
    const count = Math.min(FRAMES, r.agent.length - off);
    t.ok(count >= FRAMES - 1000, `${count} samples compared`);
    t.equal(mismatches(r.agent, off, left, count), 0, 'agent = left channel (440 Hz), sample for sample');
    t.equal(mismatches(r.customer, off, right, count), 0, 'customer = right channel (660 Hz), sample for sample');
    t.ok(r.elapsedMs >= SECONDS * 1000 * 0.9, `paced: ${SECONDS} s of audio took ${r.elapsedMs} ms`);
    let pos = 0;
    for (const c of r.chunks) {
      t.equal(Math.round(c.t0 * RATE), pos, 't0 counts the audio since open');
      pos += c.n;
    }
    t.ok(r.chunks.every((c, i) => i === 0 || c.capturedAt >= r.chunks[i - 1].capturedAt), 'capturedAt never goes back');
    t.equal(r.droppedSamples, 0);
    t.match(r.description, /audio device #\d+ "fakemic" \(ALSA\): agent on channel 0, customer on channel 1/);
    t.ok(r.closeMs < 1000, `close() took ${r.closeMs} ms`);
  });

  t.test('the channel map is what decides the sides', async (t) => {
    const r = await inChild<CaptureResult>('swapped', withMics);
    const off = offsetOf(r.agent, right);
    t.ok(off >= 0, 'agentChannel 1: the agent is the right channel');
    t.equal(mismatches(r.customer, off, left, RATE / 2 - off), 0, 'and the customer the left');
  });

  t.test('two mono devices are aligned sample by sample', async (t) => {
    const r = await inChild<CaptureResult>('pair', withMics);
    const offA = offsetOf(r.agent, left);
    const offC = offsetOf(r.customer, ramp);
    t.ok(offA >= 0 && offC >= 0, `agent file at ${offA}, customer file at ${offC}`);
    t.equal(offA, offC, 'both files start at the same sample: the sides are aligned');
    const count = Math.min(FRAMES, r.agent.length - offA);
    t.ok(count >= FRAMES - 1000);
    t.equal(mismatches(r.agent, offA, left, count), 0, 'agent device: its file exactly');
    t.equal(mismatches(r.customer, offC, ramp, count), 0, 'customer device (found by part of its name): its file exactly');
    t.match(r.description, /agent: #\d+ "fakemic_agent" channel 0; customer: #\d+ "fakemic_customer" channel 0/);
  });

  t.test('a 48 kHz device comes out at 16 kHz with its tones', async (t) => {
    const r = await inChild<CaptureResult>('rate48k', withMics);
    t.ok(r.agent.length >= RATE && r.agent.length < RATE * 1.2);
    const fa = frequencyOf(r.agent.slice(0, RATE), RATE);
    const fc = frequencyOf(r.customer.slice(0, RATE), RATE);
    t.ok(Math.abs(fa - 1000) < 10, `agent ${fa.toFixed(1)} Hz`);
    t.ok(Math.abs(fc - 2500) < 25, `customer ${fc.toFixed(1)} Hz`);
  });

  t.test('audio a slow reader cannot take is dropped, counted, and shows as a gap in t0', async (t) => {
    const r = await inChild<CaptureResult>('drop', withMics);
    t.ok(r.droppedSamples > 0, `${r.droppedSamples} samples dropped and counted`);
    const off = offsetOf(r.agent, left);
    t.ok(off >= 0, 'what was kept starts with the file, in order');
    const gaps = r.chunks.filter((c, i) => i > 0 && Math.round(c.t0 * RATE) > Math.round(r.chunks[i - 1].t0 * RATE) + r.chunks[i - 1].n);
    t.ok(gaps.length > 0, 'a chunk after the drop starts later than the one before it ended');
  });

  t.test('an unknown device is a CaptureError listing the inputs there are', async (t) => {
    const r = await inChild<Record<string, ErrorResult | null>>('errors', withMics);
    t.equal(r.unknown?.name, 'CaptureError');
    t.equal(r.unknown?.source, 'audio device "no-such-card"');
    t.match(r.unknown?.reason, /no input device of that name; input devices: .*"fakemic" \(\d+ ch\).*"fakemic_agent"/);
    t.match(r.ambiguous?.reason, /fits several input devices: .*"fakemic_agent".*"fakemic_customer".*give the full name or the index/);
    t.match(r.index?.reason, /no device with index 99; input devices: /);
    t.match(r.pairUnknown?.source, /"headset"/);
    t.match(r.pairUnknown?.reason, /input devices: .*"fakemic"/);
  });

  t.test('with no inputs at all, both the listing and the error say so', async (t) => {
    const r = await inChild<{ devices: unknown[]; text: { code: number; out: string }; error: ErrorResult | null }>('none', withoutMics);
    t.same(r.devices, []);
    t.equal(r.text.code, 0);
    t.match(r.text.out, /Audio inputs\n  none: PortAudio sees no audio input/);
    t.equal(r.error?.name, 'CaptureError');
    t.match(r.error?.reason, /there are no audio input devices on this machine/);
  });

  // What real hardware does and the fake microphone cannot (unplug, overrun, a wedged driver), played by a
  // stand-in for naudiodon that behaves as its stream does: a Readable of s16le buffers with start/quit.
  class FakeInput extends Readable {
    quits = 0;
    started = false;
    constructor(readonly inOptions: { channelCount: number; deviceId: number }) {
      super({ read() {} });
    }
    start(): void {
      this.started = true;
    }
    quit(cb?: () => void): void {
      this.quits++;
      // As naudiodon's: the pending read comes back finished, so the stream ends.
      setImmediate(() => {
        this.push(null);
        cb?.();
      });
    }
  }
  const device = (id: number, name: string, maxInputChannels: number): PortAudioDeviceInfo => ({
    id,
    name,
    maxInputChannels,
    maxOutputChannels: 0,
    defaultSampleRate: 48000,
    hostAPIName: 'ALSA',
  });
  function fakeBinding(devices: PortAudioDeviceInfo[], failOpen?: string) {
    const opened: FakeInput[] = [];
    const binding: NaudiodonModule = {
      SampleFormat16Bit: 16,
      getDevices: () => devices,
      AudioIO: ({ inOptions }) => {
        if (failOpen) throw new Error(failOpen);
        const input = new FakeInput(inOptions);
        opened.push(input);
        return input;
      },
    };
    return { binding, opened };
  }
  const pcm = (frames: number, channels: number, value: (ch: number) => number) => {
    const b = Buffer.alloc(frames * channels * 2);
    for (let i = 0; i < frames; i++) for (let ch = 0; ch < channels; ch++) b.writeInt16LE(value(ch), (i * channels + ch) * 2);
    return b;
  };
  async function readUntilError(source: PortAudioSource): Promise<{ err: unknown; chunks: StereoChunk[] }> {
    const chunks: StereoChunk[] = [];
    try {
      for await (const c of source.chunks()) chunks.push(c);
    } catch (err) {
      return { err, chunks };
    }
    return { err: null, chunks };
  }

  t.test('one of two mono devices going quiet is a CaptureError naming it', async (t) => {
    const { binding, opened } = fakeBinding([device(0, 'Headset USB', 1), device(1, 'Trunk tap', 2)]);
    const source = new PortAudioSource({ agent: { device: 'headset' }, customer: { device: 'Trunk tap', channel: 1 }, sampleRate: RATE, stallSec: 0.6, binding });
    await source.open();
    t.equal(opened.length, 2);
    t.same(opened.map((o) => [o.inOptions.deviceId, o.inOptions.channelCount]), [[0, 1], [1, 2]], 'the trunk opened with enough channels for channel 1');
    t.ok(opened.every((o) => o.started));
    const agentFlows = setInterval(() => opened[0].push(pcm(800, 1, () => 1000)), 50);
    t.teardown(() => clearInterval(agentFlows));
    // One read from the trunk, 0.1 s of audio, then nothing more.
    setTimeout(() => opened[1].push(pcm(1600, 2, (ch) => (ch === 1 ? -2000 : 7))), 150);
    const started = Date.now();
    const { err, chunks } = await readUntilError(source);
    clearInterval(agentFlows);
    t.type(err, CaptureError);
    t.equal((err as CaptureError).source, 'customer device #1 "Trunk tap"');
    t.match((err as CaptureError).reason, /delivered no audio for \d+\.\d s while agent device #0 "Headset USB" kept delivering/);
    t.ok(Date.now() - started < 2000, 'within about stallSec');
    const customer = chunks.flatMap((c) => [...c.customer].map((x) => Math.round(x * 32768)));
    t.ok(customer.length > 0 && customer.length <= 1600, `only audio both sides had was delivered (${customer.length} samples)`);
    t.same([...new Set(customer)], [-2000], 'the customer is channel 1 of the trunk');
    await source.close();
    t.same(opened.map((o) => o.quits), [1, 1], 'both devices stopped, once each');
  });

  t.test('an input overflow (audio lost) and a stream that ends are CaptureErrors', async (t) => {
    const overflow = fakeBinding([device(0, 'USB Audio', 2)]);
    const a = new PortAudioSource({ device: 0, channels: 2, sampleRate: RATE, agentChannel: 0, customerChannel: 1, binding: overflow.binding });
    await a.open();
    overflow.opened[0].push(pcm(1600, 2, () => 5));
    // naudiodon destroys its stream with PortAudio's status text (a string) when closeOnError is on.
    setTimeout(() => overflow.opened[0].destroy('portAudio status - input overflow ' as unknown as Error), 50);
    const r1 = await readUntilError(a);
    t.match((r1.err as CaptureError).reason, /input overflow: .*audio was lost/);
    t.equal(r1.chunks.reduce((n, c) => n + c.agent.length, 0), 1600, 'audio read before the failure is still delivered');
    await a.close();
    t.equal(overflow.opened[0].quits, 1, 'the PortAudio stream is stopped, once');

    const ended = fakeBinding([device(0, 'USB Audio', 2)]);
    const b = new PortAudioSource({ device: 'USB Audio', channels: 2, sampleRate: RATE, agentChannel: 1, customerChannel: 0, binding: ended.binding });
    await b.open();
    setTimeout(() => ended.opened[0].push(null), 50);
    const r2 = await readUntilError(b);
    t.match((r2.err as CaptureError).reason, /stopped delivering audio/);
    t.match((r2.err as CaptureError).source, /audio device #0 "USB Audio"/);
  });

  t.test('a device PortAudio cannot open, or with too few channels, is a CaptureError at open()', async (t) => {
    const busy = fakeBinding([device(0, 'USB Audio', 2)], 'Could not open stream: Device unavailable');
    const e1 = await new PortAudioSource({ device: 'usb audio', channels: 2, sampleRate: RATE, agentChannel: 0, customerChannel: 1, binding: busy.binding }).open().catch((e: unknown) => e);
    t.type(e1, CaptureError);
    t.match((e1 as CaptureError).reason, /cannot open at 16000 Hz, 2 ch: Could not open stream: Device unavailable/);

    const mono = fakeBinding([device(0, 'Headset', 1)]);
    const e2 = await new PortAudioSource({ device: 'Headset', channels: 2, sampleRate: RATE, agentChannel: 0, customerChannel: 1, binding: mono.binding }).open().catch((e: unknown) => e);
    t.match((e2 as CaptureError).reason, /has 1 input channel\(s\); 2 are needed/);
    t.equal(mono.opened.length, 0);

    const outputOnly = fakeBinding([{ ...device(0, 'HDMI', 0), maxOutputChannels: 8 }]);
    const e3 = await new PortAudioSource({ device: 0, channels: 2, sampleRate: RATE, agentChannel: 0, customerChannel: 1, binding: outputOnly.binding }).open().catch((e: unknown) => e);
    t.match((e3 as CaptureError).reason, /#0 "HDMI" has no input channels \(an output\); there are no audio input devices/);
  });

  t.test('both sides on one device are one stream; sides drifting apart are realigned and counted', async (t) => {
    const same = fakeBinding([device(0, 'Quad', 4)]);
    const one = new PortAudioSource({ agent: { device: 'Quad', channel: 3 }, customer: { device: 'Quad', channel: 1 }, sampleRate: RATE, binding: same.binding });
    await one.open();
    t.equal(same.opened.length, 1, 'opened once (ALSA would refuse a second open as busy)');
    t.equal(same.opened[0].inOptions.channelCount, 4);
    same.opened[0].push(pcm(1600, 4, (ch) => ch * 100));
    const it = one.chunks()[Symbol.asyncIterator]();
    const first = (await it.next()).value as StereoChunk;
    t.same([Math.round(first.agent[0] * 32768), Math.round(first.customer[0] * 32768)], [300, 100]);
    await one.close();

    const pair = fakeBinding([device(0, 'A', 1), device(1, 'B', 1)]);
    const drift = new PortAudioSource({ agent: { device: 'A' }, customer: { device: 'B' }, sampleRate: RATE, maxSkewSec: 0.2, binding: pair.binding });
    await drift.open();
    // A read is handed over when full: 1 s of agent and 0.2 s of customer arriving together means the agent
    // device started 0.8 s earlier. Those 0.8 s have no partner and are trimmed, not paired off by count.
    pair.opened[0].push(pcm(16000, 1, () => 1));
    pair.opened[1].push(pcm(3200, 1, () => 2));
    const it2 = drift.chunks()[Symbol.asyncIterator]();
    const c = (await it2.next()).value as StereoChunk;
    t.equal(c.agent.length, c.customer.length);
    // Pairing goes by when each read arrived, so the handlers' own lag counts: 2 ms apart (32 samples) under a
    // loaded CI. 10 ms is still nothing to over-talk timing, and far from the 0.8 s lead left untrimmed.
    t.ok(Math.abs(c.agent.length - 3200) <= 160, `aligned at start: ${c.agent.length} samples paired`);
    t.equal(drift.droppedSamples, 0, 'the start-up trim is alignment, not lost audio');
    // Then the agent side delivers 0.4 s more than the customer side at the same moment: drift or loss.
    pair.opened[0].push(pcm(8000, 1, () => 1));
    pair.opened[1].push(pcm(1600, 1, () => 2));
    await new Promise((r) => setTimeout(r, 20));
    t.ok(drift.droppedSamples >= 6000, `the unexplained lead was dropped and counted (${drift.droppedSamples})`);
    await drift.close();
    while (!(await it2.next()).done);
    t.pass('the iterator ends after close()');
  });

  t.test('loading the capture modules does not start PortAudio', async (t) => {
    // `earshot analyze` and every other path that never captures imports these modules; ALSA must stay out of it.
    const r = await inChild<{ imported: boolean; loaded: boolean }>('lazy', withMics);
    t.equal(r.imported, false, 'after importing portaudio-source and devices: neither PortAudio nor libasound is loaded');
    t.equal(r.loaded, true, 'after loading naudiodon both are, so the check would see them');
  });

  t.test('earshot devices lists the inputs an installer can wire up, without libasound noise', async (t) => {
    const env = { ALSA_CONFIG_PATH: noisy };
    const raw = await runCli(['devices'], { ...env, EARSHOT_DEVICES_CHILD: '1' });
    t.match(raw.stderr, /ALSA lib /, 'PortAudio probing this configuration makes libasound print noise');
    const r = await runCli(['devices'], env);
    t.equal(r.code, 0);
    t.match(r.stdout, /Audio inputs\n +#\d+ +"fakemic" +\d+ ch in/, 'the fake microphone is listed with its channels');
    t.match(r.stdout, /Serial ports/);
    t.notMatch(r.stderr, /ALSA lib/, 'the noise is filtered');
    const json = await runCli(['devices', '--json'], env);
    t.equal(json.code, 0);
    const parsed = JSON.parse(json.stdout) as { audio: { name: string; maxInputChannels: number }[]; serial: unknown[] };
    t.match(parsed.audio, [{ name: 'fakemic', hostApi: 'ALSA' }]);
    t.ok(Array.isArray(parsed.serial));
  });
}

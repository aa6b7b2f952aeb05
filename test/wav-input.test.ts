import t from 'tap';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import wavefile from 'wavefile';
import { decodeWav, readWav, AudioInputError } from '../device/wav.js';
import { WavReplaySource } from '../device/file-source.js';
import { runCli } from './support/cli.js';
import { mulberry32 } from '../lib/seeded-random.js';

/** A stereo tone pair: 440 Hz on the left, 660 Hz on the right, so a swapped channel map is detectable. */
function stereoTone(rate: number, seconds: number, encode?: 'mulaw' | 'alaw'): Buffer {
  const n = Math.round(rate * seconds);
  const left = new Int16Array(n);
  const right = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    left[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate));
    right[i] = Math.round(8000 * Math.sin((2 * Math.PI * 660 * i) / rate));
  }
  const wav = new wavefile.WaveFile();
  wav.fromScratch(2, rate, '16', [left, right]);
  if (encode === 'mulaw') wav.toMuLaw();
  if (encode === 'alaw') wav.toALaw();
  return Buffer.from(wav.toBuffer());
}

function monoTone(rate: number, seconds: number, bits: '16' | '24' = '16'): Buffer {
  const n = Math.round(rate * seconds);
  const s = new Int32Array(n);
  for (let i = 0; i < n; i++) s[i] = Math.round((bits === '24' ? 2000000 : 8000) * Math.sin((2 * Math.PI * 440 * i) / rate));
  const wav = new wavefile.WaveFile();
  wav.fromScratch(1, rate, bits, s);
  return Buffer.from(wav.toBuffer());
}

/** Zero crossings per second on a channel tell its tone apart: 440 Hz gives ~880. */
function crossingsPerSec(samples: Float32Array, rate: number): number {
  let n = 0;
  for (let i = 1; i < samples.length; i++) if (samples[i - 1] < 0 !== samples[i] < 0) n++;
  return n / (samples.length / rate);
}

t.test('decodes every codec and rate a recorder writes, to 16 kHz', async (t) => {
  for (const rate of [8000, 16000, 44100, 48000]) {
    for (const encode of [undefined, 'mulaw', 'alaw'] as const) {
      const decoded = decodeWav(stereoTone(rate, 1, encode), `tone-${rate}-${encode ?? 'pcm'}.wav`, 16000);
      t.equal(decoded.sourceRate, rate, `source rate ${rate}`);
      t.equal(decoded.encoding, encode ?? 'pcm16');
      t.equal(decoded.channels.length, 2);
      t.ok(Math.abs(decoded.durationSec - 1) < 0.01, `duration kept at ${rate} Hz ${encode ?? 'pcm'}`);
      const [left, right] = decoded.channels;
      t.ok(Math.abs(crossingsPerSec(left, 16000) - 880) < 20, `left tone survives ${rate} ${encode ?? 'pcm'}`);
      t.ok(Math.abs(crossingsPerSec(right, 16000) - 1320) < 20, `right tone survives ${rate} ${encode ?? 'pcm'}`);
    }
  }
});

t.test('bad input: exit status 2 and one clear line naming the file', async (t) => {
  const dir = t.testdir({});
  const good = stereoTone(8000, 1);
  const dataAt = good.indexOf('data');
  const lying = Buffer.from(good);
  lying.writeUInt32LE(good.length * 4, dataAt + 4);
  const cases: Record<string, [Buffer, RegExp]> = {
    'not-a-wav.wav': [Buffer.from('ID3\u0003 this is an mp3, honest'), /not a WAV file/],
    'empty.wav': [Buffer.alloc(0), /empty file/],
    'truncated-header.wav': [good.subarray(0, 30), /truncated/],
    'truncated-data.wav': [good.subarray(0, dataAt + 8 + 1000), /header claims \d+ bytes of audio but only 1000 are present/],
    'lying-header.wav': [lying, /header claims \d+ bytes of audio but only \d+ are present/],
    'pcm24.wav': [monoTone(16000, 0.5, '24'), /unsupported codec: 24-bit PCM/],
    'rate-22050.wav': [stereoTone(22050, 0.5), /unsupported sample rate 22050 Hz/],
    'mono.wav': [monoTone(16000, 1), /mono recording where a stereo call/],
  };
  // A header that promises no audio at all, as a recorder writes when a call is dropped before it connects.
  const zero = Buffer.from(good.subarray(0, dataAt + 8));
  zero.writeUInt32LE(0, dataAt + 4);
  cases['zero-length.wav'] = [zero, /zero-length audio/];

  for (const [name, [bytes, reason]] of Object.entries(cases)) {
    const file = join(dir, name);
    writeFileSync(file, bytes);
    const result = await runCli(['analyze', file]);
    t.equal(result.code, 2, `${name}: exit 2`);
    const lines = result.stderr.trim().split('\n');
    t.equal(lines.length, 1, `${name}: one line, no stack trace (${result.stderr.trim()})`);
    t.match(lines[0], new RegExp(`^earshot: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `), `${name}: names the file`);
    t.match(lines[0], reason, `${name}: says why`);
  }
  const missing = await runCli(['analyze', join(dir, 'nope.wav')]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /nope\.wav: no such file/);
});

t.test('a direct decode error is typed, so callers can tell bad input from our bugs', async (t) => {
  t.throws(() => decodeWav(Buffer.from('RIFF'), 'x.wav', 16000), AudioInputError);
});

t.test('a recording is read as it is replayed, not whole: the same audio in any chunking, a file cut short mid-read refused', async (t) => {
  const dir = t.testdir({});
  const stereo = join(dir, 'stereo.wav');
  writeFileSync(stereo, stereoTone(8000, 7, 'mulaw'));
  const whole = await readWav(stereo, 16000);
  const random = mulberry32(7);
  const randomSize = () => 1 + Math.floor(random() * 9000);
  for (const chunkSamples of [1600, randomSize]) {
    const source = await WavReplaySource.open({ stereo, agentChannel: 'right' }, 16000, { chunkSamples });
    const agent: number[] = [];
    const customer: number[] = [];
    for await (const c of source.chunks()) agent.push(...c.agent), customer.push(...c.customer);
    t.same(Float32Array.from(agent), whole.channels[1], 'the agent side is the right channel, sample for sample');
    t.same(Float32Array.from(customer), whole.channels[0]);
  }

  // Two mono files of unequal length: the shorter side is silent at its end.
  const agentFile = join(dir, 'agent.wav');
  const customerFile = join(dir, 'customer.wav');
  writeFileSync(agentFile, monoTone(16000, 3));
  writeFileSync(customerFile, monoTone(16000, 2));
  const pair = await WavReplaySource.open({ agent: agentFile, customer: customerFile }, 16000, { chunkSamples: 5000 });
  t.equal(pair.durationSec, 3);
  let n = 0;
  let tail = 0;
  for await (const c of pair.chunks()) {
    t.equal(c.agent.length, c.customer.length, 'sides aligned');
    for (let i = 0; i < c.customer.length; i++) if (n + i >= 32000) tail = Math.max(tail, Math.abs(c.customer[i]));
    n += c.agent.length;
  }
  t.equal(n, 48000);
  t.equal(tail, 0, 'silence after the shorter file ends');

  // The header is checked on open; the audio is read only as it is needed. A file cut short after that is refused.
  const long = join(dir, 'long.wav');
  writeFileSync(long, stereoTone(8000, 30));
  const source = await WavReplaySource.open({ stereo: long }, 16000, { chunkSamples: 16000 });
  const it = source.chunks()[Symbol.asyncIterator]();
  await it.next();
  truncateSync(long, 8000 * 4 * 5);
  let failure: unknown;
  try {
    while (!(await it.next()).done);
  } catch (err) {
    failure = err;
  }
  t.type(failure, AudioInputError);
  t.match((failure as AudioInputError).reason, /truncated while reading/);
});

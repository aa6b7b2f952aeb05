import t from 'tap';
import { CAPTURE_RATE, concatSamples, InterleavedPcmFramer, LiveChunkQueue, PcmChannelReader, SidePairAligner } from '../device/pcm.js';
import { PIPELINE_RATE } from '../edge/analysis/pipeline.js';
import { mulberry32 } from '../lib/seeded-random.js';

/** Interleaved s16le with one function per channel giving sample i. */
function interleave(frames: number, channels: ((i: number) => number)[]): Buffer {
  const buf = Buffer.alloc(frames * channels.length * 2);
  for (let i = 0; i < frames; i++) channels.forEach((f, ch) => buf.writeInt16LE(f(i), (i * channels.length + ch) * 2));
  return buf;
}

const tone = (hz: number, rate: number, amp = 8000) => (i: number) => Math.round(amp * Math.sin((2 * Math.PI * hz * i) / rate));

/** Splits a buffer at sizes from a fixed pseudo-random sequence, including 1-byte and odd-sized pieces. */
function* pieces(buf: Buffer, seed = 7): Generator<Buffer> {
  const random = mulberry32(seed);
  for (let at = 0; at < buf.length; ) {
    const size = [1, 2, 3, 5, 7, 1023, 4097][Math.floor(random() * 7)];
    yield buf.subarray(at, Math.min(buf.length, at + size));
    at += size;
  }
}

/** Frequency from zero crossings, away from the resampler's start-up. */
function frequencyOf(x: Float32Array, rate: number): number {
  const from = Math.floor(x.length * 0.1);
  const to = Math.floor(x.length * 0.9);
  let crossings = 0;
  for (let i = from + 1; i < to; i++) if ((x[i - 1] < 0) !== (x[i] < 0)) crossings++;
  return (crossings / 2) * (rate / (to - from - 1));
}

t.test('the capture rate is the pipeline rate', async (t) => {
  t.equal(CAPTURE_RATE, PIPELINE_RATE);
});

t.test('frames and samples split across buffers come out whole and in order', async (t) => {
  const frames = 20000;
  const bytes = interleave(frames, [(i) => (i % 30000) - 15000, (i) => 15000 - (i % 30000)]);
  const framer = new InterleavedPcmFramer({ sampleRate: 16000, channels: 2, agentChannel: 0, customerChannel: 1 });
  const agent: Float32Array[] = [];
  const customer: Float32Array[] = [];
  let maxPending = 0;
  for (const piece of pieces(bytes)) {
    const out = framer.push(piece);
    t.equal(out.agent.length, out.customer.length, 'both sides the same length after every push');
    agent.push(out.agent);
    customer.push(out.customer);
    maxPending = Math.max(maxPending, framer.pendingBytes);
  }
  t.ok(maxPending > 0 && maxPending < 4, `an incomplete frame was held between pushes (up to ${maxPending} bytes)`);
  t.equal(framer.pendingBytes, 0);
  const a = concatSamples(agent);
  const c = concatSamples(customer);
  t.equal(a.length, frames);
  let wrong = 0;
  for (let i = 0; i < frames; i++) {
    if (Math.round(a[i] * 32768) !== (i % 30000) - 15000 || Math.round(c[i] * 32768) !== 15000 - (i % 30000)) wrong++;
  }
  t.equal(wrong, 0, 'every sample of both sides exact at 16 kHz');
  t.equal(framer.framesIn, frames);
});

t.test('the channel map picks the agent and the customer by index', async (t) => {
  const bytes = interleave(1000, [() => 100, () => 200, () => 300, () => 400]);
  const framer = new InterleavedPcmFramer({ sampleRate: 16000, channels: 4, agentChannel: 3, customerChannel: 1 });
  const { agent, customer } = framer.push(bytes);
  t.same([...new Set(agent)].map((x) => Math.round(x * 32768)), [400]);
  t.same([...new Set(customer)].map((x) => Math.round(x * 32768)), [200]);
  t.throws(() => new InterleavedPcmFramer({ sampleRate: 16000, channels: 2, agentChannel: 0, customerChannel: 0 }), /both on channel 0/);
  t.throws(() => new InterleavedPcmFramer({ sampleRate: 16000, channels: 2, agentChannel: 0, customerChannel: 2 }), /channel 2 does not exist in 2-channel/);
  t.throws(() => new PcmChannelReader({ sampleRate: 0, channels: 1 }, [0]), /sample rate/);
});

t.test('a fragment from a writer that went away is dropped, so the next writer stays aligned', async (t) => {
  const framer = new InterleavedPcmFramer({ sampleRate: 16000, channels: 2, agentChannel: 0, customerChannel: 1 });
  framer.push(interleave(10, [() => 1, () => 2]).subarray(0, 4 * 10 - 3));
  t.equal(framer.discardPartial(), 1);
  const { agent, customer } = framer.push(interleave(10, [() => 1000, () => -1000]));
  t.same([...new Set(agent)].map((x) => Math.round(x * 32768)), [1000]);
  t.same([...new Set(customer)].map((x) => Math.round(x * 32768)), [-1000]);
});

for (const rate of [8000, 44100, 48000]) {
  t.test(`${rate} Hz becomes 16 kHz: length and tone frequencies kept, sides not swapped`, async (t) => {
    const seconds = 2;
    const frames = rate * seconds;
    const bytes = interleave(frames, [tone(440, rate), tone(1000, rate)]);
    const framer = new InterleavedPcmFramer({ sampleRate: rate, channels: 2, agentChannel: 0, customerChannel: 1 });
    const agent: Float32Array[] = [];
    const customer: Float32Array[] = [];
    for (const piece of pieces(bytes, rate)) {
      const out = framer.push(piece);
      agent.push(out.agent);
      customer.push(out.customer);
    }
    const tail = framer.end();
    agent.push(tail.agent);
    customer.push(tail.customer);
    const a = concatSamples(agent);
    const c = concatSamples(customer);
    t.equal(a.length, c.length);
    t.ok(Math.abs(a.length - 16000 * seconds) <= 16, `${a.length} samples for ${seconds} s`);
    const fa = frequencyOf(a, 16000);
    const fc = frequencyOf(c, 16000);
    t.ok(Math.abs(fa - 440) < 440 * 0.01, `agent tone ${fa.toFixed(1)} Hz`);
    t.ok(Math.abs(fc - 1000) < 1000 * 0.01, `customer tone ${fc.toFixed(1)} Hz`);
    const rms = Math.sqrt(a.slice(1000, -1000).reduce((s, x) => s + x * x, 0) / (a.length - 2000));
    t.ok(Math.abs(rms - 8000 / 32768 / Math.SQRT2) < 0.02, `level kept (rms ${rms.toFixed(3)})`);
  });
}

t.test('two mono streams are paired sample by sample; only what both have comes out', async (t) => {
  const aligner = new SidePairAligner();
  const ramp = (from: number, n: number) => Float32Array.from({ length: n }, (_, i) => from + i);
  aligner.push('agent', ramp(0, 100));
  t.equal(aligner.take(), null, 'nothing until the customer side has audio');
  aligner.push('customer', ramp(1000, 30));
  aligner.push('customer', ramp(1030, 50));
  let pair = aligner.take();
  t.same([...pair!.agent], [...ramp(0, 80)]);
  t.same([...pair!.customer], [...ramp(1000, 80)]);
  t.equal(aligner.backlog('agent'), 20);
  t.equal(aligner.backlog('customer'), 0);
  t.equal(aligner.dropOldest('agent', 5), 5);
  aligner.push('customer', ramp(1080, 40));
  pair = aligner.take();
  t.same([...pair!.agent], [...ramp(85, 15)]);
  t.same([...pair!.customer], [...ramp(1080, 15)]);
  t.equal(aligner.backlog('customer'), 25);
});

t.test('the chunk queue stamps t0 and capturedAt, shows drops as a gap, and ends or fails after queued audio', async (t) => {
  const q = new LiveChunkQueue(16000);
  const pair = (n: number) => ({ agent: new Float32Array(n), customer: new Float32Array(n) });
  q.push(pair(1600), 111);
  q.drop(800);
  q.push(pair(1600), 222);
  q.fail(new Error('gone'));
  q.push(pair(1600), 333);
  const seen: [number, number | undefined][] = [];
  await t.rejects(
    (async () => {
      for await (const c of q) seen.push([c.t0, c.capturedAt]);
    })(),
    /gone/,
  );
  t.same(seen, [
    [0, 111],
    [0.15, 222],
  ]);
  t.equal(q.droppedSamples, 800);

  const ended = new LiveChunkQueue(16000);
  setTimeout(() => {
    ended.push(pair(160));
    ended.end();
  }, 20);
  let n = 0;
  for await (const c of ended) n += c.agent.length;
  t.equal(n, 160, 'a reader waiting for audio gets it, then the end');
  t.throws(() => new LiveChunkQueue().push({ agent: new Float32Array(2), customer: new Float32Array(3) }), /unaligned/);
});

t.test('a paced queue releases audio no faster than real time', async (t) => {
  const q = new LiveChunkQueue(16000, { paced: true });
  for (let i = 0; i < 5; i++) q.push({ agent: new Float32Array(1600), customer: new Float32Array(1600) });
  q.end();
  const started = Date.now();
  for await (const _ of q) void _;
  const ms = Date.now() - started;
  t.ok(ms >= 450 && ms < 1500, `0.5 s of audio took ${ms} ms`);
});

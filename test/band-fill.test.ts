// Which sides the speech models hear with the line's noise carried into the upper band, and how loud: real
// narrowband speech (a bundled 8 kHz call, on a line made noisy at 8 kHz) and real wideband speech (a 16 kHz
// Mandarin clip from ../shared).
import t from 'tap';
import path from 'node:path';
import { readWav } from '../device/wav.js';
import { resample } from '../device/resample.js';
import { meanPower } from '../device/pcm.js';
import { NarrowbandFill } from '../edge/analysis/band-fill.js';
import { powerToDb } from '../edge/analysis/prosody.js';
import { FRAME_SAMPLES, PIPELINE_RATE } from '../edge/analysis/pipeline.js';
import { repoRoot } from './support/cli.js';
import { mulberry32 } from '../lib/seeded-random.js';

const shared = process.env.EARSHOT_SHARED ?? path.resolve(repoRoot, '..', 'shared');

const rmsDb = (x: Float32Array) => powerToDb(meanPower(x));

/** Every frame of a side through a fill, loud ones as speech to the VAD and quiet ones as none. */
function feed(samples: Float32Array, fill: NarrowbandFill): { fill: NarrowbandFill; frames: Float32Array[]; heard: Float32Array[]; speech: boolean[] } {
  const out = { fill, frames: [] as Float32Array[], heard: [] as Float32Array[], speech: [] as boolean[] };
  for (let at = 0; at + FRAME_SAMPLES <= samples.length; at += FRAME_SAMPLES) {
    const frame = samples.subarray(at, at + FRAME_SAMPLES);
    const speech = rmsDb(frame) > -40;
    out.frames.push(frame);
    out.speech.push(speech);
    out.heard.push(fill.apply(frame, speech ? 0.9 : 0.05));
  }
  return out;
}

/** The demo call's agent side on a line with white noise at `noiseDbfs`, added at 8 kHz as the trunk would. */
async function noisyLine(noiseDbfs: number): Promise<Float32Array> {
  const call = await readWav(path.join(repoRoot, 'demo', 'demo-call.wav'), 8000);
  if (call.sourceRate !== 8000) throw new Error(`demo-call.wav is ${call.sourceRate} Hz: the narrowband tests need an 8 kHz call`);
  const random = mulberry32(7);
  const amplitude = Math.sqrt(3) * 10 ** (noiseDbfs / 20);
  const line = call.channels[0].map((x) => x + amplitude * (2 * random() - 1));
  return resample(line, 8000, PIPELINE_RATE);
}

t.test('a narrowband side on a noisy line is heard with white noise 10 dB under the line noise', async (t) => {
  const side = await noisyLine(-40);
  const fill = new NarrowbandFill(PIPELINE_RATE, FRAME_SAMPLES, -10, 1);
  const { frames, heard, speech } = feed(side, fill);
  t.equal(fill.isNarrowband, true, 'judged narrowband');
  const added = Float32Array.from(heard.slice(-200).flatMap((h, i) => Array.from(h, (x, j) => x - frames[frames.length - 200 + i][j])));
  // The line noise, upsampled, keeps its power: -40 dBFS; where nobody speaks the frames are that noise.
  t.ok(Math.abs(rmsDb(added) + 50) < 1.5, `the noise added is at -50 dBFS (${rmsDb(added).toFixed(2)})`);
  t.ok(speech.some((s) => s) && speech.some((s) => !s), 'the side has speech and pauses');
  const again = feed(side, new NarrowbandFill(PIPELINE_RATE, FRAME_SAMPLES, -10, 1)).heard;
  t.same(again[300], heard[300], 'the same call gets the same noise: analysed twice, it is analysed the same');
  const off = feed(side, new NarrowbandFill(PIPELINE_RATE, FRAME_SAMPLES, null, 1));
  t.ok(off.heard.every((h, i) => h === off.frames[i]), 'with the fill off, the frames go through as they are');
  t.equal(off.fill.isNarrowband, true, 'and the side is still judged narrowband (the index says so)');
});

t.test('on a quieter line the fill is as much quieter', async (t) => {
  const fill = new NarrowbandFill(PIPELINE_RATE, FRAME_SAMPLES, -10, 1);
  feed(await noisyLine(-60), fill);
  t.ok(Math.abs((fill.fillDbfs ?? 0) + 70) < 1.5, `filled at ${fill.fillDbfs?.toFixed(1)} dBFS`);
});

t.test('a wideband side (16 kHz speech) goes through untouched', async (t) => {
  const clip = await readWav(path.join(shared, 'audio', 'zh-real', '1.wav'), PIPELINE_RATE);
  t.equal(clip.sourceRate, 16000);
  const fill = new NarrowbandFill(PIPELINE_RATE, FRAME_SAMPLES, -10, 1);
  const { frames, heard, speech } = feed(clip.channels[0], fill);
  t.equal(fill.isNarrowband, false, 'judged wideband');
  t.ok(speech.some((s) => s), 'it spoke');
  t.ok(heard.every((h, i) => h === frames[i]), 'not one frame touched');
});

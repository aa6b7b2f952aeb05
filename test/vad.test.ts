import t from 'tap';
import path from 'node:path';
import { readWav } from '../device/wav.js';
import { VAD_FRAME } from '../models/vad.js';
import { repoRoot } from './support/cli.js';
import { sharedVad } from './support/analysis.js';

async function probabilities(stream: { probability(f: Float32Array): Promise<number> }, audio: Float32Array): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i + VAD_FRAME <= audio.length; i += VAD_FRAME) out.push(await stream.probability(audio.subarray(i, i + VAD_FRAME)));
  return out;
}

t.test('VAD skips the model through long quiet and hears speech after it as before', async (t) => {
  const vad = await sharedVad();
  // The agent side of the bundled call opens with speech at 0.45 s.
  const agent = (await readWav(path.join(repoRoot, 'demo', 'demo-call.wav'), 16000)).channels[0]!.subarray(0, 16000 * 4);
  const quietSec = 5;
  const quiet = new Float32Array(16000 * quietSec);
  // Line hiss at -50 dBFS: above the quiet floor, so the model hears every frame of it.
  const hiss = Float32Array.from(quiet, (_, i) => 0.0032 * Math.sin(i * 1.7) * Math.sin(i * 0.37));
  const withQuiet = new Float32Array(quiet.length + agent.length);
  withQuiet.set(agent, quiet.length);
  const withHiss = new Float32Array(hiss.length + agent.length);
  withHiss.set(hiss);
  withHiss.set(agent, hiss.length);

  const skipping = vad.createStream();
  const hearing = vad.createStream();
  const a = await probabilities(skipping, withQuiet);
  const b = await probabilities(hearing, withHiss);
  const quietFrames = Math.floor(quiet.length / VAD_FRAME);
  t.ok(skipping.skippedFrames >= quietFrames - 40, `the model was skipped for ${skipping.skippedFrames} of ${quietFrames} quiet frames`);
  t.equal(hearing.skippedFrames, 0, 'line hiss is heard, not skipped');
  const speechA = a.slice(quietFrames);
  const speechB = b.slice(quietFrames);
  t.ok(Math.max(...speechA) > 0.8, 'speech after the quiet is detected');
  const frameDecisions = (p: number[]) => p.map((x) => x >= 0.5);
  const disagree = frameDecisions(speechA).filter((d, i) => d !== frameDecisions(speechB)[i]).length;
  t.ok(disagree <= 2, `speech/no-speech per frame agrees with a model that heard everything (${disagree} of ${speechA.length} frames differ)`);
});

import t from 'tap';
import { SpeechSegmenter } from '../edge/analysis/segmenter.js';
import { defaultConfig } from '../provisioning/config.js';

const FRAME = 0.032;
const vad = { ...defaultConfig().analysis.vad, minSpeechSec: 0.16, minPauseSec: 0.32, padSec: 0.032 };

/** Renders decisions as a string so a failing assertion shows the whole timeline. */
function decide(probabilities: number[]): string {
  const seg = new SpeechSegmenter(vad, FRAME);
  const out: boolean[] = [];
  for (const p of probabilities) out.push(...seg.push(p));
  out.push(...seg.flush());
  return out.map((s) => (s ? '#' : '.')).join('');
}
const probs = (pattern: string) => [...pattern].map((c) => (c === '#' ? 0.9 : c === '~' ? 0.4 : 0.05));

t.test('one decision per frame, none lost or invented', async (t) => {
  for (const pattern of ['', '#', '.', '..##########....###.....', '#'.repeat(50), '.#.#.#.#.#..##']) {
    t.equal(decide(probs(pattern)).length, pattern.length, `length kept for "${pattern}"`);
  }
});

t.test('a pause shorter than minPause stays inside the utterance', async (t) => {
  //            speech 10, pause 5 (< 10 frames), speech 10
  t.equal(decide(probs('..##########.....##########.....')), '.###########################....');
});

t.test('a long pause splits utterances', async (t) => {
  t.equal(decide(probs('..##########............##########..')), '.############..........############.');
});

t.test('a click shorter than minSpeech is not speech', async (t) => {
  t.equal(decide(probs('.....###..........')), '..................');
});

t.test('hysteresis: a dip to 0.4 does not end speech, a start needs 0.5', async (t) => {
  t.equal(decide(probs('..#####~~~~#####~~~~......')), '.####################.....');
  t.equal(decide(probs('..~~~~~~~~..')), '............');
});

t.test('no pause-filling before the first words: leading quiet is quiet', async (t) => {
  t.equal(decide(probs('..########')), '.#########');
});

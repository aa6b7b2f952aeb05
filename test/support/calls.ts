// Renders test/calls/<name>.yml on demand and caches the result under .cache/calls/
// (make-call's renderCached, keyed by the script text and generator version), so test
// runs after the first reuse the audio instead of running TTS again.

import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import wavefile from 'wavefile';
import { readWav as readCallWav } from '../../device/wav.js';
import { PIPELINE_RATE } from '../../edge/analysis/pipeline.js';
import { parseCallScript, readWav, renderCached, type CallTruth, type RenderedCall, type Speaker } from '../../scripts/make-call.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CALLS_DIR = path.join(REPO, 'test/calls');
const CACHE_DIR = path.join(REPO, '.cache/calls');

export async function renderCallByName(name: string): Promise<RenderedCall> {
  const file = path.join(CALLS_DIR, `${name}.yml`);
  const text = await readFile(file, 'utf8');
  return renderCached(parseCallScript(parseYaml(text), file), { dir: CACHE_DIR, label: name, keyText: text });
}

/** The agent and customer tracks of a rendered call, whichever layout it was written in. */
export function callTracks(call: RenderedCall): { sampleRate: number; tracks: Record<Speaker, Float32Array> } {
  if (call.wav) {
    const { sampleRate, channels } = readWav(call.wav);
    return { sampleRate, tracks: { agent: channels[0], customer: channels[1] } };
  }
  const agent = readWav(call.agentWav!);
  const customer = readWav(call.customerWav!);
  return { sampleRate: agent.sampleRate, tracks: { agent: agent.channels[0], customer: customer.channels[0] } };
}

/** RMS level in dBFS of samples [from, to) seconds. */
export function rmsDb(track: Float32Array, sampleRate: number, from: number, to: number): number {
  const a = Math.max(0, Math.round(from * sampleRate));
  const b = Math.min(track.length, Math.round(to * sampleRate));
  let sum = 0;
  for (let i = a; i < b; i++) sum += track[i] * track[i];
  return 10 * Math.log10(sum / Math.max(1, b - a) + 1e-20);
}

/** Peak level in dBFS of samples [from, to) seconds. */
export function peakDb(track: Float32Array, sampleRate: number, from: number, to: number): number {
  const a = Math.max(0, Math.round(from * sampleRate));
  const b = Math.min(track.length, Math.round(to * sampleRate));
  let peak = 0;
  for (let i = a; i < b; i++) peak = Math.max(peak, Math.abs(track[i]));
  return 20 * Math.log10(peak + 1e-20);
}

/** Stretches of [0, duration) where `speaker` is silent according to the truth. */
export function idleSpans(truth: CallTruth, speaker: Speaker): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  let t = 0;
  for (const turn of truth.turns.filter((x) => x.channel === speaker)) {
    if (turn.start > t) spans.push([t, turn.start]);
    t = Math.max(t, turn.end);
  }
  if (truth.durationSec > t) spans.push([t, truth.durationSec]);
  return spans;
}

/** The first `sec` seconds of the bundled invest call as a 16 kHz stereo WAV in `dir`: the agent's "guaranteed return" (a critical alert) is at 0:07.9. */
export async function demoCallOpening(dir: string, sec: number): Promise<string> {
  const wav = await readCallWav(path.join(REPO, 'demo', 'demo-invest-en.wav'), PIPELINE_RATE);
  return writeStereo16k(path.join(dir, 'short.wav'), wav.channels.map((x) => x.subarray(0, sec * PIPELINE_RATE)));
}

/** Two tracks as a 16 kHz 16-bit stereo WAV, after `leadSec` of silence (which moves the speech against the models' chunks). */
export function writeStereo16k(file: string, channels: readonly Float32Array[], leadSec = 0): string {
  const lead = Math.round(leadSec * PIPELINE_RATE);
  const toInt = (x: Float32Array) => {
    const out = new Int16Array(lead + x.length);
    x.forEach((v, i) => (out[lead + i] = Math.round(Math.max(-1, Math.min(1, v)) * 32767)));
    return out;
  };
  const out = new wavefile.WaveFile();
  out.fromScratch(2, PIPELINE_RATE, '16', channels.map(toInt));
  writeFileSync(file, out.toBuffer());
  return file;
}

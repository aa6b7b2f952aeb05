// WAV files as the speech engines want them: 16 kHz mono float in [-1, 1].
// For tests, benchmarks and `analyze` on files; live capture converts its own frames.

import { readFile } from 'node:fs/promises';
import wavefile from 'wavefile';
import { SAMPLE_RATE } from './sherpa.js';

const WAVE_FORMAT_ALAW = 6;
const WAVE_FORMAT_MULAW = 7;

export async function readWav16kMono(file: string): Promise<Float32Array> {
  const wav = new wavefile.WaveFile(await readFile(file));
  const fmt = wav.fmt as { sampleRate: number; numChannels: number; audioFormat: number };
  // Call recordings are often G.711; expand to linear PCM before anything else touches the samples.
  if (fmt.audioFormat === WAVE_FORMAT_MULAW) wav.fromMuLaw();
  else if (fmt.audioFormat === WAVE_FORMAT_ALAW) wav.fromALaw();
  // Float first, so resampling does not requantise to the source bit depth.
  wav.toBitDepth('32f');
  if (fmt.sampleRate !== SAMPLE_RATE) wav.toSampleRate(SAMPLE_RATE);
  const raw = wav.getSamples(false, Float32Array) as unknown as Float32Array | Float32Array[];
  const channels = Array.isArray(raw) ? raw : [raw];
  if (channels.length === 1) return channels[0]!;
  const out = new Float32Array(channels[0]!.length);
  for (const ch of channels) for (let i = 0; i < out.length; i++) out[i]! += ch[i]! / channels.length;
  return out;
}

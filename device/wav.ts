import { readFile } from 'node:fs/promises';
import wavefile from 'wavefile';
import { InputError } from '../lib/errors.js';
import { resample } from './resample.js';

/** Rates a telephony recorder or headset realistically hands us; anything else is more likely a mistake. */
export const SUPPORTED_RATES = [8000, 16000, 44100, 48000] as const;

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_ALAW = 6;
const WAVE_FORMAT_MULAW = 7;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

export type WavEncoding = 'pcm16' | 'mulaw' | 'alaw';

/** A problem with an input file that the user can fix; the CLI prints it as `earshot: <file>: <reason>`. */
export class AudioInputError extends InputError {
  constructor(readonly file: string, readonly reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'AudioInputError';
  }
}

export interface DecodedWav {
  file: string;
  encoding: WavEncoding;
  /** Rate of the file as recorded, before any resampling. */
  sourceRate: number;
  /** Rate of `channels`. */
  sampleRate: number;
  /** One Float32Array per channel, samples in [-1, 1]. */
  channels: Float32Array[];
  durationSec: number;
}

function encodingOf(format: number, bits: number, file: string): WavEncoding {
  if (format === WAVE_FORMAT_MULAW && bits === 8) return 'mulaw';
  if (format === WAVE_FORMAT_ALAW && bits === 8) return 'alaw';
  // WAVE_FORMAT_EXTENSIBLE is what sox and many recorders write for plain PCM with more than two channels or >16 bits.
  if ((format === WAVE_FORMAT_PCM || format === WAVE_FORMAT_EXTENSIBLE) && bits === 16) return 'pcm16';
  const name =
    format === WAVE_FORMAT_PCM || format === WAVE_FORMAT_EXTENSIBLE
      ? `${bits}-bit PCM`
      : format === 3
        ? `${bits}-bit float`
        : `format code ${format} at ${bits} bits`;
  throw new AudioInputError(file, `unsupported codec: ${name} (Earshot reads 16-bit PCM, 8-bit G.711 mu-law and A-law)`);
}

/**
 * wavefile trusts the header; a recorder that crashed mid-call leaves a header whose sizes lie. Those calls
 * must be rejected with a reason rather than analysed as if the missing audio were silence.
 */
function checkSizes(buffer: Buffer, file: string): void {
  if (buffer.length === 0) throw new AudioInputError(file, 'empty file (zero bytes)');
  if (buffer.length < 12 || buffer.toString('ascii', 0, 4) !== 'RIFF' || buffer.toString('ascii', 8, 12) !== 'WAVE') {
    const head = buffer.toString('ascii', 0, 4);
    if (head === 'RIFX' || head === 'RF64') throw new AudioInputError(file, `unsupported WAV container ${head}`);
    throw new AudioInputError(file, 'not a WAV file (no RIFF/WAVE header)');
  }
  let offset = 12;
  let sawFmt = false;
  while (offset + 8 <= buffer.length) {
    const id = buffer.toString('ascii', offset, offset + 4);
    const size = buffer.readUInt32LE(offset + 4);
    const bodyStart = offset + 8;
    if (id === 'fmt ') sawFmt = true;
    if (id === 'data') {
      if (!sawFmt) throw new AudioInputError(file, 'truncated or malformed header: data chunk before fmt chunk');
      const available = buffer.length - bodyStart;
      if (size > available) {
        throw new AudioInputError(
          file,
          `header claims ${size} bytes of audio but only ${available} are present (truncated file or lying header)`,
        );
      }
      if (size === 0) throw new AudioInputError(file, 'zero-length audio (data chunk is empty)');
      return;
    }
    offset = bodyStart + size + (size % 2);
  }
  throw new AudioInputError(file, sawFmt ? 'truncated: no data chunk after the header' : 'truncated header: no fmt chunk');
}

/** Decodes a WAV to float channels at `targetRate` (the pipeline's rate). */
export function decodeWav(buffer: Buffer, file: string, targetRate: number): DecodedWav {
  checkSizes(buffer, file);
  let wav: InstanceType<typeof wavefile.WaveFile>;
  try {
    wav = new wavefile.WaveFile(buffer);
  } catch (err) {
    throw new AudioInputError(file, `malformed WAV: ${(err as Error).message}`);
  }
  const fmt = wav.fmt as { audioFormat: number; numChannels: number; sampleRate: number; bitsPerSample: number };
  const encoding = encodingOf(fmt.audioFormat, fmt.bitsPerSample, file);
  const sourceRate = fmt.sampleRate;
  if (!(SUPPORTED_RATES as readonly number[]).includes(sourceRate)) {
    throw new AudioInputError(
      file,
      `unsupported sample rate ${sourceRate} Hz (supported: ${SUPPORTED_RATES.join(', ')} Hz)`,
    );
  }
  if (fmt.numChannels < 1 || fmt.numChannels > 2) {
    throw new AudioInputError(file, `${fmt.numChannels} channels; Earshot reads mono or stereo`);
  }
  if (encoding === 'mulaw') wav.fromMuLaw();
  if (encoding === 'alaw') wav.fromALaw();
  const raw = wav.getSamples(false, Float64Array) as unknown as Float64Array | Float64Array[];
  const perChannel = fmt.numChannels === 1 ? [raw as Float64Array] : (raw as Float64Array[]);
  const channels = perChannel.map((ch) => {
    const out = new Float32Array(ch.length);
    for (let i = 0; i < ch.length; i++) out[i] = ch[i] / 32768;
    return resample(out, sourceRate, targetRate);
  });
  const length = channels[0]?.length ?? 0;
  if (length === 0) throw new AudioInputError(file, 'zero-length audio');
  return { file, encoding, sourceRate, sampleRate: targetRate, channels, durationSec: length / targetRate };
}

export async function readWav(file: string, targetRate: number): Promise<DecodedWav> {
  let buffer: Buffer;
  try {
    buffer = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new AudioInputError(file, reason);
  }
  return decodeWav(buffer, file, targetRate);
}

/** Speech engines that hear one voice at a time want mono; averaging keeps the level of a mono source. */
export function mixToMono(channels: Float32Array[]): Float32Array {
  if (channels.length === 1) return channels[0];
  const out = new Float32Array(channels[0].length);
  for (const ch of channels) for (let i = 0; i < out.length; i++) out[i] += ch[i] / channels.length;
  return out;
}

/** A whole file as 16 kHz mono, for tests and benchmarks that feed one recogniser. */
export async function readMono16k(file: string): Promise<Float32Array> {
  return mixToMono((await readWav(file, 16000)).channels);
}

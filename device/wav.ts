import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import wavefile from 'wavefile';
import { InputError } from '../lib/errors.js';
import { concatSamples } from './pcm.js';
import { StreamResampler } from './resample.js';

/** Rates a telephony recorder or headset realistically hands us; anything else is more likely a mistake. */
export const SUPPORTED_RATES = [8000, 16000, 44100, 48000] as const;

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_ALAW = 6;
const WAVE_FORMAT_MULAW = 7;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/** Chunks before the audio (fmt, LIST, bext...) are a few hundred bytes; more than this is not a recording. */
const MAX_HEADER_BYTES = 1 << 20;
/** Audio read from the file at a time: memory stays the same whatever the length of the call. */
const BLOCK_SEC = 1;

export type WavEncoding = 'pcm16' | 'mulaw' | 'alaw';

/** A problem with an input file that the user can fix; the CLI prints it as `earshot: <file>: <reason>`. */
export class AudioInputError extends InputError {
  constructor(readonly file: string, readonly reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'AudioInputError';
  }
}

/** What the header says, checked against the file: everything needed to read the audio a block at a time. */
export interface WavFormat {
  file: string;
  encoding: WavEncoding;
  /** Rate of the file as recorded, before any resampling. */
  sourceRate: number;
  channels: number;
  /** Where the audio starts in the file, and how many bytes of it there are. */
  dataOffset: number;
  dataBytes: number;
  /** Bytes per frame (one sample of every channel). */
  blockAlign: number;
  durationSec: number;
}

export interface DecodedWav {
  file: string;
  encoding: WavEncoding;
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

/** Reads `length` bytes at `offset` (fewer at the end of the file). */
type ReadAt = (offset: number, length: number) => Buffer;

/**
 * Walks the RIFF chunks up to the audio. wavefile trusts the header; a recorder that crashed mid-call leaves
 * a header whose sizes lie, and those calls must be rejected with a reason rather than analysed as if the
 * missing audio were silence. Returns the bytes before the audio and where the audio is.
 */
function locateData(readAt: ReadAt, size: number, file: string): { head: Buffer; dataOffset: number; dataBytes: number } {
  if (size === 0) throw new AudioInputError(file, 'empty file (zero bytes)');
  const riff = readAt(0, 12);
  if (riff.length < 12 || riff.toString('ascii', 0, 4) !== 'RIFF' || riff.toString('ascii', 8, 12) !== 'WAVE') {
    const head = riff.toString('ascii', 0, 4);
    if (head === 'RIFX' || head === 'RF64') throw new AudioInputError(file, `unsupported WAV container ${head}`);
    throw new AudioInputError(file, 'not a WAV file (no RIFF/WAVE header)');
  }
  let offset = 12;
  let sawFmt = false;
  while (offset + 8 <= size) {
    const chunk = readAt(offset, 8);
    const id = chunk.toString('ascii', 0, 4);
    const chunkSize = chunk.readUInt32LE(4);
    const bodyStart = offset + 8;
    if (id === 'fmt ') sawFmt = true;
    if (id === 'data') {
      if (!sawFmt) throw new AudioInputError(file, 'truncated or malformed header: data chunk before fmt chunk');
      const available = size - bodyStart;
      if (chunkSize > available) {
        throw new AudioInputError(file, `header claims ${chunkSize} bytes of audio but only ${available} are present (truncated file or lying header)`);
      }
      if (chunkSize === 0) throw new AudioInputError(file, 'zero-length audio (data chunk is empty)');
      return { head: readAt(0, bodyStart), dataOffset: bodyStart, dataBytes: chunkSize };
    }
    offset = bodyStart + chunkSize + (chunkSize % 2);
    if (offset > MAX_HEADER_BYTES) throw new AudioInputError(file, `malformed header: no audio in the first ${MAX_HEADER_BYTES} bytes`);
  }
  throw new AudioInputError(file, sawFmt ? 'truncated: no data chunk after the header' : 'truncated header: no fmt chunk');
}

/** The format, from the header bytes (read by wavefile) and the audio's place in the file. */
function formatOf(readAt: ReadAt, size: number, file: string): WavFormat {
  const { head, dataOffset, dataBytes } = locateData(readAt, size, file);
  const wav = new wavefile.WaveFile();
  try {
    // The samples are not loaded: they are read a block at a time.
    wav.fromBuffer(head, false);
  } catch (err) {
    throw new AudioInputError(file, `malformed WAV: ${(err as Error).message}`);
  }
  const fmt = wav.fmt as { audioFormat: number; numChannels: number; sampleRate: number; bitsPerSample: number };
  const encoding = encodingOf(fmt.audioFormat, fmt.bitsPerSample, file);
  const sourceRate = fmt.sampleRate;
  if (!(SUPPORTED_RATES as readonly number[]).includes(sourceRate)) {
    throw new AudioInputError(file, `unsupported sample rate ${sourceRate} Hz (supported: ${SUPPORTED_RATES.join(', ')} Hz)`);
  }
  if (fmt.numChannels < 1 || fmt.numChannels > 2) {
    throw new AudioInputError(file, `${fmt.numChannels} channels; Earshot reads mono or stereo`);
  }
  const blockAlign = fmt.numChannels * (encoding === 'pcm16' ? 2 : 1);
  const frames = Math.floor(dataBytes / blockAlign);
  if (frames === 0) throw new AudioInputError(file, 'zero-length audio');
  return { file, encoding, sourceRate, channels: fmt.numChannels, dataOffset, dataBytes: frames * blockAlign, blockAlign, durationSec: frames / sourceRate };
}

/** G.711 byte → 16-bit sample, decoded once by wavefile's own codecs for all 256 bytes. */
function g711Table(law: 'mulaw' | 'alaw'): Float32Array {
  const wav = new wavefile.WaveFile();
  wav.fromScratch(1, 8000, law === 'mulaw' ? '8m' : '8a', Uint8Array.from({ length: 256 }, (_, i) => i));
  if (law === 'mulaw') wav.fromMuLaw();
  else wav.fromALaw();
  const samples = wav.getSamples(false, Float64Array) as unknown as Float64Array;
  return Float32Array.from(samples, (s) => s / 32768);
}
const G711 = { mulaw: g711Table('mulaw'), alaw: g711Table('alaw') };

/** Whole frames of the file's bytes → one float array per channel, at the file's rate. */
function deinterleave(bytes: Buffer, format: WavFormat): Float32Array[] {
  const frames = Math.floor(bytes.length / format.blockAlign);
  const out = Array.from({ length: format.channels }, () => new Float32Array(frames));
  if (format.encoding === 'pcm16') {
    for (let c = 0; c < format.channels; c++) {
      const ch = out[c];
      for (let f = 0, at = c * 2; f < frames; f++, at += format.blockAlign) ch[f] = bytes.readInt16LE(at) / 32768;
    }
  } else {
    const table = G711[format.encoding];
    for (let c = 0; c < format.channels; c++) {
      const ch = out[c];
      for (let f = 0, at = c; f < frames; f++, at += format.blockAlign) ch[f] = table[bytes[at]];
    }
  }
  return out;
}

/**
 * A WAV file open for reading: the header is checked on open (a file that cannot be used is refused before
 * anything else happens), then the audio is read a block at a time, resampled to the rate asked for.
 */
export class WavReader {
  private closed = false;

  private constructor(
    readonly format: WavFormat,
    private readonly readAt: ReadAt,
    private readonly release: () => void,
  ) {}

  /** Closes the file; reading after it is an error. Called by blocks() when its iteration ends. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
  }

  static open(file: string): WavReader {
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (err) {
      throw new AudioInputError(file, ioReason(err));
    }
    try {
      const st = fstatSync(fd);
      if (st.isDirectory()) throw new AudioInputError(file, 'is a directory');
      const readAt: ReadAt = (offset, length) => {
        const buf = Buffer.allocUnsafe(length);
        let got = 0;
        while (got < length) {
          const n = readSync(fd, buf, got, length - got, offset + got);
          if (n === 0) break;
          got += n;
        }
        return got < length ? buf.subarray(0, got) : buf;
      };
      return new WavReader(formatOf(readAt, st.size, file), readAt, () => closeSync(fd));
    } catch (err) {
      closeSync(fd);
      if (err instanceof AudioInputError) throw err;
      throw new AudioInputError(file, ioReason(err));
    }
  }

  /** A file already in memory (tests, and callers that were handed the bytes). */
  static fromBuffer(buffer: Buffer, file: string): WavReader {
    const readAt: ReadAt = (offset, length) => buffer.subarray(offset, offset + length);
    return new WavReader(formatOf(readAt, buffer.length, file), readAt, () => undefined);
  }

  /**
   * The audio in blocks of about `BLOCK_SEC`, one array per channel at `targetRate`; the file is closed when
   * the iteration ends, however it ends. A file cut short while it is read is an AudioInputError.
   */
  *blocks(targetRate: number): Generator<Float32Array[]> {
    const { format } = this;
    if (this.closed) throw new Error(`${format.file}: read after close`);
    const resamplers = Array.from({ length: format.channels }, () => new StreamResampler(format.sourceRate, targetRate));
    const blockBytes = Math.max(1, Math.round(BLOCK_SEC * format.sourceRate)) * format.blockAlign;
    try {
      for (let at = 0; at < format.dataBytes; at += blockBytes) {
        const want = Math.min(blockBytes, format.dataBytes - at);
        const bytes = this.readAt(format.dataOffset + at, want);
        if (bytes.length < want) {
          throw new AudioInputError(format.file, `truncated while reading: ${format.dataOffset + at + bytes.length} bytes, the header promised ${format.dataOffset + format.dataBytes}`);
        }
        const last = at + want >= format.dataBytes;
        yield deinterleave(bytes, format).map((x, c) => (last ? resamplers[c].end(x) : resamplers[c].push(x)));
      }
    } finally {
      this.close();
    }
  }

  /** The whole file at once: for short clips and tests. A call is read with blocks(). */
  readAll(targetRate: number): DecodedWav {
    const parts: Float32Array[][] = Array.from({ length: this.format.channels }, () => []);
    for (const block of this.blocks(targetRate)) block.forEach((x, c) => parts[c].push(x));
    const channels = parts.map((p) => concatSamples(p));
    const length = channels[0]?.length ?? 0;
    if (length === 0) throw new AudioInputError(this.format.file, 'zero-length audio');
    const { file, encoding, sourceRate } = this.format;
    return { file, encoding, sourceRate, sampleRate: targetRate, channels, durationSec: length / targetRate };
  }
}

function ioReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
}

/** Decodes a WAV held in memory to float channels at `targetRate` (the pipeline's rate). */
export function decodeWav(buffer: Buffer, file: string, targetRate: number): DecodedWav {
  return WavReader.fromBuffer(buffer, file).readAll(targetRate);
}

/** A whole file, decoded: for short clips. A call is read block by block (WavReader). */
export async function readWav(file: string, targetRate: number): Promise<DecodedWav> {
  return WavReader.open(file).readAll(targetRate);
}

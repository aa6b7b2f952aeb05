// naudiodon (PortAudio) as this package uses it: loading it only when a line captures, one PortAudio call at
// a time, and finding an input device by the name or index an installer wrote.
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { serialQueue } from '../lib/queue.js';
import { CaptureError } from './capture.js';

/** A device as an installer names it in earshot.yml: its PortAudio index, or (part of) its name. */
export type AudioDeviceRef = string | number;

/** One entry of naudiodon's getDevices(). */
export interface PortAudioDeviceInfo {
  id: number;
  name: string;
  maxInputChannels: number;
  maxOutputChannels: number;
  defaultSampleRate: number;
  hostAPIName: string;
}

export interface NaudiodonInOptions {
  channelCount: number;
  sampleFormat: number;
  sampleRate: number;
  deviceId: number;
  closeOnError: boolean;
  framesPerBuffer: number;
  maxQueue: number;
  highwaterMark: number;
}

export interface NaudiodonInput extends EventEmitter {
  start(): void;
  quit(callback?: () => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/** The part of naudiodon this module uses. */
export interface NaudiodonModule {
  getDevices(): PortAudioDeviceInfo[];
  AudioIO(options: { inOptions: NaudiodonInOptions }): NaudiodonInput;
  SampleFormat16Bit: number;
}

let naudiodon: NaudiodonModule | null = null;

/**
 * Loads naudiodon on first use. Loading it is cheap, but every getDevices() and AudioIO initialises PortAudio,
 * which probes ALSA; keeping the require here means paths that never capture (`earshot analyze`) never touch
 * ALSA. naudiodon also installs a segfault handler that writes crash.log into the working directory.
 */
export function loadNaudiodon(): NaudiodonModule {
  if (!naudiodon) {
    try {
      naudiodon = createRequire(import.meta.url)('naudiodon') as NaudiodonModule;
    } catch (err) {
      throw new CaptureError('PortAudio', `naudiodon (PortAudio) could not be loaded: ${(err as Error).message}`);
    }
  }
  return naudiodon;
}

const portAudioTurn = serialQueue();

/**
 * Runs one PortAudio call at a time, process-wide. naudiodon initialises and terminates PortAudio around every
 * getDevices(), AudioIO and quit, and quit runs on a threadpool thread; PortAudio's init count and open-stream
 * list are not thread-safe, and two inputs stopping at once crashed here (SIGSEGV in Pa_Terminate closing a
 * stream the other thread had just closed). Every getDevices, open and stop goes through this queue.
 */
export function withPortAudio<T>(fn: () => T | Promise<T>): Promise<T> {
  return portAudioTurn(fn);
}

function isInputDevice(d: PortAudioDeviceInfo): boolean {
  return d.maxInputChannels > 0;
}

export function describeDevice(d: PortAudioDeviceInfo): string {
  return `#${d.id} "${d.name}"`;
}

function inputsListed(devices: PortAudioDeviceInfo[]): string {
  const inputs = devices.filter(isInputDevice);
  if (inputs.length === 0) return 'there are no audio input devices on this machine (PortAudio found none; `earshot devices` lists what it sees)';
  return `input devices: ${inputs.map((d) => `${describeDevice(d)} (${d.maxInputChannels} ch)`).join(', ')}`;
}

/**
 * An input device by index, or by name: an exact name first, then a case-insensitive part of one. Names that
 * fit several devices are refused rather than guessed; the message lists the input devices there are.
 */
export function findInputDevice(devices: PortAudioDeviceInfo[], ref: AudioDeviceRef): PortAudioDeviceInfo {
  const label = typeof ref === 'number' ? `audio device #${ref}` : `audio device "${ref}"`;
  if (typeof ref === 'number') {
    const byIndex = devices.find((d) => d.id === ref);
    if (!byIndex) throw new CaptureError(label, `no device with index ${ref}; ${inputsListed(devices)}`);
    if (!isInputDevice(byIndex)) throw new CaptureError(label, `${describeDevice(byIndex)} has no input channels (an output); ${inputsListed(devices)}`);
    return byIndex;
  }
  const inputs = devices.filter(isInputDevice);
  const exact = inputs.filter((d) => d.name === ref);
  if (exact.length === 1) return exact[0];
  const needle = ref.toLowerCase();
  const partial = exact.length > 1 ? exact : inputs.filter((d) => d.name.toLowerCase().includes(needle));
  if (partial.length === 1) return partial[0];
  if (partial.length > 1) {
    throw new CaptureError(label, `the name fits several input devices: ${partial.map(describeDevice).join(', ')}; give the full name or the index`);
  }
  throw new CaptureError(label, `no input device of that name; ${inputsListed(devices)}`);
}

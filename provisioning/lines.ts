import { ConfigError, resolveConfig, type ChannelRef, type DeviceRef, type EarshotConfig, type LineConfig } from './config.js';

/** Where a line's audio comes from, with every default filled in. Channel indexes count from 0. */
export type LineAudio =
  | { kind: 'device'; device: DeviceRef; sampleRate: number; channels: number; agentChannel: number; customerChannel: number }
  | { kind: 'devices'; agentDevice: DeviceRef; customerDevice: DeviceRef; sampleRate: number }
  | { kind: 'replay'; files: string[]; loop: boolean; gapSec: number; startAtSec: number; speed: number; agentChannel: 'left' | 'right' }
  | { kind: 'pipe'; path: string; sampleRate: number; channels: number; agentChannel: number; customerChannel: number };

/** How the line learns where calls start and end. `file`: a replayed recording is one call. */
export type LineCallState =
  | { kind: 'pbx'; port: string; extension: string }
  | { kind: 'hook'; path: string; baudRate: number; offHook?: string; onHook?: string }
  | { kind: 'auto'; endAfterQuietSec: number; minCallSec: number }
  | { kind: 'file' };

export interface LineSettings {
  name: string;
  agent: { id?: string; extension?: string };
  audio: LineAudio;
  callState: LineCallState;
  /** The box's configuration with this line's overrides applied (analysis, recognition language). */
  config: EarshotConfig;
}

const AUTO_DEFAULTS = { endAfterQuietSec: 12, minCallSec: 2 };

function channelIndex(ref: ChannelRef | undefined, fallback: number): number {
  if (ref === undefined) return fallback;
  if (ref === 'left') return 0;
  if (ref === 'right') return 1;
  return ref;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Per-line overrides are partial: they replace only the settings they name. */
function overlay<T>(base: T, over: unknown): T {
  if (!isPlainObject(base) || !isPlainObject(over)) return (over === undefined ? base : over) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    // Own keys, defined rather than assigned: a "__proto__" key from the file must reach the schema check as
    // the unknown setting it is, not silently become the prototype of the line's analysis settings.
    const under = Object.hasOwn(base, k) ? base[k] : undefined;
    Object.defineProperty(out, k, { value: overlay(under, v), enumerable: true, writable: true, configurable: true });
  }
  return out as T;
}

function resolveAudio(name: string, audio: LineConfig['audio'], file: string): LineAudio {
  const at = `lines.${name}.audio`;
  const given = (['device', 'agentDevice', 'replay', 'pipe'] as const).filter((k) => audio[k] !== undefined);
  if (audio.customerDevice !== undefined && audio.agentDevice === undefined) throw new ConfigError(file, `${at}: customerDevice needs agentDevice (two mono inputs)`);
  if (given.length !== 1) {
    throw new ConfigError(file, `${at}: give exactly one of device, agentDevice + customerDevice, replay or pipe${given.length ? ` (found ${given.join(', ')})` : ''}`);
  }
  const agentChannel = channelIndex(audio.agentChannel, 0);
  const customerChannel = channelIndex(audio.customerChannel, 1);
  const channels = audio.channels ?? 2;
  const checkMap = () => {
    if (agentChannel === customerChannel) throw new ConfigError(file, `${at}: agentChannel and customerChannel are both ${agentChannel}`);
    for (const [k, v] of [['agentChannel', agentChannel], ['customerChannel', customerChannel]] as const) {
      if (v >= channels) throw new ConfigError(file, `${at}.${k}: channel ${v} does not exist on a ${channels}-channel input (channels count from 0)`);
    }
  };
  switch (given[0]) {
    case 'device':
      checkMap();
      return { kind: 'device', device: audio.device as DeviceRef, sampleRate: audio.sampleRate ?? 48000, channels, agentChannel, customerChannel };
    case 'agentDevice':
      if (audio.customerDevice === undefined) throw new ConfigError(file, `${at}: agentDevice needs customerDevice (two mono inputs)`);
      return { kind: 'devices', agentDevice: audio.agentDevice as DeviceRef, customerDevice: audio.customerDevice, sampleRate: audio.sampleRate ?? 48000 };
    case 'pipe':
      checkMap();
      return { kind: 'pipe', path: audio.pipe as string, sampleRate: audio.sampleRate ?? 8000, channels, agentChannel, customerChannel };
    case 'replay': {
      if (agentChannel > 1 || customerChannel > 1 || agentChannel === customerChannel) {
        throw new ConfigError(file, `${at}: replayed WAVs are stereo: agentChannel and customerChannel are left/right (0/1) and differ`);
      }
      return { kind: 'replay', files: audio.replay as string[], loop: audio.loop ?? false, gapSec: audio.gapSec ?? 2, startAtSec: audio.startAtSec ?? 0, speed: audio.speed ?? 1, agentChannel: agentChannel === 0 ? 'left' : 'right' };
    }
  }
}

function resolveCallState(name: string, line: LineConfig, audio: LineAudio, config: EarshotConfig, file: string): LineCallState {
  const at = `lines.${name}.callState`;
  const given = (['pbx', 'hook', 'auto'] as const).filter((k) => line.callState[k] !== undefined);
  if (given.length > 1) throw new ConfigError(file, `${at}: give at most one of pbx, hook or auto (found ${given.join(', ')})`);
  const kind = (given[0] ?? (audio.kind === 'replay' ? 'file' : 'auto')) as LineCallState['kind'];
  switch (kind) {
    case 'pbx': {
      const port = line.callState.pbx as string;
      if (!config.pbx[port]) {
        const known = Object.keys(config.pbx);
        throw new ConfigError(file, `${at}.pbx: no port "${port}" under pbx${known.length ? ` (there is ${known.join(', ')})` : ' (the pbx section is empty)'}`);
      }
      if (!line.agent.extension) throw new ConfigError(file, `lines.${name}.agent.extension: needed to match PBX records to this line`);
      return { kind: 'pbx', port, extension: line.agent.extension };
    }
    case 'hook':
      return { kind: 'hook', ...(line.callState.hook as { path: string; baudRate: number }) };
    case 'auto':
      return { kind: 'auto', ...AUTO_DEFAULTS, ...line.callState.auto };
    case 'file':
      return { kind: 'file' };
  }
}

/**
 * Every enabled line as it will run. Problems an installer must fix (two sources on one line, a PBX port that
 * does not exist, an override that is not a valid setting) are ConfigErrors naming the line and setting.
 */
export function resolveLines(config: EarshotConfig, file = '(built-in)'): LineSettings[] {
  const out: LineSettings[] = [];
  const extensions = new Map<string, string>();
  for (const [name, line] of Object.entries(config.lines)) {
    if (!line.enabled) continue;
    const audio = resolveAudio(name, line.audio, file);
    const callState = resolveCallState(name, line, audio, config, file);
    if (callState.kind === 'pbx') {
      const key = `${callState.port}/${callState.extension}`;
      const other = extensions.get(key);
      if (other) throw new ConfigError(file, `lines.${name}.agent.extension: ${callState.extension} is also line ${other}'s; PBX records could not tell them apart`);
      extensions.set(key, name);
    }
    let lineConfig: EarshotConfig;
    try {
      lineConfig = resolveConfig(
        { ...config, lines: {}, analysis: overlay(config.analysis, line.analysis), recognition: overlay(config.recognition, line.recognition) },
        file,
      );
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(file, `lines.${name} overrides: ${err.reason}`);
      throw err;
    }
    out.push({ name, agent: { ...line.agent }, audio, callState, config: lineConfig });
  }
  return out;
}

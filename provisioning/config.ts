import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { parseDocument } from 'yaml';
import type { AnalysisConfig } from '../edge/analysis/config.js';
import type { RuleOverrides } from '../edge/rules/types.js';
import schema from './config.schema.json' with { type: 'json' };

export interface EarshotConfig {
  analysis: AnalysisConfig;
  models: { root: string; dirs: string[] };
  recognition: { language: 'auto' | 'en' | 'zh'; decoding: 'greedy_search' | 'modified_beam_search'; beam: number };
  watch: { phrases: string[]; threshold: number; boost: number; channels: ('agent' | 'customer')[] };
  rules: { builtin: boolean; packs: string[]; overrides: RuleOverrides };
  outbox: OutboxConfig;
  uplink: UplinkConfig;
  ingest: IngestConfig;
  /** As written, per line: provisioning/lines.ts resolves each into what the line runs with. */
  lines: Record<string, LineConfig>;
  pbx: Record<string, PbxPortConfig>;
  run: RunConfig;
}

export type DeviceRef = string | number;
export type ChannelRef = number | 'left' | 'right';

export interface LineConfig {
  enabled: boolean;
  agent: { id?: string; extension?: string };
  audio: {
    device?: DeviceRef;
    agentDevice?: DeviceRef;
    customerDevice?: DeviceRef;
    replay?: string[];
    loop?: boolean;
    gapSec?: number;
    startAtSec?: number;
    pipe?: string;
    sampleRate?: number;
    channels?: number;
    agentChannel?: ChannelRef;
    customerChannel?: ChannelRef;
  };
  callState: {
    pbx?: string;
    hook?: { path: string; baudRate: number; offHook?: string; onHook?: string };
    auto?: { endAfterQuietSec: number; minCallSec: number };
  };
  analysis?: Record<string, unknown>;
  recognition?: { language?: 'auto' | 'en' | 'zh' };
}

export interface PbxPortConfig {
  path: string;
  baudRate: number;
  pattern?: string;
  startEvents?: string[];
  endEvents?: string[];
}

export interface RunConfig {
  healthPort: number;
  retry: { minSec: number; maxSec: number };
  shed: { behindSec: number; caughtUpSec: number; maxBacklogSec: number };
  ringBufferMin: number;
  printAlerts: boolean;
  workers: number;
}

export type MqttProtocolSetting = 'auto' | '5' | '3.1.1';
export interface TlsConfig { ca: string; cert: string; key: string; rejectUnauthorized: boolean }

export interface OutboxConfig { path: string; quotaMB: number; statusReserveMB: number }

export interface UplinkConfig {
  enabled: boolean;
  broker: string;
  prefix: string;
  site: string;
  /** empty: the host name */
  box: string;
  protocol: MqttProtocolSetting;
  ackMode: 'ingest' | 'puback';
  inflight: number;
  ackTimeoutSec: number;
  stalledAfter: number;
  keepaliveSec: number;
  connectTimeoutSec: number;
  reconnect: { minSec: number; maxSec: number; jitter: number };
  deniedBackoff: { minSec: number; maxSec: number };
  statsIntervalSec: number;
  statsExpirySec: number;
  username: string;
  passwordFile: string;
  tls: TlsConfig;
}

export interface IngestConfig {
  broker: string;
  db: string;
  group: string;
  prefix: string;
  clientId: string;
  ackDelayMs: number;
  ackBatchMax: number;
  protocol: MqttProtocolSetting;
  username: string;
  passwordFile: string;
  tls: TlsConfig;
}

/** A configuration the installer has to fix; the message names the file and the offending setting. */
export class ConfigError extends Error {
  constructor(readonly file: string, readonly reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'ConfigError';
  }
}

const ajv = new Ajv({ useDefaults: true, allErrors: true, strict: true });
const validate = ajv.compile<EarshotConfig>(schema);

function describe(error: ErrorObject): string {
  const where = error.instancePath ? error.instancePath.slice(1).replaceAll('/', '.') : '(top level)';
  if (error.keyword === 'additionalProperties') {
    return `${where}: unknown setting "${(error.params as { additionalProperty: string }).additionalProperty}"`;
  }
  return `${where}: ${error.message}`;
}

/** Validates a parsed configuration and fills every default from the schema. */
export function resolveConfig(raw: unknown, file = '(built-in)'): EarshotConfig {
  const copy = structuredClone(raw ?? {});
  if (!validate(copy)) throw new ConfigError(file, (validate.errors ?? []).map(describe).join('; '));
  const { vad } = copy.analysis;
  if (vad.negThreshold > vad.threshold) {
    throw new ConfigError(file, 'analysis.vad.negThreshold must not exceed analysis.vad.threshold');
  }
  if (copy.uplink.reconnect.minSec > copy.uplink.reconnect.maxSec) {
    throw new ConfigError(file, 'uplink.reconnect.minSec must not exceed uplink.reconnect.maxSec');
  }
  if (copy.run.retry.minSec > copy.run.retry.maxSec) throw new ConfigError(file, 'run.retry.minSec must not exceed run.retry.maxSec');
  if (copy.run.shed.caughtUpSec >= copy.run.shed.behindSec) throw new ConfigError(file, 'run.shed.caughtUpSec must be below run.shed.behindSec');
  if (copy.uplink.deniedBackoff.minSec > copy.uplink.deniedBackoff.maxSec) {
    throw new ConfigError(file, 'uplink.deniedBackoff.minSec must not exceed uplink.deniedBackoff.maxSec');
  }
  return copy;
}

export function loadConfigFile(file: string): EarshotConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message);
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    const at = first.linePos?.[0];
    throw new ConfigError(file, `YAML syntax error${at ? ` at line ${at.line}, column ${at.col}` : ''}: ${first.message.split('\n')[0]}`);
  }
  return resolveConfig(doc.toJS(), file);
}

export function defaultConfig(): EarshotConfig {
  return resolveConfig({});
}

import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, Parser, parseDocument, type CST, type Document } from 'yaml';
import { InputError } from '../lib/errors.js';
import { lazy } from '../lib/lazy.js';
import { printablePreview } from '../lib/printable.js';
import schema from './config.schema.json' with { type: 'json' };

export interface EarshotConfig {
  analysis: AnalysisConfig;
  models: { root: string; dirs: string[] };
  recognition: {
    language: 'auto' | 'en' | 'zh';
    decoding: 'greedy_search' | 'modified_beam_search';
    beam: number;
    /** Contextual biasing towards the rule vocabulary (0: off); needs beam search. */
    hotwordScore: number;
    /** The line's noise carried into a narrowband side's empty upper band, for the speech models (edge/analysis/band-fill.ts): dB from its noise floor, or off. */
    narrowbandFillDb: number | 'off';
    /** How `language: auto` judges a side (edge/analysis/language.ts); measured defaults in config.schema.json. */
    auto: { decideAfterSec: number; zhBias: number; tokenRatioWeight: number; pieceWeight: number; margin: number; forceAfterSec: number; revisitSec: number; settleScore: number; fittedFor: { en: string; zh: string } };
  };
  watch: { phrases: string[]; threshold: number; boost: number; phases: number; channels: ('agent' | 'customer')[]; tuning: Record<string, PhraseTuning> };
  rules: { builtin: boolean; packs: string[]; overrides: RuleOverrides };
  /** Sinks that keep clear text (edge/redaction/view.ts); empty: every sink gets the redacted view. */
  privacy: {
    clearText: ('index-files' | 'stdout' | 'logs')[];
    /** Where index files are kept: what `earshot prune` and `earshot forget` look through. */
    indexDirs: string[];
    /** Age in days past which `earshot prune` deletes an index file. */
    indexFileDays: number;
    /** The site's customer key (lib/customer-key.ts): with it, an index carries the caller as a keyed hash. */
    customerKeyFile?: string;
  };
  outbox: OutboxConfig;
  uplink: UplinkConfig;
  ingest: IngestConfig;
  /** As written, per line: provisioning/lines.ts resolves each into what the line runs with. */
  lines: Record<string, LineConfig>;
  pbx: Record<string, PbxPortConfig>;
  run: RunConfig;
}

/**
 * One watched phrase's own settings, over `watch.threshold`/`watch.boost` and the transcript spotter's default
 * tolerance: the rule packs set them where a phrase needs it (measured, rules/*.yml), a site's `watch.tuning`
 * overrides the packs.
 */
export interface PhraseTuning {
  /** Keyword spotter trigger: mean token probability this phrase needs. */
  threshold?: number;
  /** Keyword spotter bonus per token while this phrase is partially matched. */
  boost?: number;
  /** Transcript spotter: the largest cost at which the transcript still counts as this phrase (0: exact only). */
  tolerance?: number;
  /** Contextual biasing of the recogniser towards this phrase (sherpa hotwords score per token; 0: none). */
  hotword?: number;
  /** false: the keyword spotter does not listen for this phrase; the transcript alone hears it. */
  spotter?: boolean;
  /**
   * The keyword spotter this phrase is decoded by (unnamed: the one every other phrase shares). Phrases of one
   * spotter compete in one decoding graph, so tuning one moves the others' hits; a group is a spotter of its
   * own, one more stream on each side that is spotted.
   */
  group?: string;
}

/** Thresholds of the signal analysis; defaults live in config.schema.json, tuned on generated and real calls. */
export interface AnalysisConfig {
  vad: {
    /** Speech starts when Silero's probability reaches this. */
    threshold: number;
    /** ...and ends only when it falls below this (hysteresis keeps soft syllables inside a word). */
    negThreshold: number;
    /** Bursts shorter than this are clicks or breaths, not utterances. */
    minSpeechSec: number;
    /** Pauses shorter than this stay inside one utterance. */
    minPauseSec: number;
    /** Added before and after each utterance: Silero fires a little late on onsets and early on tails. */
    padSec: number;
  };
  silence: { minSec: number };
  /**
   * Over-talk of at least minSec is indexed; overlaps less than maxGapSec apart are one interruption, by
   * whoever cut in first (edge/analysis/interruptions.ts).
   */
  overtalk: { minSec: number; maxGapSec: number };
  /**
   * A monologue (a turn: edge/call/turns.ts) continues across the speaker's own pauses up to maxPauseSec and
   * across the other side's back-channels, utterances shorter than backchannelSec.
   */
  monologue: { maxPauseSec: number; backchannelSec: number };
  emotion: {
    /** Relative rise of F0 over the speaker's baseline, e.g. 0.2 = 20 % higher. */
    f0Rise: number;
    /** Relative rise of the pace (the loudness envelope's swing), e.g. 0.3 = 30 % faster. */
    tempoRise: number;
    loudnessRiseDb: number;
    /** How far one cue counts, in multiples of its threshold: one cue alone never reaches 2 of 3. */
    riseCap: number;
    /** The same for pitch, the cue neither the microphone nor the line distorts. */
    f0RiseCap: number;
    minDurationSec: number;
    /** Voiced speech needed before a speaker's baseline is trusted. */
    baselineSec: number;
    /** Where in the speaker's own calm pitch and loudness the baseline sits (0.5: the median). */
    baselineQuantile: number;
    /** Length of the window of speech whose pitch and loudness are compared against the baseline. */
    windowSec: number;
    /** Length of the window of speech whose pace is compared against the baseline (at least windowSec). */
    tempoWindowSec: number;
    minVoicedShare: number;
  };
}

/** Per-rule changes (`rules.overrides`): edge/rules applies them to the packs' rules. */
export type RuleOverrides = Record<string, { enabled?: boolean; severity?: 'info' | 'warning' | 'critical'; params?: Record<string, number> }>;

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
    speed?: number;
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
  shed: { behindSec: number; caughtUpSec: number; lightenBehindSec: number; maxBacklogSec: number };
  ringBufferMin: number;
  printAlerts: boolean;
  workers: number;
}

export type MqttProtocolSetting = 'auto' | '5' | '3.1.1';
export interface TlsConfig { ca: string; cert: string; key: string; rejectUnauthorized: boolean }

export interface OutboxConfig { path: string; quotaMB: number; statusReserveMB: number }

/** The names in edge/uplink/transports.ts; the schema's enum lists the same. */
export type TransportSetting = 'mqtt';

export interface UplinkConfig {
  enabled: boolean;
  transport: TransportSetting;
  broker: string;
  prefix: string;
  site: string;
  /** the floor within the site (enrolment); not a topic level */
  floor: string;
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
  /** 0: no live floor state */
  liveIntervalSec: number;
  username: string;
  passwordFile: string;
  tls: TlsConfig;
  /** docs/mqtt.md, Signatures */
  signing: { key: string; centreKeys: string[]; windowSec: number; bundleKeys: { key: string; notBefore?: string; notAfter?: string }[]; bundleDir: string };
}

export interface IngestConfig {
  transport: TransportSetting;
  broker: string;
  db: string;
  registration: 'open' | 'closed';
  signing: { key: string; records: 'enrolled' | 'required' };
  group: string;
  prefix: string;
  clientId: string;
  sessionExpirySec: number;
  ackDelayMs: number;
  ackBatchMax: number;
  protocol: MqttProtocolSetting;
  username: string;
  passwordFile: string;
  tls: TlsConfig;
}

/** A configuration the installer has to fix; the message names the file and the offending setting. */
export class ConfigError extends InputError {
  readonly reason: string;
  constructor(readonly file: string, reason: string) {
    // A setting's name or value from a garbled file can hold control characters: the refusal stays one printable line.
    const printable = printablePreview(reason, Infinity);
    super(`${file}: ${printable}`);
    this.name = 'ConfigError';
    this.reason = printable;
  }
}

const configValidator = lazy(() => new Ajv({ useDefaults: true, allErrors: true, strict: true }).compile<EarshotConfig>(schema));

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
  const validate = configValidator();
  if (!validate(copy)) throw new ConfigError(file, (validate.errors ?? []).map(describe).join('; '));
  const { vad } = copy.analysis;
  if (vad.negThreshold > vad.threshold) {
    throw new ConfigError(file, 'analysis.vad.negThreshold must not exceed analysis.vad.threshold');
  }
  if (copy.uplink.reconnect.minSec > copy.uplink.reconnect.maxSec) {
    throw new ConfigError(file, 'uplink.reconnect.minSec must not exceed uplink.reconnect.maxSec');
  }
  if (copy.run.retry.minSec > copy.run.retry.maxSec) throw new ConfigError(file, 'run.retry.minSec must not exceed run.retry.maxSec');
  const { shed } = copy.run;
  if (shed.caughtUpSec >= shed.behindSec) throw new ConfigError(file, 'run.shed.caughtUpSec must be below run.shed.behindSec');
  shed.lightenBehindSec ??= (shed.caughtUpSec + shed.behindSec) / 2;
  if (shed.lightenBehindSec <= shed.caughtUpSec || shed.lightenBehindSec > shed.behindSec) {
    throw new ConfigError(file, `run.shed.lightenBehindSec (${shed.lightenBehindSec}) must be above run.shed.caughtUpSec (${shed.caughtUpSec}) and not above run.shed.behindSec (${shed.behindSec})`);
  }
  if (copy.uplink.deniedBackoff.minSec > copy.uplink.deniedBackoff.maxSec) {
    throw new ConfigError(file, 'uplink.deniedBackoff.minSec must not exceed uplink.deniedBackoff.maxSec');
  }
  return copy;
}

/**
 * Nesting no configuration or rule pack comes near. The yaml composer recurses once per level and runs out of
 * stack near 900; it catches that RangeError itself, but an overflow that lands inside V8's regular-expression
 * compiler aborts the whole process instead (seen with a 10,000-deep pack), so deep input must not reach it.
 */
export const MAX_YAML_DEPTH = 100;
/** Alias expansions per file (the yaml package's resource limit): room to share settings, none for a "billion laughs". */
export const MAX_YAML_ALIASES = 100;

/** Why a YAML file cannot be read as data (`problem`: what kind, `detail`: what exactly), and where when known (1-based). */
export class YamlError extends Error {
  constructor(
    readonly problem: 'YAML syntax error' | 'YAML nested too deep' | 'YAML alias bomb',
    readonly detail: string,
    readonly line: number | null,
    readonly col: number | null,
  ) {
    super(`${problem}: ${detail}`);
    this.name = 'YamlError';
  }
}

/** The deepest collection in the text, found on yaml's token stream, which is built without recursion. */
function deepest(text: string): { depth: number; offset: number } {
  let found = { depth: 0, offset: 0 };
  const stack: { token: CST.Token; depth: number }[] = [];
  for (const token of new Parser().parse(text)) stack.push({ token, depth: 0 });
  while (stack.length > 0 && found.depth <= MAX_YAML_DEPTH) {
    const { token, depth } = stack.pop()!;
    const children = token.type === 'document' ? [token.value] : 'items' in token ? token.items.flatMap((i) => [i.key, i.value]) : [];
    const level = token.type === 'document' ? depth : depth + 1;
    if (level > found.depth) found = { depth: level, offset: token.offset };
    for (const child of children) if (child) stack.push({ token: child, depth: level });
  }
  return found;
}

/**
 * One YAML document as plain data, for configuration and rule packs. Throws YamlError for a syntax error,
 * nesting deeper than MAX_YAML_DEPTH or an alias bomb. YAML 1.1 tags (!!set, !!omap, !!binary...) are left
 * unresolved, so such a value is checked as the map or string it is written as, never as a Set or Map that
 * would pass for an empty object.
 */
export function readYaml(text: string, lineCounter = new LineCounter()): { doc: Document.Parsed; data: unknown } {
  const deep = deepest(text);
  if (deep.depth > MAX_YAML_DEPTH) {
    const at = new LineCounter();
    at.addNewLine(0);
    for (let i = text.indexOf('\n'); i >= 0 && i < deep.offset; i = text.indexOf('\n', i + 1)) at.addNewLine(i + 1);
    const pos = at.linePos(deep.offset);
    throw new YamlError('YAML nested too deep', `more than ${MAX_YAML_DEPTH} levels of lists and maps`, pos.line, pos.col);
  }
  // prettyErrors would quote the source line in every error: a 1 MB line of quotes makes half a million
  // errors and that took minutes. Only the first is reported, and its position is looked up here. Nor is any
  // error's stack read: capturing one for each was three quarters of what parsing that line still cost
  // (4.5 -> 1.1 s on a fast x64 core; a rule bundle is parsed on the agent's live path).
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { lineCounter, prettyErrors: false, resolveKnownTags: false });
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    const at = lineCounter.linePos(first.pos[0]);
    throw new YamlError('YAML syntax error', first.message.split('\n')[0], at.line, at.col);
  }
  try {
    return { doc, data: doc.toJS({ maxAliasCount: MAX_YAML_ALIASES }) };
  } catch (err) {
    // What the yaml package throws when aliases expand past maxAliasCount.
    if (err instanceof ReferenceError) {
      throw new YamlError('YAML alias bomb', `aliases expand past ${MAX_YAML_ALIASES} copies (the yaml maxAliasCount limit)`, null, null);
    }
    throw err;
  }
}

export function loadConfigFile(file: string): EarshotConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message);
  }
  let data: unknown;
  try {
    data = readYaml(text).data;
  } catch (err) {
    if (!(err instanceof YamlError)) throw err;
    throw new ConfigError(file, `${err.problem}${err.line !== null ? ` at line ${err.line}, column ${err.col}` : ''}: ${err.detail}`);
  }
  return resolveConfig(data, file);
}

export function defaultConfig(): EarshotConfig {
  return resolveConfig({});
}

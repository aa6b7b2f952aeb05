/**
 * Call boundaries from text lines: PBX call records (SMDR/CDR on an RS-232 line shared by the floor) or a
 * desk's hook switch. The parsers here are pure (line in, event out) so they can be tested without a port;
 * the serial transport is in serial-call-state.ts.
 */

export interface CallStateEvent {
  kind: 'start' | 'end';
  /** Which desk: routes a PBX record to its line. null for a hook switch (the port is the desk). */
  extension: string | null;
  agentId?: string;
  caller?: string;
  callRef?: string;
  /** Wall-clock ms: from the record's time field when it parses (today's date if only a time), else arrival. */
  at: number;
  raw: string;
}

export interface CallStateSourceEvents {
  call: [CallStateEvent];
  garbage: [{ line: string; reason: string }];
  status: [{ state: 'open' | 'fault' | 'closed'; reason?: string }];
}

/** A record that is well-formed but says nothing about a call starting or ending (RING, HOLD, a repeat). */
export interface IgnoredLine {
  ignored: string;
}

/** A line that is not a record at all: noise, a wrong baud rate, a truncated record. */
export interface GarbageLine {
  garbage: string;
}

export type ParseResult = CallStateEvent | IgnoredLine | GarbageLine;

export interface CallStateParser {
  parse(line: string, arrivedAt?: number): ParseResult;
}

export function isCallStateEvent(r: ParseResult): r is CallStateEvent {
  return 'kind' in r;
}

/**
 * The generic SMDR-style record the box understands out of the box, one per line:
 *
 *   2026-11-25 14:03:22 START ext=1001 agent=A17 caller=13800138000 ref=8812
 *   2026-11-25 14:09:47 END ext=1001 agent=A17 caller=13800138000 ref=8812
 *
 * - date and time, local to the PBX: `YYYY-MM-DD HH:MM[:SS]` (a `T` instead of the space is accepted);
 * - the event word: START and END (or HANGUP) bound a call; anything else (RING, HOLD, TRANSFER...) is
 *   ignored;
 * - `ext=` the extension (letters, digits, `_`, `-`), which routes the record to its line;
 * - then, optional and in this order: `agent=` the agent's id, `caller=` the calling number (may be empty
 *   when withheld), `ref=` the PBX's call reference.
 *
 * A PBX printing another layout is configured with its own pattern (named groups event, extension, agent,
 * caller, time, callref) and its own event words.
 */
export const DEFAULT_PBX_PATTERN =
  '^(?<time>\\d{4}-\\d{2}-\\d{2}[ T]\\d{2}:\\d{2}(?::\\d{2})?)\\s+(?<event>[A-Za-z_]+)\\s+ext=(?<extension>[\\w-]+)' +
  '(?:\\s+agent=(?<agent>\\S+))?(?:\\s+caller=(?<caller>\\S*))?(?:\\s+ref=(?<callref>\\S+))?\\s*$';
export const DEFAULT_START_EVENTS: readonly string[] = ['START'];
export const DEFAULT_END_EVENTS: readonly string[] = ['END', 'HANGUP'];

export interface PbxRecordConfig {
  /** A JavaScript regular expression with named groups; `event` and `extension` are required. */
  pattern: string;
  /** Event words that start a call (case-insensitive). */
  startEvents: readonly string[];
  /** Event words that end a call (case-insensitive). */
  endEvents: readonly string[];
}

const PBX_GROUPS = ['event', 'extension', 'agent', 'caller', 'time', 'callref'] as const;

export class PbxRecordParser implements CallStateParser {
  readonly config: PbxRecordConfig;
  private readonly re: RegExp;
  private readonly starts: Set<string>;
  private readonly ends: Set<string>;

  /** Throws an Error naming what to fix when the configuration cannot work. */
  constructor(config: Partial<PbxRecordConfig> = {}) {
    const pattern = config.pattern ?? DEFAULT_PBX_PATTERN;
    if (typeof pattern !== 'string' || pattern.trim() === '') {
      throw new Error('PBX record pattern is empty: give a regular expression with named groups (?<event>...) and (?<extension>...)');
    }
    try {
      this.re = new RegExp(pattern);
    } catch (err) {
      throw new Error(`PBX record pattern is not a valid JavaScript regular expression (${(err as Error).message}): ${pattern}`);
    }
    const groups = namedGroups(pattern);
    const unknown = groups.filter((g) => !(PBX_GROUPS as readonly string[]).includes(g));
    if (unknown.length > 0) {
      // A misspelt group (ext, agnet) would otherwise be silently ignored and its field never filled.
      throw new Error(
        `PBX record pattern has named group(s) ${unknown.map((g) => `(?<${g}>...)`).join(', ')} that mean nothing here; ` +
          `the groups understood are ${PBX_GROUPS.join(', ')} (use (?:...) for grouping that captures nothing)`,
      );
    }
    if (!groups.includes('event')) {
      throw new Error(`PBX record pattern lacks the named group (?<event>...) capturing the event word (START, END...): ${pattern}`);
    }
    if (!groups.includes('extension')) {
      throw new Error(
        `PBX record pattern lacks the named group (?<extension>...) capturing the extension that routes a record to its line, e.g. ext=(?<extension>\\d+): ${pattern}`,
      );
    }
    const startEvents = checkEvents('startEvents', config.startEvents ?? DEFAULT_START_EVENTS, 'start');
    const endEvents = checkEvents('endEvents', config.endEvents ?? DEFAULT_END_EVENTS, 'end');
    this.starts = new Set(startEvents.map((e) => e.toUpperCase()));
    this.ends = new Set(endEvents.map((e) => e.toUpperCase()));
    const both = [...this.starts].filter((e) => this.ends.has(e));
    if (both.length > 0) {
      throw new Error(`PBX event(s) ${both.join(', ')} listed in both startEvents and endEvents; each event word must either start or end a call`);
    }
    this.config = { pattern, startEvents, endEvents };
  }

  parse(line: string, arrivedAt: number = Date.now()): ParseResult {
    const raw = cleanLine(line);
    if (raw === '') return { ignored: 'blank line' };
    const bad = nonPrintable(raw);
    if (bad) return { garbage: bad };
    const m = this.re.exec(raw);
    if (!m) return { garbage: `not a call record: does not match the record pattern (${raw.length} chars)` };
    const g = m.groups ?? {};
    const event = (g.event ?? '').trim();
    const extension = (g.extension ?? '').trim();
    if (event === '') return { garbage: 'record matches the pattern but its event field is empty' };
    if (extension === '') return { garbage: `${event} record has no extension to route it to a line` };
    const word = event.toUpperCase();
    const kind = this.starts.has(word) ? 'start' : this.ends.has(word) ? 'end' : undefined;
    if (!kind) return { ignored: `event ${event} neither starts nor ends a call` };
    const out: CallStateEvent = { kind, extension, at: parseRecordTime(g.time, arrivedAt) ?? arrivedAt, raw };
    const agent = g.agent?.trim();
    const caller = g.caller?.trim();
    const callRef = g.callref?.trim();
    if (agent) out.agentId = agent;
    if (caller) out.caller = caller;
    if (callRef) out.callRef = callRef;
    return out;
  }
}

export interface HookSwitchConfig {
  /** Regular expression (case-insensitive) for the switch's off-hook line. */
  offHook: string;
  /** Regular expression (case-insensitive) for the switch's on-hook line. */
  onHook: string;
}

export const DEFAULT_OFF_HOOK = 'OFF.?HOOK';
export const DEFAULT_ON_HOOK = 'ON.?HOOK';

export type HookState = 'unknown' | 'off' | 'on';

/**
 * One desk's hook switch. Off-hook starts a call, on-hook ends it. Switches repeat their state (on a timer,
 * on contact bounce), so only a change of state is an event; the state survives a reconnect of the port,
 * because a switch that reprints its state after a line glitch must not start a second call.
 */
export class HookSwitchParser implements CallStateParser {
  readonly config: HookSwitchConfig;
  private readonly off: RegExp;
  private readonly on: RegExp;
  private current: HookState = 'unknown';

  constructor(config: Partial<HookSwitchConfig> = {}) {
    const offHook = config.offHook ?? DEFAULT_OFF_HOOK;
    const onHook = config.onHook ?? DEFAULT_ON_HOOK;
    this.off = compileHook('offHook', offHook);
    this.on = compileHook('onHook', onHook);
    this.config = { offHook, onHook };
  }

  get hookState(): HookState {
    return this.current;
  }

  /** Forget the last state, e.g. when the lead knows the call it tracked is over. */
  reset(): void {
    this.current = 'unknown';
  }

  parse(line: string, arrivedAt: number = Date.now()): ParseResult {
    const raw = cleanLine(line);
    if (raw === '') return { ignored: 'blank line' };
    const bad = nonPrintable(raw);
    if (bad) return { garbage: bad };
    const isOff = this.off.test(raw);
    const isOn = this.on.test(raw);
    if (isOff && isOn) return { garbage: 'line matches both the off-hook and the on-hook pattern' };
    if (!isOff && !isOn) return { garbage: `neither off-hook nor on-hook (${raw.length} chars)` };
    if (isOff) {
      if (this.current === 'off') return { ignored: 'off-hook while already off-hook' };
      this.current = 'off';
      return { kind: 'start', extension: null, at: arrivedAt, raw };
    }
    if (this.current === 'on') return { ignored: 'on-hook while already on-hook' };
    // On-hook with no known state (just after start-up): there is no call of ours to end.
    const was = this.current;
    this.current = 'on';
    if (was === 'unknown') return { ignored: 'on-hook with no call in progress' };
    return { kind: 'end', extension: null, at: arrivedAt, raw };
  }
}

/**
 * The record's time field as wall-clock ms, or undefined when it does not parse (the caller then uses the
 * arrival time). Accepts `YYYY-MM-DD HH:MM[:SS[.fff]]` (also with `/` or `.` in the date, or `T`), an ISO time
 * with a zone, epoch seconds or ms, and a bare `HH:MM[:SS]`. Times without a zone are the PBX's local time,
 * which is the box's. A bare time takes today's date, except around midnight, where the day nearest the
 * arrival is meant (a 23:59:58 record read at 00:00:01 is yesterday's).
 */
export function parseRecordTime(text: string | undefined, arrivedAt: number): number | undefined {
  const s = text?.trim();
  if (!s) return undefined;
  if (/^\d{10}$/.test(s)) return Number(s) * 1000;
  if (/^\d{13}$/.test(s)) return Number(s);
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(s)) {
    const ms = Date.parse(s);
    return Number.isFinite(ms) ? ms : undefined;
  }
  const full = /^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]+)(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,3}))?)?$/.exec(s);
  if (full) {
    const [y, mo, d, h, mi, se] = full.slice(1, 7).map((v) => (v === undefined ? 0 : Number(v)));
    return localTime(y, mo, d, h, mi, se, fractionMs(full[7]));
  }
  const bare = /^(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,3}))?)?$/.exec(s);
  if (bare) {
    const [h, mi, se] = bare.slice(1, 4).map((v) => (v === undefined ? 0 : Number(v)));
    const ms = fractionMs(bare[4]);
    const today = new Date(arrivedAt);
    let best: number | undefined;
    for (const shift of [0, -1, 1]) {
      const t = localTime(today.getFullYear(), today.getMonth() + 1, today.getDate() + shift, h, mi, se, ms, true);
      if (t !== undefined && (best === undefined || Math.abs(t - arrivedAt) < Math.abs(best - arrivedAt))) best = t;
    }
    return best;
  }
  return undefined;
}

/** "5" of "22.5" is 500 ms. */
function fractionMs(frac: string | undefined): number {
  return frac ? Math.round(Number(`0.${frac}`) * 1000) : 0;
}

/** `dayMayRoll`: the day is today±1 and may fall outside the month; the Date constructor rolls it over. */
function localTime(y: number, mo: number, d: number, h: number, mi: number, se: number, ms: number, dayMayRoll = false): number | undefined {
  if (mo < 1 || mo > 12 || h > 23 || mi > 59 || se > 59) return undefined;
  const date = new Date(y, mo - 1, d, h, mi, se, ms);
  if (!dayMayRoll && (date.getMonth() !== mo - 1 || date.getDate() !== d)) return undefined;
  const t = date.getTime();
  return Number.isFinite(t) ? t : undefined;
}

/**
 * Strips the line ending a ReadlineParser leaves (`\r` of `\r\n`), surrounding blanks and NUL padding.
 * Trailing padding is found by walking back from the end: a `[\s\0]+$` regex retries from every blank of an
 * inner run, which is quadratic (a 1 MB line of spaces ending in a letter took minutes).
 */
function cleanLine(line: string): string {
  let end = line.length;
  while (end > 0 && /[\s\0]/.test(line[end - 1])) end--;
  return line.slice(0, end).replace(/^[\s\0]+/, '');
}

/**
 * Why a line is binary noise, or undefined when it is printable text. Control characters other than tab,
 * and U+FFFD (what invalid UTF-8 decodes to), are what a line read at the wrong baud rate or framing looks like.
 */
export function nonPrintable(line: string): string | undefined {
  let bad = 0;
  for (const ch of line) {
    const c = ch.codePointAt(0) as number;
    if ((c < 0x20 && c !== 0x09) || (c >= 0x7f && c < 0xa0) || c === 0xfffd) bad++;
  }
  if (bad === 0) return undefined;
  return `non-printable bytes (${bad} of ${[...line].length} characters): binary noise, or the line is read at the wrong baud rate or framing`;
}

function namedGroups(pattern: string): string[] {
  // (?<name> opens a named group; (?<= and (?<! are lookbehinds and do not match the identifier.
  const out: string[] = [];
  for (const m of pattern.matchAll(/(\\*)\(\?<([A-Za-z_$][\w$]*)>/g)) {
    if (m[1].length % 2 === 0) out.push(m[2]);
  }
  return out;
}

function checkEvents(name: string, events: readonly string[], what: string): string[] {
  if (!Array.isArray(events) || events.length === 0) {
    throw new Error(`PBX ${name} is empty: list the event word(s) that ${what} a call, e.g. ${what === 'start' ? '["START"]' : '["END"]'}`);
  }
  const out: string[] = [];
  for (const e of events) {
    if (typeof e !== 'string' || e.trim() === '') throw new Error(`PBX ${name} has an empty or non-text entry: ${JSON.stringify(e)}`);
    out.push(e.trim());
  }
  return out;
}

function compileHook(name: string, pattern: string): RegExp {
  if (typeof pattern !== 'string' || pattern === '') throw new Error(`hook-switch ${name} pattern is empty: give the text the switch prints, e.g. "OFFHOOK"`);
  let re: RegExp;
  try {
    re = new RegExp(pattern, 'i');
  } catch (err) {
    throw new Error(`hook-switch ${name} pattern is not a valid JavaScript regular expression (${(err as Error).message}): ${pattern}`);
  }
  if (re.test('')) throw new Error(`hook-switch ${name} pattern ${pattern} matches an empty line, so it would match every line`);
  return re;
}

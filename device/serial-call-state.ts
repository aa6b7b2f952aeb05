/**
 * Call state from a serial line: a PBX's call-record port (shared by the floor, records routed by extension)
 * or one desk's hook switch. The line is expected to go away (cable pulled, USB adapter reset, PBX rebooted):
 * the source reports a fault and reopens by itself with backoff until stopped. Noise on the line is counted,
 * logged and skipped; it never stops the source.
 */
import { EventEmitter } from 'node:events';
import type { TransformCallback } from 'node:stream';
import { ReadlineParser, SerialPort } from 'serialport';
import { Backoff } from '../lib/backoff.js';
import { log } from '../lib/log.js';
import { printablePreview } from '../lib/printable.js';
import {
  isCallStateEvent,
  type CallStateSourceEvents,
  type HookSwitchParser,
  type PbxRecordParser,
} from './call-state.js';

export interface SerialCallStateOptions {
  path: string;
  baudRate: number;
  parser: PbxRecordParser | HookSwitchParser;
  /** Reopen delays: exponential from minSec, capped at maxSec, with jitter. Default 1..30 s. */
  retry?: { minSec: number; maxSec: number };
  /** Longest line kept, in bytes; longer ones are garbage. Default 1024. */
  maxLineBytes?: number;
}

export type SerialCallStateState = 'idle' | 'opening' | 'open' | 'fault' | 'closed';

export interface SerialCallStateCounters {
  /** Lines that became a call start or end. */
  records: number;
  /** Well-formed lines that said nothing about a call boundary (RING, a repeated OFFHOOK, blank). */
  ignored: number;
  garbage: number;
  /** Successful opens after the first. */
  reopened: number;
}

/** A port that stayed up this long counts as healthy: the next fault retries from the shortest delay again. */
const HEALTHY_MS = 10_000;
/** Garbage warnings per window; a line at the wrong baud rate produces a garbage line every few bytes. */
const GARBAGE_LOGS_PER_WINDOW = 10;
const GARBAGE_LOG_WINDOW_MS = 60_000;

export class SerialCallState extends EventEmitter<CallStateSourceEvents> {
  private readonly options: Required<Omit<SerialCallStateOptions, 'retry'>> & { retry: { minSec: number; maxSec: number } };
  private current: SerialCallStateState = 'idle';
  private readonly count: SerialCallStateCounters = { records: 0, ignored: 0, garbage: 0, reopened: 0 };
  private port?: SerialPort;
  private lines?: CappedReadlineParser;
  private timer?: NodeJS.Timeout;
  /** An open() in flight, which stop() waits for so that no port is left open behind it. */
  private opening?: Promise<void>;
  private readonly backoff: Backoff;
  private opens = 0;
  private openedAt = 0;
  private sawLine = false;
  private stopping = false;
  private garbageWindowStart = 0;
  private garbageLogged = 0;
  private garbageSuppressed = 0;

  constructor(options: SerialCallStateOptions) {
    super();
    if (!options.path) throw new Error('serial call-state source needs a port path, e.g. /dev/ttyUSB0');
    if (!Number.isInteger(options.baudRate) || options.baudRate <= 0) {
      throw new Error(`serial call-state baud rate must be a positive integer, got ${options.baudRate}`);
    }
    const retry = options.retry ?? { minSec: 1, maxSec: 30 };
    if (!(retry.minSec > 0) || !(retry.maxSec >= retry.minSec)) {
      throw new Error(`serial call-state retry needs 0 < minSec <= maxSec, got ${retry.minSec}..${retry.maxSec}`);
    }
    const maxLineBytes = options.maxLineBytes ?? 1024;
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 16) throw new Error(`serial call-state maxLineBytes must be an integer >= 16, got ${maxLineBytes}`);
    this.options = { path: options.path, baudRate: options.baudRate, parser: options.parser, retry, maxLineBytes };
    // ±20 % so that the lines of a floor that lost the same PBX do not all reopen in step.
    this.backoff = new Backoff({ ...retry, jitter: 0.2 });
  }

  get state(): SerialCallStateState {
    return this.current;
  }

  get counters(): Readonly<SerialCallStateCounters> {
    return { ...this.count };
  }

  start(): void {
    if (this.current !== 'idle') return;
    this.open();
  }

  /** Closes the port and cancels any pending reopen; the source cannot be started again. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.opening;
    const port = this.port;
    this.detach();
    if (port) await closePort(port);
    this.current = 'closed';
    this.emit('status', { state: 'closed' });
  }

  private open(): void {
    if (this.stopping) return;
    this.current = 'opening';
    const { path, baudRate } = this.options;
    const port = new SerialPort({ path, baudRate, autoOpen: false });
    this.port = port;
    // Registered before open so that no error on this port object can ever go unhandled, even after detach.
    port.on('error', (err) => this.fault(port, `port error: ${err.message}`));
    this.opening = new Promise((resolve) => {
      port.open((err) => {
        this.opening = undefined;
        if (err) this.fault(port, `cannot open ${path}: ${openErrorReason(err, path)}`);
        else if (!this.stopping) this.attach(port); // when stopping, stop() is waiting and closes it
        resolve();
      });
    });
  }

  private attach(port: SerialPort): void {
    const lines = new CappedReadlineParser(this.options.maxLineBytes, (preview, bytes) =>
      this.garbage(preview, `line longer than ${this.options.maxLineBytes} bytes (${bytes} bytes and counting): discarded`),
    );
    this.lines = lines;
    lines.on('data', (line: Buffer) => this.onLine(line.toString('utf8')));
    port.pipe(lines, { end: false });
    port.on('close', (err?: Error & { disconnected?: boolean }) => {
      this.fault(port, err?.disconnected ? `line disconnected: ${err.message}` : 'port closed');
    });
    port.on('end', () => this.fault(port, 'line ended (EOF)'));
    this.current = 'open';
    this.openedAt = Date.now();
    this.sawLine = false;
    if (this.opens++ > 0) this.count.reopened++;
    log.info({ path: this.options.path, baudRate: this.options.baudRate, reopen: this.count.reopened }, 'call-state line open');
    this.emit('status', { state: 'open' });
  }

  private onLine(line: string): void {
    this.sawLine = true;
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    const result = this.options.parser.parse(text, Date.now());
    if (isCallStateEvent(result)) {
      this.count.records++;
      this.emit('call', result);
    } else if ('ignored' in result) {
      this.count.ignored++;
      log.debug({ path: this.options.path, reason: result.ignored }, 'call-state line ignored');
    } else {
      this.garbage(text, result.garbage);
    }
  }

  private garbage(line: string, reason: string): void {
    this.count.garbage++;
    const now = Date.now();
    if (now - this.garbageWindowStart >= GARBAGE_LOG_WINDOW_MS) {
      if (this.garbageSuppressed > 0) {
        log.warn({ path: this.options.path, suppressed: this.garbageSuppressed }, 'call-state garbage lines not logged in the last minute');
      }
      this.garbageWindowStart = now;
      this.garbageLogged = 0;
      this.garbageSuppressed = 0;
    }
    if (this.garbageLogged < GARBAGE_LOGS_PER_WINDOW) {
      this.garbageLogged++;
      log.warn({ path: this.options.path, reason, preview: printablePreview(line) }, 'call-state garbage line skipped');
    } else {
      this.garbageSuppressed++;
    }
    this.emit('garbage', { line, reason });
  }

  /** `port` guards against late events from a port already given up on (close after error, say). */
  private fault(port: SerialPort, reason: string): void {
    if (this.stopping || this.port !== port) return;
    const wasHealthy = this.sawLine || (this.openedAt > 0 && Date.now() - this.openedAt >= HEALTHY_MS);
    this.detach();
    void closePort(port);
    if (wasHealthy) this.backoff.reset();
    const delayMs = this.backoff.next();
    this.openedAt = 0;
    this.sawLine = false;
    this.current = 'fault';
    log.warn({ path: this.options.path, reason, retryInMs: delayMs }, 'call-state line fault');
    this.emit('status', { state: 'fault', reason });
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.open();
    }, delayMs);
  }

  private detach(): void {
    const port = this.port;
    const lines = this.lines;
    this.port = undefined;
    this.lines = undefined;
    if (port) {
      port.removeAllListeners('close');
      port.removeAllListeners('end');
      port.removeAllListeners('data');
      if (lines) port.unpipe(lines);
    }
    if (lines) {
      // A partial line held at disconnect is half a record at best: dropped, not flushed as a line.
      lines.removeAllListeners('data');
      lines.destroy();
    }
  }
}

/** The bindings say "Error: No such file or directory, cannot open /dev/x"; the path is already in our reason. */
function openErrorReason(err: Error, path: string): string {
  return err.message.replace(/^Error: /, '').replace(`, cannot open ${path}`, '');
}

function closePort(port: SerialPort): Promise<void> {
  return new Promise((resolve) => {
    if (!port.isOpen) return resolve();
    port.close(() => resolve());
  });
}

/**
 * A ReadlineParser that never holds more than about `max` bytes: a line longer than that is reported once
 * (with its first bytes) and the rest of it, up to the next newline, is dropped.
 */
class CappedReadlineParser extends ReadlineParser {
  private discarding = false;

  constructor(
    private readonly max: number,
    private readonly onOverlong: (preview: string, bytes: number) => void,
  ) {
    // Lines come out as Buffers, each decoded on its own: a stream-wide UTF-8 decoder would carry a noise
    // line's dangling lead byte into the next record and spoil it too.
    super({ delimiter: Buffer.from('\n'), encoding: undefined });
  }

  override _transform(chunk: Buffer, encoding: BufferEncoding, cb: TransformCallback): void {
    if (this.discarding) {
      const nl = chunk.indexOf(0x0a);
      if (nl < 0) return cb();
      this.discarding = false;
      chunk = chunk.subarray(nl + 1);
    }
    super._transform(chunk, encoding, (err?: Error | null) => {
      if (this.buffer.length > this.max) {
        const bytes = this.buffer.length;
        const preview = this.buffer.subarray(0, 120).toString('utf8');
        this.buffer = Buffer.alloc(0);
        this.discarding = true;
        this.onOverlong(preview, bytes);
      }
      cb(err);
    });
  }

  // A whole overlong line can arrive in one chunk; it is caught here, before it is emitted as a line.
  override push(chunk: unknown, encoding?: BufferEncoding): boolean {
    if (Buffer.isBuffer(chunk) && chunk.length > this.max) {
      this.onOverlong(chunk.subarray(0, 120).toString('utf8'), chunk.length);
      return true;
    }
    return super.push(chunk, encoding);
  }
}

import { closeSync, constants as fsConstants, fstat, openSync, read, stat, type Stats } from 'node:fs';
import { Socket } from 'node:net';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { CaptureError, type LiveCaptureSource, type StereoChunk } from './capture.js';
import { CAPTURE_RATE, InterleavedPcmFramer, LiveChunkQueue, type ChannelMap, type PcmLayout } from './pcm.js';
import { log } from '../lib/log.js';

const statAsync = promisify(stat);
const fstatAsync = promisify(fstat);
const readAsync = promisify(read);

export interface PipeSourceOptions extends PcmLayout, ChannelMap {
  /** A named pipe (mkfifo) a call recorder writes raw s16le PCM into, or a raw PCM file it appends to. */
  path: string;
  /** Captured audio held for a slow reader before the pipe is no longer read (the writer then blocks). Default 10 s. */
  maxBacklogSec?: number;
}

/** How often a followed file is checked for more audio once its end is reached. */
const FILE_POLL_MS = 100;
const FILE_READ_BYTES = 64 * 1024;

/**
 * Raw PCM from a call recorder over a named pipe. A recorder that closes the pipe and comes back (a restart,
 * a new call) is normal: the source waits for the next writer, and only close() ends it.
 *
 * The FIFO is opened O_RDONLY|O_NONBLOCK and read through a libuv pipe handle (net.Socket), not fs streams:
 * a plain open() of a FIFO blocks until a writer appears and fs reads block while it is quiet, each holding
 * a libuv threadpool thread that close() cannot get back, and a box with a few idle lines would starve the
 * pool that fs, dns and PortAudio share. A non-blocking open returns at once, the socket waits in epoll,
 * and close() simply closes the descriptor.
 */
export class PipeSource implements LiveCaptureSource {
  readonly sampleRate = CAPTURE_RATE;
  readonly description: string;
  private readonly framer: InterleavedPcmFramer;
  private readonly queue: LiveChunkQueue;
  private socket: Socket | null = null;
  private readonly stopFollowing = new AbortController();
  private opening: Promise<void> | null = null;
  private closed = false;
  private writers = 0;

  constructor(readonly options: PipeSourceOptions) {
    this.framer = new InterleavedPcmFramer(options);
    this.queue = new LiveChunkQueue(CAPTURE_RATE, { highWaterSec: options.maxBacklogSec ?? 10, onDrain: () => this.socket?.resume() });
    const { path, channels, sampleRate, agentChannel, customerChannel } = options;
    this.description = `pipe ${path} (${channels} ch s16le at ${sampleRate} Hz; agent on channel ${agentChannel}, customer on channel ${customerChannel})`;
  }

  /** Writers that have come and gone so far. */
  get writerSessions(): number {
    return this.writers;
  }

  /** Checks the path and starts listening; a missing or unreadable path is a CaptureError saying which. */
  open(): Promise<void> {
    if (this.closed) return Promise.reject(new CaptureError(this.options.path, 'source is closed'));
    this.opening ??= this.doOpen();
    return this.opening;
  }

  private async doOpen(): Promise<void> {
    const info = await this.statPath();
    if (this.closed) return;
    if (info.isFIFO()) {
      this.attach(this.openFifo());
    } else if (info.isFile()) {
      void this.followFile(this.openPath(fsConstants.O_RDONLY), info.ino);
    } else {
      throw new CaptureError(this.options.path, `${kindOf(info)}, not a named pipe or a raw PCM file (make one with mkfifo)`);
    }
  }

  async *chunks(): AsyncIterable<StereoChunk> {
    if (!this.closed) await this.open();
    yield* this.queue;
  }

  /** Ends the chunk iterator after the audio already read; interrupts a wait for a writer at once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopFollowing.abort();
    this.socket?.destroy();
    this.socket = null;
    this.queue.push(this.framer.end());
    this.queue.end();
  }

  private async statPath(): Promise<Stats> {
    try {
      return await statAsync(this.options.path);
    } catch (err) {
      throw new CaptureError(this.options.path, reasonFor(err));
    }
  }

  private openPath(flags: number): number {
    try {
      // Synchronous on purpose: with O_NONBLOCK a FIFO opens at once, and the next FIFO descriptor must exist
      // before the previous one closes (see onWriterGone).
      return openSync(this.options.path, flags);
    } catch (err) {
      throw new CaptureError(this.options.path, reasonFor(err));
    }
  }

  private openFifo(): number {
    return this.openPath(fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  }

  private attach(fd: number): void {
    const socket = new Socket({ fd, readable: true, writable: false });
    this.socket = socket;
    socket.on('data', (bytes: Buffer) => this.onBytes(bytes));
    socket.once('end', () => this.onWriterGone(socket));
    socket.on('error', (err) => {
      if (this.closed) return;
      socket.destroy();
      this.fail(`reading the pipe failed: ${err.message}`);
    });
    if (this.queue.overHighWater) socket.pause();
  }

  private onBytes(bytes: Buffer): void {
    if (this.closed) return;
    this.queue.push(this.framer.push(bytes), Date.now());
    if (this.queue.overHighWater) this.socket?.pause();
  }

  /**
   * EOF on a FIFO means its last writer closed it. The next descriptor is opened before this one closes, so
   * the pipe never lacks a reader: a new writer's open() then never fails, and nothing it writes early is lost.
   * A descriptor opened after the writer left sees no hang-up until a new writer has come and gone too.
   * (A writer that opens before this EOF is seen shares the session: a FIFO marks no boundary between them.)
   */
  private onWriterGone(socket: Socket): void {
    if (this.closed || socket !== this.socket) return;
    this.writers++;
    this.dropPartialFrame('the writer closed the pipe');
    let fd: number;
    try {
      fd = this.openFifo();
    } catch (err) {
      this.fail(err instanceof CaptureError ? err.reason : String(err));
      return;
    }
    log.debug({ source: this.description, writers: this.writers }, 'pipe writer closed; waiting for the next one');
    this.attach(fd);
  }

  private dropPartialFrame(why: string): void {
    const bytes = this.framer.discardPartial();
    if (bytes > 0) log.warn({ source: this.description, bytes }, `${why} in the middle of a frame; the fragment is dropped to keep the channels aligned`);
  }

  /** A raw file a recorder appends to is followed like `tail -f`; truncated or replaced means a new recording. */
  private async followFile(fd: number, ino: number): Promise<void> {
    const buffer = Buffer.alloc(FILE_READ_BYTES);
    let position = 0;
    try {
      while (!this.closed) {
        if (this.queue.overHighWater) {
          await sleep(FILE_POLL_MS, undefined, { signal: this.stopFollowing.signal });
          continue;
        }
        const { bytesRead } = await readAsync(fd, buffer, 0, buffer.length, position);
        if (this.closed) return;
        if (bytesRead > 0) {
          position += bytesRead;
          this.onBytes(Buffer.from(buffer.subarray(0, bytesRead)));
          continue;
        }
        const [now, current] = await Promise.all([fstatAsync(fd), statAsync(this.options.path).catch(() => null)]);
        if (current && current.ino !== ino && current.isFile()) {
          this.dropPartialFrame('the file was replaced');
          const next = this.openPath(fsConstants.O_RDONLY);
          closeQuietly(fd);
          fd = next;
          ino = current.ino;
          position = 0;
          this.writers++;
          continue;
        }
        if (now.size < position) {
          this.dropPartialFrame('the file was truncated');
          position = 0;
          this.writers++;
          continue;
        }
        await sleep(FILE_POLL_MS, undefined, { signal: this.stopFollowing.signal });
      }
    } catch (err) {
      if (!this.closed) this.fail(err instanceof CaptureError ? err.reason : `reading the file failed: ${(err as Error).message}`);
    } finally {
      // Closed here, not in close(): a read may still be in flight, and a descriptor number closed under it
      // could be reused by the next open() and read from the wrong file.
      closeQuietly(fd);
    }
  }

  private fail(reason: string): void {
    log.warn({ source: this.description, reason }, 'pipe source failed');
    this.queue.fail(new CaptureError(this.options.path, reason));
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed: nothing left to release
  }
}

function kindOf(info: Stats): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isSocket()) return 'a Unix socket';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

function reasonFor(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such pipe or file (the recorder creates it with mkfifo; is it running, and is the path right?)';
    case 'ENOTDIR':
      return 'a directory in the path is not a directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied: not readable by this user';
    case 'ENXIO':
      return 'no such device or address (a socket, or a device that is gone)';
    case 'ELOOP':
      return 'too many symbolic links';
    default:
      return `cannot open: ${(err as Error).message}`;
  }
}

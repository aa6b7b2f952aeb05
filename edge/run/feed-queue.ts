import type { StereoChunk } from '../../device/capture.js';
import type { CallBoundary } from './line.js';

export type FeedItem = { kind: 'audio'; chunk: StereoChunk; sec: number } | { kind: 'call'; boundary: CallBoundary } | { kind: 'end'; error?: unknown };

/**
 * What a line has captured and not yet analysed, in order: audio, call boundaries, and how the source ended.
 * Its length in seconds is how far the line is behind real time. Past `maxBacklogSec` the oldest audio goes;
 * call boundaries are never dropped, so calls still start and end where they did.
 */
export class FeedQueue {
  private readonly items: FeedItem[] = [];
  private wake?: () => void;
  /** Seconds of audio waiting. */
  queuedSec = 0;

  constructor(private readonly maxBacklogSec: number) {}

  /** Queues an item; returns the seconds of audio dropped to stay within the backlog limit. */
  push(item: FeedItem): number {
    this.items.push(item);
    let dropped = 0;
    if (item.kind === 'audio') {
      this.queuedSec += item.sec;
      for (let i = 0; i < this.items.length && this.queuedSec > this.maxBacklogSec; ) {
        const old = this.items[i];
        if (old.kind !== 'audio') {
          i++;
          continue;
        }
        this.items.splice(i, 1);
        this.queuedSec -= old.sec;
        dropped += old.sec;
      }
    }
    this.wake?.();
    return dropped;
  }

  /** The next item, waiting for one if need be. */
  async next(): Promise<FeedItem> {
    while (this.items.length === 0) {
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    const item = this.items.shift() as FeedItem;
    if (item.kind === 'audio') this.queuedSec = Math.max(0, this.queuedSec - item.sec);
    return item;
  }

  /** Wakes a waiting next() without an item (stopping). */
  poke(): void {
    this.wake?.();
  }

  clear(): void {
    this.items.length = 0;
    this.queuedSec = 0;
  }
}

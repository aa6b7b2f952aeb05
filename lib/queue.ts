/**
 * Async work queues, on p-limit: jobs start in the order they were queued, at most `concurrency` at once,
 * and a job that fails fails only its own caller (the queue goes on with the next).
 */
import pLimit, { type LimitFunction } from 'p-limit';

export type WorkQueue = LimitFunction;

/** At most `concurrency` jobs running at once. */
export function workQueue(concurrency: number): WorkQueue {
  return pLimit(concurrency);
}

/** One job at a time, in order: for a resource that must not be used by two callers at once. */
export function serialQueue(): WorkQueue {
  return pLimit(1);
}

/** Jobs queued or running. */
export function busy(queue: WorkQueue): number {
  return queue.activeCount + queue.pendingCount;
}

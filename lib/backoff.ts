/**
 * Exponential backoff: each failure in a row waits twice as long as the one before, from `minSec` up to
 * `maxSec`, optionally spread by ±`jitter` (a fraction, the result kept within min..max) so that boxes or
 * lines cut off together do not all come back in the same instant. The one home for the retry delays of
 * reconnects, reopened ports, restarted lines and paused publishes.
 */
export interface BackoffPolicy {
  minSec: number;
  maxSec: number;
  /** 0..1: the delay is multiplied by a random factor in [1 - jitter, 1 + jitter]. Default 0. */
  jitter?: number;
}

/** Delay before retry `attempt` (0-based), in ms. */
export function backoffDelayMs(attempt: number, minSec: number, maxSec: number, jitter = 0, random = Math.random): number {
  const base = Math.min(maxSec, minSec * 2 ** Math.min(attempt, 30));
  const jittered = base * (1 + jitter * (2 * random() - 1));
  return Math.round(1000 * Math.min(maxSec, Math.max(minSec, jittered)));
}

/** The failures-in-a-row counter that goes with it: `next()` on each failure, `reset()` on success. */
export class Backoff {
  private attempts = 0;

  constructor(private readonly policy: BackoffPolicy, private readonly random: () => number = Math.random) {}

  /** The delay for this failure (in ms), counting it. */
  next(): number {
    return backoffDelayMs(this.attempts++, this.policy.minSec, this.policy.maxSec, this.policy.jitter ?? 0, this.random);
  }

  reset(): void {
    this.attempts = 0;
  }
}

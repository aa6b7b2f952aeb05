import type { Channel } from '../events.js';

/** Two hits are the same evidence when they are on one side and overlap (within this slack). */
const SAME_EVIDENCE_SLACK = 0.5;

/**
 * One occurrence heard twice (the acoustic spotter and the transcript spotter, or a spotter hit and the words of
 * the same place): the call keeps it once and the rules raise it once.
 */
export function sameEvidence(a: { channel: Channel; start: number; end: number }, b: { channel: Channel; start: number; end: number }): boolean {
  return a.channel === b.channel && b.start < a.end + SAME_EVIDENCE_SLACK && a.start < b.end + SAME_EVIDENCE_SLACK;
}

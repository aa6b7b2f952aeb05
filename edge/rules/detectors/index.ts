import type { Detector } from '../detector.js';
import { deadAir } from './dead-air.js';
import { emotion } from './emotion.js';
import { hurriedHangup } from './hurried-hangup.js';
import { lateHangup } from './late-hangup.js';
import { metrics } from './metrics.js';
import { monologue } from './monologue.js';
import { overtalk } from './overtalk.js';
import { phrase } from './phrase.js';
import { query } from './query.js';
import { silentAgent } from './silent-agent.js';

/** Every kind of rule, by its `kind`: the one list a new detector joins. */
const ALL: readonly Detector[] = [phrase, query, metrics, lateHangup, deadAir, silentAgent, hurriedHangup, emotion, overtalk, monologue];

export const DETECTORS: ReadonlyMap<string, Detector> = new Map(ALL.map((d) => [d.kind, d]));

/** The kinds a pack names in `detector:` (the others are chosen by the rule's fields). */
export const SIGNAL_KINDS: readonly string[] = ALL.filter((d) => !d.byFields).map((d) => d.kind);

export function detectorFor(kind: string): Detector {
  const d = DETECTORS.get(kind);
  if (!d) throw new Error(`no detector of kind "${kind}"`);
  return d;
}

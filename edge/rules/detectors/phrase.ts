import type { Detector } from '../detector.js';
import { phraseQuery } from '../detector.js';
import { matching, noParams, windowed, type MatchState } from './matching.js';

/**
 * A phrase rule (a forbidden phrase, a credential request): any of its phrases said by `channel`, optionally
 * `near` another list, matched in the transcript and as spotter hits.
 */
export const phrase: Detector<MatchState> = {
  kind: 'phrase',
  byFields: true,
  params: {},
  compile(spec, tools) {
    noParams(spec, tools);
    let q = phraseQuery(spec.phrases!, spec.channel);
    if (spec.near) q = `${q} NEAR/${spec.near.withinSec} ${phraseQuery(spec.near.phrases, spec.near.channel)}`;
    return { queryText: windowed(q, spec.when?.window) };
  },
  ...matching,
};

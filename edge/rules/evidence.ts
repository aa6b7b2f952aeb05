import type { CallState } from '../call/call-state.js';
import { formatTime, type SearchHit } from '../search/query.js';

import { sameEvidence } from '../call/same-evidence.js';

const MAX_EVIDENCE_PARTS = 3;

/** "agent 0:19.2 “… read me the verification code and …”" per piece of evidence (spotter hits and words of one place merged). */
export function describeHits(call: CallState, hits: readonly SearchHit[]): string {
  const groups: SearchHit[][] = [];
  for (const h of [...hits].sort((a, b) => a.start - b.start)) {
    const g = groups.find((x) => x[0].channel === h.channel && x.some((y) => sameEvidence(y, h)));
    if (g) g.push(h);
    else groups.push([h]);
  }
  const parts = groups.slice(0, MAX_EVIDENCE_PARTS).map((g) => {
    const start = Math.min(...g.map((h) => h.start));
    const end = Math.max(...g.map((h) => h.end));
    const context = call.wordsAround(g[0].channel, start, end);
    const terms = [...new Set(g.map((h) => h.text))];
    // a keyword hit of the transcript spotter (source "asr") was found in the words: quote those, not a spotter
    const spotted = g.every((h) => h.source === 'keyword' && call.keywords.some((k) => k.source === 'kws' && k.term === h.text && k.channel === h.channel && k.start === h.start));
    const said = spotted ? `"${terms.join('" / "')}" (keyword spotter)${context ? `, words: "${context}"` : ''}` : `"${context || terms.join(' ')}"`;
    return `${g[0].channel} ${formatTime(start)} ${said}`;
  });
  if (groups.length > MAX_EVIDENCE_PARTS) parts.push(`+${groups.length - MAX_EVIDENCE_PARTS} more`);
  return parts.join('; ');
}

/** Dead air from `q`: how long, and the last words before it. */
export function silenceEvidence(call: CallState, q: number, sec: number): string {
  const before = call.lastWords(q);
  return `no speech on either side for more than ${sec} s from ${formatTime(q)}${before ? `; last words: ${before.channel} "${before.text}"` : ''}`;
}

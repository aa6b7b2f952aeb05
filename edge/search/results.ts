/** Searching many call indexes, and the listing `earshot search` prints. */
import { matchCall, type SearchHit, type SearchableIndex } from './match.js';
import { parseQuery, type QueryNode } from './syntax.js';

export interface SearchResult {
  file: string;
  callId: string;
  hits: SearchHit[];
}

/** Every matching call, in the order given. */
export function searchIndexes(query: QueryNode | string, indexes: { file: string; index: SearchableIndex }[]): SearchResult[] {
  const node = typeof query === 'string' ? parseQuery(query) : query;
  const results: SearchResult[] = [];
  for (const { file, index } of indexes) {
    const match = matchCall(node, index);
    if (match) results.push({ file, callId: index.callId ?? '', hits: match.hits });
  }
  return results;
}

/** `m:ss.s`, e.g. 72.34 -> `1:12.3`. */
export function formatTime(sec: number): string {
  const tenths = Math.round(sec * 10);
  const minutes = Math.floor(tenths / 600);
  const rest = (tenths - minutes * 600) / 10;
  return `${minutes}:${rest.toFixed(1).padStart(4, '0')}`;
}

/** The CLI's listing: one block per matching call, one line per hit. Empty string when nothing matched. */
export function formatSearchResults(results: SearchResult[]): string {
  return results
    .map((r) => {
      const lines = [`${r.file} (${r.callId})`];
      for (const h of r.hits) {
        const tag = h.source === 'keyword' ? `  [keyword spotter${h.score !== undefined ? ` ${h.score.toFixed(2)}` : ''}]` : '';
        lines.push(`  ${h.channel} ${formatTime(h.start)}-${formatTime(h.end)}  "${h.text}"${tag}`);
      }
      if (r.hits.length === 0) lines.push('  (matched by absence: no hits to show)');
      return `${lines.join('\n')}\n`;
    })
    .join('\n');
}

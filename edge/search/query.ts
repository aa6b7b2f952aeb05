/**
 * The keyword query language: `earshot search` and the rules use it to find calls by what was said. This is
 * its entry point; the parts are syntax.ts (parser), normalize.ts (how words and pinyin compare), match.ts
 * (evaluation against one call index) and results.ts (many indexes, and the listing).
 * Grammar, semantics and examples: docs/search.md.
 */
export { parseQuery, queryToString, QuerySyntaxError, type QueryNode } from './syntax.js';
export { normalizeSyllable, termPattern, type TermPattern } from './normalize.js';
export { hitSnippets, matchCall, searchableTokens, type QueryMatch, type SnippetSegment, type TokenRun, type SearchHit, type SearchKeyword, type SearchUtterance, type SearchWord, type SearchableIndex } from './match.js';
export { formatSearchResults, formatTime, searchIndexes, type SearchResult } from './results.js';

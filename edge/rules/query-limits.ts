/**
 * The query parser recurses once per "(", NOT and agent:/first:30s prefix and overflows the stack near a few
 * thousand; catching that RangeError is not safe (an overflow inside V8's regular-expression compiler aborts
 * the process), so a query is refused before parsing when it could nest deeper than any real rule does.
 * Counted on the text, so a word "not" inside a quoted phrase counts too: an upper bound, far from real rules.
 */
export const MAX_QUERY_NESTING = 200;
export const nestingBound = (query: string): number => (query.match(/[(:]|\bnot\b/gi) ?? []).length;

/**
 * From a parsed query to a condition on the text index that every call the evaluator would match meets
 * (it may let through more; `matchCall` then decides). Why each rule keeps that promise:
 * - a term occurs only where its words (or syllables) all are, consecutively, in one run of one channel, so
 *   a call with an occurrence has that sequence of lexemes (text-index.ts indexes every run);
 * - a scope keeps only its channel's occurrences: the channel's lexemes are needed;
 * - a window keeps only some occurrences of what is inside it: what those need is still needed;
 * - AND needs every child, OR one of them; NEAR needs an occurrence of both sides;
 * - NOT X matches by X's absence, which the index cannot prove: it needs nothing (`all`), and so does an OR
 *   with such a child, or a query of only NOTs (answered over the call filter alone).
 */
import { termPattern, type QueryNode } from '../../edge/search/query.js';
import { lexeme, pairLexeme, type Kind, type Side } from './text-index.js';

export type Cond =
  /** no narrowing: every call is a candidate */
  | { op: 'all' }
  /** these tokens of one side and kind, consecutive in one run */
  | { op: 'seq'; side: Side; kind: Kind; tokens: string[] }
  | { op: 'and' | 'or'; children: Cond[] };

const ALL: Cond = { op: 'all' };
const BOTH: Side[] = ['agent', 'customer'];

function and(children: Cond[]): Cond {
  const kept = children.filter((c) => c.op !== 'all').flatMap((c) => (c.op === 'and' ? c.children : [c]));
  return kept.length === 0 ? ALL : kept.length === 1 ? kept[0] : { op: 'and', children: dedupe(kept) };
}

function or(children: Cond[]): Cond {
  if (children.length === 0 || children.some((c) => c.op === 'all')) return ALL;
  const flat = dedupe(children.flatMap((c) => (c.op === 'or' ? c.children : [c])));
  return flat.length === 1 ? flat[0] : { op: 'or', children: flat };
}

function dedupe(children: Cond[]): Cond[] {
  const seen = new Map<string, Cond>();
  for (const c of children) seen.set(JSON.stringify(c), c);
  return [...seen.values()];
}

function term(text: string, sides: Side[]): Cond {
  const p = termPattern(text);
  const alternatives: Cond[] = [];
  for (const side of sides) {
    if (!p.chinese && p.words.length) alternatives.push({ op: 'seq', side, kind: 'words', tokens: p.words });
    if (p.syllables.length) alternatives.push({ op: 'seq', side, kind: 'syllables', tokens: p.syllables });
    // a spotter's term in characters is found by a term in characters only
    if (p.chinese && p.syllables.length) alternatives.push({ op: 'seq', side, kind: 'hanzi', tokens: p.syllables });
  }
  // the parser refuses a term without tokens; were there one, not narrowing is the safe answer
  return alternatives.length ? or(alternatives) : ALL;
}

export function candidateCondition(node: QueryNode, sides: Side[] = BOTH): Cond {
  switch (node.type) {
    case 'term':
      return term(node.text, sides);
    case 'and':
      return and(node.children.map((c) => candidateCondition(c, sides)));
    case 'or':
      return or(node.children.map((c) => candidateCondition(c, sides)));
    case 'near':
      return and([candidateCondition(node.left, sides), candidateCondition(node.right, sides)]);
    case 'scope':
      return candidateCondition(node.child, [node.channel as Side]);
    case 'window':
      return candidateCondition(node.child, sides);
    case 'not':
      return ALL;
  }
}

/**
 * FTS5's query syntax. Lexemes are [a-z0-9] only, quoted anyway. A sequence is a phrase: FTS5 keeps
 * positions, and a run's tokens are consecutive in the index (a phrase may also match across the end of one
 * run and the start of the next: more candidates, never fewer).
 */
export function fts5Query(c: Cond): string {
  switch (c.op) {
    case 'all':
      throw new Error('an unnarrowed condition has no FTS5 query');
    case 'seq':
      return `"${c.tokens.map((t) => lexeme(c.side, c.kind, t)).join(' ')}"`;
    case 'and':
    case 'or':
      return `(${c.children.map(fts5Query).join(c.op === 'and' ? ' AND ' : ' OR ')})`;
  }
}

/**
 * A tsquery's text form. A sequence of several tokens is the AND of its adjacent pairs, which the tsvector
 * holds as lexemes of their own (text-index.ts): a tsvector's positions stop at 16383, so a phrase operator
 * would miss a long call's later words, while pairs are exact at any length.
 */
export function tsqueryText(c: Cond): string {
  switch (c.op) {
    case 'all':
      throw new Error('an unnarrowed condition has no tsquery');
    case 'seq': {
      if (c.tokens.length === 1) return `'${lexeme(c.side, c.kind, c.tokens[0])}'`;
      const pairs = [...new Set(c.tokens.slice(1).map((t, i) => pairLexeme(c.side, c.kind, c.tokens[i], t)))];
      return pairs.length === 1 ? `'${pairs[0]}'` : `(${pairs.map((l) => `'${l}'`).join(' & ')})`;
    }
    case 'and':
    case 'or':
      return `(${c.children.map(tsqueryText).join(c.op === 'and' ? ' & ' : ' | ')})`;
  }
}

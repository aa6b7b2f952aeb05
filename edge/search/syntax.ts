/**
 * The keyword query language's syntax: tokens, the parse tree and its errors (with the position in the query).
 * Grammar, semantics and examples: docs/search.md.
 */
import { InputError } from '../../lib/errors.js';
import type { Channel } from '../events.js';
import { termTokens } from './normalize.js';

export type QueryNode =
  | { type: 'term'; text: string; phrase: boolean; position: number }
  | { type: 'and'; children: QueryNode[] }
  | { type: 'or'; children: QueryNode[] }
  | { type: 'not'; child: QueryNode; position: number }
  | { type: 'near'; seconds: number; left: QueryNode; right: QueryNode; position: number }
  | { type: 'scope'; channel: Channel; child: QueryNode; position: number }
  | { type: 'window'; edge: 'first' | 'last'; seconds: number; child: QueryNode; position: number };

export class QuerySyntaxError extends InputError {
  constructor(
    readonly detail: string,
    readonly position: number,
  ) {
    super(`${detail} at position ${position}`);
    this.name = 'QuerySyntaxError';
  }

  override get userMessage(): string {
    return `query: ${this.message}`;
  }
}

/** A compact, fully parenthesised rendering of a parsed query, e.g. `(OR (AND a "b c") (NOT d))`. */
export function queryToString(node: QueryNode): string {
  switch (node.type) {
    case 'term':
      return node.phrase ? JSON.stringify(node.text) : node.text;
    case 'and':
    case 'or':
      return `(${node.type.toUpperCase()} ${node.children.map(queryToString).join(' ')})`;
    case 'not':
      return `(NOT ${queryToString(node.child)})`;
    case 'near':
      return `(NEAR/${node.seconds} ${queryToString(node.left)} ${queryToString(node.right)})`;
    case 'scope':
      return `${node.channel}:${queryToString(node.child)}`;
    case 'window':
      return `${node.edge}:${node.seconds}s:${queryToString(node.child)}`;
  }
}

type Token =
  | { kind: 'word'; text: string; pos: number }
  | { kind: 'phrase'; text: string; pos: number }
  | { kind: 'lparen'; pos: number }
  | { kind: 'rparen'; pos: number }
  | { kind: 'and'; pos: number }
  | { kind: 'or'; pos: number }
  | { kind: 'not'; pos: number }
  | { kind: 'near'; seconds: number; pos: number }
  | { kind: 'scope'; channel: Channel; pos: number }
  | { kind: 'window'; edge: 'first' | 'last'; seconds: number; pos: number }
  | { kind: 'end'; pos: number };

const OPEN_QUOTES: Record<string, string> = { '"': '"', '\u201c': '\u201d' };
const isBreak = (c: string) => /\s/.test(c) || c === '(' || c === ')' || c in OPEN_QUOTES;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(') {
      tokens.push({ kind: 'lparen', pos: i++ });
    } else if (c === ')') {
      tokens.push({ kind: 'rparen', pos: i++ });
    } else if (c in OPEN_QUOTES) {
      const close = text.indexOf(OPEN_QUOTES[c], i + 1);
      if (close < 0) throw new QuerySyntaxError('unterminated quote', i);
      tokens.push({ kind: 'phrase', text: text.slice(i + 1, close), pos: i });
      i = close + 1;
    } else {
      let j = i;
      while (j < text.length && !isBreak(text[j])) j++;
      bareTokens(text.slice(i, j), i, tokens);
      i = j;
    }
  }
  tokens.push({ kind: 'end', pos: text.length });
  return tokens;
}

/** A bare run of characters: prefixes (`agent:`, `first:30s`), then an operator keyword or a word. */
function bareTokens(raw: string, pos: number, out: Token[]): void {
  let rest = raw;
  for (;;) {
    const scope = /^(agent|customer):/i.exec(rest);
    if (scope) {
      out.push({ kind: 'scope', channel: scope[1].toLowerCase() as Channel, pos });
      rest = rest.slice(scope[0].length);
      pos += scope[0].length;
      continue;
    }
    const windowPrefix = /^(first|last):/i.exec(rest);
    if (windowPrefix) {
      // the window is the rest of this bare run, up to an optional chained prefix (`first:30s:agent:...` is
      // not allowed; `agent:first:30s` is)
      const m = /^(first|last):(\d+(?:\.\d+)?)(s|m)?$/i.exec(rest);
      if (!m) throw new QuerySyntaxError(`invalid time window ${rest} (expected e.g. first:30s)`, pos);
      const seconds = Number(m[2]) * (m[3]?.toLowerCase() === 'm' ? 60 : 1);
      out.push({ kind: 'window', edge: m[1].toLowerCase() as 'first' | 'last', seconds, pos });
      return;
    }
    break;
  }
  if (rest === '') return;
  const upper = rest.toUpperCase();
  if (upper === 'AND') out.push({ kind: 'and', pos });
  else if (upper === 'OR') out.push({ kind: 'or', pos });
  else if (upper === 'NOT') out.push({ kind: 'not', pos });
  else if (upper === 'NEAR') throw new QuerySyntaxError('NEAR needs a distance in seconds, e.g. NEAR/5,', pos);
  else if (upper.startsWith('NEAR/')) {
    const m = /^NEAR\/(\d+(?:\.\d+)?)S?$/.exec(upper);
    if (!m) throw new QuerySyntaxError(`unknown operator ${rest}`, pos);
    out.push({ kind: 'near', seconds: Number(m[1]), pos });
  } else if (/^\p{L}+:/u.test(rest)) {
    const name = /^\p{L}+:/u.exec(rest)![0];
    throw new QuerySyntaxError(`unknown prefix ${name} (prefixes are agent:, customer:, first:<N>s, last:<N>s; quote text to search for it)`, pos);
  } else {
    out.push({ kind: 'word', text: rest, pos });
  }
}

// or := and {OR and}; and := near {[AND] near}; near := unary {NEAR/n unary};
//         unary := NOT unary | prefixed; prefixed := {scope | window} primary; primary := term | "(" or ")"

export function parseQuery(text: string): QueryNode {
  const tokens = tokenize(text);
  let k = 0;
  const peek = () => tokens[k];
  const startsOperand = (t: Token) => ['word', 'phrase', 'lparen', 'not', 'scope', 'window'].includes(t.kind);

  const parseOr = (): QueryNode => {
    const children = [parseAnd()];
    while (peek().kind === 'or') {
      k++;
      children.push(parseAnd());
    }
    return children.length === 1 ? children[0] : { type: 'or', children: children.flatMap((c) => (c.type === 'or' ? c.children : [c])) };
  };
  const parseAnd = (): QueryNode => {
    const children = [parseNear()];
    for (;;) {
      if (peek().kind === 'and') {
        k++;
        children.push(parseNear());
      } else if (startsOperand(peek())) {
        children.push(parseNear());
      } else break;
    }
    return children.length === 1 ? children[0] : { type: 'and', children: children.flatMap((c) => (c.type === 'and' ? c.children : [c])) };
  };
  const parseNear = (): QueryNode => {
    let left = parseUnary();
    while (peek().kind === 'near') {
      const op = peek() as Extract<Token, { kind: 'near' }>;
      k++;
      const right = parseUnary();
      for (const side of [left, right]) {
        const negated = stripPrefixes(side);
        if (negated.type === 'not') throw new QuerySyntaxError('NOT cannot be an operand of NEAR', negated.position);
      }
      left = { type: 'near', seconds: op.seconds, left, right, position: op.pos };
    }
    return left;
  };
  const parseUnary = (): QueryNode => {
    const t = peek();
    if (t.kind === 'not') {
      k++;
      return { type: 'not', child: parseUnary(), position: t.pos };
    }
    return parsePrefixed();
  };
  const parsePrefixed = (): QueryNode => {
    const t = peek();
    if (t.kind === 'scope') {
      k++;
      return { type: 'scope', channel: t.channel, child: parsePrefixed(), position: t.pos };
    }
    if (t.kind === 'window') {
      k++;
      return { type: 'window', edge: t.edge, seconds: t.seconds, child: parsePrefixed(), position: t.pos };
    }
    return parsePrimary();
  };
  const parsePrimary = (): QueryNode => {
    const t = peek();
    if (t.kind === 'word' || t.kind === 'phrase') {
      k++;
      if (termTokens(t.text).length === 0) throw new QuerySyntaxError(`empty term ${t.kind === 'phrase' ? `"${t.text}"` : t.text}`, t.pos);
      return { type: 'term', text: t.text, phrase: t.kind === 'phrase', position: t.pos };
    }
    if (t.kind === 'lparen') {
      k++;
      const inner = parseOr();
      if (peek().kind !== 'rparen') throw new QuerySyntaxError('expected ")"', peek().pos);
      k++;
      return inner;
    }
    if (t.kind === 'rparen') throw new QuerySyntaxError('unexpected ")"', t.pos);
    if (t.kind === 'end') throw new QuerySyntaxError('expected a term', t.pos);
    throw new QuerySyntaxError(`expected a term before ${describe(t)}`, t.pos);
  };

  const root = parseOr();
  const t = peek();
  if (t.kind === 'rparen') throw new QuerySyntaxError('unexpected ")"', t.pos);
  if (t.kind !== 'end') throw new QuerySyntaxError(`unexpected ${describe(t)}`, t.pos);
  checkScopes(root, undefined);
  return root;
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'and':
    case 'or':
    case 'not':
      return t.kind.toUpperCase();
    case 'near':
      return `NEAR/${t.seconds}`;
    default:
      return t.kind;
  }
}

function stripPrefixes(node: QueryNode): QueryNode {
  while (node.type === 'scope' || node.type === 'window') node = node.child;
  return node;
}

function checkScopes(node: QueryNode, channel: Channel | undefined): void {
  switch (node.type) {
    case 'term':
      return;
    case 'and':
    case 'or':
      return node.children.forEach((c) => checkScopes(c, channel));
    case 'not':
    case 'window':
      return checkScopes(node.child, channel);
    case 'near':
      checkScopes(node.left, channel);
      return checkScopes(node.right, channel);
    case 'scope':
      if (channel && channel !== node.channel) throw new QuerySyntaxError(`${node.channel}: inside ${channel}: can never match`, node.position);
      return checkScopes(node.child, node.channel);
  }
}

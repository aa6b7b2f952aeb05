import { pinyin } from 'pinyin-pro';
import { InputError } from '../../lib/errors.js';
import { foldWord } from '../text.js';
import type { Channel } from '../events.js';

/**
 * The keyword query language: `earshot search` and (later) rules use it to find calls by what was said.
 * Grammar, semantics and examples: docs/search.md.
 */

// ---------------------------------------------------------------------------------------------------------
// Index shape read by search (additive to call-index@1; every field optional, so older indexes simply have
// no words to find).

export interface SearchWord {
  w: string;
  start: number;
  end: number;
  conf?: number;
}

export interface SearchUtterance {
  channel: Channel;
  start: number;
  end: number;
  text?: string;
  script?: 'latin' | 'pinyin' | 'hanzi';
  pinyin?: string;
  words?: SearchWord[];
}

export interface SearchKeyword {
  term: string;
  channel: Channel;
  start: number;
  end: number;
  score?: number;
  source?: 'kws' | 'asr';
}

export interface SearchableIndex {
  callId?: string;
  durationSec?: number;
  utterances?: SearchUtterance[];
  keywords?: SearchKeyword[];
}

// ---------------------------------------------------------------------------------------------------------
// Syntax tree

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

// ---------------------------------------------------------------------------------------------------------
// Lexer

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

// ---------------------------------------------------------------------------------------------------------
// Parser: or := and {OR and}; and := near {[AND] near}; near := unary {NEAR/n unary};
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

// ---------------------------------------------------------------------------------------------------------
// Text normalisation

const CJK = /[\p{Script=Han}]/u;
const CJK_RUN = /\p{Script=Han}+/gu;
const hasCjk = (s: string) => CJK.test(s);

/** Latin words: lower case, accents dropped, apostrophes removed, other punctuation separates words. */
function latinTokensWithOffsets(text: string): { token: string; from: number; to: number }[] {
  const out: { token: string; from: number; to: number }[] = [];
  for (const m of text.matchAll(/[\p{L}\p{N}\p{M}'\u2019]+/gu)) {
    const token = foldWord(m[0]);
    if (token) out.push({ token, from: m.index!, to: m.index! + m[0].length });
  }
  return out;
}
const latinTokens = (text: string) => latinTokensWithOffsets(text).map((t) => t.token);

/**
 * One pinyin syllable, tone-insensitive: tone marks and tone numbers dropped, ü (also written u: or v)
 * becomes v, so `lǜ`, `lü`, `lv4` and `lu:` are all `lv`.
 */
export function normalizeSyllable(s: string): string {
  return s
    .toLowerCase()
    .replace(/u:/g, 'v')
    .normalize('NFD')
    .replace(/u\u0308/g, 'v')
    .replace(/\p{M}/gu, '')
    .replace(/(?<=[a-z])[1-5]$/, '')
    .replace(/[^a-z0-9]/g, '');
}

/** Pinyin written as syllables separated by spaces (apostrophes and punctuation also separate). */
function pinyinSyllables(text: string): string[] {
  return text
    .split(/[\s'\u2019,.;:!?，。！？、]+/u)
    .map(normalizeSyllable)
    .filter((s) => s !== '');
}

/** Pinyin of a text with Chinese characters: each character's reading in context; other text as words. */
function hanziToSyllables(text: string): string[] {
  const out: string[] = [];
  let last = 0;
  for (const m of text.matchAll(CJK_RUN)) {
    out.push(...latinTokens(text.slice(last, m.index)).map(normalizeSyllable).filter(Boolean));
    out.push(...pinyin(m[0], { toneType: 'none', type: 'array' }).map(normalizeSyllable).filter(Boolean));
    last = m.index! + m[0].length;
  }
  out.push(...latinTokens(text.slice(last)).map(normalizeSyllable).filter(Boolean));
  return out;
}

/** What a query term looks for: words (English, or pinyin typed in Latin letters) or syllables (Chinese). */
interface TermPattern {
  chinese: boolean;
  /** latin words, for the transcript's words */
  words: string[];
  /** pinyin syllables, for Mandarin transcripts */
  syllables: string[];
}

function termTokens(text: string): string[] {
  return hasCjk(text) ? hanziToSyllables(text) : latinTokens(text);
}

const patternCache = new Map<string, TermPattern>();
function termPattern(text: string): TermPattern {
  let p = patternCache.get(text);
  if (!p) {
    const chinese = hasCjk(text);
    p = chinese
      ? { chinese, words: [], syllables: hanziToSyllables(text) }
      : { chinese, words: latinTokens(text), syllables: latinTokens(text).map(normalizeSyllable).filter(Boolean) };
    patternCache.set(text, p);
  }
  return p;
}

// ---------------------------------------------------------------------------------------------------------
// Matching

export interface SearchHit {
  channel: Channel;
  start: number;
  end: number;
  /** the matched words as the transcript wrote them (or the keyword-spotter term) */
  text: string;
  /** `transcript`: found in the words; `keyword`: a `keywords[]` (spotter) hit */
  source: 'transcript' | 'keyword';
  /** the spotter's score, for keyword hits */
  score?: number;
}

export interface QueryMatch {
  hits: SearchHit[];
}

/** One searchable unit of an utterance, with the time span it covers and the surface text it came from. */
interface Unit {
  token: string;
  start: number;
  end: number;
  /** surface text to show, and which original piece it came from (consecutive units of one piece share it) */
  piece: number;
}
interface Stream {
  units: Unit[];
  pieces: string[];
}

interface PreparedUtterance {
  u: SearchUtterance;
  /** latin words of the transcript */
  words: Stream | null;
  /** pinyin syllables, for Mandarin utterances */
  syllables: Stream | null;
}

interface PreparedCall {
  utterances: PreparedUtterance[];
  keywords: SearchKeyword[];
  durationSec: number;
}

function isMandarin(u: SearchUtterance): boolean {
  return u.script === 'pinyin' || u.script === 'hanzi' || typeof u.pinyin === 'string' || hasCjk(u.text ?? '') || (u.words ?? []).some((w) => hasCjk(w.w));
}

function latinStream(u: SearchUtterance): Stream | null {
  if (u.script === 'pinyin') return null; // its words are syllables: searched as pinyin, ü kept apart from u
  if (u.words && u.words.length > 0) {
    const units: Unit[] = [];
    u.words.forEach((w, piece) => {
      for (const token of latinTokens(w.w)) units.push({ token, start: w.start, end: w.end, piece });
    });
    return { units, pieces: u.words.map((w) => w.w) };
  }
  if (u.text === undefined) return null;
  // no word timings: every word spans the whole utterance; pieces are the words' original spellings
  const found = latinTokensWithOffsets(u.text);
  return {
    units: found.map((t, piece) => ({ token: t.token, start: u.start, end: u.end, piece })),
    pieces: found.map((t) => u.text!.slice(t.from, t.to)),
  };
}

function syllableStream(u: SearchUtterance): Stream | null {
  if (!isMandarin(u)) return null;
  const pinyinText = u.pinyin ?? (u.script === 'pinyin' ? u.text : undefined);
  if (u.words && u.words.length > 0) {
    // per word: its own pinyin if written in Latin letters; for characters, the utterance's pinyin when it
    // lines up syllable for character (the recogniser's reading, in context), else pinyin-pro per word
    const perWord = u.words.map((w) => (hasCjk(w.w) ? null : pinyinSyllables(w.w)));
    const hanziCount = u.words.reduce((n, w) => n + (hasCjk(w.w) ? [...w.w].filter((c) => hasCjk(c)).length : 0), 0);
    const given = pinyinText !== undefined && u.script !== 'pinyin' ? pinyinSyllables(pinyinText) : null;
    const wordsAreAllHanzi = u.words.every((w) => hasCjk(w.w) && [...w.w].every((c) => hasCjk(c)));
    let cursor = 0;
    const units: Unit[] = [];
    u.words.forEach((w, piece) => {
      let syl = perWord[piece];
      if (syl === null) {
        if (given && wordsAreAllHanzi && given.length === hanziCount) {
          const n = [...w.w].length;
          syl = given.slice(cursor, cursor + n);
          cursor += n;
        } else syl = hanziToSyllables(w.w);
      }
      for (const token of syl) units.push({ token, start: w.start, end: w.end, piece });
    });
    return { units, pieces: u.words.map((w) => w.w) };
  }
  // no word timings: every syllable spans the whole utterance
  let syl: string[];
  let pieces: string[];
  if (pinyinText !== undefined) {
    const raw = pinyinText.split(/[\s'\u2019,.;:!?，。！？、]+/u).filter((s) => normalizeSyllable(s) !== '');
    syl = raw.map(normalizeSyllable);
    pieces = raw;
    // show the characters when the text has one per syllable
    const chars = [...(u.text ?? '')].filter((c) => hasCjk(c));
    if (u.script !== 'pinyin' && chars.length === syl.length) pieces = chars;
  } else if (u.text !== undefined) {
    const chars = [...u.text].filter((c) => hasCjk(c));
    syl = hanziToSyllables(u.text);
    pieces = chars.length === syl.length ? chars : syl;
  } else return null;
  return { units: syl.map((token, piece) => ({ token, start: u.start, end: u.end, piece })), pieces };
}

function joinPieces(pieces: string[]): string {
  let out = '';
  for (const p of pieces) {
    if (out && !(hasCjk(out.at(-1)!) && hasCjk(p[0] ?? ''))) out += ' ';
    out += p;
  }
  return out;
}

function findInStream(stream: Stream | null, pattern: string[], channel: Channel): SearchHit[] {
  if (!stream || pattern.length === 0) return [];
  const hits: SearchHit[] = [];
  const { units } = stream;
  outer: for (let i = 0; i + pattern.length <= units.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (units[i + j].token !== pattern[j]) continue outer;
    const first = units[i];
    const last = units[i + pattern.length - 1];
    hits.push({
      channel,
      start: first.start,
      end: Math.max(...units.slice(i, i + pattern.length).map((x) => x.end)),
      text: joinPieces(stream.pieces.slice(first.piece, last.piece + 1)),
      source: 'transcript',
    });
  }
  return hits;
}

function prepare(index: SearchableIndex): PreparedCall {
  const utterances = (index.utterances ?? []).map((u) => ({ u, words: latinStream(u), syllables: syllableStream(u) }));
  const keywords = index.keywords ?? [];
  const ends = [...utterances.map((p) => p.u.end), ...keywords.map((k) => k.end)];
  const durationSec = typeof index.durationSec === 'number' && Number.isFinite(index.durationSec) ? index.durationSec : Math.max(0, ...ends);
  return { utterances, keywords, durationSec };
}

interface Context {
  channel?: Channel;
  /** occurrences must start at or before this time (first:Ns) */
  startBy: number;
  /** occurrences must end at or after this time (last:Ns) */
  endFrom: number;
}

interface Result {
  ok: boolean;
  hits: SearchHit[];
}

const sameKeywordTerm = (pattern: TermPattern, term: string): boolean => {
  if (pattern.chinese) {
    if (!hasCjk(term)) return false;
    const syl = hanziToSyllables(term);
    return syl.length === pattern.syllables.length && syl.every((s, i) => s === pattern.syllables[i]);
  }
  const words = latinTokens(term);
  return words.length === pattern.words.length && words.every((w, i) => w === pattern.words[i]);
};

function occurrences(term: string, call: PreparedCall, ctx: Context): SearchHit[] {
  const pattern = termPattern(term);
  const hits: SearchHit[] = [];
  for (const p of call.utterances) {
    if (ctx.channel && p.u.channel !== ctx.channel) continue;
    if (!pattern.chinese) hits.push(...findInStream(p.words, pattern.words, p.u.channel));
    // a Chinese term, or pinyin typed in Latin letters, against Mandarin speech
    if (p.syllables) hits.push(...findInStream(p.syllables, pattern.syllables, p.u.channel));
  }
  for (const k of call.keywords) {
    if (ctx.channel && k.channel !== ctx.channel) continue;
    if (sameKeywordTerm(pattern, k.term)) {
      hits.push({ channel: k.channel, start: k.start, end: k.end, text: k.term, source: 'keyword', ...(k.score !== undefined ? { score: k.score } : {}) });
    }
  }
  return dedupe(hits.filter((h) => h.start <= ctx.startBy && h.end >= ctx.endFrom));
}

const hitKey = (h: SearchHit) => `${h.channel}|${h.start}|${h.end}|${h.source}|${h.text}`;
function dedupe(hits: SearchHit[]): SearchHit[] {
  const seen = new Map<string, SearchHit>();
  for (const h of hits) if (!seen.has(hitKey(h))) seen.set(hitKey(h), h);
  return [...seen.values()].sort((a, b) => a.start - b.start || a.end - b.end || a.channel.localeCompare(b.channel));
}

/** Gap in seconds between two spans; 0 when they touch or overlap. */
const gap = (a: SearchHit, b: SearchHit) => Math.max(0, Math.max(a.start, b.start) - Math.min(a.end, b.end));
/** The same occurrence (without word timings, different words of one utterance share a span but not a text). */
const sameOccurrence = (a: SearchHit, b: SearchHit) => hitKey(a) === hitKey(b);

function evaluate(node: QueryNode, call: PreparedCall, ctx: Context): Result {
  switch (node.type) {
    case 'term': {
      const hits = occurrences(node.text, call, ctx);
      return { ok: hits.length > 0, hits };
    }
    case 'not':
      return { ok: !evaluate(node.child, call, ctx).ok, hits: [] };
    case 'and': {
      const results = node.children.map((c) => evaluate(c, call, ctx));
      const ok = results.every((r) => r.ok);
      return { ok, hits: ok ? dedupe(results.flatMap((r) => r.hits)) : [] };
    }
    case 'or': {
      const results = node.children.map((c) => evaluate(c, call, ctx)).filter((r) => r.ok);
      return { ok: results.length > 0, hits: dedupe(results.flatMap((r) => r.hits)) };
    }
    case 'near': {
      const left = evaluate(node.left, call, ctx).hits;
      const right = evaluate(node.right, call, ctx).hits;
      const used = new Set<SearchHit>();
      for (const a of left) {
        for (const b of right) {
          if (sameOccurrence(a, b)) continue; // "refund NEAR/5 refund" wants two of them
          if (gap(a, b) <= node.seconds + 1e-9) {
            used.add(a);
            used.add(b);
          }
        }
      }
      return { ok: used.size > 0, hits: dedupe([...used]) };
    }
    case 'scope':
      return evaluate(node.child, call, { ...ctx, channel: node.channel });
    case 'window':
      return evaluate(
        node.child,
        call,
        node.edge === 'first'
          ? { ...ctx, startBy: Math.min(ctx.startBy, node.seconds) }
          : { ...ctx, endFrom: Math.max(ctx.endFrom, call.durationSec - node.seconds) },
      );
  }
}

/** The evidence when the call matches the query, null when it does not. A query of only NOTs matches with no hits. */
export function matchCall(query: QueryNode | string, index: SearchableIndex): QueryMatch | null {
  const node = typeof query === 'string' ? parseQuery(query) : query;
  const result = evaluate(node, prepare(index), { startBy: Infinity, endFrom: -Infinity });
  return result.ok ? { hits: result.hits } : null;
}

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

/**
 * Whether a call index matches a parsed query, and the evidence: every occurrence of each term in the
 * transcript's words (or pinyin syllables) and the keyword spotter's hits, combined by AND, OR, NOT, NEAR,
 * channel scopes and time windows.
 */
import type { Channel } from '../events.js';
import { hanziToSyllables, hasCjk, latinTokens, latinTokensWithOffsets, normalizeSyllable, pinyinSyllables, termPattern, type TermPattern } from './normalize.js';
import { parseQuery, type QueryNode } from './syntax.js';

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

/**
 * One run of consecutive tokens of a call: an utterance's word or syllable stream, or a keyword-spotter
 * term (`words`: written in Latin letters, found by terms in Latin letters; `hanzi`: the syllables of one
 * written in characters, found by terms in characters only).
 */
export interface TokenRun {
  channel: Channel;
  kind: 'words' | 'syllables' | 'hanzi';
  tokens: string[];
}

/**
 * Every token a term can be matched against in this call, in the order the evaluator reads them: a text
 * index built from these (central/search) finds every call `matchCall` would match, because a term's
 * occurrence is its `words` consecutive in a words run (a term in Latin letters) or its `syllables`
 * consecutive in a syllables run, or a hanzi run for a term in characters, of the same channel.
 */
export function searchableTokens(index: SearchableIndex): TokenRun[] {
  const call = prepare(index);
  const runs: TokenRun[] = [];
  for (const p of call.utterances) {
    if (p.words?.units.length) runs.push({ channel: p.u.channel, kind: 'words', tokens: p.words.units.map((x) => x.token) });
    if (p.syllables?.units.length) runs.push({ channel: p.u.channel, kind: 'syllables', tokens: p.syllables.units.map((x) => x.token) });
  }
  for (const k of call.keywords) {
    if (typeof k.term !== 'string') continue;
    const chinese = hasCjk(k.term);
    const tokens = chinese ? hanziToSyllables(k.term) : latinTokens(k.term);
    if (tokens.length) runs.push({ channel: k.channel, kind: chinese ? 'hanzi' : 'words', tokens });
  }
  return runs;
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

/** A piece of text to show around a hit; `hit` marks the matched words. Plain text, never markup. */
export interface SnippetSegment {
  text: string;
  hit?: true;
}

/**
 * Where each hit is, as text to show: the utterance it was found in, split into segments with the hit's
 * words flagged, at most `context` words either side (an ellipsis marks a cut). A keyword-spotter hit is
 * flagged where the transcript has its words at that time; where it does not, its snippet is the term.
 */
export function hitSnippets(index: SearchableIndex, hits: SearchHit[], context = 8): SnippetSegment[][] {
  const call = prepare(index);
  return hits.map((hit) => {
    for (const p of call.utterances) {
      if (p.u.channel !== hit.channel || p.u.end < hit.start || p.u.start > hit.end) continue;
      for (const stream of [p.words, p.syllables]) {
        if (!stream) continue;
        const ranges = hit.source === 'keyword' ? keywordRanges(stream, hit, stream === p.syllables) : transcriptRanges(stream, hit);
        if (ranges.length) return segments(stream.pieces, ranges, context);
      }
    }
    return [{ text: hit.text, hit: true }];
  });
}

/** Piece ranges [first, last] of a stream that the evaluator would have reported as this hit. */
function transcriptRanges(stream: Stream, hit: SearchHit): [number, number][] {
  const out: [number, number][] = [];
  const { units, pieces } = stream;
  for (let a = 0; a < units.length; a++) {
    if (units[a].start !== hit.start) continue;
    let end = -Infinity;
    for (let b = a; b < units.length && b - a < 64; b++) {
      end = Math.max(end, units[b].end);
      if (end === hit.end && joinPieces(pieces.slice(units[a].piece, units[b].piece + 1)) === hit.text) out.push([units[a].piece, units[b].piece]);
    }
  }
  return out;
}

/** Piece ranges where the transcript has a keyword hit's term (its words, or its syllables in Mandarin), during the hit. */
function keywordRanges(stream: Stream, hit: SearchHit, syllables: boolean): [number, number][] {
  const p = termPattern(hit.text);
  const pattern = syllables ? p.syllables : p.chinese ? [] : p.words;
  const out: [number, number][] = [];
  const { units } = stream;
  outer: for (let a = 0; pattern.length > 0 && a + pattern.length <= units.length; a++) {
    for (let j = 0; j < pattern.length; j++) if (units[a + j].token !== pattern[j]) continue outer;
    const last = units[a + pattern.length - 1];
    if (last.end < hit.start || units[a].start > hit.end) continue;
    out.push([units[a].piece, last.piece]);
  }
  return out;
}

function segments(pieces: string[], ranges: [number, number][], context: number): SnippetSegment[] {
  const flagged = (k: number) => ranges.some(([a, b]) => k >= a && k <= b);
  const from = Math.max(0, Math.min(...ranges.map((r) => r[0])) - context);
  const to = Math.min(pieces.length - 1, Math.max(...ranges.map((r) => r[1])) + context);
  const out: SnippetSegment[] = [];
  const push = (text: string, hit: boolean) => {
    const last = out[out.length - 1];
    if (last && !!last.hit === hit) last.text += text;
    else out.push(hit ? { text, hit: true } : { text });
  };
  if (from > 0) push('… ', false);
  for (let k = from; k <= to; k++) {
    const hit = flagged(k);
    if (k > from && !(hasCjk(pieces[k - 1].at(-1) ?? '') && hasCjk(pieces[k][0] ?? ''))) push(' ', hit && flagged(k - 1));
    push(pieces[k], hit);
  }
  if (to < pieces.length - 1) push(' …', false);
  return out;
}

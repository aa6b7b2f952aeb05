/**
 * The text index search narrows candidates with (docs/central.md, "Search"). Per call it holds one lexeme
 * per token the evaluator (edge/search/query.ts) can match a term against: transcript words, pinyin
 * syllables of Mandarin speech and keyword-spotter terms, each tagged with its channel and kind, normalised
 * by the evaluator's own functions (`searchableTokens`, `termPattern`), so that the index can only ever find
 * more calls than `matchCall`, never fewer.
 *
 * SQLite: an FTS5 table without content (the index only; the text is the call's index, its record's payload), keyed by a
 * number of our own per call (`calls.text_id`; the calls table's implicit rowid VACUUM may renumber).
 * PostgreSQL: a tsvector per call with a GIN index, built
 * from our lexemes as they are (no parser, no stemming), with each pair of adjacent tokens as a lexeme of its
 * own, since a tsvector cannot say that two words were next to each other in a long call. It is written in
 * the transaction that projects the call, and replaced with it.
 */
import { searchableTokens, type SearchableIndex, type TokenRun } from '../../edge/search/query.js';
import type { Dialect } from '../store/migrations.js';
import type { Sql } from '../store/sql-store.js';
import { many } from '../store/bulk.js';

export type Side = 'agent' | 'customer';
export type Kind = TokenRun['kind'];

const SIDE_LETTER: Record<Side, string> = { agent: 'a', customer: 'c' };
const KIND_LETTER: Record<Kind, string> = { words: 'w', syllables: 's', hanzi: 'h' };
const PAIR_LETTER: Record<Kind, string> = { words: 'p', syllables: 'q', hanzi: 'r' };

/**
 * One token as a lexeme: `<a|c><w|s|h><token>` (side; word, syllable, or syllable of a spotter term written
 * in characters), only [a-z0-9] so that neither FTS5's tokenizer nor a
 * tsvector can split, fold or drop it. Tokens with other characters (Cyrillic, characters, …) or overlong
 * ones become a hash: the same token always gives the same lexeme on both sides (the index's and the
 * query's); two that collide only make a call a candidate that the evaluator then turns down.
 */
export function lexeme(side: Side, kind: Kind, token: string): string {
  return SIDE_LETTER[side] + KIND_LETTER[kind] + plain(token);
}

const plain = (token: string) => (PLAIN.test(token) ? token : `x${hash64(token)}`);
const PLAIN = /^[a-z0-9]{1,40}$/;

/** 64 bits of FNV-1a (two 32-bit lanes), as hex: collisions cost a candidate, not a miss. */
function hash64(s: string): string {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 13);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

/**
 * Two tokens next to each other in one run, as one lexeme (PostgreSQL's index, which has no phrases):
 * `<a|c><p|q|r><first>.<second>` (a tsvector lexeme may hold a dot; a token never does).
 */
export function pairLexeme(side: Side, kind: Kind, first: string, second: string): string {
  return `${SIDE_LETTER[side]}${PAIR_LETTER[kind]}${plain(first)}.${plain(second)}`;
}

/** A run on a channel the evaluator reads unscoped only (neither agent nor customer) is indexed on both sides. */
const sidesOf = (channel: string): Side[] => (channel === 'agent' || channel === 'customer' ? [channel] : ['agent', 'customer']);

/** The call's token runs; none for a call whose index the evaluator cannot read either (a malformed field): it can never match. */
function tokenRuns(index: unknown): TokenRun[] {
  try {
    return searchableTokens(index as SearchableIndex);
  } catch {
    return [];
  }
}

/** The call's lexemes, run after run in order (consecutive tokens of a run stay consecutive): SQLite's FTS5 row. */
export function callLexemes(index: unknown): string[] {
  const lexemes: string[] = [];
  for (const run of tokenRuns(index)) for (const side of sidesOf(run.channel)) for (const t of run.tokens) lexemes.push(lexeme(side, run.kind, t));
  return lexemes;
}

/**
 * The call's tsvector text (PostgreSQL): each lexeme once, then each adjacent pair of a run (pairLexeme)
 * once. No positions: search ranks by the evaluator's hits, and phrases are the pairs (a tsvector's
 * positions stop at 16383). Built in one pass into one set: ingest computes one per call it stores.
 */
export function callTsvector(index: unknown): string {
  const lexemes = new Set<string>();
  const pairs: string[] = [];
  for (const run of tokenRuns(index)) {
    for (const side of sidesOf(run.channel)) {
      const single = SIDE_LETTER[side] + KIND_LETTER[run.kind];
      const pair = SIDE_LETTER[side] + PAIR_LETTER[run.kind];
      let prev = '';
      for (let i = 0; i < run.tokens.length; i++) {
        const token = plain(run.tokens[i]);
        lexemes.add(single + token);
        if (i > 0) pairs.push(`${pair}${prev}.${token}`);
        prev = token;
      }
    }
  }
  for (const p of pairs) lexemes.add(p);
  let out = '';
  for (const l of lexemes) out += out ? ` '${l}'` : `'${l}'`;
  return out;
}

/** DDL of migration 4, per dialect. */
export function textIndexDdl(d: Dialect): string {
  if (d.name === 'sqlite') {
    return `
      -- contentless: the text is the call's index already; contentless_delete lets a call's lexemes be replaced
      CREATE VIRTUAL TABLE call_text USING fts5(lexemes, content='', contentless_delete=1, tokenize='ascii');
      -- the call's row in call_text, numbered as calls first have words; the index also finds the calls the
      -- text index names, and filters and sorts them by site and time, without reading their rows (a calls
      -- row holds its whole index: some kilobytes each)
      ALTER TABLE calls ADD COLUMN text_id INTEGER;
      CREATE INDEX calls_text_id ON calls (text_id, site, started_at, box, call_id) WHERE text_id IS NOT NULL;`;
  }
  return `
      CREATE TABLE call_text (
        box     TEXT NOT NULL,
        call_id TEXT NOT NULL,
        lexemes tsvector NOT NULL,
        PRIMARY KEY (box, call_id)
      );
      CREATE INDEX call_text_lexemes ON call_text USING GIN (lexemes);`;
}

/**
 * Writes (or replaces) one call's lexemes, in the caller's transaction (after its calls row). A call with
 * no words has no entry: it can never be named, and a page of its own is not written for nothing.
 */
export async function indexCallText(sql: Sql, d: Dialect, box: string, callId: string, index: unknown): Promise<void> {
  if (d.name === 'postgres') {
    const lexemes = callTsvector(index);
    if (lexemes === '') await sql.run('DELETE FROM call_text WHERE box = ? AND call_id = ?', [box, callId]);
    else {
      await sql.run('INSERT INTO call_text (box, call_id, lexemes) VALUES (?, ?, ?::tsvector) ON CONFLICT (box, call_id) DO UPDATE SET lexemes = excluded.lexemes', [box, callId, lexemes]);
    }
    return;
  }
  // FTS5 has phrases: pairs are for the tsvector only
  const lexemes = callLexemes(index);
  const [row] = await sql.all<{ text_id: number | null }>('SELECT text_id FROM calls WHERE box = ? AND call_id = ?', [box, callId]);
  if (!row) return;
  let id = row.text_id;
  if (id !== null) await sql.run('DELETE FROM call_text WHERE rowid = ?', [id]);
  if (lexemes.length === 0) return;
  if (id === null) {
    const [{ top }] = await sql.all<{ top: number | null }>('SELECT MAX(text_id) AS top FROM calls WHERE text_id IS NOT NULL');
    id = (top ?? 0) + 1;
    await sql.run('UPDATE calls SET text_id = ? WHERE box = ? AND call_id = ?', [id, box, callId]);
  }
  await sql.run('INSERT INTO call_text (rowid, lexemes) VALUES (?, ?)', [id, lexemes.join(' ')]);
}

/**
 * indexCallText for the calls an ingest batch projected. On PostgreSQL in two multi-row statements (a
 * statement per call is a round trip per call); SQLite's FTS5 rows are numbered per call, one by one.
 */
export async function indexCallsText(sql: Sql, d: Dialect, calls: { box: string; callId: string; index: unknown }[]): Promise<void> {
  if (d.name !== 'postgres') {
    for (const c of calls) await indexCallText(sql, d, c.box, c.callId, c.index);
    return;
  }
  const empty: unknown[][] = [];
  const full: unknown[][] = [];
  for (const c of calls) {
    const lexemes = callTsvector(c.index);
    if (lexemes === '') empty.push([c.box, c.callId]);
    else full.push([c.box, c.callId, lexemes]);
  }
  await many(sql, empty, '(?, ?)', (v) => `DELETE FROM call_text WHERE (box, call_id) IN (VALUES ${v})`);
  await many(sql, full, '(?, ?, ?::tsvector)', (v) => `INSERT INTO call_text (box, call_id, lexemes) VALUES ${v} ON CONFLICT (box, call_id) DO UPDATE SET lexemes = excluded.lexemes`);
}

/**
 * Migration 4's second half: the calls already stored, indexed in pages (a large store is not read into
 * memory at once); on SQLite in the order they were stored, so that numbers follow arrival as they will.
 */
export async function fillTextIndex(sql: Sql, d: Dialect): Promise<number> {
  const sqlite = d.name === 'sqlite';
  let after: unknown[] = sqlite ? [0] : ['', ''];
  let n = 0;
  for (;;) {
    const rows = await sql.all<{ r?: number; box: string; call_id: string; index_json: string }>(
      sqlite
        // the index as its record holds it: the calls row's copy is gone from migration 9 on
        ? 'SELECT c.rowid AS r, c.box AS box, c.call_id AS call_id, x.payload AS index_json FROM calls c JOIN records x ON x.box = c.box AND x.seq = c.seq WHERE c.rowid > ? ORDER BY c.rowid LIMIT 500'
        : 'SELECT c.box AS box, c.call_id AS call_id, x.payload AS index_json FROM calls c JOIN records x ON x.box = c.box AND x.seq = c.seq WHERE (c.box, c.call_id) > (?, ?) ORDER BY c.box, c.call_id LIMIT 500',
      after,
    );
    if (rows.length === 0) return n;
    for (const r of rows) {
      let index: unknown = null;
      try {
        index = JSON.parse(r.index_json);
      } catch {
        // stored by the store itself as JSON text: unreadable only if damaged, and then unsearchable
      }
      await indexCallText(sql, d, r.box, r.call_id, index);
      n++;
    }
    const last = rows[rows.length - 1];
    after = sqlite ? [last.r] : [last.box, last.call_id];
  }
}

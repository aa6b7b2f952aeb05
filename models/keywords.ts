// Watched phrases → keyword lines for sherpa-onnx's KeywordSpotter.
//
// sherpa reads one keyword per line: model tokens separated by spaces, then optional `:boost`,
// `#threshold` and `@display`. Any token missing from tokens.txt makes sherpa log and exit the whole
// process while loading, so every token is checked here and phrases that cannot be spelled in the
// model's tokens are reported back to the caller instead of reaching sherpa.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pinyin } from 'pinyin-pro';
import { SentencePieceProcessor } from '@agnai/sentencepiece-js';
import { ModelError, requireFile, type VerifiedModel } from './manifest.js';

export interface WatchedPhrase {
  phrase: string;
  /** Per-phrase boost added to each token's score while a partial match is alive (sherpa `:score`). */
  boost?: number;
  /** Per-phrase trigger threshold: mean token probability required to fire (sherpa `#threshold`). */
  threshold?: number;
}

export interface CompiledKeyword {
  phrase: string;
  /** What sherpa reports for this line (the display word after `@`, which may not contain spaces). */
  key: string;
  tokens: string[];
  boost?: number;
  threshold?: number;
  line: string;
}

export interface KeywordProblem {
  phrase: string;
  reason: string;
  /** Tokens the phrase needs that tokens.txt lacks. */
  missing?: string[];
}

export interface CompiledKeywords {
  model: string;
  keywords: CompiledKeyword[];
  problems: KeywordProblem[];
  /** The keywords file content for sherpa (no trailing newline: sherpa turns every line into a keyword). */
  text: string;
}

/** Model tokens of one table, in file order. */
export async function readTokenTable(file: string): Promise<Set<string>> {
  const text = await readFile(file, 'utf8');
  const symbols = new Set<string>();
  for (const line of text.split('\n')) {
    const sym = line.trim().split(/\s+/)[0];
    if (sym) symbols.add(sym);
  }
  return symbols;
}

const JQXY = new Set(['j', 'q', 'x', 'y']);
const U_UMLAUT_TO_U: Record<string, string> = { ü: 'u', ǖ: 'ū', ǘ: 'ú', ǚ: 'ǔ', ǜ: 'ù' };

/**
 * Mandarin text → pinyin initials and tone-marked finals, as the wenetspeech tokens spell them.
 * The training labels came from pypinyin without tone sandhi, where y and w count as initials and
 * the ü after j/q/x/y is written u (jūn, not jǖn); pinyin-pro is told to match. The whole phrase
 * goes to pinyin-pro at once so it can pick polyphone readings from context.
 */
export function pinyinTokens(text: string): { tokens: string[]; unspellable: string[] } {
  const tokens: string[] = [];
  const unspellable: string[] = [];
  for (const c of pinyin(text, { type: 'all', toneSandhi: false })) {
    if (c.isZh) {
      const final = JQXY.has(c.initial) ? Array.from(c.final).map((ch) => U_UMLAUT_TO_U[ch] ?? ch).join('') : c.final;
      if (c.initial) tokens.push(c.initial);
      if (final) tokens.push(final);
    } else if (/^[A-Za-z]$/.test(c.origin)) {
      // Latin letters inside Chinese text ("ABC银行") are single upper-case tokens in this vocabulary.
      tokens.push(c.origin.toUpperCase());
    } else if (!/^[\s\p{P}]*$/u.test(c.origin)) {
      unspellable.push(c.origin);
    }
  }
  return { tokens, unspellable };
}

const bpeCache = new Map<string, Promise<SentencePieceProcessor>>();

function loadBpe(file: string): Promise<SentencePieceProcessor> {
  let p = bpeCache.get(file);
  if (!p) {
    p = (async () => {
      const spp = new SentencePieceProcessor();
      await spp.load(file);
      return spp;
    })();
    bpeCache.set(file, p);
    p.catch(() => bpeCache.delete(file));
  }
  return p;
}

/** English phrase → BPE pieces; the gigaspeech vocabulary is upper case with ' kept inside words. */
export async function bpeTokens(bpeModelFile: string, text: string): Promise<string[]> {
  const spp = await loadBpe(bpeModelFile);
  const normal = text.toUpperCase().replace(/[^A-Z0-9' ]+/g, ' ').replace(/\s+/g, ' ').trim();
  return normal ? spp.encodePieces(normal) : [];
}

function displayKey(phrase: string): string {
  // sherpa splits lines on whitespace, so the display word must be one word.
  return phrase.trim().replace(/\s+/g, '_');
}

function formatLine(tokens: string[], key: string, boost?: number, threshold?: number): string {
  const parts = [...tokens];
  if (boost !== undefined) parts.push(`:${boost}`);
  if (threshold !== undefined) parts.push(`#${threshold}`);
  parts.push(`@${key}`);
  return parts.join(' ');
}

export async function compileKeywords(model: VerifiedModel, phrases: readonly (string | WatchedPhrase)[]): Promise<CompiledKeywords> {
  const unit = model.manifest.modelingUnit;
  if (unit !== 'ppinyin' && unit !== 'bpe') {
    throw new ModelError('unsupported-model', model.dir, `keyword compilation supports modelingUnit "ppinyin" and "bpe", not "${unit}"`);
  }
  const table = await readTokenTable(requireFile(model, 'tokens'));
  const bpeFile = unit === 'bpe' ? requireFile(model, 'bpeModel') : '';
  const keywords: CompiledKeyword[] = [];
  const problems: KeywordProblem[] = [];
  const seenTokens = new Map<string, string>();
  const seenKeys = new Set<string>();

  for (const item of phrases) {
    const w: WatchedPhrase = typeof item === 'string' ? { phrase: item } : item;
    const phrase = w.phrase.trim();
    if (!phrase) continue;
    let tokens: string[];
    if (unit === 'ppinyin') {
      const r = pinyinTokens(phrase);
      if (r.unspellable.length) {
        problems.push({ phrase, reason: `cannot spell ${r.unspellable.map((c) => JSON.stringify(c)).join(', ')} in pinyin (write numbers and symbols as Chinese characters)` });
        continue;
      }
      tokens = r.tokens;
    } else {
      tokens = await bpeTokens(bpeFile, phrase);
    }
    if (tokens.length === 0) {
      problems.push({ phrase, reason: 'no speakable text' });
      continue;
    }
    const missing = [...new Set(tokens.filter((t) => !table.has(t)))];
    if (missing.length) {
      problems.push({ phrase, reason: `tokens not in ${model.name}'s tokens.txt: ${missing.join(' ')}`, missing });
      continue;
    }
    const spelled = tokens.join(' ');
    const twin = seenTokens.get(spelled);
    if (twin !== undefined) {
      // Homophones share one path in sherpa's keyword graph; only one display phrase could ever be reported.
      problems.push({ phrase, reason: `same tokens as "${twin}" (${spelled}); watch one of them` });
      continue;
    }
    const key = displayKey(phrase);
    if (seenKeys.has(key)) {
      problems.push({ phrase, reason: `duplicate of another phrase once spaces become _ ("${key}")` });
      continue;
    }
    seenTokens.set(spelled, phrase);
    seenKeys.add(key);
    keywords.push({ phrase, key, tokens, boost: w.boost, threshold: w.threshold, line: formatLine(tokens, key, w.boost, w.threshold) });
  }
  return { model: model.name, keywords, problems, text: keywords.map((k) => k.line).join('\n') };
}

/** A protobuf varint at `at`; returns the value and where the next field starts. */
function varint(buf: Uint8Array, at: number): [number, number] {
  let value = 0;
  let scale = 1;
  let i = at;
  for (;;) {
    const b = buf[i++];
    if (b === undefined) throw new Error('truncated varint');
    value += (b & 0x7f) * scale;
    scale *= 128;
    if (!(b & 0x80)) return [value, i];
  }
}

/** Each field of one protobuf message: number, wire type, and its bytes (length-delimited) or offset. */
function* fields(buf: Buffer): Generator<{ field: number; wire: number; at: number; bytes?: Buffer }> {
  let i = 0;
  while (i < buf.length) {
    const [key, next] = varint(buf, i);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    i = next;
    if (wire === 0) i = varint(buf, i)[1];
    else if (wire === 1) i += 8;
    else if (wire === 5) {
      yield { field, wire, at: i };
      i += 4;
      continue;
    } else if (wire === 2) {
      const [len, start] = varint(buf, i);
      yield { field, wire, at: start, bytes: buf.subarray(start, start + len) };
      i = start + len;
      continue;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
}

/**
 * sherpa-onnx encodes hotwords for a BPE model with its own sentencepiece reader, which takes the pieces and
 * their scores as text (`piece<TAB>score` per line, sherpa's "bpe.vocab"), not the sentencepiece model the
 * keyword spotter uses. The model file holds both (ModelProto.pieces = 1: piece = 1, score = 2), so the
 * vocabulary is written from it once, beside the system's temporary files, keyed by the model's content.
 */
export function bpeVocabFile(bpeModelFile: string): string {
  const model = readFileSync(bpeModelFile);
  const file = path.join(tmpdir(), `earshot-${createHash('sha256').update(model).digest('hex').slice(0, 16)}.bpe.vocab`);
  if (existsSync(file)) return file;
  const lines: string[] = [];
  for (const f of fields(model)) {
    if (f.field !== 1 || !f.bytes) continue;
    let piece = '';
    let score = 0;
    for (const g of fields(f.bytes)) {
      if (g.field === 1 && g.bytes) piece = g.bytes.toString('utf8');
      else if (g.field === 2 && g.wire === 5) score = f.bytes.readFloatLE(g.at);
    }
    lines.push(`${piece}\t${score}`);
  }
  if (lines.length === 0) throw new ModelError('unsupported-model', path.dirname(bpeModelFile), `${path.basename(bpeModelFile)}: no sentencepiece pieces found`);
  const partial = `${file}.${process.pid}.tmp`;
  writeFileSync(partial, `${lines.join('\n')}\n`);
  renameSync(partial, file);
  return file;
}

/**
 * Seeded fuzzing for whatever the box reads from outside: serial lines, YAML files, JSON manifests, MQTT
 * payloads. Every generator is a pure function of its seed, so a failure is replayed exactly with
 * `EARSHOT_FUZZ_SEED=<seed>` (fuzzSeed() prints the seed in the TAP output of the test using it).
 *
 * API:
 * - `fuzzSeed(t)`: the seed for this test: EARSHOT_FUZZ_SEED when set, else a fresh one; printed as a TAP
 *   comment. Put it in assertion messages too (`seeded()` does) so that a failure line carries it.
 * - `hostilePayloads(seed, n, { valid?, maxBytes? })`: n hostile byte strings `{ label, bytes: Buffer }`:
 *   empty, JSON scalars, random bytes, invalid UTF-8, NUL runs, CR/LF storms, very long lines (up to 1 MB,
 *   bounded by maxBytes), deep nesting (10,000+ levels of `[`, `{"a":`, YAML `- ` and indentation), a YAML
 *   alias bomb, and, when `valid` samples are given, those samples mutated (bytes flipped, cut, spliced).
 * - `hostileValues(seed, n)`: n hostile JSON values `{ label, value }`: null, booleans, edge numbers,
 *   strings (empty, 1 MB, NUL, CR/LF, lone surrogates, U+FFFD), arrays, objects (`__proto__` keys),
 *   10,000-deep arrays and objects, 10,000 nested brackets or NOTs in a string. Write them with `toJson()`:
 *   JSON.stringify overflows the stack on the deep ones.
 * - `mutateFields(valid, seed, perField?)`: `valid` (a JSON object that the input accepts) with one field at a
 *   time replaced by a hostile value, deleted, or joined by an unknown sibling: `{ label, path, value }`,
 *   covering every field at every depth, `perField` hostile values each (default 6; the cheap wrong types
 *   always, large and deep ones by seeded draw).
 * - `toJson(value)`: JSON text of any of these values, without recursion.
 */
import type { Test } from 'tap';
import { mulberry32, type Rng } from '../../lib/seeded-random.js';


export function fuzzSeed(t: Test): number {
  const env = process.env.EARSHOT_FUZZ_SEED;
  const seed = env !== undefined && env !== '' ? Number(env) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
  t.comment(`fuzz seed ${seed} (replay: EARSHOT_FUZZ_SEED=${seed})`);
  return seed;
}

/** An assertion message that names the seed and the case, so a single failure line is enough to replay it. */
export function seeded(seed: number, label: string, what: string): string {
  return `${what} [${label}; EARSHOT_FUZZ_SEED=${seed}]`;
}

const int = (rng: Rng, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;

/** Deeper than any parser here recurses safely (the yaml composer overflows near 900 levels, JSON walkers later). */
export const DEEP = 10_000;
export const ONE_MB = 1 << 20;

function randomBytes(rng: Rng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rng() * 256);
  return b;
}

function printable(rng: Rng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(int(rng, 0x20, 0x7e));
  return s;
}

const INVALID_UTF8 = [[0xff], [0xfe, 0xff], [0x80], [0xc0, 0xaf], [0xe6, 0x98], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]];

const ALIAS_BOMB = ['a: &a [x, x, x, x, x, x, x, x, x]', ...'bcdefgh'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefg'[i]}`).join(', ')}]`), 'i: [*h, *h, *h, *h, *h, *h, *h, *h, *h]'].join('\n');

type Maker = (rng: Rng, maxBytes: number) => string | Buffer;

/** Cheap ones first: the expensive ones (1 MB, 10,000 levels) are drawn less often to keep a run bounded. */
const PAYLOADS: Record<string, { weight: number; make: Maker }> = {
  empty: { weight: 1, make: () => '' },
  'json scalar': { weight: 2, make: (r) => pick(r, ['null', 'true', '0', '-1', '1e309', '-0', 'NaN', '""', '"x"', '[]', '{}', '[null]', '9007199254740993']) },
  'random bytes': { weight: 6, make: (r, max) => randomBytes(r, Math.min(max, int(r, 1, 4096))) },
  'printable noise': { weight: 4, make: (r, max) => printable(r, Math.min(max, int(r, 1, 300))) },
  'invalid utf-8': { weight: 4, make: (r) => Buffer.concat(Array.from({ length: int(r, 1, 8) }, () => Buffer.concat([Buffer.from(printable(r, int(r, 0, 10))), Buffer.from(pick(r, INVALID_UTF8))]))) },
  'nul bytes': { weight: 3, make: (r, max) => Buffer.alloc(Math.min(max, int(r, 1, 2048))) },
  'nul inside text': { weight: 2, make: (r) => `${printable(r, int(r, 1, 20))}\0${printable(r, int(r, 1, 20))}` },
  'cr/lf storm': { weight: 4, make: (r, max) => Array.from({ length: Math.min(max >> 1, int(r, 1, 5000)) }, () => pick(r, ['\r', '\n', '\r\n', '\n\r'])).join('') },
  'control characters': { weight: 2, make: (r) => Array.from({ length: int(r, 1, 64) }, () => String.fromCharCode(int(r, 0, 0x1f))).join('') },
  'unicode oddities': { weight: 2, make: (r) => Array.from({ length: int(r, 1, 16) }, () => pick(r, ['\ufffd', '\ufeff', '\u200b', '\u202e', '\u2028', '\u0085', '退款', '🙂', '\ud800'])).join('') },
  'long line': { weight: 2, make: (r, max) => pick(r, ['x', ' ', '9', 'é', '[', '-']).repeat(Math.min(max, int(r, 1025, 70_000))) },
  '1 MB line': { weight: 1, make: (r, max) => pick(r, ['a', ' ', '\t', '"', '\0']).repeat(Math.min(max, ONE_MB)) },
  // Backtracking regexes (a trim written as /\s+$/) go quadratic on a long blank run that does not end the line.
  'long blank run between words': { weight: 1, make: (r, max) => `a${pick(r, [' ', '\t', '\0', '\r', ' \0']).repeat(Math.min(max, 100_000) >> 1)}b` },
  'deep json array': { weight: 1, make: (_r, max) => '['.repeat(Math.min(DEEP, max >> 1)) + ']'.repeat(Math.min(DEEP, max >> 1)) },
  'deep json object': { weight: 1, make: (_r, max) => { const n = Math.min(DEEP, max >> 3); return '{"a":'.repeat(n) + '1' + '}'.repeat(n); } },
  'deep yaml sequence': { weight: 1, make: (_r, max) => `${'- '.repeat(Math.min(DEEP, max >> 2))}x\n` },
  'deep yaml indentation': { weight: 1, make: (_r, max) => Array.from({ length: Math.min(1500, Math.floor(Math.sqrt(max))) }, (_, i) => `${' '.repeat(i)}k:`).join('\n') + ' 1\n' },
  'unclosed deep brackets': { weight: 1, make: (r, max) => pick(r, ['[', '{', '(', '"', "'"]).repeat(Math.min(DEEP, max)) },
  'yaml alias bomb': { weight: 1, make: () => ALIAS_BOMB },
  'yaml tags and anchors': { weight: 2, make: (r) => pick(r, ['!!binary aGk=', '!!set {a, b}', '!!omap [a: 1]', '!foo bar', '&a [*a]', '*nowhere', '<<: *x', '%YAML 9.9\n---\nx', '--- a\n--- b', '? [a]\n: b']) },
};

function mutate(rng: Rng, sample: Buffer): { how: string; bytes: Buffer } {
  const b = Buffer.from(sample);
  switch (int(rng, 0, 4)) {
    case 0: {
      for (let i = int(rng, 1, 4); i > 0 && b.length > 0; i--) b[int(rng, 0, b.length - 1)] ^= 1 << int(rng, 0, 7);
      return { how: 'bits flipped', bytes: b };
    }
    case 1:
      return { how: 'cut short', bytes: b.subarray(0, int(rng, 0, Math.max(0, b.length - 1))) };
    case 2: {
      const at = int(rng, 0, b.length);
      return { how: 'garbage spliced in', bytes: Buffer.concat([b.subarray(0, at), randomBytes(rng, int(rng, 1, 16)), b.subarray(at)]) };
    }
    case 3: {
      const at = int(rng, 0, b.length);
      return { how: 'a byte sequence repeated', bytes: Buffer.concat([b.subarray(0, at), Buffer.from(b.subarray(at, at + int(rng, 1, 8)).toString('latin1').repeat(int(rng, 2, 200)), 'latin1'), b.subarray(at)]) };
    }
    default:
      return { how: 'invalid utf-8 inserted', bytes: Buffer.concat([b.subarray(0, b.length >> 1), Buffer.from(pick(rng, INVALID_UTF8)), b.subarray(b.length >> 1)]) };
  }
}

export interface HostilePayload {
  label: string;
  bytes: Buffer;
}

export function* hostilePayloads(seed: number, n: number, options: { valid?: readonly (string | Buffer)[]; maxBytes?: number } = {}): Generator<HostilePayload> {
  const rng = mulberry32(seed);
  const maxBytes = options.maxBytes ?? ONE_MB;
  const valid = (options.valid ?? []).map((v) => (typeof v === 'string' ? Buffer.from(v) : v));
  const kinds = Object.entries(PAYLOADS);
  const total = kinds.reduce((s, [, k]) => s + k.weight, 0);
  for (let i = 0; i < n; i++) {
    // Every kind once in the first cases, whatever n, so that a short run still meets each of them.
    if (valid.length > 0 && (i % 3 === 2 || (i >= kinds.length && rng() < 0.3))) {
      const sample = pick(rng, valid);
      const m = mutate(rng, sample);
      yield { label: `#${i} valid sample, ${m.how}`, bytes: m.bytes };
      continue;
    }
    let kind: string;
    let make: Maker;
    if (i < kinds.length) [kind, { make }] = kinds[i]!;
    else {
      let w = rng() * total;
      [kind, { make }] = kinds.find(([, k]) => (w -= k.weight) < 0) ?? kinds[0]!;
    }
    const out = make(rng, maxBytes);
    yield { label: `#${i} ${kind}`, bytes: typeof out === 'string' ? Buffer.from(out) : out };
  }
}

function deepArray(n: number): unknown {
  let v: unknown = [];
  for (let i = 0; i < n; i++) v = [v];
  return v;
}

function deepObject(n: number): unknown {
  let v: unknown = {};
  for (let i = 0; i < n; i++) v = { a: v };
  return v;
}

/** Wrong types and edge values, cheap to build and to check. */
const CHEAP_VALUES: readonly [string, () => unknown][] = [
  ['null', () => null],
  ['true', () => true],
  ['false', () => false],
  ['zero', () => 0],
  ['minus one', () => -1],
  ['a fraction', () => 0.5],
  ['1e308', () => 1e308],
  ['2^53+1', () => 2 ** 53 + 1],
  ['empty string', () => ''],
  ['a word', () => 'garbage'],
  ['empty array', () => []],
  ['empty object', () => ({})],
  ['array of nulls', () => [null, null]],
  ['string with NUL and CR/LF', () => 'a\0b\r\nc\n'],
  ['lone surrogate', () => '\ud800x'],
  ['replacement characters', () => '\ufffd\ufffd'],
  ['numeric string', () => '12'],
  ['object with __proto__', () => JSON.parse('{"__proto__": {"polluted": true}, "constructor": 1}') as unknown],
];

const COSTLY_VALUES: readonly [string, () => unknown][] = [
  ['1 MB string', () => 'x'.repeat(ONE_MB)],
  ['10,000-deep array', () => deepArray(DEEP)],
  ['10,000-deep object', () => deepObject(DEEP)],
  ['10,000 items', () => Array.from({ length: DEEP }, (_, i) => i)],
  ['10,000 nested brackets', () => `${'('.repeat(DEEP)}x${')'.repeat(DEEP)}`],
  ['10,000 NOTs', () => `${'NOT '.repeat(DEEP)}x`],
];

export interface HostileValue {
  label: string;
  value: unknown;
}

export function* hostileValues(seed: number, n: number): Generator<HostileValue> {
  const rng = mulberry32(seed);
  const all = [...CHEAP_VALUES, ...COSTLY_VALUES];
  for (let i = 0; i < n; i++) {
    const [label, make] = i < all.length ? all[i]! : rng() < 0.1 ? pick(rng, COSTLY_VALUES) : pick(rng, CHEAP_VALUES);
    yield { label: `#${i} ${label}`, value: make() };
  }
}

/** Literal JSON text queued by toJson(), told apart from the values still to write. */
class Piece {
  constructor(readonly text: string) {}
}

/** JSON text of any value made here: JSON.stringify itself overflows the stack at a few thousand levels. */
export function toJson(value: unknown): string {
  const out: string[] = [];
  const todo: unknown[] = [value];
  while (todo.length > 0) {
    const v = todo.pop();
    let parts: unknown[] | undefined;
    if (v instanceof Piece) out.push(v.text);
    else if (Array.isArray(v)) parts = [new Piece('['), ...v.flatMap((x, i) => [...(i > 0 ? [new Piece(',')] : []), x ?? null]), new Piece(']')];
    else if (v !== null && typeof v === 'object') {
      const entries = Object.entries(v).filter(([, x]) => x !== undefined);
      parts = [new Piece('{'), ...entries.flatMap(([k, x], i) => [new Piece(`${i > 0 ? ',' : ''}${JSON.stringify(k)}:`), x]), new Piece('}')];
    } else out.push(JSON.stringify(v) ?? 'null');
    if (parts) for (let i = parts.length - 1; i >= 0; i--) todo.push(parts[i]);
  }
  return out.join('');
}

export type FieldPath = (string | number)[];

export interface MutatedValue {
  label: string;
  path: FieldPath;
  value: unknown;
}

function fieldsOf(value: unknown, at: FieldPath = [], out: FieldPath[] = []): FieldPath[] {
  if (Array.isArray(value)) value.forEach((v, i) => (out.push([...at, i]), fieldsOf(v, [...at, i], out)));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) (out.push([...at, k]), fieldsOf(v, [...at, k], out));
  return out;
}

/** A copy of `root` with the field at `path` set to `v` (or removed, for `remove`). */
function withField(root: unknown, path: FieldPath, v: unknown, remove = false): unknown {
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let node = copy;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (!remove) node[last] = v;
  else if (Array.isArray(node)) node.splice(last as number, 1);
  else delete node[last];
  return copy;
}

export function* mutateFields(valid: object, seed: number, perField = 6): Generator<MutatedValue> {
  const rng = mulberry32(seed);
  const name = (p: FieldPath) => p.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('').replace(/^\./, '');
  const extended = new Set<string>();
  for (const path of fieldsOf(valid)) {
    yield { label: `${name(path)} removed`, path, value: withField(valid, path, undefined, true) };
    const parent = path.slice(0, -1);
    if (typeof path.at(-1) === 'string' && !extended.has(name(parent))) {
      extended.add(name(parent));
      yield { label: `${name(parent) || '(top)'} + unknown field`, path: [...parent, 'zzUnknown'], value: withField(valid, [...parent, 'zzUnknown'], 1) };
    }
    for (let j = 0; j < perField; j++) {
      const [label, make] = rng() < 0.08 ? pick(rng, COSTLY_VALUES) : pick(rng, CHEAP_VALUES);
      yield { label: `${name(path)} = ${label}`, path, value: withField(valid, path, make()) };
    }
  }
}

// The redaction corpus (test/fixtures/redaction-corpus.yaml) read and scored: shared by the corpus test and
// `npm run bench -- redaction`, so both print the same figures from the same cases.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { redactSegments, type Segment } from '../../lib/redact.js';
import { repoRoot } from './cli.js';

export const CORPUS_FILE = path.join(repoRoot, 'test/fixtures/redaction-corpus.yaml');

export interface CorpusCase {
  /** where it is in the file, for messages: "sensitive[12]" */
  id: string;
  sensitive: boolean;
  segments: Segment[];
  /** each segment as it must come out */
  want: string[];
}

export interface CorpusResult extends CorpusCase {
  got: string[];
  /** sensitive: came out exactly as wanted; ordinary: came out changed */
  masked: boolean;
}

export interface CorpusFigures {
  sensitive: number;
  ordinary: number;
  /** % of the sensitive cases masked exactly as the corpus says */
  sensitiveMaskedPct: number;
  /** % of the ordinary cases in which anything was masked */
  ordinaryMaskedPct: number;
  failures: CorpusResult[];
}

type RawCase = string | { say?: string; call?: Record<string, string>; want?: string | string[] };

function segmentsOf(raw: RawCase, id: string): Segment[] {
  if (typeof raw === 'string') return [{ text: raw }];
  if (typeof raw.say === 'string') return [{ text: raw.say }];
  if (raw.call && typeof raw.call === 'object') {
    return Object.entries(raw.call).map(([key, text]) => {
      const m = /^(\w+) (\d+(?:\.\d+)?)$/.exec(key);
      if (!m) throw new Error(`${CORPUS_FILE}: ${id}: turn "${key}" is not "<channel> <start sec>"`);
      return { channel: m[1], start: Number(m[2]), text: String(text) };
    });
  }
  throw new Error(`${CORPUS_FILE}: ${id}: a case is a string, a say: or a call:`);
}

export function loadCorpus(file = CORPUS_FILE): CorpusCase[] {
  const doc = parseYaml(readFileSync(file, 'utf8')) as { sensitive?: RawCase[]; ordinary?: RawCase[] };
  const cases: CorpusCase[] = [];
  for (const [group, list] of [['sensitive', doc.sensitive ?? []], ['ordinary', doc.ordinary ?? []]] as const) {
    list.forEach((raw, i) => {
      const id = `${group}[${i}]`;
      const segments = segmentsOf(raw, id);
      const sensitive = group === 'sensitive';
      const wanted = typeof raw === 'object' ? raw.want : undefined;
      if (sensitive && wanted === undefined) throw new Error(`${CORPUS_FILE}: ${id}: a sensitive case needs its masked form (want:)`);
      const want = sensitive ? (Array.isArray(wanted) ? wanted.map(String) : [String(wanted)]) : segments.map((s) => s.text);
      if (want.length !== segments.length) throw new Error(`${CORPUS_FILE}: ${id}: ${segments.length} turns but ${want.length} masked forms`);
      cases.push({ id, sensitive, segments, want });
    });
  }
  return cases;
}

export function scoreCorpus(cases: CorpusCase[]): CorpusFigures {
  const results: CorpusResult[] = cases.map((c) => {
    const got = redactSegments(c.segments);
    const same = got.every((g, i) => g === c.want[i]);
    return { ...c, got, masked: c.sensitive ? same : !same };
  });
  const sensitive = results.filter((r) => r.sensitive);
  const ordinary = results.filter((r) => !r.sensitive);
  const pct = (n: number, of: number): number => (of === 0 ? 0 : Math.round((1000 * n) / of) / 10);
  return {
    sensitive: sensitive.length,
    ordinary: ordinary.length,
    sensitiveMaskedPct: pct(sensitive.filter((r) => r.masked).length, sensitive.length),
    ordinaryMaskedPct: pct(ordinary.filter((r) => r.masked).length, ordinary.length),
    failures: results.filter((r) => (r.sensitive ? !r.masked : r.masked)),
  };
}

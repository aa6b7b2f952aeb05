import { readFile } from 'node:fs/promises';
import { InputError } from '../../lib/errors.js';
import { redactedView } from '../redaction/view.js';
import { formatSearchResults, parseQuery, searchIndexes, type SearchableIndex } from './query.js';

/** A file given to `earshot search` that cannot be searched; the CLI prints `earshot: <file>: <reason>`. */
export class IndexFileError extends InputError {
  constructor(
    readonly file: string,
    readonly reason: string,
    /** what exactly was wrong, for logs */
    readonly detail?: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'IndexFileError';
  }
}

const NOT_AN_INDEX = 'not a call index';

/** Reads one call index: any `earshot/call-index@N` (versions only add fields, so later ones search the same). */
export async function readIndexFile(file: string): Promise<SearchableIndex & { callId: string }> {
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new IndexFileError(file, code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? (err as Error).message})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch (err) {
    throw new IndexFileError(file, NOT_AN_INDEX, `invalid JSON: ${(err as Error).message}`);
  }
  const problem = indexProblem(doc);
  if (problem) throw new IndexFileError(file, NOT_AN_INDEX, problem);
  return doc as SearchableIndex & { callId: string };
}

/** The structural minimum search relies on; null when the document is usable. */
function indexProblem(doc: unknown): string | null {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return 'not a JSON object';
  const d = doc as Record<string, unknown>;
  if (typeof d.schema !== 'string' || !/^earshot\/call-index@\d+$/.test(d.schema)) return `schema is ${JSON.stringify(d.schema)}, not earshot/call-index@N`;
  if (typeof d.callId !== 'string') return 'callId missing';
  if (d.utterances !== undefined && !Array.isArray(d.utterances)) return 'utterances is not an array';
  if (d.keywords !== undefined && !Array.isArray(d.keywords)) return 'keywords is not an array';
  for (const u of (d.utterances as unknown[] | undefined) ?? []) {
    const x = u as Record<string, unknown> | null;
    if (!x || typeof x.start !== 'number' || typeof x.end !== 'number' || (x.channel !== 'agent' && x.channel !== 'customer')) return 'an utterance lacks channel/start/end';
    if (x.words !== undefined && !Array.isArray(x.words)) return 'utterance words is not an array';
  }
  for (const k of (d.keywords as unknown[] | undefined) ?? []) {
    const x = k as Record<string, unknown> | null;
    if (!x || typeof x.term !== 'string' || typeof x.start !== 'number' || typeof x.end !== 'number') return 'a keyword lacks term/start/end';
  }
  return null;
}

/**
 * `earshot search '<query>' <index.json>...`: the query is parsed first (a QuerySyntaxError says where it is
 * wrong), then every file is read (an IndexFileError names the bad one) and searched. `output` is empty when
 * nothing matched; `matched` counts the matching calls.
 */
export async function runSearch(queryText: string, files: string[]): Promise<{ output: string; matched: number }> {
  const query = parseQuery(queryText);
  const indexes = [];
  // An index written before redaction reached every sink may hold clear text: search prints only the redacted view.
  for (const file of files) indexes.push({ file, index: redactedView(await readIndexFile(file)) });
  const results = searchIndexes(query, indexes);
  return { output: formatSearchResults(results), matched: results.length };
}

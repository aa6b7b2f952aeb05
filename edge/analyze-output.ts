/**
 * Where `earshot analyze` writes what it found: the index file (--out), stdout (--json, or the summary) and
 * event lines (--events). Each writer is handed the redacted view only (edge/redaction/view.ts): a file on
 * the box's disk or a terminal's scrollback is a sink like the uplink.
 */
import { writeFileAtomic } from './disk.js';
import type { CallIndex } from './index/call-index.js';
import type { PipelineEvent } from './events.js';
import type { Alert } from './rules/types.js';
import { formatSummary } from './summary.js';
import { viewFor, type ClearTextSink } from './redaction/view.js';

export interface AnalyzeOutputOptions {
  out?: string;
  json?: boolean;
  events?: boolean;
  /** sinks the site keeps in clear (config privacy.clearText) */
  clearText?: readonly ClearTextSink[];
}

/** One JSON line for --events: a pipeline event, or an alert as raised, redacted unless stdout is kept clear. */
export function eventLine(event: PipelineEvent | ({ type: 'alert' } & Alert), clearText: readonly ClearTextSink[] = []): string {
  return `${JSON.stringify(viewFor('stdout', clearText)(event))}\n`;
}

/** Writes the call's index where asked (atomically) and prints the JSON or the summary; `note` follows the summary. */
export async function writeAnalysis(index: CallIndex, opts: AnalyzeOutputOptions, print: (s: string) => void, note = ''): Promise<void> {
  const file = viewFor('index-files', opts.clearText)(index);
  const shown = viewFor('stdout', opts.clearText)(index);
  // Atomic: a full disk or a crash leaves the previous index file (or none), never a truncated one.
  if (opts.out) await writeFileAtomic(opts.out, `${JSON.stringify(file, null, 2)}\n`);
  if (opts.json) print(`${JSON.stringify(shown, null, 2)}\n`);
  else if (!opts.events) print(`${formatSummary(shown)}\n${opts.out ? `  index     written to ${opts.out}\n` : ''}${note}`);
}

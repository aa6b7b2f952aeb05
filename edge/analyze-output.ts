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
import { redactedView } from './redaction/view.js';

export interface AnalyzeOutputOptions {
  out?: string;
  json?: boolean;
  events?: boolean;
}

/** One JSON line for --events: a pipeline event, or an alert as raised, redacted. */
export function eventLine(event: PipelineEvent | ({ type: 'alert' } & Alert)): string {
  return `${JSON.stringify(redactedView(event))}\n`;
}

/** Writes the call's index where asked (atomically) and prints the JSON or the summary; `note` follows the summary. */
export async function writeAnalysis(index: CallIndex, opts: AnalyzeOutputOptions, print: (s: string) => void, note = ''): Promise<void> {
  const view = redactedView(index);
  const json = `${JSON.stringify(view, null, 2)}\n`;
  // Atomic: a full disk or a crash leaves the previous index file (or none), never a truncated one.
  if (opts.out) await writeFileAtomic(opts.out, json);
  if (opts.json) print(json);
  else if (!opts.events) print(`${formatSummary(view)}\n${opts.out ? `  index     written to ${opts.out}\n` : ''}${note}`);
}

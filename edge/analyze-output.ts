/**
 * Where `earshot analyze` writes what it found: the index file (--out), stdout (--json, or the summary) and
 * event lines (--events). Each writer is handed the redacted view only (edge/redaction/view.ts): a file on
 * the box's disk or a terminal's scrollback is a sink like the uplink.
 */
import { writeFileAtomic } from '../lib/disk.js';
import type { CallIndex } from './index/call-index.js';
import type { PipelineEvent } from './events.js';
import type { Alert } from './rules/types.js';
import { formatSummary } from './summary.js';
import { LiveRedactor } from '../lib/redact.js';
import { viewFor, type ClearTextSink } from './redaction/view.js';

export interface AnalyzeOutputOptions {
  out?: string;
  json?: boolean;
  events?: boolean;
  /** sinks the site keeps in clear (config privacy.clearText) */
  clearText?: readonly ClearTextSink[];
}

type OutputEvent = PipelineEvent | ({ type: 'alert' } & Alert);

/**
 * The --events writer for one call: each event as a JSON line, redacted unless stdout is kept clear. Speech
 * is redacted in the context of what was said before it (an answer by its question), as the index is.
 */
export function eventLines(clearText: readonly ClearTextSink[] = []): (event: OutputEvent) => string {
  const view = viewFor('stdout', clearText);
  const texts = new LiveRedactor();
  const words = new LiveRedactor();
  return (event) => {
    let e = event;
    if (e.type === 'words' && !clearText.includes('stdout')) {
      // An event without words still carries the conversation for the words that follow.
      const masked = e.words.length > 0 ? words.nextWords(e.words.map((w) => w.w), e.channel, e.start) : (words.next({ text: e.text, channel: e.channel, start: e.start }), []);
      e = { ...e, text: texts.next({ text: e.text, channel: e.channel, start: e.start }), words: e.words.map((w, i) => ({ ...w, w: masked[i] })) };
    }
    return `${JSON.stringify(view(e))}\n`;
  };
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

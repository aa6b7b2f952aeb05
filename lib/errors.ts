/**
 * Something the user gave us that we cannot use — a file, a setting, an argument, a query — as opposed to
 * a fault of ours. The CLI prints `earshot: <line>` for it and exits with status 2; a daemon reports it and
 * goes on. The message is that one line, so it names what to fix and where.
 */
export class InputError extends Error {
  /** The line the CLI prints after `earshot: `. */
  get userMessage(): string {
    return this.message;
  }
}

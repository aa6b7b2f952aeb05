/**
 * A short, printable rendering of text that came from outside (a serial line, a configuration value, a
 * manifest path) for one log line or one error line: control bytes escaped, cut at `max` characters.
 */
export function printablePreview(line: string, max = 80): string {
  let out = '';
  let n = 0;
  for (const ch of line) {
    if (n++ >= max) return `${out}…`;
    const c = ch.codePointAt(0) as number;
    if ((c < 0x20 && c !== 0x09) || (c >= 0x7f && c < 0xa0)) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c === 0xfffd) out += '\\ufffd';
    else out += ch;
  }
  return out;
}

// RFC 4180 CSV with a guard against spreadsheet formula injection: reviewers
// open exports in Excel/Sheets, where a cell starting with = + - @ runs as a formula.
export type Cell = string | number | boolean | null | undefined;

const FORMULA_START = /^[=+\-@\t\r]/;

export function csvCell(value: Cell): string {
  if (value === null || value === undefined) return '';
  let s = String(value);
  // Numbers are data, not formulas; only text can smuggle one in (e.g. "-1+cmd").
  if (typeof value === 'string' && FORMULA_START.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  // CRLF line ends as RFC 4180 specifies.
  return [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

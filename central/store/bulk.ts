/**
 * Multi-row statements for ingest's batches: one statement per up to CHUNK rows instead of one per row. On
 * PostgreSQL every statement is a round trip to the server, so a batch of a thousand records stored row by
 * row spent its time waiting on the network (about 445 records/s); SQLite saves the per-statement work.
 */
import type { Sql } from './sql-store.js';

/**
 * Rows per statement: far under both databases' limits on parameters (SQLite 32,766; PostgreSQL 65,535)
 * at the widest row the store writes (19 columns), and few distinct statement texts to prepare.
 */
export const CHUNK = 500;

/**
 * Runs `statement(values)` over `rows` in chunks, `values` being `row` (a parenthesised list of
 * placeholders, with casts where a dialect needs them) once per row of the chunk; returns the rows the
 * statements return (`returning`: the statement has a RETURNING clause; SQLite refuses `all` on one that
 * returns nothing).
 */
export async function many<T = never>(sql: Sql, rows: unknown[][], row: string, statement: (values: string) => string, returning = false): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < rows.length; i += CHUNK) {
    const part = rows.slice(i, i + CHUNK);
    const text = statement(part.map(() => row).join(', '));
    if (returning) out.push(...(await sql.all<T>(text, part.flat())));
    else await sql.run(text, part.flat());
  }
  return out;
}

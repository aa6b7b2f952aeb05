/**
 * The centre's schema, as one ordered list of versioned migrations for both stores. A migration is written
 * once; where SQLite and PostgreSQL differ (the width of an integer, a float, an auto-numbered key), the SQL
 * names the difference as a token the dialect fills in. Applied versions are kept in `schema_migrations`;
 * a migration is applied in the same transaction that records it, so a crash leaves it applied or not.
 * Versions are only ever added: an applied migration is never edited (a database that has it would not
 * see the change).
 */
import type { Sql } from './sql-store.js';
import { fillTextIndex, textIndexDdl } from '../search/text-index.js';

export interface Dialect {
  name: 'sqlite' | 'postgres';
  /** a 64-bit integer: SQLite's INTEGER is 64-bit, PostgreSQL's is 32 */
  int64: string;
  /** a double: PostgreSQL's REAL is single precision */
  float: string;
  /** an auto-numbered primary key that never reuses a deleted row's number */
  serialKey: string;
  /**
   * The records table's arrival order. SQLite's rowid already is one (and an ingest.sqlite from before
   * migrations has no other), PostgreSQL needs a column for it.
   */
  arrivalColumn: string;
  arrivalOrder: string;
}

export const SQLITE: Dialect = {
  name: 'sqlite',
  int64: 'INTEGER',
  float: 'REAL',
  serialKey: 'INTEGER PRIMARY KEY AUTOINCREMENT',
  arrivalColumn: '',
  arrivalOrder: 'rowid',
};

export const POSTGRES: Dialect = {
  name: 'postgres',
  int64: 'BIGINT',
  float: 'DOUBLE PRECISION',
  serialKey: 'BIGSERIAL PRIMARY KEY',
  arrivalColumn: 'arrival BIGSERIAL NOT NULL,',
  arrivalOrder: 'arrival',
};

/** What every record held carries, whether kept with its site's or held apart. */
const recordColumns = (d: Dialect): string => `box TEXT NOT NULL, seq ${d.int64} NOT NULL, site TEXT NOT NULL,
        kind TEXT NOT NULL, at TEXT NOT NULL, received_ms ${d.int64} NOT NULL,`;

export interface Migration {
  version: number;
  name: string;
  sql: (d: Dialect) => string;
  /** Run after `sql`, in the same transaction: what SQL alone cannot do (filling a new table from the data held). */
  fill?: (sql: Sql, d: Dialect) => Promise<unknown>;
}

/**
 * Times are ISO 8601 UTC text in both stores: they sort as they read, and one string serves both dialects.
 * JSON is text too: the store keeps what the box sent and projects into columns what is queried.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    // IF NOT EXISTS: an ingest.sqlite written before migrations existed has exactly these two tables and is
    // adopted as version 1, its records kept.
    name: 'records and box state',
    sql: (d) => `
      CREATE TABLE IF NOT EXISTS records (
        ${d.arrivalColumn}
        ${recordColumns(d)}
        payload     TEXT     NOT NULL,
        PRIMARY KEY (box, seq)
      );
      CREATE INDEX IF NOT EXISTS records_kind ON records (kind, received_ms);
      CREATE TABLE IF NOT EXISTS box_state (
        site            TEXT NOT NULL,
        box             TEXT NOT NULL,
        availability    TEXT,
        availability_ms ${d.int64},
        status          TEXT,
        status_ms       ${d.int64},
        stats           TEXT,
        stats_ms        ${d.int64},
        PRIMARY KEY (site, box)
      );`,
  },
  {
    version: 2,
    name: 'registered boxes, records held apart, calls and alerts',
    sql: (d) => `
      CREATE TABLE sites (
        site       TEXT PRIMARY KEY,
        created_at TEXT NOT NULL
      );
      -- A box's id is unique across sites (records are keyed by box and seq alone).
      CREATE TABLE boxes (
        box           TEXT PRIMARY KEY,
        site          TEXT NOT NULL REFERENCES sites (site),
        registered_at TEXT NOT NULL
      );
      CREATE INDEX boxes_site ON boxes (site);
      CREATE TABLE unregistered (
        ${recordColumns(d)}
        reason      TEXT     NOT NULL,
        payload     TEXT     NOT NULL,
        PRIMARY KEY (box, seq)
      );
      CREATE INDEX unregistered_received ON unregistered (received_ms);
      CREATE TABLE calls (
        box                 TEXT     NOT NULL,
        call_id             TEXT     NOT NULL,
        site                TEXT     NOT NULL,
        seq                 ${d.int64} NOT NULL,
        line                TEXT,
        agent               TEXT,
        started_at          TEXT     NOT NULL,
        ended_at            TEXT     NOT NULL,
        duration_sec        ${d.float} NOT NULL,
        language            TEXT,
        talk_ratio          ${d.float},
        longest_silence_sec ${d.float},
        overtalk_count      INTEGER,
        overtalk_sec        ${d.float},
        agitated            INTEGER  NOT NULL,
        alert_count         INTEGER  NOT NULL,
        index_json          TEXT     NOT NULL,
        PRIMARY KEY (box, call_id)
      );
      -- The call list: a site's calls newest first, keyset-paginated on (started_at, box, call_id).
      CREATE INDEX calls_site_started ON calls (site, started_at, box, call_id);
      CREATE INDEX calls_site_agent ON calls (site, agent, started_at);
      CREATE TABLE alerts (
        box          TEXT     NOT NULL,
        call_id      TEXT     NOT NULL,
        alert_id     TEXT     NOT NULL,
        site         TEXT     NOT NULL,
        seq          ${d.int64} NOT NULL,
        at           TEXT     NOT NULL,
        rule         TEXT     NOT NULL,
        severity     TEXT     NOT NULL,
        channel      TEXT,
        start_sec    ${d.float},
        end_sec      ${d.float},
        raised_at    ${d.float},
        revision     INTEGER  NOT NULL,
        evidence     TEXT,
        alert_json   TEXT     NOT NULL,
        PRIMARY KEY (box, call_id, alert_id)
      );
      CREATE INDEX alerts_site_at ON alerts (site, at);`,
  },
  {
    version: 3,
    name: 'users, sessions, reviews, audit',
    sql: (d) => `
      CREATE TABLE users (
        id            ${d.serialKey},
        name          TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        role          TEXT NOT NULL,
        sites         TEXT NOT NULL,
        created_at    TEXT NOT NULL
      );
      CREATE TABLE sessions (
        id         TEXT PRIMARY KEY,
        user_id    ${d.int64} NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        csrf       TEXT NOT NULL,
        expires_at TEXT NOT NULL
      );
      CREATE INDEX sessions_user ON sessions (user_id);
      -- alert_id NULL: a review of the whole call
      CREATE TABLE reviews (
        id       ${d.serialKey},
        site     TEXT NOT NULL,
        box      TEXT NOT NULL,
        call_id  TEXT NOT NULL,
        alert_id TEXT,
        verdict  TEXT NOT NULL,
        note     TEXT,
        reviewer TEXT NOT NULL,
        at       TEXT NOT NULL
      );
      CREATE INDEX reviews_call ON reviews (box, call_id);
      -- "user" is reserved in PostgreSQL: the column is username, so no query has to quote it.
      CREATE TABLE audit (
        id       ${d.serialKey},
        at       TEXT NOT NULL,
        username TEXT,
        action   TEXT NOT NULL,
        detail   TEXT
      );
      CREATE INDEX audit_at ON audit (at);`,
  },
  {
    version: 4,
    // The lexemes are the evaluator's own normalisation (central/search/text-index.ts), so the calls already
    // held are indexed by code, not SQL.
    name: 'search text index',
    sql: textIndexDdl,
    fill: fillTextIndex,
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

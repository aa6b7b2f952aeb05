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

/** A number of the stored index's `metrics` (null when it is missing or not a number: the index came from a box). */
function jsonNumber(d: Dialect, metric: string): string {
  return d.name === 'sqlite'
    ? `(CASE WHEN json_type(index_json, '$.metrics.${metric}') IN ('integer', 'real') THEN json_extract(index_json, '$.metrics.${metric}') END)`
    : `(CASE WHEN jsonb_typeof(index_json::jsonb #> '{metrics,${metric}}') = 'number' THEN (index_json::jsonb #>> '{metrics,${metric}}')::${d.float} END)`;
}

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
  {
    version: 5,
    name: 'review verdicts, alert scores, floor figures, acknowledgements',
    sql: (d) => `
      -- The verdict that counts for an alert is its latest review, kept on the alert row itself (written in
      -- the review's transaction, after the row is locked): precision and the queue read one table. Every
      -- review stays in reviews, the history.
      ALTER TABLE alerts ADD COLUMN verdict TEXT;
      ALTER TABLE alerts ADD COLUMN reviewed_at TEXT;
      -- In the unit of the threshold a site would tune (central/review/score.ts); null: no meaningful one.
      ALTER TABLE alerts ADD COLUMN score ${d.float};
      ALTER TABLE alerts ADD COLUMN score_kind TEXT;
      -- critical first, as central/review.ts severityRank ranks them; computed by the database, so no writer can forget it.
      ALTER TABLE alerts ADD COLUMN severity_rank INTEGER GENERATED ALWAYS AS (CASE severity WHEN 'critical' THEN 2 WHEN 'warning' THEN 1 WHEN 'info' THEN 0 ELSE -1 END) ${d.name === 'sqlite' ? 'VIRTUAL' : 'STORED'};
      -- The review queue, in its order, of alerts not yet reviewed.
      CREATE INDEX alerts_queue ON alerts (site, severity_rank, (COALESCE(score, -1)), at, box, call_id, alert_id) WHERE verdict IS NULL;
      -- ...and of one rule: walking the whole queue to pick one rule's alerts reads every critical alert first.
      CREATE INDEX alerts_queue_rule ON alerts (site, rule, severity_rank, (COALESCE(score, -1)), at, box, call_id, alert_id) WHERE verdict IS NULL;
      CREATE INDEX reviews_alert ON reviews (box, call_id, alert_id, id);
      -- Floor figures: time anyone was speaking, and silence (both sides quiet), per call.
      ALTER TABLE calls ADD COLUMN talk_sec ${d.float};
      ALTER TABLE calls ADD COLUMN silence_sec ${d.float};
      UPDATE calls SET silence_sec = ${jsonNumber(d, 'silenceTotalSec')},
        talk_sec = ${jsonNumber(d, 'agentTalkSec')} + ${jsonNumber(d, 'customerTalkSec')} - COALESCE(${jsonNumber(d, 'overtalkTotalSec')}, 0);
      -- Acknowledgements of live alerts (central/web/acks.ts): the first one stands.
      CREATE TABLE alert_acks (
        alert_key TEXT PRIMARY KEY,
        site      TEXT,
        by_user   TEXT NOT NULL,
        at        TEXT NOT NULL
      );`,
  },
  {
    version: 6,
    // Nothing wrote sessions before accounts existed: the table is made again with what expiry needs, its
    // id now the SHA-256 of the cookie (a copy of the table signs no one in).
    name: 'accounts: disabled users, session expiry, login attempts',
    sql: (d) => `
      ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE users ADD COLUMN password_changed_at TEXT;
      DROP TABLE sessions;
      CREATE TABLE sessions (
        id           TEXT PRIMARY KEY,
        user_id      ${d.int64} NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        csrf         TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        last_seen_at TEXT NOT NULL,
        expires_at   TEXT NOT NULL
      );
      CREATE INDEX sessions_user ON sessions (user_id);
      CREATE INDEX sessions_expires ON sessions (expires_at);
      -- One row per sign-in attempt under way or failed, per key ('name:<user name>', 'addr:<address>'):
      -- the rate limit counts them, shared by every web process on the store.
      CREATE TABLE login_attempts (
        id    ${d.serialKey},
        key   TEXT NOT NULL,
        at_ms ${d.int64} NOT NULL
      );
      CREATE INDEX login_attempts_key ON login_attempts (key, at_ms);`,
  },
  {
    version: 7,
    // One index per call-list order, led by site as the list is, and ending in the order's tie-breakers, so a
    // keyset page is one index range scan at any depth (calls_site_started serves newest and oldest first).
    // A call without a longest silence sorts last: the key is a generated column rather than an expression,
    // because SQLite uses only a column for a row-value range (its own: VIRTUAL; PostgreSQL has only STORED).
    name: 'call list orders',
    sql: (d) => `
      ALTER TABLE calls ADD COLUMN silence_key ${d.float} GENERATED ALWAYS AS (COALESCE(longest_silence_sec, -1)) ${d.name === 'sqlite' ? 'VIRTUAL' : 'STORED'};
      CREATE INDEX calls_site_duration ON calls (site, duration_sec, started_at, box, call_id);
      CREATE INDEX calls_site_silence ON calls (site, silence_key, started_at, box, call_id);
      CREATE INDEX calls_site_alerts ON calls (site, alert_count, started_at, box, call_id);`,
  },
  {
    version: 8,
    // The box's Ed25519 public key (lib/signing.ts, one line of base64): ingest stores a record from a box
    // enrolled with a key only when the record is signed by it (docs/mqtt.md, "Signatures").
    name: 'box signing keys',
    sql: () => `ALTER TABLE boxes ADD COLUMN public_key TEXT;`,
  },
  {
    version: 9,
    // The whole index was kept twice, as the record's payload and as calls.index_json: about half of what a
    // call cost on disk. A call's index is now read from its record, (box, seq) being the records' key.
    // SQLite rewrites the calls table for this (once; the freed pages are reused, VACUUM returns them);
    // PostgreSQL only marks the column dropped. There, payloads written from now on are compressed with
    // lz4 (cheaper for ingest than the default pglz), when the server was built with it (Debian's is).
    name: 'the index held once: in records',
    sql: (d) =>
      d.name === 'sqlite'
        ? 'ALTER TABLE calls DROP COLUMN index_json;'
        : `ALTER TABLE calls DROP COLUMN index_json;
      DO $$ BEGIN
        ALTER TABLE records ALTER COLUMN payload SET COMPRESSION lz4;
      EXCEPTION WHEN feature_not_supported THEN NULL;
      END $$;`,
  },
  {
    version: 10,
    // Per site: how many days its calls, records, alerts and reviews are kept (null: no limit). The sweep
    // (central/retention.ts) deletes what is older.
    name: 'retention per site',
    sql: () => `ALTER TABLE sites ADD COLUMN retention_days INTEGER;`,
  },
  {
    version: 11,
    // A filter few calls pass reads the call list's index newest first until a page is full: at 250,000 calls
    // "over-talk at least 2", which no call passed, read them all (SQLite 165 ms, 660 ms at a million). With
    // this index (and the planner's statistics, which sqlite.ts keeps) a rare count is a range.
    // Long silences have calls_site_silence already (the filter reads silence_key).
    name: 'over-talk filter index',
    sql: () => `CREATE INDEX calls_site_overtalk ON calls (site, overtalk_count, started_at, box, call_id);`,
  },
  {
    version: 12,
    // Why the box withdrew an alert (its last revision's `withdrawn`, redacted as its evidence is); null while
    // it stands. The review queue's indexes (migration 5) stay as they are: withdrawn alerts are few, and a
    // queue page reading past them costs less than rebuilding both indexes over every unreviewed alert.
    name: 'withdrawn alerts',
    sql: () => `ALTER TABLE alerts ADD COLUMN withdrawn TEXT;`,
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

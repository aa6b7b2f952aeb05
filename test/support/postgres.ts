/**
 * A real PostgreSQL for a test: a throw-away cluster (Debian's postgresql-15: initdb, then the postgres
 * server) in a temporary directory, listening on a free 127.0.0.1 port with trust authentication on
 * loopback, killed and removed when the test process ends whatever happens (broker-process.ts). The server
 * refuses to run as root, so under root it runs as the `postgres` user, its directory owned by it. It can
 * be stopped and started again on the same data (the stopped-PostgreSQL tests).
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { canConnect, freePort, ServerProcess } from './broker-process.js';
import { tempDir } from './temp.js';

export const PG_BIN = process.env.EARSHOT_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** Why the PostgreSQL tests cannot run here, or null when they can. */
export function postgresMissing(): string | null {
  if (!existsSync(join(PG_BIN, 'initdb'))) return `${join(PG_BIN, 'initdb')} is missing: install Debian's postgresql package (scripts/test-deps.sh)`;
  if (process.getuid?.() === 0 && postgresUser() === null) return 'running as root and there is no postgres user to run the server as (the postgresql package creates it)';
  return null;
}

function postgresUser(): { uid: number; gid: number } | null {
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const u = id('-u');
  const g = id('-g');
  if (u.status !== 0 || g.status !== 0) return null;
  return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
}

export class Postgres {
  private readonly server: ServerProcess;
  private databases = 0;

  private constructor(readonly port: number, readonly dir: string, owner: { uid: number; gid: number } | null) {
    this.server = new ServerProcess({
      name: 'postgres',
      command: join(PG_BIN, 'postgres'),
      // fsync off: a throw-away cluster on a test machine; the tests stop the server, they do not cut power.
      args: ['-D', join(dir, 'data'), '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=100'],
      uid: owner?.uid,
      gid: owner?.gid,
      ready: () => this.answers(),
      startTimeoutMs: 30_000,
    });
  }

  /** A fresh cluster, started. */
  static async start(): Promise<Postgres> {
    const missing = postgresMissing();
    if (missing) throw new Error(missing);
    const owner = process.getuid?.() === 0 ? postgresUser() : null;
    const dir = tempDir('pg');
    if (owner) chownSync(dir, owner.uid, owner.gid);
    const init = spawnSync(join(PG_BIN, 'initdb'), ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], {
      encoding: 'utf8',
      uid: owner?.uid,
      gid: owner?.gid,
      cwd: dir,
    });
    if (init.status !== 0) throw new Error(`initdb failed (${init.status}): ${init.stderr || init.error?.message}`);
    const p = new Postgres(await freePort(), dir, owner);
    try {
      await p.start();
    } catch (err) {
      await p.dispose();
      throw err;
    }
    return p;
  }

  /** the maintenance database's URL */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  get running(): boolean {
    return this.server.running;
  }

  get log(): string {
    return this.server.log;
  }

  private async answers(): Promise<boolean> {
    if (!(await canConnect(this.port))) return false;
    const c = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 2000 });
    try {
      await c.connect();
      await c.query('SELECT 1');
      return true;
    } catch {
      return false; // "the database system is starting up"
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  /** A new, empty database in this cluster; its URL. */
  async createDatabase(prefix = 'earshot'): Promise<string> {
    const name = `${prefix}_${process.pid}_${++this.databases}`;
    const c = new pg.Client({ connectionString: this.url });
    await c.connect();
    try {
      await c.query(`CREATE DATABASE ${name}`);
    } finally {
      await c.end();
    }
    return `postgres://postgres@127.0.0.1:${this.port}/${name}`;
  }

  /** Starts (again, on the same data and port); resolves with the ms until it answered a query. */
  start(): Promise<number> {
    return this.server.start();
  }

  /**
   * PostgreSQL's fast shutdown (SIGINT): open transactions are rolled back, clients disconnected, the data
   * written out, as `pg_ctl stop` does by default.
   */
  async stop(): Promise<void> {
    const pid = this.server.pid;
    if (pid === undefined) return;
    process.kill(pid, 'SIGINT');
    const t0 = Date.now();
    while (this.server.running && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 50));
    if (this.server.running) await this.server.kill();
  }

  async dispose(): Promise<void> {
    await this.server.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A centre with accounts on, as `earshot central` starts it (startCentral + centralExtras), on a given store,
 * its broker unreachable (the web app and accounts do not need one), and an HTTP client that keeps its
 * session cookie and CSRF token as a browser page does.
 */
import pino from 'pino';
import { defaultConfig } from '../../provisioning/config.js';
import { startCentral, type Central } from '../../central/central.js';
import { centralExtras } from '../../central/central-command.js';
import type { AccountsOptions } from '../../central/auth/web.js';
import type { ScryptParams } from '../../central/auth/password.js';
import type { SqlStore } from '../../central/store/sql-store.js';

/** scrypt at a cost a test can afford many times over; the stored string says so, and verify reads it from there. */
export const TEST_SCRYPT: ScryptParams = { ln: 10, r: 8, p: 1 };

export const silentLog = pino({ level: 'silent' });

export async function startAccountsCentral(db: string, o: Partial<Omit<AccountsOptions, 'log'>> & { trustProxy?: boolean | string } = {}): Promise<Central & { store: SqlStore }> {
  const { trustProxy, ...accounts } = o;
  // Port 9 (discard): nothing listens; ingest keeps trying in the background, as it would with the broker down.
  const ingest = { ...defaultConfig().ingest, db, broker: 'mqtt://127.0.0.1:9' };
  const central = await startCentral({ ingest, listen: '127.0.0.1:0', accounts: true, log: silentLog, trustProxy }, await centralExtras({ log: silentLog, scrypt: TEST_SCRYPT, ...accounts }));
  return Object.assign(central, { store: central.ingest.store as SqlStore });
}

export interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  text: string;
}

/** One browser's worth of state: the session cookie it was given and the page's CSRF token. */
export class Client {
  cookie: string | null = null;
  csrf: string | null = null;

  constructor(readonly base: string) {}

  async request(method: string, path: string, o: { body?: unknown; csrf?: boolean | string; headers?: Record<string, string> } = {}): Promise<Reply> {
    const headers: Record<string, string> = { accept: 'application/json', ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}), ...o.headers };
    if (this.cookie) headers.cookie = this.cookie;
    const csrf = o.csrf === undefined || o.csrf === true ? this.csrf : o.csrf === false ? null : o.csrf;
    if (csrf && method !== 'GET') headers['x-csrf-token'] = csrf;
    const res = await fetch(this.base + path, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body), redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const m = /^earshot_session=([^;]*)/.exec(c);
      if (m) this.cookie = m[1] ? `earshot_session=${m[1]}` : null;
    }
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      /* a page, not JSON */
    }
    return { status: res.status, headers: res.headers, body, text };
  }

  async login(name: string, password: string, headers: Record<string, string> = {}): Promise<Reply> {
    const r = await this.request('POST', '/api/login', { body: { name, password }, headers });
    if (r.status === 200) this.csrf = r.body.csrf as string;
    return r;
  }

  get = (path: string) => this.request('GET', path);
  post = (path: string, body: unknown = {}, o: { csrf?: boolean | string } = {}) => this.request('POST', path, { body, ...o });
}

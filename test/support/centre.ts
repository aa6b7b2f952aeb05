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

/** One site's worth of distinctive identifiers: none of them may ever reach another site's supervisor. */
export interface SiteFixture {
  site: string;
  box: string;
  calls: [string, string];
  alertId: string;
  agent: string;
  line: string;
  /** words said in the calls (search) and the alert's evidence */
  words: string;
  evidence: string;
}

export const NORTH: SiteFixture = {
  site: 'north-floor', box: 'nbox-7', calls: ['ncall-1001', 'ncall-1002'], alertId: 'card-data-1', agent: 'nagent-17', line: 'ndesk-3',
  words: 'northwind refund please', evidence: 'my northcard number is ***',
};
export const SOUTH: SiteFixture = {
  site: 'south-floor', box: 'sbox-2', calls: ['scall-2001', 'scall-2002'], alertId: 'card-data-1', agent: 'sagent-40', line: 'sdesk-9',
  words: 'southgate refund please', evidence: 'my southcard number is ***',
};

/** A call index (docs/call-index.md, schema-valid) of a live call of the fixture, with one alert. */
export function fixtureIndex(f: SiteFixture, callId: string, startedAt: string): Record<string, unknown> {
  const words = f.words.split(' ');
  const alert = { id: f.alertId, rule: 'card-data', severity: 'critical', title: 'card number said', channel: 'customer', start: 4, end: 6, raisedAt: 6.2, evidence: f.evidence };
  return {
    schema: 'earshot/call-index@1',
    callId,
    line: { name: f.line, agentId: f.agent, startedAt, endedAt: new Date(Date.parse(startedAt) + 30_000).toISOString(), boundaries: 'pbx', endedBy: 'pbx' },
    durationSec: 30,
    utterances: [
      { channel: 'agent', start: 0.5, end: 3, loudnessDb: -20, f0Hz: 180, text: 'hello how can i help', script: 'latin', rate: 2, words: 'hello how can i help'.split(' ').map((w, i) => ({ w, start: 0.5 + i * 0.5, end: 0.9 + i * 0.5, conf: 0.9 })) },
      { channel: 'customer', start: 4, end: 6, loudnessDb: -18, f0Hz: 210, text: f.words, script: 'latin', rate: 1.5, words: words.map((w, i) => ({ w, start: 4 + i * 0.6, end: 4.5 + i * 0.6, conf: 0.9 })) },
    ],
    silences: [{ start: 10, end: 22, durationSec: 12, position: 'mid' }],
    overtalk: [],
    emotion: [{ channel: 'customer', start: 4, end: 6, score: 0.7, f0RisePct: 25, loudnessRiseDb: 5 }],
    keywords: [],
    alerts: [alert],
    recognition: { agent: { language: 'en', model: 'test', script: 'latin', degraded: false, reason: 'en' }, customer: { language: 'en', model: 'test', script: 'latin', degraded: false, reason: 'en' } },
    metrics: {
      agentTalkSec: 2.5, customerTalkSec: 2, talkRatio: 0.556, silenceTotalSec: 12, longestSilenceSec: 12, overtalkTotalSec: 0, overtalkCount: { agent: 0, customer: 0 },
      longestMonologue: { channel: 'agent', start: 0.5, end: 3, durationSec: 2.5 }, utteranceCount: { agent: 1, customer: 1 }, speechRate: { agent: 2, customer: 1.5 },
    },
  };
}

/**
 * Puts a site in the centre as its box would: registered, two calls' indexes and a live alert in the store,
 * the alert and the box's lines on the live floor (fed to the floor as the web app's subscription would).
 */
export async function seedSite(central: Central, store: SqlStore, f: SiteFixture): Promise<void> {
  await store.registerBox(f.site, f.box);
  const at = new Date().toISOString();
  const started = (i: number) => new Date(Date.now() - (i + 1) * 3_600_000).toISOString();
  const liveAlert = { ...(fixtureIndex(f, f.calls[0], started(0)).alerts as object[])[0], callId: f.calls[0], line: { name: f.line, agentId: f.agent } };
  const records = [
    { site: f.site, box: f.box, seq: 1, kind: 'alert' as const, at, data: liveAlert },
    { site: f.site, box: f.box, seq: 2, kind: 'index' as const, at, data: fixtureIndex(f, f.calls[0], started(0)) },
    { site: f.site, box: f.box, seq: 3, kind: 'index' as const, at, data: fixtureIndex(f, f.calls[1], started(1)) },
  ];
  await store.storeBatch(records, 'closed');
  const floor = central.web.floor;
  floor.availability(f.site, f.box, 'online');
  floor.alertRecord({ schema: 'earshot/record@1', ...records[0] });
  floor.live({
    schema: 'earshot/live@1', box: f.box, site: f.site, kind: 'live', seq: null, at, intervalSec: 1, outboxDepth: 0,
    lines: [{ name: f.line, agentId: f.agent, state: 'in-call', callId: f.calls[0], inCallSec: 12, talking: 'customer', silenceSec: 0, agitation: 0.7, shedding: false, backlogSec: 0 }],
  } as never);
}

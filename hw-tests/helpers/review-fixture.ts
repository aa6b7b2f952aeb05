/**
 * A hand-computed set of calls and alerts for the review loop's and the floor figures' tests, stored through
 * the store's own ingest path (so scores and talk/silence are derived as in production), and a web app
 * whose callers are chosen per request by an `x-as` header (accounts are another module's).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { roleMay, type Authorize, type Caller, type Capability } from '../../central/web/access.js';
import { startCentralWeb, type CentralWeb } from '../../central/web/server.js';
import type { IncomingRecord } from '../../central/store/store.js';
import type { SqlStore } from '../../central/store/sql-store.js';
import { reviewRoutes } from '../../central/review/routes.js';
import { figuresRoutes } from '../../central/review/figures.js';
import { repoRoot } from '../../test/support/cli.js';

export const CALLERS: Record<string, Caller> = {
  'qa-a': { name: 'quinn', role: 'qa', sites: ['s1'] },
  'qa-b': { name: 'bea', role: 'qa', sites: ['s2'] },
  'sup-a': { name: 'sam', role: 'supervisor', sites: ['s1'] },
  'sup-c': { name: 'cleo', role: 'supervisor', sites: ['s3'] },
  admin: { name: 'ada', role: 'admin', sites: '*' },
};

/** The caller named by the request's x-as header; 401 without one, 403 when the role may not. */
export const testAuthorize: Authorize = async (need: Capability | 'signed-in', request: FastifyRequest, reply: FastifyReply) => {
  const who = CALLERS[String(request.headers['x-as'] ?? process.env.EARSHOT_TEST_AS ?? '')];
  if (!who) return (reply.code(401).send({ error: 'sign in' }), null);
  if (!roleMay(who.role, need)) return (reply.code(403).send({ error: 'forbidden' }), null);
  return { ...who, csrf: 'test' };
};

export function buildPages(): void {
  execFileSync(process.execPath, ['--import=tsx', join(repoRoot, 'scripts/build-web.ts')], { cwd: repoRoot });
}

/** The review and figures routes on a web app with no broker to hear (nothing live is tested here). */
export async function reviewWeb(store: SqlStore, log: Logger, authorize: Authorize = testAuthorize): Promise<CentralWeb> {
  return startCentralWeb({
    broker: 'mqtt://127.0.0.1:9',
    log,
    listen: '127.0.0.1:0',
    authorize,
    routes: [(app) => reviewRoutes(app, { store, authorize, log }), (app) => figuresRoutes(app, { store, authorize, log })],
  });
}

// ------------------------------------------------------------------------------------------- the calls

interface AlertSpec {
  alert: Record<string, unknown>;
  silence?: Record<string, unknown>;
  emotion?: Record<string, unknown>;
  keyword?: Record<string, unknown>;
}

/** Dead air: raised 10 s (the threshold) into a silence `sec` long; its score is `sec`. */
export const deadAir = (start: number, sec: number): AlertSpec => ({
  alert: { rule: 'dead-air', severity: 'warning', title: 'Dead air mid-call', channel: 'both', start, end: start + 10, raisedAt: start + 10.9, evidence: `no speech on either side for more than 10 s from ${start} s` },
  silence: { start, end: start + sec, durationSec: sec, position: 'mid' },
});
export const agitation = (start: number, score: number): AlertSpec => ({
  alert: { rule: 'customer-agitation', severity: 'info', title: 'Customer agitated', channel: 'customer', start, end: start + 1, raisedAt: start + 1.1, evidence: `customer voice raised (score ${score})` },
  emotion: { channel: 'customer', start, end: start + 4, score, f0RisePct: 30, loudnessRiseDb: 6 },
});
export const credential = (start: number, score: number): AlertSpec => ({
  alert: { rule: 'credential-request', severity: 'critical', title: 'Agent asks for a password', channel: 'agent', start, end: start + 0.8, raisedAt: start + 1, evidence: 'agent "read me the verification code"' },
  keyword: { term: 'verification code', channel: 'agent', start, end: start + 0.8, score, source: 'asr' },
});
/** No meaningful score: how soon the call ended after the customer's words (lower is worse). */
export const hurried = (start: number): AlertSpec => ({
  alert: { rule: 'hurried-hangup', severity: 'warning', title: 'Call ended on the customer', channel: 'customer', start, end: start + 2, raisedAt: start + 2, evidence: 'the call ended while the customer was still speaking' },
});

export interface CallSpec {
  site: string;
  box: string;
  seq: number;
  callId: string;
  startedAt: string;
  durationSec?: number;
  agent?: string;
  /** agent talk, customer talk, over-talk, silence (seconds) */
  talk?: [number, number, number, number];
  alerts?: AlertSpec[];
}

/** The index record of a call, as a box sends it at the call's end. */
export function callRecord(c: CallSpec): IncomingRecord {
  const durationSec = c.durationSec ?? 60;
  const endedAt = new Date(Date.parse(c.startedAt) + durationSec * 1000).toISOString();
  const [agentTalk, customerTalk, overtalk, silence] = c.talk ?? [20, 20, 1, 10];
  const specs = c.alerts ?? [];
  const counts = new Map<string, number>();
  const alerts = specs.map((s) => {
    const n = (counts.get(String(s.alert.rule)) ?? 0) + 1;
    counts.set(String(s.alert.rule), n);
    return { id: `${String(s.alert.rule)}-${n}`, ...s.alert };
  });
  const data = {
    schema: 'earshot/call-index@1',
    callId: c.callId,
    durationSec,
    line: { name: 'desk-1', agentId: c.agent ?? null, startedAt: c.startedAt, endedAt, boundaries: 'pbx', endedBy: 'pbx' },
    utterances: [],
    silences: specs.flatMap((s) => (s.silence ? [s.silence] : [])),
    overtalk: [],
    emotion: specs.flatMap((s) => (s.emotion ? [s.emotion] : [])),
    keywords: specs.flatMap((s) => (s.keyword ? [s.keyword] : [])),
    alerts,
    metrics: {
      agentTalkSec: agentTalk, customerTalkSec: customerTalk, talkRatio: agentTalk / (agentTalk + customerTalk), silenceTotalSec: silence, longestSilenceSec: silence,
      overtalkTotalSec: overtalk, overtalkCount: { agent: 0, customer: 0 }, speechRate: { agent: null, customer: null }, longestMonologue: null, utteranceCount: { agent: 0, customer: 0 },
    },
  };
  return { site: c.site, box: c.box, seq: c.seq, kind: 'index', at: endedAt, data };
}

/**
 * Sites s1 and s2, weeks 2026-W49 (from Monday 2026-11-30) and 2026-W50 (from 2026-12-07). The tests'
 * expected figures are worked out from this list by hand.
 */
export const REVIEW_CALLS: CallSpec[] = [
  { site: 's1', box: 'b1', seq: 1, callId: 'c1', startedAt: '2026-12-01T09:10:00.000Z', alerts: [deadAir(20, 12), agitation(40, 0.8)] },
  { site: 's1', box: 'b1', seq: 2, callId: 'c2', startedAt: '2026-12-01T10:20:00.000Z', alerts: [deadAir(5, 15)] },
  { site: 's1', box: 'b1', seq: 3, callId: 'c3', startedAt: '2026-12-02T14:00:00.000Z', agent: '=HYPERLINK("http://evil")', alerts: [credential(12, 0.6)] },
  { site: 's1', box: 'b1', seq: 4, callId: 'c4', startedAt: '2026-12-08T09:00:00.000Z', alerts: [deadAir(30, 11), hurried(55)] },
  { site: 's1', box: 'b1', seq: 5, callId: 'c5', startedAt: '2026-12-08T11:00:00.000Z' },
  { site: 's1', box: 'b1', seq: 6, callId: 'c7', startedAt: '2026-12-09T10:00:00.000Z', alerts: [deadAir(8, 12)] },
  { site: 's2', box: 'b2', seq: 1, callId: 'c6', startedAt: '2026-12-01T12:00:00.000Z', alerts: [deadAir(3, 20)] },
];

/**
 * Site s3's day 2026-12-10 (UTC) for the floor figures, and one call just after it (f5: on the 10th in
 * UTC-1). `talk` is agent, customer, over-talk, silence.
 */
export const FIGURE_CALLS: CallSpec[] = [
  { site: 's3', box: 'b3', seq: 1, callId: 'f1', startedAt: '2026-12-10T08:05:00.000Z', durationSec: 120, agent: 'ann', talk: [50, 40, 5, 20], alerts: [deadAir(10, 12), agitation(70, 0.7)] },
  { site: 's3', box: 'b3', seq: 2, callId: 'f2', startedAt: '2026-12-10T08:40:00.000Z', durationSec: 180, agent: 'bob', talk: [80, 70, 10, 10], alerts: [deadAir(100, 11)] },
  { site: 's3', box: 'b3', seq: 3, callId: 'f3', startedAt: '2026-12-10T13:15:00.000Z', durationSec: 60, agent: 'ann', talk: [20, 25, 0, 5] },
  { site: 's3', box: 'b3', seq: 4, callId: 'f4', startedAt: '2026-12-10T23:30:00.000Z', durationSec: 300, agent: 'cy', talk: [100, 100, 0, 60], alerts: [credential(30, 0.9)] },
  { site: 's3', box: 'b3', seq: 5, callId: 'f5', startedAt: '2026-12-11T00:10:00.000Z', durationSec: 90, agent: 'bob', talk: [30, 30, 0, 10], alerts: [deadAir(20, 14)] },
];

export async function storeCalls(store: SqlStore, calls: CallSpec[]): Promise<void> {
  await store.storeBatch(calls.map(callRecord), 'open');
}

/**
 * `earshot central`: ingest and the web application in one process, on one store. Ingest writes what the
 * boxes send; the web app reads the same store for calls, search and review, and hears the live topics
 * itself (so several web processes behind a load balancer each serve live pages: docs/central.md).
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { InputError } from '../lib/errors.js';
import type { IngestConfig } from '../provisioning/config.js';
import { startIngest, type Ingest } from './ingest.js';
import { centreMetrics } from './metrics.js';
import { SqlAckStore } from './store/ack-store.js';
import type { SqlStore } from './store/sql-store.js';
import { openAccess, type Authorize } from './web/access.js';
import { startCentralWeb, type CentralWeb } from './web/server.js';
import { RecordGate } from './record-gate.js';

export interface CentralOptions {
  ingest: IngestConfig;
  /** host:port of the web app */
  listen: string;
  /**
   * false: no sign-in, everyone an admin. Refused unless the web app listens on loopback only: a centre
   * reachable from the floor always asks who is there.
   */
  accounts: boolean;
  log: Logger;
  assetsDir?: string;
  /** behind a load balancer: trust its X-Forwarded-* headers (Fastify's trustProxy: true, or its addresses) */
  trustProxy?: boolean | string;
}

export interface Central {
  url: string;
  ingest: Ingest;
  web: CentralWeb;
  close(): Promise<void>;
}

/** Routes beside the live floor's, each with the store and the access decision. */
export type CentralRoutes = (app: FastifyInstance, deps: { store: SqlStore; authorize: Authorize; log: Logger }) => Promise<void>;

/** What a central process shows on its floors when it starts: a shift's alerts, as many as a page keeps. */
const RECENT_FLOOR_MS = 12 * 3600_000;
const RECENT_FLOOR_ALERTS = 5000;

export class CentralUsageError extends InputError {
  override name = 'CentralUsageError';
}

export function isLoopbackListen(listen: string): boolean {
  const host = listen.slice(0, listen.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  return host === '127.0.0.1' || host === '::1' || host === 'localhost';
}

export async function startCentral(options: CentralOptions, extra: { routes?: CentralRoutes[]; accounts?: (app: FastifyInstance, store: SqlStore) => Promise<Authorize> } = {}): Promise<Central> {
  const { log } = options;
  if (!options.accounts && !isLoopbackListen(options.listen)) {
    throw new CentralUsageError(`accounts may be off only on a loopback address, not ${options.listen}: anyone on the network would be an admin`);
  }
  // Never open by default: with accounts asked for and none to give, refuse rather than let everyone in.
  if (options.accounts && !extra.accounts) throw new CentralUsageError('this build has no accounts: run with --no-accounts on loopback');
  const ingest = await startIngest(options.ingest, log);
  const store = ingest.store as SqlStore;
  const acks = new SqlAckStore(store.db);
  let web: CentralWeb | undefined;
  const metrics = centreMetrics(ingest, () => web);
  try {
    // Accounts come first: their Authorize is what every other route asks.
    let authorize: Authorize = openAccess;
    web = await startCentralWeb({
      transport: options.ingest.transport,
      broker: options.ingest.broker,
      prefix: options.ingest.prefix,
      protocol: options.ingest.protocol,
      tls: options.ingest.tls,
      username: options.ingest.username,
      passwordFile: options.ingest.passwordFile,
      listen: options.listen,
      log,
      assetsDir: options.assetsDir,
      trustProxy: options.trustProxy,
      // In the store: an acknowledgement outlives a restart and is the same for every process on the database.
      acks,
      recentAlerts: () => acks.recentAlerts(new Date(Date.now() - RECENT_FLOOR_MS).toISOString(), RECENT_FLOOR_ALERTS),
      // Live alerts on the floor pass the same signature check as the records ingest stores.
      recordGate: new RecordGate((boxes) => store.boxKeys(boxes), options.ingest.signing.records === 'required'),
      authorize: (need, request, reply) => authorize(need, request, reply),
      routes: [
        async (app) => {
          // Counts only (no site, box or call names): scrapers do not sign in. Keep it off the floor's network if that matters.
          app.get('/metrics', { config: { need: 'public' } }, async (_request, reply) => {
            const body = await metrics.registry.metrics();
            return reply.type(metrics.registry.contentType).send(body);
          });
          if (options.accounts) authorize = await extra.accounts!(app, store);
          for (const routes of extra.routes ?? []) await routes(app, { store, authorize: (n, q, r) => authorize(n, q, r), log });
        },
      ],
    });
  } catch (err) {
    await ingest.stop();
    throw err;
  }
  metrics.watch(web);
  return {
    url: web.url,
    ingest,
    web,
    close: async () => {
      await web.close();
      await ingest.stop();
    },
  };
}

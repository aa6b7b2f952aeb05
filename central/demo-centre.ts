/**
 * The centre as `earshot run --demo` shows it: ingest and the web app on an embedded SQLite store beside the
 * demo's outbox, on the demo's broker, so the README's first command ends on a page a supervisor would see.
 * It listens on 127.0.0.1:8080, or any free loopback port when that one is taken (a second demo, a centre
 * already running).
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { defaultConfig } from '../provisioning/config.js';
import { startCentral, type Central } from './central.js';
import { centralExtras } from './central-command.js';
import { createOneTimeAdmin } from './auth/users.js';
import type { SqlStore } from './store/sql-store.js';

export interface DemoCentre {
  url: string;
  /** an admin sign-in made for this run only: a fresh password each time, in a store that goes with the demo */
  login: { name: string; password: string };
  close(): Promise<void>;
}

export const DEMO_LISTEN = '127.0.0.1:8080';

export async function startDemoCentre(opts: { broker: string; dir: string; log: Logger; protocol?: '3.1.1' | '5' | 'auto' }): Promise<DemoCentre> {
  const ingest = { ...defaultConfig().ingest, broker: opts.broker, db: join(opts.dir, 'central.sqlite'), clientId: 'earshot-demo-central', protocol: opts.protocol ?? 'auto' };
  const extras = await centralExtras();
  // The embedded broker speaks 3.1.1 only, which ingest warns of for a real site (run one process); here
  // that is by design, so the centre's log is errors only.
  const log = opts.log.child({ component: 'demo-centre' }, { level: 'error' });
  // Accounts on, as at a site: the page asks who is there even on loopback, and the demo hands out the one login.
  const start = (listen: string) => startCentral({ ingest, listen, accounts: true, log }, extras);
  let central: Central;
  try {
    central = await start(DEMO_LISTEN);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    central = await start('127.0.0.1:0');
  }
  const login = await createOneTimeAdmin(central.ingest.store as SqlStore);
  return { url: central.url, login, close: () => central.close() };
}

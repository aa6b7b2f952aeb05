/**
 * The centre's commands: `earshot ingest` (store only) and `earshot central` (ingest and the web app on
 * one store), with the options both share read in one place.
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { defaultConfig, loadConfigFile, type IngestConfig } from '../provisioning/config.js';
import { log } from '../lib/log.js';
import { exitNoteFile, installLastResort, takePreviousExit } from '../edge/last-resort.js';
import { startIngest } from './ingest.js';
import { isPostgresUrl, openStore } from './store/store.js';
import type { SqlStore } from './store/sql-store.js';
import { CentralUsageError, startCentral } from './central.js';
import { registerCentralRetentionCommands } from './retention-command.js';
import { startRetentionSweeps } from './retention.js';
import { registerAccountCommands } from './auth/cli.js';
import { sendCommand } from './send-command.js';
import { setupAccounts, type AccountsOptions } from './auth/web.js';
import { countUsers } from './auth/users.js';
import { callsRoutes } from './calls/routes.js';
import { searchRoutes } from './search/routes.js';
import { figuresRoutes } from './review/figures.js';
import { reviewRoutes } from './review/routes.js';

export interface IngestOptionValues {
  broker?: string;
  db?: string;
  group?: string;
  prefix?: string;
  clientId?: string;
  registration?: string;
  sessionExpiry?: number;
  signingKey?: string;
  config?: string;
}

function ingestOptions(cmd: Command): Command {
  return cmd
    .option('-b, --broker <url>', 'broker URL (default from config: mqtt://127.0.0.1:1883)')
    .option('--db <file|url>', 'the store: a SQLite file, or postgres://user@host:port/database (default from config: ingest.sqlite)')
    .option('-g, --group <name>', 'shared-subscription group: ingest processes in one group split the load (default ingest)')
    .option('--prefix <prefix>', 'topic prefix the boxes publish under (default earshot)')
    .option('--client-id <id>', 'MQTT client id of this ingest process (persistent session)')
    .option('--registration <mode>', "open: store every box's records; closed: hold apart records of boxes not registered at their site (default from config: open)")
    .option('--session-expiry <sec>', 'MQTT 5 session expiry of this process (default from config: 604800)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 4294967295) throw new InvalidArgumentError('whole seconds, 0 or more');
      return n;
    })
    .option('--signing-key <file>', "the centre's Ed25519 key (earshot keys generate): acks go out signed (default from config: ingest.signing.key; docs/mqtt.md, Signatures)")
    .option('-c, --config <file>', 'configuration file (YAML; section ingest)');
}

export function ingestConfigFrom(opts: IngestOptionValues): IngestConfig {
  const config = opts.config ? loadConfigFile(opts.config) : defaultConfig();
  const ic = { ...config.ingest };
  if (opts.broker) ic.broker = opts.broker;
  if (opts.db) ic.db = opts.db;
  if (opts.group) ic.group = opts.group;
  if (opts.prefix) ic.prefix = opts.prefix;
  if (opts.clientId) ic.clientId = opts.clientId;
  if (opts.sessionExpiry !== undefined) ic.sessionExpirySec = opts.sessionExpiry;
  if (opts.signingKey) ic.signing = { ...ic.signing, key: opts.signingKey };
  if (opts.registration !== undefined) {
    if (opts.registration !== 'open' && opts.registration !== 'closed') throw new CentralUsageError(`--registration: open or closed, not ${opts.registration}`);
    ic.registration = opts.registration;
  }
  if (!/^(mqtts?|wss?|tcp|ssl):\/\//.test(ic.broker)) throw new CentralUsageError(`--broker: not an MQTT URL: ${ic.broker}`);
  if (/[#+/]/.test(ic.group)) throw new CentralUsageError(`--group: may not contain # + or /: ${ic.group}`);
  return ic;
}

/** The note of the last exit, and the handler that writes the next one. */
function lastResort(ic: IngestConfig, what: string): void {
  // A PostgreSQL store has no directory of its own: the note goes where the process runs.
  const exitNote = exitNoteFile(isPostgresUrl(ic.db) ? process.cwd() : dirname(ic.db));
  const previous = takePreviousExit(exitNote);
  if (previous) log.warn({ previousExit: previous }, `restarted after the previous ${what} process exited on: ${previous.reason}`);
  installLastResort(log, exitNote);
}

const untilSignal = () =>
  new Promise<void>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
  });

export function registerCentralCommands(program: Command): void {
  ingestOptions(
    program
      .command('ingest')
      .description("central ingest: store every box's indexes and alerts from the broker in the centre's store (SQLite or PostgreSQL), once each, and ack them (docs/mqtt.md, docs/central.md)"),
  ).action(async (opts: IngestOptionValues) => {
    const ic = ingestConfigFrom(opts);
    lastResort(ic, 'ingest');
    const ingest = await startIngest(ic);
    process.stderr.write(`earshot ingest: ${ic.broker} -> ${ingest.store.location} (group ${ic.group})\n`);
    await untilSignal();
    await ingest.stop();
    const c = ingest.counters;
    process.stderr.write(`earshot ingest: stored ${c.stored}, duplicates ${c.duplicates}, held apart ${c.heldApart}, invalid ${c.invalid}, refused for their signature ${c.refusedSignature}, refused for their data ${c.refusedData}\n`);
  });

  const central = program.command('central').description('the centre: ingest plus the web application for supervisors and QA reviewers (docs/central.md)');
  ingestOptions(
    central
      .command('start', { isDefault: true })
      .description('run ingest and the web app on one store until Ctrl-C')
      .option('--listen <host:port>', 'where the web app listens', '127.0.0.1:8080')
      .option('--no-accounts', 'no sign-in, everyone an admin (only on a loopback address)')
      .option('--secure-cookies', 'mark the session cookie Secure even when a request did not come over https (TLS ends before the centre)')
      .option('--trust-proxy <addresses>', "behind a load balancer: its addresses (or 'true'), whose X-Forwarded-For/-Proto give the client's address (the sign-in rate limit) and https")
      .option('--session-idle <minutes>', 'a session with no request for this long ends (default 240)', wholeNumber)
      .option('--session-max <hours>', 'any session ends this long after sign-in (default 12)', wholeNumber),
  ).action(async (opts: IngestOptionValues & { listen: string; accounts: boolean; secureCookies?: boolean; trustProxy?: string; sessionIdle?: number; sessionMax?: number }) => {
    const ic = ingestConfigFrom(opts);
    lastResort(ic, 'central');
    const trustProxy = opts.trustProxy === undefined ? undefined : opts.trustProxy === 'true' ? true : opts.trustProxy;
    const accounts = { secureCookies: opts.secureCookies ? true : ('auto' as const), idleMinutes: opts.sessionIdle, maxHours: opts.sessionMax };
    const c = await startCentral({ ingest: ic, listen: opts.listen, accounts: opts.accounts, log, trustProxy }, await centralExtras(accounts));
    process.stderr.write(`earshot central: ${ic.broker} -> ${c.ingest.store.location}; web app on ${c.url}\n`);
    if (opts.accounts && (await countUsers((c.ingest.store as SqlStore).db)) === 0) {
      const where = opts.config ? `-c ${opts.config}` : `--db ${ic.db}`;
      process.stderr.write(`earshot central: no users yet: create the first admin with  earshot central user add <name> --role admin ${where}\n`);
    }
    const sweeps = startRetentionSweeps((c.ingest.store as SqlStore).db, log);
    await untilSignal();
    await sweeps.stop();
    await c.close();
  });
  registerAccountCommands(central, storeFrom);
  registerCentralRetentionCommands(central, storeFrom);
  ingestOptions(
    central
      .command('command <site> <box> <cmd>')
      .description("send one box a command (stats, status, resend, bundle), signed with the centre's key (docs/mqtt.md, Signatures)")
      .option('--bundle <file>', 'with bundle: a signed bundle from `earshot bundle build` (docs/bundles.md)'),
  ).action(async (site: string, box: string, cmd: string, opts: IngestOptionValues & { bundle?: string }) => {
    if ((cmd === 'bundle') !== (opts.bundle !== undefined)) throw new CentralUsageError('the bundle command and --bundle <file> go together');
    const id = await sendCommand(ingestConfigFrom(opts), site, box, cmd, log, undefined, opts.bundle ? { bundle: readBundleFile(opts.bundle) } : {});
    process.stderr.write(`earshot: ${cmd} sent to ${site}/${box} (id ${id})\n`);
  });
}

function readBundleFile(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new CentralUsageError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** The store `--db` or `-c`'s ingest.db names, for the user and box commands. */
async function storeFrom(opts: { db?: string; config?: string }): Promise<SqlStore> {
  return (await openStore(ingestConfigFrom({ db: opts.db, config: opts.config }).db)) as SqlStore;
}

/** The routes beside the live floor's; one list, so `earshot central` and the demo serve the same app. */
export async function centralExtras(accounts: Partial<AccountsOptions> = {}): Promise<Parameters<typeof startCentral>[1]> {
  return {
    accounts: (app, store) => setupAccounts(app, store, { log, ...accounts }),
    routes: [callsRoutes, searchRoutes, reviewRoutes, figuresRoutes],
  };
}

function wholeNumber(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number, 1 or more');
  return n;
}

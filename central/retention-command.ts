/** `earshot central forget | retention | sweep`: erasure and retention at the centre (central/retention.ts, docs/privacy.md). */
import type { Command } from 'commander';
import type { SqlStore } from './store/sql-store.js';
import { storeOptions, type StoreOptionValues } from './auth/cli.js';
import { customerKey, readCustomerSecret } from '../lib/customer-key.js';
import { InputError } from '../lib/errors.js';
import { forgetCall, forgetCustomer, retentionOf, setRetention, sweepRetention, type Removed } from './retention.js';

const counts = (r: Removed) => Object.entries(r).map(([k, n]) => `${k} ${n}`).join(', ');

export function registerCentralRetentionCommands(central: Command, open: (opts: StoreOptionValues) => Promise<SqlStore>): void {
  const onStore = async (opts: StoreOptionValues, fn: (s: SqlStore) => Promise<string>) => {
    const store = await open(opts);
    try {
      process.stdout.write(await fn(store));
    } finally {
      await store.close();
    }
  };
  storeOptions(central.command('forget <site> <call-id>').description("erase one call of a site from the centre's store (records, call, alerts, reviews, search text); audited")).action(
    (site: string, callId: string, opts: StoreOptionValues) =>
      onStore(opts, async (s) => `earshot central forget ${site} ${callId}: removed ${counts(await forgetCall(s.db, site, callId))}\n`),
  );
  storeOptions(
    central
      .command('forget-customer <site> <number>')
      .description("erase every call of a site from the caller's number (the site's customer key hashes it as its boxes did: docs/privacy.md); audited")
      .requiredOption('--key-file <file>', "the site's customer key, the file the boxes' privacy.customerKeyFile names"),
  ).action((site: string, number: string, opts: StoreOptionValues & { keyFile: string }) => {
    const key = customerKey(readCustomerSecret(opts.keyFile), number);
    if (!key) throw new InputError(`forget-customer: "${number}" has no digits: give the caller's number as the PBX reports it`);
    return onStore(opts, async (s) => {
      const { callIds, removed } = await forgetCustomer(s.db, site, key);
      return `earshot central forget-customer ${site}: ${callIds.length} call(s)${callIds.length ? ` (${callIds.join(', ')})` : ''}: removed ${counts(removed)}\n`;
    });
  });
  storeOptions(
    central.command('retention [site] [days]').description("show each site's retention, or set a site's (days, or 'off'); the centre sweeps hourly, `sweep` does it now"),
  ).action((site: string | undefined, days: string | undefined, opts: StoreOptionValues) =>
    onStore(opts, async (s) => {
      if (site !== undefined && days !== undefined) await setRetention(s.db, site, days === 'off' ? null : Number(days));
      return (await retentionOf(s.db)).map((r) => `${r.site}\t${r.days === null ? 'kept without limit' : `${r.days} days`}\n`).join('');
    }),
  );
  storeOptions(central.command('sweep').description('delete now what every site keeps beyond its retention; audited')).action((opts: StoreOptionValues) =>
    onStore(opts, async (s) => (await sweepRetention(s.db)).map((r) => `${r.site}: before ${r.cutoff}: removed ${counts(r.removed)}\n`).join('')),
  );
}

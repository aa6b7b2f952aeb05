/** `earshot forget` and `earshot prune`: erasure and retention on the box (edge/retention.ts, docs/privacy.md). */
import { type Command, InvalidArgumentError } from 'commander';
import { defaultConfig, loadConfigFile } from '../provisioning/config.js';
import { forgetOnBox, pruneBox, type BoxStores } from './retention.js';

interface StoreOpts {
  config?: string;
  outbox?: string;
  indexDir?: string[];
}

function storeOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'configuration file (YAML): its outbox.path, privacy.indexDirs and privacy.indexFileDays')
    .option('--outbox <file>', 'the outbox file (default from config)')
    .option('--index-dir <dir>', 'a directory of call index files (from earshot analyze --out); repeat for more (default: config privacy.indexDirs)', (v: string, prev: string[] = []) => [...prev, v]);
}

const configOf = (opts: StoreOpts) => (opts.config ? loadConfigFile(opts.config) : defaultConfig());

// What is named on the command line wins over the config, directory list as a whole.
function storesFrom(opts: StoreOpts, config = configOf(opts)): BoxStores {
  return { outboxPath: opts.outbox ?? config.outbox.path, indexDirs: opts.indexDir ?? config.privacy.indexDirs };
}

const vacuumNote = (v: boolean) => (v ? 'outbox vacuumed' : 'outbox not vacuumed (none, or busy: the next prune does it)');

export function registerRetentionCommands(program: Command): void {
  storeOptions(program.command('forget <call-id>').description("erase one call from this box's disk: its outbox records and index files (docs/privacy.md)")).action(
    async (callId: string, opts: StoreOpts) => {
      const stores = storesFrom(opts);
      const r = await forgetOnBox(stores, callId);
      const lines = [`earshot forget ${callId}: ${r.outboxRecords} outbox record(s) removed from ${stores.outboxPath}`, ...r.indexFiles.map((f) => `  index file removed: ${f}`)];
      if (stores.indexDirs.length > 0 && r.indexFiles.length === 0) lines.push(`  no index file of ${callId} in ${stores.indexDirs.join(', ')}`);
      lines.push(`  ${vacuumNote(r.vacuumed)}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    },
  );
  storeOptions(
    program
      .command('prune')
      .description('retention: delete index files older than the age (config privacy.indexFileDays) and vacuum the outbox (run daily by deploy/earshot-prune.timer)')
      .option('--older-than <days>', 'keep index files this many days (default: config privacy.indexFileDays)', (v: string) => {
        const n = Number(v);
        if (!(n > 0)) throw new InvalidArgumentError('a number of days above 0');
        return n;
      }),
  ).action(async (opts: StoreOpts & { olderThan?: number }) => {
    const config = configOf(opts);
    const days = opts.olderThan ?? config.privacy.indexFileDays;
    const r = await pruneBox(storesFrom(opts, config), days);
    process.stdout.write(`earshot prune: ${r.indexFiles.length} index file(s) older than ${days} days removed; ${vacuumNote(r.vacuumed)}\n${r.indexFiles.map((f) => `  ${f}\n`).join('')}`);
  });
}

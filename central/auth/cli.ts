/**
 * `earshot central user …` and `earshot central box …`: users and registered boxes from the command line,
 * on the store the centre runs on (`--db`, or `-c` config's ingest.db). How the first admin is made:
 * nothing ships with a default password. A password is read from a prompt that does not echo (a
 * terminal), from stdin (a pipe) or from `--password-file`, or made up and printed once (`--generate`).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CentralUsageError } from '../central.js';
import type { SqlStore } from '../store/sql-store.js';
import { addBox, listSites, removeBox } from './boxes.js';
import { generatePassword, passwordProblem } from './password.js';
import { AccountError, addUser, checkRole, checkSites, getUser, listUsers, normaliseName, removeUser, ROLES, setPassword, type Actor } from './users.js';

export interface StoreOptionValues {
  db?: string;
  config?: string;
}

const CLI: Actor = { name: null, via: 'cli' };

export function storeOptions(cmd: Command): Command {
  return cmd
    .option('--db <file|url>', 'the store: a SQLite file, or postgres://user@host:port/database (default from config: ingest.sqlite)')
    .option('-c, --config <file>', 'configuration file (YAML; section ingest: its db)');
}

/** Runs `fn` on the store, closing it after; a refused change is a usage error (exit status 2) with its message. */
async function onStore(open: (opts: StoreOptionValues) => Promise<SqlStore>, opts: StoreOptionValues, fn: (store: SqlStore) => Promise<void>): Promise<void> {
  const store = await open(opts);
  try {
    await fn(store);
  } catch (err) {
    if (err instanceof AccountError) throw new CentralUsageError(err.message);
    throw err;
  } finally {
    await store.close();
  }
}

function firstLine(text: string): string {
  return text.split(/\r?\n/, 1)[0];
}

/** Reads a line from the terminal without echoing it. */
function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    let input = '';
    const done = () => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return (done(), resolve(input));
        if (ch === '\u0003' || ch === '\u0004') return (done(), reject(new CentralUsageError('no password given')));
        if (ch === '\u007f' || ch === '\b') input = [...input].slice(0, -1).join('');
        else if (ch >= ' ') input += ch;
      }
    };
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    stdin.on('data', onData);
    stdin.resume();
  });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The new password as the options say where it comes from; `generated` when it is to be printed. */
async function newPassword(name: string, opts: { passwordFile?: string; generate?: boolean }): Promise<{ password: string; generated: boolean }> {
  if (opts.generate && opts.passwordFile) throw new CentralUsageError('--generate or --password-file, not both');
  if (opts.generate) return { password: generatePassword(), generated: true };
  let password: string;
  if (opts.passwordFile) {
    try {
      password = firstLine(readFileSync(opts.passwordFile, 'utf8'));
    } catch (err) {
      throw new CentralUsageError(`--password-file: cannot read ${opts.passwordFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  } else if (process.stdin.isTTY) {
    password = await promptHidden(`password for ${name}: `);
    const problem = passwordProblem(password);
    if (problem) throw new CentralUsageError(problem);
    if ((await promptHidden('again: ')) !== password) throw new CentralUsageError('the two passwords differ');
  } else {
    password = firstLine(await readStdin());
    if (!password) throw new CentralUsageError('no password on stdin: pipe one in, or use --password-file or --generate');
  }
  return { password, generated: false };
}

const sitesText = (sites: string[] | '*') => (sites === '*' ? 'every site' : sites.join(', '));

export function registerAccountCommands(central: Command, open: (opts: StoreOptionValues) => Promise<SqlStore>): void {
  const user = central.command('user').description('local users of the web app: add, list, passwd, remove (docs/central.md, "Accounts")');

  storeOptions(
    user
      .command('add <name>')
      .description('add a user; the password is asked for (no echo), read from stdin or --password-file, or made up with --generate')
      .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
      .option('--site <site>', "a site the user is given (repeat for more; '*' for every site; admins have every site)", (v: string, prev: string[] = []) => [...prev, v])
      .option('--password-file <file>', 'read the password from the first line of this file')
      .option('--generate', 'make up a random password and print it, once'),
  ).action(async (name: string, opts: StoreOptionValues & { role: string; site?: string[]; passwordFile?: string; generate?: boolean }) => {
    await onStore(open, opts, async (store) => {
      // What can be refused is, before anyone types a password.
      checkSites(checkRole(opts.role), opts.site);
      if (await getUser(store.db, normaliseName(name))) throw new AccountError(409, `user ${normaliseName(name)} already exists`);
      const { password, generated } = await newPassword(name, opts);
      const u = await addUser(store.db, { name, role: opts.role, sites: opts.site, password }, CLI);
      process.stderr.write(`earshot: added ${u.role} ${u.name} (${sitesText(u.sites)})\n`);
      if (generated) process.stdout.write(`password for ${u.name} (shown once, not stored): ${password}\n`);
    });
  });

  storeOptions(user.command('list').description('list the users: name, role, sites, disabled')).action(async (opts: StoreOptionValues) => {
    await onStore(open, opts, async (store) => {
      const users = await listUsers(store.db);
      if (users.length === 0) {
        process.stderr.write('earshot: no users yet: earshot central user add <name> --role admin\n');
        return;
      }
      const rows = [['NAME', 'ROLE', 'SITES', 'STATE', 'CREATED'], ...users.map((u) => [u.name, u.role, u.sites === '*' ? '*' : u.sites.join(','), u.disabled ? 'disabled' : 'active', u.createdAt.slice(0, 19) + 'Z'])];
      const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
      for (const r of rows) process.stdout.write(`${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')}\n`);
    });
  });

  storeOptions(
    user
      .command('passwd <name>')
      .description("set a user's password (their sessions end); read as for add")
      .option('--password-file <file>', 'read the password from the first line of this file')
      .option('--generate', 'make up a random password and print it, once'),
  ).action(async (name: string, opts: StoreOptionValues & { passwordFile?: string; generate?: boolean }) => {
    await onStore(open, opts, async (store) => {
      if (!(await getUser(store.db, normaliseName(name)))) throw new AccountError(404, `no user ${normaliseName(name)}`);
      const { password, generated } = await newPassword(name, opts);
      const u = await setPassword(store.db, name, password, CLI);
      process.stderr.write(`earshot: new password set for ${u.name}; their sessions are ended\n`);
      if (generated) process.stdout.write(`password for ${u.name} (shown once, not stored): ${password}\n`);
    });
  });

  storeOptions(user.command('remove <name>').description('remove a user (the last admin cannot be)')).action(async (name: string, opts: StoreOptionValues) => {
    await onStore(open, opts, async (store) => {
      await removeUser(store.db, name, CLI);
      process.stderr.write(`earshot: removed ${name.trim().toLowerCase()}\n`);
    });
  });

  const box = central.command('box').description("boxes registered at their site (with ingest.registration closed, only these boxes' records are stored with their site's)");
  storeOptions(
    box
      .command('add <site> <box>')
      .description('register a box at a site (creating the site)')
      .option('--public-key <key>', "the box's signing key, as `earshot keys public` prints it on the box: its records are stored only when signed by it (replaces a key given before)"),
  ).action(async (site: string, b: string, opts: StoreOptionValues & { publicKey?: string }) => {
    await onStore(open, opts, async (store) => {
      await addBox(store.db, site, b, CLI, opts.publicKey);
      process.stderr.write(`earshot: box ${b} registered at site ${site}${opts.publicKey ? ' with its signing key' : ''}\n`);
    });
  });
  storeOptions(box.command('list [site]').description('the registered boxes, by site')).action(async (site: string | undefined, opts: StoreOptionValues) => {
    await onStore(open, opts, async (store) => {
      const sites = (await listSites(store.db)).filter((s) => site === undefined || s.site === site);
      if (sites.length === 0) process.stderr.write(site === undefined ? 'earshot: no box is registered\n' : `earshot: no site ${site} is registered\n`);
      for (const s of sites) {
        process.stdout.write(`${s.site}\n`);
        for (const b of s.boxes) process.stdout.write(`  ${b.box}  registered ${b.registeredAt.slice(0, 19)}Z  ${b.publicKey ? 'signing key' : 'no key'}${b.availability ? `  ${b.availability}` : ''}\n`);
      }
    });
  });
  storeOptions(box.command('remove <box>').description("take back a box's registration (what it sent stays)")).action(async (b: string, opts: StoreOptionValues) => {
    await onStore(open, opts, async (store) => {
      await removeBox(store.db, b, CLI);
      process.stderr.write(`earshot: box ${b} is no longer registered\n`);
    });
  });
}

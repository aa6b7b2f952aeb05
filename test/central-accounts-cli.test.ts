/**
 * `earshot central user …` and `earshot central box …` as an operator runs them (the real entry point, a
 * SQLite store in a temporary directory): the password from a pipe, a file, a generated one printed once,
 * or typed at a terminal prompt that does not echo it; list, passwd, remove; boxes; refusals with exit
 * status 2 and a message; and the first start of `earshot central` saying how to make the first admin.
 */
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { Command } from 'commander';
import { registerCentralCommands } from '../central/central-command.js';
import { join } from 'node:path';
import { repoRoot, runCliWithin, startCli } from './support/cli.js';
import { openStore } from '../central/store/store.js';
import type { SqlStore } from '../central/store/sql-store.js';
import { passwordHashOf } from '../central/auth/users.js';
import { verifyPassword } from '../central/auth/password.js';
import { listAudit } from '../central/audit.js';

const ENTRY = join(repoRoot, 'edge/cli.ts');

/** Each account command is one short process: a minute is ample even on a loaded CI runner. */
function earshot(args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCliWithin(args, 60_000, stdin ?? '');
}

async function hashOf(db: string, name: string): Promise<string | null> {
  const store = (await openStore(db)) as SqlStore;
  try {
    return (await passwordHashOf(store.db, name))?.hash ?? null;
  } finally {
    await store.close();
  }
}

/**
 * The same commands in this process (the real command definitions, parsed by commander), what they print
 * captured: most cases need no process of their own, and a spawned earshot costs seconds.
 */
async function inProcess(args: string[]): Promise<{ stdout: string; stderr: string; error: Error | null }> {
  const program = new Command().exitOverride();
  registerCentralCommands(program);
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => ((stdout += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((stderr += s), true)) as typeof process.stderr.write;
  try {
    await program.parseAsync(['central', ...args], { from: 'user' });
    return { stdout, stderr, error: null };
  } catch (e) {
    return { stdout, stderr, error: e as Error };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

t.test('user add, list, passwd, remove; box add and list', async (t) => {
  const dir = t.testdir({ 'pw.txt': 'from a file 12345\nsecond line ignored\n', 'pw2.txt': 'a brand new password\n' });
  const db = join(dir, 'central.sqlite');

  // A process of its own: the password piped in on stdin.
  const root = await earshot(['central', 'user', 'add', 'root', '--role', 'admin', '--db', db], 'piped in password\n');
  t.equal(root.code, 0, root.stderr);
  t.match(root.stderr, /added admin root \(every site\)/);
  t.ok(await verifyPassword('piped in password', (await hashOf(db, 'root'))!), 'the password from stdin, without its newline');

  const ann = await inProcess(['user', 'add', 'Ann', '--role', 'supervisor', '--site', 'north', '--site', 'south', '--db', db, '--generate']);
  t.equal(ann.error, null);
  const generated = /^password for ann \(shown once, not stored\): ([A-Za-z0-9]{21})$/m.exec(ann.stdout)?.[1];
  t.ok(generated, 'a generated password printed once');
  t.ok(await verifyPassword(generated!, (await hashOf(db, 'ann'))!), 'and it is the one stored (as a hash)');

  const qa = await inProcess(['user', 'add', 'quinn', '--role', 'qa', '--site', 'north', '--password-file', join(dir, 'pw.txt'), '--db', db]);
  t.equal(qa.error, null);
  t.ok(await verifyPassword('from a file 12345', (await hashOf(db, 'quinn'))!), "the file's first line");

  const list = await inProcess(['user', 'list', '--db', db]);
  t.match(list.stdout, /^NAME +ROLE +SITES +STATE +CREATED\nann +supervisor +north,south +active +\d{4}-.*\nquinn +qa +north +active .*\nroot +admin +\* +active /);

  t.equal((await inProcess(['user', 'passwd', 'ann', '--password-file', join(dir, 'pw2.txt'), '--db', db])).error, null);
  const annHash = (await hashOf(db, 'ann'))!;
  t.ok(await verifyPassword('a brand new password', annHash));
  t.notOk(await verifyPassword(generated!, annHash), 'the old one no longer works');

  t.equal((await inProcess(['user', 'remove', 'quinn', '--db', db])).error, null);
  t.equal(await hashOf(db, 'quinn'), null, 'removed');

  t.equal((await inProcess(['box', 'add', 'north', 'nbox-1', '--db', db])).error, null);
  t.equal((await inProcess(['box', 'add', 'north', 'nbox-2', '--db', db])).error, null);
  t.match((await inProcess(['box', 'list', '--db', db])).stdout, /^north\n {2}nbox-1 {2}registered \S+Z {2}no key\n {2}nbox-2 {2}registered \S+Z {2}no key\n$/);

  const store = (await openStore(db)) as SqlStore;
  const audit = (await listAudit(store.db, { limit: 100 })).reverse();
  await store.close();
  t.same(audit.map((a) => [a.action, a.username, a.detail.via]), [
    ['user.add', null, 'cli'], ['user.add', null, 'cli'], ['user.add', null, 'cli'], ['user.password', null, 'cli'], ['user.remove', null, 'cli'], ['box.add', null, 'cli'], ['box.add', null, 'cli'],
  ], 'each change audited as made from the command line');
  const text = JSON.stringify(audit);
  for (const secret of ['piped in password', generated!, 'from a file 12345', 'a brand new password']) t.notOk(text.includes(secret), 'no password in the audit log');
});

t.test('refusals: what to fix, and exit status 2', async (t) => {
  const dir = t.testdir();
  const db = join(dir, 'central.sqlite');
  const r = await earshot(['central', 'user', 'add', 'eve', '--role', 'boss', '--site', 'x', '--db', db], 'long enough pw\n');
  t.match(r, { code: 2, stderr: /^earshot: no role "boss": one of admin, supervisor, qa, readonly\n$/ }, 'a usage error, in one line');
  const cases: [string[], RegExp][] = [
    [['user', 'add', 'eve', '--role', 'qa', '--site', 'x', '--password-file', join(dir, 'missing')], /^--password-file: cannot read .*missing: ENOENT$/],
    [['user', 'add', 'eve', '--role', 'qa', '--site', 'x', '--generate', '--password-file', join(dir, 'missing')], /^--generate or --password-file, not both$/],
    [['user', 'add', 'eve', '--role', 'admin', '--site', 'x', '--generate'], /^an admin has every site: give no sites$/],
    [['user', 'passwd', 'nobody', '--generate'], /^no user nobody$/],
    [['user', 'remove', 'nobody'], /^no user nobody$/],
    [['user', 'add', 'root', '--role', 'admin', '--generate'], /^$/],
    [['user', 'add', 'root', '--role', 'admin', '--generate'], /^user root already exists$/],
    [['user', 'remove', 'root'], /^root is the last admin and cannot be removed: make another admin first$/],
    [['box', 'add', 'north', 'b1'], /^$/],
    [['box', 'add', 'south', 'b1'], /^box b1 is already registered at site north$/],
    [['box', 'add', 'no/rth', 'b2'], /^not a site name: "no\/rth"/],
  ];
  for (const [args, message] of cases) {
    const { error } = await inProcess([...args, '--db', db]);
    if (message.source === '^$') t.equal(error, null, args.join(' '));
    else {
      t.equal(error?.name, 'CentralUsageError', `${args.join(' ')}: a usage error (exit 2)`);
      t.match(error?.message, message);
    }
  }
});

t.test('at a terminal the password is asked for twice and never echoed', async (t) => {
  const dir = t.testdir();
  const db = join(dir, 'central.sqlite');
  const secret = 'typed at the tty 99';
  // `script` gives the command a terminal; what it shows is what a person would see.
  const cmd = [process.execPath, '--import=tsx', ENTRY, 'central', 'user', 'add', 'tess', '--role', 'readonly', '--site', 'north', '--db', db].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qefc', cmd, '/dev/null'], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (screen += d));
  const exit = new Promise<number | null>((r) => child.once('close', r));
  const waitFor = async (re: RegExp) => {
    for (let i = 0; i < 600 && !re.test(screen); i++) await new Promise((r) => setTimeout(r, 50));
    if (!re.test(screen)) throw new Error(`no ${re} on the terminal: ${JSON.stringify(screen)}`);
  };
  await waitFor(/password for tess: $/);
  child.stdin.write(`${secret}\r`);
  await waitFor(/again: $/);
  child.stdin.write(`${secret}\r`);
  t.equal(await exit, 0, screen);
  t.match(screen, /added readonly tess \(north\)/);
  t.notOk(screen.includes(secret), 'the password never appears on the terminal');
  t.ok(await verifyPassword(secret, (await hashOf(db, 'tess'))!));
});

t.test('earshot central: the first start says how to make the first admin; with one, it does not', async (t) => {
  execFileSync(process.execPath, ['--import=tsx', join(repoRoot, 'scripts/build-web.ts')], { cwd: repoRoot });
  const dir = t.testdir();
  const db = join(dir, 'central.sqlite');
  // Until `until` is on stderr (the hint comes after the web app's line, once the store is read: on a busy
  // machine well after it), or, when `until` is the web app's line, a moment more for a hint to follow.
  const start = async (until: RegExp) => {
    const central = startCli(['central', '--broker', 'mqtt://127.0.0.1:9', '--db', db, '--listen', '127.0.0.1:0']);
    for (let i = 0; i < 2400 && !until.test(central.err()); i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    central.child.kill('SIGTERM');
    await central.exit;
    return central.err();
  };
  const first = await start(/no users yet.*\n/);
  const hint = first.split('\n').filter((l) => /no users yet/.test(l));
  t.same(hint, [`earshot central: no users yet: create the first admin with  earshot central user add <name> --role admin --db ${db}`], 'one line, with the store it runs on');
  t.equal((await inProcess(['user', 'add', 'root', '--role', 'admin', '--generate', '--db', db])).error, null);
  t.notMatch(await start(/web app on http/), /no users yet/, 'not once there is a user');
});

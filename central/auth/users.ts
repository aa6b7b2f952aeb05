/**
 * Local users: who they are, their role, the sites they are given ('*': every site, always so for admins),
 * whether they are disabled. One set of functions for the admin page and the `earshot central user`
 * commands; each change is audited in the transaction that makes it, and no password or hash is ever in
 * the audit log or a log line.
 */
import type { Db, Sql, SqlStore } from '../store/sql-store.js';
import type { Role } from '../web/access.js';
import { audit } from '../audit.js';
import { DEFAULT_SCRYPT, generatePassword, hashPassword, passwordProblem, type ScryptParams } from './password.js';

export const ROLES: readonly Role[] = ['admin', 'supervisor', 'qa', 'readonly'];

export interface User {
  id: number;
  name: string;
  role: Role;
  sites: string[] | '*';
  disabled: boolean;
  createdAt: string;
  passwordChangedAt: string | null;
}

/** A change refused for a reason the person asking must fix: its HTTP status and a message saying what. */
export class AccountError extends Error {
  override name = 'AccountError';
  constructor(readonly status: 400 | 404 | 409, message: string) {
    super(message);
  }
}

/** Who made a change, for the audit log: a signed-in admin, or the command line (no one signed in). */
export interface Actor {
  name: string | null;
  via: 'web' | 'cli' | 'demo';
}

const NAME = /^[a-z0-9][a-z0-9._@-]{0,63}$/;
// A site or box is a topic level (docs/mqtt.md): no MQTT wildcards or separators, nothing unprintable.
const LEVEL = /^[^/+#\s\p{Cc}]{1,64}$/u;

export function checkLevel(what: 'site' | 'box', v: unknown): string {
  if (typeof v !== 'string' || !LEVEL.test(v)) {
    throw new AccountError(400, `not a ${what} name: ${JSON.stringify(typeof v === 'string' ? v.slice(0, 80) : v ?? null)} (1 to 64 characters, no spaces, / + or #)`);
  }
  return v;
}

/** User names are compared and kept in lower case: `Ann` and `ann` are one person. */
export function normaliseName(name: unknown): string {
  if (typeof name !== 'string') throw new AccountError(400, 'a user name is required');
  const n = name.trim().toLowerCase();
  if (!NAME.test(n)) throw new AccountError(400, `not a user name: ${JSON.stringify(name.slice(0, 80))} (letters, digits and . _ @ -, at most 64, starting with a letter or digit)`);
  return n;
}

export function checkRole(role: unknown): Role {
  if (typeof role !== 'string' || !ROLES.includes(role as Role)) throw new AccountError(400, `no role ${JSON.stringify(role)}: one of ${ROLES.join(', ')}`);
  return role as Role;
}

/** The sites a user of `role` is given. Admins have every site; anyone else needs at least one. */
export function checkSites(role: Role, sites: unknown): string[] | '*' {
  const list = sites === undefined || sites === null ? [] : sites === '*' ? ['*'] : sites;
  if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) throw new AccountError(400, "sites: a list of site names, or '*'");
  const uniq = [...new Set((list as string[]).map((s) => s.trim()))];
  if (role === 'admin') {
    if (uniq.length && !(uniq.length === 1 && uniq[0] === '*')) throw new AccountError(400, 'an admin has every site: give no sites');
    return '*';
  }
  if (uniq.includes('*')) {
    if (uniq.length > 1) throw new AccountError(400, "'*' (every site) stands alone");
    return '*';
  }
  if (uniq.length === 0) throw new AccountError(400, `a ${role} needs at least one site`);
  return uniq.map((s) => checkLevel('site', s)).sort();
}

interface UserRow {
  id: number;
  name: string;
  role: string;
  sites: string;
  disabled: number;
  created_at: string;
  password_changed_at: string | null;
}

const USER_COLUMNS = 'id, name, role, sites, disabled, created_at, password_changed_at';

export function parseSites(text: string): string[] | '*' {
  const v = JSON.parse(text) as unknown;
  return v === '*' ? '*' : (v as string[]);
}

const toUser = (r: UserRow): User => ({
  id: Number(r.id),
  name: r.name,
  role: r.role as Role,
  sites: parseSites(r.sites),
  disabled: Number(r.disabled) === 1,
  createdAt: r.created_at,
  passwordChangedAt: r.password_changed_at,
});

export async function listUsers(sql: Sql): Promise<User[]> {
  return (await sql.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users ORDER BY name`)).map(toUser);
}

export async function getUser(sql: Sql, name: string): Promise<User | null> {
  const [row] = await sql.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE name = ?`, [name]);
  return row ? toUser(row) : null;
}

/** The stored hash of a user, for signing in: never leaves the accounts module. */
export async function passwordHashOf(sql: Sql, name: string): Promise<{ user: User; hash: string } | null> {
  const [row] = await sql.all<UserRow & { password_hash: string }>(`SELECT ${USER_COLUMNS}, password_hash FROM users WHERE name = ?`, [name]);
  return row ? { user: toUser(row), hash: row.password_hash } : null;
}

export async function countUsers(sql: Sql): Promise<number> {
  const [row] = await sql.all<{ n: number }>('SELECT COUNT(*) AS n FROM users');
  return Number(row.n);
}

async function mustGet(sql: Sql, name: string): Promise<User> {
  const u = await getUser(sql, name);
  if (!u) throw new AccountError(404, `no user ${name}`);
  return u;
}

/** Refuses a change that would leave no enabled admin: nobody could then manage users from the page. */
async function keepAnAdmin(sql: Sql, user: User, what: string): Promise<void> {
  if (user.role !== 'admin' || user.disabled) return;
  const [row] = await sql.all<{ n: number }>("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND disabled = 0 AND id <> ?", [user.id]);
  if (Number(row.n) === 0) throw new AccountError(409, `${user.name} is the last admin and cannot be ${what}: make another admin first`);
}

function checkPassword(password: unknown): string {
  if (typeof password !== 'string') throw new AccountError(400, 'a password is required');
  const problem = passwordProblem(password);
  if (problem) throw new AccountError(400, problem);
  return password;
}

export interface NewUser {
  name: unknown;
  role: unknown;
  sites?: unknown;
  password: unknown;
}

export async function addUser(db: Db, input: NewUser, actor: Actor, params: ScryptParams = DEFAULT_SCRYPT): Promise<User> {
  const name = normaliseName(input.name);
  const role = checkRole(input.role);
  const sites = checkSites(role, input.sites);
  const hash = await hashPassword(checkPassword(input.password), params);
  const now = new Date().toISOString();
  return db.tx(async (sql) => {
    if (await getUser(sql, name)) throw new AccountError(409, `user ${name} already exists`);
    await sql.run('INSERT INTO users (name, password_hash, role, sites, created_at, password_changed_at, disabled) VALUES (?, ?, ?, ?, ?, ?, 0)', [
      name, hash, role, JSON.stringify(sites), now, now,
    ]);
    await audit(sql, actor.name, 'user.add', { name, role, sites, via: actor.via });
    return mustGet(sql, name);
  });
}

export interface UserChange {
  role?: unknown;
  sites?: unknown;
  disabled?: unknown;
}

export async function changeUser(db: Db, rawName: unknown, change: UserChange, actor: Actor): Promise<User> {
  const name = normaliseName(rawName);
  if (change.disabled !== undefined && typeof change.disabled !== 'boolean') throw new AccountError(400, 'disabled: true or false');
  return db.tx(async (sql) => {
    const before = await mustGet(sql, name);
    const role = change.role === undefined ? before.role : checkRole(change.role);
    // A new role with no sites given keeps the user's sites where they still make sense.
    const sitesIn = change.sites !== undefined ? change.sites : role === 'admin' ? '*' : before.role === 'admin' ? undefined : before.sites;
    const sites = checkSites(role, sitesIn);
    const disabled = change.disabled === undefined ? before.disabled : (change.disabled as boolean);
    if (role !== 'admin') await keepAnAdmin(sql, before, 'given another role');
    if (disabled) await keepAnAdmin(sql, before, 'disabled');
    await sql.run('UPDATE users SET role = ?, sites = ?, disabled = ? WHERE id = ?', [role, JSON.stringify(sites), disabled ? 1 : 0, before.id]);
    if (role !== before.role || JSON.stringify(sites) !== JSON.stringify(before.sites)) {
      await audit(sql, actor.name, 'user.role', { name, role, sites, was: { role: before.role, sites: before.sites }, via: actor.via });
    }
    if (disabled !== before.disabled) {
      // A disabled user is signed out everywhere at once, not at their sessions' expiry.
      if (disabled) await sql.run('DELETE FROM sessions WHERE user_id = ?', [before.id]);
      await audit(sql, actor.name, disabled ? 'user.disable' : 'user.enable', { name, via: actor.via });
    }
    return mustGet(sql, name);
  });
}

/** Sets a new password and ends every session of the user (whoever knew the old one is out). */
export async function setPassword(db: Db, rawName: unknown, password: unknown, actor: Actor, params: ScryptParams = DEFAULT_SCRYPT): Promise<User> {
  const name = normaliseName(rawName);
  const hash = await hashPassword(checkPassword(password), params);
  return db.tx(async (sql) => {
    const user = await mustGet(sql, name);
    await sql.run('UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?', [hash, new Date().toISOString(), user.id]);
    await sql.run('DELETE FROM sessions WHERE user_id = ?', [user.id]);
    await audit(sql, actor.name, 'user.password', { name, via: actor.via });
    return user;
  });
}

export async function removeUser(db: Db, rawName: unknown, actor: Actor): Promise<void> {
  const name = normaliseName(rawName);
  await db.tx(async (sql) => {
    const user = await mustGet(sql, name);
    await keepAnAdmin(sql, user, 'removed');
    await sql.run('DELETE FROM sessions WHERE user_id = ?', [user.id]);
    await sql.run('DELETE FROM users WHERE id = ?', [user.id]);
    await audit(sql, actor.name, 'user.remove', { name, role: user.role, via: actor.via });
  });
}

/**
 * An admin to sign in with once, for the demo: `demo-admin` with a fresh random password each call (an
 * earlier one stops working). The password is returned, to be printed once; it is stored only as a hash.
 */
export async function createOneTimeAdmin(store: SqlStore, params: ScryptParams = DEFAULT_SCRYPT): Promise<{ name: string; password: string }> {
  const name = 'demo-admin';
  const password = generatePassword();
  const actor: Actor = { name: null, via: 'demo' };
  const existing = await getUser(store.db, name);
  if (!existing) await addUser(store.db, { name, role: 'admin', password }, actor, params);
  else {
    if (existing.role !== 'admin' || existing.disabled) await changeUser(store.db, name, { role: 'admin', disabled: false }, actor);
    await setPassword(store.db, name, password, actor, params);
  }
  return { name, password };
}

/**
 * Who may do what at the centre: the one contract between the routes and accounts (central/auth). Every
 * route asks `authorize` for the capability it needs and then, for anything of a site, `maysee`: a
 * supervisor of site A gets nothing of site B from any page or API.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

export type Role = 'admin' | 'supervisor' | 'qa' | 'readonly';

/** What a route needs. */
export type Capability =
  /** the live floor page and its stream */
  | 'live'
  /** acknowledge a live alert */
  | 'acknowledge'
  /** the call list and call pages */
  | 'calls'
  | 'search'
  /** confirm or reject alerts */
  | 'review'
  /** CSV of any list */
  | 'export'
  /** users, sites, boxes, records held apart, the audit log */
  | 'admin';

/**
 * What a route asks for, in its `config.need`: a capability, `signed-in` (any role: who am I, sign out) or
 * `public` (the sign-in page and its assets). Every route declares one; the server refuses to start with a
 * route that does not, so nothing is open by omission.
 */
export type Need = Capability | 'signed-in' | 'public';

const GRANTS: Record<Role, ReadonlySet<Capability>> = {
  admin: new Set<Capability>(['live', 'acknowledge', 'calls', 'search', 'review', 'export', 'admin']),
  supervisor: new Set<Capability>(['live', 'acknowledge', 'calls']),
  qa: new Set<Capability>(['calls', 'search', 'review', 'export']),
  readonly: new Set<Capability>(['live', 'calls']),
};

export function roleMay(role: Role, need: Capability | 'signed-in'): boolean {
  return need === 'signed-in' || GRANTS[role].has(need);
}

/** What a role may do, for the page to show only what works. */
export function capabilitiesOf(role: Role): Capability[] {
  return [...GRANTS[role]];
}

export interface Caller {
  name: string;
  role: Role;
  /** the sites given to them; '*' for all (admins) */
  sites: readonly string[] | '*';
  /** the session's CSRF token, sent back by the page on every change (none without accounts) */
  csrf?: string;
}

export function mayseeSite(caller: Caller, site: string): boolean {
  return caller.sites === '*' || caller.sites.includes(site);
}

/** Sites of `all` the caller may see. */
export function visibleSites(caller: Caller, all: readonly string[]): string[] {
  return all.filter((s) => mayseeSite(caller, s));
}

/**
 * Run before a route that needs `need`. It replies 401 (no session) or 403 (not this role) itself and
 * returns null when the request may not go on; else it says who the caller is.
 */
export type Authorize = (need: Capability | 'signed-in', request: FastifyRequest, reply: FastifyReply) => Promise<Caller | null>;

/**
 * No accounts: everyone is an admin of every site. Only for tests of a route's own behaviour and for a
 * centre started with accounts explicitly off on a loopback address.
 */
export const openAccess: Authorize = async () => ({ name: 'anonymous', role: 'admin', sites: '*' });

declare module 'fastify' {
  interface FastifyRequest {
    /** set by the server's authorize step before any handler: who is asking (absent on public routes) */
    caller?: Caller;
  }
  interface FastifyContextConfig {
    need?: Need;
  }
}

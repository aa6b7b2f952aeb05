/**
 * What every page of the centre shares: building DOM from text (never markup: transcripts and evidence come
 * from the boxes), the API with the session's CSRF token on every change, and the header's page links,
 * shown only where the signed-in role may go.
 */
import type { Capability, Role } from '../access.js';

export interface Session {
  name: string;
  role: Role;
  sites: readonly string[] | '*';
  csrf: string;
  capabilities: Capability[];
}

export const $ = (id: string) => document.getElementById(id) as HTMLElement;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** An error the API answered with: its status and its own message. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly body: Record<string, unknown> = {}) {
    super(message);
  }
}

let session: Promise<Session | null> | null = null;

/** Who is signed in (null: nobody; the page then goes to the sign-in page). */
export function currentSession(): Promise<Session | null> {
  session ??= fetch('/api/session', { headers: { accept: 'application/json' } })
    .then(async (r) => (r.ok ? ((await r.json()) as Session) : null))
    .catch(() => null);
  return session;
}

/** JSON from the API; a change carries the CSRF token. A 401 sends the page to sign in again. */
export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const method = init.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') headers['x-csrf-token'] = (await currentSession())?.csrf ?? '';
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  const text = await res.text();
  const body = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
  if (res.status === 401) {
    location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
  }
  if (!res.ok) throw new ApiError(res.status, typeof body.error === 'string' ? body.error : `${res.status} ${res.statusText}`, body);
  return body as T;
}

/** The pages, in the header's order, each with what a role needs to see its link. */
const PAGES: { path: string; label: string; need: Capability }[] = [
  { path: '/', label: 'Floor', need: 'live' },
  { path: '/calls', label: 'Calls', need: 'calls' },
  { path: '/search', label: 'Search', need: 'search' },
  { path: '/review', label: 'Review', need: 'review' },
  { path: '/figures', label: 'Figures', need: 'calls' },
  { path: '/admin', label: 'Admin', need: 'admin' },
];

/** The first page in the header's order that a role may open: where signing in goes when not told where. */
export function homeOf(capabilities: readonly Capability[]): string {
  return PAGES.find((p) => capabilities.includes(p.need))?.path ?? '/';
}

/** The header's links and who is signed in; `current` is this page's path in PAGES. */
export async function header(current: string): Promise<Session | null> {
  const s = await currentSession();
  const nav = document.getElementById('pages');
  if (nav && s) {
    nav.replaceChildren();
    for (const p of PAGES) {
      if (!s.capabilities.includes(p.need)) continue;
      const a = el('a', undefined, p.label);
      a.href = p.path;
      if (p.path === current) a.setAttribute('aria-current', 'page');
      nav.append(a);
    }
  }
  const who = document.getElementById('who');
  if (who && s && s.csrf) {
    who.replaceChildren(el('span', undefined, `${s.name} (${s.role})`));
    const out = el('button', undefined, 'Sign out');
    out.id = 'logout';
    out.addEventListener('click', () => void api('/api/logout', { method: 'POST' }).finally(() => location.assign('/login')));
    who.append(out);
  }
  return s;
}

/** `m:ss` of seconds (h:mm:ss past an hour). */
export function clock(sec: number): string {
  const s = Math.max(0, Math.floor(sec));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(h ? 2 : 1, '0');
  return `${h ? `${h}:` : ''}${mm}:${String(s % 60).padStart(2, '0')}`;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** `YYYY-MM-DDTHH:MM` of an ISO time in the browser's local time: what a datetime-local input holds. */
export function localInput(iso: string): string {
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

/** `YYYY-MM-DD HH:MM:SS` of an ISO time, local: sortable as it reads, whatever the browser's language. */
export function localTime(iso: string): string {
  return `${localInput(iso).replace('T', ' ')}:${pad2(new Date(iso).getSeconds())}`;
}

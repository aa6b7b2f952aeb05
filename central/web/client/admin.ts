/**
 * The admin page: users (add, role and sites, disable, new password, remove), sites and their boxes,
 * records held apart with why, and the audit log. Everything is drawn with textContent: a record held
 * apart comes from a box nobody registered, and is never markup.
 */
import type { Role } from '../access.js';
import type { UnregisteredRecord } from '../../store/store.js';
import { $, api, ApiError, el, header } from './common.js';

interface User {
  name: string;
  role: Role;
  sites: string[] | '*';
  disabled: boolean;
  createdAt: string;
}
interface SiteView {
  site: string;
  boxes: { box: string; registeredAt: string; availability: string | null }[];
}
/** A held-apart record as the admin list shows it (the API leaves its data out). */
type Held = Omit<UnregisteredRecord, 'data'>;
interface AuditEntry {
  id: number;
  at: string;
  username: string | null;
  action: string;
  detail: Record<string, unknown>;
}

const ROLES: Role[] = ['admin', 'supervisor', 'qa', 'readonly'];
const when = (iso: string) => new Date(iso).toLocaleString();

function showError(err: unknown): void {
  $('error').textContent = err instanceof ApiError ? err.message : String(err);
}

function notice(parts: (string | HTMLElement)[]): void {
  const n = $('notice');
  n.replaceChildren(...parts.map((p) => (typeof p === 'string' ? document.createTextNode(p) : p)));
  n.hidden = false;
}

/** Runs a change, then draws again what it touched; a refusal is shown as the API worded it. */
async function change(fn: () => Promise<unknown>, redraw: () => Promise<void>): Promise<void> {
  $('error').textContent = '';
  try {
    await fn();
  } catch (err) {
    showError(err);
  }
  await Promise.all([redraw(), drawAudit(true)]).catch(showError);
}

const sitesOf = (text: string): string[] | '*' =>
  text.trim() === '*' ? '*' : text.split(',').map((s) => s.trim()).filter(Boolean);

function shownOnce(name: string, password: string): void {
  notice([`Password for ${name}, shown once: `, el('code', undefined, password)]);
}

async function drawUsers(): Promise<void> {
  const { users } = await api<{ users: User[] }>('/api/admin/users');
  const body = $('users');
  body.replaceChildren();
  for (const u of users) {
    const tr = el('tr', u.disabled ? 'disabled' : undefined);
    tr.dataset.user = u.name;
    const role = el('select');
    role.className = 'role';
    for (const r of ROLES) {
      const o = el('option', undefined, r);
      o.selected = r === u.role;
      role.append(o);
    }
    const sites = el('input');
    sites.className = 'sites';
    sites.value = u.sites === '*' ? '*' : u.sites.join(', ');
    sites.disabled = u.role === 'admin';
    role.addEventListener('change', () => (sites.disabled = role.value === 'admin'));
    const save = el('button', undefined, 'Save');
    save.addEventListener('click', () =>
      void change(() => api(`/api/admin/users/${encodeURIComponent(u.name)}`, { method: 'PATCH', body: { role: role.value, sites: role.value === 'admin' ? '*' : sitesOf(sites.value) } }), drawUsers),
    );
    const toggle = el('button', undefined, u.disabled ? 'Enable' : 'Disable');
    toggle.addEventListener('click', () => void change(() => api(`/api/admin/users/${encodeURIComponent(u.name)}`, { method: 'PATCH', body: { disabled: !u.disabled } }), drawUsers));
    const reset = el('button', undefined, 'New password');
    reset.addEventListener('click', () =>
      void change(async () => {
        const r = await api<{ password: string }>(`/api/admin/users/${encodeURIComponent(u.name)}/password`, { method: 'POST', body: { generate: true } });
        shownOnce(u.name, r.password);
      }, drawUsers),
    );
    const remove = el('button', 'danger', 'Remove');
    remove.addEventListener('click', () => {
      if (confirm(`Remove ${u.name}?`)) void change(() => api(`/api/admin/users/${encodeURIComponent(u.name)}`, { method: 'DELETE' }), drawUsers);
    });
    const actions = el('div', 'actions');
    actions.append(save, toggle, reset, remove);
    const cells = [el('td', 'name', u.name), el('td'), el('td'), el('td', 'state', u.disabled ? 'disabled' : 'active'), el('td', 'muted', when(u.createdAt)), el('td')];
    cells[1].append(role);
    cells[2].append(sites);
    cells[5].append(actions);
    tr.append(...cells);
    body.append(tr);
  }
}

async function drawSites(): Promise<void> {
  const { sites } = await api<{ sites: SiteView[] }>('/api/admin/sites');
  const body = $('sites');
  body.replaceChildren();
  if (!sites.length) body.append(rowOf([el('td', 'empty', 'No site is registered.')], 3));
  for (const s of sites) {
    const tr = el('tr');
    tr.dataset.site = s.site;
    const boxes = el('div', 'boxes');
    for (const b of s.boxes) {
      const tag = el('span', 'boxtag');
      tag.dataset.box = b.box;
      tag.title = `registered ${when(b.registeredAt)}${b.availability ? `, ${b.availability}` : ''}`;
      const x = el('button', undefined, '×');
      x.title = `take back ${b.box}'s registration`;
      x.addEventListener('click', () => void change(() => api(`/api/admin/boxes/${encodeURIComponent(b.box)}`, { method: 'DELETE' }), drawSites));
      tag.append(document.createTextNode(b.box), x);
      boxes.append(tag);
    }
    const actions = el('td');
    if (!s.boxes.length) {
      const rm = el('button', 'danger', 'Remove site');
      rm.addEventListener('click', () => void change(() => api(`/api/admin/sites/${encodeURIComponent(s.site)}`, { method: 'DELETE' }), drawSites));
      actions.append(rm);
    }
    const boxCell = el('td');
    boxCell.append(boxes);
    tr.append(el('td', 'name', s.site), boxCell, actions);
    body.append(tr);
  }
}

function rowOf(cells: HTMLElement[], span: number): HTMLTableRowElement {
  const tr = el('tr');
  (cells[0] as HTMLTableCellElement).colSpan = span;
  tr.append(...cells);
  return tr;
}

async function drawHeld(): Promise<void> {
  const { records } = await api<{ records: Held[] }>('/api/admin/unregistered?limit=200');
  const body = $('held');
  body.replaceChildren();
  if (!records.length) body.append(rowOf([el('td', 'empty', 'Nothing is held apart.')], 6));
  for (const r of records) {
    const tr = el('tr');
    tr.dataset.box = r.box;
    tr.append(el('td', 'muted', when(r.at)), el('td', undefined, r.site), el('td', undefined, r.box), el('td', undefined, String(r.seq)), el('td', undefined, r.kind), el('td', 'reason', r.reason));
    body.append(tr);
  }
}

let oldestAudit: number | null = null;

/** The audit log, newest first; `fresh` starts again from the newest, else the next older page is added. */
async function drawAudit(fresh: boolean): Promise<void> {
  const before = fresh || oldestAudit === null ? '' : `&before=${oldestAudit}`;
  const { entries } = await api<{ entries: AuditEntry[] }>(`/api/admin/audit?limit=50${before}`);
  const body = $('audit');
  if (fresh) body.replaceChildren();
  for (const e of entries) {
    const tr = el('tr');
    tr.dataset.action = e.action;
    tr.append(el('td', 'muted', when(e.at)), el('td', undefined, e.username ?? '—'), el('td', 'action', e.action), el('td', 'detail', JSON.stringify(e.detail)));
    body.append(tr);
  }
  if (entries.length) oldestAudit = entries[entries.length - 1].id;
  ($('audit-more') as HTMLButtonElement).hidden = entries.length < 50;
}

($('add-user') as HTMLFormElement).addEventListener('submit', (e) => {
  e.preventDefault();
  const name = ($('new-name') as HTMLInputElement).value;
  const role = ($('new-role') as HTMLSelectElement).value;
  const password = ($('new-password') as HTMLInputElement).value;
  void change(async () => {
    const r = await api<{ user: User; password?: string }>('/api/admin/users', {
      method: 'POST',
      body: { name, role, sites: role === 'admin' ? '*' : sitesOf(($('new-sites') as HTMLInputElement).value), ...(password ? { password } : { generate: true }) },
    });
    if (r.password) shownOnce(r.user.name, r.password);
    else notice([`Added ${r.user.name}.`]);
    ($('add-user') as HTMLFormElement).reset();
  }, drawUsers);
});

($('add-box') as HTMLFormElement).addEventListener('submit', (e) => {
  e.preventDefault();
  const site = ($('box-site') as HTMLInputElement).value.trim();
  const box = ($('box-id') as HTMLInputElement).value.trim();
  void change(async () => {
    await api('/api/admin/boxes', { method: 'POST', body: { site, box } });
    ($('add-box') as HTMLFormElement).reset();
  }, drawSites);
});

$('audit-more').addEventListener('click', () => void drawAudit(false).catch(showError));

void (async () => {
  await header('/admin');
  await Promise.all([drawUsers(), drawSites(), drawHeld(), drawAudit(true)]).catch(showError);
})();

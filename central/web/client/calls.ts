/**
 * The call list: the filter lives in the page's URL (so a list can be bookmarked and shared) and is sent to
 * /api/calls as it is; the form only writes the URL. Times in the form are the browser's local time, in the
 * URL ISO with their zone.
 */
import type { ListedCall } from '../../calls/routes.js';
import { EXPORT_MAX, filterQueryString, readCallParams, SORT_LABELS, type CallListParams } from '../../calls/params.js';
import { $, api, ApiError, clock, el, header, localInput, localTime } from './common.js';

const form = $('filter') as HTMLFormElement;
const field = (name: string) => form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement | null;

/** The URL's query as the form shows it. */
function fill(query: URLSearchParams): void {
  for (const [name, value] of query) {
    const f = field(name);
    if (!f) continue;
    if (f instanceof HTMLSelectElement && ![...f.options].some((o) => o.value === value)) f.append(new Option(value, value));
    f.value = name === 'from' || name === 'to' ? localInput(value) : value;
  }
}

/** The form as a page URL: blank fields left out, local times as ISO. */
function formQuery(): URLSearchParams {
  const q = new URLSearchParams();
  for (const [name, value] of new FormData(form)) {
    if (typeof value !== 'string' || value === '') continue;
    q.set(name, name === 'from' || name === 'to' ? new Date(value).toISOString() : value);
  }
  return q;
}

function badges(c: ListedCall): HTMLElement {
  const cell = el('td', 'alerts');
  for (const sev of ['critical', 'warning', 'info']) {
    const n = c.severities[sev] ?? 0;
    if (!n) continue;
    const b = el('span', `badge sev-${sev}`, `${n} ${sev}`);
    b.dataset.severity = sev;
    cell.append(b, ' ');
  }
  if (!cell.childNodes.length) cell.append(el('span', 'dim', c.alertCount ? String(c.alertCount) : '–'));
  return cell;
}

function row(c: ListedCall): HTMLTableRowElement {
  const tr = el('tr');
  tr.dataset.call = `${c.box}/${c.callId}`;
  const link = el('a', undefined, localTime(c.startedAt));
  link.href = `/calls/${encodeURIComponent(c.box)}/${encodeURIComponent(c.callId)}`;
  link.title = `call ${c.callId}, started ${c.startedAt}`;
  const time = el('td');
  time.append(link);
  const dash = (v: string | number | null, unit = '') => (v === null || v === '' ? '–' : `${v}${unit}`);
  const agitation = el('td', c.agitated ? 'agitated' : 'dim', c.agitated ? 'agitated' : '–');
  tr.append(
    time,
    el('td', undefined, c.site),
    el('td', undefined, c.box),
    el('td', undefined, dash(c.line)),
    el('td', undefined, dash(c.agent)),
    el('td', 'num', clock(c.durationSec)),
    el('td', undefined, dash(c.language)),
    el('td', 'num', c.longestSilenceSec === null ? '–' : `${c.longestSilenceSec.toFixed(1)} s`),
    el('td', 'num', c.overtalkCount === null ? '–' : `${c.overtalkCount}${c.overtalkSec ? ` (${c.overtalkSec.toFixed(1)} s)` : ''}`),
    agitation,
    badges(c),
  );
  return tr;
}

async function main(): Promise<void> {
  const session = await header('/calls');
  const sort = field('sort') as HTMLSelectElement;
  for (const [value, label] of Object.entries(SORT_LABELS)) sort.append(new Option(label, value));
  const query = new URLSearchParams(location.search);
  const sites = api<{ sites: string[] }>('/api/calls/sites').then(({ sites }) => {
    const select = field('site') as HTMLSelectElement;
    for (const s of sites) select.append(new Option(s, s));
  });
  await sites.catch(() => undefined);
  fill(query);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = formQuery();
    location.assign(q.size ? `/calls?${q}` : '/calls');
  });

  const error = $('error');
  const body = ($('calls') as HTMLTableElement).tBodies[0];
  let params: CallListParams;
  try {
    // Checked here as the server checks it, so a hand-edited URL gets the same message before any request.
    params = readCallParams(Object.fromEntries(query), 'list');
    const list = await api<{ calls: ListedCall[]; next: string | null }>(`/api/calls?${query}`);
    body.replaceChildren(...list.calls.map(row));
    if (!list.calls.length) {
      const td = el('td', 'empty', query.has('after') ? 'No more calls.' : 'No calls match this filter.');
      td.colSpan = 11;
      const tr = el('tr');
      tr.append(td);
      body.append(tr);
    }
    const next = $('next') as HTMLAnchorElement;
    if (list.next) {
      const q = new URLSearchParams(query);
      q.set('after', list.next);
      next.href = `/calls?${q}`;
      next.hidden = false;
    }
  } catch (err) {
    error.textContent = err instanceof Error ? err.message : String(err);
    error.hidden = false;
    const name = (err as { parameter?: string; body?: { parameter?: unknown } }).parameter ?? (err instanceof ApiError ? err.body.parameter : undefined);
    if (typeof name === 'string') field(name)?.setAttribute('aria-invalid', 'true');
    return;
  }
  if (query.has('after')) {
    const first = $('first') as HTMLAnchorElement;
    const q = filterQueryString(params);
    first.href = q ? `/calls?${q}` : '/calls';
    first.hidden = false;
  }
  if (session?.capabilities.includes('export')) {
    const csv = $('csv') as HTMLAnchorElement;
    const q = filterQueryString(params);
    csv.href = `/api/calls.csv${q ? `?${q}` : ''}`;
    csv.title = `this list as CSV (at most ${EXPORT_MAX.toLocaleString('en')} calls)`;
    csv.hidden = false;
  }
}

void main();

/**
 * The review page: the queue of alerts nobody has reviewed yet (critical first, then by score), each with
 * confirm / reject and a note; precision per rule and per site; the weekly trend per rule as charts; what
 * each threshold would have given on the reviewed alerts; a CSV of each list. Everything from the boxes
 * (evidence, titles, names) is text, never markup.
 */
import { $, api, el, header, type Session } from './common.js';
import { lineChart } from './charts.js';
import { reviewControls } from './review-controls.js';

interface QueueItem {
  site: string; box: string; callId: string; alertId: string; rule: string; severity: string; title: string | null; score: number | null; scoreKind: string | null;
  at: string; evidence: string | null; agent: string | null; line: string | null; callStartedAt: string | null;
}
interface PrecisionRow { key: string; alerts: number; reviewed: number; confirmed: number; precision: number | null; reviewedShare: number | null }
interface Trend { weeks: { week: string; start: string; calls: number }[]; rules: { rule: string; alertsPer100Calls: (number | null)[]; confirmedPer100Calls: (number | null)[] }[] }
interface Thresholds { rules: { rule: string; kind: string; unit: 's' | 'score'; what: string; reviewed: number; rows: { threshold: number; kept: number; confirmed: number; precision: number | null }[] }[] }

const form = $('filters') as HTMLFormElement;
const field = (name: string) => form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement;
const WEEK_MS = 7 * 86_400_000;
let session: Session | null = null;
let next: string | null = null;

const pct = (x: number | null) => (x === null ? '–' : `${Math.round(x * 100)}%`);
const localDate = (t: number) => {
  const d = new Date(t);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
};
/** The scores' units: seconds of silence or over-talk, or a 0..1 score. */
const scoreText = (score: number | null, unit: string | null) => (score === null ? '–' : unit === 's' ? `${score.toFixed(1)} s` : score.toFixed(2));
const unitOf = (kind: string | null) => (kind === 'emotion' || kind === 'phrase' ? 'score' : kind ? 's' : null);

/** The filter as the API takes it: dates are local days, `to` inclusive. */
function query(): URLSearchParams {
  const q = new URLSearchParams();
  for (const name of ['site', 'rule', 'severity']) if (field(name).value) q.set(name, field(name).value);
  const from = field('from').value;
  const to = field('to').value;
  if (from) q.set('from', new Date(`${from}T00:00`).toISOString());
  if (to) q.set('to', new Date(new Date(`${to}T00:00`).getTime() + 86_400_000).toISOString());
  return q;
}

function setStatus(text: string): void {
  $('status').textContent = text;
}

function csvLinks(): void {
  const may = session?.capabilities.includes('export') ?? false;
  for (const a of document.querySelectorAll<HTMLAnchorElement>('a.csv')) {
    a.hidden = !may;
    a.href = `/api/review/export/${a.dataset.list}.csv?${query()}`;
  }
}

function queueRow(i: QueueItem): HTMLTableRowElement {
  const tr = el('tr');
  tr.dataset.key = `${i.box}/${i.callId}/${i.alertId}`;
  tr.dataset.rule = i.rule;
  const sev = el('span', 'sev', i.severity);
  sev.dataset.severity = i.severity;
  const call = el('td', 'call');
  call.append(el('div', undefined, i.callId), el('div', 'dim', [i.site, i.box, i.agent ? `agent ${i.agent}` : null].filter(Boolean).join(' · ')));
  const rule = el('td', 'rule', i.rule);
  if (i.title) rule.title = i.title;
  const controls = el('td');
  controls.append(
    reviewControls({ box: i.box, callId: i.callId, alertId: i.alertId }, {
      label: false,
      onReviewed: () => {
        // Reviewed: no longer waiting. The figures change with it.
        tr.remove();
        queueCount();
        void loadFigures().catch((err: Error) => setStatus(err.message));
      },
    }),
  );
  const cells = [el('td'), rule, el('td', 'num', scoreText(i.score, unitOf(i.scoreKind))), call, el('td', 'dim', new Date(i.callStartedAt ?? i.at).toLocaleString()), el('td', 'evidence', i.evidence ?? ''), controls];
  cells[0].append(sev);
  tr.append(...cells);
  return tr;
}

function queueCount(): void {
  const shown = document.querySelectorAll('#queue tbody tr[data-key]').length;
  $('queue-count').textContent = shown ? `${shown}${next ? '+' : ''} waiting` : '';
}

async function loadQueue(reset: boolean): Promise<void> {
  const body = ($('queue') as HTMLTableElement).tBodies[0];
  const q = query();
  q.set('limit', '25');
  if (!reset && next) q.set('after', next);
  const r = await api<{ items: QueueItem[]; next: string | null }>(`/api/review/queue?${q}`);
  if (reset) body.replaceChildren();
  body.append(...r.items.map(queueRow));
  next = r.next;
  ($('more') as HTMLButtonElement).hidden = next === null;
  queueCount();
  if (body.rows.length === 0) {
    const tr = el('tr');
    const td = el('td', 'empty', 'Nothing waiting for review.');
    td.colSpan = 7;
    tr.append(td);
    body.append(tr);
  }
}

function precisionTable(id: string, rows: PrecisionRow[]): void {
  const body = ($(id) as HTMLTableElement).tBodies[0];
  body.replaceChildren();
  for (const r of rows) {
    const tr = el('tr');
    tr.dataset.key = r.key;
    const reviewed = el('td', 'num', String(r.reviewed));
    reviewed.append(el('span', 'dim', ` (${pct(r.reviewedShare)})`));
    tr.append(el('td', undefined, r.key), el('td', 'num', String(r.alerts)), reviewed, el('td', 'num', String(r.confirmed)), el('td', 'num precision', pct(r.precision)));
    body.append(tr);
  }
  if (rows.length === 0) {
    const tr = el('tr');
    const td = el('td', 'empty', 'No alerts in this range.');
    td.colSpan = 5;
    tr.append(td);
    body.append(tr);
  }
}

function ruleOptions(rules: string[]): void {
  const select = field('rule') as HTMLSelectElement;
  const chosen = select.value;
  const known = new Set([...select.options].map((o) => o.value));
  for (const r of rules) {
    if (known.has(r)) continue;
    const o = el('option', undefined, r);
    o.value = r;
    select.append(o);
  }
  select.value = chosen;
}

function trends(t: Trend): void {
  const root = $('trends');
  root.replaceChildren();
  if (t.rules.length === 0) root.append(el('div', 'empty', 'No alerts in this range.'));
  const x = t.weeks.map((w) => Date.parse(`${w.start}T00:00:00Z`) / 1000);
  for (const r of t.rules) {
    const card = el('div', 'chart-card');
    card.dataset.rule = r.rule;
    const chart = el('div', 'chart');
    card.append(el('h3', undefined, r.rule), chart);
    root.append(card);
    lineChart(chart, x, t.weeks.map((w) => w.week.slice(5)), [
      { label: 'alerts / 100 calls', values: r.alertsPer100Calls, colour: '#f0a830' },
      { label: 'confirmed / 100 calls', values: r.confirmedPer100Calls, colour: '#2fbf71' },
    ], { xLabel: 'week' });
  }
}

function thresholdTables(t: Thresholds): void {
  const root = $('thresholds');
  root.replaceChildren();
  if (t.rules.length === 0) root.append(el('div', 'empty', 'No reviewed alert with a score in this range.'));
  for (const r of t.rules) {
    const table = el('table', 'threshold');
    table.dataset.rule = r.rule;
    const caption = el('caption', undefined, `${r.rule} `);
    caption.append(el('span', 'dim', `${r.what}; ${r.reviewed} reviewed`));
    const head = el('tr');
    ['At or above', 'Kept', 'Confirmed', 'Precision'].forEach((h) => head.append(el('th', 'num', h)));
    table.append(caption, el('thead'), el('tbody'));
    table.tHead!.append(head);
    for (const row of r.rows) {
      const tr = el('tr');
      tr.append(el('td', 'num', scoreText(row.threshold, r.unit)), el('td', 'num', String(row.kept)), el('td', 'num', String(row.confirmed)), el('td', 'num precision', pct(row.precision)));
      table.tBodies[0].append(tr);
    }
    root.append(table);
  }
}

async function loadFigures(): Promise<void> {
  const q = query();
  const [p, t, th] = await Promise.all([
    api<{ byRule: PrecisionRow[]; bySite: PrecisionRow[] }>(`/api/review/precision?${q}`),
    api<Trend>(`/api/review/trend?${q}`),
    api<Thresholds>(`/api/review/thresholds?${q}`),
  ]);
  precisionTable('precision-rules', p.byRule);
  precisionTable('precision-sites', p.bySite);
  ruleOptions(p.byRule.map((r) => r.key));
  trends(t);
  thresholdTables(th);
}

async function load(): Promise<void> {
  setStatus('');
  csvLinks();
  const params = query();
  history.replaceState(null, '', `/review?${params}`);
  try {
    await Promise.all([loadQueue(true), loadFigures()]);
  } catch (err) {
    setStatus((err as Error).message);
  }
}

async function start(): Promise<void> {
  session = await header('/review');
  // The filter in the address (a reload or a shared link) wins over the defaults.
  const given = new URLSearchParams(location.search);
  const { sites } = await api<{ sites: string[] }>('/api/review/sites');
  const site = field('site') as HTMLSelectElement;
  for (const s of sites) {
    const o = el('option', undefined, s);
    o.value = s;
    site.append(o);
  }
  ruleOptions(given.get('rule') ? [given.get('rule')!] : []);
  for (const name of ['site', 'rule', 'severity']) field(name).value = given.get(name) ?? '';
  const from = given.get('from');
  const to = given.get('to');
  field('from').value = from ? localDate(Date.parse(from)) : localDate(Date.now() - 12 * WEEK_MS);
  field('to').value = to ? localDate(Date.parse(to) - 86_400_000) : '';
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void load();
  });
  $('more').addEventListener('click', () => void loadQueue(false).catch((err: Error) => setStatus(err.message)));
  await load();
}

void start();

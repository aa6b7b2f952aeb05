/**
 * Floor figures: one site, one day (the browser's local day), read in ten seconds: four numbers, the calls
 * per hour, and the rules and agents with most alerts.
 */
import { $, api, clock, el, header } from './common.js';
import { barChart } from './charts.js';

interface DayFigures {
  site: string; day: string; calls: number; callsPerHour: number[]; avgHandleSec: number | null; talkSec: number; silenceSec: number;
  talkShare: number | null; silenceShare: number | null; talkToSilence: number | null; alerts: number; alertsPer100Calls: number | null;
  topRules: { rule: string; alerts: number; per100Calls: number }[];
  topAgents: { agent: string | null; calls: number; alerts: number; per100Calls: number }[];
}

const form = $('filters') as HTMLFormElement;
const field = (name: string) => form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement;
const pct = (x: number | null) => (x === null ? '–' : `${Math.round(x * 100)}%`);
const one = (x: number | null) => (x === null ? '–' : x.toFixed(1));

function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

function tile(id: string, value: string, sub = ''): void {
  $(id).querySelector('.value')!.textContent = value;
  $(id).querySelector('.sub')!.textContent = sub;
}

function rows(id: string, cells: string[][], empty: string): void {
  const body = ($(id) as HTMLTableElement).tBodies[0];
  body.replaceChildren();
  for (const c of cells) {
    const tr = el('tr');
    c.forEach((text, i) => tr.append(el('td', i ? 'num' : undefined, text)));
    body.append(tr);
  }
  if (cells.length === 0) {
    const td = el('td', 'empty', empty);
    td.colSpan = ($(id) as HTMLTableElement).tHead!.rows[0].cells.length;
    const tr = el('tr');
    tr.append(td);
    body.append(tr);
  }
}

async function load(): Promise<void> {
  const site = field('site').value;
  const day = field('day').value || today();
  $('status').textContent = '';
  if (!site) {
    $('status').textContent = 'No site to show.';
    return;
  }
  history.replaceState(null, '', `/figures?${new URLSearchParams({ site, day })}`);
  // The offset of that day, not today's: a day across a daylight-saving change keeps its own.
  const tz = -new Date(`${day}T12:00`).getTimezoneOffset();
  try {
    const f = await api<DayFigures>(`/api/figures/${encodeURIComponent(site)}?${new URLSearchParams({ day, tz: String(tz) })}`);
    const busiest = f.callsPerHour.indexOf(Math.max(...f.callsPerHour));
    tile('t-calls', String(f.calls), f.calls ? `busiest hour ${busiest}:00 (${f.callsPerHour[busiest]})` : '');
    tile('t-aht', f.avgHandleSec === null ? '–' : clock(f.avgHandleSec));
    tile('t-talk', f.talkToSilence === null ? '–' : `${one(f.talkToSilence)} : 1`, f.talkShare === null ? '' : `talk ${pct(f.talkShare)} · silence ${pct(f.silenceShare)} of handle time`);
    tile('t-alerts', one(f.alertsPer100Calls), `${f.alerts} alert${f.alerts === 1 ? '' : 's'}`);
    $('t-calls').dataset.value = String(f.calls);
    barChart($('per-hour'), f.callsPerHour.map((_, h) => String(h)), f.callsPerHour, { label: 'calls' });
    rows('top-rules', f.topRules.map((r) => [r.rule, String(r.alerts), one(r.per100Calls)]), 'No alerts this day.');
    rows('top-agents', f.topAgents.map((a) => [a.agent ?? '(no agent)', String(a.alerts), String(a.calls), one(a.per100Calls)]), 'No alerts this day.');
  } catch (err) {
    $('status').textContent = (err as Error).message;
  }
}

async function start(): Promise<void> {
  await header('/figures');
  const given = new URLSearchParams(location.search);
  const { sites } = await api<{ sites: string[] }>('/api/figures/sites');
  const select = field('site') as HTMLSelectElement;
  for (const s of sites) {
    const o = el('option', undefined, s);
    o.value = s;
    select.append(o);
  }
  if (given.get('site') && sites.includes(given.get('site')!)) select.value = given.get('site')!;
  field('day').value = given.get('day') ?? today();
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void load();
  });
  select.addEventListener('change', () => void load());
  field('day').addEventListener('change', () => void load());
  await load();
}

void start();

/**
 * The floor page: one Server-Sent Events stream per floor (snapshot, then alerts, acks and box changes),
 * rendered with textContent only: alert evidence comes from the boxes and is never treated as markup.
 * Durations tick locally between live messages so a call's clock moves every second.
 */
import type { AlertView, BoxView, FloorEvent, FloorSnapshot } from '../floor.js';
import { $, api, clock, el, header } from './common.js';

interface PageProbe {
  /** alert key -> page time (ms since the epoch) when its latest revision was put on the page */
  seen: Record<string, number>;
  connected: boolean;
}
const probe: PageProbe = { seen: {}, connected: false };
(window as unknown as { __earshot: PageProbe }).__earshot = probe;

const now = () => performance.timeOrigin + performance.now();

const boxes = new Map<string, { view: BoxView; receivedAt: number }>();
const alerts = new Map<string, AlertView>();
const site = decodeURIComponent(/^\/floor\/([^/]+)/.exec(location.pathname)?.[1] ?? '');

function renderBoxes(): void {
  const root = $('boxes');
  root.replaceChildren();
  if (boxes.size === 0) root.append(el('div', 'empty', 'No box has reported on this floor yet.'));
  for (const { view: b } of [...boxes.values()].sort((x, y) => x.view.box.localeCompare(y.view.box))) {
    const d = el('div', 'box');
    d.dataset.box = b.box;
    d.dataset.availability = b.availability;
    const up = b.lines.filter((l) => l.state === 'idle' || l.state === 'in-call').length;
    d.append(el('span', 'name', b.box), el('span', `badge ${b.availability}`, b.availability));
    if (b.health.state === 'degraded') {
      const h = el('span', 'badge degraded', 'degraded');
      h.title = b.health.problems.map((p) => p.message).join('\n');
      d.append(h);
    }
    const fact = (label: string, value: string) => {
      const f = el('span', 'fact', `${label} `);
      f.append(el('b', undefined, value));
      return f;
    };
    d.append(fact('lines up', b.liveAt ? `${up}/${b.lines.length}` : '–'), fact('backlog', b.outboxDepth === null ? '–' : String(b.outboxDepth)));
    if (b.linesShedding > 0) d.append(fact('shedding', String(b.linesShedding)));
    root.append(d);
  }
}

function renderLines(): void {
  const root = $('lines');
  root.replaceChildren();
  const t = now();
  let any = false;
  for (const { view: b, receivedAt } of [...boxes.values()].sort((x, y) => x.view.box.localeCompare(y.view.box))) {
    const elapsed = (t - receivedAt) / 1000;
    // A box gone quiet or away: its lines are what they were, not what they are.
    const stale = b.availability !== 'online' || elapsed > 3 * (b.liveIntervalSec ?? 1) + 2;
    for (const l of b.lines) {
      any = true;
      const tile = el('div', 'tile');
      tile.dataset.line = `${b.box}/${l.name}`;
      tile.dataset.state = l.state;
      if (stale) tile.classList.add('stale');
      const top = el('div', 'top');
      top.append(el('span', 'line', l.name), el('span', 'agent', l.agentId ?? ''));
      tile.append(top, el('div', 'state', stale ? `${l.state} (box ${b.availability === 'online' ? 'silent' : b.availability})` : l.state));
      if (l.state === 'in-call') {
        const sec = (l.inCallSec ?? 0) + (stale ? 0 : elapsed);
        const dur = el('div', 'duration', clock(sec));
        dur.dataset.sec = sec.toFixed(1);
        const talk = el('div', 'talk');
        for (const who of ['agent', 'customer'] as const) {
          const s = el('span', l.talking === who || l.talking === 'both' ? 'on' : '', who);
          talk.append(s);
        }
        const silence = l.silenceSec ?? 0;
        const sil = el('div', `silence${silence >= 8 ? ' long' : ''}`, silence >= 1 ? `silence ${Math.round(silence + (stale || l.talking !== 'none' ? 0 : elapsed))} s` : ' ');
        const meter = el('div', 'meter');
        meter.title = `customer agitation ${Math.round((l.agitation ?? 0) * 100)}%`;
        const fill = el('i');
        fill.style.width = `${Math.round((l.agitation ?? 0) * 100)}%`;
        meter.append(fill);
        if ((l.agitation ?? 0) >= 0.5) tile.classList.add('agitated');
        tile.append(dur, talk, sil, meter);
      } else {
        tile.append(el('div', 'duration', '—'));
      }
      const flags = [l.shedding ? 'shedding' : '', l.backlogSec >= 1 ? `behind ${l.backlogSec.toFixed(0)} s` : '', l.fault ?? ''].filter(Boolean).join(' · ');
      if (flags) tile.append(el('div', 'flags', flags));
      root.append(tile);
    }
  }
  if (!any) root.append(el('div', 'empty', 'No live line state yet.'));
}

function alertNode(a: AlertView): HTMLLIElement {
  const li = el('li', 'alert');
  li.dataset.key = a.key;
  li.dataset.box = a.box;
  li.dataset.seq = String(a.seq);
  li.dataset.severity = a.severity;
  li.dataset.revision = String(a.revision);
  const title = el('div', 'title');
  title.append(el('span', 'sev', a.severity), document.createTextNode(a.title));
  const when = el('div', 'when', new Date(a.at).toLocaleTimeString());
  const who = el('div', 'who', [a.line, a.agentId ? `agent ${a.agentId}` : '', a.box, a.revision > 1 ? `rev ${a.revision}` : ''].filter(Boolean).join(' · '));
  const side = el('div');
  // Withdrawn: struck through with the box's reason, no longer asking for anyone (floor.ts AlertView says why
  // it stays on the page); an acknowledgement given before stays said.
  if (a.withdrawn !== null) {
    li.classList.add('withdrawn');
    side.append(el('div', 'withdrawn-note', 'withdrawn by the box'));
  }
  if (a.ack) {
    li.classList.add('acked');
    side.append(el('div', 'ackd', `acknowledged by ${a.ack.by} ${new Date(a.ack.at).toLocaleTimeString()}`));
  } else if (a.withdrawn === null) {
    const b = el('button', undefined, 'Acknowledge');
    b.addEventListener('click', () => void acknowledge(a, b));
    side.append(b);
  }
  li.append(title, when, who, side);
  if (a.evidence) li.append(el('div', 'evidence', a.evidence));
  if (a.withdrawn !== null) li.append(el('div', 'reason', a.withdrawn));
  return li;
}

async function acknowledge(a: AlertView, button: HTMLButtonElement): Promise<void> {
  button.disabled = true;
  // Who acknowledged is the signed-in user, as the server knows them; the page only proves it is their page.
  await api(`/api/alerts/${encodeURIComponent(a.box)}/${a.seq}/ack`, { method: 'POST' }).catch(() => (button.disabled = false));
}

function putAlert(a: AlertView): void {
  alerts.set(a.key, a);
  const list = $('alerts');
  list.querySelector(`li[data-key="${CSS.escape(a.key)}"]`)?.remove();
  list.querySelector('.empty')?.remove();
  list.prepend(alertNode(a));
  probe.seen[a.key] = now();
  counts();
}

function counts(): void {
  const open = [...alerts.values()].filter((a) => !a.ack && a.withdrawn === null).length;
  $('open-count').textContent = open ? `${open} open` : '';
}

function snapshot(s: FloorSnapshot): void {
  boxes.clear();
  alerts.clear();
  for (const b of s.boxes) boxes.set(b.box, { view: b, receivedAt: now() });
  const list = $('alerts');
  list.replaceChildren();
  for (const a of [...s.alerts].reverse()) putAlert(a);
  if (s.alerts.length === 0) list.append(el('li', 'empty', 'No alerts.'));
  renderBoxes();
  renderLines();
}

function onEvent(e: FloorEvent): void {
  if (e.type === 'alert') putAlert(e.alert);
  else if (e.type === 'ack') {
    const a = alerts.get(e.key);
    if (a) putAck(a, e.ack);
  } else {
    boxes.set(e.box.box, { view: e.box, receivedAt: now() });
    renderBoxes();
    renderLines();
  }
}

function putAck(a: AlertView, ack: NonNullable<AlertView['ack']>): void {
  a.ack = ack;
  $('alerts').querySelector(`li[data-key="${CSS.escape(a.key)}"]`)?.replaceWith(alertNode(a));
  counts();
}

function connect(): void {
  const es = new EventSource(`/api/live/${encodeURIComponent(site)}`);
  const conn = $('conn');
  es.onopen = () => {
    probe.connected = true;
    conn.textContent = 'live';
    conn.className = 'conn up';
  };
  es.onerror = () => {
    probe.connected = false;
    conn.textContent = 'reconnecting…';
    conn.className = 'conn down';
    // The browser retries a dropped stream by itself, but not one refused (the session ended: 401): then
    // the session decides, api() sending the page to sign in, and a refusal of another kind is retried.
    if (es.readyState === EventSource.CLOSED) {
      void api('/api/session')
        .catch(() => undefined)
        .then(() => setTimeout(connect, 5000));
    }
  };
  es.addEventListener('snapshot', (m) => snapshot(JSON.parse((m as MessageEvent<string>).data) as FloorSnapshot));
  for (const type of ['alert', 'ack', 'box']) es.addEventListener(type, (m) => onEvent(JSON.parse((m as MessageEvent<string>).data) as FloorEvent));
}

async function listSites(): Promise<void> {
  const nav = $('sites');
  nav.hidden = false;
  $('floor').hidden = true;
  const { sites } = await api<{ sites: string[] }>('/api/sites');
  nav.replaceChildren(el('h2', undefined, 'Floors'));
  for (const s of sites) {
    const a = el('a', undefined, s);
    a.href = `/floor/${encodeURIComponent(s)}`;
    nav.append(a);
  }
  if (!sites.length) nav.append(el('div', 'empty', 'No floor has reported yet.'));
}

function tick(): void {
  $('clock').textContent = new Date().toLocaleTimeString();
  if (site) renderLines();
}

if (site) {
  $('title').textContent = `Earshot — ${site}`;
  document.title = `Earshot — ${site}`;
  connect();
} else void listSites();
void header('/');
tick();
setInterval(tick, 1000);

/**
 * The search page: the form is a plain GET form to /search, so a search is a URL (its filter names are
 * the call list's); the script reads the URL, asks /api/search and draws the results. Snippets come as text
 * segments; the matched words are put in <mark> elements built here, never parsed as markup (transcripts
 * come from the boxes). Each hit links to the call page at its time.
 */
import type { SearchResponse, SearchResultCall, SearchHitOut } from '../../search/search.js';
import { $, api, ApiError, clock, el, header } from './common.js';

const form = $('search') as HTMLFormElement;
const input = $('q') as HTMLInputElement;
const status = $('status');
const list = $('results');
const moreButton = $('more') as HTMLButtonElement;
const params = new URLSearchParams(location.search);

function setStatus(text: string, error = false): void {
  status.textContent = text;
  status.className = error ? 'error' : '';
}

/** The form's fields from the URL, so that the page shows what it searched for. */
function fillForm(): void {
  for (const [name, value] of params) {
    const field = form.elements.namedItem(name);
    if (field instanceof HTMLInputElement || field instanceof HTMLSelectElement) {
      if (field instanceof HTMLSelectElement && ![...field.options].some((o) => o.value === value)) field.append(new Option(value, value));
      // a date field shows the day of a full time
      field.value = field instanceof HTMLInputElement && field.type === 'date' ? value.slice(0, 10) : value;
    }
  }
  if ([...params].some(([k, v]) => k !== 'q' && v !== '')) ($('filters') as HTMLFieldSetElement).dataset.used = 'true';
}

/** The query string for the API: the page's parameters without the empty ones. */
function apiQuery(cursor: string | null): string {
  const out = new URLSearchParams();
  for (const [k, v] of params) if (v !== '' && k !== 'cursor') out.append(k, v);
  if (cursor) out.set('cursor', cursor);
  return out.toString();
}

const callHref = (r: SearchResultCall, at?: number) =>
  `/calls/${encodeURIComponent(r.call.box)}/${encodeURIComponent(r.call.callId)}${at === undefined ? '' : `#t=${Math.round(at * 10) / 10}`}`;

function snippetOf(hit: SearchHitOut): HTMLElement {
  const s = el('span', 'snippet');
  for (const seg of hit.snippet) s.append(seg.hit ? el('mark', undefined, seg.text) : document.createTextNode(seg.text));
  if (hit.source === 'keyword') s.append(el('span', 'source', `keyword spotter${hit.score !== undefined ? ` ${hit.score.toFixed(2)}` : ''}`));
  return s;
}

function renderResult(r: SearchResultCall): HTMLElement {
  const li = el('li', 'result');
  li.dataset.call = `${r.call.box}/${r.call.callId}`;
  const head = el('div', 'head');
  const a = el('a', undefined, new Date(r.call.startedAt).toLocaleString());
  a.href = callHref(r);
  const who = [r.call.site, r.call.box, r.call.line, r.call.agent && `agent ${r.call.agent}`].filter(Boolean).join(' · ');
  head.append(a, el('span', 'meta', who), el('span', 'meta', `${clock(r.call.durationSec)} long`));
  if (r.call.alertCount) head.append(el('span', 'meta', `${r.call.alertCount} alert${r.call.alertCount === 1 ? '' : 's'}`));
  li.append(head);
  if (r.hits.length === 0) li.append(el('div', 'more-hits', 'matched by absence: nothing to show'));
  const hits = el('ol', 'hits');
  for (const h of r.hits) {
    const row = el('li', 'hit');
    const at = el('a', 'at', clock(h.start));
    at.href = callHref(r, h.start);
    at.title = `${clock(h.start)}–${clock(h.end)}`;
    row.append(at, el('span', 'side', h.channel), snippetOf(h));
    hits.append(row);
  }
  li.append(hits);
  if (r.hitCount > r.hits.length) li.append(el('div', 'more-hits', `and ${r.hitCount - r.hits.length} more hits in this call`));
  return li;
}

let shown = 0;

async function run(cursor: string | null): Promise<void> {
  moreButton.hidden = true;
  setStatus('searching…');
  try {
    const res = await api<SearchResponse & { query: string }>(`/api/search?${apiQuery(cursor)}`);
    for (const r of res.results) list.append(renderResult(r));
    shown += res.results.length;
    const found = shown === 0 ? 'No calls found' : `${shown} call${shown === 1 ? '' : 's'}`;
    setStatus(`${found}; ${res.examined} candidate${res.examined === 1 ? '' : 's'} examined${res.more ? ', more to look through' : ''}.`);
    if (res.next) {
      moreButton.hidden = false;
      moreButton.onclick = () => void run(res.next);
    }
  } catch (err) {
    const e = err as ApiError;
    setStatus(e.message, true);
    // a syntax error says where: put the cursor there
    const position = e.body?.position;
    if (typeof position === 'number') {
      input.focus();
      input.setSelectionRange(position, position + 1);
    }
  }
}

async function sites(): Promise<void> {
  const select = $('site') as HTMLSelectElement;
  try {
    const { sites } = await api<{ sites: string[] }>('/api/search/sites');
    for (const s of sites) if (![...select.options].some((o) => o.value === s)) select.append(new Option(s, s));
    select.value = params.get('site') ?? '';
  } catch {
    // the list is a convenience; the field still works from the URL
  }
}

void (async () => {
  await header('/search');
  fillForm();
  await sites();
  const q = params.get('q');
  if (q && q.trim()) await run(null);
  else input.focus();
})();

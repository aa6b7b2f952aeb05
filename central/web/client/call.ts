/**
 * One call: its picture (central/web/timeline.ts draws it from the stored index), the transcript beneath,
 * its metrics and alerts. A click on a mark, an alert's time, or `#t=<seconds>` in the URL (links from
 * search) scrolls to the words said then and highlights them. Everything from the box is text, never markup.
 */
import type { AlertRow, CallRow } from '../../store/store.js';
import { formatTime } from '../../../edge/search/query.js';
import { drawTimeline, timelineOf, transcriptOf, wordsAt, type Lane, type TranscriptUtterance } from '../timeline.js';
import { $, api, ApiError, clock, el, header, localTime } from './common.js';
import { loadCallReviews } from './review-controls.js';

interface CallDetail {
  call: CallRow;
  index: Record<string, unknown> | null;
  alerts: AlertRow[];
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

let transcript: TranscriptUtterance[] = [];

/** Highlights the words said in [start, end] on a lane and scrolls them into view. */
function show(lane: Lane, start: number, end: number): void {
  for (const e of document.querySelectorAll('.hl')) e.classList.remove('hl');
  const places = wordsAt(transcript, lane, start, end);
  let first: Element | null = null;
  for (const p of places) {
    const target = p.w >= 0 ? document.querySelector(`#transcript [data-u="${p.u}"] [data-w="${p.w}"]`) : document.querySelector(`#transcript [data-u="${p.u}"]`);
    target?.classList.add('hl');
    first ??= target;
  }
  first?.scrollIntoView({ block: 'center' });
}

function fromHash(): void {
  const t = /^#t=(\d+(?:\.\d+)?)$/.exec(location.hash);
  if (t) show('both', Number(t[1]), Number(t[1]));
}

function drawTranscript(): void {
  const root = $('transcript');
  root.replaceChildren();
  transcript.forEach((u, i) => {
    const li = el('li', `utt ${u.channel}`);
    li.dataset.u = String(i);
    li.dataset.start = String(u.start);
    const when = el('a', 'when', formatTime(u.start));
    when.href = `#t=${u.start}`;
    const words = el('span', 'words');
    if (u.words.length) {
      u.words.forEach((w, j) => {
        const s = el('span', 'w', w.w);
        s.dataset.w = String(j);
        s.dataset.start = String(w.start);
        s.title = formatTime(w.start);
        words.append(s, ' ');
      });
    } else words.append(u.text ? el('span', undefined, u.text) : el('span', 'empty', 'not transcribed'));
    li.append(when, el('span', 'who', u.channel), words);
    root.append(li);
  });
  if (!transcript.length) root.append(el('li', 'empty', 'Nobody spoke in this call.'));
}

function drawLegend(): void {
  const legend = $('legend');
  const key = (swatch: string, label: string) => {
    const item = el('span', 'key');
    item.append(el('i', `swatch ${swatch}`), label);
    legend.append(item);
  };
  key('m-utterance lane-agent', 'agent speech');
  key('m-utterance lane-customer', 'customer speech');
  key('m-silence', 'silence');
  key('m-overtalk', 'over-talk (on the side that interrupted)');
  key('m-agitation', 'agitated');
  key('m-keyword', 'watched phrase');
  for (const sev of ['critical', 'warning', 'info']) key(`m-alert sev-${sev}`, `${sev} alert`);
}

function fact(list: HTMLElement, name: string, value: string): void {
  list.append(el('dt', undefined, name), el('dd', undefined, value));
}

function drawMetrics(call: CallRow, index: Obj): void {
  const m = obj(index.metrics);
  const rec = obj(index.recognition);
  const list = $('metrics');
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  const both = (o: Obj, f: (v: number) => string) => (['agent', 'customer'] as const).map((c) => `${c} ${num(o[c]) === null ? '–' : f(num(o[c])!)}`).join(', ');
  fact(list, 'Duration', clock(call.durationSec));
  const ratio = num(m.talkRatio);
  fact(list, 'Talk ratio', ratio === null ? '–' : `agent ${pct(ratio)}, customer ${pct(1 - ratio)}`);
  const unit = (c: string) => (obj(rec[c]).script === 'latin' || obj(rec[c]).script === undefined ? 'words/s' : 'syllables/s');
  const rate = obj(m.speechRate);
  fact(list, 'Speech rate', (['agent', 'customer'] as const).map((c) => `${c} ${num(rate[c]) === null ? '–' : `${num(rate[c])!.toFixed(2)} ${unit(c)}`}`).join(', '));
  fact(list, 'Longest silence', call.longestSilenceSec === null ? '–' : `${call.longestSilenceSec.toFixed(1)} s${num(m.silenceTotalSec) ? ` (${num(m.silenceTotalSec)!.toFixed(1)} s in all)` : ''}`);
  const ot = obj(m.overtalkCount);
  fact(list, 'Over-talk', call.overtalkCount === null ? '–' : `${call.overtalkCount} (started by ${both(ot, String)}), ${(call.overtalkSec ?? 0).toFixed(1)} s`);
  const mono = obj(m.longestMonologue);
  if (num(mono.durationSec) !== null) fact(list, 'Longest monologue', `${String(mono.channel)} ${num(mono.durationSec)!.toFixed(1)} s from ${formatTime(num(mono.start) ?? 0)}`);
  const langs = (['agent', 'customer'] as const).map((c) => obj(rec[c]).language);
  fact(list, 'Language', langs.some((l) => typeof l === 'string') ? `agent ${String(langs[0] ?? '–')}, customer ${String(langs[1] ?? '–')}` : (call.language ?? '–'));
  const bands = (['agent', 'customer'] as const).map((c) => obj(rec[c]).band);
  // A reviewer reading a thin transcript should know the line carried telephone audio, which the models hear less well.
  if (bands.some((b) => b === 'narrow' || b === 'wide')) fact(list, 'Audio', (['agent', 'customer'] as const).map((c, i) => `${c} ${bands[i] === 'narrow' ? 'telephone band (8 kHz)' : bands[i] === 'wide' ? 'wideband' : '–'}`).join(', '));
  fact(list, 'Agent', call.agent ?? '–');
  fact(list, 'Line', call.line ?? '–');
}

function drawAlerts(alerts: AlertRow[]): void {
  const root = $('call-alerts');
  root.replaceChildren();
  if (!alerts.length) root.append(el('li', 'empty', 'No alerts.'));
  for (const a of alerts) {
    const li = el('li', 'alert-item');
    li.dataset.severity = a.severity;
    li.dataset.alert = a.alertId;
    const head = el('div', 'head');
    head.append(el('span', `badge sev-${a.severity}`, a.severity), ' ', el('b', 'title', typeof a.alert.title === 'string' ? a.alert.title : a.rule), ' ', el('span', 'dim', `${a.rule}${a.revision > 1 ? `, revision ${a.revision}` : ''}`));
    // A false alarm the box took back: still shown (it was raised, a supervisor may have seen it), struck through.
    if (a.withdrawn !== null) {
      li.classList.add('withdrawn');
      head.append(' ', el('span', 'badge withdrawn', 'withdrawn'));
    }
    li.append(head);
    if (a.start !== null && a.end !== null) {
      const at = el('a', 'when', `${a.channel ?? 'both'} ${formatTime(a.start)}–${formatTime(a.end)}`);
      at.href = `#t=${a.start}`;
      const lane: Lane = a.channel === 'agent' || a.channel === 'customer' ? a.channel : 'both';
      const { start, end } = a;
      at.addEventListener('click', (e) => {
        e.preventDefault();
        history.replaceState(null, '', `#t=${start}`);
        show(lane, start, end);
      });
      li.append(at);
      if (a.raisedAt !== null) li.append(el('span', 'dim', ` raised at ${formatTime(a.raisedAt)}`));
    }
    if (a.evidence) li.append(el('div', 'evidence', a.evidence));
    if (a.withdrawn !== null) li.append(el('div', 'reason', a.withdrawn));
    root.append(li);
  }
}

async function main(): Promise<void> {
  const session = await header('/calls');
  const m = /^\/calls\/([^/]+)\/([^/]+)$/.exec(location.pathname);
  const error = $('error');
  let detail: CallDetail;
  try {
    if (!m) throw new Error('no call in this address');
    detail = await api<CallDetail>(`/api/calls/${m[1]}/${m[2]}`);
  } catch (err) {
    error.textContent = err instanceof ApiError && err.status === 404 ? 'No such call.' : err instanceof Error ? err.message : String(err);
    error.hidden = false;
    return;
  }
  const { call, alerts } = detail;
  const index = obj(detail.index);
  document.title = `Earshot — call ${call.callId}`;
  $('call-title').textContent = `Call ${call.callId}`;
  const facts = $('facts');
  fact(facts, 'Site', call.site);
  fact(facts, 'Box', call.box);
  fact(facts, 'Started', localTime(call.startedAt));
  fact(facts, 'Duration', clock(call.durationSec));
  fact(facts, 'Agent', call.agent ?? '–');
  fact(facts, 'Line', call.line ?? '–');
  const degraded = obj(index.degraded);
  const notes: string[] = [];
  if ((Array.isArray(degraded.recognitionShed) && degraded.recognitionShed.length) || (Array.isArray(degraded.audioDropped) && degraded.audioDropped.length)) {
    notes.push('Part of this call was not fully analysed (the box was behind): missing words there are not silence.');
  }
  transcript = transcriptOf(index);
  if (transcript.length && transcript.every((u) => !u.words.length && !u.text)) notes.push('No transcript: no recogniser ran for this call.');
  $('notes').textContent = notes.join(' ');

  const timeline = timelineOf(index);
  const svg = drawTimeline(document, timeline);
  svg.addEventListener('click', (e) => {
    const mark = (e.target as Element).closest('rect.mark') as SVGRectElement | null;
    if (!mark) return;
    for (const s of svg.querySelectorAll('.selected')) s.classList.remove('selected');
    mark.classList.add('selected');
    const start = Number(mark.dataset.start);
    history.replaceState(null, '', `#t=${start}`);
    show(mark.dataset.lane as Lane, start, Number(mark.dataset.end));
  });
  $('timeline').append(svg);
  drawLegend();
  drawTranscript();
  drawMetrics(call, index);
  drawAlerts(alerts);
  // Only a reviewer gets the controls, and only for alerts that stand; for everyone else the alerts above are the whole story.
  if (session?.capabilities.includes('review') && alerts.some((a) => a.withdrawn === null)) {
    const reviews = $('reviews');
    reviews.append(el('h2', undefined, 'Review'));
    const list = el('div');
    reviews.append(list);
    await loadCallReviews(list, call.box, call.callId).catch((err: Error) => reviews.append(el('div', 'error', err.message)));
  }
  window.addEventListener('hashchange', fromHash);
  fromHash();
}

void main();

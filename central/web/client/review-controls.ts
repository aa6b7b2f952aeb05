/**
 * Confirm / reject controls for a list of alerts, with an optional note: the review queue's rows use them,
 * and the call page puts them in its `<section id="reviews">` (`loadCallReviews`). A review goes through
 * api() (with the session's CSRF token); a later review of the same alert, by anyone, replaces the verdict.
 */
import { api, el } from './common.js';

export type Verdict = 'confirmed' | 'rejected';

export interface ReviewTarget {
  box: string;
  callId: string;
  alertId: string;
  /** shown beside the controls when given */
  rule?: string;
  severity?: string;
  verdict?: Verdict | null;
}

export interface ReviewControlsOptions {
  /** after a review was stored */
  onReviewed?: (target: ReviewTarget, verdict: Verdict) => void;
  /** a label per alert (rule and severity) before its controls; default true */
  label?: boolean;
}

const VERDICT_TEXT: Record<Verdict, string> = { confirmed: 'confirmed', rejected: 'rejected' };

/** One alert's controls: its verdict so far, a note, Confirm and Reject. */
export function reviewControls(target: ReviewTarget, opts: ReviewControlsOptions = {}): HTMLElement {
  const root = el('div', 'review-controls');
  root.dataset.key = `${target.box}/${target.callId}/${target.alertId}`;
  const state = el('span', 'verdict');
  const show = (v: Verdict | null | undefined) => {
    state.textContent = v ? VERDICT_TEXT[v] : 'not reviewed';
    state.dataset.verdict = v ?? '';
  };
  show(target.verdict);
  const note = el('input', 'note');
  note.type = 'text';
  note.maxLength = 2000;
  note.placeholder = 'note (optional)';
  note.setAttribute('aria-label', `note on ${target.alertId}`);
  const error = el('span', 'error');
  const button = (verdict: Verdict, label: string) => {
    const b = el('button', verdict === 'confirmed' ? 'confirm' : 'reject', label);
    b.type = 'button';
    b.addEventListener('click', async () => {
      for (const x of root.querySelectorAll('button')) x.disabled = true;
      error.textContent = '';
      try {
        await api('/api/reviews', { method: 'POST', body: { box: target.box, callId: target.callId, alertId: target.alertId, verdict, note: note.value } });
        target.verdict = verdict;
        show(verdict);
        note.value = '';
        opts.onReviewed?.(target, verdict);
      } catch (err) {
        error.textContent = (err as Error).message;
      } finally {
        for (const x of root.querySelectorAll('button')) x.disabled = false;
      }
    });
    return b;
  };
  if (opts.label !== false && target.rule) {
    const label = el('span', 'what', target.rule);
    if (target.severity) label.dataset.severity = target.severity;
    root.append(label);
  }
  root.append(state, note, button('confirmed', 'Confirm'), button('rejected', 'Reject'), error);
  return root;
}

/** Controls for each alert of `alerts` into `container` (replacing what it held). */
export function renderReviewControls(container: HTMLElement, alerts: ReviewTarget[], opts: ReviewControlsOptions = {}): void {
  container.replaceChildren(...alerts.map((a) => reviewControls(a, opts)));
  if (alerts.length === 0) container.append(el('div', 'empty', 'No alerts to review.'));
}

/**
 * A call's alerts with their verdicts, from the API, as controls in `container` (the call page's section).
 * An alert its box withdrew gets none: the server refuses a verdict on it, and the call page says why.
 */
export async function loadCallReviews(container: HTMLElement, box: string, callId: string, opts: ReviewControlsOptions = {}): Promise<void> {
  const q = new URLSearchParams({ box, callId });
  const r = await api<{ alerts: { alertId: string; rule: string; severity: string; verdict: Verdict | null; withdrawn: string | null }[] }>(`/api/reviews?${q}`);
  const standing = r.alerts.filter((a) => a.withdrawn === null);
  renderReviewControls(container, standing.map((a) => ({ box, callId, alertId: a.alertId, rule: a.rule, severity: a.severity, verdict: a.verdict })), opts);
}

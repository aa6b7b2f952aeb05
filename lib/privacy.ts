/**
 * The one seam between what the box knows and what may leave it. Every record goes through
 * `sanitizeForUplink` before it reaches the outbox (so nothing unredacted is ever stored for upload, logged
 * by the uplink, or published):
 * - every string value is passed through `redact` (card numbers, CVV, PIN, passwords, verification codes,
 *   resident ID numbers: see lib/redact.ts), and an utterance's `words[]` are redacted together, since a
 *   card number spoken as words is only recognisable across them;
 * - audio never leaves: binary values (Buffer, typed arrays, ArrayBuffer) are refused outright, and fields
 *   whose name says audio (`audio`, `pcm`, `wav`, `samples`, …) are dropped.
 * Object keys are redacted like values: a map keyed by what was said (a phrase, a term) carries speech too.
 */
import { redact, redactTranscript, redactWords, type TranscriptUtterance } from './redact.js';

/** Credential phrases a keyword spotter may have heard the agent ask for (alerts and keywords[] name them). */
const SECRET_TERMS = /password|passcode|\bpin\b|cvv|security code|verification code|one time code|密码|验证码|安全码|校验码/i;

/**
 * Fields that hold the system's own identifiers, never speech: an alert's id (`card-data-1`) or rule must
 * reach the centre as the box made it, or a revision, an ack or a review would name an alert that does not
 * exist (a cue such as "card" would otherwise open a window over the id's digit).
 */
const IDENTIFIER_KEYS = new Set(['id', 'callId', 'rule', 'box', 'site', 'schema', 'kind', 'severity', 'channel', 'language', 'script', 'agentId', 'model']);

/** A keyword spotter's hit as a call index (or the call's state) keeps it. */
export interface SpottedTerm {
  term?: unknown;
  channel?: unknown;
  start?: unknown;
}

/**
 * A call's utterances redacted as one conversation, the way its index is: every view that quotes what was
 * said (the index, an alert's evidence) masks the same words. The agent's spotted requests for a secret
 * mask the customer's answer that follows.
 */
export function redactConversation<T extends TranscriptUtterance>(utterances: readonly T[], keywords: readonly SpottedTerm[]): T[] {
  const asks = keywords.filter((k) => k.channel === 'agent' && typeof k.term === 'string' && SECRET_TERMS.test(k.term) && typeof k.start === 'number').map((k) => k.start as number);
  return redactTranscript(utterances, asks);
}

const AUDIO_KEYS = /^(audio|pcm|wav|samples|waveform|recording)([A-Z_].*)?$/i;

/** A payload carried binary data: audio is never published, not even on request. */
export class AudioNotAllowedError extends Error {
  constructor(readonly path: string) {
    super(`binary data at ${path || '(top level)'}: raw audio is never published`);
    this.name = 'AudioNotAllowedError';
  }
}

/**
 * A transcript with a written form that is not text (a box's bug, or a stranger's record at the centre) cannot
 * be redacted as a conversation, and masking each string alone would miss an answer across turns: it is refused.
 */
export class UnreadableTranscriptError extends Error {
  override name = 'UnreadableTranscriptError';
}

const kindOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

/** Which field keeps a call's utterances and keywords from being read as one conversation, or null. */
function conversationProblem(utterances: unknown[], keywords: unknown): string | null {
  if (!Array.isArray(keywords)) return `keywords is ${kindOf(keywords)}, not a list`;
  const badTerm = keywords.findIndex((k) => k === null || typeof k !== 'object');
  if (badTerm >= 0) return `keywords[${badTerm}] is ${kindOf(keywords[badTerm])}, not a spotted term`;
  for (const [i, u] of utterances.entries()) {
    const { text, pinyin, words } = u as Record<string, unknown>;
    for (const [form, v] of [['text', text], ['pinyin', pinyin]] as const) if (v != null && typeof v !== 'string') return `utterances[${i}].${form} is ${kindOf(v)}, not text`;
    if (words != null && !(Array.isArray(words) && words.every((w) => typeof (w as { w?: unknown } | null)?.w === 'string'))) return `utterances[${i}].words is not a list of words`;
  }
  return null;
}

function walk(value: unknown, path: string): unknown {
  if (typeof value === 'string') return redact(value);
  if (value === null || typeof value !== 'object') return value;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) {
    throw new AudioNotAllowedError(path);
  }
  if (Array.isArray(value)) return value.map((v, i) => walk(v, `${path}[${i}]`));
  if (value instanceof Date) return value.toISOString();
  const out: Record<string, unknown> = {};
  // A call index: the customer's answers to the agent's requests for secrets are masked whole first.
  const utterances = (value as { utterances?: unknown }).utterances;
  if (Array.isArray(utterances) && utterances.every((u) => typeof (u as TranscriptUtterance)?.channel === 'string')) {
    const keywords = (value as { keywords?: unknown }).keywords ?? [];
    const problem = conversationProblem(utterances, keywords);
    if (problem) throw new UnreadableTranscriptError(path ? `${path}.${problem}` : problem);
    out.utterances = walk(redactConversation(utterances as TranscriptUtterance[], keywords as SpottedTerm[]), `${path}.utterances`);
  }
  // An utterance's words are published one by one; a number spoken as words is only visible across them.
  const words = (value as { words?: unknown }).words;
  if (Array.isArray(words) && words.length > 0 && words.every((w) => typeof (w as { w?: unknown })?.w === 'string')) {
    const masked = redactWords(words.map((w) => (w as { w: string }).w));
    out.words = words.map((w, i) => walk({ ...(w as object), w: masked[i] }, `${path}.words[${i}]`));
  }
  for (const [k, v] of Object.entries(value)) {
    if (AUDIO_KEYS.test(k) || k in out) continue;
    if (v === undefined || typeof v === 'function') continue;
    if (IDENTIFIER_KEYS.has(k) && typeof v === 'string') out[k] = v;
    else out[redact(k)] = walk(v, path ? `${path}.${k}` : k);
  }
  return out;
}

/** A redacted deep copy of `payload`, safe to store in the outbox and publish. */
export function sanitizeForUplink<T>(payload: T): T {
  return walk(payload, '') as T;
}

/**
 * The one seam between what the box knows and what may leave it. Every record goes through
 * `sanitizeForUplink` before it reaches the outbox (so nothing unredacted is ever stored for upload, logged
 * by the uplink, or published):
 * - every string value is passed through `redact` (card numbers, CVV, PIN, passwords, verification codes,
 *   resident ID numbers: see edge/redact.ts);
 * - audio never leaves: binary values (Buffer, typed arrays, ArrayBuffer) are refused outright, and fields
 *   whose name says audio (`audio`, `pcm`, `wav`, `samples`, …) are dropped.
 * Object keys are kept as they are (they are field names chosen by our code, not speech).
 */
import { redact } from '../redact.js';

const AUDIO_KEYS = /^(audio|pcm|wav|samples|waveform|recording)([A-Z_].*)?$/i;

/** A payload carried binary data: audio is never published, not even on request. */
export class AudioNotAllowedError extends Error {
  constructor(readonly path: string) {
    super(`binary data at ${path || '(top level)'}: raw audio is never published`);
    this.name = 'AudioNotAllowedError';
  }
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
  for (const [k, v] of Object.entries(value)) {
    if (AUDIO_KEYS.test(k)) continue;
    if (v === undefined || typeof v === 'function') continue;
    out[k] = walk(v, path ? `${path}.${k}` : k);
  }
  return out;
}

/** A redacted deep copy of `payload`, safe to store in the outbox and publish. */
export function sanitizeForUplink<T>(payload: T): T {
  return walk(payload, '') as T;
}

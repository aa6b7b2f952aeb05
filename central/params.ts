/**
 * Reading the centre's query strings: each value of a kind (a time, seconds, a count, a flag, …) read the
 * same way by every route, and each mistake a BadParameter naming the parameter, answered 400. Nothing
 * here touches Node: the pages import it too, to check a form before they send it.
 */

/** A parameter the caller got wrong: the API answers 400 with `error` and `parameter`. */
export class BadParameter extends Error {
  override name = 'BadParameter';
  constructor(readonly parameter: string, reason: string) {
    super(`${parameter}: ${reason}`);
  }
}

/** Reads one value of a parameter (never empty: a blank field is "not given" before a reader sees it). */
export type Reader<T = unknown> = (v: string, name: string) => T;

const MAX_TEXT = 200;
export const text: Reader<string> = (v, name) => {
  if (v.length > MAX_TEXT) throw new BadParameter(name, `at most ${MAX_TEXT} characters`);
  return v;
};

// With a zone, or a date alone (UTC midnight): a time without one would mean the server's local time.
const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;
/** Stored times are ISO UTC text, compared as text: a bound is normalised to the same form. */
export const time: Reader<string> = (v, name) => {
  const ms = Date.parse(v);
  // Date.parse rolls 2026-02-31 over to March: a date alone must read back as itself.
  if (!ISO.test(v) || !Number.isFinite(ms) || (v.length === 10 && new Date(ms).toISOString().slice(0, 10) !== v)) {
    throw new BadParameter(name, `not a date or a time with its zone (2026-12-04, 2026-12-04T10:00:00Z): ${v.slice(0, 40)}`);
  }
  return new Date(ms).toISOString();
};

export const seconds: Reader<number> = (v, name) => {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !Number.isFinite(n)) throw new BadParameter(name, `seconds, a number 0 or more: ${v.slice(0, 40)}`);
  return n;
};

export const count: Reader<number> = (v, name) => {
  if (!/^\d{1,6}$/.test(v)) throw new BadParameter(name, `a whole number 0 or more: ${v.slice(0, 40)}`);
  return Number(v);
};

/** A whole number from `min` to `max`. */
export const between =
  (min: number, max: number): Reader<number> =>
  (v, name) => {
    const n = Number(v);
    if (!/^-?\d{1,12}$/.test(v) || n < min || n > max) throw new BadParameter(name, `a whole number from ${min} to ${max}, not ${v.slice(0, 40)}`);
    return n;
  };

export const oneOf =
  <T extends string>(allowed: readonly T[]): Reader<T> =>
  (v, name) => {
    if (!(allowed as readonly string[]).includes(v)) throw new BadParameter(name, `one of ${allowed.join(', ')}, not ${v.slice(0, 40)}`);
    return v as T;
  };

export const bool: Reader<boolean> = (v, name) => {
  if (['true', '1', 'yes'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  throw new BadParameter(name, `true or false, not ${v.slice(0, 40)}`);
};

export const language: Reader<string> = (v, name) => {
  if (!/^[a-z]{2,3}(-[A-Za-z0-9]{1,8})?$/.test(v)) throw new BadParameter(name, `a language code (en, zh), not ${v.slice(0, 40)}`);
  return v;
};

/**
 * One parameter of a query string as Fastify parsed it (a repeated name is an array): undefined when absent
 * or left blank, else what `read` makes of it.
 */
export function optional<T>(query: Record<string, unknown>, name: string, read: Reader<T>): T | undefined {
  const raw = query[name];
  if (raw === undefined) return undefined;
  if (Array.isArray(raw)) throw new BadParameter(name, 'given more than once');
  if (typeof raw !== 'string') throw new BadParameter(name, 'not text');
  return raw === '' ? undefined : read(raw, name);
}

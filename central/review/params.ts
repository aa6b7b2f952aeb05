/**
 * Reading the review and figures routes' query strings: every mistake is a 400 naming the parameter, and a
 * site the caller may not see is a 404 (as if it did not exist), never a 403 that confirms it does.
 */
import type { FastifyReply } from 'fastify';
import { SEVERITIES } from '../../edge/rules/types.js';
import { mayseeSite, type Caller } from '../web/access.js';
import { AlertWithdrawnError, BadCursorError, type ReviewFilter } from './reviews.js';
import { BadParameter, between, optional, time } from '../params.js';

export class RequestError extends Error {
  constructor(readonly status: 400 | 404, message: string) {
    super(message);
  }
}

export type Query = Record<string, string | string[] | undefined>;

/** One value of a parameter given at most once; undefined when absent or empty. */
export function param(q: Query, name: string, maxLength = 200): string | undefined {
  return optional(q, name, (v) => {
    if (v.length > maxLength) throw new BadParameter(name, `longer than ${maxLength} characters`);
    return v;
  });
}

/** An ISO 8601 date or time, as ISO UTC text (how the store keeps times). */
export function timeParam(q: Query, name: string): string | undefined {
  return optional(q, name, time);
}

export function intParam(q: Query, name: string, min: number, max: number): number | undefined {
  return optional(q, name, between(min, max));
}

/** The sites a request looks at: the one it names (404 if not the caller's), else all the caller's. */
export function sitesOf(caller: Caller, site: string | undefined): readonly string[] | '*' {
  if (site === undefined) return caller.sites;
  if (!mayseeSite(caller, site)) throw new RequestError(404, `no site ${site}`);
  return [site];
}

const WEEK_MS = 7 * 86_400_000;

/**
 * The review filter of a query: site, rule, severity, from, to. With `defaultWeeks`, a missing `from` is
 * that many weeks before `to` (or now): figures over all time would read every alert ever stored.
 */
export function reviewFilter(q: Query, caller: Caller, defaultWeeks?: number): ReviewFilter {
  const severity = param(q, 'severity');
  if (severity !== undefined && !(SEVERITIES as readonly string[]).includes(severity)) throw new RequestError(400, `severity: one of ${SEVERITIES.join(', ')}, not ${severity}`);
  let from = timeParam(q, 'from');
  const to = timeParam(q, 'to') ?? (defaultWeeks !== undefined ? new Date().toISOString() : undefined);
  if (from === undefined && defaultWeeks !== undefined) from = new Date(Date.parse(to!) - defaultWeeks * WEEK_MS).toISOString();
  if (from !== undefined && to !== undefined && from >= to) throw new RequestError(400, `from (${from}) must be before to (${to})`);
  // A trend of years would be hundreds of points per rule: a year of weeks is plenty to read.
  if (defaultWeeks !== undefined && Date.parse(to!) - Date.parse(from!) > 106 * WEEK_MS) throw new RequestError(400, 'from .. to: at most two years');
  return { sites: sitesOf(caller, param(q, 'site')), rule: param(q, 'rule'), severity, from, to };
}

/** The filter as given, for the audit log of an export. */
export function filterDetail(f: ReviewFilter): Record<string, unknown> {
  return Object.fromEntries(Object.entries({ sites: f.sites, rule: f.rule, severity: f.severity, from: f.from, to: f.to }).filter(([, v]) => v !== undefined));
}

/** Runs a handler, answering a RequestError (or a bad cursor, or a verdict on a withdrawn alert) with its status and message. */
export async function answer<T>(reply: FastifyReply, fn: () => Promise<T>): Promise<T | FastifyReply> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof RequestError) return reply.code(err.status).send({ error: err.message });
    if (err instanceof BadParameter) return reply.code(400).send({ error: err.message, parameter: err.parameter });
    if (err instanceof BadCursorError) return reply.code(400).send({ error: err.message });
    // The alert exists and is the caller's to see; it is its state that forbids a verdict.
    if (err instanceof AlertWithdrawnError) return reply.code(409).send({ error: err.message });
    throw err;
  }
}

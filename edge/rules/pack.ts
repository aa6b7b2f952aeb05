import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject } from 'ajv';
import { isMap, isScalar, LineCounter, type Document, type Node as YamlNode } from 'yaml';
import { InputError } from '../../lib/errors.js';
import { lazy } from '../../lib/lazy.js';
import { printablePreview } from '../../lib/printable.js';
import { readYaml, YamlError } from '../../provisioning/config.js';
import { parseQuery, QuerySyntaxError, type QueryNode } from '../search/query.js';
import { GROWING_METRICS, type MetricName } from '../call/metrics.js';
import schema from './pack.schema.json' with { type: 'json' };
import { allPhrases } from './detector.js';
import { DETECTORS, SIGNAL_KINDS } from './detectors/index.js';
import { MAX_QUERY_NESTING, nestingBound } from './query-limits.js';
import type { CompiledRule, PackSpec, PhraseTuning, RuleOverrides, RuleSpec } from './types.js';

/**
 * A rule pack the box refuses: which file, which line, which rule, and why. The whole pack is refused, and
 * whatever pack was loaded from that file before stays in force.
 */
export class RulePackError extends InputError {
  constructor(
    readonly file: string,
    readonly line: number | null,
    readonly rule: string | null,
    readonly reason: string,
  ) {
    // A rule id or phrase from a garbled file can hold control characters: the refusal stays one printable line.
    super(printablePreview(`${file}${line !== null ? `:${line}` : ''}: ${rule ? `rule "${rule}": ` : ''}${reason}`, Infinity));
    this.name = 'RulePackError';
  }
}

export interface RulePack {
  name: string;
  file: string;
  description?: string;
  rules: CompiledRule[];
}

/** The schema, with `detector:` one of the registered signal detectors: a new kind needs no schema edit. */
function packSchema(): object {
  const s = structuredClone(schema) as typeof schema & { definitions: { rule: { properties: { detector: { enum?: string[] } } } } };
  s.definitions.rule.properties.detector.enum = [...SIGNAL_KINDS];
  return s;
}

const packValidator = lazy(() => new Ajv({ useDefaults: true, allErrors: true, strict: true }).compile<PackSpec>(packSchema()));

type PathKey = string | number;

/** Source positions of a parsed pack, to name the line of anything a check finds wrong. */
class Locator {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /** Line (1-based) of the node at `at`, or of its closest existing parent; of the key itself when `key` is given. */
  line(at: PathKey[], key?: string): number | null {
    for (let n = at.length; n >= 0; n--) {
      const node = this.doc.getIn(at.slice(0, n), true) as YamlNode | undefined;
      if (!node || !('range' in node) || !node.range) continue;
      if (n === at.length && key !== undefined && isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
        const keyNode = pair?.key as YamlNode | undefined;
        if (keyNode?.range) return this.lines.linePos(keyNode.range[0]).line;
      }
      return this.lines.linePos(node.range[0]).line;
    }
    return null;
  }

  /** The rule an error path is inside: its id when it has one, else `rules[i]`. */
  rule(at: PathKey[]): string | null {
    if (at[0] !== 'rules' || typeof at[1] !== 'number') return null;
    const id = this.doc.getIn(['rules', at[1], 'id']);
    return typeof id === 'string' && id !== '' ? id : `rules[${at[1]}]`;
  }
}

function describeAjv(error: ErrorObject): { at: PathKey[]; key?: string; reason: string } {
  const at: PathKey[] = error.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  const inRule = at[0] === 'rules' && typeof at[1] === 'number';
  const field = (inRule ? at.slice(2) : at).map((x, i) => (typeof x === 'number' ? `[${x}]` : `${i > 0 ? '.' : ''}${x}`)).join('');
  const where = field ? `${field}: ` : '';
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = (error.params as { additionalProperty: string }).additionalProperty;
      return { at, key, reason: `${where}unknown field "${key}"` };
    }
    case 'required':
      return { at, reason: `${where}missing required field "${(error.params as { missingProperty: string }).missingProperty}"` };
    case 'enum':
      return { at, reason: `${where}must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}` };
    default:
      return { at, reason: `${where}${error.message ?? 'invalid'}` };
  }
}

/** Repo's `rules/` folder, from source (edge/rules) or from the build (dist/edge/rules). */
function packsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../../rules'), path.resolve(here, '../../../rules')];
  return candidates.find((d) => existsSync(path.join(d, 'builtin.yml'))) ?? candidates[0];
}

/** The packs every box runs unless configured otherwise: the seed QA rules and the compliance/fraud pack. */
export function builtinPackFiles(): string[] {
  const dir = packsDir();
  return [path.join(dir, 'builtin.yml'), path.join(dir, 'compliance.yml')];
}

function collectTerms(node: QueryNode, out: Set<string>, negated = false): void {
  switch (node.type) {
    case 'term':
      if (!negated) out.add(node.text);
      return;
    case 'and':
    case 'or':
      return node.children.forEach((c) => collectTerms(c, out, negated));
    case 'not':
      // absent words are worth spotting too: a rule that wants "no goodbye" should hear a goodbye
      return collectTerms(node.child, out, negated);
    case 'near':
      collectTerms(node.left, out, negated);
      return collectTerms(node.right, out, negated);
    case 'scope':
    case 'window':
      return collectTerms(node.child, out, negated);
  }
}

function hasNode(node: QueryNode, test: (n: QueryNode) => boolean): boolean {
  if (test(node)) return true;
  switch (node.type) {
    case 'term':
      return false;
    case 'and':
    case 'or':
      return node.children.some((c) => hasNode(c, test));
    case 'near':
      return hasNode(node.left, test) || hasNode(node.right, test);
    default:
      return hasNode(node.child, test);
  }
}

/** Semantic checks the schema cannot express, and the rule compiled; throws RulePackError at the right line. */
function compileRule(spec: RuleSpec, i: number, pack: string, file: string, loc: Locator): CompiledRule {
  const base: PathKey[] = ['rules', i];
  const fail = (reason: string, at: PathKey[] = [], key?: string): never => {
    throw new RulePackError(file, loc.line([...base, ...at], key), spec.id, reason);
  };
  const hasPhrases = allPhrases(spec.phrases).length > 0;
  if (spec.phrases && !hasPhrases) fail('phrases: give at least one zh or en phrase', ['phrases']);
  if (spec.query !== undefined && spec.phrases) fail('give either phrases or query, not both', [], 'query');
  if (spec.near && !spec.phrases) fail('near: only goes with phrases (in a query, write NEAR/n yourself)', [], 'near');
  if (spec.near && allPhrases(spec.near.phrases).length === 0) fail('near.phrases: give at least one zh or en phrase', ['near', 'phrases']);

  const window = spec.when?.window;
  if (window?.from !== undefined && window.to !== undefined && window.from > window.to) fail('when.window: from is after to', ['when', 'window']);
  const metrics = spec.when?.metrics;
  for (const [name, bound] of Object.entries(metrics ?? {})) {
    if (bound?.min !== undefined && bound.max !== undefined && bound.min > bound.max) fail(`when.metrics.${name}: min is above max`, ['when', 'metrics', name]);
  }

  // A signal detector is named; a rule on words or figures is known by its fields.
  const kind = spec.detector ?? (spec.phrases ? 'phrase' : spec.query !== undefined ? 'query' : 'metrics');
  const detector = DETECTORS.get(kind);
  if (!detector) return fail(`detector: no detector "${kind}"`, [], 'detector');
  const compiled = detector.compile(spec, { fail });
  for (const key of Object.keys(spec.params ?? {})) {
    if (!(key in detector.params)) fail(`params: unknown parameter "${key}" for detector ${kind} (known: ${Object.keys(detector.params).join(', ')})`, ['params'], key);
  }
  const params = { ...detector.params, ...spec.params };
  const queryText = compiled.queryText;

  let query: QueryNode | undefined;
  const terms = new Set<string>();
  if (queryText !== undefined) {
    if (nestingBound(queryText) > MAX_QUERY_NESTING) {
      fail(`phrases make a query with more than ${MAX_QUERY_NESTING} brackets, NOTs and prefixes: nested too deep`, [], spec.phrases ? 'phrases' : 'query');
    }
    try {
      query = parseQuery(queryText);
    } catch (err) {
      // the phrases themselves made an unparsable query (e.g. an operator word alone)
      if (err instanceof QuerySyntaxError) fail(`phrases do not make a valid query: ${err.message} in ${queryText}`, [], spec.phrases ? 'phrases' : 'query');
      throw err;
    }
    collectTerms(query, terms);
  }
  for (const phrase of Object.keys(spec.tuning ?? {})) {
    if (!terms.has(phrase)) fail(`tuning: "${phrase}" is not one of this rule's phrases (${[...terms].join(', ')})`, ['tuning'], phrase);
  }
  const endOnlyMetric = Object.entries(metrics ?? {}).some(([name, b]) => b?.max !== undefined || !GROWING_METRICS.has(name as MetricName));
  const endOnlyQuery = query !== undefined && !spec.detector && hasNode(query, (n) => n.type === 'not' || (n.type === 'window' && n.edge === 'last'));
  const channel = spec.channel === 'any' ? undefined : (spec.channel ?? compiled.channel);
  return {
    id: spec.id,
    title: spec.title ?? spec.id,
    severity: spec.severity,
    enabled: spec.enabled ?? true,
    ...(channel ? { channel } : {}),
    pack,
    file,
    line: loc.line(base) ?? 0,
    kind,
    params,
    ...(query ? { query, queryText } : {}),
    terms: [...terms],
    tuning: groupedTuning([...terms], spec.tuning ?? {}, spec.spotterGroup),
    ...(window && (window.from !== undefined || window.to !== undefined) ? { window: { from: window.from, to: window.to } } : {}),
    ...(metrics ? { metrics } : {}),
    atEnd: endOnlyMetric || endOnlyQuery,
    cooldownSec: spec.cooldownSec ?? 0,
  };
}

/** Parses and checks a pack's text; every problem is a RulePackError naming `file`, the line and the rule. */
export function parseRulePack(text: string, file: string): RulePack {
  const lines = new LineCounter();
  let parsed: ReturnType<typeof readYaml>;
  try {
    parsed = readYaml(text, lines);
  } catch (err) {
    if (err instanceof YamlError) throw new RulePackError(file, err.line, null, err.message);
    throw err;
  }
  const { doc, data } = parsed;
  const loc = new Locator(doc, lines);
  const validate = packValidator();
  if (!validate(data)) {
    const problems = (validate.errors ?? []).map(describeAjv).map((p) => ({ ...p, line: loc.line(p.at, p.key), rule: loc.rule(p.at) }));
    problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    const first = problems[0];
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
    throw new RulePackError(file, first.line, first.rule, first.reason + more);
  }
  const seen = new Map<string, number>();
  const rules = data.rules.map((spec, i) => {
    const before = seen.get(spec.id);
    if (before !== undefined) throw new RulePackError(file, loc.line(['rules', i, 'id']), spec.id, `duplicate rule id (also at line ${before})`);
    seen.set(spec.id, loc.line(['rules', i, 'id']) ?? 0);
    return compileRule(spec, i, data.pack, file, loc);
  });
  return { name: data.pack, file, ...(data.description ? { description: data.description } : {}), rules };
}

export function loadRulePack(file: string): RulePack {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new RulePackError(file, null, null, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message);
  }
  return parseRulePack(text, file);
}

/** Applies the box configuration's per-rule changes; unknown rules or parameters are configuration errors. */
export function applyOverrides(rules: CompiledRule[], overrides: RuleOverrides = {}): CompiledRule[] {
  const byId = new Map(rules.map((r) => [r.id, r]));
  for (const [id, o] of Object.entries(overrides)) {
    const rule = byId.get(id);
    if (!rule) throw new Error(`rules.overrides.${id}: no loaded rule has this id (loaded: ${[...byId.keys()].join(', ')})`);
    for (const key of Object.keys(o.params ?? {})) {
      if (!(key in rule.params)) throw new Error(`rules.overrides.${id}.params.${key}: rule ${id} has no such parameter (it has: ${Object.keys(rule.params).join(', ') || 'none'})`);
    }
  }
  return rules.map((r) => {
    const o = overrides[r.id];
    if (!o) return r;
    return { ...r, enabled: o.enabled ?? r.enabled, severity: o.severity ?? r.severity, params: { ...r.params, ...o.params } };
  });
}

/**
 * The packs in force on a box, by file. Loading a pack again replaces it only if the new text is valid: a bad
 * pack throws RulePackError and the pack loaded before from that file keeps running.
 */
export class RulePackRegistry {
  private readonly packs = new Map<string, RulePack>();

  /** A registry with the built-in packs (rules/builtin.yml, rules/compliance.yml) loaded. */
  static withBuiltins(): RulePackRegistry {
    const registry = new RulePackRegistry();
    for (const file of builtinPackFiles()) registry.load(file);
    return registry;
  }

  load(file: string): RulePack {
    return this.add(loadRulePack(file));
  }

  /** A pack parsed from text (parseRulePack), e.g. a rule bundle tried before it is kept. */
  add(pack: RulePack): RulePack {
    const key = path.resolve(pack.file);
    // A rule id must be unique across packs: alerts are named after it.
    for (const [otherFile, other] of this.packs) {
      if (otherFile === key) continue;
      for (const rule of pack.rules) {
        if (other.rules.some((r) => r.id === rule.id)) {
          throw new RulePackError(pack.file, rule.line, rule.id, `rule id already defined by pack "${other.name}" (${other.file}); disable it there or pick another id`);
        }
      }
    }
    this.packs.set(key, pack);
    return pack;
  }

  get loaded(): RulePack[] {
    return [...this.packs.values()];
  }

  /** Every rule of every pack, in load order, with the configuration's overrides applied. */
  rules(overrides?: RuleOverrides): CompiledRule[] {
    return applyOverrides(this.loaded.flatMap((p) => p.rules), overrides);
  }
}

/** A rule's spotterGroup as each of its phrases' own setting, under any group a phrase's tuning names. */
function groupedTuning(terms: string[], tuning: Record<string, PhraseTuning>, group: string | undefined): Record<string, PhraseTuning> {
  if (group === undefined) return tuning;
  return Object.fromEntries(terms.map((term) => [term, { group, ...tuning[term] }]));
}

/**
 * How the enabled rules tune their phrases, over which a site's `watch.tuning` goes, setting by setting. A
 * phrase two rules tune differently gets the more sensitive setting of each (lower threshold, higher boost,
 * tolerance and hotword score; the spotter off only if every rule with the phrase turns it off): one rule's
 * recall must not be lost to another's caution. A phrase's spotter group is the first rule's to name one.
 */
export function phraseTuning(rules: CompiledRule[], site: Record<string, PhraseTuning> = {}): Record<string, PhraseTuning> {
  const out: Record<string, PhraseTuning> = {};
  for (const rule of rules.filter((r) => r.enabled)) {
    for (const [phrase, t] of Object.entries(rule.tuning)) {
      const o = (out[phrase] ??= {});
      if (t.threshold !== undefined) o.threshold = Math.min(o.threshold ?? 1, t.threshold);
      for (const k of ['boost', 'tolerance', 'hotword'] as const) if (t[k] !== undefined) o[k] = Math.max(o[k] ?? 0, t[k]);
      // One phrase is decoded by one spotter: the first rule (in load order) to group it decides.
      if (t.group !== undefined) o.group ??= t.group;
    }
  }
  for (const [phrase, o] of Object.entries(out)) {
    if (rules.every((r) => !r.enabled || !r.terms.includes(phrase) || r.tuning[phrase]?.spotter === false)) o.spotter = false;
  }
  for (const [phrase, t] of Object.entries(site)) out[phrase] = { ...out[phrase], ...t };
  return out;
}

/** Phrases the keyword spotters should listen for so the rules hear them (merge into config watch.phrases). */
export function watchPhrases(rules: CompiledRule[]): string[] {
  return [...new Set(rules.filter((r) => r.enabled).flatMap((r) => r.terms))];
}

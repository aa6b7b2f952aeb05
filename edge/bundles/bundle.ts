/**
 * Signed bundles (docs/bundles.md): a rule pack, a config fragment or a model manifest that reaches a box over
 * the command topic or from a file, signed by the centre with lib/signing.ts (the same trailing "sig" member as
 * acks and commands, so there is one signature format). A box applies one only when it verifies with a key
 * trusted at this moment (a list with not-before/not-after, for rotation), has not expired, is meant for this
 * box (site, floor or box list), is newer than the version of its kind in force, and its content passes the
 * validator that content would meet anyway (rule pack loader, config schema, model manifest). Anything else is
 * refused with one line saying why, and what was in force stays in force.
 */
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import { writeFileAtomic } from '../../lib/disk.js';
import { InputError } from '../../lib/errors.js';
import { parsePublicKey, signedParts, signJson, verifyJson } from '../../lib/signing.js';
import { parseManifest } from '../../models/manifest.js';
import { resolveConfig } from '../../provisioning/config.js';
import { parseRulePack } from '../rules/pack.js';

export const BUNDLE_SCHEMA = 'earshot/bundle@1';
export const BUNDLE_KINDS = ['rules', 'config', 'model-manifest'] as const;
export type BundleKind = (typeof BUNDLE_KINDS)[number];
/** A bundle is a few rule packs' worth; anything bigger is refused before it is parsed. */
export const MAX_BUNDLE_BYTES = 192 * 1024;

/** Who a bundle is for: a box matches when every list given names it (an empty target matches no box). */
export interface BundleTarget {
  sites?: string[];
  floors?: string[];
  boxes?: string[];
}

export interface Bundle {
  schema: typeof BUNDLE_SCHEMA;
  kind: BundleKind;
  /** only goes up, per kind */
  version: number;
  signedAt: string;
  expires: string;
  target: BundleTarget;
  /** rules: the pack's YAML text; config: an object of settings; model-manifest: the manifest object */
  content: unknown;
}

/** A bundle the box will not apply; the message is the one line the status and the CLI give. */
export class BundleRefused extends InputError {
  override name = 'BundleRefused';
  constructor(
    readonly reason: 'malformed' | 'unsigned' | 'untrusted' | 'key-not-valid' | 'expired' | 'not-for-this-box' | 'stale' | 'replayed' | 'invalid' | 'load-failed',
    message: string,
  ) {
    super(message);
  }
}

/** A key that signs bundles, trusted between its dates (epoch ms; absent: unbounded). */
export interface TrustedKey {
  key: KeyObject;
  notBefore?: number;
  notAfter?: number;
  /** names the key in refusals: `uplink.signing.bundleKeys[1]` */
  label: string;
}

/** uplink.signing.bundleKeys, or the centre's keys without dates when none are listed. */
export function trustedBundleKeys(signing: { centreKeys: string[]; bundleKeys: { key: string; notBefore?: string; notAfter?: string }[] }): TrustedKey[] {
  if (signing.bundleKeys.length === 0) return signing.centreKeys.map((text, i) => ({ key: parsePublicKey(text, `uplink.signing.centreKeys[${i}]`), label: `uplink.signing.centreKeys[${i}]` }));
  return signing.bundleKeys.map((k, i) => {
    const label = `uplink.signing.bundleKeys[${i}]`;
    const date = (v: string | undefined, name: string): number | undefined => {
      if (v === undefined) return undefined;
      const ms = Date.parse(v);
      if (!Number.isFinite(ms)) throw new InputError(`${label}.${name}: ${JSON.stringify(v)} is not a date (ISO 8601, e.g. 2027-01-01T00:00:00Z)`);
      return ms;
    };
    return { key: parsePublicKey(k.key, label), notBefore: date(k.notBefore, 'notBefore'), notAfter: date(k.notAfter, 'notAfter'), label };
  });
}

/** A bundle's text before it is signed, checked as a box would check it (shape and content). */
export function bundleBody(fields: Omit<Bundle, 'schema' | 'signedAt'> & { signedAt?: string }): string {
  const body: Bundle = { schema: BUNDLE_SCHEMA, kind: fields.kind, version: fields.version, signedAt: fields.signedAt ?? new Date().toISOString(), expires: fields.expires, target: fields.target, content: fields.content };
  const text = JSON.stringify(body);
  validateContent(readShape(Buffer.from(text)));
  return text;
}

/** A signed bundle's text. */
export function buildBundle(fields: Omit<Bundle, 'schema' | 'signedAt'> & { signedAt?: string }, key: KeyObject): string {
  return signJson(bundleBody(fields), key);
}

/** Signs a bundle body made by bundleBody (`earshot bundle build` without a key), checking it again first. */
export function signBundle(text: string, key: KeyObject): string {
  const payload = Buffer.from(text.trim());
  if (signedParts(payload)) throw new BundleRefused('malformed', 'bundle is already signed');
  validateContent(readShape(payload));
  return signJson(payload.toString('utf8'), key);
}

function isIdList(v: unknown): v is string[] {
  return Array.isArray(v) && v.length <= 4096 && v.every((x) => typeof x === 'string' && x.length > 0 && x.length <= 128);
}

/** The shape checks, before anything is trusted. */
function readShape(payload: Buffer): Bundle {
  if (payload.length > MAX_BUNDLE_BYTES) throw new BundleRefused('malformed', `bundle of ${payload.length} bytes is over the ${MAX_BUNDLE_BYTES}-byte limit`);
  let v: Partial<Bundle> & Record<string, unknown>;
  try {
    v = JSON.parse(payload.toString('utf8')) as typeof v;
  } catch (err) {
    throw new BundleRefused('malformed', `not a bundle: not JSON (${(err as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BundleRefused('malformed', 'not a bundle: not a JSON object');
  if (v.schema !== BUNDLE_SCHEMA) throw new BundleRefused('malformed', `not a bundle: schema ${JSON.stringify(v.schema ?? null)}, expected ${BUNDLE_SCHEMA}`);
  if (!BUNDLE_KINDS.includes(v.kind as BundleKind)) throw new BundleRefused('malformed', `bundle kind ${JSON.stringify(v.kind ?? null)} is not one of ${BUNDLE_KINDS.join(', ')}`);
  if (!Number.isSafeInteger(v.version) || (v.version as number) < 1) throw new BundleRefused('malformed', `bundle version ${JSON.stringify(v.version ?? null)} is not a whole number from 1`);
  for (const f of ['signedAt', 'expires'] as const) {
    if (typeof v[f] !== 'string' || !Number.isFinite(Date.parse(v[f]))) throw new BundleRefused('malformed', `bundle ${f} ${JSON.stringify(v[f] ?? null)} is not a date`);
  }
  const t = v.target;
  if (typeof t !== 'object' || t === null || Array.isArray(t) || Object.keys(t).some((k) => !['sites', 'floors', 'boxes'].includes(k)) || Object.values(t).some((l) => !isIdList(l))) {
    throw new BundleRefused('malformed', 'bundle target must be an object of sites, floors and/or boxes, each a list of names');
  }
  if (!('content' in v)) throw new BundleRefused('malformed', 'bundle has no content');
  return v as Bundle;
}

/** Throws BundleRefused('invalid') when the content would not load; the validators are the ones the box uses on files. */
function validateContent(b: Pick<Bundle, 'kind' | 'version' | 'content'>): void {
  const where = `${b.kind} bundle v${b.version}`;
  try {
    switch (b.kind) {
      case 'rules':
        if (typeof b.content !== 'string') throw new InputError('content must be the rule pack text (YAML)');
        parseRulePack(b.content, where);
        return;
      case 'config':
        if (typeof b.content !== 'object' || b.content === null || Array.isArray(b.content)) throw new InputError('content must be an object of settings');
        resolveConfig(b.content, where);
        return;
      case 'model-manifest':
        parseManifest(b.content, where);
        return;
    }
  } catch (err) {
    const msg = (err as Error).message;
    throw new BundleRefused('invalid', msg.startsWith(where) ? msg : `${where}: ${msg}`);
  }
}

export interface BoxIdentity {
  site: string;
  floor: string;
  box: string;
}

function targetProblem(t: BundleTarget, me: BoxIdentity): string | null {
  const lists = Object.entries(t).filter(([, l]) => l !== undefined) as [string, string[]][];
  if (lists.length === 0) return 'its target names no site, floor or box';
  const mine: Record<string, string> = { sites: me.site, floors: me.floor, boxes: me.box };
  const miss = lists.find(([k, l]) => !l.includes(mine[k]));
  if (!miss) return null;
  return `it is for ${miss[0]} ${miss[1].slice(0, 8).join(', ')}${miss[1].length > 8 ? ', …' : ''}, not this box (site ${me.site}, floor ${me.floor || '(none)'}, box ${me.box})`;
}

/**
 * The bundle in `payload` if this box may apply it now, else BundleRefused naming why. `inForce`: the highest
 * version of each kind applied so far.
 */
export function checkBundle(payload: Buffer, keys: readonly TrustedKey[], me: BoxIdentity, inForce: Partial<Record<BundleKind, number>>, nowMs = Date.now()): Bundle {
  const b = readShape(payload);
  if (!signedParts(payload)) throw new BundleRefused('unsigned', `unsigned ${b.kind} bundle v${b.version}: a box applies only bundles signed by a trusted key (earshot bundle sign)`);
  if (keys.length === 0) throw new BundleRefused('untrusted', `${b.kind} bundle v${b.version} not applied: this box trusts no bundle key (uplink.signing.bundleKeys or centreKeys)`);
  const signer = keys.find((k) => verifyJson(payload, [k.key]));
  if (!signer) throw new BundleRefused('untrusted', `${b.kind} bundle v${b.version} is signed by a key this box does not trust (uplink.signing.bundleKeys)`);
  const iso = (ms: number): string => new Date(ms).toISOString();
  if (signer.notBefore !== undefined && nowMs < signer.notBefore) throw new BundleRefused('key-not-valid', `${b.kind} bundle v${b.version} is signed by ${signer.label}, which is trusted only from ${iso(signer.notBefore)}`);
  if (signer.notAfter !== undefined && nowMs > signer.notAfter) throw new BundleRefused('key-not-valid', `${b.kind} bundle v${b.version} is signed by ${signer.label}, which was trusted only until ${iso(signer.notAfter)}`);
  if (Date.parse(b.expires) <= nowMs) throw new BundleRefused('expired', `${b.kind} bundle v${b.version} expired at ${b.expires} (box clock ${iso(nowMs)}: if that is wrong, check NTP)`);
  const off = targetProblem(b.target, me);
  if (off) throw new BundleRefused('not-for-this-box', `${b.kind} bundle v${b.version} not applied: ${off}`);
  const current = inForce[b.kind] ?? 0;
  if (b.version === current) throw new BundleRefused('replayed', `${b.kind} bundle v${b.version} is already in force (a replay)`);
  if (b.version < current) throw new BundleRefused('stale', `${b.kind} bundle v${b.version} is older than v${current} in force (versions only go up)`);
  validateContent(b);
  return b;
}

/** What came of a bundle applied on a running box: settings kept but waiting for a restart, anything that did not take. */
export interface BundleEffect {
  /** config keys whose new value runs only from the agent's next start (docs/bundles.md "When it takes effect") */
  pendingRestart?: string[];
  /** kept, but not put in force everywhere (the lines named keep what they had until the next start) */
  problem?: string;
}

/**
 * What a running agent does with a bundle that passed its checks (edge/run/live-bundles.ts). `prepare` tries
 * it against what runs now and throws (refused `load-failed`, nothing written) when it would not load; the
 * function it returns puts it in force once it is on disk.
 */
export interface BundleHandler {
  prepare(b: Bundle): Promise<() => Promise<BundleEffect>>;
}

/** What the box keeps of each kind: the version in force and when it was applied. */
export interface AppliedBundle {
  version: number;
  appliedAt: string;
  expires: string;
}
export type BundleVersions = Partial<Record<BundleKind, AppliedBundle>>;

const CONTENT_FILE: Record<BundleKind, string> = { rules: 'rules.yml', config: 'config.json', 'model-manifest': 'model.json' };
const STATE_FILE = 'state.json';

/** Where a kind's content in force is kept under `dir` (uplink.signing.bundleDir); the file exists once one was applied. */
export function bundleContentFile(dir: string, kind: BundleKind): string {
  return path.join(dir, CONTENT_FILE[kind]);
}

/**
 * The bundles applied on this box, on its disk: each kind's content in a file of its own and the highest
 * version of each in state.json (written last, atomically), so a restart remembers what a replay would undo.
 */
export class BundleStore {
  private versions: BundleVersions = {};

  constructor(
    readonly dir: string,
    private readonly keys: readonly TrustedKey[],
    readonly me: BoxIdentity,
  ) {}

  /** Reads state.json (at start-up, before anything is received); a box with none has applied nothing yet. */
  open(): this {
    let text: string;
    try {
      text = readFileSync(path.join(this.dir, STATE_FILE), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this;
      throw err;
    }
    try {
      this.versions = JSON.parse(text) as BundleVersions;
    } catch {
      // Never start from zero on a garbled file: that would let every old bundle be replayed.
      throw new InputError(`${path.join(this.dir, STATE_FILE)}: not JSON; the applied bundle versions cannot be known (restore it, or remove it to accept any version again)`);
    }
    return this;
  }

  /** Each kind in force: version, when applied, when it expires (what the status reports). */
  get applied(): BundleVersions {
    return { ...this.versions };
  }

  /** Version in force per kind. */
  get inForce(): Partial<Record<BundleKind, number>> {
    return Object.fromEntries(Object.entries(this.versions).map(([k, v]) => [k, v.version]));
  }

  /** The file holding a kind's content in force, or null when none was applied. */
  contentFile(kind: BundleKind): string | null {
    return this.versions[kind] ? bundleContentFile(this.dir, kind) : null;
  }

  /** The bundle if this box would apply it now, else BundleRefused: `earshot bundle verify`. */
  check(payload: Buffer, nowMs = Date.now()): Bundle {
    return checkBundle(payload, this.keys, this.me, this.inForce, nowMs);
  }

  /**
   * Checks and applies a bundle; throws BundleRefused (nothing written) or a disk error (state unchanged).
   * `handler`: a running agent's, which tries the bundle before it is written and puts it in force after.
   */
  async apply(payload: Buffer, nowMs = Date.now(), handler?: BundleHandler): Promise<{ bundle: Bundle; effect: BundleEffect }> {
    const b = this.check(payload, nowMs);
    let commit: (() => Promise<BundleEffect>) | undefined;
    try {
      commit = await handler?.prepare(b);
    } catch (err) {
      const current = this.inForce[b.kind];
      throw new BundleRefused('load-failed', `${b.kind} bundle v${b.version} not applied, ${current ? `v${current}` : 'what ran before'} stays in force: ${(err as Error).message}`);
    }
    await mkdir(this.dir, { recursive: true });
    const content = typeof b.content === 'string' ? b.content : JSON.stringify(b.content, null, 2) + '\n';
    await writeFileAtomic(bundleContentFile(this.dir, b.kind), content);
    const next: BundleVersions = { ...this.versions, [b.kind]: { version: b.version, appliedAt: new Date(nowMs).toISOString(), expires: b.expires } };
    await writeFileAtomic(path.join(this.dir, STATE_FILE), JSON.stringify(next, null, 2) + '\n');
    this.versions = next;
    // Kept on disk whatever happens next: it is in force from the next start at the latest.
    const effect = await (commit?.() ?? Promise.resolve({})).catch((err: Error): BundleEffect => ({ problem: `${b.kind} bundle v${b.version} kept but not in force everywhere: ${err.message}` }));
    return { bundle: b, effect };
  }
}

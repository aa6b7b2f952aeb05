/**
 * Signed bundles (edge/bundles/bundle.ts, docs/bundles.md): what a box refuses and why, what it applies and
 * that the rules it runs then change, that a refused bundle leaves the one in force, that a replay is refused
 * after a restart, and key rotation through not-before/not-after.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateKey } from 'node:crypto';
import { generateSigningKey, parsePublicKey, signJson } from '../lib/signing.js';
import { BundleRefused, BundleStore, buildBundle, trustedBundleKeys, type BoxIdentity, type Bundle, type TrustedKey } from '../edge/bundles/bundle.js';
import { defaultConfig } from '../provisioning/config.js';
import { loadRules } from '../edge/rules/setup.js';
import { RuleEngine } from '../edge/rules/engine.js';
import type { PipelineEvent } from '../edge/events.js';
import { tempDir } from './support/temp.js';

const centre = generateSigningKey();
const centreKey = createPrivateKey(centre.privatePem);
const stranger = createPrivateKey(generateSigningKey().privatePem);
const keys: TrustedKey[] = [{ key: parsePublicKey(centre.publicKey, 'centre'), label: 'centre' }];
const me: BoxIdentity = { site: 'lyon', floor: 'f2', box: 'box-7' };
const NOW = Date.parse('2026-12-06T12:00:00Z');
const DAY = 86_400_000;

const pack = (id: string, phrase: string): string => `pack: site-extra\nrules:\n  - id: ${id}\n    title: Agent says ${phrase}\n    severity: warning\n    channel: agent\n    phrases:\n      en: ["${phrase}"]\n`;

function rulesBundle(version: number, over: Partial<Omit<Bundle, 'schema'>> = {}, key = centreKey): Buffer {
  return Buffer.from(
    buildBundle({ kind: 'rules', version, signedAt: new Date(NOW - 60_000).toISOString(), expires: new Date(NOW + DAY).toISOString(), target: { sites: ['lyon'] }, content: pack('flux-phrase', 'flux capacitor'), ...over }, key),
  );
}

const store = async (dir: string, trusted = keys): Promise<BundleStore> => new BundleStore(dir, trusted, me).open();

async function refusal(s: BundleStore, payload: Buffer, now = NOW): Promise<BundleRefused> {
  try {
    await s.apply(payload, now);
  } catch (err) {
    if (err instanceof BundleRefused) return err;
    throw err;
  }
  throw new Error('bundle was applied');
}

/** One agent utterance in a call, through the rules the box would load, as the pipeline reports it. */
function alertsFor(dir: string, text: string): string[] {
  const config = defaultConfig();
  config.uplink.signing.bundleDir = dir;
  const { rules, watch } = loadRules(config);
  const engine = new RuleEngine(rules, { decisionLagSec: 0.8 });
  const ws = text.split(' ');
  const events: PipelineEvent[] = [
    { type: 'utterance.start', channel: 'agent', start: 1, emittedAt: 1.3 },
    { type: 'utterance.end', channel: 'agent', start: 1, end: 4, loudnessDb: -25, f0Hz: 150, emittedAt: 4.5 },
    { type: 'words', channel: 'agent', language: 'en', script: 'latin', start: 1, end: 4, text, words: ws.map((w, i) => ({ w, start: 1 + i * 0.5, end: 1.5 + i * 0.5, conf: 0.9 })), confidence: 0.9, emittedAt: 4.9 },
    { type: 'call.end', durationSec: 10, emittedAt: 10 },
  ];
  const alerts = events.flatMap((e) => engine.push(e)).concat(engine.finish());
  // the spotters are told to listen for the bundle's phrase as well
  if (!watch.phrases.includes('flux capacitor') && alerts.some((a) => a.rule === 'flux-phrase')) throw new Error('rule without its phrase watched');
  return alerts.map((a) => a.rule);
}

t.test('a valid rule pack bundle takes effect: a call afterwards raises its alert, and the status reports its version', async (t) => {
  const dir = tempDir('bundles');
  const s = await store(dir);
  const said = 'the flux capacitor is broken';
  t.notOk(alertsFor(dir, said).includes('flux-phrase'), 'no alert before the bundle');
  const applied = await s.apply(rulesBundle(1), NOW);
  t.equal(applied.bundle.version, 1);
  t.ok(alertsFor(dir, said).includes('flux-phrase'), 'the new phrase rule alerts');
  t.same(s.inForce, { rules: 1 });
  t.same(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).rules.version, 1, 'the version is kept on disk');
});

t.test('each refusal names why, and nothing changes', async (t) => {
  const dir = tempDir('bundles');
  const s = await store(dir);
  await s.apply(rulesBundle(5), NOW);
  const before = readFileSync(join(dir, 'rules.yml'), 'utf8');
  const unsigned = Buffer.from(rulesBundle(6).toString().replace(/,"sig":"[^"]+"}$/, '}'));
  const cases: [string, Buffer, BundleRefused['reason'], RegExp][] = [
    ['unsigned', unsigned, 'unsigned', /^unsigned rules bundle v6: a box applies only bundles signed by a trusted key/],
    ['signed by a stranger', rulesBundle(6, {}, stranger), 'untrusted', /^rules bundle v6 is signed by a key this box does not trust/],
    ['expired', rulesBundle(6, { expires: new Date(NOW - 1000).toISOString() }), 'expired', /^rules bundle v6 expired at 2026-12-06T11:59:59.000Z \(box clock 2026-12-06T12:00:00.000Z/],
    ['for another site', rulesBundle(6, { target: { sites: ['paris'] } }), 'not-for-this-box', /^rules bundle v6 not applied: it is for sites paris, not this box \(site lyon, floor f2, box box-7\)/],
    ['for another floor', rulesBundle(6, { target: { sites: ['lyon'], floors: ['f1'] } }), 'not-for-this-box', /it is for floors f1, not this box/],
    ['for other boxes', rulesBundle(6, { target: { boxes: ['box-1', 'box-2'] } }), 'not-for-this-box', /it is for boxes box-1, box-2, not this box/],
    ['replayed', rulesBundle(5), 'replayed', /^rules bundle v5 is already in force \(a replay\)/],
    ['stale', rulesBundle(4), 'stale', /^rules bundle v4 is older than v5 in force \(versions only go up\)/],
    ['tampered after signing', Buffer.from(rulesBundle(6).toString().replace('"version":6', '"version":9')), 'untrusted', /not trust/],
    ['not a bundle', Buffer.from('{"cmd":"stats"}'), 'malformed', /^not a bundle: schema null, expected earshot\/bundle@1/],
  ];
  for (const [name, payload, reason, message] of cases) {
    const r = await refusal(s, payload);
    t.equal(r.reason, reason, name);
    t.match(r.message, message, name);
  }
  t.same(s.inForce, { rules: 5 }, 'version 5 still in force');
  t.equal(readFileSync(join(dir, 'rules.yml'), 'utf8'), before, 'its pack unchanged');
  t.equal((await refusal(s, rulesBundle(6, { target: {} }))).message, 'rules bundle v6 not applied: its target names no site, floor or box', 'an empty target is for nobody');
});

t.test('a replay is refused after a restart: the version in force is read back from disk', async (t) => {
  const dir = tempDir('bundles');
  const v3 = rulesBundle(3);
  await (await store(dir)).apply(v3, NOW);
  const restarted = await store(dir);
  t.same(restarted.inForce, { rules: 3 });
  t.equal((await refusal(restarted, v3)).reason, 'replayed');
  t.equal((await refusal(restarted, rulesBundle(2))).reason, 'stale');
});

t.test('a bundle that fails validation is refused and the previous pack stays in force', async (t) => {
  const dir = tempDir('bundles');
  const s = await store(dir);
  await s.apply(rulesBundle(1), NOW);
  // Signed by hand so that buildBundle's own check does not stop it first: a centre with another build could send it.
  const body = { schema: 'earshot/bundle@1', kind: 'rules', version: 2, signedAt: new Date(NOW).toISOString(), expires: new Date(NOW + DAY).toISOString(), target: { boxes: ['box-7'] }, content: 'pack: broken\nrules:\n  - id: no-phrases\n    severity: loud\n' };
  const r = await refusal(s, Buffer.from(signJson(JSON.stringify(body), centreKey)));
  t.equal(r.reason, 'invalid');
  t.match(r.message, /^rules bundle v2:\d+: rule "no-phrases": /, 'the rule pack loader says where');
  t.same(s.inForce, { rules: 1 });
  t.ok(alertsFor(dir, 'the flux capacitor is broken').includes('flux-phrase'), 'the v1 rule still alerts');
  t.throws(() => buildBundle({ kind: 'rules', version: 2, expires: body.expires, target: body.target, content: body.content }, centreKey), BundleRefused, 'the CLI refuses to sign it in the first place');
});

t.test('config fragments and model manifests are checked by their own validators', async (t) => {
  const dir = tempDir('bundles');
  const s = await store(dir);
  const common = { signedAt: new Date(NOW).toISOString(), expires: new Date(NOW + DAY).toISOString(), target: { sites: ['lyon'] } };
  const signed = (body: object): Buffer => Buffer.from(signJson(JSON.stringify({ schema: 'earshot/bundle@1', ...common, ...body }), centreKey));
  t.match((await refusal(s, signed({ kind: 'config', version: 1, content: { watch: { treshold: 0.3 } } }))).message, /^config bundle v1: .*unknown setting "treshold"/);
  await s.apply(signed({ kind: 'config', version: 1, content: { watch: { threshold: 0.3 } } }), NOW);
  const manifest = JSON.parse(readFileSync('models/manifests/denoise-gtcrn/model.json', 'utf8')) as Record<string, unknown>;
  t.match((await refusal(s, signed({ kind: 'model-manifest', version: 1, content: { ...manifest, sampleRate: 8000 } }))).message, /unsupported sample rate 8000 Hz/);
  await s.apply(signed({ kind: 'model-manifest', version: 1, content: manifest }), NOW);
  t.same(s.inForce, { config: 1, 'model-manifest': 1 }, 'versions are per kind');
});

t.test('key rotation: each key is trusted only between its not-before and not-after', async (t) => {
  const next = generateSigningKey();
  const nextKey = createPrivateKey(next.privatePem);
  const trusted = trustedBundleKeys({
    centreKeys: [],
    bundleKeys: [
      { key: centre.publicKey, notAfter: '2026-12-31T00:00:00Z' },
      { key: next.publicKey, notBefore: '2026-12-20T00:00:00Z' },
    ],
  });
  const dir = tempDir('bundles');
  const s = await store(dir, trusted);
  const at = (iso: string): number => Date.parse(iso);
  const far = { expires: '2027-06-01T00:00:00Z' };
  let r = await refusal(s, rulesBundle(1, far, nextKey), at('2026-12-10T00:00:00Z'));
  t.equal(r.reason, 'key-not-valid');
  t.equal(r.message, 'rules bundle v1 is signed by uplink.signing.bundleKeys[1], which is trusted only from 2026-12-20T00:00:00.000Z');
  await s.apply(rulesBundle(1, far, centreKey), at('2026-12-10T00:00:00Z'));
  await s.apply(rulesBundle(2, far, nextKey), at('2026-12-25T00:00:00Z'));
  t.same(s.inForce, { rules: 2 }, 'both keys trusted while they overlap');
  r = await refusal(s, rulesBundle(3, far, centreKey), at('2027-01-05T00:00:00Z'));
  t.equal(r.message, 'rules bundle v3 is signed by uplink.signing.bundleKeys[0], which was trusted only until 2026-12-31T00:00:00.000Z');
  await s.apply(rulesBundle(3, far, nextKey), at('2027-01-05T00:00:00Z'));
  t.same(s.inForce, { rules: 3 });
  t.throws(() => trustedBundleKeys({ centreKeys: [], bundleKeys: [{ key: next.publicKey, notBefore: 'soon' }] }), /uplink.signing.bundleKeys\[0\].notBefore: "soon" is not a date/);
  t.equal(trustedBundleKeys({ centreKeys: [centre.publicKey], bundleKeys: [] }).length, 1, 'no bundle keys: the centre keys sign bundles');
});

t.test('a garbled state file stops the store rather than forgetting the versions', async (t) => {
  const dir = tempDir('bundles');
  writeFileSync(join(dir, 'state.json'), '{"rules":');
  await t.rejects(store(dir), /state.json: not JSON; the applied bundle versions cannot be known/);
});

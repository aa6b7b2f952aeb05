/**
 * lib/signing.ts: what a stranger on the broker can and cannot do with a signed payload, and the key files
 * the box and the centre keep.
 */
import t from 'tap';
import { chmodSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { freshnessProblem, generateSigningKey, KeyError, loadPrivateKey, parsePublicKey, publicKeyText, signedParts, signJson, verifyJson, writePrivateKey } from '../lib/signing.js';
import { tempDir } from './support/temp.js';

const centre = generateSigningKey();
const centreKey = createPrivateKey(centre.privatePem);
const centrePub = parsePublicKey(centre.publicKey, 'test');
const stranger = createPrivateKey(generateSigningKey().privatePem);

const ack = '{"schema":"earshot/ack@2","box":"box-7","site":"s1","at":"2026-12-05T00:00:00.000Z","ranges":[[1,300]]}';

t.test('a signed payload is the same JSON plus its signature, and verifies with the signer key only', async (t) => {
  const signed = signJson(ack, centreKey);
  const parsed = JSON.parse(signed) as Record<string, unknown>;
  t.same({ ...parsed, sig: undefined }, { ...JSON.parse(ack), sig: undefined }, 'every field as it was');
  t.match(parsed.sig, /^[A-Za-z0-9+/]{86}==$/);
  t.ok(verifyJson(Buffer.from(signed), [centrePub]));
  t.notOk(verifyJson(Buffer.from(signJson(ack, stranger)), [centrePub]), 'signed by a stranger');
  t.ok(verifyJson(Buffer.from(signed), [parsePublicKey(generateSigningKey().publicKey, 'old'), centrePub]), 'any of several trusted keys');
  t.notOk(verifyJson(Buffer.from(signed), []), 'no trusted key: nothing verifies');
});

t.test('a forger cannot change what a signature covers', async (t) => {
  const signed = signJson(ack, centreKey);
  const variants = {
    'wider range': signed.replace('[[1,300]]', '[[1,1000000]]'),
    'other box': signed.replace('"box-7"', '"box-8"'),
    'an added member': signed.replace('{"schema"', '{"x":1,"schema"'),
    'spaces in the tail': signed.replace(',"sig":"', ', "sig":"'),
    'a member after the signature': `${signed.slice(0, -1)},"ranges":[[1,999]]}`,
    'the signature flipped': signed.replace(/"sig":"(.)/, (_m, c: string) => `"sig":"${c === 'A' ? 'B' : 'A'}`),
    'no signature': ack,
    'a truncated signature': signed.replace(/=="}$/, '"}'),
  };
  for (const [what, text] of Object.entries(variants)) t.notOk(verifyJson(Buffer.from(text), [centrePub]), what);
});

t.test('signedParts finds the signed bytes without re-serialising the payload', async (t) => {
  // Escapes and spacing a re-serialisation would change.
  const text = '{"schema":"earshot/record@2", "data":{"w":"caf\\u00e9","n":1.50}}';
  const signed = signJson(text, centreKey);
  t.equal(signedParts(Buffer.from(signed))?.bytes.toString(), text);
  t.ok(verifyJson(Buffer.from(signed), [centrePub]));
  t.equal(signedParts(Buffer.from('{"sig":"x"}')), null);
  t.throws(() => signJson('{}', centreKey), TypeError, 'an object with no member has nowhere to put a signature');
});

t.test('freshness: within the window either side, refused outside it with the reason', async (t) => {
  const now = Date.parse('2026-12-05T01:00:00Z');
  t.equal(freshnessProblem('2026-12-05T00:58:00Z', now, 300), null);
  t.equal(freshnessProblem('2026-12-05T01:04:00Z', now, 300), null, 'a signer clock a little ahead');
  t.match(freshnessProblem('2026-12-05T00:50:00Z', now, 300), /600 s old, outside the 300 s window/);
  t.match(freshnessProblem('2026-12-05T02:00:00Z', now, 300), /3600 s in the future/);
  t.match(freshnessProblem('yesterday', now, 300), /not a date/);
});

t.test('key files: written 0600 and never over another, loaded only when private to the owner', async (t) => {
  const dir = tempDir('keys');
  const path = join(dir, 'box.key');
  const { privatePem, publicKey } = generateSigningKey();
  writePrivateKey(path, privatePem);
  t.equal(statSync(path).mode & 0o777, 0o600);
  t.throws(() => writePrivateKey(path, privatePem), { name: 'KeyError', message: /already exists; not replaced/ });
  t.equal(publicKeyText(loadPrivateKey(path)), publicKey, 'the public line belongs to the key written');

  chmodSync(path, 0o644);
  t.throws(() => loadPrivateKey(path), { name: 'KeyError', message: `${path}: signing key has mode 0644, readable or writable by others: chmod 600 ${path}` });
  chmodSync(path, 0o600);
  t.throws(() => loadPrivateKey(join(dir, 'missing.key')), { message: /missing\.key: cannot read the signing key \(ENOENT\)/ });

  const garbled = join(dir, 'garbled.key');
  writeFileSync(garbled, '-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n', { mode: 0o600 });
  t.throws(() => loadPrivateKey(garbled), { message: `${garbled}: not a PEM private key` });

  const rsa = join(dir, 'rsa.key');
  writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  t.throws(() => loadPrivateKey(rsa), { message: /a rsa key, not Ed25519/ });
});

t.test('public keys: one line of base64 or PEM; anything else is one clear error', async (t) => {
  const pem = parsePublicKey(centre.publicKey, 'x').export({ type: 'spki', format: 'pem' }) as string;
  t.equal(publicKeyText(parsePublicKey(pem, 'pem')), centre.publicKey);
  t.throws(() => parsePublicKey('bm90IGEga2V5', 'uplink.signing.centreKeys[0]'), KeyError);
  t.throws(() => parsePublicKey('bm90IGEga2V5', 'uplink.signing.centreKeys[0]'), { message: /^uplink\.signing\.centreKeys\[0\]: not a public key/ });
});

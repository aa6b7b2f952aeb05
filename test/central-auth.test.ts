/**
 * The pieces of accounts that need no store: scrypt password hashes (parameters in the string, a salt per
 * hash, a hash of anything else never matching), generated passwords, the CSRF comparison, and where the
 * sign-in page may send a browser next.
 */
import t from 'tap';
import { generatePassword, hashPassword, needsRehash, passwordProblem, verifyPassword } from '../central/auth/password.js';
import { csrfMatches } from '../central/auth/sessions.js';
import { safeNext } from '../central/web/client/next.js';
import { checkSites } from '../central/auth/users.js';

t.test('scrypt hashes: the default parameters are in the string; each hash has its own salt; only the password matches', async (t) => {
  const t0 = performance.now();
  const h = await hashPassword('correct horse battery staple');
  t.comment(`one hash with the default parameters: ${(performance.now() - t0).toFixed(0)} ms here`);
  t.match(h, /^\$scrypt\$ln=15,r=8,p=3\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/, 'N=2^15, r=8, p=3, 16-byte salt, 32-byte key');
  t.ok(await verifyPassword('correct horse battery staple', h), 'verified with the parameters the string names');
  // The rest at a cost a test can repeat: the parameters come from the string either way.
  const cheap = { ln: 10, r: 8, p: 1 };
  const c = await hashPassword('correct horse battery staple', cheap);
  t.notOk(await verifyPassword('correct horse battery staplE', c), 'one letter off');
  t.notOk(await verifyPassword('', c));
  const again = await hashPassword('correct horse battery staple', cheap);
  t.not(again, c, 'the same password hashes differently (its own salt)');
  t.ok(await verifyPassword('correct horse battery staple', again));
  // Unicode is normalised: the same word typed on another keyboard (composed or not) is the same password.
  t.ok(await verifyPassword('caf\u00e9 au lait please', await hashPassword('cafe\u0301 au lait please', cheap)));
});

t.test('a stored string that is not one of our hashes matches nothing', async (t) => {
  const h = await hashPassword('a long enough password', { ln: 10, r: 8, p: 1 });
  const [, , params, salt, key] = h.split('$');
  for (const bad of ['', 'plaintext', `$scrypt$${params}$${salt}$`, `$scrypt$ln=40,r=8,p=1$${salt}$${key}`, `$argon2id$v=19$${salt}$${key}`, `$scrypt$${params}$${salt}$${key.slice(0, 10)}`]) {
    t.notOk(await verifyPassword('a long enough password', bad), `refused: ${JSON.stringify(bad.slice(0, 40))}`);
  }
  const flipped = `$scrypt$${params}$${salt}$${key[0] === 'A' ? 'B' : 'A'}${key.slice(1)}`;
  t.notOk(await verifyPassword('a long enough password', flipped), 'a hash with one character changed');
});

t.test('parameters raised later: older hashes are marked for making again', async (t) => {
  const old = await hashPassword('a long enough password', { ln: 10, r: 8, p: 1 });
  t.ok(needsRehash(old), 'ln=10 < the default');
  t.notOk(needsRehash(old, { ln: 10, r: 8, p: 1 }), 'at the parameters it was made with');
  t.ok(needsRehash(old, { ln: 10, r: 8, p: 2 }), 'more parallel work');
  t.notOk(needsRehash('$scrypt$ln=15,r=8,p=3$c2FsdHNhbHRzYWx0c2FsdA$' + 'k'.repeat(43)), 'a default hash is current');
  t.ok(needsRehash('garbage'));
});

t.test('new passwords: at least 10 characters; generated ones are 21 unambiguous letters and digits', async (t) => {
  t.match(passwordProblem('short'), /at least 10/);
  t.equal(passwordProblem('ten chars!'), null);
  t.equal(passwordProblem('密码'.repeat(5)), null, 'counted in characters, not bytes');
  t.match(passwordProblem('x'.repeat(1025)), /at most 1024/);
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const p = generatePassword();
    t.match(p, /^[a-km-zA-HJ-NP-Z2-9]{21}$/);
    seen.add(p);
  }
  t.equal(seen.size, 200, 'no two alike');
});

t.test('CSRF tokens compare whole, whatever is sent', async (t) => {
  const token = 'k'.repeat(43);
  t.ok(csrfMatches(token, token));
  t.notOk(csrfMatches(token.slice(1), token));
  t.notOk(csrfMatches(undefined, token));
  t.notOk(csrfMatches(['k'.repeat(43)], token), 'a header sent twice');
  t.notOk(csrfMatches('é'.repeat(43), token), 'same length in characters, not in bytes');
});

t.test('sites of a user: admins have every site; others need at least one', async (t) => {
  t.equal(checkSites('admin', undefined), '*');
  t.throws(() => checkSites('admin', ['north']), /an admin has every site/);
  t.same(checkSites('supervisor', [' south', 'north', 'north']), ['north', 'south']);
  t.equal(checkSites('qa', '*'), '*');
  t.throws(() => checkSites('readonly', []), /needs at least one site/);
  t.throws(() => checkSites('qa', ['north/+']), /not a site name/);
});

t.test('after signing in, the page goes only to a path of this centre', async (t) => {
  const origin = 'https://centre.example';
  t.equal(safeNext('/floor/north?x=1#a', origin), '/floor/north?x=1#a');
  t.equal(safeNext(null, origin), '/');
  for (const evil of ['https://evil.example/', '//evil.example/x', '/\\evil.example', '/\t/evil.example', 'javascript:alert(1)', 'floor', '/login?next=//evil']) {
    t.equal(safeNext(evil, origin), '/', `not ${JSON.stringify(evil)}`);
  }
});

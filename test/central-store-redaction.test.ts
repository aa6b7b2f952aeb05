/**
 * The centre keeps only the redacted view (issue 18): a record from an old box that sends a call as heard is
 * redacted before it is stored, in the record, the alert, the search text and what the call page reads,
 * with the box's own redaction (lib/privacy.ts): ordinary numbers stay readable.
 */
import t from 'tap';
import { openStore } from '../central/store/store.js';
import type { SqlStore } from '../central/store/sql-store.js';
import { sanitizeForUplink } from '../lib/privacy.js';
import { callLexemes } from '../central/search/text-index.js';

const AT = '2026-12-05T10:00:00.000Z';
const CARD = '4111 1111 1111 1111';
const clearIndex = {
  callId: 'old-box-call',
  durationSec: 40,
  utterances: [
    { channel: 'agent', start: 0, end: 2, text: 'can I take the card number please' },
    { channel: 'customer', start: 2, end: 6, text: `yes it is ${CARD} and the cvv is 731` },
    { channel: 'customer', start: 6, end: 8, text: 'the bill was fifteen pounds on the 3rd of May' },
  ],
  alerts: [{ id: 'pci-1', rule: 'pci-card-spoken', severity: 'critical', start: 2, end: 6, raisedAt: 6, evidence: `it is ${CARD} and the cvv is 731` }],
};

t.test('an index sent in clear is stored redacted, and only once redacted', async (t) => {
  const store = (await openStore(':memory:')) as SqlStore;
  t.teardown(() => store.close());
  await store.storeBatch(
    [
      { site: 's1', box: 'old', seq: 1, kind: 'index', at: AT, data: clearIndex },
      { site: 's1', box: 'old', seq: 2, kind: 'alert', at: AT, data: { ...clearIndex.alerts[0], callId: 'old-box-call' } },
    ],
    'open',
  );
  const raw = JSON.stringify(await store.db.all('SELECT payload FROM records')) + JSON.stringify(await store.db.all('SELECT evidence, alert_json FROM alerts'));
  t.notMatch(raw, /4111|731/, 'neither the card number nor the CVV is in any stored record or alert');
  const stored = (await store.callIndex('old', 'old-box-call')) as typeof clearIndex;
  t.same(stored, sanitizeForUplink(clearIndex), "what the call page reads is the box's redacted view, exactly");
  t.match(stored.utterances[2].text, /fifteen pounds on the 3rd of May/, 'amounts and dates stay readable');
  t.match(stored.utterances[1].text, /\*{4} \*{4} \*{4} 1111 and the cvv is \*{3}/, 'the answer to the request is masked (a card to its last four, as the box keeps it)');
  t.notMatch((await store.alertsFor('old', 'old-box-call'))[0].evidence ?? '', /4111|731/, 'the alert evidence is redacted');
  // The search text is an FTS5 index without content: asked by term.
  const finds = async (term: string) => (await store.db.all<{ n: number }>('SELECT COUNT(*) AS n FROM call_text WHERE call_text MATCH ?', [`"${term}"`]))[0].n;
  t.equal(await finds('cwfifteen'), 1, 'the call is searchable by its ordinary words');
  // The terms the clear text would have been indexed under (callLexemes is the indexer's own tokenising).
  const secret = callLexemes(clearIndex).filter((l) => /4111|731/.test(l));
  t.ok(secret.length >= 2, `the clear text would be indexed as ${secret.join(', ')}`);
  for (const l of secret) t.equal(await finds(l), 0, `no call is found by ${l}`);
});

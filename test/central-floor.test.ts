import t from 'tap';
import { FloorState, type FloorEvent } from '../central/web/floor.js';
import { MemoryAckStore } from '../central/web/acks.js';
import { readWire } from '../edge/uplink/wire.js';
import type { RecordEnvelope } from '../edge/uplink/topics.js';

const rec = (seq: number, data: object): RecordEnvelope => ({ schema: 'earshot/record@1', box: 'b1', site: 's1', seq, kind: 'alert', at: new Date().toISOString(), data });

t.test('an alert revision replaces the earlier one; a late lower revision or a resend does not', async (t) => {
  const floor = new FloorState(3);
  const events: FloorEvent[] = [];
  floor.on('event', (e) => events.push(e));
  floor.alertRecord(rec(1, { callId: 'c1', id: 'agitation-1', severity: 'warning', title: 'raised voice' }));
  floor.alertRecord(rec(2, { callId: 'c1', id: 'agitation-1', severity: 'warning', title: 'raised voice', revision: 2, evidence: 'words' }));
  floor.alertRecord(rec(1, { callId: 'c1', id: 'agitation-1', severity: 'warning', title: 'raised voice' }));
  t.same(floor.snapshot('s1').alerts.map((a) => [a.seq, a.revision, a.evidence]), [[2, 2, 'words']]);
  t.match(events.filter((e) => e.type === 'alert'), [{ replaces: null }, { replaces: 1 }], 'the page is told which one it replaces');
  t.equal(floor.findAlert('b1', 1)?.seq, 2, 'any revision’s seq finds the alert');
  floor.alertRecord(rec(3, { callId: 'c2', id: 'x-1', severity: 'bogus' }));
  t.equal(floor.snapshot('s1').alerts[0].severity, 'info', 'an unknown severity is shown as info');
  for (let i = 4; i < 10; i++) floor.alertRecord(rec(i, { callId: 'c3', id: `y-${i}`, severity: 'critical' }));
  t.equal(floor.snapshot('s1').alerts.length, 3, 'bounded per site');
  t.notOk(floor.findAlert('b1', 2), 'and what fell off is forgotten');
});

t.test('acknowledgements: the first stands', async (t) => {
  const store = new MemoryAckStore();
  const first = await store.acknowledge('k', { by: 'ann', at: '2026-01-01T00:00:00.000Z' });
  const again = await store.acknowledge('k', { by: 'bob', at: '2026-01-01T00:00:01.000Z' });
  t.same(again, first);
});

t.test('earshot/live@1 is checked before it is read', async (t) => {
  const ok = { schema: 'earshot/live@1', box: 'b1', site: 's1', kind: 'live', seq: null, at: new Date().toISOString(), intervalSec: 1, outboxDepth: 0, lines: [{ name: 'd1', state: 'in-call', inCallSec: 3, talking: 'agent', silenceSec: 0, agitation: 0.2, shedding: false, backlogSec: 0 }] };
  t.ok(readWire('live', Buffer.from(JSON.stringify(ok))).ok);
  t.match(readWire('live', Buffer.from(JSON.stringify({ ...ok, lines: [{ ...ok.lines[0], agitation: 3 }] }))), { ok: false, reason: /agitation/ });
  t.match(readWire('live', Buffer.from(JSON.stringify({ ...ok, lines: [{ ...ok.lines[0], state: 'dancing' }] }))), { ok: false });
  t.match(readWire('live', Buffer.from(JSON.stringify({ ...ok, schema: 'earshot/stats@1' }))), { ok: false });
});

t.test('an alert sent in clear by an old box is shown only redacted', async (t) => {
  const floor = new FloorState();
  floor.alertRecord(rec(1, { callId: 'c9', id: 'pci-1', severity: 'critical', title: 'card number spoken', evidence: 'my card number is 4111 1111 1111 1111 and the cvv is 731' }));
  const [shown] = floor.snapshot('s1').alerts;
  t.match(shown.evidence, /card number is/, 'the evidence is still shown');
  t.notMatch(shown.evidence, /4111 1111 1111|731/, 'without the card number or the CVV');
});

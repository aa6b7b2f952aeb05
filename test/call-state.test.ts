import t from 'tap';
import {
  DEFAULT_END_EVENTS,
  DEFAULT_PBX_PATTERN,
  DEFAULT_START_EVENTS,
  HookSwitchParser,
  PbxRecordParser,
  isCallStateEvent,
  parseRecordTime,
  type CallStateEvent,
  type ParseResult,
} from '../device/call-state.js';
import { printablePreview } from '../lib/printable.js';

const ARRIVED = new Date(2026, 10, 25, 15, 0, 0).getTime(); // 2026-11-25 15:00:00 local

function event(r: ParseResult): CallStateEvent {
  if (!isCallStateEvent(r)) throw new Error(`expected a call event, got ${JSON.stringify(r)}`);
  return r;
}

t.test('default format: start and end records with every field', async (t) => {
  const p = new PbxRecordParser();
  t.same(p.config, { pattern: DEFAULT_PBX_PATTERN, startEvents: DEFAULT_START_EVENTS, endEvents: DEFAULT_END_EVENTS });
  const line = '2026-11-25 14:03:22 START ext=1001 agent=A17 caller=13800138000 ref=8812';
  t.same(p.parse(line, ARRIVED), {
    kind: 'start',
    extension: '1001',
    agentId: 'A17',
    caller: '13800138000',
    callRef: '8812',
    at: new Date(2026, 10, 25, 14, 3, 22).getTime(),
    raw: line,
  });
  const end = event(p.parse('2026-11-25 14:09:47 END ext=1001 agent=A17 caller=13800138000 ref=8812\r', ARRIVED));
  t.equal(end.kind, 'end');
  t.equal(end.raw, '2026-11-25 14:09:47 END ext=1001 agent=A17 caller=13800138000 ref=8812', 'the \\r of \\r\\n is not part of the record');
  t.equal(end.at, new Date(2026, 10, 25, 14, 9, 47).getTime());
  t.equal(event(p.parse('2026-11-25 14:10:00 hangup ext=1002', ARRIVED)).kind, 'end', 'event words match case-insensitively; HANGUP ends too');
});

t.test('default format: optional fields may be missing; a withheld caller is left out', async (t) => {
  const p = new PbxRecordParser();
  const e = event(p.parse('2026-11-25T08:00 START ext=2001 caller= ref=77', ARRIVED));
  t.equal(e.extension, '2001');
  t.equal(e.callRef, '77');
  t.notOk('caller' in e, 'empty caller field');
  t.notOk('agentId' in e);
  t.equal(e.at, new Date(2026, 10, 25, 8, 0, 0).getTime(), 'time without seconds');
});

t.test('default format: other events are ignored, not garbage', async (t) => {
  const p = new PbxRecordParser();
  for (const ev of ['RING', 'HOLD', 'transfer']) {
    const r = p.parse(`2026-11-25 14:03:20 ${ev} ext=1001 agent=A17`, ARRIVED);
    t.ok('ignored' in r, `${ev} ignored`);
    t.match((r as { ignored: string }).ignored, new RegExp(`event ${ev} neither starts nor ends`, 'i'));
  }
  t.same(p.parse('   \r', ARRIVED), { ignored: 'blank line' });
});

t.test('default format: lines that are not records are garbage with a reason', async (t) => {
  const p = new PbxRecordParser();
  const half = p.parse('2026-11-25 14:03:22 START ex', ARRIVED);
  t.ok('garbage' in half, 'a half record');
  t.match((half as { garbage: string }).garbage, /does not match the record pattern/);
  t.ok('garbage' in p.parse('*** SMDR OUTPUT START ***', ARRIVED), 'a banner');
  t.ok('garbage' in p.parse('14:03:22 START ext=1001', ARRIVED), 'no date where the default format has one');
});

t.test('binary noise (a line read at the wrong baud rate) is garbage saying so', async (t) => {
  const p = new PbxRecordParser();
  const wrongBaud = Buffer.from([0xe6, 0x98, 0x1f, 0x80, 0xfe, 0x00, 0x66, 0x78, 0x9e]).toString('utf8');
  const r = p.parse(wrongBaud, ARRIVED);
  t.ok('garbage' in r);
  t.match((r as { garbage: string }).garbage, /non-printable bytes .*wrong baud rate/);
  const withNul = p.parse('2026-11-25 14:03:22 ST\u0000ART ext=1001', ARRIVED);
  t.match((withNul as { garbage: string }).garbage, /non-printable/, 'a control byte inside a record');
  t.ok(isCallStateEvent(p.parse('\u0000\u00002026-11-25 14:03:22 START ext=1001\u0000', ARRIVED)), 'NUL padding around a record is not noise');
  const preview = printablePreview(wrongBaud);
  t.notMatch(preview, /[\u0000-\u001f\ufffd]/, 'the log preview is printable');
  t.equal(printablePreview('x'.repeat(500)).length, 81, 'and short');
});

t.test('custom format: a positional record with agent, caller, time and call reference', async (t) => {
  // e.g. "11/25 14:03:22 C 0042 ext 305 from 02155501234 agt 9"
  const p = new PbxRecordParser({
    pattern: '^\\d\\d/\\d\\d (?<time>\\d\\d:\\d\\d:\\d\\d) (?<event>[A-Z]) (?<callref>\\d{4}) ext (?<extension>\\d+) from (?<caller>\\d*) agt (?<agent>\\w+)$',
    startEvents: ['c'],
    endEvents: ['D'],
  });
  const s = event(p.parse('11/25 14:03:22 C 0042 ext 305 from 02155501234 agt 9', ARRIVED));
  t.same(s, {
    kind: 'start',
    extension: '305',
    agentId: '9',
    caller: '02155501234',
    callRef: '0042',
    at: new Date(2026, 10, 25, 14, 3, 22).getTime(),
    raw: '11/25 14:03:22 C 0042 ext 305 from 02155501234 agt 9',
  });
  t.equal(event(p.parse('11/25 14:20:00 D 0042 ext 305 from 02155501234 agt 9', ARRIVED)).kind, 'end');
  t.ok('ignored' in p.parse('11/25 14:20:00 H 0042 ext 305 from 02155501234 agt 9', ARRIVED), 'H(old) is neither');
});

t.test('time field: only a time takes today\'s date; unparseable falls back to arrival', async (t) => {
  const p = new PbxRecordParser({ pattern: '^(?<time>\\S+) (?<event>\\w+) (?<extension>\\d+)$' });
  t.equal(event(p.parse('09:15:02 START 7', ARRIVED)).at, new Date(2026, 10, 25, 9, 15, 2).getTime(), 'today');
  t.equal(event(p.parse('not-a-time START 7', ARRIVED)).at, ARRIVED, 'arrival');
  t.equal(event(p.parse('25:61 START 7', ARRIVED)).at, ARRIVED, 'an impossible time: arrival');
  t.equal(event(p.parse('2026-02-30T10:00 START 7', ARRIVED)).at, ARRIVED, 'an impossible date: arrival');
  const noTimeGroup = new PbxRecordParser({ pattern: '^(?<event>\\w+) (?<extension>\\d+)$' });
  t.equal(event(noTimeGroup.parse('START 7', ARRIVED)).at, ARRIVED, 'no time group: arrival');

  const justAfterMidnight = new Date(2026, 10, 26, 0, 0, 1).getTime();
  t.equal(parseRecordTime('23:59:58', justAfterMidnight), new Date(2026, 10, 25, 23, 59, 58).getTime(), 'a record from just before midnight is yesterday\'s');
  t.equal(parseRecordTime('1764079402', ARRIVED), 1764079402000, 'epoch seconds');
  t.equal(parseRecordTime('2026-11-25T14:03:22Z', ARRIVED), Date.UTC(2026, 10, 25, 14, 3, 22), 'ISO with a zone');
  t.equal(parseRecordTime('2026/11/25 14:03:22.5', ARRIVED), new Date(2026, 10, 25, 14, 3, 22, 500).getTime(), 'a fraction of a second');
  t.equal(parseRecordTime('14:03:22,25', ARRIVED), new Date(2026, 10, 25, 14, 3, 22, 250).getTime());
});

t.test('bad PBX configuration throws a message an installer can act on', async (t) => {
  t.throws(() => new PbxRecordParser({ pattern: '(?<event>\\w+ (?<extension>\\d+)' }), /not a valid JavaScript regular expression/);
  t.throws(() => new PbxRecordParser({ pattern: '(?<event>\\w+) ext=(\\d+)' }), /lacks the named group \(\?<extension>/);
  t.throws(() => new PbxRecordParser({ pattern: '(\\w+) ext=(?<extension>\\d+)' }), /lacks the named group \(\?<event>/);
  t.throws(() => new PbxRecordParser({ pattern: '(?<event>\\w+) ext=(?<ext>\\d+)' }), /\(\?<ext>\.\.\.\) that mean nothing here; the groups understood are event, extension/);
  t.throws(() => new PbxRecordParser({ pattern: '' }), /pattern is empty/);
  t.throws(() => new PbxRecordParser({ startEvents: [] }), /startEvents is empty: list the event word\(s\) that start a call/);
  t.throws(() => new PbxRecordParser({ endEvents: [] }), /endEvents is empty/);
  t.throws(() => new PbxRecordParser({ startEvents: ['START', ' '] }), /startEvents has an empty/);
  t.throws(() => new PbxRecordParser({ startEvents: ['start'], endEvents: ['END', 'Start'] }), /START listed in both startEvents and endEvents/);
  t.doesNotThrow(() => new PbxRecordParser({ pattern: '(?<=\\s)(?<event>\\w+) (?<extension>\\d+)' }), 'a lookbehind is not a named group');
});

t.test('hook switch: off-hook starts, on-hook ends, repeats are ignored', async (t) => {
  const h = new HookSwitchParser();
  t.equal(h.hookState, 'unknown');
  t.same(h.parse('ONHOOK', ARRIVED), { ignored: 'on-hook with no call in progress' }, 'no call to end at start-up');
  const s = event(h.parse('OFFHOOK\r', ARRIVED));
  t.same(s, { kind: 'start', extension: null, at: ARRIVED, raw: 'OFFHOOK' });
  t.same(h.parse('off-hook', ARRIVED), { ignored: 'off-hook while already off-hook' }, 'debounced; variants match');
  t.same(h.parse('OFF HOOK', ARRIVED), { ignored: 'off-hook while already off-hook' });
  t.equal(event(h.parse('on_hook', ARRIVED)).kind, 'end');
  t.same(h.parse('ONHOOK', ARRIVED), { ignored: 'on-hook while already on-hook' });
  t.equal(event(h.parse('OFFHOOK', ARRIVED)).kind, 'start', 'the next call');
  t.equal(h.hookState, 'off');
  t.match(h.parse('READY', ARRIVED), { garbage: /neither off-hook nor on-hook/ });
  t.match(h.parse('\u00ff\u0001OFF', ARRIVED), { garbage: /non-printable/ });
  h.reset();
  t.equal(h.hookState, 'unknown');
});

t.test('hook switch: custom texts, and bad ones refused', async (t) => {
  const h = new HookSwitchParser({ offHook: '^LIFT$', onHook: '^DROP$' });
  t.equal(event(h.parse('lift', ARRIVED)).kind, 'start', 'case-insensitive');
  t.match(h.parse('OFFHOOK', ARRIVED), { garbage: /neither/ });
  t.equal(event(h.parse('DROP', ARRIVED)).kind, 'end');
  t.throws(() => new HookSwitchParser({ offHook: 'OFF(' }), /hook-switch offHook pattern is not a valid JavaScript regular expression/);
  t.throws(() => new HookSwitchParser({ onHook: '.*' }), /matches an empty line/);
  t.throws(() => new HookSwitchParser({ onHook: '' }), /onHook pattern is empty/);
  const overlap = new HookSwitchParser({ offHook: 'HOOK', onHook: 'ON' });
  t.match(overlap.parse('ONHOOK', ARRIVED), { garbage: /matches both/ });
});

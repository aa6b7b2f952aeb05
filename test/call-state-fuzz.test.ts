// Garbage on a PBX call-record port or a hook switch, at the parser: every line gets an answer (call event,
// ignored, or garbage with a reason), never an exception or a stall, and garbage changes no call state.
// The same over a real pty, with the log line and the other port: hw-tests/serial-pty.test.ts.
import t from 'tap';
import { HookSwitchParser, PbxRecordParser, isCallStateEvent, type CallStateParser, type ParseResult } from '../device/call-state.js';
import { printablePreview } from '../lib/printable.js';
import { fuzzSeed, hostilePayloads, seeded } from './support/fuzz.js';

const ARRIVED = new Date(2026, 10, 25, 15, 0, 0).getTime();
const VALID = [
  '2026-11-25 14:03:22 START ext=1001 agent=A17 caller=13800138000 ref=8812',
  '2026-11-25 14:09:47 END ext=1001 agent=A17 caller=13800138000 ref=8812',
  '2026-11-25 14:03:20 RING ext=1002',
  'OFFHOOK',
  'ONHOOK',
];
/** Per line, up to 1 MB: the port cuts lines at 1024 bytes, but a parser is also called directly. */
const SLOW_MS = 1000;

/** The parser's answer to `line`, and what is wrong with it, if anything. */
function answer(parser: CallStateParser, line: string): { r?: ParseResult; why?: string } {
  const started = performance.now();
  let r: ParseResult;
  try {
    r = parser.parse(line, ARRIVED);
  } catch (err) {
    return { why: `parse threw ${(err as Error)?.name}: ${(err as Error)?.message}` };
  }
  const ms = performance.now() - started;
  if (ms > SLOW_MS) return { r, why: `parse took ${Math.round(ms)} ms on ${line.length} characters` };
  return { r, why: problem(r, line) };
}

function problem(r: ParseResult, line: string): string | undefined {
  if (isCallStateEvent(r)) {
    if (!Number.isFinite(r.at)) return `an event with time ${r.at}`;
    if (r.extension !== null && (typeof r.extension !== 'string' || r.extension === '')) return 'an event with no extension to route it by';
    return undefined;
  }
  if ('ignored' in r) return typeof r.ignored === 'string' && r.ignored !== '' ? undefined : 'ignored without a reason';
  if (typeof r.garbage !== 'string' || r.garbage === '') return 'garbage without a reason';
  // What the log shows of the line: escaped, so that the journal gets one printable line.
  if (/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\ufffd]/.test(printablePreview(line))) return `log preview not printable: ${JSON.stringify(printablePreview(line))}`;
  return undefined;
}

t.test('hostile lines on a PBX port: each one answered, never thrown, never slow; a record after them still parses', async (t) => {
  const seed = fuzzSeed(t);
  const pbx = new PbxRecordParser();
  const problems: string[] = [];
  let lines = 0;
  for (const p of hostilePayloads(seed, 600, { valid: VALID })) {
    // As the port delivers it (one line per newline, each decoded on its own) and as one string.
    const text = p.bytes.toString('utf8');
    for (const line of [text, ...text.split('\n')]) {
      const { why } = answer(pbx, line);
      if (why) problems.push(seeded(seed, p.label, why));
      lines++;
    }
    const after = pbx.parse(VALID[0]!, ARRIVED);
    if (!isCallStateEvent(after) || after.kind !== 'start' || after.extension !== '1001') problems.push(seeded(seed, p.label, 'the valid record after it did not start call 1001'));
  }
  t.same(problems.slice(0, 10), [], `${problems.length} problems in ${lines} lines`);
  t.ok(lines >= 600, `${lines} lines`);
});

t.test('hostile lines from a hook switch: garbage neither starts nor ends a call, whatever state the desk is in', async (t) => {
  const seed = fuzzSeed(t);
  const hook = new HookSwitchParser();
  const problems: string[] = [];
  let i = 0;
  for (const p of hostilePayloads(seed, 600, { valid: VALID })) {
    // Alternate the desk between a call in progress and none, so garbage is seen in both states.
    hook.parse(i++ % 2 === 0 ? 'OFFHOOK' : 'ONHOOK', ARRIVED);
    for (const line of p.bytes.toString('utf8').split('\n')) {
      const before = hook.hookState;
      const { r, why } = answer(hook, line);
      if (why) problems.push(seeded(seed, p.label, why));
      else if (!isCallStateEvent(r!) && hook.hookState !== before) {
        problems.push(seeded(seed, p.label, `a line that is no call boundary moved the hook from ${before} to ${hook.hookState}`));
      }
    }
  }
  t.same(problems.slice(0, 10), [], `${problems.length} problems`);
  // The desk's last state stands; the next real change is still an event.
  const next = hook.parse(hook.hookState === 'off' ? 'ONHOOK' : 'OFFHOOK', ARRIVED);
  t.ok(isCallStateEvent(next), seeded(seed, 'after all', 'the next off-hook/on-hook after the garbage is a call boundary'));
});

/**
 * What `earshot analyze` writes (the --out file, --json and the summary on stdout, --events lines) is the
 * redacted view: issue 18's "my carrot number is for one one one one …" kept eight digits in clear in the
 * index file the box keeps on its disk.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCallIndex } from '../edge/index/call-index.js';
import { CallState } from '../edge/call/call-state.js';
import type { PipelineEvent } from '../edge/events.js';
import { eventLines, writeAnalysis } from '../edge/analyze-output.js';
import { runSearch } from '../edge/search/search-command.js';

const said: [channel: 'agent' | 'customer', start: number, text: string][] = [
  ['agent', 1, 'what is your pin'],
  ['customer', 3, 'it is four three two one'],
  ['customer', 6, 'my carrot number is for one one one one one one one'],
  ['agent', 10, 'and the code we sent you'],
  ['customer', 30, 'sorry it is 4 8 2 9 1 3'],
  ['agent', 34, 'thank you that is fifteen pounds'],
];

function events(): PipelineEvent[] {
  return said.flatMap(([channel, start, text]): PipelineEvent[] => {
    const end = start + 1.5;
    const words = text.split(' ').map((w, i) => ({ w, start: start + i * 0.1, end: start + i * 0.1 + 0.1, conf: 0.9 }));
    // As the pipeline emits them: the voice-activity utterance ends, then its words are recognised.
    return [
      { type: 'utterance.end', emittedAt: end, channel, start, end, loudnessDb: -20, f0Hz: 120 },
      { type: 'words', emittedAt: end + 0.3, channel, language: 'en', script: 'latin', start, end, text, words, confidence: 0.9 },
    ];
  });
}

function callIndex() {
  const call = new CallState();
  for (const e of events()) call.apply(e);
  call.apply({ type: 'call.end', emittedAt: 40, durationSec: 40 });
  return buildCallIndex(call, { callId: 'secrets', alerts: [], watched: [] });
}

const CLEAR = /four three two one|for one one one|4 8 2 9 1 3|482913/;

t.test('--out and --json write the index redacted as one conversation; ordinary numbers stay', async (t) => {
  const index = callIndex();
  t.match(JSON.stringify(index), CLEAR, 'the index as built holds the secrets (the test has something to hide)');
  const out = join(t.testdir(), 'secrets.json');
  let printed = '';
  await writeAnalysis(index, { out, json: true }, (s) => (printed += s));
  const file = readFileSync(out, 'utf8');
  for (const [what, text] of [['--out file', file], ['--json', printed]]) {
    t.notMatch(text, CLEAR, `${what}: no secret in clear`);
    t.match(text, /it is \* \* \* \*/, `${what}: the PIN, answered in the next utterance, is masked`);
    t.match(text, /sorry it is \* \* \* \* \* \*/, `${what}: the code, 20 s after its request, is masked`);
    t.match(text, /that is fifteen pounds/, `${what}: the amount stays readable`);
  }
  const words = (JSON.parse(file).utterances as { words?: { w: string }[] }[]).flatMap((u) => (u.words ?? []).map((w) => w.w)).join(' ');
  t.notMatch(words, CLEAR, 'words[] are masked as the text is');
  t.equal(index.utterances[1].text, 'it is four three two one', 'the caller keeps its own index: the view is a copy');
});

t.test('the summary (no --json) is made from the redacted view', async (t) => {
  const index = callIndex();
  index.alerts.push({ id: 'a1', rule: 'credential-request', severity: 'critical', title: 'credential request', channel: 'agent', start: 1, end: 4, raisedAt: 4, evidence: 'customer 0:03 "it is four three two one"' });
  let printed = '';
  await writeAnalysis(index, {}, (s) => (printed += s));
  t.match(printed, /credential-request/, 'the alert is in the summary');
  t.notMatch(printed, CLEAR);
});

t.test('--events lines are redacted as the call goes, an answer by the question before it; alerts included', async (t) => {
  const eventLine = eventLines();
  const lines = events().map((e) => eventLine(e)).join('') + eventLine({ type: 'alert', id: 'a', evidence: 'my pin is 4321' } as never);
  t.notMatch(lines, /four three two one|for one one one one|482913|4 8 2 9 1 3|4321/);
  t.match(lines, /my pin is \*\*\*\*/);
  const live = eventLines();
  const [ask, answer] = [
    { type: 'words', emittedAt: 2, channel: 'agent', language: 'en', script: 'latin', start: 1, end: 2, text: 'what is your pin', words: [], confidence: 1 },
    { type: 'words', emittedAt: 5, channel: 'customer', language: 'en', script: 'latin', start: 4, end: 5, text: 'it is 4321', words: [{ w: 'it', start: 4, end: 4.1, conf: 1 }, { w: 'is', start: 4.1, end: 4.2, conf: 1 }, { w: '4321', start: 4.2, end: 5, conf: 1 }], confidence: 1 },
  ] as PipelineEvent[];
  live(ask);
  const line = JSON.parse(live(answer));
  t.equal(line.text, 'it is ****', 'four digits alone are no secret; after "what is your pin" they are');
  t.same(line.words.map((w: { w: string }) => w.w), ['it', 'is', '****']);
});

t.test('earshot search prints only the redacted view, even of an index file written in clear', async (t) => {
  const file = join(t.testdir(), 'old.json');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(file, JSON.stringify(callIndex()));
  const { output, matched } = await runSearch('carrot', [file]);
  t.equal(matched, 1);
  t.notMatch(output, CLEAR);
});

t.test('a site that keeps one sink in clear gets clear text there only, and the box says so at start-up', async (t) => {
  const index = callIndex();
  const out = join(t.testdir(), 'clear.json');
  let printed = '';
  await writeAnalysis(index, { out, json: true, clearText: ['index-files'] }, (s) => (printed += s));
  t.match(readFileSync(out, 'utf8'), /it is four three two one/, 'the index file is kept as heard');
  t.notMatch(printed, CLEAR, 'stdout is still redacted');

  const dir = t.testdir({ 'clear.yml': 'privacy:\n  clearText: [index-files, logs]\n', 'bad.yml': 'privacy:\n  clearText: [outbox]\n' });
  const { runCli } = await import('./support/cli.js');
  const run = await runCli(['analyze', join(dir, 'no-such-call.wav'), '--config', join(dir, 'clear.yml')]);
  t.match(run.stderr, /clear text kept, unredacted, in: index-files, logs \(config privacy\.clearText\)/);
  const bad = await runCli(['analyze', join(dir, 'no-such-call.wav'), '--config', join(dir, 'bad.yml')]);
  t.equal(bad.code, 2, 'the outbox cannot be kept in clear: the config is refused');
  t.match(bad.stderr, /bad\.yml: .*privacy\.clearText/);
});

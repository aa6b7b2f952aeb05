/**
 * Nothing leaked: calls full of card numbers, security codes, passwords and verification codes, in both
 * languages, go through the whole pipeline (recognition, rules) and are published with `earshot analyze
 * --publish` to a real broker. A subscriber on `#` sees every byte that leaves the box for the whole run.
 */
import t from 'tap';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { Broker } from '../test/support/mosquitto.js';
import { ingestOn, tempDir, watch } from '../test/support/uplink.js';
import { repoRoot, runCli } from '../test/support/cli.js';
import { renderCallByName } from '../test/support/calls.js';

const shared = process.env.EARSHOT_SHARED ?? path.resolve(repoRoot, '..', 'shared');

/** What the secrets look like in a transcript, in every script the recognisers write. */
const SPOKEN_DIGIT = '(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|ling|yao|yi|er|san|si|wu|liu|qi|ba|jiu|liang)';
const LEAKS: [string, RegExp][] = [
  ['three spoken digits in a row (a CVV)', new RegExp(`\\b${SPOKEN_DIGIT}(?:[\\s,.-]+${SPOKEN_DIGIT}){2}\\b`, 'i')],
  ['four Chinese numerals in a row', /[零〇一二三四五六七八九幺两]{4}/],
  ['a run of 4+ numerals', /\d{4,}/],
  ['the spoken password', /sunshine/i],
  ['audio', /RIFF|WAVE|data:audio|"(?:audio|pcm|samples)"/i],
];
const toneless = (s: string) => s.normalize('NFD').replace(/\p{M}/gu, '');

/** The words a payload carries: its string values (numbers are seqs and times), less ISO timestamps. */
function wordsOf(payload: Buffer): string {
  const raw = payload.toString('utf8');
  let strings: string[] = [raw];
  try {
    const found: string[] = [];
    const walk = (v: unknown): void => {
      if (typeof v === 'string') found.push(v);
      else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    };
    walk(JSON.parse(raw));
    strings = found;
  } catch {
    // availability is plain text
  }
  return toneless(strings.join('\n').replace(/\d{4}-\d{2}-\d{2}T[\d:.]+Z/g, ''));
}

t.test('a subscriber on # finds no card number, code, password or audio in any published byte', async (t) => {
  const dir = tempDir('privacy');
  const broker = await Broker.start();
  t.teardown(() => broker.dispose());
  const everything = await watch(broker.url, '#');
  t.teardown(() => everything.close());
  const ingest = await ingestOn(broker.url, dir);
  t.teardown(() => ingest.stop());
  const config = path.join(dir, 'earshot.yml');
  writeFileSync(config, [`outbox:`, `  path: ${path.join(dir, 'outbox.sqlite')}`, `uplink:`, `  site: test`, `  box: privacy`, `models:`, `  root: ${path.join(shared, 'models')}`, ''].join('\n'));

  for (const name of ['privacy-en', 'privacy-zh']) {
    const call = await renderCallByName(name);
    const run = await runCli(['analyze', call.wav as string, '--config', config, '--publish', '--broker', broker.url, '--publish-wait', '20']);
    t.equal(run.code, 0, run.stderr);
    t.match(run.stdout, /published index and alerts, acknowledged by ingest/, `${name}: everything reached ingest`);
  }
  const records = everything.messages.filter((m) => /\/(index|alerts)$/.test(m.topic));
  const indexes = records.filter((m) => m.topic.endsWith('/index')).map((m) => JSON.parse(m.payload.toString('utf8')));
  t.equal(indexes.length, 2, 'both indexes were published');
  const transcript = indexes.flatMap((r) => r.data.utterances.map((u: { text?: string }) => u.text ?? '')).join(' ');
  t.match(transcript, /\*/, 'the transcripts were published, with masks where the secrets were');
  t.ok(records.some((m) => m.topic.endsWith('/alerts') && /credential-request/.test(m.payload.toString())), 'the credential requests raised alerts');
  for (const message of everything.messages) {
    const text = wordsOf(message.payload);
    t.notOk(/RIFF|WAVE/.test(message.payload.toString('latin1')), `${message.topic}: no WAV bytes`);
    for (const [what, pattern] of LEAKS) t.notOk(pattern.test(text), `${message.topic}: no ${what}${pattern.test(text) ? `: ${text.match(pattern)?.[0]}` : ''}`);
  }
});

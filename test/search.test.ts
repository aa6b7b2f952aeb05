import t from 'tap';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  formatSearchResults,
  formatTime,
  matchCall,
  normalizeSyllable,
  parseQuery,
  queryToString,
  QuerySyntaxError,
  searchIndexes,
  type SearchableIndex,
  type SearchUtterance,
} from '../edge/search/query.js';
import { IndexFileError, runSearch } from '../edge/search/search-command.js';

const q = (text: string) => queryToString(parseQuery(text));

/** Words with timings: "Hello there" at 1.0 -> [{w:'Hello',1.0,1.4},{w:'there',1.5,1.9}] (0.4 s each, 0.1 s gaps). */
function timed(channel: 'agent' | 'customer', start: number, text: string): SearchUtterance {
  const words = text.split(' ').map((w, i) => ({ w, start: +(start + i * 0.5).toFixed(3), end: +(start + i * 0.5 + 0.4).toFixed(3), conf: 0.9 }));
  return { channel, start, end: words.at(-1)!.end, text, script: 'latin', words };
}

const english: SearchableIndex = {
  callId: 'en-1',
  durationSec: 120,
  utterances: [
    timed('agent', 2, 'Hello, thank you for calling Acme bank.'),
    timed('customer', 10, "I'd like a REFUND please, my card was charged twice."),
    timed('agent', 20, 'Sure. Which bank card was it?'),
    // no word timings: the whole utterance is the span
    { channel: 'customer', start: 60, end: 70, text: 'The refund should go back to my bank card.' },
    timed('agent', 105, 'Thank you, goodbye.'),
  ],
};

t.test('parsing: precedence NOT > NEAR > AND > OR, juxtaposition is AND', async (t) => {
  t.equal(q('a b OR c'), '(OR (AND a b) c)');
  t.equal(q('a OR b c'), '(OR a (AND b c))');
  t.equal(q('a AND b OR c AND d'), '(OR (AND a b) (AND c d))');
  t.equal(q('a NEAR/5 b AND c'), '(AND (NEAR/5 a b) c)');
  t.equal(q('a AND b NEAR/5 c'), '(AND a (NEAR/5 b c))');
  t.equal(q('a OR b NEAR/3 c'), '(OR a (NEAR/3 b c))');
  t.equal(q('NOT a b'), '(AND (NOT a) b)');
  t.equal(q('NOT a OR b'), '(OR (NOT a) b)');
  t.equal(q('a NEAR/5 b NEAR/2 c'), '(NEAR/2 (NEAR/5 a b) c)', 'NEAR is left-associative');
  t.equal(q('a and b or not c'), '(OR (AND a b) (NOT c))', 'operators are case-insensitive');
  t.equal(q('"and" OR "near"'), '(OR "and" "near")', 'quoted operator words are terms');
});

t.test('parsing: parentheses, scopes, windows, NEAR distances', async (t) => {
  t.equal(q('a AND (b OR c)'), '(AND a (OR b c))');
  t.equal(q('(a OR b) (c OR d)'), '(AND (OR a b) (OR c d))');
  t.equal(q('NOT (a OR b)'), '(NOT (OR a b))');
  t.equal(q('((a))'), 'a');
  t.equal(q('agent:refund'), 'agent:refund');
  t.equal(q('Customer:"bank card"'), 'customer:"bank card"');
  t.equal(q('agent:(refund OR "bank card") x'), '(AND agent:(OR refund "bank card") x)', 'a scope covers a group only');
  t.equal(q('agent:a b'), '(AND agent:a b)', 'a scope covers the next term only');
  t.equal(q('first:30s hello'), 'first:30s:hello');
  t.equal(q('last:20s ("thank you" OR goodbye)'), 'last:20s:(OR "thank you" goodbye)');
  t.equal(q('first:2m refund'), 'first:120s:refund', 'minutes');
  t.equal(q('agent:first:30s hello'), 'agent:first:30s:hello');
  t.equal(q('first:30s agent:hello'), 'first:30s:agent:hello');
  t.equal(q('"refund" NEAR/5 "bank card"'), '(NEAR/5 refund "bank card")'.replace('refund', '"refund"'));
  t.equal(q('a near/2.5 b'), '(NEAR/2.5 a b)');
  t.equal(q('NOT agent:refund'), '(NOT agent:refund)');
  t.equal(q('验证码 OR "银行 卡"'), '(OR 验证码 "银行 卡")');
  const tree = parseQuery('customer:"bank card"');
  t.same(tree, { type: 'scope', channel: 'customer', position: 0, child: { type: 'term', text: 'bank card', phrase: true, position: 9 } });
});

t.test('syntax errors name the position', async (t) => {
  const cases: [string, number, RegExp][] = [
    ['(refund OR "bank card"', 22, /^expected "\)" at position 22$/],
    ['(a OR (b c) d', 13, /^expected "\)" at position 13$/],
    ['"refund" NEAR/x "bank card"', 9, /^unknown operator NEAR\/x at position 9$/],
    ['a NEAR b', 2, /NEAR needs a distance/],
    ['a AND', 5, /^expected a term at position 5$/],
    ['', 0, /^expected a term at position 0$/],
    ['OR a', 0, /expected a term before OR at position 0/],
    ['a AND OR b', 6, /expected a term before OR at position 6/],
    ['a) b', 1, /^unexpected "\)" at position 1$/],
    ['refund "bank card', 7, /^unterminated quote at position 7$/],
    ['first:abc x', 0, /invalid time window first:abc/],
    ['agnet:refund', 0, /unknown prefix agnet:/],
    ['agent:', 6, /^expected a term at position 6$/],
    ['agent:NOT x', 6, /expected a term before NOT at position 6/],
    ['agent:(customer:x)', 7, /customer: inside agent: can never match at position 7/],
    ['NOT a NEAR/5 b', 0, /NOT cannot be an operand of NEAR at position 0/],
    ['a NEAR/5 agent:(NOT b)', 16, /NOT cannot be an operand of NEAR at position 16/],
    ['a "..." b', 2, /empty term/],
  ];
  for (const [text, position, message] of cases) {
    try {
      parseQuery(text);
      t.fail(`"${text}" should not parse`);
    } catch (err) {
      t.type(err, QuerySyntaxError, text);
      t.equal((err as QuerySyntaxError).position, position, `position for "${text}"`);
      t.match((err as Error).message, message, `message for "${text}"`);
    }
  }
  // "last:20" without unit is seconds: valid
  t.equal(q('last:20 y'), 'last:20s:y');
});

t.test('English: phrases, case and punctuation, word-level times', async (t) => {
  const m = matchCall('"thank you"', english);
  t.ok(m);
  t.same(
    m!.hits.map((h) => [h.channel, h.start, h.end, h.text]),
    [
      ['agent', 2.5, 3.4, 'thank you'],
      ['agent', 105, 105.9, 'Thank you,'],
    ],
    'each occurrence, timed by its words',
  );
  t.ok(matchCall('refund', english), 'REFUND matches refund');
  t.ok(matchCall('"Refund, please"', english), 'punctuation is ignored on both sides');
  t.equal(matchCall('"i d"', english), null, "apostrophes join: I'd is one word, not \"i\" + \"d\"");
  t.ok(matchCall("I'd", english));
  t.ok(matchCall('"bank card"', english));
  t.equal(matchCall('"card bank"', english), null, 'word order matters in a phrase');
  t.equal(matchCall('"thank for"', english), null, 'a phrase needs consecutive words');
  t.equal(matchCall('"goodbye thank"', english), null, 'a phrase does not run across utterances');
  t.equal(matchCall('mortgage', english), null);
  const noTimes = matchCall('"bank card"', english)!.hits.find((h) => h.start === 60);
  t.same(noTimes, { channel: 'customer', start: 60, end: 70, text: 'bank card', source: 'transcript' }, 'without word timings the utterance span is used');
});

t.test('AND, OR, NOT, channel scope', async (t) => {
  t.ok(matchCall('refund AND goodbye', english));
  t.equal(matchCall('refund AND mortgage', english), null);
  t.ok(matchCall('refund OR mortgage', english));
  t.equal(matchCall('mortgage OR loan', english), null);
  t.equal(matchCall('NOT refund', english), null);
  const none = matchCall('NOT mortgage', english);
  t.same(none, { hits: [] }, 'a call matches NOT x without evidence');
  t.same(
    matchCall('goodbye NOT mortgage', english)!.hits.map((h) => h.text),
    ['goodbye.'],
    'evidence comes from the positive side',
  );
  t.ok(matchCall('customer:refund', english));
  t.equal(matchCall('agent:refund', english), null, 'the agent never said refund');
  t.same(
    matchCall('agent:"bank card"', english)!.hits.map((h) => [h.channel, h.start]),
    [['agent', 21]],
    'only the agent occurrence is evidence',
  );
  t.ok(matchCall('NOT agent:refund', english), 'NOT in scope: the agent said no refund');
  t.equal(matchCall('NOT customer:refund', english), null);
  t.same(
    matchCall('agent:(bank OR refund)', english)!.hits.map((h) => h.channel),
    ['agent', 'agent'],
    'scope applies to the whole group',
  );
});

t.test('NEAR: within N seconds, hit and miss by time', async (t) => {
  const call: SearchableIndex = {
    callId: 'near',
    durationSec: 100,
    utterances: [
      timed('customer', 10, 'I want a refund'), // refund at 11.5-11.9
      timed('agent', 15, 'to which bank card'), // "bank card" at 16.0-16.9
      timed('customer', 40, 'my bank card'), // 40.5-41.4
      timed('agent', 80, 'refund'),
    ],
  };
  const hit = matchCall('"refund" NEAR/5 "bank card"', call);
  t.ok(hit, 'gap 16.0 - 11.9 = 4.1 s <= 5, across channels');
  t.same(
    hit!.hits.map((h) => [h.channel, h.start, h.end]),
    [
      ['customer', 11.5, 11.9],
      ['agent', 16, 16.9],
    ],
    'evidence is the pair, not the far occurrences',
  );
  t.equal(matchCall('"refund" NEAR/4 "bank card"', call), null, '4.1 s > 4');
  t.equal(matchCall('customer:("refund" NEAR/5 "bank card")', call), null, 'scoped: the customer\'s own mentions are 28.6 s apart');
  t.ok(matchCall('customer:("refund" NEAR/30 "bank card")', call));
  t.equal(matchCall('refund NEAR/10 refund', call), null, 'an occurrence is not near itself');
  t.ok(matchCall('refund NEAR/70 refund', call), 'two refunds 68.1 s apart');
  t.ok(matchCall('(refund OR mortgage) NEAR/5 card', call), 'groups can be NEAR operands');
});

t.test('time windows: first:Ns and last:Ns', async (t) => {
  // english: "thank you" at 2.5 and 105.0; duration 120; refund at 11.5
  t.ok(matchCall('first:30s "thank you"', english));
  t.same(matchCall('first:30s "thank you"', english)!.hits.map((h) => h.start), [2.5], 'only the early occurrence is evidence');
  t.equal(matchCall('first:11s refund', english), null, 'refund starts at 11.5 s');
  t.ok(matchCall('first:11.5s refund', english), 'the start must be within the window (inclusive)');
  t.ok(matchCall('last:20s goodbye', english), 'goodbye ends at 106.4 >= 100');
  t.equal(matchCall('last:10s goodbye', english), null, '106.4 < 110');
  t.equal(matchCall('last:20s refund', english), null);
  t.ok(matchCall('NOT last:20s refund', english), 'NOT with a window: no refund in the last 20 s');
  t.ok(matchCall('last:20s (goodbye OR mortgage)', english), 'windows apply to groups');
  t.equal(matchCall('first:30s last:20s "thank you"', english), null, 'nested windows both apply');
  const noDuration: SearchableIndex = { callId: 'x', utterances: [timed('agent', 1, 'hello'), timed('agent', 50, 'bye')] };
  t.ok(matchCall('last:5s bye', noDuration), 'without durationSec the last word ends the call');
  t.equal(matchCall('last:5s hello', noDuration), null);
});

const mandarin: SearchableIndex = {
  callId: 'zh-1',
  durationSec: 90,
  utterances: [
    // pinyin model, with word (syllable) timings
    {
      channel: 'agent',
      start: 1,
      end: 4,
      script: 'pinyin',
      text: 'nín hǎo huān yíng zhì diàn',
      words: ['nín', 'hǎo', 'huān', 'yíng', 'zhì', 'diàn'].map((w, i) => ({ w, start: 1 + i * 0.5, end: 1.4 + i * 0.5, conf: 0.9 })),
    },
    // pinyin model, no word timings
    { channel: 'customer', start: 20, end: 23, script: 'pinyin', text: 'wǒ shōu dào yí gè yàn zhèng mǎ' },
    // character model with its pinyin
    { channel: 'agent', start: 40, end: 44, script: 'hanzi', text: '请不要告诉别人验证码', pinyin: 'qǐng bú yào gào sù bié rén yàn zhèng mǎ' },
    { channel: 'customer', start: 60, end: 62, script: 'pinyin', text: 'lǜ sè de' },
  ],
  keywords: [
    { term: '转账', channel: 'customer', start: 70.2, end: 70.9, score: 0.87, source: 'kws' },
    { term: 'Refund', channel: 'agent', start: 80, end: 80.6, score: 0.6, source: 'kws' },
  ],
};

t.test('Chinese queries match pinyin, tone-insensitively, homophones included', async (t) => {
  const m = matchCall('验证码', mandarin);
  t.ok(m, '验证码 matches "yàn zhèng mǎ"');
  t.same(
    m!.hits.map((h) => [h.channel, h.start, h.end, h.text]),
    [
      ['customer', 20, 23, 'yàn zhèng mǎ'],
      ['agent', 40, 44, '验证码'],
    ],
    'pinyin transcript and character transcript (shown as characters)',
  );
  t.same(
    matchCall('严正码', mandarin)!.hits.map((h) => h.start),
    [20, 40],
    'a homophone (yán zhèng mǎ, different tone and characters) matches too',
  );
  t.same(matchCall('欢迎', mandarin)!.hits, [{ channel: 'agent', start: 2, end: 2.9, text: 'huān yíng', source: 'transcript' }], 'syllable timings');
  t.equal(matchCall('验证', mandarin)!.hits.length, 2, 'a prefix of the syllables is a phrase too');
  t.equal(matchCall('码验证', mandarin), null, 'syllable order matters');
  t.equal(matchCall('银行卡', mandarin), null);
  t.ok(matchCall('agent:验证码 AND customer:验证码', mandarin));
  t.equal(matchCall('first:30s agent:验证码', mandarin), null, 'the agent said it at 40 s');
  t.ok(matchCall('"yan zheng ma"', mandarin), 'pinyin typed without tones matches pinyin transcripts');
  t.ok(matchCall('绿色', mandarin), 'ü in the query and lǜ in the transcript');
  t.ok(matchCall('"lv se"', mandarin), 'v for ü');
  t.equal(matchCall('路', mandarin), null, 'lu is not lü');
  t.equal(normalizeSyllable('lǜ'), 'lv');
  t.equal(normalizeSyllable('Lu:4'), 'lv');
  t.equal(normalizeSyllable('zhèng'), 'zheng');
  t.equal(normalizeSyllable('ma3'), 'ma');
});

t.test('a Chinese character transcript with word timings and no pinyin field', async (t) => {
  const call: SearchableIndex = {
    callId: 'zh-2',
    utterances: [
      {
        channel: 'customer',
        start: 5,
        end: 8,
        script: 'hanzi',
        text: '我的验证码是多少',
        words: [
          { w: '我的', start: 5, end: 5.6, conf: 0.9 },
          { w: '验证码', start: 5.7, end: 6.6, conf: 0.9 },
          { w: '是', start: 6.7, end: 6.9, conf: 0.9 },
          { w: '多少', start: 7, end: 7.5, conf: 0.9 },
        ],
      },
    ],
  };
  t.same(matchCall('验证码', call)!.hits, [{ channel: 'customer', start: 5.7, end: 6.6, text: '验证码', source: 'transcript' }]);
  t.same(matchCall('"验证码是"', call)!.hits.map((h) => [h.start, h.end, h.text]), [[5.7, 6.9, '验证码是']]);
  t.equal(matchCall('refund', call), null, 'English terms find nothing in Chinese speech');
});

t.test('keyword-spotter hits', async (t) => {
  t.same(
    matchCall('转账', mandarin)!.hits,
    [{ channel: 'customer', start: 70.2, end: 70.9, text: '转账', source: 'keyword', score: 0.87 }],
    'a Chinese term matches a kws entry with the same term',
  );
  t.ok(matchCall('customer:转账', mandarin));
  t.equal(matchCall('agent:转账', mandarin), null, 'keyword hits are scoped by channel');
  t.ok(matchCall('REFUND', mandarin), 'English terms match kws terms case-insensitively');
  t.equal(matchCall('"refund please"', mandarin), null, 'a kws term must equal the query, not contain it');
  t.ok(matchCall('转账 NEAR/15 refund', mandarin), 'keyword hits have times for NEAR: 80.0 - 70.9 = 9.1 s');
  t.equal(matchCall('转账 NEAR/9 refund', mandarin), null);
});

t.test('calls without recognition fields have no words', async (t) => {
  const bare = { callId: 'old', durationSec: 30, utterances: [{ channel: 'agent' as const, start: 0, end: 3, loudnessDb: -20, f0Hz: 120 }] };
  t.equal(matchCall('hello', bare), null);
  t.same(matchCall('NOT hello', bare), { hits: [] });
  t.equal(matchCall('hello', { callId: 'empty' }), null);
});

t.test('searchIndexes and formatSearchResults', async (t) => {
  const results = searchIndexes('验证码 OR refund', [
    { file: 'en.json', index: english },
    { file: 'zh.json', index: mandarin },
    { file: 'none.json', index: { callId: 'none', utterances: [timed('agent', 0, 'nothing here')] } },
  ]);
  t.same(
    results.map((r) => [r.file, r.callId, r.hits.length]),
    [
      ['en.json', 'en-1', 2],
      ['zh.json', 'zh-1', 3],
    ],
  );
  t.equal(formatTime(72.34), '1:12.3');
  t.equal(formatTime(5), '0:05.0');
  t.equal(formatTime(59.96), '1:00.0', 'rounding carries into the minutes');
  const text = formatSearchResults(results);
  t.equal(
    text,
    [
      'en.json (en-1)',
      '  customer 0:11.5-0:11.9  "REFUND"',
      '  customer 1:00.0-1:10.0  "refund"',
      '',
      'zh.json (zh-1)',
      '  customer 0:20.0-0:23.0  "yàn zhèng mǎ"',
      '  agent 0:40.0-0:44.0  "验证码"',
      '  agent 1:20.0-1:20.6  "Refund"  [keyword spotter 0.60]',
      '',
    ].join('\n'),
  );
  t.equal(formatSearchResults([]), '');
});

t.test('runSearch on index files', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'earshot-search-'));
  const en = join(dir, 'en.json');
  const zh = join(dir, 'zh.json');
  const write = (file: string, index: SearchableIndex) => writeFile(file, JSON.stringify({ schema: 'earshot/call-index@1', ...index }));
  await write(en, english);
  await write(zh, mandarin);

  const found = await runSearch('customer:验证码', [en, zh]);
  t.equal(found.matched, 1);
  t.equal(found.output, `${zh} (zh-1)\n  customer 0:20.0-0:23.0  "yàn zhèng mǎ"\n`);

  const nothing = await runSearch('mortgage', [en, zh]);
  t.same(nothing, { output: '', matched: 0 });

  const bad = join(dir, 'bad.json');
  await writeFile(bad, '{"hello": 1}');
  await t.rejects(runSearch('refund', [en, bad]), { name: 'IndexFileError', file: bad, reason: 'not a call index', message: `${bad}: not a call index` });
  const broken = join(dir, 'broken.json');
  await writeFile(broken, '{"schema": "earshot/call-ind');
  await t.rejects(runSearch('refund', [broken]), { name: 'IndexFileError', file: broken, reason: 'not a call index' });
  const missing = join(dir, 'missing.json');
  try {
    await runSearch('refund', [missing]);
    t.fail('missing file');
  } catch (err) {
    t.type(err, IndexFileError);
    t.equal((err as IndexFileError).file, missing);
    t.equal((err as IndexFileError).reason, 'no such file');
  }
  await t.rejects(runSearch('(refund', [en]), QuerySyntaxError, 'the query is checked before the files');
});

// The transcript spotter: rule phrases a small recogniser gets nearly right are still heard, ordinary speech
// that only sounds alike is not, and one occurrence heard by both spotters raises one alert. Hand-made
// recogniser output (what the Mandarin and English models gave on generated calls), no audio.
import t from 'tap';
import type { Channel, KeywordFound, PipelineEvent, WordsRecognized } from '../edge/events.js';
import { TranscriptSpotter, syllableCost, tolerantPhrases } from '../edge/analysis/transcript-spotter.js';
import { RuleEngine } from '../edge/rules/engine.js';
import { RulePackRegistry, parseRulePack, phraseTuning, watchPhrases } from '../edge/rules/pack.js';
import { loadRules } from '../edge/rules/setup.js';
import { defaultConfig } from '../provisioning/config.js';
import type { Alert } from '../edge/rules/types.js';

const rules = RulePackRegistry.withBuiltins().rules();
const watched = watchPhrases(rules);
const spotter = new TranscriptSpotter(watched);

function words(channel: Channel, start: number, text: string, language: 'zh' | 'en' = 'zh', step = 0.3): WordsRecognized {
  const ws = text.split(/\s+/);
  const end = start + ws.length * step;
  return {
    type: 'words',
    channel,
    language,
    script: language === 'zh' ? 'pinyin' : 'latin',
    start,
    end,
    text,
    words: ws.map((w, i) => ({ w, start: start + i * step, end: start + (i + 1) * step, conf: 0.6 })),
    confidence: 0.6,
    emittedAt: end + 0.9,
  };
}

const terms = (event: WordsRecognized) => spotter.spot(event).map((k) => k.term);

/** The pipeline's events through the engine as edge/analyze.ts wires them: each words event followed by its transcript hits. */
function alertsOf(events: PipelineEvent[]): Alert[] {
  // the phrase rules: without utterance events the timed ones (silent agent) would fire on these bare words
  const engine = new RuleEngine(rules.filter((r) => r.kind === 'phrase'), { decisionLagSec: 0.8 });
  const alerts: Alert[] = [];
  const sorted = [...events].sort((a, b) => a.emittedAt - b.emittedAt);
  const end = Math.max(...sorted.map((e) => e.emittedAt)) + 1;
  for (const e of sorted) {
    alerts.push(...engine.push(e));
    if (e.type === 'words') for (const hit of spotter.spot(e)) alerts.push(...engine.push(hit));
  }
  alerts.push(...engine.push({ type: 'call.end', durationSec: end, emittedAt: end }));
  return alerts;
}

t.test('Mandarin rule phrases are heard through near syllables and tones', async (t) => {
  // what the zh model wrote for 只赚不赔 on a generated call: fēi for péi
  t.same(terms(words('agent', 7.6, 'zhī zhuǎn bù fēi')), ['只赚不赔']);
  t.same(terms(words('agent', 1, 'wǒ men kě yǐ gěi nín tuì kuǎng')), ['退款'], 'one near final (uang for uan) in a two-syllable phrase');
  t.same(terms(words('agent', 1, 'qǐng bǎ yàn zhèn mǎ gào sù wǒ')), ['验证码'], 'zhen for zheng');
  t.same(terms(words('agent', 1, 'wǒ gēn nín shuō wěn zhuàn tiān lín fàng xīn')), ['稳赚']);
});

t.test('ordinary speech that sounds alike is not a rule phrase', async (t) => {
  // 推广这款 (promote this model): tuī guǎng against tuì kuǎn is two near sounds in two syllables
  t.same(terms(words('agent', 1, 'wǒ men xià zhōu tuī guǎng zhè kuǎn chǎn pǐn')), []);
  t.same(terms(words('agent', 1, 'tā tuì xiū le')), [], '退休 (retired)');
  t.same(terms(words('agent', 1, 'zhǐ shì bù duì')), [], '只是不对 (only it is wrong) is not 只赚不赔');
  t.same(terms(words('agent', 1, 'jīn tiān tiān qì bù cuò wǒ zài jiā lǐ')), []);
  t.equal(syllableCost('guang', 'kuan'), 0.5);
  t.equal(syllableCost('kuang', 'kuan'), 0.25);
});

t.test('English: words split or inflected by the recogniser, not lookalike words', async (t) => {
  t.same(terms(words('agent', 1, 'please read me the verification codes', 'en')), ['verification code']);
  t.same(terms(words('agent', 1, 'what is your pass word', 'en')), ['password']);
  t.same(terms(words('agent', 1, 'it is guarantee to grow', 'en')), ['guaranteed']);
  t.same(terms(words('agent', 1, 'can i ask you about your fin for a second', 'en')), ['your PIN'], 'one letter in seven (as the tuning split heard it)');
  t.same(terms(words('agent', 1, 'can you tell me your plan', 'en')), [], 'but two letters in seven are another phrase');
  t.same(terms(words('agent', 1, 'bye for now', 'en')), ['bye'], 'a short word must be exact');
  t.same(terms(words('agent', 1, 'i will buy it by friday', 'en')), [], 'buy and by are not bye');
  t.same(terms(words('agent', 1, 'all right by', 'en')), ['bye'], 'but by at the end of what was said is a closing heard as by');
  t.same(terms(words('agent', 1, 'we can refer you to a specialist', 'en')), [], 'refer is not refund');
});

t.test('English from 9 letters: one letter in four, except where the packs keep a phrase apart from its neighbours', async (t) => {
  // the evaluation set's tuning split: what the English model wrote where the acoustic spotter was silent
  t.same(terms(words('customer', 1, 'can i ask you about insighting formation for a second', 'en')), ['inside information']);
  t.same(terms(words('agent', 1, 'ok so this thing is there africation code', 'en')), ['verification code']);
  t.same(terms(words('agent', 1, "ok so that's rather manual", 'en')), ['read the manual']);
  const shipped = new TranscriptSpotter(tolerantPhrases(loadRules(defaultConfig()).watch));
  const heard = (text: string) => shipped.spot(words('customer', 1, text, 'en')).map((k) => k.term);
  t.same(heard('that sounds fine to me thank you for checking'), [], 'checking is not calling: the late-hangup rule keeps one letter in five');
  t.same(heard('thank you for caling'), ['thank you for calling']);
  t.same(heard('how it number with his what i wanted to say'), [], '"card number" misheard is not PIN number');
  t.same(heard('what is the pin nunber'), ['PIN number'], 'but a PIN number one letter off still is');
});

t.test('one occurrence heard by the spotter and in the transcript raises one alert', async (t) => {
  const spotted: KeywordFound = { type: 'keyword', channel: 'agent', term: '只赚不赔', start: 7.7, end: 8.7, score: 0.1, source: 'kws', emittedAt: 9 };
  const said = words('agent', 7.6, 'zhī zhuǎn bù fēi');
  const both = alertsOf([spotted, said]);
  t.same(both.map((a) => a.rule), ['guaranteed-return'], 'spotter and transcript: one alert');
  t.same(alertsOf([said]).map((a) => a.rule), ['guaranteed-return'], 'the transcript alone raises it');
  const twice = alertsOf([said, words('agent', 30, 'wǒ zài shuō yī biàn zhǐ zhuàn bù péi')]);
  t.equal(twice.length, 2, 'said again later: a new alert');
  t.same(alertsOf([words('agent', 1, 'wǒ men xià zhōu tuī guǎng zhè kuǎn chǎn pǐn'), words('agent', 5, 'nín de yín háng kǎ hào shì duō shǎo')]).map((a) => a.rule), [], 'no refund, no refund lure');
  t.same(alertsOf([words('agent', 1, 'wǒ men gěi nín tuì kuǎng'), words('agent', 5, 'nín de yín háng kǎ hào shì duō shǎo')]).map((a) => a.rule), ['refund-lure']);
});

t.test('a pack tunes its phrases; the site overrides the pack; a phrase of another rule is refused', async (t) => {
  const pack = parseRulePack(
    ['pack: acme', 'rules:', '  - id: refund-talk', '    severity: info', '    phrases: { zh: [退款] }', '    tuning:', '      退款: { threshold: 0.05, tolerance: 0 }'].join('\n'),
    'acme.yml',
  );
  t.same(phraseTuning(pack.rules), { 退款: { threshold: 0.05, tolerance: 0 } });
  t.same(phraseTuning(pack.rules, { 退款: { tolerance: 0.25 } }), { 退款: { threshold: 0.05, tolerance: 0.25 } }, 'the site wins, setting by setting');
  const strict = new TranscriptSpotter(tolerantPhrases({ phrases: ['退款'], tuning: phraseTuning(pack.rules) }));
  t.same(strict.spot(words('agent', 1, 'tuì kuǎng')).length, 0, 'tolerance 0: exact only');
  t.same(strict.spot(words('agent', 1, 'tuì kuǎn')).length, 1);
  t.throws(
    () => parseRulePack(['pack: acme', 'rules:', '  - id: refund-talk', '    severity: info', '    phrases: { zh: [退款] }', '    tuning:', '      密码: { threshold: 0.05 }'].join('\n'), 'acme.yml'),
    /acme\.yml:7: rule "refund-talk": tuning: "密码" is not one of this rule's phrases/,
  );
  const twoRules = parseRulePack(
    ['pack: acme', 'rules:', '  - id: refund-talk', '    severity: info', '    phrases: { zh: [退款] }', '    tuning:', '      退款: { spotter: false }', '  - id: refund-word', '    severity: info', '    phrases: { zh: [退款, 退费] }'].join('\n'),
    'acme.yml',
  );
  t.same(phraseTuning(twoRules.rules.slice(0, 1)), { 退款: { spotter: false } }, 'a rule can leave a phrase to the transcript');
  t.same(phraseTuning(twoRules.rules), { 退款: {} }, 'but not while another rule listens for it with the spotter');
  t.same(phraseTuning(twoRules.rules, { 退款: { spotter: false } }), { 退款: { spotter: false } }, 'the site can');
  const config = defaultConfig();
  config.watch.tuning = { 退款: { boost: 3 } };
  t.same(loadRules(config).watch.tuning['退款']?.boost, 3, 'loadRules hands the merged tuning to the spotters');
  const grouped = parseRulePack(
    ['pack: acme', 'rules:', '  - id: closing', '    severity: info', '    spotterGroup: closings', '    phrases: { zh: [再见, 拜拜] }', '    tuning:', '      拜拜: { threshold: 0.05, group: byes }', '  - id: bye-word', '    severity: info', '    spotterGroup: words', '    phrases: { zh: [再见, 退款] }'].join('\n'),
    'acme.yml',
  );
  t.same(
    phraseTuning(grouped.rules),
    { 再见: { group: 'closings' }, 拜拜: { threshold: 0.05, group: 'byes' }, 退款: { group: 'words' } },
    "a rule's spotterGroup reaches each of its phrases; a phrase's own group wins; a phrase in two rules is decoded by the first's",
  );
  t.same(phraseTuning(grouped.rules, { 再见: { group: 'site' } })['再见'], { group: 'site' }, 'the site regroups a phrase');
  t.throws(() => parseRulePack(['pack: acme', 'rules:', '  - id: closing', '    severity: info', '    spotterGroup: Closings!', '    phrases: { zh: [再见] }'].join('\n'), 'acme.yml'), /spotterGroup/);
});

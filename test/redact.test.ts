import t from 'tap';
import { WINDOW_SEC, redact, redactSegments, redactTranscript, redactWords } from '../lib/redact.js';
import { sanitizeForUplink } from '../lib/privacy.js';

const masked = (s: string) => redact(s);

t.test('card numbers written as numerals, 13-19 digits with spaces or dashes, keep at most their last four', async (t) => {
  t.equal(masked('my card is 4111 1111 1111 1111 thanks'), 'my card is **** **** **** 1111 thanks');
  t.equal(masked('4111-1111-1111-1111'), '****-****-****-1111');
  t.equal(masked('number 4111111111111111, expiry next year'), 'number ************1111, expiry next year');
  t.equal(masked('amex 3782 822463 10005'), 'amex **** ****** *0005');
  t.equal(masked('卡号6222021234567890123'), '卡号***************0123');
  t.equal(masked('身份证号11010519491231002X'), '身份证号**************002X', 'a resident ID number with its X check character');
  // too short or too long a run of numerals alone is not a card
  t.equal(masked('order 4472 arrived'), 'order 4472 arrived');
  t.equal(masked('call 0800 123 456'), 'call 0800 123 456');
  t.equal(masked('in 2024 we paid 42 pounds'), 'in 2024 we paid 42 pounds');
});

t.test('spelled-out digits: English words, Chinese characters and pinyin, runs of four or more', async (t) => {
  t.equal(masked('it is four five six seven eight'), 'it is * * * * *', 'one mark per spoken digit: word lengths would give digits away');
  t.equal(masked('sure, it is oh seven seven, one two three, four five six.'), 'sure, it is * * *, * * *, * * *.');
  t.equal(masked('Four Five Six Seven'), '* * * *');
  t.equal(masked('卡号是六二二二零二一二三四'), '卡号是**********');
  t.equal(masked('幺三八零零一三八零零零'), '***********');
  t.equal(masked('kǎ hào shì liù èr èr èr líng èr'), 'kǎ hào shì * * * * * *');
  t.equal(masked('wǒ de shǒu jī hào yāo sān bā'), 'wǒ de shǒu jī hào * * *', 'three spoken digits are masked: a CVV is three');
  t.equal(masked('the security poets seven three one'), 'the security poets * * *', 'even when the recogniser garbled the cue');
  t.equal(masked('the code is to wait for six nine one'), 'the code is to wait * * * *', 'digit homophones join a run of digits');
  t.equal(masked('I am going to four seasons'), 'I am going to four seasons');
});

t.test('ordinary numbers stay', async (t) => {
  for (const s of [
    'that is fifteen pounds',
    'You have three point two gigabytes left',
    'twenty one working days',
    'one or two questions',
    'a charge of sixty pounds for roaming',
    'one moment please',
    'Oh, a refund? That is nice.',
    '年化收益百分之十五',
    '我要一个，两个就够了',
    'nín hǎo huān yíng zhì diàn',
    'yī gè wèn tí',
  ]) {
    t.equal(masked(s), s, s);
  }
});

t.test('values after cue words are masked, the cue is kept', async (t) => {
  t.equal(masked('the verification code is 482913'), 'the verification code is ******');
  t.equal(masked('my PIN is 1 2 3 4'), 'my PIN is * * * *');
  t.equal(masked('my PIN number is four four two one'), 'my PIN number is * * * *');
  t.equal(masked('CVV 123'), 'CVV ***');
  t.equal(masked('security code: 7 7 1'), 'security code: * * *');
  t.equal(masked('password is hunter2 okay'), 'password is ******* okay');
  t.equal(masked('my password is sunshine seventy seven'), 'my password is ******** * *', 'a spoken password is words; a number word is one mark, whatever its length');
  t.equal(masked('密码是春天. 好的'), '密码是**. 好的');
  t.equal(masked('the passcode is A B 9 9'), 'the passcode is * * * *');
  t.equal(masked('the code is nine one'), 'the code is * *');
  t.equal(masked('密码是123456'), '密码是******');
  t.equal(masked('验证码是六五四'), '验证码是***');
  t.equal(masked('安全码 321'), '安全码 ***');
  t.equal(masked('yàn zhèng mǎ shì liù wǔ sì'), 'yàn zhèng mǎ shì * * *');
  t.equal(masked('mì mǎ yī èr sān'), 'mì mǎ * * *');
  t.equal(masked('an quan ma 5 5 1'), 'an quan ma * * *');
});

t.test('a cue with no value after it masks nothing', async (t) => {
  for (const s of [
    'Please read me the verification code, and your online banking password.',
    'never share your PIN with anyone',
    'the code is on the back of the card',
    '请把验证码告诉我，还有您的取款密码。',
    'lín huì shuō dào yì tiān yàn zhèng gào sù wǒ',
  ]) {
    t.equal(masked(s), s, s);
  }
});

t.test('redaction is idempotent and keeps the rest of the text', async (t) => {
  const once = masked('agent 0:19.2 "… the verification code is 4 8 2 9 1 3 and your card 4111 1111 1111 1111 …"');
  t.equal(once, 'agent 0:19.2 "… the verification code is * * * * * * and your card **** **** **** 1111 …"');
  t.equal(masked(once), once);
});

t.test('a call redacted again is unchanged: a masked answer still answers its request, a masked code still fills its window', async (t) => {
  const said = [
    { channel: 'agent', start: 10, end: 12, text: 'please tell me your online banking password' },
    { channel: 'customer', start: 12.5, end: 14, text: 'sunshine' },
    { channel: 'customer', start: 20, end: 22, text: 'the parcel never came' },
    { channel: 'agent', start: 30, end: 31, text: 'what is the verification code' },
    { channel: 'customer', start: 31.5, end: 33, text: '4 8 2 9' },
    { channel: 'customer', start: 40, end: 42, text: 'line 2 was busy' },
    { channel: 'customer', start: 50, end: 52, text: 'yes it is 4111 1111 1111 1111 and the cvv is 731' },
  ];
  const once = sanitizeForUplink({ utterances: said });
  t.same(
    once.utterances.map((u) => u.text),
    ['please tell me your online banking password', '********', 'the parcel never came', 'what is the verification code', '* * * *', 'line 2 was busy', 'yes it is **** **** **** 1111 and the cvv is ***'],
  );
  // Before, each pass masked more: the next utterance after the masked answer, the next number after the
  // masked code, and the last four the card keeps (a value before "the cvv").
  t.same(sanitizeForUplink(once), once);
  t.same(sanitizeForUplink(sanitizeForUplink(once)), once);
  // Masks make runs of their own: beside a number they must not add up to a card-length run.
  const evidence = 'customer voice raised: pitch +31%, tempo +0%, loudness +6.4 dB (score 0.74): "***** * ** ****"';
  t.equal(redact(evidence), evidence);
});

t.test('a transcript kept as words is redacted across the words, one mask per masked word', async (t) => {
  const words = 'my card is four one one one one one one one one one one one one one one one thanks'.split(' ');
  const out = redactWords(words);
  t.equal(out.length, words.length);
  t.same(out.slice(0, 3), ['my', 'card', 'is']);
  t.equal(out[out.length - 1], 'thanks');
  t.ok(out.slice(3, -1).every((w) => w === '*'), 'every spoken digit masked, though no single word is a card number');
  t.same(redactWords(['yàn', 'zhèng', 'mǎ', 'shì', 'liù', 'wǔ', 'sì', 'bā']), ['yàn', 'zhèng', 'mǎ', 'shì', '*', '*', '*', '*']);
});

t.test("the customer's answer to a request for a secret is masked whole, even with its cue garbled", async (t) => {
  const said = [
    { channel: 'agent', start: 10, end: 12, text: 'please confirm your online banking password' },
    { channel: 'customer', start: 12.5, end: 14, text: 'my passlert is sunshine', words: [{ w: 'my' }, { w: 'passlert' }, { w: 'is' }, { w: 'sunshine' }] },
    { channel: 'customer', start: 40, end: 42, text: 'thank you goodbye' },
    { channel: 'agent', start: 50, end: 51, text: 'yàn zhèng mǎ shì duō shǎo' },
    { channel: 'customer', start: 51.5, end: 53, text: 'wǔ wǔ èr yāo' },
  ];
  const out = redactTranscript(said);
  t.equal(out[1].text, '** ******** ** ********');
  t.same(out[1].words?.map((w) => w.w), ['**', '********', '**', '********']);
  t.equal(out[2].text, 'thank you goodbye', 'words long after the request are not an answer');
  t.equal(out[4].text, '* * * *');
  t.equal(out[0].text, said[0].text, "the agent's question stays readable");
  const spotted = redactTranscript([{ channel: 'customer', start: 31, end: 33, text: 'it is blue monkey' }], [30]);
  t.equal(spotted[0].text, '** ** **** ******', 'a request heard only by the keyword spotter counts too');
});

t.test('a window closes: after its value, after another cue, and WINDOW_SEC after its cue', async (t) => {
  const said = (answerAt: number) =>
    redactSegments([
      { channel: 'agent', start: 0, text: 'what is your pin' },
      { channel: 'customer', start: answerAt, text: 'it is 4321' },
    ])[1];
  t.equal(said(60), 'it is ****', 'a minute later the answer is still masked');
  t.equal(said(WINDOW_SEC + 10), 'it is 4321', 'long after the question four digits are only four digits');
  t.same(redactSegments([{ text: 'my pin is 4321' }, { text: 'and I paid 2020 last year' }]), ['my pin is ****', 'and I paid 2020 last year'], 'a complete PIN closes its window');
});

t.test('object keys are redacted like values on the way out', async (t) => {
  const out = sanitizeForUplink({ terms: { 'my pin is 4321': 2, refund: 1 } });
  t.same(Object.keys(out.terms), ['my pin is ****', 'refund']);
});

t.test('an alert keeps its own identifiers: a rule named after a card keeps the digit of its id, its words are still masked', async (t) => {
  const alert = { callId: 'desk-1-c1', id: 'card-data-1', rule: 'card-data', box: 'box-7', evidence: 'my card number is 4111 1111 1111 1111', title: 'card number 4111 1111 1111 1111' };
  const sent = sanitizeForUplink(alert);
  t.equal(sent.id, 'card-data-1', 'the id an ack and a review name is the one the box made');
  t.equal(sent.callId, 'desk-1-c1');
  t.equal(sent.rule, 'card-data');
  t.notMatch(sent.evidence, /4111 1111/, 'the evidence is masked');
  t.notMatch(sent.title, /4111 1111/, 'free text beside the identifiers is masked too');
});

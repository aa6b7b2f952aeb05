import t from 'tap';
import { MASK, redact } from '../edge/redact.js';

const masked = (s: string) => redact(s);

t.test('card numbers written as numerals, 13-19 digits with spaces or dashes', async (t) => {
  t.equal(masked('my card is 4111 1111 1111 1111 thanks'), `my card is ${MASK} thanks`);
  t.equal(masked('4111-1111-1111-1111'), MASK);
  t.equal(masked('number 4111111111111111, expiry next year'), `number ${MASK}, expiry next year`);
  t.equal(masked('amex 3782 822463 10005'), `amex ${MASK}`);
  t.equal(masked('卡号6222021234567890123'), `卡号${MASK}`);
  // too short or too long a run of numerals alone is not a card
  t.equal(masked('order 4472 arrived'), 'order 4472 arrived');
  t.equal(masked('call 0800 123 456'), 'call 0800 123 456');
  t.equal(masked('in 2024 we paid 42 pounds'), 'in 2024 we paid 42 pounds');
});

t.test('spelled-out digits: English words, Chinese characters and pinyin, runs of four or more', async (t) => {
  t.equal(masked('it is four five six seven eight'), `it is ${MASK}`);
  t.equal(masked('sure, it is oh seven seven, one two three, four five six.'), `sure, it is ${MASK}.`);
  t.equal(masked('Four Five Six Seven'), MASK);
  t.equal(masked('卡号是六二二二零二一二三四'), `卡号是${MASK}`);
  t.equal(masked('幺三八零零一三八零零零'), MASK);
  t.equal(masked('kǎ hào shì liù èr èr èr líng èr'), `kǎ hào shì ${MASK}`);
  t.equal(masked('wǒ de shǒu jī hào yāo sān bā'), 'wǒ de shǒu jī hào yāo sān bā', 'three digits are not a number worth hiding');
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
  t.equal(masked('the verification code is 482913'), `the verification code is ${MASK}`);
  t.equal(masked('my PIN is 1 2 3 4'), `my PIN is ${MASK}`);
  t.equal(masked('my PIN number is four four two one'), `my PIN number is ${MASK}`);
  t.equal(masked('CVV 123'), `CVV ${MASK}`);
  t.equal(masked('security code: 7 7 1'), `security code: ${MASK}`);
  t.equal(masked('password is hunter2 okay'), `password is ${MASK} okay`);
  t.equal(masked('the passcode is A B 9 9'), `the passcode is ${MASK}`);
  t.equal(masked('the code is nine one'), `the code is ${MASK}`);
  t.equal(masked('密码是123456'), `密码是${MASK}`);
  t.equal(masked('验证码是六五四'), `验证码是${MASK}`);
  t.equal(masked('安全码 321'), `安全码 ${MASK}`);
  t.equal(masked('yàn zhèng mǎ shì liù wǔ sì'), `yàn zhèng mǎ shì ${MASK}`);
  t.equal(masked('mì mǎ yī èr sān'), `mì mǎ ${MASK}`);
  t.equal(masked('an quan ma 5 5 1'), `an quan ma ${MASK}`);
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
  t.equal(once, `agent 0:19.2 "… the verification code is ${MASK} and your card ${MASK} …"`);
  t.equal(masked(once), once);
});

/**
 * The words the redactor listens for, in every script the recognisers write: English words, Mandarin
 * characters (simplified and traditional, one token per character) and pinyin syllables with tones dropped.
 * Each list names what it is for; the redactor (lib/redact.ts) decides what to do with them.
 */

/** What a request or an announcement is about: it decides how much of what follows is the secret. */
export type SecretKind = 'card' | 'cvv' | 'pin' | 'password' | 'code';

export interface Cue {
  words: string[];
  kind: SecretKind;
}

const cues = (kind: SecretKind, phrases: string[]): Cue[] => phrases.map((p) => ({ kind, words: p.includes(' ') ? p.split(' ') : isHan(p) ? [...p] : [p] }));
const isHan = (s: string): boolean => /^\p{Script=Han}+$/u.test(s);

/**
 * Cue phrases, longest first where one contains another. Misrecognitions a recogniser makes of the cue words
 * are listed beside them ("carrot number", "pen number", 验证吗): the cue is what opens the window, so a
 * garbled cue must still open it.
 */
export const CUES: Cue[] = [
  ...cues('cvv', [
    'card verification value', 'card verification code', 'card verification', 'security code', 'security number', 'security digits', 'security numbers',
    'three digits on the back', 'three digit code', 'three digit number', 'three digits', 'three digit', '3 digits', '3 digit', 'last three digits', 'last three',
    'digits on the back', 'numbers on the back', 'number on the back', 'back of the card', 'back of your card',
    'cvv', 'cvv2', 'cvc', 'cvc2', 'cv2', 'csc', 'cvn', 'c v v', 'c v c', 'see vee vee', 'sea v v', 'c b v', 'cbv', 'cvb', 'cdv',
    '安全码', '安全碼', '后三位', '後三位', '背面', '校验码', '校驗碼', 'an quan ma', 'hou san wei', 'jiao yan ma',
  ]),
  ...cues('pin', [
    'personal identification number', 'personal identification', 'pin number', 'pin code', 'pin no', 'pen number', 'pin', 'pins', 'pim',
  ]),
  ...cues('password', [
    'one time password', 'one time passcode', 'pass word', 'pass code', 'pass phrase', 'past word', 'passed word', 'memorable word', 'memorable information', 'secret word',
    'password', 'passwords', 'passcode', 'passwd', 'passphrase',
    '密码', '密碼', '密马', '蜜码', '秘码', '口令', 'mi ma', 'kou ling',
  ]),
  ...cues('code', [
    'one time code', 'verification code', 'verify code', 'authentication code', 'authorisation code', 'authorization code', 'auth code', 'access code',
    'activation code', 'sms code', 'text code', 'security key', 'text message says', 'text message', 'the text says', 'text says', 'message says', 'otp', 'o t p', 'code', 'codes',
    '验证码', '驗證碼', '验证吗', '验证马', '验正码', '动态码', '動態碼', '短信码', '收到的码', '码是', '碼是', '码为', 'yan zheng ma', 'dong tai ma',
  ]),
  ...cues('card', [
    'card number', 'card numbers', 'card no', 'card details', 'carrot number', 'cart number', 'kard number', 'cord number', 'long number', 'number on the card', 'number on the front',
    'credit card', 'debit card', 'card',
    '银行卡号', '銀行卡號', '卡号', '卡號', '银行卡', '銀行卡', '信用卡', '借记卡', '储蓄卡', '卡的号码', '卡上的号码', 'ka hao', 'yin hang ka', 'xin yong ka',
  ]),
].sort((a, b) => b.words.length - a.words.length);

/** "post code", "area code", "promo code": a code that is no secret. */
export const NOT_SECRET_BEFORE_CODE = new Set([
  'post', 'postal', 'area', 'zip', 'country', 'dialing', 'dialling', 'sort', 'promo', 'promotional', 'discount', 'voucher', 'tracking', 'reference', 'booking',
  'product', 'error', 'qr', 'bar', 'dress', 'source', 'tax', 'tariff', 'plan', 'offer',
]);

/** A sentence that asks for something: its password cue wants the next answer, not only a value after it. */
export const REQUEST_WORDS = new Set([
  'what', 'whats', 'tell', 'confirm', 'read', 'give', 'provide', 'say', 'repeat', 'need', 'enter', 'type', 'spell', 'share', 'verify', 'could', 'can', 'please',
  '请', '告', '提', '说', '报', '输', '多', '什', '么', '吗', '念',
]);

/**
 * Words that may sit between the digits of one number, or between a cue and its value, without ending
 * either: fillers, connectives, hedges. Sequences for Mandarin words (one token per character).
 */
export const FILLERS: string[][] = [
  ...['uh', 'um', 'umm', 'uhm', 'erm', 'ah', 'eh', 'hmm', 'mm', 'mmm', 'hm', 'like', 'and', 'then', 'so', 'okay', 'ok', 'right', 'yeah', 'yes', 'sorry', 'dash', 'hyphen', 'space', 'comma', 'next', 'wait', 'actually', 'en', 'e'].map((w) => [w]),
  ...['那个', '个', '個', '然后', '還有', '还有', '接着', '就是', '的话', '的話', '嗯', '呃', '啊', '额', '哦', '和', '再', '是', '呢', '吧', '了'].map((w) => [...w]),
  ['ran', 'hou'],
  ['na', 'ge'],
];

/** Words between a cue and its value ("pin number is going to be 4321", "验证码的话是…"), besides the fillers. */
export const CONNECTIVES = new Set([
  'is', 'was', 'its', 'it', 'number', 'code', 'my', 'your', 'the', 'are', 'be', 'will', 'going', 'to', 'should', 'would', 'i', 'got', 'received', 'get', 'thats', 'that',
  'of', 'on', 'this', 'digits', 'me', 'says', 'said', 'reads', 'say', 'just', 'new',
  '是', '为', '為', '就', '号', '號', '的', '我', '收', '到', '码', '碼', '话', '話', '这', '這', '个', '個', 'shi', 'wei', 'jiu', 'hao', 'de',
]);

/** What makes the words after a password cue its value ("password is …", "密码是…"), not "password on the website". */
export const PASSWORD_LINKS = new Set(['is', 'was', 'its', 'are', 'be', 'says', 'said', 'reads', '是', '为', '為', 'shi', 'wei']);
/** A password spoken as words ends here ("my password is sunshine, thanks"); a question word is no value ("密码是什么"). */
export const PASSWORD_STOP = new Set(['thanks', 'thank', 'okay', 'ok', 'please', 'bye', 'right', 'cheers', 'what', 'whats', 'which', '谢', '謝', '好', '什', '多', '啥', '哪', 'shen', 'duo', 'sha']);
/** Pinyin digit syllables (tones dropped), beside which a toneless "er" is 2. */
export const PINYIN_DIGITS = new Set(['ling', 'yao', 'yi', 'san', 'si', 'wu', 'liu', 'qi', 'ba', 'jiu', 'liang', 'er']);

/** Digit words: English, pinyin (tones dropped), Chinese characters. */
export const DIGIT_WORDS: Record<string, string> = {
  zero: '0', oh: '0', o: '0', nought: '0', one: '1', two: '2', three: '3', four: '4', five: '5', six: '6', seven: '7', eight: '8', nine: '9', niner: '9',
  ling: '0', yao: '1', yi: '1', san: '3', si: '4', wu: '5', liu: '6', qi: '7', ba: '8', jiu: '9', liang: '2',
  零: '0', 〇: '0', 幺: '1', 一: '1', 二: '2', 两: '2', 兩: '2', 三: '3', 四: '4', 五: '5', 六: '6', 七: '7', 八: '8', 九: '9',
};
/**
 * The tone of each pinyin digit as digits are read out (one by one, so without the tone changes 一 takes in
 * 一下 yí xià or 一个 yí gè). In tone-marked pinyin any other tone, or none (a neutral tone), is another word:
 * yào (要, "want"), jiù (就, "then"), bà ba (爸爸), the particle ba (吧), yí xià… are not digits, and "我要退款"
 * after a card question must stay readable. Pinyin written without any tone marks may be either.
 */
export const PINYIN_DIGIT_TONES: Record<string, readonly string[]> = {
  ling: ['líng'], yao: ['yāo'], yi: ['yī'], san: ['sān'], si: ['sì'], wu: ['wǔ'], liu: ['liù'], qi: ['qī'], ba: ['bā'], jiu: ['jiǔ'], liang: ['liǎng'],
};
export const TONE_MARK = /[āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ]/u;
/** Pinyin "er" (2) only when its tone mark shows it is pinyin; without one it is the English filler "er". */
export const TONED_ER = /^[ēéěè]r$/u;
/** What a recogniser writes for a spoken digit it mishears ("two eight four" → "to ate for"). */
export const DIGIT_HOMOPHONES: Record<string, string> = { to: '2', too: '2', for: '4', fore: '4', won: '1', ate: '8', tree: '3', free: '3', sex: '6', nein: '9' };
export const TEENS: Record<string, string> = {
  ten: '10', eleven: '11', twelve: '12', thirteen: '13', fourteen: '14', fifteen: '15', sixteen: '16', seventeen: '17', eighteen: '18', nineteen: '19',
};
export const TENS: Record<string, string> = { twenty: '2', thirty: '3', forty: '4', fourty: '4', fifty: '5', sixty: '6', seventy: '7', eighty: '8', ninety: '9' };
/** Place words: a number that has them is said as a quantity, not read out digit by digit. */
export const PLACES: Record<string, number> = { hundred: 2, thousand: 3, million: 6, 十: 1, 百: 2, 千: 3, 万: 4, 萬: 4 };
export const REPEATS: Record<string, number> = { double: 2, triple: 3, 'treble': 3 };
/** Letters spelled in a code or password ("A B 9 9", "alpha bravo"). */
export const NATO = new Set([
  'alpha', 'alfa', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'juliett', 'kilo', 'lima', 'mike', 'november', 'oscar', 'papa',
  'quebec', 'romeo', 'sierra', 'tango', 'uniform', 'victor', 'whiskey', 'whisky', 'xray', 'yankee', 'zulu',
]);

/**
 * After a number, words that make it an ordinary quantity QA needs to read: amounts, dates, times,
 * durations, counts, plans. A card-length run is masked whatever follows it.
 */
export const ORDINARY_AFTER = new Set([
  'pound', 'pounds', 'quid', 'pence', 'p', 'penny', 'dollar', 'dollars', 'bucks', 'cent', 'cents', 'euro', 'euros', 'yuan', 'rmb', 'kuai', 'percent', 'per', 'pc', 'k', 'grand',
  'gb', 'gig', 'gigs', 'gigabyte', 'gigabytes', 'mb', 'megabyte', 'megabytes', 'minute', 'minutes', 'min', 'mins', 'hour', 'hours', 'hr', 'hrs', 'second', 'seconds', 'sec', 'secs',
  'day', 'days', 'week', 'weeks', 'fortnight', 'month', 'months', 'year', 'years', 'oclock', 'am', 'pm', 'tonight', 'today', 'tomorrow', 'point', 'times',
  'texts', 'messages', 'attempts', 'tries', 'items', 'calls', 'people', 'cards', 'accounts', 'payments', 'instalments', 'installments', 'plan', 'plans', 'tariff', 'bundle', 'package',
  'digits', 'digit', 'characters', 'letters', 'moment', 'half', 'quarter', 'ish', 'first', 'second', 'third', 'fourth', 'fifth', 'sixth', 'seventh', 'eighth',
  'ninth', 'tenth', 'th', 'st', 'nd', 'rd', 'january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december',
  'jan', 'feb', 'apr', 'jun', 'jul', 'aug', 'sep', 'sept', 'oct', 'nov', 'dec', 'lines', 'sims', 'phones', 'devices', 'bills', 'working', 'business', 'more', 'extra', 'left',
  '年', '月', '日', '号', '號', '点', '點', '分', '秒', '元', '块', '塊', '毛', '角', '岁', '歲', '个', '個', '次', '天', '周', '週', '小', '钟', '鐘', '兆', '位', '张', '張', '件',
  '下', '会', '會', '起', '样', '樣', '直', '定', '些', '共', '切', '般', '边', '邊', '半', '倍', '折', '成', '期', '楼', '層', '层', '套', '人', '遍', '条', '條', '笔', '筆', '台', '部', '多', '万', '萬', '千', '百', '美', '英', '欧', '港', '刻', '半',
  'nian', 'yue', 'ri', 'dian', 'fen', 'miao', 'yuan', 'kuai', 'ge', 'ci', 'tian', 'wei', 'zhang', 'tao', 'xiao',
]);
/** Before a number, words that make it ordinary: a time, a date, a plan, a decimal, a percentage, an ordinal. */
export const ORDINARY_BEFORE = new Set([
  'at', 'till', 'until', 'since', 'before', 'after', 'around', 'about', 'approximately', 'roughly', 'nearly', 'almost', 'over', 'under', 'plan', 'tariff', 'bundle', 'package',
  'option', 'level', 'tier', 'version', 'page', 'step', 'room', 'floor', 'point', 'gold', 'silver', 'unlimited', 'essentials', 'premium', 'in', 'from', 'year',
  'january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december', 'jan', 'feb', 'apr', 'jun', 'jul', 'aug', 'sep', 'sept', 'oct', 'nov', 'dec',
  'expiry', 'expires', 'expiration', 'exp', 'valid', 'date', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday', 'extension', 'ext', 'only', 'just', 'first', 'last', 'up', 'every',
  '第', '百', '之', '周', '週', '星', '期', '礼', '拜', '初', '点', '點', '套', '餐', '约', '約', '大', '概', '才', '共', '付', '花', '交', '欠', '退', '还', '還', '扣', '收', '费', '費',
  'di', 'zhou', 'xing', 'qi', 'chu', 'dian',
]);
/**
 * Of ORDINARY_BEFORE, the words that do not protect a number inside an open window: "the code is ... the 4 8 2"
 * is the secret; "in" and "from" are too common in an answer ("from the text, 4 8 2 9").
 */
export const WEAK_BEFORE = new Set(['in', 'from', 'only', 'just', 'first', 'last', 'up', 'every', 'over', 'under', '收', '付', '还', '還', 'qi']);

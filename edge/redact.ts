/**
 * What must never leave the box in a published snippet (alert evidence, search excerpts): card numbers and
 * the secrets that follow a cue word (CVV, PIN, password, verification code; 密码, 验证码, 安全码). The cue
 * itself stays, so QA can see *what* was asked; only the value is masked.
 *
 * Works on every script the pipeline writes: English words, Mandarin in characters, and Mandarin as
 * tone-marked pinyin syllables (matched tone-insensitively).
 */

export const MASK = '***';

interface Token {
  /** normalised: lower case, accents and tones dropped, apostrophes removed */
  norm: string;
  raw: string;
  from: number;
  to: number;
  han: boolean;
}

// A Han character on its own is a token (Chinese is written without spaces); Latin words and numerals are runs.
const TOKEN = /\p{Script=Han}|[\p{L}\p{N}\p{M}'\u2019]+/gu;
const HAN = /^\p{Script=Han}$/u;

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  for (const m of text.matchAll(TOKEN)) {
    const raw = m[0];
    const norm = raw
      .normalize('NFD')
      .replace(/[\p{M}'\u2019]/gu, '')
      .toLowerCase();
    out.push({ norm, raw, from: m.index!, to: m.index! + raw.length, han: HAN.test(raw) });
  }
  return out;
}

const EN_DIGITS = new Set(['zero', 'oh', 'o', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'niner']);
const ZH_DIGITS = new Set([...'一二三四五六七八九零〇幺两']);
// Tone-insensitive pinyin readings of the digits (yāo is 1 on the phone, liǎng is 2).
const PINYIN_DIGITS = new Set(['ling', 'yao', 'yi', 'er', 'san', 'si', 'wu', 'liu', 'qi', 'ba', 'jiu', 'liang']);

/** How many digits a token stands for (0: not a digit token). */
function digitCount(t: Token): { n: number; spelled: boolean } {
  if (/^\d+$/.test(t.norm)) return { n: t.norm.length, spelled: false };
  if (t.han) return { n: ZH_DIGITS.has(t.raw) ? 1 : 0, spelled: true };
  if (EN_DIGITS.has(t.norm) || PINYIN_DIGITS.has(t.norm)) return { n: 1, spelled: true };
  return { n: 0, spelled: false };
}

/** Between two digits of one number: nothing (Chinese), spaces, dashes, commas, dots, slashes. */
const NUMBER_GLUE = /^[\s\-\u2010-\u2015,.\/、，。]*$/u;

/** A value that can follow a cue: digits, digit words, letters mixed with digits, or spelled single letters. */
function valueLike(t: Token): boolean {
  if (digitCount(t).n > 0) return true;
  if (t.han) return false;
  if (/\d/.test(t.norm) && /^[\p{L}\p{N}]+$/u.test(t.norm)) return true;
  return /^[a-z]$/.test(t.norm);
}

/** Cue phrases, as token sequences: English words, Chinese characters, pinyin syllables (tones dropped). */
const CUES: string[][] = [
  ['cvv'],
  ['cvc'],
  ['cvv2'],
  ['security', 'code'],
  ['pin'],
  ['password'],
  ['passcode'],
  ['passwd'],
  ['verification', 'code'],
  ['code', 'is'],
  ['otp'],
  ['one', 'time', 'code'],
  ['密', '码'],
  ['验', '证', '码'],
  ['安', '全', '码'],
  ['校', '验', '码'],
  ['口', '令'],
  ['mi', 'ma'],
  ['yan', 'zheng', 'ma'],
  ['an', 'quan', 'ma'],
];

/** Words allowed between a cue and its value: "PIN number is 1 2 3 4", "密码是123456", "mì mǎ shì ...". */
const CONNECTIVES = new Set(['is', 'was', 'its', 'it', 'number', 'code', 'my', 'your', 'the', 'are', 'be', 'will', '是', '为', '就', '是', 'shi', 'wei', 'jiu', 'hao', '号']);
const MAX_CONNECTIVES = 3;
const MAX_VALUE_TOKENS = 8;

function cueAt(tokens: Token[], i: number): number {
  for (const cue of CUES) {
    if (i + cue.length > tokens.length) continue;
    if (cue.every((c, j) => tokens[i + j].norm === c)) return cue.length;
  }
  return 0;
}

/** Masks card numbers and credentials in `text`; everything else, punctuation and spacing included, is kept. */
export function redact(text: string): string {
  const tokens = tokenize(text);
  const masked = new Array<boolean>(tokens.length).fill(false);

  // 1. Runs of digits: 13-19 numerals (card numbers), or >= 4 digits spelled out (words or characters).
  let i = 0;
  while (i < tokens.length) {
    if (digitCount(tokens[i]).n === 0) {
      i++;
      continue;
    }
    let j = i;
    let digits = 0;
    let spelled = 0;
    for (;;) {
      const d = digitCount(tokens[j]);
      digits += d.n;
      if (d.spelled) spelled++;
      const next = tokens[j + 1];
      if (!next || digitCount(next).n === 0 || !NUMBER_GLUE.test(text.slice(tokens[j].to, next.from))) break;
      j++;
    }
    // "oh" alone or at the edge of a run is an interjection, not a zero
    const mask = spelled > 0 ? digits >= 4 : digits >= 13;
    if (mask) for (let k = i; k <= j; k++) masked[k] = true;
    i = j + 1;
  }

  // 2. Values after cue words; the cue is kept.
  for (let c = 0; c < tokens.length; c++) {
    const len = cueAt(tokens, c);
    if (len === 0) continue;
    let k = c + len;
    let connectives = 0;
    while (k < tokens.length && connectives < MAX_CONNECTIVES && CONNECTIVES.has(tokens[k].norm) && !valueLike(tokens[k])) {
      k++;
      connectives++;
    }
    let values = 0;
    while (k < tokens.length && values < MAX_VALUE_TOKENS && valueLike(tokens[k])) {
      masked[k] = true;
      k++;
      values++;
    }
  }

  // 3. Rewrite: each run of masked tokens (with what glues them together) becomes one mask.
  let out = '';
  let last = 0;
  for (let k = 0; k < tokens.length; k++) {
    if (!masked[k]) continue;
    let end = k;
    while (end + 1 < tokens.length && masked[end + 1] && /^[\s\-\u2010-\u2015,.\/、，]*$/u.test(text.slice(tokens[end].to, tokens[end + 1].from))) end++;
    out += text.slice(last, tokens[k].from) + MASK;
    last = tokens[end].to;
    k = end;
  }
  return out + text.slice(last);
}

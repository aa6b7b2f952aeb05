/**
 * What must never leave the box in a published snippet (alert evidence, search excerpts): card numbers and
 * the secrets that follow a cue word (CVV, PIN, password, verification code; 密码, 验证码, 安全码). The cue
 * itself stays, so QA can see *what* was asked; only the value is masked.
 *
 * Works on every script the pipeline writes: English words, Mandarin in characters, and Mandarin as
 * tone-marked pinyin syllables (matched tone-insensitively).
 */

import { foldWord } from './text.js';

/** The character that stands in for each masked letter or digit: the shape of what was removed stays visible. */
export const MASK_CHAR = '*';

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
    const norm = foldWord(raw);
    out.push({ norm, raw, from: m.index!, to: m.index! + raw.length, han: HAN.test(raw) });
  }
  return out;
}

const EN_DIGITS = new Set(['zero', 'oh', 'o', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'niner']);
/** What a recogniser writes for a spoken digit it mishears ("two eight four" → "to ate for"). */
const EN_DIGIT_HOMOPHONES = new Set(['to', 'too', 'for', 'fore', 'won', 'ate']);
const ZH_DIGITS = new Set([...'一二三四五六七八九零〇幺两']);
// Tone-insensitive pinyin readings of the digits (yāo is 1 on the phone, liǎng is 2).
const PINYIN_DIGITS = new Set(['ling', 'yao', 'yi', 'er', 'san', 'si', 'wu', 'liu', 'qi', 'ba', 'jiu', 'liang']);

/** How many digits a token stands for (0: not a digit token). */
function digitCount(t: Token): { n: number; spelled: boolean } {
  if (/^\d+$/.test(t.norm)) return { n: t.norm.length, spelled: false };
  // A Chinese resident ID number ends in a check character that may be X.
  if (/^\d{17}x$/.test(t.norm)) return { n: 18, spelled: false };
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
/** A spoken password is ordinary words ("sunshine seventy seven"): after "password is" they are the secret. */
const PASSWORD_CUES = new Set(['password', 'passcode', 'passwd', '密码', '口令', 'mima']);
const MAX_PASSWORD_WORDS = 3;
const SENTENCE_END = /[.!?。！？;；]/u;

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
  /** Tokens of a written card or ID number: its first and last four digits stay readable. */
  const cardRun = new Array<boolean>(tokens.length).fill(false);

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
    // Homophones of digits join a run that has real digits in it ("for six nine one").
    while (i > 0 && EN_DIGIT_HOMOPHONES.has(tokens[i - 1].norm) && NUMBER_GLUE.test(text.slice(tokens[i - 1].to, tokens[i].from)) && spelled > 0) {
      i--;
      digits++;
    }
    // Three spoken digits are enough: a CVV is three, and a recogniser garbles the words that announce it.
    const mask = spelled > 0 ? digits >= 3 : digits >= 13;
    if (mask) for (let k = i; k <= j; k++) {
      masked[k] = true;
      cardRun[k] = spelled === 0;
    }
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
    const cueWord = tokens.slice(c, c + len).map((t) => t.norm).join('');
    const isPassword = PASSWORD_CUES.has(cueWord) && connectives > 0;
    let values = 0;
    // A typed-looking value (hunter2) is the whole password; otherwise the next few words are.
    const wordsArePassword = isPassword && k < tokens.length && !valueLike(tokens[k]);
    while (k < tokens.length && values < MAX_VALUE_TOKENS) {
      const wordOfPassword = wordsArePassword && values < MAX_PASSWORD_WORDS && !SENTENCE_END.test(text.slice(tokens[k - 1].to, tokens[k].from));
      if (!valueLike(tokens[k]) && !wordOfPassword) break;
      masked[k] = true;
      k++;
      values++;
    }
  }

  // 3. Rewrite: every letter and digit of a masked token becomes MASK_CHAR, separators stay, so an auditor
  //    sees that something of that shape was removed; a written card number keeps its first and last four.
  let out = '';
  let last = 0;
  for (let k = 0; k < tokens.length; k++) {
    if (!masked[k]) continue;
    let end = k;
    while (end + 1 < tokens.length && masked[end + 1] && cardRun[end + 1] === cardRun[k]) end++;
    const span = text.slice(tokens[k].from, tokens[end].to);
    if (cardRun[k]) out += text.slice(last, tokens[k].from) + maskKeepingEnds(span);
    else {
      out += text.slice(last, tokens[k].from);
      for (let m = k; m <= end; m++) {
        if (m > k) out += text.slice(tokens[m - 1].to, tokens[m].from);
        out += maskToken(tokens[m]);
      }
    }
    last = tokens[end].to;
    k = end;
  }
  return out + text.slice(last);
}

/**
 * A spoken digit becomes one MASK_CHAR whatever its word ("seven" and "six" must not differ in length, or
 * the mask would leak the digit); anything else keeps its length, one MASK_CHAR per letter or digit.
 */
function maskToken(t: Token): string {
  return digitCount(t).spelled || EN_DIGIT_HOMOPHONES.has(t.norm) ? MASK_CHAR : t.raw.replace(/[\p{L}\p{N}\p{M}'\u2019]/gu, MASK_CHAR);
}

/** `4111 1111 1111 1111` → `4111 **** **** 1111`: the issuer and the last four identify the card to a person, not to a thief. */
function maskKeepingEnds(span: string): string {
  const digits = [...span].filter((c) => /[\dxX]/.test(c)).length;
  let seen = 0;
  return [...span]
    .map((c) => {
      if (!/[\dxX]/.test(c)) return c;
      seen++;
      return seen <= 4 || seen > digits - 4 ? c : MASK_CHAR;
    })
    .join('');
}

/**
 * Redacts a transcript kept as separate words (the index's `words[]`): a card number spoken as sixteen
 * words is only recognisable across them. Returns each word as published, masked where its text was.
 */
export function redactWords(words: readonly string[]): string[] {
  const joined = words.join(' ');
  const masked = redact(joined);
  // redact() masks within words and keeps the spaces between them, so the text splits back into the words.
  const parts = masked.split(' ');
  return parts.length === words.length ? parts : words.map((w) => w.replace(/[\p{L}\p{N}\p{M}]/gu, MASK_CHAR));
}

export interface TranscriptUtterance {
  channel: string;
  start: number;
  end: number;
  text?: string;
  pinyin?: string;
  words?: { w: string }[];
}

/** Cues that make an agent's sentence a request for a secret ("code is" alone is not one). */
const REQUEST_CUES = CUES.filter((c) => c.join(' ') !== 'code is');
/** How long after a request the customer's words are treated as the answer. */
const ANSWER_WINDOW_SEC = 15;

function asksForSecret(text: string | undefined): boolean {
  if (!text) return false;
  const tokens = tokenize(text);
  return tokens.some((_, i) => REQUEST_CUES.some((cue) => i + cue.length <= tokens.length && cue.every((c, j) => tokens[i + j].norm === c)));
}

const maskAll = (s: string): string => tokenize(s).reduceRight((out, t) => out.slice(0, t.from) + maskToken(t) + out.slice(t.to), s);

/**
 * The customer's answer to a request for a password, PIN, CVV or code is masked whole, not only where a cue
 * word precedes a value: recognisers garble exactly these words ("security poets seven three one",
 * "my passlert is sunshine"), so the cue cannot be relied on in the answer, only in the question. A request
 * is an agent utterance with a cue, or a keyword-spotter hit of one (`asks`: times of such hits).
 */
export function redactTranscript<T extends TranscriptUtterance>(utterances: readonly T[], asks: readonly number[] = []): T[] {
  const byStart = [...utterances].sort((a, b) => a.start - b.start);
  const requests = [...asks, ...byStart.filter((u) => u.channel === 'agent' && (asksForSecret(u.text) || asksForSecret(u.pinyin))).map((u) => u.start)].sort((a, b) => a - b);
  return utterances.map((u) => {
    if (u.channel !== 'customer') return u;
    const answering = requests.some((at) => u.start >= at && u.start <= at + ANSWER_WINDOW_SEC);
    if (!answering) return u;
    return {
      ...u,
      ...(u.text !== undefined ? { text: maskAll(u.text) } : {}),
      ...(u.pinyin !== undefined ? { pinyin: maskAll(u.pinyin) } : {}),
      ...(u.words ? { words: u.words.map((w) => ({ ...w, w: maskAll(w.w) })) } : {}),
    };
  });
}

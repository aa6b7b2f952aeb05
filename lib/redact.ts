/**
 * What must never be stored or leave the box in clear: card numbers and the secrets asked for or announced
 * in a call (CVV, PIN, password, one-time or verification code; 密码, 验证码, 安全码 …).
 *
 * Context comes from the call, not one sentence. The call is read as one stream of utterances in time
 * order, whoever speaks: a cue (a request for, or an announcement of, a card, CVV, PIN, password or code, in
 * either language, misrecognitions included; lib/redaction/lexicon.ts) opens a window in which the next
 * digits are masked, across utterances and speakers, through fillers and connectives ("4111 1111 uh 1111",
 * "然后"), in numerals, spoken digits ("double one", "forty one eleven"), pinyin and Chinese numerals. The
 * window closes once a value of the right length has been masked, when another cue opens its own, or
 * WINDOW_SEC after the cue. Outside any window, a card-length run of digits is masked by its shape, as is a
 * number read out digit by digit (three or more), and two runs in consecutive utterances that together make a
 * Luhn-valid card number. Ordinary numbers stay readable, in or out of a window: amounts, dates, times,
 * durations, counts and plan names are told by the words around them ("fifteen pounds", "二零二四年", "at
 * two thirty", "plan 30").
 *
 * The cue stays, so QA can see *what* was asked; only the value is masked. A written card number keeps at most
 * its last four digits.
 */

import { foldWord } from './text.js';
import {
  CONNECTIVES, CUES, PASSWORD_LINKS, PINYIN_DIGITS, DIGIT_HOMOPHONES, DIGIT_WORDS, FILLERS, NATO, NOT_SECRET_BEFORE_CODE, ORDINARY_AFTER, ORDINARY_BEFORE, PASSWORD_STOP, PLACES, REPEATS,
  REQUEST_WORDS, TEENS, TENS, TONED_ER, WEAK_BEFORE, PINYIN_DIGIT_TONES, TONE_MARK, type SecretKind,
} from './redaction/lexicon.js';

/** The character that stands in for each masked letter or digit: the shape of what was removed stays visible. */
export const MASK_CHAR = '*';

/** How long after its cue a window stays open when the answer has not come (a customer fetching the card). */
export const WINDOW_SEC = 90;
/** Digits that complete a value of each kind: the window closes after the run that reaches them. */
const COMPLETE: Record<SecretKind, number> = { card: 16, cvv: 3, pin: 4, password: 4, code: 4 };
const CARD_MIN = 13;
const CARD_MAX = 19;
/** Tokens of fillers allowed between two digits of one number ("4111 uh and 1111"). */
const MAX_FILLER_TOKENS = 3;
const MAX_PASSWORD_TOKENS = 12;

interface Token {
  /** normalised: lower case, accents and tones dropped, apostrophes removed */
  norm: string;
  raw: string;
  from: number;
  to: number;
  han: boolean;
  seg: number;
  /** the text it came from is tone-marked pinyin, so a syllable without a mark here is a neutral tone */
  tonedText: boolean;
  /** masked by an earlier pass (MASK_CHARs only): it stands for the value it replaced, a digit per mask */
  wasMasked: boolean;
}

/** One utterance of the call: its text and, when known, who said it and when. */
export interface Segment {
  text: string;
  channel?: string;
  start?: number;
}

// A Han character on its own is a token (Chinese is written without spaces); Latin words and numerals are runs.
// A run of masks is a token too: redacting a redacted text must see the values it masked, or a window
// they filled stays open (and masks the next number) and an answer they were stays pending (and the next
// utterance is masked whole): each pass would mask more.
const TOKEN = /\p{Script=Han}|[\p{L}\p{N}\p{M}'\u2019]+|\*+/gu;
const ALL_MASKED = /^\*+$/;
const HAN = /^\p{Script=Han}$/u;
const SENTENCE_END = /[.!?。！？;；]/u;

function tokenize(text: string, seg: number): Token[] {
  const out: Token[] = [];
  const tonedText = TONE_MARK.test(text);
  for (const m of text.matchAll(TOKEN)) {
    const raw = m[0];
    out.push({ norm: foldWord(raw), raw, from: m.index!, to: m.index! + raw.length, han: HAN.test(raw), seg, tonedText, wasMasked: ALL_MASKED.test(raw) });
  }
  return out;
}

/** What one token says as a number: its digits, whether it is one digit read out, a place word, a homophone. */
interface DigitToken {
  digits: string;
  single: boolean;
  place?: boolean;
  homophone?: boolean;
  repeat?: number;
  tens?: boolean;
  /** a masked value of an earlier pass (Token.wasMasked) */
  masked?: boolean;
}

function digitToken(t: Token): DigitToken | undefined {
  const n = t.norm;
  if (/^\d+$/.test(n)) return { digits: n, single: n.length === 1 };
  if (t.wasMasked) return { digits: '0'.repeat(t.raw.length), single: t.raw.length === 1, masked: true };
  // A Chinese resident ID number ends in a check character that may be X.
  if (/^\d{17}x$/.test(n)) return { digits: t.raw, single: false };
  const word = t.han ? t.raw : n;
  if (!t.han && n in PINYIN_DIGIT_TONES && t.tonedText && !PINYIN_DIGIT_TONES[n].includes(t.raw.toLowerCase())) return undefined;
  if (word in DIGIT_WORDS) return { digits: DIGIT_WORDS[word], single: true };
  if (TONED_ER.test(t.raw)) return { digits: '2', single: true };
  if (n in TEENS) return { digits: TEENS[n], single: false };
  if (n in TENS) return { digits: `${TENS[n]}0`, single: false, tens: true };
  if (word in PLACES) return { digits: '0'.repeat(PLACES[word]), single: false, place: true };
  if (n in REPEATS) return { digits: '', single: true, repeat: REPEATS[n] };
  if (n in DIGIT_HOMOPHONES) return { digits: DIGIT_HOMOPHONES[n], single: true, homophone: true };
  return undefined;
}

/** A letter or a mixed word that can be part of a code or password ("A B 9 9", "alpha seven", "hunter2"). */
function letterToken(t: Token): boolean {
  if (t.han) return false;
  return /^[a-z]$/.test(t.norm) || NATO.has(t.norm) || (/\d/.test(t.norm) && /[a-z]/.test(t.norm));
}

function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

interface Window {
  kind: SecretKind;
  /** when its cue was said; undefined for text without times (it then lasts until filled) */
  at?: number;
  digits: string;
}

interface Run {
  start: number;
  end: number;
  /** the digit and letter tokens of the run (fillers between them are not masked) */
  members: number[];
  digits: string;
  singles: number;
  place: boolean;
  numeralsOnly: boolean;
  masked: boolean;
  /** values an earlier pass masked (such a run holds nothing else): their digits are placeholders, no checksum can be read from them */
  carriesMasks: boolean;
}

class CallRedactor {
  readonly tokens: Token[] = [];
  readonly masked: boolean[];
  /** for a written card number: how many trailing digits of the token stay readable */
  readonly keepTail: number[];
  /** kind 'none': a cue word that names no secret here ("area code"): its number is ordinary */
  private readonly cueAt: ({ kind: SecretKind | 'none'; len: number } | undefined)[];
  /** the utterance in which a "none" cue was said: its numbers stay readable */
  private ordinarySeg = -1;
  private readonly inCue: boolean[];
  private window?: Window;
  /** a password request waiting for the other speaker's answer */
  private pendingAnswer?: { channel: string; at?: number; seg: number };
  private lastRun?: Run;

  constructor(private readonly segs: readonly Segment[], asks: readonly Ask[]) {
    segs.forEach((s, i) => this.tokens.push(...tokenize(s.text, i)));
    const n = this.tokens.length;
    this.masked = new Array<boolean>(n).fill(false);
    this.keepTail = new Array<number>(n).fill(0);
    this.cueAt = new Array(n).fill(undefined);
    this.inCue = new Array<boolean>(n).fill(false);
    for (let i = 0; i < n; i++) {
      const cue = this.matchCue(i);
      if (!cue) continue;
      this.cueAt[i] = cue;
      for (let k = i; k < i + cue.len; k++) this.inCue[k] = true;
      i += cue.len - 1;
    }
    this.maskSpottedAnswers(asks);
  }

  /** A token's digits in context: a toneless "er" is pinyin 2 between pinyin digits, else the English filler. */
  private digitAt(i: number): DigitToken | undefined {
    const t = this.tokens[i];
    if (t === undefined) return undefined;
    if (t.norm === 'er' && !TONED_ER.test(t.raw)) {
      const pinyinDigit = (k: number): boolean => this.sameSeg(i, k) && PINYIN_DIGITS.has(this.tokens[k].norm);
      return pinyinDigit(i - 1) || pinyinDigit(i + 1) ? { digits: '2', single: true } : undefined;
    }
    return digitToken(t);
  }

  private sameSeg(i: number, j: number): boolean {
    return j >= 0 && j < this.tokens.length && this.tokens[i].seg === this.tokens[j].seg;
  }

  private matchCue(i: number): { kind: SecretKind | 'none'; len: number } | undefined {
    for (const cue of CUES) {
      const len = cue.words.length;
      if (!this.sameSeg(i, i + len - 1)) continue;
      if (!cue.words.every((w, j) => this.tokens[i + j].norm === w)) continue;
      // "post code", "area code": not a secret
      if (cue.kind === 'code' && cue.words[0].startsWith('code') && this.sameSeg(i, i - 1) && NOT_SECRET_BEFORE_CODE.has(this.tokens[i - 1].norm)) return { kind: 'none', len };
      return { kind: cue.kind, len };
    }
    return undefined;
  }

  private fillerLen(i: number): number {
    const t = this.tokens[i];
    if (t.norm === 'er' && !TONED_ER.test(t.raw) && !this.digitAt(i)) return 1;
    for (const f of FILLERS) {
      if (!this.sameSeg(i, i + f.length - 1)) continue;
      if (f.every((w, j) => (this.tokens[i + j].han ? this.tokens[i + j].raw : this.tokens[i + j].norm) === w)) return f.length;
    }
    return 0;
  }

  private windowOpen(seg: number): Window | undefined {
    const w = this.window;
    if (!w) return undefined;
    const start = this.segs[seg].start;
    if (w.at !== undefined && start !== undefined && start - w.at > WINDOW_SEC) this.window = undefined;
    return this.window;
  }

  private lettersCount(): boolean {
    const k = this.window?.kind;
    return k === 'code' || k === 'password';
  }

  /** Can token i be part of a number run here? Homophones only beside a real digit, repeats before one. */
  private valueAt(i: number, prevIsDigit: boolean): boolean {
    if (i >= this.tokens.length || this.inCue[i]) return false;
    const d = this.digitAt(i);
    if (d) {
      const next = this.sameSeg(i, i + 1) ? this.digitAt(i + 1) : undefined;
      const realNext = next !== undefined && !next.homophone && !this.inCue[i + 1];
      if (d.homophone) return prevIsDigit || realNext;
      if (d.repeat) return realNext && next!.single;
      return true;
    }
    return this.lettersCount() && letterToken(this.tokens[i]);
  }

  private collectRun(i: number): Run {
    const members = [i];
    let last = i;
    // Masks of an earlier pass make runs of their own: joined to a number beside them ("score 0.74" before a
    // masked quote) they would add up to a card-length run that was never said.
    const joins = (k: number, prevIsDigit: boolean) => this.tokens[k].wasMasked === this.tokens[i].wasMasked && this.valueAt(k, prevIsDigit);
    for (;;) {
      const isDigit = this.digitAt(last) !== undefined;
      if (this.sameSeg(last, last + 1) && joins(last + 1, isDigit)) {
        last += 1;
        members.push(last);
        continue;
      }
      let k = last + 1;
      let fillers = 0;
      while (this.sameSeg(last, k) && fillers < MAX_FILLER_TOKENS && !this.inCue[k] && !this.valueAt(k, false)) {
        const len = this.fillerLen(k);
        if (len === 0) break;
        fillers += len;
        k += len;
      }
      if (fillers > 0 && this.sameSeg(last, k) && joins(k, false)) {
        last = k;
        members.push(k);
        continue;
      }
      break;
    }
    let digits = '';
    let singles = 0;
    let place = false;
    let numeralsOnly = true;
    for (let m = 0; m < members.length; m++) {
      const t = this.tokens[members[m]];
      const d = digitToken(t);
      if (!d) {
        digits += t.norm.replace(/\D/g, '');
        numeralsOnly = false;
        continue;
      }
      if (!d.masked && !/^\d/.test(t.norm)) numeralsOnly = false;
      if (d.place) place = true;
      if (d.repeat) {
        const next = digitToken(this.tokens[members[m + 1]]);
        digits += (next?.digits ?? '').repeat(d.repeat - 1);
        singles += d.repeat - 1;
        continue;
      }
      if (d.tens) {
        // "forty one" is 41, "forty" is 40
        const next = m + 1 < members.length ? digitToken(this.tokens[members[m + 1]]) : undefined;
        digits += next?.single && !next.repeat && next.digits !== '0' ? d.digits[0] : d.digits;
        continue;
      }
      digits += d.digits;
      if (d.single) singles++;
    }
    return { start: members[0], end: last, members, digits, singles, place, numeralsOnly, masked: false, carriesMasks: this.tokens[i].wasMasked };
  }

  /** Words around the run that make it an amount, a date, a time, a duration, a count or a plan. */
  private ordinary(run: Run, inWindow: boolean): boolean {
    const text = this.segs[this.tokens[run.start].seg].text;
    const first = this.tokens[run.start];
    const last = this.tokens[run.end];
    if (/[£$€¥￥#]\s*$/u.test(text.slice(0, first.from))) return true;
    if (/^\s*[%％]/u.test(text.slice(last.to))) return true;
    for (let m = 1; m < run.members.length; m++) {
      const glue = text.slice(this.tokens[run.members[m - 1]].to, this.tokens[run.members[m]].from);
      if (/^\s*[:/：]\s*$/u.test(glue)) return true;
    }
    const after = this.sameSeg(run.end, run.end + 1) ? this.tokens[run.end + 1] : undefined;
    if (after && !this.inCue[run.end + 1] && ORDINARY_AFTER.has(after.han ? after.raw : after.norm)) return true;
    const before = this.sameSeg(run.start, run.start - 1) ? this.tokens[run.start - 1] : undefined;
    if (before && !this.inCue[run.start - 1]) {
      const word = before.han ? before.raw : before.norm;
      if (ORDINARY_BEFORE.has(word) && !(inWindow && WEAK_BEFORE.has(word))) return true;
    }
    return false;
  }

  private maskRun(run: Run, keepLastFour: boolean): void {
    run.masked = true;
    for (const m of run.members) this.masked[m] = true;
    if (!keepLastFour) return;
    let keep = 4;
    for (let m = run.members.length - 1; m >= 0 && keep > 0; m--) {
      const len = this.tokens[run.members[m]].norm.length;
      this.keepTail[run.members[m]] = Math.min(len, keep);
      keep -= len;
    }
  }

  private decide(run: Run): void {
    const seg = this.tokens[run.start].seg;
    const win = this.windowOpen(seg);
    const cardLength = !run.place && run.digits.length >= CARD_MIN;
    const before = run.start - 1;
    if (run.numeralsOnly && run.digits.length <= 4 && this.sameSeg(run.start, before) && this.tokens[before].wasMasked && this.lastRun?.end === before) {
      // The last four a card keeps, right after its masked digits: part of a value already masked.
      run.masked = true;
      if (win?.kind === 'card') this.window = undefined;
    } else if (cardLength) {
      // A card by its shape: the last four of a written number are all a person needs to tell cards apart.
      this.maskRun(run, run.numeralsOnly && run.digits.length <= CARD_MAX);
      if (win?.kind === 'card') this.window = undefined;
    } else if (win && !(win.kind === 'card' && (run.place || this.cardTail(run))) && !this.ordinary(run, true) && run.digits.length > 0) {
      this.maskRun(run, false);
      win.digits += run.digits;
      const full = win.kind === 'card' ? win.digits.length >= COMPLETE.card || (win.digits.length >= CARD_MIN && luhn(win.digits)) : win.digits.length >= COMPLETE[win.kind];
      if (full) this.window = undefined;
    } else if (!run.place && run.singles >= 3 && seg !== this.ordinarySeg && !this.ordinary(run, false)) {
      // Read out digit by digit: a phone number, a code whose cue the recogniser garbled.
      this.maskRun(run, false);
    } else if (this.lastRun && !this.lastRun.masked && !this.lastRun.carriesMasks && !run.carriesMasks && this.lastRun.end < run.start && this.tokens[this.lastRun.end].seg === seg - 1 && !run.place && !this.lastRun.place) {
      // A card number split across two utterances.
      const joined = this.lastRun.digits + run.digits;
      if (joined.length >= CARD_MIN && joined.length <= CARD_MAX && luhn(joined)) {
        this.maskRun(this.lastRun, false);
        this.maskRun(run, false);
      }
    }
    this.lastRun = run;
  }

  /** "the card ending 1234": the last four of a card are not a secret, and the window is done. */
  private cardTail(run: Run): boolean {
    if (run.digits.length !== 4) return false;
    for (let k = run.start - 1; k >= run.start - 3 && this.sameSeg(run.start, k); k--) {
      const w = this.tokens[k].han ? this.tokens[k].raw : this.tokens[k].norm;
      if (w === 'ending' || w === 'ends' || w === '尾') {
        this.window = undefined;
        return true;
      }
    }
    return false;
  }

  /** Answers that follow a keyword-spotter's hit of a password request are masked whole (the spotter heard the request). */
  private maskSpottedAnswers(asks: readonly Ask[]): void {
    for (const ask of asks) {
      const at = typeof ask === 'number' ? ask : ask.at;
      const channel = typeof ask === 'number' ? 'agent' : ask.channel ?? 'agent';
      const seg = this.segs.findIndex((s) => s.start !== undefined && s.start >= at && s.start - at <= WINDOW_SEC && s.channel !== undefined && s.channel !== channel);
      if (seg >= 0) this.maskSegment(seg);
    }
  }

  private maskSegment(seg: number): void {
    this.tokens.forEach((t, i) => {
      if (t.seg === seg) this.masked[i] = true;
    });
  }

  /**
   * A password said after its cue ("my password is correct horse battery staple"): every word up to the end
   * of the sentence or a closing word ("thanks"). A typed-looking value ("hunter2") is the whole password.
   * Returns whether a value followed the cue in its utterance.
   */
  private passwordWords(cueEnd: number): boolean {
    const text = this.segs[this.tokens[cueEnd - 1].seg].text;
    let k = cueEnd;
    let linked = /^\s*[:：]/u.test(text.slice(this.tokens[cueEnd - 1].to));
    let skipped = 0;
    while (this.sameSeg(cueEnd - 1, k) && skipped < 6 && !this.valueAt(k, false) && !this.digitAt(k)) {
      const f = this.fillerLen(k);
      const w = this.tokens[k].han ? this.tokens[k].raw : this.tokens[k].norm;
      if (f === 0 && !CONNECTIVES.has(w)) break;
      if (PASSWORD_LINKS.has(w)) linked = true;
      const len = Math.max(f, 1);
      k += len;
      skipped += len;
    }
    if (!linked || !this.sameSeg(cueEnd - 1, k)) return false;
    const first = this.tokens[k];
    if (PASSWORD_STOP.has(first.han ? first.raw : first.norm)) return false; // "密码是什么": a question, not a value
    if (this.digitAt(k)) return true; // numbers: the window masks them
    if (/\d/.test(first.norm)) {
      this.masked[k] = true;
      return true;
    }
    for (let n = 0; this.sameSeg(cueEnd - 1, k) && n < MAX_PASSWORD_TOKENS; n++, k++) {
      if (n > 0 && SENTENCE_END.test(text.slice(this.tokens[k - 1].to, this.tokens[k].from))) break;
      if (PASSWORD_STOP.has(this.tokens[k].han ? this.tokens[k].raw : this.tokens[k].norm)) break;
      this.masked[k] = true;
    }
    return true;
  }

  private isRequest(seg: number): boolean {
    const s = this.segs[seg];
    if (/[?？]/u.test(s.text)) return true;
    return this.tokens.some((t) => t.seg === seg && REQUEST_WORDS.has(t.han ? t.raw : t.norm));
  }

  run(): void {
    let seg = -1;
    for (let i = 0; i < this.tokens.length; ) {
      const t = this.tokens[i];
      if (t.seg !== seg) {
        seg = t.seg;
        this.windowOpen(seg);
        const p = this.pendingAnswer;
        const s = this.segs[seg];
        if (p && s.channel !== undefined && s.channel !== p.channel) {
          if (p.at === undefined || s.start === undefined || s.start - p.at <= WINDOW_SEC) this.maskSegment(seg);
          this.pendingAnswer = undefined;
        }
      }
      const cue = this.cueAt[i];
      if (cue?.kind === 'none') {
        this.window = undefined;
        this.ordinarySeg = seg;
        i += cue.len;
        continue;
      }
      if (cue) {
        this.window = { kind: cue.kind, at: this.segs[seg].start, digits: '' };
        this.maskValueBefore(i);
        if (cue.kind === 'password') {
          const answered = this.passwordWords(i + cue.len);
          const channel = this.segs[seg].channel;
          if (!answered && channel !== undefined && this.isRequest(seg)) this.pendingAnswer = { channel, at: this.segs[seg].start, seg };
        }
        i += cue.len;
        continue;
      }
      if (this.valueAt(i, false)) {
        const run = this.collectRun(i);
        if (run.digits.length > 0 || run.members.length >= 3) this.decide(run);
        i = run.end + 1;
        continue;
      }
      i++;
    }
  }

  /** "4321 is my pin", "482913 是验证码": the value said just before its cue. */
  private maskValueBefore(cue: number): void {
    const run = this.lastRun;
    if (!run || run.masked || !this.sameSeg(cue, run.end) || cue - run.end - 1 > 3) return;
    for (let k = run.end + 1; k < cue; k++) {
      const w = this.tokens[k].han ? this.tokens[k].raw : this.tokens[k].norm;
      if (!CONNECTIVES.has(w) && this.fillerLen(k) === 0) return;
    }
    if (run.place || this.ordinary(run, false)) return;
    this.maskRun(run, false);
  }

  /** Each segment's text with its masked tokens replaced. */
  output(): string[] {
    const out = this.segs.map((s) => s.text);
    for (let i = this.tokens.length - 1; i >= 0; i--) {
      if (!this.masked[i]) continue;
      const t = this.tokens[i];
      const text = out[t.seg];
      out[t.seg] = text.slice(0, t.from) + maskToken(t, this.keepTail[i], this.digitAt(i) !== undefined) + text.slice(t.to);
    }
    return out;
  }
}

/**
 * A number word becomes one MASK_CHAR whatever its word ("seven" and "six" must not differ in length, or the
 * mask would leak the digit); anything else keeps its length, one MASK_CHAR per letter or digit.
 */
function maskToken(t: Token, keepTail: number, numberWord: boolean): string {
  if (t.wasMasked) return t.raw;
  if (numberWord && !/^\d/.test(t.norm)) return MASK_CHAR;
  const chars = [...t.raw];
  let keep = keepTail;
  for (let c = chars.length - 1; c >= 0; c--) {
    if (!/[\p{L}\p{N}\p{M}'\u2019]/u.test(chars[c])) continue;
    if (keep > 0 && /[\dxX]/.test(chars[c])) keep--;
    else chars[c] = MASK_CHAR;
  }
  return chars.join('');
}

/** A keyword spotter's hit of a request for a secret: its time (the agent asked), or its time and channel. */
export type Ask = number | { at: number; channel?: string };

/** Redacts the utterances of one call together, in the order given (callers sort by time). */
export function redactSegments(segments: readonly Segment[], asks: readonly Ask[] = []): string[] {
  const r = new CallRedactor(segments, asks);
  r.run();
  return r.output();
}

/** Masks card numbers and credentials in one piece of text; everything else, punctuation and spacing included, is kept. */
export function redact(text: string): string {
  return redactSegments([{ text }])[0];
}

/**
 * Redacts a transcript kept as separate words (the index's `words[]`): a card number spoken as sixteen
 * words is only recognisable across them. Returns each word as published, masked where its text was.
 */
export function redactWords(words: readonly string[]): string[] {
  return splitWords(redact(words.join(' ')), words);
}

// Masking works within words and keeps the spaces between them, so the text splits back into the words.
function splitWords(masked: string, words: readonly string[]): string[] {
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

/**
 * A call's utterances, redacted as one conversation: a question on one side opens the window its answer
 * on the other side falls in. Each written form (text, pinyin, words) is read as its own stream, since each
 * is a complete view of the call. `asks`: times of a keyword spotter's hits of a request for a password
 * (the answer that follows on the other side is masked whole).
 */
export function redactTranscript<T extends TranscriptUtterance>(utterances: readonly T[], asks: readonly Ask[] = []): T[] {
  const order = utterances.map((u, i) => i).sort((a, b) => utterances[a].start - utterances[b].start || a - b);
  // An utterance without this form still carries the conversation (the agent's question has no words[]):
  // its text stands in, so a window its cue opens reaches the answer.
  const stream = (get: (u: T) => string | undefined): Map<number, string> => {
    const masked = redactSegments(order.map((i) => ({ text: get(utterances[i]) ?? utterances[i].text ?? '', channel: utterances[i].channel, start: utterances[i].start })), asks);
    return new Map(order.map((i, k) => [i, masked[k]]));
  };
  const texts = stream((u) => u.text);
  const pinyins = stream((u) => u.pinyin);
  const words = stream((u) => u.words?.map((w) => w.w).join(' '));
  return utterances.map((u, i) => {
    const w = words.get(i);
    return {
      ...u,
      ...(u.text !== undefined ? { text: texts.get(i) } : {}),
      ...(u.pinyin !== undefined ? { pinyin: pinyins.get(i) } : {}),
      ...(u.words && w !== undefined ? { words: splitWords(w, u.words.map((x) => x.w)).map((m, k) => ({ ...u.words![k], w: m })) } : {}),
    };
  });
}

/**
 * Redaction of a call as it happens (event lines, live output): each utterance is redacted in the context of
 * the ones said before it within WINDOW_SEC, so an answer is masked by the question that came before.
 */
export class LiveRedactor {
  private recent: Segment[] = [];

  next(segment: Segment): string {
    const at = segment.start;
    this.recent = this.recent.filter((s) => at === undefined || s.start === undefined || at - s.start <= WINDOW_SEC);
    this.recent.push(segment);
    const out = redactSegments(this.recent);
    return out[out.length - 1];
  }

  /** The same for an utterance's separate words. */
  nextWords(words: readonly string[], channel?: string, start?: number): string[] {
    return splitWords(this.next({ text: words.join(' '), channel, start }), words);
  }
}

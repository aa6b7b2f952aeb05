/**
 * Looks for known secrets in everything a run wrote: files (SQLite pages, WAL, broker persistence read as
 * text), captured logs and MQTT payloads. A secret is found in any spelling a transcript or a person can
 * give it: numerals, spoken English digits ("double seven", "forty one"), pinyin (tones or not) and
 * Chinese numerals, grouped and broken by fillers ("4111, uh, 1111", "然后"). Its own spelling table on
 * purpose: a scan that borrowed the redactor's lexicon would be blind wherever the redactor is.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const DIGIT: Record<string, string> = {
  zero: '0', oh: '0', o: '0', nought: '0', one: '1', two: '2', three: '3', four: '4', five: '5', six: '6', seven: '7', eight: '8', nine: '9',
  ling: '0', yao: '1', yi: '1', er: '2', liang: '2', san: '3', si: '4', wu: '5', liu: '6', qi: '7', ba: '8', jiu: '9',
  零: '0', 〇: '0', 幺: '1', 一: '1', 壹: '1', 二: '2', 两: '2', 兩: '2', 贰: '2', 三: '3', 叁: '3', 四: '4', 肆: '4', 五: '5', 伍: '5', 六: '6', 陆: '6', 七: '7', 柒: '7', 八: '8', 捌: '8', 九: '9', 玖: '9',
};
const TEEN: Record<string, string> = { ten: '10', eleven: '11', twelve: '12', thirteen: '13', fourteen: '14', fifteen: '15', sixteen: '16', seventeen: '17', eighteen: '18', nineteen: '19' };
const TENS: Record<string, string> = { twenty: '2', thirty: '3', forty: '4', fifty: '5', sixty: '6', seventy: '7', eighty: '8', ninety: '9' };
const REPEAT: Record<string, number> = { double: 2, triple: 3 };
/** Said between the digits of one number without ending it. */
const FILLER = new Set(['uh', 'um', 'erm', 'ah', 'and', 'then', 'dash', 'comma', 'space', '然', '后', '嗯', '呃', '和', '还', '有', 'ran', 'hou']);
// A number with a decimal point is one token ("conf":0.731 is not the CVV 731), read as all its digits (a
// card written 4111.1111.1111.1111 is still one).
const TOKEN = /\d+(?:\.\d+)+|\p{Script=Han}|[\p{L}\p{N}]+/gu;

const fold = (s: string) => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();

/**
 * The digit runs of a text: numbers read out in any spelling, as digit strings. Two numerals join only
 * across spaces, commas and hyphens (as a number is written out), so JSON's "7.31" or "0:12" are not one run.
 */
export function digitRuns(text: string): string[] {
  const runs: string[] = [];
  let run = '';
  let fillers = 0;
  let repeat = 0;
  let pendingTens = '';
  let lastEnd = -1;
  let lastNumeral = false;
  const flush = () => {
    run += pendingTens ? `${pendingTens}0` : '';
    pendingTens = '';
    if (run.length > 0) runs.push(run);
    run = '';
    fillers = 0;
    repeat = 0;
  };
  const folded = fold(text);
  for (const m of folded.matchAll(TOKEN)) {
    const tok = m[0];
    const gap = lastEnd < 0 ? '' : folded.slice(lastEnd, m.index);
    lastEnd = m.index! + tok.length;
    const numeral = /^[\d.]+$/.test(tok);
    if (numeral && lastNumeral && !/^[\s,\-]*$/.test(gap)) flush();
    lastNumeral = numeral;
    let digits: string | undefined;
    if (numeral) digits = tok.replace(/\./g, '');
    else if (tok in DIGIT) digits = DIGIT[tok];
    else if (tok in TEEN) digits = TEEN[tok];
    else if (tok in TENS) {
      run += pendingTens ? `${pendingTens}0` : '';
      pendingTens = TENS[tok];
      fillers = 0;
      continue;
    } else if (tok in REPEAT) {
      repeat = REPEAT[tok];
      continue;
    }
    if (digits === undefined) {
      if (FILLER.has(tok) && fillers < 3 && run.length + pendingTens.length > 0) {
        fillers++;
        continue;
      }
      flush();
      continue;
    }
    if (pendingTens) {
      // "forty one" is 41; "forty four one" is 40 4 1 read as 4041
      run += digits.length === 1 && digits !== '0' ? pendingTens : `${pendingTens}0`;
      pendingTens = '';
    }
    run += repeat > 0 ? digits.repeat(repeat) : digits;
    repeat = 0;
    fillers = 0;
  }
  flush();
  return runs;
}

/** A secret of the calls: its digits (or, for a word password, the word), and which call said it. */
export interface Secret {
  call: string;
  what: string;
  digits?: string;
  word?: string;
}

/** Where a secret turned up: the secret, and the text around it. */
export interface Leak {
  secret: Secret;
  found: string;
}

/** How many digits of a long secret in a row count as a leak (issue 18: "no run of 6 or more of those digits"). */
const LEAK_RUN = 6;

/**
 * The secrets `text` holds: 6 digits in a row of a longer one (a card), a short one (CVV, PIN) said as
 * a number on its own, a word password anywhere.
 */
export function leaksIn(text: string, secrets: readonly Secret[]): Leak[] {
  const runs = digitRuns(text);
  const folded = fold(text);
  const out: Leak[] = [];
  for (const s of secrets) {
    if (s.word) {
      const at = folded.indexOf(fold(s.word));
      if (at >= 0) out.push({ secret: s, found: around(text, at, s.word.length) });
      continue;
    }
    const d = s.digits!;
    if (d.length < LEAK_RUN) {
      const hit = runs.find((r) => r === d);
      if (hit) out.push({ secret: s, found: numeralAround(text, d) ?? hit });
      continue;
    }
    const windows = new Set<string>();
    for (let i = 0; i + LEAK_RUN <= d.length; i++) windows.add(d.slice(i, i + LEAK_RUN));
    const hit = runs.find((r) => [...windows].some((w) => r.includes(w)));
    if (hit) out.push({ secret: s, found: hit });
  }
  return out;
}

/**
 * The text around a short secret written as a numeral on its own: in a SQLite page three digits can also be
 * bytes of a binary field (a 3-digit CVV turned up once in a running outbox's WAL and nowhere the same records
 * went), so a report shows what stands beside them.
 */
function numeralAround(text: string, digits: string): string | undefined {
  const m = new RegExp(`(?<![\\p{L}\\p{N}.])${digits}(?!\\.?[\\p{L}\\p{N}])`, 'u').exec(text);
  return m ? around(text, m.index, digits.length) : undefined;
}

/** What a report shows of a find: 40 characters each side. */
const around = (text: string, at: number, length: number) => text.slice(Math.max(0, at - 40), at + length + 40);

/** Every file under `dir`, recursively, with its bytes. */
export function filesUnder(dir: string): { path: string; bytes: Buffer }[] {
  const out: { path: string; bytes: Buffer }[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) out.push(...filesUnder(path));
    else if (st.isFile()) out.push({ path, bytes: readFileSync(path) });
  }
  return out;
}

/** A file's bytes as text: UTF-8 where it is, the rest as separators (SQLite stores text as UTF-8 in its pages). */
export function bytesAsText(bytes: Buffer): string {
  return readable(bytes.toString('utf8').replace(/[\u0000-\u0008\u000e-\u001f\ufffd]/g, ' '));
}

/** Text with JSON's \uXXXX escapes read back: a Chinese numeral escaped is still a Chinese numeral. */
export function readable(text: string): string {
  return text.replace(/\\u([0-9a-fA-F]{4})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** How often `words` (folded: no tones, lower case) occur in `text`. */
export function wordCounts(text: string, words: readonly string[]): Record<string, number> {
  const folded = fold(text);
  return Object.fromEntries(words.map((w) => [w, folded.split(fold(w)).length - 1]));
}

/**
 * How a word is compared, wherever Earshot compares words (search, rules, redaction): lower case, accents,
 * tone marks and apostrophes dropped, so "Don't", "dont" and pinyin "mǎ" / "ma" meet.
 */
export function foldWord(word: string): string {
  return word
    .normalize('NFD')
    .replace(/[\p{M}'\u2019]/gu, '')
    .toLowerCase();
}

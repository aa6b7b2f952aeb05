import t from 'tap';
import { csvCell, toCsv } from '../central/csv.js';

t.test('CSV quotes per RFC 4180', async (t) => {
  t.equal(csvCell('a,b'), '"a,b"');
  t.equal(csvCell('say "hi"'), '"say ""hi"""');
  t.equal(csvCell('line1\nline2'), '"line1\nline2"');
  t.equal(csvCell(null), '');
  t.equal(toCsv(['rule', 'n'], [['r1', 3], ['x,y', 0]]), 'rule,n\r\nr1,3\r\n"x,y",0\r\n');
});

t.test('CSV guards formula injection in text but keeps negative numbers', async (t) => {
  t.equal(csvCell('=HYPERLINK("x")'), `"'=HYPERLINK(""x"")"`);
  t.equal(csvCell('+1'), "'+1");
  t.equal(csvCell('-2+3'), "'-2+3");
  t.equal(csvCell('@SUM(A1)'), "'@SUM(A1)");
  t.equal(csvCell(-5), '-5');
  t.equal(csvCell('plain'), 'plain');
});

import { thresholdTable, severityRank } from '../central/review.js';

t.test('threshold table on a hand-computed set', async (t) => {
  const rows = thresholdTable([
    { score: 0.9, confirmed: true },
    { score: 0.7, confirmed: true },
    { score: 0.7, confirmed: false },
    { score: 0.5, confirmed: false },
  ]);
  t.same(rows, [
    { threshold: 0.5, kept: 4, confirmed: 2, precision: 0.5 },
    { threshold: 0.7, kept: 3, confirmed: 2, precision: 2 / 3 },
    { threshold: 0.9, kept: 1, confirmed: 1, precision: 1 },
  ]);
  t.same(thresholdTable([]), []);
});

t.test('critical outranks warning outranks info', async (t) => {
  t.ok(severityRank('critical') > severityRank('warning'));
  t.ok(severityRank('warning') > severityRank('info'));
});

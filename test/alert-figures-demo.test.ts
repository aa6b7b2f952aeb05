// Every figure an alert quotes equals the same figure in the final call index (test/support/alert-figures.ts),
// on the bundled demo calls; the generated calls are in alert-figures-en.test.ts and alert-figures-zh.test.ts,
// the generated rule calls checked the same way in rules*.test.ts.
import t from 'tap';
import { testFigures } from './support/figure-calls.js';

// Calls through recognition: minutes on a busy two-core machine, past tap's default 300 s.
t.setTimeout(900_000);
testFigures('demo');

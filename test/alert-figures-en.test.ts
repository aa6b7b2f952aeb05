// Every figure an alert quotes equals the same figure in the final call index (test/support/alert-figures.ts),
// on the generated English calls; the bundled demo calls are in alert-figures-demo.test.ts, Mandarin calls in
// alert-figures-zh.test.ts, and the generated rule calls are checked the same way in rules*.test.ts.
import t from 'tap';
import { testFigures } from './support/figure-calls.js';

// Seven calls through recognition: minutes on a busy two-core machine, past tap's default 300 s.
t.setTimeout(900_000);
testFigures('en');

// Every figure an alert quotes equals the same figure in the final call index (test/support/alert-figures.ts),
// on the generated Mandarin calls; the bundled demo calls are in alert-figures-demo.test.ts, English calls in
// alert-figures-en.test.ts, and the generated rule calls are checked the same way in rules*.test.ts.
import t from 'tap';
import { testFigures } from './support/figure-calls.js';

// Calls through recognition: minutes on a busy two-core machine, past tap's default 300 s.
t.setTimeout(900_000);
testFigures('zh');

// Every figure an alert quotes equals the same figure in the final call index (test/support/alert-figures.ts),
// on the generated Mandarin calls; the bundled demo calls are in alert-figures-demo.test.ts, English calls in
// alert-figures-en.test.ts, and the generated rule calls are checked the same way in rules*.test.ts.
import { testFigures } from './support/figure-calls.js';

testFigures('zh');

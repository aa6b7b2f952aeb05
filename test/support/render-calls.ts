// Renders every generated test call (test/calls/*.yml) into .cache/calls, exactly as the tests would on first
// use (renderCallByName), so a clean checkout can pay for the text-to-speech while the CPU would otherwise wait
// (.ci/run starts it, niced, beside the real-time demo). Tests that find a call rendered reuse it; one missing
// is rendered by the test as before, so this only moves work, it decides nothing.
//   node --import=tsx test/support/render-calls.ts [concurrency, default 2]
import { readdirSync } from 'node:fs';
import pLimit from 'p-limit';
import { CALLS_DIR, renderCallByName } from './calls.js';

const names = readdirSync(CALLS_DIR)
  .filter((f) => f.endsWith('.yml'))
  .map((f) => f.replace(/\.yml$/, ''));
const limit = pLimit(Number(process.argv[2] ?? 2));
const t0 = Date.now();
await Promise.all(names.map((name) => limit(() => renderCallByName(name))));
process.stdout.write(`render-calls: ${names.length} test calls in .cache/calls (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);

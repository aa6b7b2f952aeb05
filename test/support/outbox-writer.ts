/** Child process for the outbox crash test: appends forever, printing each seq after append returned. */
import { Outbox } from '../../edge/outbox/outbox.js';

const outbox = new Outbox(process.argv[2]);
const batch = Number(process.argv[3] ?? 1);
let n = 0;
for (;;) {
  const records = Array.from({ length: batch }, () => ({ kind: 'index' as const, payload: { n: n++, pad: 'x'.repeat(200) } }));
  const seqs = outbox.appendMany(records);
  process.stdout.write(`${seqs.map((s) => s.seq).join(' ')}\n`);
  if (n % 50 === 0) await new Promise((r) => setImmediate(r));
}

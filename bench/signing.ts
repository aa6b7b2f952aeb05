/**
 * The cost of signatures (docs/mqtt.md, "Signatures"): what the box pays to sign each record it publishes,
 * and ingest to verify it, per record size (an alert, a call index, a long call's index, the 16 MB limit).
 * Ed25519 hashes the whole message, so the cost grows with the record.
 */
import { createPrivateKey } from 'node:crypto';
import { generateSigningKey, parsePublicKey, verifyJson } from '../lib/signing.js';
import { recordBody } from '../edge/uplink/signed-wire.js';
import { percentile, r } from './stats.js';

const SIZES: [string, number][] = [
  ['alert_1KB', 1024],
  ['index_64KB', 64 * 1024],
  ['index_1MB', 2 ** 20],
  ['record_16MB', 16 * 2 ** 20 - 1024],
];

function timed(fn: () => void, minRuns: number, minMs: number): number[] {
  const out: number[] = [];
  const t0 = performance.now();
  while (out.length < minRuns || performance.now() - t0 < minMs) {
    const s = performance.now();
    fn();
    out.push((performance.now() - s) * 1000);
  }
  return out;
}

export async function signingBench(): Promise<Record<string, unknown>> {
  const k = generateSigningKey();
  const key = createPrivateKey(k.privatePem);
  const pub = [parsePublicKey(k.publicKey, 'bench')];
  const out: Record<string, unknown> = {};
  for (const [name, bytes] of SIZES) {
    const data = JSON.stringify({ callId: 'bench', words: 'x'.repeat(Math.max(0, bytes - 40)) });
    const runs = bytes > 2 ** 20 ? 5 : 50;
    const sign = timed(() => recordBody('site', 'box', 1, 'index', Date.now(), data, key), runs, 300);
    const signed = Buffer.from(recordBody('site', 'box', 1, 'index', Date.now(), data, key));
    const verify = timed(() => {
      if (!verifyJson(signed, pub)) throw new Error('bench: signature did not verify');
    }, runs, 300);
    out[name] = { signP50Us: r(percentile(sign, 0.5), 1), verifyP50Us: r(percentile(verify, 0.5), 1), verifyMBps: r(signed.length / 2 ** 20 / (percentile(verify, 0.5) / 1e6), 1) };
  }
  // The unsigned record body for comparison: what signing adds on the box per small record.
  const small = JSON.stringify({ callId: 'bench', words: 'x'.repeat(1000) });
  out.alert_1KB_unsignedBodyP50Us = r(percentile(timed(() => recordBody('site', 'box', 1, 'index', Date.now(), small, null), 50, 300), 0.5), 1);
  return out;
}

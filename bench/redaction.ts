/**
 * `npm run bench -- redaction`: the redaction corpus (test/fixtures/redaction-corpus.yaml) through the
 * redactor: how many sensitive phrasings come out masked as they must, how many ordinary ones are touched,
 * and how long redaction takes per utterance (it runs on every record before every sink).
 */
import { performance } from 'node:perf_hooks';
import { redactSegments } from '../lib/redact.js';
import { loadCorpus, scoreCorpus } from '../test/support/redaction-corpus.js';
import { r } from './stats.js';

export async function redactionBench(): Promise<Record<string, unknown>> {
  const cases = loadCorpus();
  const figures = scoreCorpus(cases);
  const utterances = cases.reduce((n, c) => n + c.segments.length, 0);
  const rounds = 20;
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) for (const c of cases) redactSegments(c.segments);
  const perUtteranceUs = ((performance.now() - t0) * 1000) / (rounds * utterances);
  return {
    cases: cases.length,
    sensitive: figures.sensitive,
    ordinary: figures.ordinary,
    sensitiveMaskedPct: figures.sensitiveMaskedPct,
    ordinaryMaskedPct: figures.ordinaryMaskedPct,
    goals: { sensitiveMaskedPct: '>= 99', ordinaryMaskedPct: '<= 2' },
    failures: figures.failures.map((f) => f.id),
    perUtteranceUs: r(perUtteranceUs, 1),
  };
}

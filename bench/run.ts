/**
 * `npm run bench`: speed, capacity and accuracy, as JSON on stdout. Speed is a real-time factor (compute
 * seconds per second of one channel's audio), so figures from different machines compare; the machine is
 * stated alongside. Sections: `pipeline` (signal analysis), `recognition` (speech models, ../shared/models), `rules`
 * (precision, recall and alert latency per rule), `outbox` (durable writes, publish-to-ack latency through
 * mosquitto on loopback), `lines` (lines `earshot run` sustains in real time with recognition on and off, CPU and RSS
 * per line, alert latency under that load; bench/lines.ts lists its EARSHOT_BENCH_LINES_* settings);
 * `signing` (Ed25519 sign and verify per record size);
 * `memory` (peak RSS of `earshot analyze` on a one-minute and a two-hour call);
 * `central-live` (box-to-floor-page alert latency through mosquitto and headless Chromium; only when named);
 * `central` (a year of a 100-seat floor's calls into PostgreSQL and SQLite: ingest, list, search, call page; only when named);
 * `redaction` (the redaction corpus: sensitive and ordinary phrasings masked, time per utterance);
 * `accuracy` (issue 19: language, agitation, interrupter, keyword recall and rules end to end on the held-out split
 * of the generated evaluation set and the real clips; bench/accuracy.ts lists its EARSHOT_BENCH_ACCURACY_* settings;
 * only when named: it renders and recognises dozens of calls);
 * `keyword-calibration` (the spotter alone on the tuning split at a grid of thresholds and boosts: the per-phrase
 * tuning the packs carry; only when named); `language-fit` (recognition.auto's zhBias and tokenRatioWeight fitted on
 * the tuning split; only when named);
 * `npm run bench -- <section>` runs one.
 */
import os from 'node:os';
import { pipelineBench } from './pipeline.js';
import { r } from './stats.js';
import { recognitionBench } from './recognition.js';
import { rulesBench } from './rules.js';
import { outboxBench } from './outbox.js';
import { linesBench } from './lines.js';
import { centralLiveBench } from './central-live.js';
import { centralBench } from './central.js';
import { signingBench } from './signing.js';
import { memoryBench } from './memory.js';
import { redactionBench } from './redaction.js';
import { accuracyBench } from './accuracy.js';
import { keywordCalibrationBench } from './keyword-calibration.js';
import { languageFitBench } from './language-fit.js';

const only = process.argv[2];
const report: Record<string, unknown> = {
  bench: 'earshot/bench@1',
  machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, arch: process.arch, node: process.version, memGiB: r(os.totalmem() / 2 ** 30, 1) },
};
if (!only || only === 'pipeline') Object.assign(report, await pipelineBench());
if (!only || only === 'recognition') report.recognition = await recognitionBench();
if (!only || only === 'rules') report.rules = await rulesBench();
if (!only || only === 'outbox') Object.assign(report, await outboxBench());
if (!only || only === 'lines') report.lines = await linesBench();
if (!only || only === 'signing') report.signing = await signingBench();
if (!only || only === 'memory') report.memory = await memoryBench();
if (!only || only === 'redaction') report.redaction = await redactionBench();
// Only on request: it needs mosquitto and Chromium, which a box does not have.
if (only === 'central-live') report.centralLive = await centralLiveBench();
// Only on request: a year of calls into two stores takes a while and gigabytes of disk.
if (only === 'central') report.central = await centralBench();
// Only on request: the default size takes about a quarter of an hour with recognition on.
if (only === 'accuracy') report.accuracy = await accuracyBench();
// Only on request: the spotter over the tuning split at every setting of a grid (bench/keyword-calibration.ts).
if (only === 'keyword-calibration') report.keywordCalibration = await keywordCalibrationBench();
// Only on request: both recognisers over the tuning split (bench/language-fit.ts): where recognition.auto's weights come from.
if (only === 'language-fit') report.languageFit = await languageFitBench();
report.peakRssMiB = r(process.resourceUsage().maxRSS / 1024, 1);
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);

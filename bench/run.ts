/**
 * `npm run bench`: speed, capacity and accuracy, as JSON on stdout. Speed is a real-time factor (compute
 * seconds per second of one channel's audio), so figures from different machines compare; the machine is
 * stated alongside. Sections: `pipeline` (signal analysis), `recognition` (speech models, ../shared/models).
 */
import os from 'node:os';
import { pipelineBench, r } from './pipeline.js';
import { recognitionBench } from './recognition.js';

const only = process.argv[2];
const report: Record<string, unknown> = {
  bench: 'earshot/bench@1',
  machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, arch: process.arch, node: process.version, memGiB: r(os.totalmem() / 2 ** 30, 1) },
};
if (!only || only === 'pipeline') Object.assign(report, await pipelineBench());
if (!only || only === 'recognition') report.recognition = await recognitionBench();
report.peakRssMiB = r(process.resourceUsage().maxRSS / 1024, 1);
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);

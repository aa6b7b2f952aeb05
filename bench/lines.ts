/**
 * Lines in real time: how many lines `earshot run` sustains on this machine, through the real daemon path
 * (Daemon.start, replay lines paced at wall-clock speed, the rules, the outbox), with recognition and keyword
 * spotting on (the provisioned models) and off (an empty models root), what each line costs in CPU and RSS,
 * and alert latency under that load.
 *
 * Every trial runs in a fresh child process (this file, `trial` argument) so RSS and CPU are the daemon's own
 * and no trial inherits another's heap. A trial runs N lines for D seconds; N is *sustained* when no line gave
 * up its extras (run.shed.lightenBehindSec: everything stays on) or shed recognition or dropped audio, and no
 * line's backlog reached run.shed.behindSec. The search: a short probe
 * estimates capacity from what processing one second of line audio costs (process CPU against the free cores,
 * and with the lines in the main thread its busy time against its one core), then paced runs confirm it: down
 * after a failure, up after every pass (by its own cost per line while it leaves headroom, else by a tenth),
 * halving the gap once a pass and a failure bracket it, until the time budget is spent. Lines start spread
 * over the first third of a run, and each joins its first call
 * at a different point in it: with the same three recordings on every line, aligned calls would put every
 * line's talkative opening (where both languages' recognisers listen) and every hold in the same seconds.
 *
 * Lines run as the daemon runs them: in the main thread with their decoding on the thread pool (or in
 * run.workers threads), so CPU is the process's (all threads) against the cores; RSS includes every thread. Other
 * processes on the machine take cores too: each trial reports the CPU they used (othersCores), the estimate
 * plans on the cores they left free, and the report says when the figures were taken on a busy machine.
 *
 * Trials run the compiled build (dist/, rebuilt first by `npm run build`) under plain node with the flags of the
 * earshot script's #! line, as a box runs `earshot run` (see trialCommand).
 *
 * Environment: EARSHOT_BENCH_LINES_SOURCE=1 (run the source instead), EARSHOT_BENCH_LINES_SEC (paced run,
 * default 45), EARSHOT_BENCH_LINES_ESTIMATE_SEC (default 15),
 * EARSHOT_BENCH_LINES_BUDGET_SEC (whole section, default 360), EARSHOT_BENCH_LINES_MAX (cap, default 96),
 * EARSHOT_BENCH_LINES_N (skip the search: one paced run per mode at N), EARSHOT_BENCH_LINES_MODES (on,off),
 * EARSHOT_BENCH_LINES_WORKERS (run.workers; default the daemon's), EARSHOT_BENCH_LINES_PHASES=aligned (every
 * line plays whole calls from the start instead of joining its first call part-way), EARSHOT_SHARED (models
 * under <shared>/models, as in the recognition section), EARSHOT_BENCH_LINES_WATCH_PHASES (watch.phases),
 * EARSHOT_BENCH_LINES_LIGHTEN_SEC (run.shed.lightenBehindSec).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import type { LineConfig } from '../provisioning/config.js';
import { percentile, r } from './stats.js';

const THIS_FILE = fileURLToPath(import.meta.url);
/** A trial runs from a bundle of this file elsewhere (see trialScript), told where the checkout is. */
const repoRoot = process.env.EARSHOT_BENCH_REPO ?? path.resolve(path.dirname(THIS_FILE), '..');
const CALLS = ['demo-call.wav', 'demo-fraud-zh.wav', 'demo-invest-en.wav'].map((f) => path.join(repoRoot, 'demo', f));
/** Seconds of each bundled call, for the size of what replay lines hold in memory (16 kHz 16-bit stereo). */
const CALL_SEC: Record<string, number> = { 'demo-call.wav': 47.341, 'demo-fraud-zh.wav': 38.24, 'demo-invest-en.wav': 39.306 };
/** The rate replay lines decode to (edge/analysis/pipeline.ts PIPELINE_RATE, not imported: it loads the models). */
const PIPELINE_RATE = 16000;
/** Share of a core (or of the main thread) the estimate plans to use: the rest absorbs call starts and ends, GC. */
const PLAN_UTILISATION = 0.85;
/** A pass below this utilisation (of its busiest thread, and of the free cores) may jump ahead by its own cost per line. */
const HEADROOM = 0.8;
const TARGET = { lines: 24, alertP95Sec: 1.5, rssMB: 400 };

const envNum = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return process.env[name] !== undefined && Number.isFinite(v) && v > 0 ? v : fallback;
};
const shared = process.env.EARSHOT_SHARED ?? path.resolve(repoRoot, '..', 'shared');

type Mode = 'on' | 'off';

interface TrialSpec {
  lines: number;
  seconds: number;
  /** Line i's first call starts i * staggerSec after the daemon, so calls do not start and end in step. */
  staggerSec: number;
  modelsRoot: string;
  /** run.workers; absent: the daemon's default (one thread per core). */
  workers?: number;
  /** Each line's first call is joined part-way through (replay startAtSec at the line's phase). */
  phased: boolean;
}

/** The site's keyword watch, as the environment sets it (EARSHOT_BENCH_LINES_SPOT, _WATCH_PHASES); unset, the defaults. */
function siteWatch(): Record<string, unknown> {
  const { EARSHOT_BENCH_LINES_SPOT: spot, EARSHOT_BENCH_LINES_WATCH_PHASES: phases } = process.env;
  return { ...(spot ? { channels: spot.split(',') } : {}), ...(phases ? { phases: Number(phases) } : {}) };
}

/** run.shed as the environment sets it (EARSHOT_BENCH_LINES_LIGHTEN_SEC); unset, the defaults. */
function siteShed(): Record<string, unknown> {
  const lighten = process.env.EARSHOT_BENCH_LINES_LIGHTEN_SEC;
  return lighten ? { shed: { lightenBehindSec: Number(lighten) } } : {};
}

/** Where line i joins its first call, as a share of it: spread evenly over the lines (golden-ratio sequence). */
const phaseOf = (i: number) => (i * 0.6180339887) % 1;

/**
 * Where line i joins its first call: replayed calls otherwise all have their talkative openings and their holds
 * at the same moments on every line, which no floor does. At least 12 s of the call are left, so a joined call
 * still has speech, rules and an end in the run.
 */
const joinAtSec = (file: string, i: number) => r(phaseOf(i) * Math.max(0, (CALL_SEC[path.basename(file)] ?? 0) - 12), 2);

/** What the replayed audio itself holds: every thread decodes the three calls once, and its lines share them. */
function replayHeldMB(threads: number): number {
  const sec = threads * CALLS.reduce((sum, f) => sum + (CALL_SEC[path.basename(f)] ?? 0), 0);
  return (sec * PIPELINE_RATE * 2 * 2) / 2 ** 20;
}

interface AlertSample {
  rule: string;
  line: string;
  /** Callback wall time - (call start wall time + alert.end): what a supervisor waits after the evidence ends. */
  latencySec: number;
  /** alert.raisedAt - alert.end: media time the rule waits by design (silence to confirm, a phrase to finish). */
  decisionLagSec: number;
  /** Callback wall time - (call start wall time + alert.raisedAt): what the box adds (queueing, compute, delivery). */
  processingLagSec: number;
  /** From a call the line joined part-way (phased): its first speech is mid-sentence, no floor's call starts so. */
  joined: boolean;
}

interface TrialResult {
  spec: TrialSpec;
  /** Threads analysing lines, as the daemon reports it (1: the main thread). */
  threads: number;
  startupSec: number;
  /** From the moment every line has started to the end of the run. */
  windowSec: number;
  cpuCores: number;
  eventLoopUtilisation: number;
  /** Line audio analysed in the window, line-seconds (real time: lines x windowSec). */
  audioSec: number;
  cpuSecPerAudioSec: number;
  mainThreadSecPerAudioSec: number;
  rssMB: number;
  rssEndMB: number;
  maxRssMB: number;
  /** Line-seconds of calls heard without their extras (run.shed.lightenBehindSec): not everything on. */
  lightSec: number;
  shedSec: number;
  droppedSec: number;
  maxBacklogSec: number;
  backlogEndSec: number;
  behindSec: number;
  faults: number;
  calls: number;
  alerts: AlertSample[];
  speechProblems: string[];
  daemonSays: unknown;
  /** CPU the rest of the machine used in the window (other processes compete for the same cores). */
  othersCores: number;
  /** The largest backlog of any line in each 5 s of the run: a trend means overload, a spike a burst. */
  backlogEvery5Sec: number[];
}

/** CPU time every core has spent busy since boot, in seconds. */
function machineBusySec(): number {
  return os.cpus().reduce((s, c) => s + (c.times.user + c.times.nice + c.times.sys + c.times.irq) / 1000, 0);
}

// ---------------------------------------------------------------------------------------------------------
// One trial, in its own process.

const DIST = path.join(repoRoot, 'dist');
/** EARSHOT_BENCH_LINES_SOURCE=1: trials run the TypeScript source (each worker thread then carries a tsx compiler). */
const fromSource = process.env.EARSHOT_BENCH_LINES_SOURCE === '1';

interface BoxModules {
  Daemon: typeof import('../edge/run/daemon.js').Daemon;
  resolveConfig: typeof import('../provisioning/config.js').resolveConfig;
}

/** The daemon as a box runs it: the compiled build (linesBench builds it first), unless told to run the source. */
async function boxModules(): Promise<BoxModules> {
  const from = (rel: string) => (fromSource ? `../${rel}.js` : pathToFileURL(path.join(DIST, `${rel}.js`)).href);
  const { log: boxLog } = (await import(from('lib/log'))) as typeof import('../lib/log.js');
  boxLog.level = 'silent';
  const { Daemon } = (await import(from('edge/run/daemon'))) as typeof import('../edge/run/daemon.js');
  const { resolveConfig } = (await import(from('provisioning/config'))) as typeof import('../provisioning/config.js');
  return { Daemon, resolveConfig };
}

async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((res) => server.close(() => res()));
  return port;
}

async function runTrial(spec: TrialSpec): Promise<TrialResult> {
  // The uplink's own logger (lib/log.ts) would report the missing broker on stderr; a bench wants it quiet.
  const box = await boxModules();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'earshot-bench-lines-'));
  try {
    return await trialIn(dir, spec, box);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function trialIn(dir: string, spec: TrialSpec, { Daemon, resolveConfig }: BoxModules): Promise<TrialResult> {
  const lines: Record<string, Partial<LineConfig>> = {};
  for (let i = 0; i < spec.lines; i++) {
    // Each line replays the three calls from a different one, so the floor mixes languages and call shapes.
    const files = CALLS.map((_, k) => CALLS[(i + k) % CALLS.length]);
    const startAtSec = spec.phased && i > 0 ? joinAtSec(files[0], i) : 0;
    lines[`desk-${i + 1}`] = { agent: { id: `A${1000 + i}` }, audio: { replay: files, loop: true, gapSec: 2, startAtSec } };
  }
  // No broker: the uplink is pointed at a closed loopback port and retries once an hour; the outbox keeps all.
  const config = resolveConfig({
    lines,
    models: { root: spec.modelsRoot },
    watch: siteWatch(),
    outbox: { path: path.join(dir, 'outbox.sqlite') },
    uplink: { enabled: false, broker: `mqtt://127.0.0.1:${await freeLoopbackPort()}`, reconnect: { minSec: 3600, maxSec: 3600, jitter: 0 } },
    run: { healthPort: 0, ...(spec.workers === undefined ? {} : { workers: spec.workers }), ...siteShed() },
  });

  const alerts: AlertSample[] = [];
  let collecting = true;
  const t0 = performance.now();
  const daemonCalledAt = Date.now();
  const daemon = await Daemon.start(config, {
    log: pino({ level: 'silent' }),
    staggerSec: spec.staggerSec,
    onAlert: (a) => {
      // Alerts raised while the daemon stops belong to calls cut short by the bench, not to live calls. A
      // revision (fuller evidence for an alert already out) is not a new alert: latency is the first sending's.
      if (!collecting || a.revision) return;
      const now = Date.now();
      const callStart = Date.parse(a.line.startedAt);
      // Line i's joined call starts when the line does (i staggers in, models loaded in under 10 s); its next
      // call, a whole one, at least 14 s later (12 s of joined call at least, a 2 s gap).
      const i = Number(a.line.name.replace('desk-', '')) - 1;
      const joined = spec.phased && i > 0 && callStart < daemonCalledAt + (i * spec.staggerSec + 10) * 1000;
      alerts.push({
        rule: a.rule,
        line: a.line.name,
        latencySec: (now - callStart) / 1000 - a.end,
        decisionLagSec: a.raisedAt - a.end,
        processingLagSec: (now - callStart) / 1000 - a.raisedAt,
        joined,
      });
    },
  });
  const startupSec = (performance.now() - t0) / 1000;
  const runStart = performance.now();

  const sum = (pick: (c: ReturnType<typeof daemon.lineStatuses>[number]) => number) => daemon.lineStatuses().reduce((s, l) => s + pick(l), 0);
  const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

  // The window opens once every line has started its first call (plus a second for the slowest to get going).
  const openAt = Math.min(spec.seconds / 2, spec.staggerSec * spec.lines + 1);
  let rssPeak = 0;
  const backlog: number[] = [];
  let window: { t: number; cpu: NodeJS.CpuUsage; elu: ReturnType<typeof performance.eventLoopUtilization>; heard: number; machine: number } | undefined;
  while ((performance.now() - runStart) / 1000 < spec.seconds) {
    await sleep(250);
    const elapsed = (performance.now() - runStart) / 1000;
    const bucket = Math.floor(elapsed / 5);
    backlog[bucket] = Math.max(backlog[bucket] ?? 0, ...daemon.lineStatuses().map((l) => l.backlogSec));
    if (!window && elapsed >= openAt) window = { t: performance.now(), cpu: process.cpuUsage(), elu: performance.eventLoopUtilization(), heard: sum((l) => l.counters.heardSec), machine: machineBusySec() };
    if (window) rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
  }
  const w = window as NonNullable<typeof window>;
  const windowSec = (performance.now() - w.t) / 1000;
  const cpu = process.cpuUsage(w.cpu);
  const elu = performance.eventLoopUtilization(w.elu);
  const machineSec = machineBusySec() - w.machine;
  const statuses = daemon.lineStatuses();
  const audioSec = sum((l) => l.counters.heardSec) - w.heard;
  const rssEnd = process.memoryUsage.rss();
  const daemonSays = (daemon.stats() as { process?: { threads?: number } }).process;
  const speechProblems = daemon.healthReport().problems.filter((p) => p.startsWith('recognition: ')).map((p) => p.slice('recognition: '.length));
  collecting = false;
  await daemon.stop(0);
  // Worker threads report their lines every 500 ms; after stop, their last word covers the run's end too.
  const final = daemon.lineStatuses();

  const cpuSec = (cpu.user + cpu.system) / 1e6;
  const mainSec = elu.active / 1000;
  return {
    spec,
    threads: daemonSays?.threads ?? 1,
    startupSec: r(startupSec, 2),
    windowSec: r(windowSec, 1),
    cpuCores: r(cpuSec / windowSec, 3),
    eventLoopUtilisation: r(elu.utilization, 3),
    audioSec: r(audioSec, 1),
    cpuSecPerAudioSec: r(cpuSec / audioSec, 6),
    mainThreadSecPerAudioSec: r(mainSec / audioSec, 6),
    rssMB: r(rssPeak / 2 ** 20, 1),
    rssEndMB: r(rssEnd / 2 ** 20, 1),
    maxRssMB: r(process.resourceUsage().maxRSS / 1024, 1),
    lightSec: r(final.reduce((s, l) => s + l.counters.lightSec, 0), 2),
    shedSec: r(final.reduce((s, l) => s + l.counters.shedSec, 0), 2),
    droppedSec: r(final.reduce((s, l) => s + l.counters.droppedSec, 0), 2),
    maxBacklogSec: Math.max(0, ...final.map((l) => l.counters.maxBacklogSec)),
    backlogEndSec: Math.max(0, ...statuses.map((l) => l.backlogSec)),
    behindSec: config.run.shed.behindSec,
    faults: final.reduce((s, l) => s + l.counters.faults, 0),
    calls: statuses.reduce((s, l) => s + l.counters.calls, 0),
    alerts,
    speechProblems,
    daemonSays,
    othersCores: r(Math.max(0, machineSec - cpuSec) / windowSec, 2),
    backlogEvery5Sec: Array.from(backlog, (b) => r(b ?? 0, 1)),
  };
}

/** A trial holding the daemon with no lines: the box's fixed RSS (node, VAD session, outbox, uplink). */
async function runBaseline(): Promise<{ rssMB: number }> {
  const { Daemon, resolveConfig } = await boxModules();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'earshot-bench-lines-'));
  try {
    const config = resolveConfig({
      outbox: { path: path.join(dir, 'outbox.sqlite') },
      uplink: { enabled: false, broker: `mqtt://127.0.0.1:${await freeLoopbackPort()}`, reconnect: { minSec: 3600, maxSec: 3600, jitter: 0 } },
      run: { healthPort: 0 },
    });
    const daemon = await Daemon.start(config, { log: pino({ level: 'silent' }) });
    await new Promise((res) => setTimeout(res, 2000));
    const rssMB = r(process.memoryUsage.rss() / 2 ** 20, 1);
    await daemon.stop(0);
    return { rssMB };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// The search, in the bench process.

const MARK = '@@earshot-bench-lines ';

/**
 * What a trial process runs. From the build, plain node on a bundle of this file: under the TypeScript loader
 * the trial's RSS would include the loader and a second, source copy of the config module, which a box does
 * not hold. The bundle lives under node_modules so that its package imports resolve as this file's do.
 */
let trialScript: string | undefined;
function trialCommand(): string[] {
  if (fromSource) return [...process.execArgv, ...boxNodeFlags(), THIS_FILE];
  if (!trialScript) {
    trialScript = path.join(repoRoot, 'node_modules', '.cache', 'earshot-bench', 'lines-trial.mjs');
    const { buildSync } = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
    buildSync({ entryPoints: [THIS_FILE], outfile: trialScript, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'error' });
  }
  return [...boxNodeFlags(), trialScript];
}

/** The flags the box starts node with: the earshot script's #! line (edge/cli.ts) is their one home. */
function boxNodeFlags(): string[] {
  const shebang = readFileSync(path.join(repoRoot, 'edge', 'cli.ts'), 'utf8').split('\n', 1)[0]!;
  const flags = /^#!.*\bnode\b(.*)$/.exec(shebang)?.[1] ?? '';
  return flags.split(/\s+/).filter(Boolean);
}

function inChild<T>(args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...trialCommand(), ...args], { cwd: repoRoot, env: { ...process.env, EARSHOT_BENCH_REPO: repoRoot }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith(MARK));
      if (code === 0 && line) resolve(JSON.parse(line.slice(MARK.length)) as T);
      else reject(new Error(`bench trial ${args.join(' ')} exited ${code}: ${err.trim().split('\n').slice(-5).join(' | ')}`));
    });
  });
}

const sustained = (t: TrialResult): string[] => {
  const why: string[] = [];
  if (t.lightSec > 0) why.push(`extras (spotter phases, language revisit) given up for ${t.lightSec} s`);
  if (t.shedSec > 0) why.push(`recognition shed for ${t.shedSec} s`);
  if (t.droppedSec > 0) why.push(`${t.droppedSec} s of audio dropped`);
  if (t.maxBacklogSec >= t.behindSec) why.push(`a line fell ${t.maxBacklogSec} s behind (shed at ${t.behindSec} s)`);
  if (t.faults > 0) why.push(`${t.faults} line fault(s)`);
  return why;
};

/**
 * Lines this machine could carry at PLAN_UTILISATION, given what keeping one line in real time costs (the
 * dearest of the trials given: a trial that shed recognition looks cheaper than the full cost) and the CPU
 * other processes left free in the latest of them. Decoding runs on the thread pool over every core; the
 * JavaScript work of the lines runs on one thread: with the lines in the main thread its busy time (event-loop
 * utilisation) also binds; with worker threads (lines dealt evenly), each worker's share of the CPU.
 */
function capacity(trials: TrialResult[], cores: number) {
  const latest = trials[trials.length - 1];
  const cpuPerLine = Math.max(...trials.map((t) => t.cpuSecPerAudioSec));
  const mainPerLine = Math.max(...trials.map((t) => t.mainThreadSecPerAudioSec));
  const freeCores = Math.max(0.25, cores - latest.othersCores);
  const byThreads = latest.threads === 1 ? PLAN_UTILISATION / mainPerLine : (latest.threads * PLAN_UTILISATION) / cpuPerLine;
  const lines = (free: number) => Math.max(1, Math.floor(Math.min((free * PLAN_UTILISATION) / cpuPerLine, byThreads)));
  return {
    lines: lines(freeCores),
    onQuietMachine: lines(cores),
    cpuCoresPerLine: r(cpuPerLine, 4),
    freeCores: r(freeCores, 2),
    threads: latest.threads,
  };
}

/** Calls start over this many seconds: spread out as on a floor, yet every line is in its first call early. */
const spread = (seconds: number) => Math.min(15, seconds / 3);

function summarise(t: TrialResult) {
  return {
    lines: t.spec.lines,
    threads: t.threads,
    sustained: sustained(t).length === 0,
    why: sustained(t),
    cpuCores: t.cpuCores,
    eventLoopUtilisation: t.eventLoopUtilisation,
    rssMB: t.rssMB,
    othersCores: t.othersCores,
    maxBacklogSec: t.maxBacklogSec,
    backlogEvery5Sec: t.backlogEvery5Sec,
    lightSec: t.lightSec,
    shedSec: t.shedSec,
    droppedSec: t.droppedSec,
    calls: t.calls,
    alerts: t.alerts.length,
  };
}

/** Least-squares MB per line over trials with different line counts; undefined with only one count. */
function rssSlope(trials: TrialResult[]): number | undefined {
  if (new Set(trials.map((t) => t.spec.lines)).size < 2) return undefined;
  const mx = trials.reduce((s, t) => s + t.spec.lines, 0) / trials.length;
  const my = trials.reduce((s, t) => s + t.rssMB, 0) / trials.length;
  const sxy = trials.reduce((s, t) => s + (t.spec.lines - mx) * (t.rssMB - my), 0);
  const sxx = trials.reduce((s, t) => s + (t.spec.lines - mx) ** 2, 0);
  return sxy / sxx;
}

function latencyReport(alerts: AlertSample[]) {
  const stats = (xs: number[]) => ({ p50: r(percentile(xs, 0.5), 3), p95: r(percentile(xs, 0.95), 3), max: r(Math.max(...xs), 3) });
  if (alerts.length === 0) return { count: 0 };
  const byRule: Record<string, unknown> = {};
  for (const rule of [...new Set(alerts.map((a) => a.rule))].sort()) {
    const xs = alerts.filter((a) => a.rule === rule);
    byRule[rule] = { count: xs.length, p95Sec: r(percentile(xs.map((a) => a.latencySec), 0.95), 3), decisionLagP95Sec: r(percentile(xs.map((a) => a.decisionLagSec), 0.95), 3) };
  }
  return {
    count: alerts.length,
    latencySec: stats(alerts.map((a) => a.latencySec)),
    decisionLagSec: stats(alerts.map((a) => a.decisionLagSec)),
    processingLagSec: stats(alerts.map((a) => a.processingLagSec)),
    byRule,
  };
}

export async function linesBench(): Promise<Record<string, unknown>> {
  const cores = os.availableParallelism();
  const seconds = envNum('EARSHOT_BENCH_LINES_SEC', 45);
  const estimateSec = envNum('EARSHOT_BENCH_LINES_ESTIMATE_SEC', 15);
  const budgetSec = envNum('EARSHOT_BENCH_LINES_BUDGET_SEC', 360);
  const maxLines = Math.floor(envNum('EARSHOT_BENCH_LINES_MAX', 96));
  // RSS and CPU are the installed box's: the build of this checkout, not the source under a TypeScript loader.
  if (!fromSource) execFileSync('npm', ['run', '-s', 'build'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
  const fixedN = process.env.EARSHOT_BENCH_LINES_N ? Math.floor(envNum('EARSHOT_BENCH_LINES_N', 1)) : undefined;
  const modes = (process.env.EARSHOT_BENCH_LINES_MODES ?? 'on,off').split(',').map((m) => m.trim()).filter((m): m is Mode => m === 'on' || m === 'off');
  const emptyModels = mkdtempSync(path.join(os.tmpdir(), 'earshot-bench-nomodels-'));
  const aligned = process.env.EARSHOT_BENCH_LINES_PHASES === 'aligned';
  const roots: Record<Mode, string> = { on: path.join(shared, 'models'), off: emptyModels };
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const workersEnv = process.env.EARSHOT_BENCH_LINES_WORKERS;
  let workers = workersEnv !== undefined && /^\d+$/.test(workersEnv) ? Number(workersEnv) : undefined;
  // Lines in worker threads (run.workers) must start from this checkout; if they cannot, the report says why and
  // the lines are measured in the main thread (run.workers: 1) rather than not at all.
  let workersProblem: string | undefined;
  const trial = async (mode: Mode, lines: number, sec: number): Promise<TrialResult> => {
    const run = () => inChild<TrialResult>(['trial', JSON.stringify({ lines, seconds: sec, staggerSec: r(spread(sec) / lines, 3), modelsRoot: roots[mode], workers, phased: !aligned } satisfies TrialSpec)]);
    try {
      return await run();
    } catch (err) {
      if (workers === 1 || workersProblem !== undefined || lines < 2) throw err;
      workersProblem = (err as Error).message;
      workers = 1;
      return run();
    }
  };

  try {
    const baseline = await inChild<{ rssMB: number }>(['baseline']);
    const out: Record<string, unknown> = {
      what:
        'N lines replaying the bundled calls (8 kHz, ~40 s each, looped with 2 s gaps) in real time through Daemon.start (lines in run.workers threads), rules and outbox on, no broker; ' +
        'N is sustained when no line gave up its extras (run.shed.lightenBehindSec) or shed recognition, dropped audio or fell run.shed.behindSec behind. Each trial is a fresh process; othersCores is CPU other processes took meanwhile.',
      machine: { cpu: os.cpus()[0]?.model, cores, memGiB: r(os.totalmem() / 2 ** 30, 1), node: process.version },
      settings: {
        build: fromSource ? 'TypeScript source under tsx (EARSHOT_BENCH_LINES_SOURCE=1)' : 'dist/, compiled from this checkout (as `npm ci` installs it)',
        phases: aligned
          ? 'aligned: every line plays whole calls from their start'
          : 'spread: line i joins its first call at an evenly spread point in it (then whole calls), so lines are not all in the same part of the same recording',
        pacedRunSec: seconds,
        callStartsSpreadOverSec: r(spread(seconds), 1), estimateRunSec: estimateSec, budgetSec, maxLines, planUtilisation: PLAN_UTILISATION, modelsRoot: roots.on, runWorkers: workers ?? 'default (the main thread)',
        watch: siteWatch(), ...siteShed(),
      },
      baselineRssMB: baseline.rssMB,
    };
    let overheadSec = 10;
    const allTrials: TrialResult[] = [];

    for (const [m, mode] of modes.entries()) {
      const tries: ReturnType<typeof summarise>[] = [];
      const done: TrialResult[] = [];
      const record = (t: TrialResult) => {
        tries.push(summarise(t));
        done.push(t);
        allTrials.push(t);
        return t;
      };
      let best: TrialResult | undefined;
      let estimate: ReturnType<typeof capacity> | undefined;
      let n = Math.min(maxLines, fixedN ?? 1);
      if (fixedN === undefined) {
        // Few enough lines that the probe is not itself overloaded (costs are per second of audio either way);
        // a probe that keeps up counts as a floor until a full-length run does better.
        const probe = record(await trial(mode, Math.min(mode === 'on' ? 4 : 8, maxLines), estimateSec));
        if (sustained(probe).length === 0) best = probe;
        estimate = capacity(done, cores);
        n = Math.min(maxLines, Math.max(estimate.lines, best?.spec.lines ?? 1));
      }
      // The budget keeps, for each mode still to come, its probe and one paced run.
      const modeDeadline = budgetSec - (modes.length - 1 - m) * (estimateSec + seconds + 2 * overheadSec);
      const fullRuns = () => done.filter((t) => t.spec.seconds >= seconds);
      let lowestFail = Infinity;
      let last: TrialResult | undefined;
      let stoppedBy = fixedN !== undefined ? 'fixed lines' : 'search ended';
      for (;;) {
        const t0 = performance.now();
        const t = record(await trial(mode, n, seconds));
        overheadSec = Math.max(overheadSec * 0.5, (performance.now() - t0) / 1000 - seconds);
        last = t;
        let next: number | undefined;
        if (sustained(t).length === 0) {
          best = t;
          const busiestThread = t.threads === 1 ? t.eventLoopUtilisation : t.cpuCores / t.threads;
          const room = busiestThread < HEADROOM && t.cpuCores < HEADROOM * (cores - t.othersCores);
          // Between a pass and a fail: halve the gap. Otherwise up by a step, or as far as this run's own cost
          // per line says (a full run's cost is the steady one; a probe's is dearer, its calls all young), by
          // half as many lines again at most: other processes' load can change before the next run.
          if (lowestFail < Infinity) next = Math.floor((n + lowestFail) / 2);
          else {
            const step = n + Math.max(1, Math.round(n * 0.1));
            // A loaded pass still counts: CPU per line falls as lines fill the threads (fewer wake-ups per
            // chunk), so whether more lines keep up is for a run to show, not for this run's utilisation.
            next = Math.min(room ? Math.max(step, Math.min(capacity([t], cores).lines, Math.floor(n * 1.5))) : step, maxLines);
          }
        } else {
          lowestFail = n;
          // A probe's short pass does not hold if a full run at as many lines fails.
          if (best && best.spec.lines >= n) best = undefined;
          const passed = best && best.spec.seconds >= seconds ? best.spec.lines : 0;
          next = passed ? Math.floor((passed + n) / 2) : Math.max(best?.spec.lines ?? 1, Math.min(n - 1, Math.floor(n * 0.85)));
        }
        const floor = best && best.spec.seconds >= seconds ? best.spec.lines : 0;
        if (next !== undefined && (next >= lowestFail || next <= floor || next === n)) stoppedBy = lowestFail < Infinity && floor ? `bracketed: ${floor} pass, ${lowestFail} fail` : 'no lower count left to try';
        if (next !== undefined && next === n && n === maxLines) stoppedBy = 'at EARSHOT_BENCH_LINES_MAX';
        if (fixedN !== undefined || next === undefined || next === n || next >= lowestFail || next <= floor) break;
        if (elapsed() + seconds + overheadSec > modeDeadline) {
          stoppedBy = 'time budget';
          break;
        }
        n = next;
      }

      const at = best ?? last;
      const linesSustained = best?.spec.lines ?? 0;
      const replayMB = replayHeldMB(at.threads);
      const rssPerLine = (at.rssMB - baseline.rssMB) / at.spec.lines;
      const slope = rssSlope(done);
      const report: Record<string, unknown> = {
        recognition: mode === 'on' ? `models from ${roots.on}` : 'off (empty models root: no recogniser, no keyword spotter)',
        speechProblems: at.speechProblems,
        linesSustained,
        channels: 2 * linesSustained,
        ...(best ? { sustainedOverSec: best.spec.seconds } : {}),
        // cpuCoresPerLine: what keeping one line in real time costs; lines: what the free cores carry at planUtilisation.
        capacity: { ...(estimate ? { fromProbe: estimate } : { fixedLines: fixedN }), fromFullRuns: capacity(fullRuns(), cores) },
        atLoad: {
          lines: at.spec.lines,
          threads: at.threads,
          sustained: Boolean(best),
          cpuCoresUsed: at.cpuCores,
          cpuPerLineCores: r(at.cpuCores / at.spec.lines, 4),
          mainThreadEventLoopUtilisation: at.eventLoopUtilisation,
          rssMB: at.rssMB,
          rssPerLineMB: r(rssPerLine, 2),
          // Replay lines hold their calls decoded (16 kHz 16-bit stereo, once per thread); a headset line does not.
          replayAudioHeldMB: r(replayMB, 1),
          rssPerLineExcludingReplayAudioMB: r(rssPerLine - replayMB / at.spec.lines, 2),
          // What one more line adds, from the trials at different line counts (the models' copies excluded).
          ...(slope === undefined ? {} : { rssMarginalPerLineMB: r(slope, 2) }),
          othersCores: at.othersCores,
          maxRssMB: at.maxRssMB,
          lightSec: at.lightSec,
          shedSec: at.shedSec,
          droppedSec: at.droppedSec,
          maxBacklogSec: at.maxBacklogSec,
          backlogAtEndSec: at.backlogEndSec,
          callsIndexed: at.calls,
          startupSec: at.startupSec,
          measuredOverSec: at.windowSec,
          daemonSays: at.daemonSays,
        },
        search: { stoppedBy, tries },
      };
      if (mode === 'on') {
        const latency = latencyReport(at.alerts.filter((a) => !a.joined));
        report.alertLatency = {
          note:
            'latency = onAlert wall time - (line.startedAt + alert.end); decisionLag = alert.raisedAt - alert.end (the rule waiting, in media time); processingLag = what the box adds after the rule could decide. ' +
            'Whole calls only: a call joined part-way starts mid-sentence, and recognition language auto holds words and keyword hits until it has judged the first speech.',
          atLines: at.spec.lines,
          ...latency,
          ...(at.spec.phased ? { joinedCallAlertsLeftOut: { count: at.alerts.filter((a) => a.joined).length, ...latencyReport(at.alerts.filter((a) => a.joined)).latencySec } } : {}),
          // What the load adds is the same on joined calls: every alert of the run.
          processingLagAllAlertsSec: { count: at.alerts.length, ...latencyReport(at.alerts).processingLagSec },
        };
        const p95 = latency.latencySec?.p95 ?? NaN;
        report.target = {
          want: `${TARGET.lines} lines (${2 * TARGET.lines} channels) in real time with everything on, alert latency p95 < ${TARGET.alertP95Sec} s, RSS < ${TARGET.rssMB} MB`,
          linesMet: linesSustained >= TARGET.lines,
          alertLatencyMet: p95 < TARGET.alertP95Sec,
          rssMet: at.rssMB < TARGET.rssMB,
          met: linesSustained >= TARGET.lines && p95 < TARGET.alertP95Sec && at.rssMB < TARGET.rssMB,
        };
      }
      out[mode === 'on' ? 'recognitionOn' : 'recognitionOff'] = report;
    }
    if (workersProblem) {
      out.workersProblem = `worker threads could not start, so lines ran in the main thread (run.workers: 1): ${workersProblem}`;
    }
    const others = Math.max(0, ...allTrials.map((t) => t.othersCores));
    if (others > 0.25) {
      out.contention = `other processes used up to ${r(others, 2)} of the ${cores} cores during these trials: lines sustained and latency understate this machine; capacity.fromFullRuns.onQuietMachine estimates it quiet`;
    }
    out.benchSec = r(elapsed(), 1);
    return out;
  } finally {
    rmSync(emptyModels, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === THIS_FILE) {
  const [what, spec] = process.argv.slice(2);
  const result = what === 'baseline' ? await runBaseline() : what === 'trial' ? await runTrial(JSON.parse(spec) as TrialSpec) : await linesBench();
  process.stdout.write(`${what === 'baseline' || what === 'trial' ? MARK : ''}${JSON.stringify(result, null, what === 'trial' || what === 'baseline' ? 0 : 2)}\n`);
  process.exit(0);
}

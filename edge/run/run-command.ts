import type { MqttClient } from 'mqtt';
import { ConfigError, defaultConfig, loadConfigFile, type EarshotConfig } from '../../provisioning/config.js';
import { log, logToStdout } from '../../lib/log.js';
import type { Alert } from '../rules/types.js';
import { Daemon } from './daemon.js';
import { dirname } from 'node:path';
import { exitNoteFile, installLastResort, takePreviousExit } from '../last-resort.js';
import { CallStateInputs } from './call-state-inputs.js';
import { resolveLines } from '../../provisioning/lines.js';
import { readCustomerSecret } from '../../lib/customer-key.js';
import { checkBoxIdentity } from '../../provisioning/identity.js';
import { boxId } from '../uplink/start-uplink.js';
import { loadRules } from '../rules/setup.js';
import { demoConfig, EmbeddedBroker, watchBroker } from './demo.js';
import type { LiveCallRef } from './line.js';
import { SystemdNotifier, watchdogFromEnv } from './systemd-notify.js';

export interface RunOptions {
  config?: string;
  demo?: boolean;
  loop?: boolean;
  broker?: string;
  models?: string;
  healthPort?: number;
  printAlerts?: boolean;
  /** Seconds to let the uplink deliver at shutdown. */
  drainSec?: number;
  /** Validate the configuration (lines, PBX patterns, rules) and exit without opening anything. */
  check?: boolean;
  /**
   * With --demo: the centre to start beside the box, on the demo's broker, storing in `dir` (the CLI gives
   * `earshot central`'s; the box itself knows nothing of the centre). Absent: the demo has no centre.
   */
  centre?: (broker: string, dir: string, embedded: boolean) => Promise<{ url: string; login: { name: string; password: string } | null; close(): Promise<void> }>;
  /** With --demo and a centre: keep its page up after the calls end until Ctrl-C (a terminal is watching). */
  stayUp?: boolean;
}

const clock = (d = new Date()) => d.toTimeString().slice(0, 8);
const mmss = (sec: number) => `${Math.floor(sec / 60)}:${(sec % 60).toFixed(1).padStart(4, '0')}`;

/** One alert as a supervisor reads it: when, how bad, what, whose desk, where in the call, the evidence. */
export function formatAlert(a: Alert & { callId: string; line?: Partial<LiveCallRef> }): string {
  const who = a.line ? `${a.line.name}${a.line.agentId ? ` (agent ${a.line.agentId})` : ''}` : a.callId;
  const rule = a.withdrawn ? `${a.rule} (withdrawn)` : a.revision ? `${a.rule} (update)` : a.rule;
  return `${clock()}  ${a.severity.toUpperCase().padEnd(8)} ${rule.padEnd(22)} ${who.padEnd(20)} at ${mmss(a.start)}  ${a.withdrawn ?? a.evidence}`;
}

/** `earshot run --check`: everything an installer can get wrong, found before the box goes live. */
function checkConfig(config: EarshotConfig, file: string, out: (s: string) => void): number {
  const lines = resolveLines(config, file);
  if (lines.length === 0) throw new ConfigError(file, 'no lines configured: add a lines: section (see docs/run.md)');
  // Compiles every PBX and hook pattern (nothing is opened until start()).
  new CallStateInputs(config, lines, () => {}, log, file);
  const { rules } = loadRules(config);
  out(`${file}: OK: ${lines.length} line(s), ${rules.length} rule(s)\n`);
  for (const l of lines) {
    const agent = l.agent.id ? ` agent ${l.agent.id}` : '';
    out(`  ${l.name.padEnd(16)} audio ${l.audio.kind.padEnd(8)} calls by ${l.callState.kind.padEnd(5)} language ${l.config.recognition.language}${agent}\n`);
  }
  return 0;
}

/**
 * `earshot run`: the daemon until SIGTERM or SIGINT. `--demo` builds its own lines from the bundled calls,
 * starts a broker on loopback unless one is given, prints alerts as a supervisor subscribed to the broker
 * receives them, and stops once every demo call has been indexed (or runs on with --loop).
 */
export async function runCommand(opts: RunOptions, out: (s: string) => void): Promise<number> {
  let config: EarshotConfig = opts.config ? loadConfigFile(opts.config) : defaultConfig();
  const file = opts.config ?? '(built-in)';
  if (opts.models) config.models.root = opts.models;
  if (opts.broker) config.uplink.broker = opts.broker;
  if (opts.healthPort !== undefined) config.run.healthPort = opts.healthPort;
  // Before anything starts: a box configured as another box would publish where the broker's ACL refuses it.
  if (config.uplink.enabled) checkBoxIdentity(config.uplink, boxId(config.uplink));
  // A key that cannot be read would leave every call unerasable by customer: refused now, not call by call.
  if (config.privacy.customerKeyFile) readCustomerSecret(config.privacy.customerKeyFile);
  if (opts.check) return checkConfig(config, file, out);
  logToStdout(opts.demo ? (process.env.EARSHOT_LOG_LEVEL ?? 'warn') : undefined);

  let broker: EmbeddedBroker | undefined;
  let watcher: MqttClient | undefined;
  let centre: Awaited<ReturnType<NonNullable<RunOptions['centre']>>> | undefined;
  let cleanup = () => {};
  if (opts.demo) {
    if (!opts.broker) broker = await EmbeddedBroker.start();
    const brokerUrl = opts.broker ?? (broker as EmbeddedBroker).url;
    const demo = demoConfig(config, { broker: brokerUrl, loop: Boolean(opts.loop), models: opts.models, embedded: Boolean(broker), centre: Boolean(opts.centre) });
    config = demo.config;
    cleanup = demo.cleanup;
    out(`earshot demo: ${Object.keys(config.lines).length} lines replaying bundled calls in real time -> ${config.uplink.broker}${broker ? ' (embedded broker)' : ''}\n`);
    out(`  speech models from ${config.models.root}; alerts below are what a supervisor subscribed to the broker receives\n`);
    if (opts.centre) {
      centre = await opts.centre(brokerUrl, demo.dir, Boolean(broker));
      out(`  the centre's pages (live floor, calls, search, review): ${centre.url}/floor/demo\n`);
      if (centre.login) out(`  sign in as ${centre.login.name} with the one-time password ${centre.login.password}\n`);
    }
    out('\n');
    watcher = await watchBroker(config.uplink.broker, config.uplink.prefix, (leaf, data) => {
      if (leaf === 'alerts') out(`${formatAlert(data as unknown as Alert & { callId: string; line?: LiveCallRef })}\n`);
      if (leaf === 'index') {
        const line = (data.line ?? {}) as { name?: string; endedBy?: string };
        const alerts = (data.alerts as unknown[] | undefined)?.length ?? 0;
        const sec = Number(data.durationSec ?? 0);
        out(`${clock()}  INDEX    ${String(data.callId)}: ${mmss(sec)} long, ${alerts} alert(s), ended by ${line.endedBy ?? '?'}\n`);
      }
    });
  } else if (Object.keys(config.lines).length === 0) {
    throw new ConfigError(file, 'no lines configured: add a lines: section (see docs/run.md), or try earshot run --demo');
  }

  const printLocally = !opts.demo && (opts.printAlerts || config.run.printAlerts);
  const exitNote = exitNoteFile(dirname(config.outbox.path));
  const restartedAfter = takePreviousExit(exitNote);
  if (restartedAfter) log.warn({ previousExit: restartedAfter }, `restarted after the previous process exited on: ${restartedAfter.reason}`);
  installLastResort(log, exitNote);
  // Under systemd (Type=notify): pings from the start, since loading models and opening lines takes a while.
  const systemd = SystemdNotifier.fromEnv(log);
  const watchdog = watchdogFromEnv(process.env);
  if (systemd && watchdog) systemd.startWatchdog(watchdog);
  const daemon = await Daemon.start(config, {
    restartedAfter,
    log,
    file,
    staggerSec: opts.demo ? 4 : 0,
    onAlert: printLocally ? (a) => out(`${formatAlert(a)}\n`) : undefined,
  });
  if (daemon.healthPort) log.info({ url: `http://127.0.0.1:${daemon.healthPort}/health` }, 'health endpoint');
  systemd?.notify(`READY=1\nSTATUS=${daemon.lineNames.length} line(s) running`);

  const signalled = new Promise<string>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve(sig));
  });
  const why = await Promise.race([signalled, opts.demo && !opts.loop ? daemon.linesDone().then(() => 'done') : new Promise<string>(() => {})]);
  log.info({ why }, 'stopping');
  systemd?.notify('STOPPING=1');
  const { waiting } = await daemon.stop(opts.drainSec ?? 5);
  systemd?.close();
  const statuses = daemon.lineStatuses();
  const calls = statuses.reduce((s, l) => s + l.counters.calls, 0);
  const alerts = statuses.reduce((s, l) => s + l.counters.alerts, 0);
  // The supervisor's view gets a moment to receive the last records before the broker goes away.
  await new Promise((r) => setTimeout(r, 300));
  await watcher?.endAsync(true);
  if (centre && opts.stayUp && why === 'done') {
    out(`\nearshot demo: the calls are done; the page stays up at ${centre.url}/floor/demo until Ctrl-C\n`);
    await signalled;
  }
  await centre?.close();
  await broker?.close();
  cleanup();
  if (opts.demo || why !== 'done') {
    out(`\nearshot: stopped (${why}): ${calls} call(s) indexed, ${alerts} alert(s) raised, ${waiting} record(s) left in the outbox\n`);
  }
  return 0;
}

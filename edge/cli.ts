#!/usr/bin/env -S node --max-semi-space-size=4
// The line above is how the box starts node (the systemd unit and the container run this file, and the lines
// bench starts its trials with the same flags). A small young generation: the lines' garbage is audio frames,
// dead within a frame or two, and V8's default semi-spaces let ~40 MB of it sit in memory (24 lines: 375 -> 352 MB).
import { spawn } from 'node:child_process';
import { DiskFullError } from '../lib/disk.js';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { CallAudioInput } from '../device/file-source.js';
import { InputError } from '../lib/errors.js';
import { packageVersion } from '../lib/package.js';
import { defaultConfig, loadConfigFile } from '../provisioning/config.js';
import { analyzeRecording, callIdFor } from './analyze.js';
import { eventLines, writeAnalysis } from './analyze-output.js';
import { keepClearTextInLogs, log } from '../lib/log.js';
import { clearTextNotice } from './redaction/view.js';
import { loadSpeechModels } from './speech-setup.js';
import { installModel, rollbackModel } from '../models/install.js';
import { runSearch } from './search/search-command.js';
import { StoreOpenError } from '../central/store/store.js';
import { registerCentralCommands } from '../central/central-command.js';
import { registerProvisionCommands } from '../provisioning/provision-command.js';
import { startDemoCentre } from '../central/demo-centre.js';
import { configWithRules } from './rules/setup.js';
import { CallPublisher } from './publish.js';
import { runCommand } from './run/run-command.js';
import { registerKeyCommands } from './keys-command.js';
import { registerRetentionCommands } from './retention-command.js';
import { registerBundleCommands } from './bundles/bundle-command.js';

// Each running PortAudio input holds a libuv threadpool thread while it waits for audio (naudiodon's
// design), and stopping one needs another: the default pool of 4 would stall a box with a few sound cards.
// Set before anything uses the pool, which is created on first use.
process.env.UV_THREADPOOL_SIZE ??= '32';

/** Exit status for input the user must fix (bad file, bad config, bad arguments), as opposed to our own failures. */
const EXIT_BAD_INPUT = 2;

class UsageError extends InputError {}

/** Progress on a terminal only: a pipe or a log file gets none of it. */
function progressPrinter(): { update?: (heard: number, total: number) => void; done: () => void } {
  if (!process.stderr.isTTY) return { done: () => {} };
  let last = -1;
  return {
    update: (heard, total) => {
      if (total < 30) return; // short calls finish before a progress line would help
      const pctDone = Math.min(99, Math.floor((100 * heard) / total));
      if (pctDone === last) return;
      last = pctDone;
      process.stderr.write(`\ranalysing ${pctDone}%`);
    },
    done: () => {
      if (last >= 0) process.stderr.write('\ranalysing 100%\n');
    },
  };
}

const program = new Command()
  .name('earshot')
  .description('Edge speech analytics for call centres: understand every call on the box, publish only indexes and alerts.')
  .version(packageVersion())
  .showHelpAfterError()
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : EXIT_BAD_INPUT);
  });

program
  .command('analyze')
  .description('analyse a recorded call (stereo WAV, or two mono WAVs) and write its call index')
  .argument('[call]', 'stereo WAV: 16-bit PCM or 8-bit G.711 mu-law/A-law at 8, 16, 44.1 or 48 kHz')
  .option('--agent <wav>', 'mono WAV of the agent side (with --customer)')
  .option('--customer <wav>', 'mono WAV of the customer side (with --agent)')
  .addOption(new Option('--agent-channel <side>', 'which stereo channel is the agent').choices(['left', 'right']).default('left'))
  .option('-o, --out <file>', 'write the call index JSON here')
  .option('--json', 'print the call index JSON on stdout instead of the summary')
  .option('--events', 'print pipeline events as JSON lines on stdout as they happen')
  .option('-c, --config <file>', 'configuration file (YAML)')
  .option('-m, --models <root>', 'folder of model directories (default from config: /var/lib/earshot/models)')
  .addOption(new Option('--lang <language>', 'language of the call (auto: decided per side from the first speech)').choices(['auto', 'en', 'zh']))
  .option('-r, --rules <pack...>', 'rule pack(s) to run besides the built-in ones (docs/rules.md)')
  .option('-p, --publish', 'publish alerts (as raised) and the index (at the end) through the outbox and uplink (config uplink.*)')
  .option('--broker <url>', 'with --publish: the MQTT broker (default from config: uplink.broker)')
  .option('--publish-wait <sec>', 'with --publish: how long to wait for ingest to acknowledge before leaving the rest in the outbox', '10')
  .action(async (call: string | undefined, opts: { agent?: string; customer?: string; agentChannel: 'left' | 'right'; out?: string; json?: boolean; events?: boolean; config?: string; models?: string; lang?: 'auto' | 'en' | 'zh'; rules?: string[]; publish?: boolean; broker?: string; publishWait: string }) => {
    let input: CallAudioInput;
    if (call && (opts.agent || opts.customer)) throw new UsageError('give either a stereo call or --agent and --customer, not both');
    if (call) input = { stereo: call, agentChannel: opts.agentChannel };
    else if (opts.agent && opts.customer) input = { agent: opts.agent, customer: opts.customer };
    else throw new UsageError('no call given: earshot analyze <call.wav>, or --agent a.wav --customer b.wav');

    const site = opts.config ? loadConfigFile(opts.config) : defaultConfig();
    if (opts.models) site.models.root = opts.models;
    if (opts.lang) site.recognition.language = opts.lang;
    if (opts.broker) site.uplink.broker = opts.broker;
    const { config, rules } = configWithRules(site, opts.rules);
    const clearText = config.privacy.clearText;
    keepClearTextInLogs(clearText.includes('logs'));
    const notice = clearTextNotice(clearText);
    if (notice) process.stderr.write(`earshot: ${notice}\n`);
    const publisher = opts.publish ? CallPublisher.start(config) : undefined;
    const callId = callIdFor(input);
    const progress = progressPrinter();
    const eventLine = eventLines(clearText);
    const { index } = await analyzeRecording(input, {
      config,
      speechModels: async () => {
        const models = await loadSpeechModels(config);
        // The summary and the index say which side is not transcribed and why; the log keeps the detail.
        for (const problem of models.problems) log.info({ problem }, 'speech recognition degraded');
        return models;
      },
      onProgress: progress.update,
      keepEvents: false,
      rules,
      onEvent: opts.events ? (e) => process.stdout.write(eventLine(e)) : undefined,
      onAlert: (a) => {
        publisher?.alert(callId, a);
        if (opts.events) process.stdout.write(eventLine({ type: 'alert', ...a }));
      },
    });
    progress.done();
    let publishNote = '';
    if (publisher) {
      publisher.index(index);
      const waiting = await publisher.drain(Number(opts.publishWait));
      await publisher.stop();
      publishNote = waiting === 0 ? '  published index and alerts, acknowledged by ingest\n' : `  published; ${waiting} record(s) await acknowledgement in the outbox ${config.outbox.path}\n`;
    }
    await writeAnalysis(index, { ...opts, clearText }, (s) => process.stdout.write(s), publishNote);
  });

program
  .command('search')
  .description('find calls whose index matches a keyword query (see docs/search.md); exit 1 when none match')
  .argument('<query>', `e.g. 'agent:"verification code" OR (refund NEAR/5 "bank card")' or '验证码'`)
  .argument('<index...>', 'call index JSON files (from earshot analyze --out)')
  .action(async (query: string, files: string[]) => {
    const { output, matched } = await runSearch(query, files);
    process.stdout.write(output);
    // Like grep: scripts can branch on whether anything matched.
    if (matched === 0) process.exitCode = 1;
  });

const models = program.command('models').description('provision speech models on this box');
models
  .command('install')
  .description('verify a model folder or tarball against its manifest and install it under the models root, atomically')
  .argument('<source>', 'model folder or .tar/.tar.gz/.tgz (with model.json, or named like a manifest in models/manifests)')
  .option('--root <dir>', 'models root', '/var/lib/earshot/models')
  .option('--replace', 'replace an installed model of the same name (the old one is kept for rollback)')
  .action(async (source: string, opts: { root: string; replace?: boolean }) => {
    const installed = await installModel(source, opts.root, undefined, { replace: opts.replace });
    process.stdout.write(`installed ${installed.name} (${installed.manifest.kind}) in ${installed.dir}\n`);
  });
models
  .command('rollback')
  .description('put back the version of a model that the last install --replace took out (run again to roll forward)')
  .argument('<name>', 'model name, as installed under the models root')
  .option('--root <dir>', 'models root', '/var/lib/earshot/models')
  .action(async (name: string, opts: { root: string }) => {
    const { installed, previous } = await rollbackModel(name, opts.root);
    process.stdout.write(`rolled back ${installed.name} in ${installed.dir}${previous ? ` (the version taken out is kept in ${previous.dir})` : ''}\n`);
  });

registerCentralCommands(program);
registerKeyCommands(program);
registerRetentionCommands(program);
registerBundleCommands(program);
registerProvisionCommands(program);

program
  .command('run')
  .description('the appliance: listen to every line in the config, live, until SIGTERM (docs/run.md)')
  .option('-c, --config <file>', 'configuration file (YAML) with a lines: section')
  .option('--demo', 'replay the bundled calls on a few lines in real time to a broker on loopback, print alerts as published, then stop')
  .option('--loop', 'with --demo: keep replaying until Ctrl-C')
  .option('--broker <url>', 'MQTT broker (default from config; --demo starts an embedded one when not given)')
  .option('-m, --models <root>', 'folder of model directories (default from config)')
  .option('--health-port <port>', 'local health endpoint on 127.0.0.1 (0: off; default from config: 8787)', (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port number 0-65535');
    return n;
  })
  .option('--print-alerts', 'also print each alert on stdout as it is raised')
  .option('--no-centre', 'with --demo: no centre (ingest and web pages) beside the box')
  .option('--check', 'validate the configuration (lines, PBX patterns, rule packs) and exit')
  .action(async (opts: { config?: string; demo?: boolean; loop?: boolean; broker?: string; models?: string; healthPort?: number; printAlerts?: boolean; check?: boolean; centre?: boolean }) => {
    if (!opts.demo && !opts.config) throw new UsageError('earshot run needs --config <earshot.yml> (or --demo)');
    if (opts.loop && !opts.demo) throw new UsageError('--loop goes with --demo');
    // The demo shows the centre too; the box's own code knows nothing of it, so it is handed in here.
    const centre = opts.demo && opts.centre !== false ? (broker: string, dir: string, embedded: boolean) => startDemoCentre({ broker, dir, log, protocol: embedded ? '3.1.1' : 'auto' }) : undefined;
    process.exitCode = await runCommand({ ...opts, centre, stayUp: Boolean(process.stdout.isTTY && process.stdin.isTTY) }, (s) => process.stdout.write(s));
  });

program
  .command('devices')
  .description('list the audio inputs and serial ports this box can see, to fill in earshot.yml')
  .option('--json', 'as JSON')
  .action(async (opts: { json?: boolean }) => {
    if (!process.env.EARSHOT_DEVICES_CHILD) {
      // libasound prints dozens of "ALSA lib ... Unknown PCM" lines on stderr while PortAudio probes a machine
      // without every card its config names; an installer needs the list, not those. The listing runs in a
      // child whose stderr is filtered.
      process.exitCode = await new Promise<number>((resolve) => {
        const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { env: { ...process.env, EARSHOT_DEVICES_CHILD: '1' }, stdio: ['ignore', 'inherit', 'pipe'] });
        let rest = '';
        child.stderr.on('data', (d: Buffer) => {
          const lines = (rest + d.toString('utf8')).split('\n');
          rest = lines.pop() ?? '';
          for (const l of lines) if (!l.startsWith('ALSA lib ')) process.stderr.write(`${l}\n`);
        });
        child.on('close', (code) => resolve(code ?? 1));
      });
      return;
    }
    const { devicesCommand } = await import('../device/devices.js');
    process.exitCode = await devicesCommand({ json: Boolean(opts.json), out: (s) => process.stdout.write(s) });
  });

try {
  await program.parseAsync();
} catch (err) {
  // A file, setting, argument or query to fix (lib/errors.ts), or commander's own refusal of an argument.
  if (err instanceof InputError || err instanceof InvalidArgumentError) {
    process.stderr.write(`earshot: ${err instanceof InputError ? err.userMessage : err.message}\n`);
    process.exit(EXIT_BAD_INPUT);
  }
  if (err instanceof StoreOpenError) {
    process.stderr.write(`earshot: ${err.message}\n`);
    process.exit(1);
  }
  if (err instanceof DiskFullError) {
    // Not a failed analysis: one line, nothing more to log.
    process.stderr.write(`earshot: ${err.message}; nothing written\n`);
    process.exit(1);
  }
  log.error({ err }, 'analysis failed');
  process.stderr.write(`earshot: ${(err as Error).message}\n`);
  process.exit(1);
}

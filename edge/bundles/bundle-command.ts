/**
 * `earshot bundle build|sign|verify|apply|send` (docs/bundles.md): the centre builds and signs a bundle with
 * its key; a box checks or applies one from a file. `earshot central command <site> <box> bundle --bundle
 * <file>` puts one on a box's command topic.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { InputError } from '../../lib/errors.js';
import { loadPrivateKey } from '../../lib/signing.js';
import { defaultConfig, loadConfigFile, readYaml, type EarshotConfig } from '../../provisioning/config.js';
import { fileBundleHandler } from './model-bundle.js';
import { openBundleStore } from '../uplink/start-uplink.js';
import { BUNDLE_KINDS, bundleBody, signBundle, type BundleKind } from './bundle.js';

function readInput(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** The bundle's content from a file: a rule pack stays text (its loader reports lines); settings and manifests are data. */
function contentOf(kind: BundleKind, file: string): unknown {
  const text = readInput(file);
  if (kind === 'rules') return text;
  try {
    return readYaml(text).data;
  } catch (err) {
    throw new InputError(`${file}: ${(err as Error).message}`);
  }
}

/** `2027-01-31T00:00:00Z`, or a span from now: `30d`, `12h`. */
function expiry(v: string): string {
  const span = /^(\d{1,4})([dh])$/.exec(v);
  if (span) return new Date(Date.now() + Number(span[1]) * (span[2] === 'd' ? 86_400_000 : 3_600_000)).toISOString();
  const ms = Date.parse(v);
  if (!Number.isFinite(ms)) throw new InvalidArgumentError('a date (2027-01-31T00:00:00Z) or a span from now (30d, 12h)');
  return new Date(ms).toISOString();
}

function version(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('a whole number, 1 or more');
  return n;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

function output(text: string, out: string | undefined): void {
  if (out) writeFileSync(out, text + '\n');
  else process.stdout.write(text + '\n');
}

/** The bundles applied on the box `-c` describes. */
function boxConfig(configFile: string | undefined): EarshotConfig {
  return configFile ? loadConfigFile(configFile) : defaultConfig();
}

export function registerBundleCommands(program: Command): void {
  const bundle = program.command('bundle').description('signed rule packs, config fragments and model manifests for boxes (docs/bundles.md)');
  bundle
    .command('build')
    .description('make a bundle: signed with --key, else a body for `earshot bundle sign`; its content is checked as a box would check it')
    .addOption(new Option('--kind <kind>', 'what it carries').choices([...BUNDLE_KINDS]).makeOptionMandatory())
    .requiredOption('--content <file>', 'rule pack (YAML), config fragment (YAML) or model manifest (model.json)')
    .requiredOption('--bundle-version <n>', 'its version: higher than any bundle of this kind sent before', version)
    .requiredOption('--expires <when>', 'when boxes stop accepting it: a date, or 30d, 12h from now', expiry)
    .option('--site <site>', 'for boxes at this site (repeat for more)', collect)
    .option('--floor <floor>', 'for boxes on this floor (repeat for more)', collect)
    .option('--box <box>', 'for these boxes (repeat for more)', collect)
    .option('--key <file>', "the centre's signing key (earshot keys generate)")
    .option('-o, --out <file>', 'write it here instead of stdout')
    .action((opts: { kind: BundleKind; content: string; bundleVersion: number; expires: string; site?: string[]; floor?: string[]; box?: string[]; key?: string; out?: string }) => {
      const target = { ...(opts.site ? { sites: opts.site } : {}), ...(opts.floor ? { floors: opts.floor } : {}), ...(opts.box ? { boxes: opts.box } : {}) };
      if (Object.keys(target).length === 0) throw new InputError('bundle build: give its target: --site, --floor and/or --box');
      const body = bundleBody({ kind: opts.kind, version: opts.bundleVersion, expires: opts.expires, target, content: contentOf(opts.kind, opts.content) });
      output(opts.key ? signBundle(body, loadPrivateKey(opts.key)) : body, opts.out);
    });
  bundle
    .command('sign <file>')
    .description('sign a bundle body made by `earshot bundle build` without --key')
    .requiredOption('--key <file>', "the centre's signing key")
    .option('-o, --out <file>', 'write it here instead of stdout')
    .action((file: string, opts: { key: string; out?: string }) => {
      output(signBundle(readInput(file), loadPrivateKey(opts.key)), opts.out);
    });
  bundle
    .command('verify <file>')
    .description("check a bundle as this box would (keys, expiry, target, version in force, content) without applying it")
    .option('-c, --config <file>', 'the box configuration (YAML)')
    .action((file: string, opts: { config?: string }) => {
      const b = openBundleStore(boxConfig(opts.config)).check(Buffer.from(readInput(file).trim()));
      process.stdout.write(`${file}: ${b.kind} bundle v${b.version} would be applied\n`);
    });
  bundle
    .command('apply <file>')
    .description("apply a bundle on this box from a file, for `earshot analyze` and the agent's next start (a running agent takes one live over its command topic)")
    .option('-c, --config <file>', 'the box configuration (YAML)')
    .action(async (file: string, opts: { config?: string }) => {
      const config = boxConfig(opts.config);
      const store = openBundleStore(config);
      const { bundle: b } = await store.apply(Buffer.from(readInput(file).trim()), Date.now(), fileBundleHandler(config));
      process.stdout.write(`applied ${b.kind} bundle v${b.version} in ${store.dir}${b.kind === 'rules' ? "; a running agent's calls use it from its next start" : ''}\n`);
    });
}

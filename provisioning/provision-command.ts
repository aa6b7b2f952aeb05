/** The `earshot provision` commands (docs/install.md, "Enrolment"). */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { provision } from './enrol.js';
import { caInit, caIssue, caSign, CA_ROLES } from './ca.js';
import type { CertRole } from './pki.js';

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('a whole number above 0');
  return n;
}

const print = (s: string): void => {
  process.stdout.write(s);
};

export function registerProvisionCommands(program: Command): void {
  const cmd = program
    .command('provision')
    .description('enrol this box: its key and certificate request, then (with --cert) its config, checked against the broker with mutual TLS')
    .option('--site <site>', 'the site (second topic level)')
    .option('--floor <floor>', 'the floor of the site this box serves')
    .option('--box <id>', "the box id: its certificate's CN and third topic level")
    .option('--broker <url>', 'the broker, mqtts://host:8883')
    .option('--broker-ca <file>', "the CA certificate (PEM) that signed the broker's certificate")
    .option('--cert <file>', "the box's certificate, signed from this box's request (second run)")
    .option('--key <file>', 'with --cert: a key made elsewhere, copied in (0600)')
    .option('--dir <dir>', "where the box's TLS files live (<dir>/tls)", '/etc/earshot')
    .option('-c, --config <file>', 'the config to write (its uplink section; the rest is kept)', '/etc/earshot/earshot.yml')
    .option('--prefix <prefix>', 'first topic level (default: the config\'s, or "earshot")')
    .option('--timeout <sec>', 'how long to wait for the broker', positiveInt, 10)
    .option('--owner <user>', 'who owns the key: the user the agent runs as (default, when run as root: earshot, if that user exists)')
    .action(async (o: { site?: string; floor?: string; box?: string; broker?: string; brokerCa?: string; cert?: string; key?: string; dir: string; config: string; prefix?: string; timeout: number; owner?: string }) => {
      // Checked here, not as commander's required options: those would be demanded of `provision ca` too.
      const { site, box, broker, brokerCa } = o;
      if (site === undefined || box === undefined || broker === undefined || brokerCa === undefined) {
        const missing = [['--site', site], ['--box', box], ['--broker', broker], ['--broker-ca', brokerCa]].filter(([, v]) => v === undefined).map(([k]) => k);
        throw new InvalidArgumentError(`earshot provision needs ${missing.join(', ')}`);
      }
      await provision({ ...o, site, box, broker, brokerCa, timeoutSec: o.timeout, out: print });
    });

  // The CA's directory is --ca-dir, not --dir: commander hands a parent's options to it wherever they appear,
  // so a --dir here would be taken as `earshot provision --dir`.
  const ca = cmd.command('ca').description("a small site's certificate authority (keep it off the boxes)");
  const role = new Option('--role <role>', 'box, ingest, centre (client certificates) or server (the broker)').choices(CA_ROLES).makeOptionMandatory();
  ca.command('init')
    .description('create the CA: <dir>/ca.key (0600) and <dir>/ca.crt')
    .requiredOption('--ca-dir <dir>', 'the CA directory')
    .option('--name <name>', "the CA's name (its CN)", 'Earshot site CA')
    .option('--days <days>', 'validity', positiveInt, 3650)
    .action(async (o: { caDir: string; name: string; days: number }) => caInit({ dir: o.caDir, name: o.name, days: o.days, out: print }));
  ca.command('sign')
    .description("sign a certificate request (a box's, from earshot provision)")
    .argument('<csr>', 'the request (PEM)')
    .requiredOption('--ca-dir <dir>', 'the CA directory')
    .addOption(new Option('--role <role>', 'what the certificate is for').choices(CA_ROLES).default('box'))
    .option('--days <days>', 'validity', positiveInt, 825)
    .option('--host <name...>', 'role server: the host names and addresses the broker is reached by')
    .option('-o, --out <file>', 'where to write the certificate (default: beside the request, .crt)')
    .action(async (csr: string, o: { caDir: string; role: CertRole; days: number; host?: string[]; out?: string }) => {
      await caSign({ dir: o.caDir, csr, role: o.role, days: o.days, hosts: o.host, out: o.out, print });
    });
  ca.command('issue')
    .description('make a key and certificate here: for ingest, the centre or the broker')
    .requiredOption('--ca-dir <dir>', 'the CA directory')
    .addOption(role)
    .option('--cn <name>', 'common name (ingest and centre: fixed; server: the broker host; box: the box id)')
    .option('--host <name...>', 'role server: the host names and addresses the broker is reached by')
    .option('--days <days>', 'validity', positiveInt, 825)
    .requiredOption('--out-dir <dir>', 'where to write <cn>.key and <cn>.crt')
    .action(async (o: { caDir: string; role: CertRole; cn?: string; host?: string[]; days: number; outDir: string }) => {
      await caIssue({ dir: o.caDir, role: o.role, cn: o.cn ?? (o.role === 'server' ? o.host?.[0] : undefined), days: o.days, hosts: o.host, outDir: o.outDir, print });
    });
}

/**
 * `earshot keys`: the Ed25519 keys that sign what crosses the broker (docs/mqtt.md, "Signatures"). On a box,
 * its own key (its public line goes to `earshot central box add … --public-key`); at the centre, the key
 * ingest signs acks and commands with (its public line goes into each box's `uplink.signing.centreKeys`).
 */
import type { Command } from 'commander';
import { generateSigningKey, loadPrivateKey, publicKeyText, writePrivateKey } from '../lib/signing.js';

export function registerKeyCommands(program: Command): void {
  const keys = program.command('keys').description('signing keys for records, acks and commands (docs/mqtt.md, "Signatures")');
  keys
    .command('generate <file>')
    .description('make a new Ed25519 key: written to <file> with mode 0600 (never over an existing file); its public line is printed')
    .action((file: string) => {
      const { privatePem, publicKey } = generateSigningKey();
      writePrivateKey(file, privatePem);
      process.stderr.write(`earshot: signing key written to ${file}; its public key:\n`);
      process.stdout.write(`${publicKey}\n`);
    });
  keys
    .command('public <file>')
    .description('print the public line of a key made by `earshot keys generate`')
    .action((file: string) => {
      process.stdout.write(`${publicKeyText(loadPrivateKey(file))}\n`);
    });
}

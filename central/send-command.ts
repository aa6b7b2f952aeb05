/**
 * `earshot central command <site> <box> <cmd>`: one command to one box, signed with the centre's key
 * (earshot/command@2, docs/mqtt.md "Signatures"), so a box that checks signatures obeys it and nobody else
 * on the broker can make one it would. Published at QoS 1; done when the broker has it.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { loadPrivateKey } from '../lib/signing.js';
import { commandBody } from '../edge/uplink/signed-wire.js';
import { MqttTransport } from '../edge/uplink/mqtt-transport.js';
import type { IngestConfig } from '../provisioning/config.js';
import { CentralUsageError } from './central.js';

const NAME = /^[^#+/\u0000]{1,128}$/;

/** Publishes the signed command; resolves with its id once the broker acknowledged it. */
export async function sendCommand(ic: IngestConfig, site: string, box: string, cmd: string, log: Logger, timeoutMs = 15_000, extra: { bundle?: string } = {}): Promise<string> {
  if (!ic.signing.key) throw new CentralUsageError("a command is signed with the centre's key: --signing-key <file> or ingest.signing.key");
  for (const [what, value] of [['site', site], ['box', box]] as const) if (!NAME.test(value)) throw new CentralUsageError(`${what}: 1-128 characters, none of # + /: ${JSON.stringify(value)}`);
  if (!/^[a-z][a-z0-9-]{0,63}$/.test(cmd)) throw new CentralUsageError(`command: a word such as stats, status or resend, not ${JSON.stringify(cmd)}`);
  const key = loadPrivateKey(ic.signing.key);
  const transport = new MqttTransport({
    url: ic.broker,
    clientId: `earshot-command-${hostname()}-${process.pid}`.slice(0, 64),
    protocol: ic.protocol,
    clean: true,
    keepaliveSec: 30,
    connectTimeoutSec: 10,
    reconnect: { minSec: 0.5, maxSec: 5, jitter: 0.3 },
    username: ic.username,
    passwordFile: ic.passwordFile,
    tls: ic.tls,
    log,
  });
  const id = randomUUID();
  try {
    const connected = new Promise<void>((resolve) => transport.once('connect', () => resolve()));
    transport.start();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no connection to ${ic.broker} within ${timeoutMs / 1000} s; command not sent`)), timeoutMs);
    });
    try {
      await Promise.race([connected, timeout]);
      // Signed just before it goes: the box obeys it only within its window of this moment.
      await Promise.race([transport.publish(`${ic.prefix}/${site}/${box}/command`, commandBody(site, box, cmd, id, key, Date.now(), extra), { qos: 1 }), timeout]);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await transport.close();
  }
  return id;
}

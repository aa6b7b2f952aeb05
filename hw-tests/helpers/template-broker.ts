/**
 * Debian's mosquitto running the shipped configuration (deploy/mosquitto/earshot.conf and earshot.acl) as
 * an installer would install it, with only what a test must change: the listener on a free 127.0.0.1 port,
 * the certificate paths, the ACL path, and a data directory of its own.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { canConnect, freePort, LoopbackBroker, ServerProcess } from '../../test/support/broker-process.js';
import { MOSQUITTO } from '../../test/support/mosquitto.js';
import { repoRoot } from '../../test/support/cli.js';
import { tempDir } from '../../test/support/temp.js';

export const TEMPLATE_CONF = join(repoRoot, 'deploy/mosquitto/earshot.conf');
export const TEMPLATE_ACL = join(repoRoot, 'deploy/mosquitto/earshot.acl');

export interface TemplateTls {
  /** the CA the broker trusts for client certificates */
  ca: string;
  cert: string;
  key: string;
}

export class TemplateBroker extends LoopbackBroker {
  protected readonly server: ServerProcess;

  private constructor(port: number, tls: TemplateTls) {
    super(port, tempDir('template-mosquitto'));
    const acl = join(this.dir, 'earshot.acl');
    writeFileSync(acl, readFileSync(TEMPLATE_ACL));
    const swap: Record<string, string> = { listener: `listener ${port} 127.0.0.1`, cafile: `cafile ${tls.ca}`, certfile: `certfile ${tls.cert}`, keyfile: `keyfile ${tls.key}`, acl_file: `acl_file ${acl}` };
    const seen = new Set<string>();
    const lines = readFileSync(TEMPLATE_CONF, 'utf8')
      .split('\n')
      .map((l) => {
        const key = /^(\w+)\s/.exec(l)?.[1];
        if (key && key in swap) {
          seen.add(key);
          return swap[key];
        }
        return l;
      });
    const missing = Object.keys(swap).filter((k) => !seen.has(k));
    if (missing.length > 0) throw new Error(`the template ${TEMPLATE_CONF} has no ${missing.join(', ')} line`);
    // Global settings a Debian install has in /etc/mosquitto/mosquitto.conf; placed first, before any listener.
    const head = ['persistence true', `persistence_location ${this.dir}/`, 'log_dest stderr', 'log_type error', 'log_type warning', 'log_type notice'];
    if (process.getuid?.() === 0) head.push(`user ${userInfo().username}`);
    writeFileSync(join(this.dir, 'mosquitto.conf'), `${[...head, ...lines].join('\n')}\n`);
    this.server = new ServerProcess({
      name: 'mosquitto',
      command: MOSQUITTO,
      args: ['-c', join(this.dir, 'mosquitto.conf')],
      ready: () => canConnect(this.port),
      startTimeoutMs: 10_000,
    });
  }

  static async start(tls: TemplateTls): Promise<TemplateBroker> {
    return TemplateBroker.started(new TemplateBroker(await freePort(), tls));
  }

  override get url(): string {
    return `mqtts://127.0.0.1:${this.port}`;
  }
}

/** An uplink from the configuration: the outbox, the configured transport, the topics of this box. */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { log as defaultLog } from '../../lib/log.js';
import type { EarshotConfig, UplinkConfig } from '../../provisioning/config.js';
import type { PreviousExit } from '../last-resort.js';
import { Outbox } from '../outbox/outbox.js';
import { Topics } from './topics.js';
import { createTransport } from './transports.js';
import { Uplink } from './uplink.js';
import { maxPacketBytes } from './wire.js';
import { loadBoxSigning } from './signed-wire.js';
import { checkBoxIdentity } from '../../provisioning/identity.js';
import { BundleStore, trustedBundleKeys } from '../bundles/bundle.js';

/** The box's identity on the broker: config uplink.box, or the host name. */
export function boxId(config: UplinkConfig): string {
  return config.box || hostname().replace(/[#+/]/g, '_');
}

/** The bundles applied on this box (docs/bundles.md), with the keys it trusts for them and who it is. */
export function openBundleStore(config: EarshotConfig): BundleStore {
  const u = config.uplink;
  return new BundleStore(u.signing.bundleDir, trustedBundleKeys(u.signing), { site: u.site, floor: u.floor, box: boxId(u) }).open();
}

/** connect: false keeps records in the outbox without contacting any broker (the daemon with uplink.enabled false). */
export function startUplink(
  config: EarshotConfig,
  options: { log?: Logger; extraStats?: () => Record<string, unknown>; connect?: boolean; restartedAfter?: PreviousExit | null } = {},
): { uplink: Uplink; outbox: Outbox } {
  const u = config.uplink;
  const log = options.log ?? defaultLog;
  const box = boxId(u);
  if (options.connect !== false) checkBoxIdentity(u, box);
  // A key or centre key that cannot be used stops the start here, before the outbox is opened.
  const signing = loadBoxSigning(u.signing);
  const bundles = openBundleStore(config);
  const topics = new Topics(u.prefix, u.site, box);
  const outbox = new Outbox(config.outbox.path, { quotaBytes: config.outbox.quotaMB * 2 ** 20, statusReserveBytes: config.outbox.statusReserveMB * 2 ** 20 });
  const transport = createTransport(u.transport, {
    url: u.broker,
    clientId: `earshot-${u.site}-${box}`.slice(0, 64),
    protocol: u.protocol,
    clean: true,
    keepaliveSec: u.keepaliveSec,
    connectTimeoutSec: u.connectTimeoutSec,
    reconnect: u.reconnect,
    will: { topic: topics.availability, payload: 'offline', retain: true },
    username: u.username,
    passwordFile: u.passwordFile,
    tls: u.tls,
    maxPacketBytes: maxPacketBytes(['ack', 'command']),
    log,
  });
  const uplink = new Uplink({
    outbox,
    transport,
    topics,
    ackMode: u.ackMode,
    inflight: u.inflight,
    ackTimeoutSec: u.ackTimeoutSec,
    stalledAfter: u.stalledAfter,
    deniedBackoff: u.deniedBackoff,
    statsIntervalSec: u.statsIntervalSec,
    statsExpirySec: u.statsExpirySec,
    extraStats: options.extraStats,
    restartedAfter: options.restartedAfter,
    signing,
    bundles,
    log,
  });
  if (options.connect !== false) uplink.start();
  return { uplink, outbox };
}

/**
 * The transports the uplink, ingest and the centre's web server can use, by the name the configuration gives
 * (`uplink.transport`, `ingest.transport`). A transport for another broker protocol implements `Transport`
 * (transport.ts) in a file of its own, and its name is added here, to TransportSetting and to the schema's
 * enum (test/config.test.ts checks the three agree).
 */
import type { TransportSetting } from '../../provisioning/config.js';
import { MqttTransport } from './mqtt-transport.js';
import type { Transport, TransportOptions } from './transport.js';

const TRANSPORTS: Record<TransportSetting, (options: TransportOptions) => Transport> = {
  mqtt: (options) => new MqttTransport(options),
};

export const TRANSPORT_NAMES = Object.keys(TRANSPORTS) as TransportSetting[];

export function createTransport(name: TransportSetting, options: TransportOptions): Transport {
  const make = Object.hasOwn(TRANSPORTS, name) ? TRANSPORTS[name] : undefined;
  // The configuration schema refuses unknown names; this is for callers that did not go through it.
  if (!make) throw new Error(`unknown transport "${name}" (transports: ${TRANSPORT_NAMES.join(', ')})`);
  return make(options);
}

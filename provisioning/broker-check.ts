/**
 * Enrolment's last step: connect to the broker with the box's certificate (mutual TLS) as the agent will,
 * subscribe to the box's own ack topic and publish its availability, which the shipped ACL grants only to
 * the box of that CN. A refusal names the file to fix: the broker CA, the box certificate, or the broker URL.
 */
import mqtt from 'mqtt';
import { describeConnectError } from '../edge/uplink/mqtt-transport.js';
import { ProvisionError } from './identity.js';

export interface BrokerCheck {
  url: string;
  clientId: string;
  ca: { file: string; pem: Buffer };
  cert: { file: string; pem: Buffer };
  key: Buffer;
  /** the topic the box must be allowed to read (its ack topic) */
  ackTopic: string;
  /** the topic the box must be allowed to write (its availability) */
  availabilityTopic: string;
  timeoutSec: number;
}

/** Node's codes for a broker certificate that does not chain to the CA given. */
const UNTRUSTED = /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_SIGNATURE_FAILURE)$/;

function refusal(c: BrokerCheck, err: Error | null): ProvisionError {
  const code = String((err as (Error & { code?: unknown }) | null)?.code ?? '');
  if (UNTRUSTED.test(code)) return new ProvisionError(c.ca.file, `the broker's certificate at ${c.url} does not verify against this CA (${err?.message}): is it the CA that signed the broker's certificate?`);
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return new ProvisionError(c.url, `the broker's certificate is not for this host name (${err?.message}): use the name or address it was issued for`);
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return new ProvisionError(c.url, `the broker's certificate is ${code === 'CERT_HAS_EXPIRED' ? 'expired' : 'not yet valid'} by this box's clock (${new Date().toISOString()}): check the clock, or renew the broker's certificate`);
  const { reason, refused } = describeConnectError(err);
  // The broker's TLS layer or its CONNACK refused us: the client certificate is what it judged.
  if (refused) return new ProvisionError(c.cert.file, `the broker at ${c.url} refuses this box: ${reason}`);
  return new ProvisionError(c.url, `cannot connect to the broker: ${reason}`);
}

/** Resolves once connected and subscribed with the box's identity; throws a ProvisionError otherwise. */
export async function checkBroker(c: BrokerCheck): Promise<void> {
  const client = mqtt.connect(c.url, {
    protocolVersion: 5,
    clientId: c.clientId,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: c.timeoutSec * 1000,
    ca: c.ca.pem,
    cert: c.cert.pem,
    key: c.key,
    rejectUnauthorized: true,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ProvisionError(c.url, `no answer from the broker in ${c.timeoutSec} s`)), c.timeoutSec * 1000);
      let lastError: Error | null = null;
      client.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      client.on('error', (err) => {
        lastError = err;
      });
      client.once('close', () => {
        clearTimeout(timer);
        reject(refusal(c, lastError));
      });
    });
    const granted = await client.subscribeAsync(c.ackTopic, { qos: 1 });
    if (granted.some((g) => g.qos >= 0x80)) {
      throw new ProvisionError(c.cert.file, `the broker accepts this certificate but does not let the box read ${c.ackTopic} (reason code 0x${granted[0].qos.toString(16)}): its ACL must grant the certificate's CN its own topics (docs/install.md, "Broker access control")`);
    }
    // mosquitto 2.0 grants any subscription and filters at delivery, so only a publish shows its ACL at work.
    // "offline", retained, is the truth until the agent starts and says "online" (it is the agent's Last Will too).
    try {
      await client.publishAsync(c.availabilityTopic, 'offline', { qos: 1, retain: true });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw new ProvisionError(c.cert.file, `the broker accepts this certificate but refuses the box's publish to ${c.availabilityTopic} (${(err as Error).message}${typeof code === 'number' ? `, reason code 0x${code.toString(16)}` : ''}): its ACL must grant the certificate's CN its own topics (docs/install.md, "Broker access control")`);
    }
  } finally {
    client.removeAllListeners('close');
    client.on('error', () => {});
    await client.endAsync(true).catch(() => {});
  }
}

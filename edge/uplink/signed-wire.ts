/**
 * The signed wire formats (docs/mqtt.md, "Signatures"): records signed by the box (earshot/record@2), acks
 * and commands signed by the centre (earshot/ack@2, earshot/command@2), and what each receiver checks before
 * it acts. The signature itself is lib/signing.ts; this file says what must be inside a signed message for
 * it to count: who it is for (box and site) and, for what the box obeys, when it was signed.
 */
import type { KeyObject } from 'node:crypto';
import { freshnessProblem, KeyError, loadPrivateKey, parsePublicKey, signJson, verifyJson } from '../../lib/signing.js';
import type { RecordKind } from '../outbox/outbox.js';
import { ACK_SCHEMA, RECORD_SCHEMA, SIGNED_ACK_SCHEMA, SIGNED_COMMAND_SCHEMA, SIGNED_RECORD_SCHEMA, type RecordEnvelope } from './topics.js';

/** What a box with signing configured holds: its own key, and the centre's keys it obeys. */
export interface BoxSigning {
  key: KeyObject;
  centreKeys: KeyObject[];
  windowSec: number;
}

/** uplink.signing from the configuration; null when no key is set (unsigned: the broker's ACL is all that guards the box). */
export function loadBoxSigning(config: { key: string; centreKeys: string[]; windowSec: number }): BoxSigning | null {
  if (!config.key) {
    if (config.centreKeys.length > 0) throw new KeyError('uplink.signing.centreKeys is set but uplink.signing.key is not: a box that checks the centre must sign its own records too');
    return null;
  }
  if (config.centreKeys.length === 0) throw new KeyError("uplink.signing.centreKeys is empty: without the centre's public key the box would obey no ack (earshot keys public <centre key>)");
  return {
    key: loadPrivateKey(config.key),
    centreKeys: config.centreKeys.map((text, i) => parsePublicKey(text, `uplink.signing.centreKeys[${i}]`)),
    windowSec: config.windowSec,
  };
}

/** A record as published: record@2 signed with the box's key, or record@1 when the box has none. `data` is JSON text. */
export function recordBody(site: string, box: string, seq: number, kind: RecordKind, createdMs: number, data: string, key: KeyObject | null): string {
  const schema = key ? SIGNED_RECORD_SCHEMA : RECORD_SCHEMA;
  const body = `{"schema":"${schema}","box":${JSON.stringify(box)},"site":${JSON.stringify(site)},"seq":${seq},"kind":"${kind}","at":"${new Date(createdMs).toISOString()}","data":${data}}`;
  return key ? signJson(body, key) : body;
}

/** An ack from ingest: ack@2 signed with the centre's key, or ack@1 when ingest has none. */
export function ackBody(site: string, box: string, ranges: [number, number][], key: KeyObject | null, nowMs = Date.now()): string {
  if (!key) return JSON.stringify({ schema: ACK_SCHEMA, box, ranges });
  return signJson(JSON.stringify({ schema: SIGNED_ACK_SCHEMA, box, site, at: new Date(nowMs).toISOString(), ranges }), key);
}

/** A command for one box, signed with the centre's key (command@2); `extra`: a bundle's text for cmd bundle. */
export function commandBody(site: string, box: string, cmd: string, id: string, key: KeyObject, nowMs = Date.now(), extra: { bundle?: string } = {}): string {
  return signJson(JSON.stringify({ schema: SIGNED_COMMAND_SCHEMA, box, site, at: new Date(nowMs).toISOString(), cmd, id, ...extra }), key);
}

/**
 * Why this box may not obey an ack or command (already schema-checked), or null. With signing configured only
 * the signed version counts, and only when it verifies with one of the centre's keys, names this box and this
 * site, and was signed within the window of now: a forged ack deletes nothing, a captured one cannot be
 * played back later. The cheap checks come first, so garbage costs no signature check.
 */
export function controlProblem(
  kind: 'ack' | 'command',
  payload: Buffer,
  message: { schema?: string; box?: string; site?: string; at?: string },
  me: { site: string; box: string },
  signing: BoxSigning | null,
  nowMs = Date.now(),
): string | null {
  if (!signing) return null;
  const signed = kind === 'ack' ? SIGNED_ACK_SCHEMA : SIGNED_COMMAND_SCHEMA;
  if (message.schema !== signed) return `unsigned ${kind} (${message.schema ?? 'no schema'}): this box obeys only ${signed} signed by the centre`;
  if (message.box !== me.box || message.site !== me.site) return `${kind} is for ${message.site}/${message.box}, not this box (${me.site}/${me.box})`;
  const stale = freshnessProblem(message.at ?? '', nowMs, signing.windowSec);
  if (stale) return `${kind} not obeyed: ${stale}`;
  if (!verifyJson(payload, signing.centreKeys)) return `${kind} signature does not verify with the centre's key${signing.centreKeys.length > 1 ? 's' : ''}`;
  return null;
}

/** What ingest knows of a box from the registry: its site, and its public key when one was enrolled. */
export interface EnrolledBox {
  site: string;
  key: KeyObject | null;
}

/**
 * Why ingest may not store a record (already schema-checked, and on its own box's topic), or null. A box
 * enrolled with a key must sign, at its own site, with that key; `requireSigned` refuses boxes with no key
 * too. What is refused is neither stored nor acked.
 */
export function recordProblem(payload: Buffer, record: Pick<RecordEnvelope, 'schema' | 'box' | 'site'>, enrolled: EnrolledBox | undefined, requireSigned: boolean): string | null {
  const { box, site } = record;
  if (!enrolled?.key) {
    if (!requireSigned) return null;
    return enrolled ? `box ${box} has no public key registered: earshot central box add ${enrolled.site} ${box} --public-key <key>` : `box ${box} is not registered with a public key`;
  }
  if (enrolled.site !== site) return `box ${box} is enrolled at site ${enrolled.site}, not ${site}`;
  if (record.schema !== SIGNED_RECORD_SCHEMA) return `unsigned record (${record.schema}) from box ${box}, which is enrolled with a key`;
  if (!verifyJson(payload, [enrolled.key])) return `record signature does not verify with box ${box}'s enrolled key`;
  return null;
}


/**
 * Which records the centre takes, by signature (docs/mqtt.md, "Signatures"): ingest before it stores a batch,
 * the live floor page before it shows an alert. Each asks the registry for the keys of the boxes at hand (so
 * a key replaced or a box removed counts from the next record on) and checks each record with
 * signed-wire.ts's recordProblem.
 */
import { parsePublicKey } from '../lib/signing.js';
import { recordProblem, type EnrolledBox } from '../edge/uplink/signed-wire.js';
import type { RecordEnvelope } from '../edge/uplink/topics.js';

export type BoxKeys = (boxes: string[]) => Promise<Map<string, { site: string; publicKey: string | null }>>;

export interface GateItem {
  /** the payload as it arrived: the signature covers these bytes */
  payload: Buffer;
  record: Pick<RecordEnvelope, 'schema' | 'box' | 'site'>;
}

export class RecordGate {
  constructor(
    private readonly keys: BoxKeys,
    /** every record must verify (ingest.signing.records: required), not only those of boxes enrolled with a key */
    private readonly requireSigned: boolean,
  ) {}

  /** Why each item may not be taken (in the same order), or null when it may. */
  async problems(items: readonly GateItem[]): Promise<(string | null)[]> {
    return (await this.verdicts(items)).map((v) => v.problem);
  }

  /**
   * Each item's problem (null: it may be taken) and whether it is signed: taken because its signature verified
   * against the key enrolled for its box, rather than taken unsigned from a box with no key.
   */
  async verdicts(items: readonly GateItem[]): Promise<{ problem: string | null; signed: boolean }[]> {
    const keys = await this.keys([...new Set(items.map((i) => i.record.box))]);
    const enrolled = new Map<string, EnrolledBox>();
    // A key the registry holds but that cannot be read: that box's records are refused, never taken as unsigned.
    const unreadable = new Map<string, string>();
    for (const [box, { site, publicKey }] of keys) {
      try {
        enrolled.set(box, { site, key: publicKey ? parsePublicKey(publicKey, `the public key registered for box ${box}`) : null });
      } catch (err) {
        unreadable.set(box, (err as Error).message);
      }
    }
    return items.map(({ payload, record }) => {
      const box = enrolled.get(record.box);
      const problem = unreadable.get(record.box) ?? recordProblem(payload, record, box, this.requireSigned);
      // recordProblem passes a box enrolled with a key only when the record verified with that key
      return { problem, signed: problem === null && !!box?.key };
    });
  }
}

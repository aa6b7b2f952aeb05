/**
 * Where acknowledgements of alerts are kept. `earshot central` keeps them in its store
 * (central/store/ack-store.ts: a restart keeps them, every process on the database reads the same ones);
 * the in-memory one below serves tests and a web server run on its own. A page served by another central
 * process learns of an acknowledgement only when it asks again: telling it at once is not this interface's.
 */
export interface AlertAck {
  /** who acknowledged it, as the role hook identified them (unauthenticated today: see requireRole) */
  by: string;
  at: string;
}

/** Which alert a key names, for a store that keeps or audits more than the key. */
export interface AckSubject {
  site: string;
  box: string;
  callId: string;
  alertId: string;
}

export interface AckStore {
  /** Records an acknowledgement of the alert `key`; the first one stands, and is what is returned. */
  acknowledge(key: string, ack: AlertAck, about?: AckSubject): Promise<AlertAck>;
  get(key: string): Promise<AlertAck | undefined>;
}

export class MemoryAckStore implements AckStore {
  private readonly acks = new Map<string, AlertAck>();

  async acknowledge(key: string, ack: AlertAck): Promise<AlertAck> {
    const earlier = this.acks.get(key);
    if (earlier) return earlier;
    this.acks.set(key, ack);
    return ack;
  }

  async get(key: string): Promise<AlertAck | undefined> {
    return this.acks.get(key);
  }
}

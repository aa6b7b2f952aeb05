/**
 * Where acknowledgements of alerts are kept. In memory for now: a restart forgets them, and two central
 * processes behind one load balancer each know only their own. The store the ingest side is building can
 * implement this interface and take the in-memory one's place without the web server changing.
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

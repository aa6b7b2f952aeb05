import type { Channel } from '../events.js';

/** One side holding the floor. */
export interface Turn {
  channel: Channel;
  start: number;
  end: number;
  durationSec: number;
}

export interface TurnRules {
  /** A turn continues across its speaker's own pauses up to this long (analysis.monologue.maxPauseSec). */
  maxPauseSec: number;
  /**
   * The other side's utterances shorter than this inside a turn ("mm-hm", "yes") are back-channels: they
   * neither end the turn nor make one (analysis.monologue.backchannelSec).
   */
  backchannelSec: number;
}

/** An utterance as turns see it: `open` ones are still going, and may yet prove long. */
export interface TurnUtterance {
  channel: Channel;
  start: number;
  end: number;
  open?: boolean;
}

/**
 * The call's turns, from its utterances in order of start. Live, an utterance still going is not yet a
 * back-channel (it may go on), so a turn is only ever joined as the call goes on, never split: the longest
 * turn only grows, which lets rules judge a monologue while it lasts.
 */
export function turnsOf(utterances: readonly TurnUtterance[], rules: TurnRules): Turn[] {
  const turns: Turn[] = [];
  let current: Turn | null = null;
  /** Short utterances of the other side since the current turn's last words: back-channels if it goes on. */
  let maybeBackchannel: TurnUtterance[] = [];
  /** Utterances to take again, before the rest: those short ones, when the turn did not go on after all. */
  const again: TurnUtterance[] = [];
  let next = 0;
  for (;;) {
    const u = again.length > 0 ? (again.shift() as TurnUtterance) : utterances[next++];
    if (!u) break;
    const cur = current as Turn | null;
    if (cur && u.channel === cur.channel && u.start - cur.end <= rules.maxPauseSec) {
      cur.end = Math.max(cur.end, u.end);
      cur.durationSec = cur.end - cur.start;
      maybeBackchannel = [];
      continue;
    }
    if (cur && u.channel !== cur.channel && !u.open && u.end - u.start < rules.backchannelSec) {
      maybeBackchannel.push(u);
      continue;
    }
    if (cur) turns.push(cur);
    current = null;
    if (maybeBackchannel.length > 0) {
      // The turn did not go on: those short utterances were the other side taking the floor after all.
      again.unshift(...maybeBackchannel, u);
      maybeBackchannel = [];
      continue;
    }
    current = { channel: u.channel, start: u.start, end: u.end, durationSec: u.end - u.start };
  }
  if (current) turns.push(current);
  if (maybeBackchannel.length > 0) turns.push(...turnsOf(maybeBackchannel, rules));
  return turns;
}

/** The longest turn: the call's longest monologue. */
export function longestTurn(turns: readonly Turn[]): Turn | null {
  let best: Turn | null = null;
  for (const t of turns) if (!best || t.durationSec > best.durationSec) best = t;
  return best;
}

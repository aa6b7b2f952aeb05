/**
 * A year of a 100-seat floor, as the centre would receive it: call indexes shaped by the real index schema
 * and worded from the transcripts of the bundled demo calls (English and Mandarin pinyin), analysed once at
 * the start by the real pipeline. Each generated call takes one demo call's structure (utterance times,
 * silences, over-talk, metrics), rewords its utterances from the pool of its language so calls differ as
 * real ones do, and keeps the demo's alerts only in the share of calls a floor would flag.
 */
import type { CallIndex, IndexedUtterance } from '../edge/index/call-index.js';
import type { IncomingRecord } from '../central/store/store.js';
import { mulberry32 } from '../lib/seeded-random.js';
import { demoIndexes } from '../test/support/demo-indexes.js';

export interface CallTemplates {
  indexes: CallIndex[];
  /** utterance texts by language, words with their relative timing */
  pool: Record<'en' | 'zh', IndexedUtterance[]>;
  /** whether recognition ran (speech models found) */
  recognition: boolean;
}

export async function demoTemplates(): Promise<CallTemplates> {
  const indexes = (await demoIndexes()).map((d) => d.index);
  const recognition = indexes.some((ix) => ix.utterances.some((u) => u.words?.length));
  const pool: CallTemplates['pool'] = { en: [], zh: [] };
  for (const ix of indexes) for (const u of ix.utterances) if (u.words?.length) pool[u.script === 'pinyin' ? 'zh' : 'en'].push(u);
  return { indexes, pool, recognition };
}

const SEATS = 100;
const BOXES = 10;
const FLOOR_SITE = 'floor-1';
/** a share of calls the rules flag, as the source hotline saw */
const FLAGGED = 0.06;

/** `n` records of the generated year, deterministic in `seed` and `from` (a record's place in the year). */
export function generateCalls(t: CallTemplates, from: number, n: number, total: number, seed = 1): IncomingRecord[] {
  const out: IncomingRecord[] = [];
  const yearStart = Date.parse('2025-12-01T00:00:00.000Z');
  for (let i = from; i < from + n; i++) {
    const rand = mulberry32(seed * 1_000_003 + i);
    const template = t.indexes[i % t.indexes.length];
    const seat = Math.floor(rand() * SEATS);
    const box = `box-${String(seat % BOXES).padStart(2, '0')}`;
    // Spread over the year in arrival order, in working hours (08:00-20:00).
    const day = Math.floor((i / total) * 365);
    const startMs = yearStart + day * 86_400_000 + (8 + rand() * 12) * 3_600_000;
    const callId = `c${i}`;
    const lang = template.utterances.some((u) => u.script === 'pinyin') ? 'zh' : 'en';
    const pool = t.pool[lang];
    const utterances = template.utterances.map((u) => {
      if (!pool.length || !u.words?.length) return u;
      const from = pool[Math.floor(rand() * pool.length)];
      const shift = u.start - from.start;
      const words = from.words!.map((w) => ({ ...w, start: +(w.start + shift).toFixed(3), end: +(w.end + shift).toFixed(3) }));
      return { ...u, words, text: words.map((w) => w.w).join(' ') };
    });
    const flagged = rand() < FLAGGED;
    const index: CallIndex = {
      ...template,
      callId,
      utterances,
      alerts: flagged ? template.alerts.map((a) => ({ ...a, callId })) : [],
      keywords: flagged ? template.keywords : [],
      line: {
        ...(template.line ?? {}),
        name: `desk-${seat + 1}`,
        agentId: `A${String(seat + 1).padStart(3, '0')}`,
        startedAt: new Date(startMs).toISOString(),
        endedAt: new Date(startMs + template.durationSec * 1000).toISOString(),
      } as CallIndex['line'],
    };
    out.push({ site: FLOOR_SITE, box, seq: i + 1, kind: 'index', at: index.line!.endedAt as string, data: index });
  }
  return out;
}

export const GENERATED_SITE = FLOOR_SITE;
export const GENERATED_BOXES = Array.from({ length: BOXES }, (_, i) => `box-${String(i).padStart(2, '0')}`);

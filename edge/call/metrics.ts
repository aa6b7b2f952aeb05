import type { Channel } from '../events.js';
import type { Turn } from './turns.js';

/** The call's figures, as the index reports them and as rules' `when.metrics` bound them. */
export type MetricName =
  | 'durationSec'
  | 'agentTalkSec'
  | 'customerTalkSec'
  | 'talkRatio'
  | 'silenceTotalSec'
  | 'longestSilenceSec'
  | 'overtalkTotalSec'
  | 'agentOvertalkCount'
  | 'customerOvertalkCount'
  | 'longestMonologueSec'
  | 'agentUtterances'
  | 'customerUtterances'
  | 'customerEmotionCount'
  | 'agentEmotionCount'
  | 'agentSpeechRate'
  | 'customerSpeechRate';

/** Metrics that only grow during a call: a `min` on them, once met, stays met, so it can be judged live. */
export const GROWING_METRICS: ReadonlySet<MetricName> = new Set<MetricName>([
  'durationSec',
  'agentTalkSec',
  'customerTalkSec',
  'silenceTotalSec',
  'longestSilenceSec',
  'overtalkTotalSec',
  'agentOvertalkCount',
  'customerOvertalkCount',
  'longestMonologueSec',
  'agentUtterances',
  'customerUtterances',
  'customerEmotionCount',
  'agentEmotionCount',
]);

type PerSide<T> = Record<Channel, T>;

/** Every figure of a call so far, unrounded; the index rounds them, rules compare them. */
export interface CallFigures {
  durationSec: number;
  talkSec: PerSide<number>;
  /** Agent's share of all talk, 0..1; null when nobody spoke. */
  talkRatio: number | null;
  silenceTotalSec: number;
  longestSilenceSec: number;
  overtalkTotalSec: number;
  overtalkCount: PerSide<number>;
  longestMonologue: Turn | null;
  utteranceCount: PerSide<number>;
  emotionCount: PerSide<number>;
  /** Words (or syllables) per second of that side's transcribed talk time; null where nothing was transcribed. */
  speechRate: PerSide<number | null>;
}

/** The figures under the names rules use. */
export function metricValues(f: CallFigures): Record<MetricName, number | null> {
  return {
    durationSec: f.durationSec,
    agentTalkSec: f.talkSec.agent,
    customerTalkSec: f.talkSec.customer,
    talkRatio: f.talkRatio,
    silenceTotalSec: f.silenceTotalSec,
    longestSilenceSec: f.longestSilenceSec,
    overtalkTotalSec: f.overtalkTotalSec,
    agentOvertalkCount: f.overtalkCount.agent,
    customerOvertalkCount: f.overtalkCount.customer,
    longestMonologueSec: f.longestMonologue?.durationSec ?? 0,
    agentUtterances: f.utteranceCount.agent,
    customerUtterances: f.utteranceCount.customer,
    customerEmotionCount: f.emotionCount.customer,
    agentEmotionCount: f.emotionCount.agent,
    agentSpeechRate: f.speechRate.agent,
    customerSpeechRate: f.speechRate.customer,
  };
}

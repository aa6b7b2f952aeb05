// The alert-figure check itself (test/support/alert-figures.ts), on a call built from hand-made events: it
// finds nothing on the index as written, and names each figure an alert quotes that the index does not hold.
import t from 'tap';
import { CallState } from '../edge/call/call-state.js';
import type { Channel, PipelineEvent } from '../edge/events.js';
import { buildCallIndex, type CallIndex } from '../edge/index/call-index.js';
import { RuleEngine } from '../edge/rules/engine.js';
import { RulePackRegistry } from '../edge/rules/pack.js';
import { alertFigureProblems } from './support/alert-figures.js';

const rules = RulePackRegistry.withBuiltins().rules();

function say(channel: Channel, start: number, end: number, text: string): PipelineEvent[] {
  const ws = text.split(' ');
  const step = (end - start) / ws.length;
  return [
    { type: 'utterance.start', channel, start, emittedAt: start + 0.3 },
    { type: 'utterance.end', channel, start, end, loudnessDb: -25, f0Hz: 150, emittedAt: end + 0.5 },
    { type: 'words', channel, language: 'en', script: 'latin', start, end, text, words: ws.map((w, i) => ({ w, start: start + i * step, end: start + (i + 1) * step, conf: 0.9 })), confidence: 0.9, emittedAt: end + 0.9 },
  ];
}

function indexOf(): CallIndex {
  const call = new CallState();
  const engine = new RuleEngine(rules, { call, decisionLagSec: 0.8 });
  const events: PipelineEvent[] = [
    ...say('agent', 0.5, 4, 'good morning how can I help'),
    ...say('customer', 4.5, 8, 'I forgot the code for my card'),
    ...say('agent', 8.5, 12, 'please read me your password now'),
    { type: 'silence', start: 12, end: 25, position: 'mid', emittedAt: 25.3 },
    ...say('customer', 25, 27, 'sorry I am back'),
    { type: 'emotion', channel: 'customer', start: 25, end: 27, score: 0.8, f0RisePct: 31.2, tempoRisePct: 0, loudnessRiseDb: 6.4, emittedAt: 27.5 },
    ...say('agent', 28, 30, 'thank you for waiting'),
  ];
  for (const e of events.sort((a, b) => a.emittedAt - b.emittedAt)) engine.push(e);
  engine.push({ type: 'call.end', durationSec: 33, emittedAt: 33 });
  return buildCallIndex(call, { callId: 'hand-made', alerts: engine.alerts, watched: [] });
}

t.test('the index as written: every alert agrees with it', async (t) => {
  const index = indexOf();
  t.same(index.alerts.map((a) => a.rule).sort(), ['credential-request', 'customer-agitation', 'dead-air']);
  t.same(alertFigureProblems(index, rules), []);
});

t.test('an index that disagrees with its alerts is caught, figure by figure', async (t) => {
  const noWord = indexOf();
  noWord.utterances.find((u) => u.text?.includes('password'))!.words!.splice(3, 1);
  t.match(alertFigureProblems(noWord, rules), [/credential-request-1.*quoted words ".*password.*" are not a run of the index's agent words/]);

  const silenceMoved = indexOf();
  silenceMoved.silences[0].start = 12.5;
  t.match(alertFigureProblems(silenceMoved, rules), [/dead-air-1.*no silence in the index starts at 12/]);

  const calmer = indexOf();
  calmer.emotion[0].loudnessRiseDb = 5.9;
  t.match(alertFigureProblems(calmer, rules), [/customer-agitation-1.*loudness \+6\.4 dB but the index has 5\.9 dB/]);
});

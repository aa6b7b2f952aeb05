/**
 * Rules over the generated rule calls (test/calls/rule-<rule>-<lang>-<hit|clean>.yml): precision and recall
 * per rule, and alert latency (`raisedAt` minus the end of the evidence) as p50/p95. Runs the full pipeline
 * with the speech models from ../shared/models (EARSHOT_SHARED overrides), as the rule tests do.
 */
import path from 'node:path';
import { repoRoot } from '../test/support/cli.js';
import { ruleCalls, rulesConfig, runRuleCall } from '../test/support/rule-calls.js';
import { loadSpeechModels } from '../edge/speech-setup.js';
import { RulePackRegistry } from '../edge/rules/pack.js';
import type { Alert } from '../edge/rules/types.js';
import { percentile, r } from './stats.js';

export async function rulesBench(): Promise<Record<string, unknown>> {
  const rules = RulePackRegistry.withBuiltins().rules();
  const config = rulesConfig(rules);
  const speechModels = await loadSpeechModels(config);
  const calls = ruleCalls();
  const fired = new Map<string, Alert[]>();
  let audioSec = 0;
  let computeSec = 0;
  for (const call of calls) {
    const run = await runRuleCall(call, rules, config, speechModels);
    fired.set(call.name, run.alerts);
    audioSec += run.durationSec;
    computeSec += run.computeSec;
  }
  const perRule: Record<string, unknown> = {};
  const allLatencies: number[] = [];
  for (const rule of rules) {
    let tp = 0;
    let fn = 0;
    let fp = 0;
    const latencies: number[] = [];
    const misses: string[] = [];
    const falseAlarms: string[] = [];
    for (const call of calls) {
      const mine = (fired.get(call.name) ?? []).filter((a) => a.rule === rule.id);
      const positive = call.rule === rule.id && call.violation;
      if (positive) {
        if (mine.length > 0) tp++;
        else {
          fn++;
          misses.push(call.name);
        }
        latencies.push(...mine.map((a) => a.raisedAt - a.end));
      } else if (mine.length > 0) {
        fp++;
        falseAlarms.push(call.name);
      }
    }
    allLatencies.push(...latencies);
    perRule[rule.id] = {
      callsWithViolation: tp + fn,
      precision: tp + fp > 0 ? r(tp / (tp + fp), 3) : null,
      recall: tp + fn > 0 ? r(tp / (tp + fn), 3) : null,
      latencyP50Sec: latencies.length ? r(percentile(latencies, 0.5), 2) : null,
      ...(misses.length ? { missed: misses } : {}),
      ...(falseAlarms.length ? { falseAlarmsIn: falseAlarms } : {}),
    };
  }
  return {
    calls: calls.length,
    audioSec: r(audioSec, 1),
    realTimeFactor: r(computeSec / audioSec, 3),
    perRule,
    latencySec: { alerts: allLatencies.length, p50: r(percentile(allLatencies, 0.5), 2), p95: r(percentile(allLatencies, 0.95), 2), max: r(Math.max(...allLatencies), 2) },
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(repoRoot, 'bench/rules.ts')) {
  process.stdout.write(`${JSON.stringify(await rulesBench(), null, 2)}\n`);
}

/**
 * Rules over the generated rule calls (test/calls/rule-<rule>-<lang>-<hit|clean>.yml): precision and recall
 * per rule, and alert latency (`raisedAt` minus the end of the evidence) as p50/p95. Runs the full pipeline
 * with the speech models from ../shared/models (EARSHOT_SHARED overrides), as the rule tests do.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { CALLS_DIR, renderCallByName } from '../test/support/calls.js';
import { inputOf, sharedVad } from '../test/support/analysis.js';
import { repoRoot } from '../test/support/cli.js';
import { defaultConfig, type EarshotConfig } from '../provisioning/config.js';
import { loadSpeechModels } from '../edge/speech-setup.js';
import { analyzeRecording } from '../edge/analyze.js';
import type { SpeechModels } from '../edge/analysis/speech.js';
import { RulePackRegistry, watchPhrases } from '../edge/rules/pack.js';
import type { Alert, CompiledRule } from '../edge/rules/types.js';
import { percentile, r } from './stats.js';

export interface RuleCall {
  name: string;
  rule: string;
  language: 'en' | 'zh';
  /** true: the call commits the violation; false: its clean twin. */
  violation: boolean;
}

/** Every generated rule call, from its file name: rule-<rule id>-<en|zh>-<hit|clean>.yml. */
export function ruleCalls(): RuleCall[] {
  return readdirSync(CALLS_DIR)
    .map((f) => /^rule-(.+)-(en|zh)-(hit|clean)\.yml$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: `rule-${m[1]}-${m[2]}-${m[3]}`, rule: m[1], language: m[2] as 'en' | 'zh', violation: m[3] === 'hit' }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export const sharedDir = (): string => process.env.EARSHOT_SHARED ?? path.resolve(repoRoot, '..', 'shared');

/** A box configured for the rules: models from ../shared, and the spotters listening for every rule phrase. */
export function rulesConfig(rules: CompiledRule[]): EarshotConfig {
  const config = defaultConfig();
  config.models.root = path.join(sharedDir(), 'models');
  config.watch.phrases = [...new Set([...config.watch.phrases, ...watchPhrases(rules)])];
  return config;
}

export interface RuleRun {
  alerts: Alert[];
  durationSec: number;
  computeSec: number;
}

/**
 * One call through the pipeline with the engine subscribed to its events (and ticked by its progress, as live
 * capture would tick it per audio chunk). The site is configured for the call's language.
 */
export async function runRuleCall(call: RuleCall, rules: CompiledRule[], config: EarshotConfig, speechModels: SpeechModels): Promise<RuleRun> {
  const rendered = await renderCallByName(call.name);
  const cfg: EarshotConfig = { ...config, recognition: { ...config.recognition, language: call.language } };
  const t0 = process.hrtime.bigint();
  const { index, alerts } = await analyzeRecording(inputOf(rendered), { config: cfg, speechModels, vadModel: await sharedVad(), rules });
  return { alerts, durationSec: index.durationSec, computeSec: Number(process.hrtime.bigint() - t0) / 1e9 };
}


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

/** Rules whose evidence by nature is only complete at the hang-up. */
const AT_HANGUP = new Set(['hurried-hangup']);

/**
 * What a rule call must show, as checks (the tests assert each; the bench counts): the violation raises its
 * rule, live, with redacted evidence and a small latency; nothing else fires; the clean twin raises nothing.
 */
export function judgeRuleRun(call: RuleCall, run: RuleRun): { ok: boolean; what: string }[] {
  const checks: { ok: boolean; what: string }[] = [];
  const mine = run.alerts.filter((a) => a.rule === call.rule);
  const others = run.alerts.filter((a) => a.rule !== call.rule);
  const show = (as: Alert[]) => as.map((a) => `${a.id} ${a.start}-${a.end} @${a.raisedAt} ${a.evidence}`).join(' | ') || 'none';
  if (call.violation) {
    checks.push({ ok: mine.length > 0, what: `${call.rule} raised (${show(mine)})` });
    for (const a of mine) {
      checks.push({ ok: a.start <= a.end && a.end <= run.durationSec + 1e-6 && a.raisedAt >= a.end - 1e-6, what: `${a.id}: evidence ${a.start}-${a.end} heard before raised at ${a.raisedAt}` });
      checks.push({ ok: a.raisedAt - a.end < 3, what: `${a.id}: latency ${(a.raisedAt - a.end).toFixed(2)} s` });
      if (!AT_HANGUP.has(a.rule)) checks.push({ ok: a.raisedAt < run.durationSec, what: `${a.id}: raised during the call (${a.raisedAt} < ${run.durationSec})` });
      checks.push({ ok: a.evidence.length > 0 && a.id === `${a.rule}-${mine.indexOf(a) + 1}`, what: `${a.id}: evidence "${a.evidence}"` });
    }
  } else {
    checks.push({ ok: mine.length === 0, what: `clean twin raises no ${call.rule} (${show(mine)})` });
  }
  checks.push({ ok: others.length === 0, what: `no other rule fires (${show(others)})` });
  return checks;
}

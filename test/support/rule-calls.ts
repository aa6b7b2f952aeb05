/**
 * The generated rule calls (test/calls/rule-<rule>-<lang>-<hit|clean>.yml) and what each must show: the rule
 * tests assert it, bench/rules.ts scores it. The full pipeline runs with the speech models from
 * ../shared/models (EARSHOT_SHARED overrides).
 */
import type { Test } from 'tap';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { CALLS_DIR, renderCallByName } from './calls.js';
import { inputOf, sharedVad } from './analysis.js';
import { repoRoot } from './cli.js';
import { defaultConfig, type EarshotConfig } from '../../provisioning/config.js';
import { analyzeRecording } from '../../edge/analyze.js';
import { loadSpeechModels } from '../../edge/speech-setup.js';
import type { SpeechModels } from '../../edge/analysis/speech.js';
import type { CallIndex } from '../../edge/index/call-index.js';
import { watchFor } from '../../edge/rules/setup.js';
import type { Alert, CompiledRule } from '../../edge/rules/types.js';
import { alertFigureProblems } from './alert-figures.js';

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

/**
 * A box configured for the rules as loadRules configures one: models from ../shared, the spotters listening
 * for every rule phrase, as the rules tune each.
 */
export function rulesConfig(rules: CompiledRule[]): EarshotConfig {
  const config = defaultConfig();
  config.models.root = path.join(sharedDir(), 'models');
  config.watch = watchFor(config.watch, rules);
  return config;
}

export interface RuleRun {
  alerts: Alert[];
  index: CallIndex;
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
  return { alerts, index, durationSec: index.durationSec, computeSec: Number(process.hrtime.bigint() - t0) / 1e9 };
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

/**
 * Without the speech models every rule that listens for words would just "not fire": one clear line saying
 * what is missing and where it was looked for, or null when the language's recogniser and spotter loaded.
 */
export function missingSpeechModels(models: SpeechModels, language: 'en' | 'zh', config: EarshotConfig): string | null {
  if (models.recognizers[language] && models.spotters[language]?.length) return null;
  return `the ${language} calls need the speech models in ${config.models.root} (../shared/models beside the repository, or set EARSHOT_SHARED): ${models.problems.join('; ') || 'none loaded'}`;
}

/**
 * One subtest per rule call of the language: each violation raises its rule, live, and nothing else; each clean
 * twin raises nothing; every figure an alert quotes is the final index's. Without the speech models, one failure saying which are missing instead.
 */
export async function testRuleCalls(t: Test, calls: RuleCall[], rules: CompiledRule[], config: EarshotConfig, language: 'en' | 'zh'): Promise<void> {
  const speechModels = await loadSpeechModels(config);
  const missing = missingSpeechModels(speechModels, language, config);
  if (missing) return void t.fail(missing);
  for (const call of calls) {
    t.test(`${call.name}: ${call.violation ? `raises ${call.rule}` : 'clean'}`, async (t) => {
      const run = await runRuleCall(call, rules, config, speechModels);
      for (const check of judgeRuleRun(call, run)) t.ok(check.ok, check.what);
      t.same(alertFigureProblems(run.index, rules), [], "every figure the alerts quote is the index's");
    });
  }
}

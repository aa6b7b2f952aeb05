import type { EarshotConfig } from '../../provisioning/config.js';
import { RulePackRegistry, watchPhrases } from './pack.js';
import type { CompiledRule } from './types.js';

/**
 * The rules a box runs: the built-in packs unless switched off, the site's packs, the config's overrides.
 * The keyword spotters are told every rule phrase, so a rule never waits on a phrase nobody listens for.
 * Throws RulePackError for a bad pack (file, line, rule named).
 */
export function loadRules(config: EarshotConfig, extraPacks: readonly string[] = []): CompiledRule[] {
  const registry = config.rules.builtin ? RulePackRegistry.withBuiltins() : new RulePackRegistry();
  for (const file of [...config.rules.packs, ...extraPacks]) registry.load(file);
  const rules = registry.rules(config.rules.overrides);
  config.watch.phrases = [...new Set([...config.watch.phrases, ...watchPhrases(rules)])];
  return rules;
}

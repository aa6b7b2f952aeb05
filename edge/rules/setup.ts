import { existsSync } from 'node:fs';
import { bundleContentFile } from '../bundles/bundle.js';
import type { EarshotConfig } from '../../provisioning/config.js';
import { RulePackRegistry, phraseTuning, watchPhrases } from './pack.js';
import type { CompiledRule } from './types.js';

export interface BoxRules {
  rules: CompiledRule[];
  /**
   * The config's `watch` with every phrase of an enabled rule added: what the keyword spotters must listen for
   * (and the index look for in the transcript), so a rule never waits on a phrase nobody listens for; and
   * `tuning`, the packs' per-phrase settings under the site's.
   */
  watch: EarshotConfig['watch'];
}

/**
 * The rules a box runs: the built-in packs unless switched off, the site's packs, the config's overrides.
 * Leaves `config` as it is: the caller hands `watch` on to the spotters and the calls.
 * Throws RulePackError for a bad pack (file, line, rule named).
 */
export function loadRules(config: EarshotConfig, extraPacks: readonly string[] = []): BoxRules {
  const registry = config.rules.builtin ? RulePackRegistry.withBuiltins() : new RulePackRegistry();
  // The pack a signed bundle put in force (edge/bundles/bundle.ts): checked when it was applied, loaded like the site's.
  const bundled = bundleContentFile(config.uplink.signing.bundleDir, 'rules');
  const fromBundle = existsSync(bundled) ? [bundled] : [];
  for (const file of [...config.rules.packs, ...fromBundle, ...extraPacks]) registry.load(file);
  const rules = registry.rules(config.rules.overrides);
  return {
    rules,
    watch: { ...config.watch, phrases: [...new Set([...config.watch.phrases, ...watchPhrases(rules)])], tuning: phraseTuning(rules, config.watch.tuning) },
  };
}

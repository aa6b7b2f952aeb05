import { existsSync } from 'node:fs';
import { bundleContentFile } from '../bundles/bundle.js';
import type { EarshotConfig } from '../../provisioning/config.js';
import { parseRulePack, phraseTuning, RulePackRegistry, watchPhrases } from './pack.js';
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
 * `bundledPack`: a rule bundle's text to load in place of the one in force on disk, so a pack arriving on a
 * running box is tried with everything it will run beside before it is kept (edge/run/live-rules.ts).
 * Throws RulePackError for a bad pack (file, line, rule named).
 */
export function loadRules(config: EarshotConfig, extraPacks: readonly string[] = [], bundledPack?: string): BoxRules {
  const registry = config.rules.builtin ? RulePackRegistry.withBuiltins() : new RulePackRegistry();
  for (const file of config.rules.packs) registry.load(file);
  // The pack a signed bundle put in force (edge/bundles/bundle.ts): checked when it was applied, loaded like the site's.
  const bundled = bundleContentFile(config.uplink.signing.bundleDir, 'rules');
  if (bundledPack !== undefined) registry.add(parseRulePack(bundledPack, bundled));
  else if (existsSync(bundled)) registry.load(bundled);
  for (const file of extraPacks) registry.load(file);
  const rules = registry.rules(config.rules.overrides);
  return { rules, watch: watchFor(config.watch, rules) };
}

/**
 * The rules a box runs (loadRules) and the config its calls run with: the site's, the spotters listening for
 * the rules' phrases too. One call's setup, for `earshot analyze` and whatever analyses calls as a box would.
 */
export function configWithRules(site: EarshotConfig, extraPacks: readonly string[] = []): { config: EarshotConfig; rules: CompiledRule[] } {
  const { rules, watch } = loadRules(site, extraPacks);
  return { config: { ...site, watch }, rules };
}

/** The site's `watch` with every phrase of the enabled rules added, tuned as the packs and the site say. */
export function watchFor(watch: EarshotConfig['watch'], rules: CompiledRule[]): EarshotConfig['watch'] {
  return { ...watch, phrases: [...new Set([...watch.phrases, ...watchPhrases(rules)])], tuning: phraseTuning(rules, watch.tuning) };
}

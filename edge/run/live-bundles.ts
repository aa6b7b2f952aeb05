/**
 * Bundles on a running agent (docs/bundles.md "When it takes effect"). Each is tried against what runs now
 * before it is kept, so one that would not load is refused (`load-failed`) and changes nothing; once kept it
 * is put in force for the next call on every line, while calls in progress finish on what they started with.
 *
 * - rules: the pack is loaded with everything it runs beside (built-ins, site packs, overrides), then swapped
 *   in on every line group; the spotters are rebuilt when the phrases to listen for changed.
 * - config: the fragment is laid over the configuration file; the live sections (config-fragment.ts) are
 *   applied, the rest reported as pending restart (the operator restarts; the agent never restarts itself).
 * - model-manifest: the model's files, put beside the bundles beforehand (`<bundleDir>/models/<name>/`), are
 *   installed through `earshot models install`'s path (checksums from the signed manifest, atomic, the
 *   previous version kept for `earshot models rollback`), and the speech models reloaded for the next call.
 */
import type { Logger } from 'pino';
import type { EarshotConfig } from '../../provisioning/config.js';
import { keepClearTextInLogs } from '../../lib/log.js';
import type { Bundle, BundleEffect, BundleHandler } from '../bundles/bundle.js';
import { changedSettings, isLive, liveOf, withFragment } from '../bundles/config-fragment.js';
import { installModelBundle } from '../bundles/model-bundle.js';
import { loadRules } from '../rules/setup.js';
import type { RulesChange } from './line-group.js';

export interface LiveAgent {
  /** the configuration file as read at start, before any config bundle */
  readonly fileConfig: EarshotConfig;
  /** the configuration the agent started with (file + the config bundle in force then) */
  readonly startConfig: EarshotConfig;
  /** what the agent runs now */
  running(): EarshotConfig;
  /** the rule bundle's version in force */
  rulesBundle(): number | undefined;
  /** puts a change in force on every line group; rejects naming the groups it could not change */
  reload(change: RulesChange): Promise<void>;
  /** the live configuration changed (after the lines have it) */
  adopt(config: EarshotConfig): void;
  log: Logger;
}

export function liveBundleHandler(agent: LiveAgent): BundleHandler {
  return {
    async prepare(b: Bundle): Promise<() => Promise<BundleEffect>> {
      const where = `${b.kind} bundle v${b.version}`;
      switch (b.kind) {
        case 'rules': {
          const running = agent.running();
          // Loaded beside everything else that runs: a rule id another pack has, say, is refused here.
          loadRules(running, [], b.content as string);
          return async () => {
            await agent.reload({ config: running, rulesBundle: b.version });
            return {};
          };
        }
        case 'config': {
          const next = withFragment(agent.fileConfig, b.content, where);
          const live = liveOf(agent.running(), next);
          loadRules(live);
          const pendingRestart = changedSettings(agent.startConfig, next).filter((k) => !isLive(k));
          return async () => {
            const before = agent.running();
            if (changedSettings(before, live).some((k) => k.startsWith('rules.') || k.startsWith('watch.'))) await agent.reload({ config: live, rulesBundle: agent.rulesBundle() });
            keepClearTextInLogs(live.privacy.clearText.includes('logs'));
            agent.adopt(live);
            if (pendingRestart.length) agent.log.warn({ pendingRestart }, `${where}: ${pendingRestart.join(', ')} changed; in force from the next restart (systemctl restart earshot)`);
            return { pendingRestart };
          };
        }
        case 'model-manifest': {
          const running = agent.running();
          // Verified against the signed manifest's checksums before anything under the models root changes.
          await installModelBundle(running, b);
          return async () => {
            await agent.reload({ config: running, rulesBundle: agent.rulesBundle(), models: true });
            return {};
          };
        }
      }
    },
  };
}

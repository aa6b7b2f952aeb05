/**
 * A model-manifest bundle carries the manifest, signed; the model's files reach the box beforehand by any
 * means (a stick, rsync) into `<bundleDir>/models/<name>/`. The signed manifest's checksums are what vouch for
 * them: they are installed through `earshot models install`'s path (verified, atomic, the replaced version
 * kept for `earshot models rollback`), so a file that differs changes nothing.
 */
import path from 'node:path';
import type { EarshotConfig } from '../../provisioning/config.js';
import { installModel } from '../../models/install.js';
import { parseManifest, type VerifiedModel } from '../../models/manifest.js';
import type { Bundle, BundleHandler } from './bundle.js';

/** Where a model-manifest bundle's files wait to be installed: `<bundleDir>/models/<manifest name>/`. */
export function stagedModelDir(config: EarshotConfig, name: string): string {
  return path.join(config.uplink.signing.bundleDir, 'models', name);
}

/** Installs the staged files of a model-manifest bundle under models.root; throws (ModelError) with nothing changed. */
export async function installModelBundle(config: EarshotConfig, b: Bundle): Promise<VerifiedModel> {
  const manifest = parseManifest(b.content, `${b.kind} bundle v${b.version}`);
  return installModel(stagedModelDir(config, manifest.name), config.models.root, manifest, { replace: true });
}

/** `earshot bundle apply` on a box: a model manifest is installed as it is kept (the agent loads it at its next start). */
export function fileBundleHandler(config: EarshotConfig): BundleHandler {
  return {
    async prepare(b) {
      if (b.kind === 'model-manifest') await installModelBundle(config, b);
      return async () => ({});
    },
  };
}

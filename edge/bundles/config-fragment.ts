/**
 * Config-fragment bundles on a running box (docs/bundles.md "When it takes effect"). A fragment is laid over
 * the box's configuration file (objects merged key by key, anything else replaced), and a newer fragment
 * replaces the older one rather than stacking on it, so what runs is always file + the fragment in force.
 * Some settings are read only when the agent starts (the lines and their audio, the broker, the outbox,
 * the models); the rest are applied by a running agent as they arrive.
 */
import { readFileSync } from 'node:fs';
import { InputError } from '../../lib/errors.js';
import { resolveConfig, type EarshotConfig } from '../../provisioning/config.js';
import { bundleContentFile } from './bundle.js';

/**
 * Top-level settings a running agent applies at once: the rules and what the spotters listen for are swapped
 * between calls (edge/run/live-bundles.ts), the clear-text switch is read per log line. Everything else is
 * wired into a line, a connection or a file at start-up and waits for `systemctl restart earshot`.
 */
export const LIVE_SECTIONS = ['rules', 'watch', 'privacy'] as const satisfies readonly (keyof EarshotConfig)[];

type Data = Record<string, unknown>;
const isObject = (v: unknown): v is Data => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `over` laid on `base`: objects merged key by key, lists and values replaced. */
export function overlay(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return structuredClone(over);
  const out: Data = { ...structuredClone(base) };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? overlay(out[k], v) : structuredClone(v);
  return out;
}

/** The configuration with a fragment laid over it, checked as the config file would be. */
export function withFragment(config: EarshotConfig, fragment: unknown, where: string): EarshotConfig {
  return resolveConfig(overlay(config, fragment), where);
}

/** The file's configuration with the fragment in force on this box (config.json in the bundle directory), if any. */
export function withBundledConfig(config: EarshotConfig): EarshotConfig {
  const file = bundleContentFile(config.uplink.signing.bundleDir, 'config');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return config;
    throw err;
  }
  let fragment: unknown;
  try {
    fragment = JSON.parse(text);
  } catch {
    throw new InputError(`${file}: not JSON; the config bundle in force cannot be read (restore it, or remove it and state.json's "config" entry)`);
  }
  return withFragment(config, fragment, file);
}

/** Where two configurations differ, as dotted paths two levels deep (`uplink.broker`, `lines.desk-2`). */
export function changedSettings(a: EarshotConfig, b: EarshotConfig): string[] {
  const out: string[] = [];
  const A = a as unknown as Data;
  const B = b as unknown as Data;
  for (const k of [...new Set([...Object.keys(A), ...Object.keys(B)])]) {
    const x = A[k];
    const y = B[k];
    if (JSON.stringify(x) === JSON.stringify(y)) continue;
    if (!isObject(x) || !isObject(y)) {
      out.push(k);
      continue;
    }
    for (const j of [...new Set([...Object.keys(x), ...Object.keys(y)])]) if (JSON.stringify(x[j]) !== JSON.stringify(y[j])) out.push(`${k}.${j}`);
  }
  return out.sort();
}

/** Whether a changed setting (from changedSettings) is applied by a running agent. */
export function isLive(setting: string): boolean {
  return (LIVE_SECTIONS as readonly string[]).includes(setting.split('.')[0]!);
}

/** `running` with the live sections of `next` in it: what an agent runs after a fragment arrives. */
export function liveOf(running: EarshotConfig, next: EarshotConfig): EarshotConfig {
  const out = { ...running };
  for (const k of LIVE_SECTIONS) (out as Data)[k] = structuredClone(next[k]);
  return out;
}

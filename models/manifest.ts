// Model manifests (model.json) and on-disk verification.
//
// A model directory is trusted only after every file named in its manifest has the recorded size and
// sha256: weights arrive by USB stick or provisioning scripts, and a truncated or swapped encoder
// otherwise fails deep inside onnxruntime (or, worse, loads and decodes garbage).

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import AjvModule from 'ajv';
import manifestSchema from './model-manifest.schema.json' with { type: 'json' };
import { InputError } from '../lib/errors.js';
import { lazy } from '../lib/lazy.js';
import { printablePreview } from '../lib/printable.js';

export const MANIFEST_FILE = 'model.json';
export const MANIFEST_SCHEMA_ID = 'earshot/model@1';
/** The capture and DSP path runs at 16 kHz mono; a model at another rate would need its own resampler. */
export const SUPPORTED_SAMPLE_RATES: readonly number[] = [16000];

export type ModelKind = 'recognizer' | 'keyword-spotter' | 'denoiser' | 'vad';
export type ModelingUnit = '' | 'bpe' | 'cjkchar' | 'cjkchar+bpe' | 'fpinyin' | 'ppinyin';

export interface ModelFile {
  path: string;
  size: number;
  sha256: string;
}

export interface ModelManifest {
  schema: typeof MANIFEST_SCHEMA_ID;
  name: string;
  kind: ModelKind | ModelKind[];
  family: string;
  languages: string[];
  modelingUnit: ModelingUnit;
  sampleRate: number;
  files: Record<string, ModelFile>;
  options?: Record<string, number | string | boolean>;
  licence: string;
  source: string;
  notes?: string;
}

/** A manifest whose files were all found intact; the only thing engines accept. */
export interface VerifiedModel {
  readonly dir: string;
  readonly name: string;
  readonly kinds: readonly ModelKind[];
  readonly manifest: ModelManifest;
  /** role → absolute path */
  readonly paths: Readonly<Record<string, string>>;
}

export type ModelErrorCode =
  | 'missing-manifest'
  | 'bad-manifest'
  | 'unsupported-sample-rate'
  | 'unsafe-path'
  | 'missing-file'
  | 'size-mismatch'
  | 'sha256-mismatch'
  | 'missing-role'
  | 'unsupported-model'
  | 'no-keywords'
  | 'install-failed'
  | 'bad-tarball';

export class ModelError extends InputError {
  override readonly name = 'ModelError';
  constructor(
    readonly code: ModelErrorCode,
    readonly dir: string,
    readonly detail: string,
    readonly file?: string,
    options?: { cause?: unknown },
  ) {
    // The file and detail can quote the manifest itself (a path from it, a JSON parse error): one printable line, bounded.
    super(`model ${dir}: ${file ? `${printablePreview(file, 200)}: ` : ''}${printablePreview(detail, 500)}`, options);
  }
}

const Ajv = AjvModule.default;
const manifestValidator = lazy(() => new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile<ModelManifest>(manifestSchema));

export function kindsOf(manifest: ModelManifest): ModelKind[] {
  return Array.isArray(manifest.kind) ? [...manifest.kind] : [manifest.kind];
}

/** Checks shape and values without touching the files; `where` names the source in errors. */
export function parseManifest(value: unknown, where: string): ModelManifest {
  const validateManifest = manifestValidator();
  if (!validateManifest(value)) {
    const why = (validateManifest.errors ?? [])
      .map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`)
      .join('; ');
    throw new ModelError('bad-manifest', where, `bad manifest: ${why}`, MANIFEST_FILE);
  }
  if (!SUPPORTED_SAMPLE_RATES.includes(value.sampleRate)) {
    throw new ModelError(
      'unsupported-sample-rate',
      where,
      `unsupported sample rate ${value.sampleRate} Hz (Earshot supports ${SUPPORTED_SAMPLE_RATES.join(', ')} Hz)`,
      MANIFEST_FILE,
    );
  }
  for (const [role, f] of Object.entries(value.files)) {
    // Manifests travel between machines: a path must never reach outside its model directory.
    const norm = path.posix.normalize(f.path);
    if (path.isAbsolute(f.path) || norm.startsWith('../') || norm === '..' || f.path.includes('\\')) {
      throw new ModelError('unsafe-path', where, `file for role "${role}" must be a relative path inside the model directory`, f.path);
    }
  }
  return value;
}

export async function readManifest(dir: string): Promise<ModelManifest> {
  const file = path.join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ModelError('missing-manifest', dir, `no ${MANIFEST_FILE} (${(err as NodeJS.ErrnoException).code ?? err})`, MANIFEST_FILE, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ModelError('bad-manifest', dir, `bad manifest: not JSON (${(err as Error).message})`, MANIFEST_FILE, { cause: err });
  }
  return parseManifest(json, dir);
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Verifies `manifest` against the files in `dir` (the manifest need not live in `dir`). */
export async function verifyFiles(dir: string, manifest: ModelManifest): Promise<VerifiedModel> {
  const absDir = path.resolve(dir);
  const paths: Record<string, string> = {};
  for (const [role, f] of Object.entries(manifest.files)) {
    const abs = path.join(absDir, f.path);
    let size: number;
    try {
      const st = await stat(abs);
      if (!st.isFile()) throw new Error('not a regular file');
      size = st.size;
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new ModelError('missing-file', absDir, `missing (${role}; ${why})`, f.path, { cause: err });
    }
    // Size first: it is free, and catches truncated copies without hashing megabytes.
    if (size !== f.size) {
      throw new ModelError('size-mismatch', absDir, `size mismatch (${role}): ${size} bytes, manifest says ${f.size}`, f.path);
    }
    const digest = await sha256File(abs);
    if (digest !== f.sha256) {
      throw new ModelError('sha256-mismatch', absDir, `sha256 mismatch (${role}): ${digest}, manifest says ${f.sha256}`, f.path);
    }
    paths[role] = abs;
  }
  return { dir: absDir, name: manifest.name, kinds: kindsOf(manifest), manifest, paths };
}

export async function verifyModelDir(dir: string): Promise<VerifiedModel> {
  const absDir = path.resolve(dir);
  return verifyFiles(absDir, await readManifest(absDir));
}

/** Absolute path of a role an engine cannot work without. */
export function requireFile(model: VerifiedModel, role: string): string {
  const p = model.paths[role];
  if (!p) {
    throw new ModelError('missing-role', model.dir, `manifest has no "${role}" file, which family ${model.manifest.family} needs`, MANIFEST_FILE);
  }
  return p;
}

/** Primary language subtag, lower-cased: 'zh-CN' and 'zh' select the same models. */
export function primaryLanguage(tag: string): string {
  return tag.split('-')[0]!.toLowerCase();
}

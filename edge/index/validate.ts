import { Ajv } from 'ajv';
import schema from './call-index.schema.json' with { type: 'json' };
import type { CallIndex } from './call-index.js';

const validate = new Ajv({ allErrors: true }).compile<CallIndex>(schema);

/** Checks a document against the published call-index schema; returns the problems, empty when valid. */
export function callIndexProblems(doc: unknown): string[] {
  if (validate(doc)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message}`);
}

// Engines only tests register (models/engines.ts registerEngine): a provisioned model folder for them, and the
// plumbing every scripted stream shares, so a test writes only what its engine says and when.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { KeywordHit, RecognizedSegment } from '../../models/engines.js';

/** A model folder the registry verifies like any other: a manifest whose checksum covers its stand-in weights. */
export async function testModelFolder(
  dir: string,
  m: { name: string; family: string; kind: string | string[]; language: string; modelingUnit?: string; source: string },
): Promise<string> {
  const folder = path.join(dir, m.name);
  await mkdir(folder, { recursive: true });
  const weights = Buffer.from(`stand-in weights of ${m.name}`);
  await writeFile(path.join(folder, 'weights.bin'), weights);
  const manifest = {
    schema: 'earshot/model@1',
    name: m.name,
    kind: m.kind,
    family: m.family,
    languages: [m.language],
    modelingUnit: m.modelingUnit ?? '',
    sampleRate: 16000,
    files: { weights: { path: 'weights.bin', size: weights.length, sha256: createHash('sha256').update(weights).digest('hex') } },
    licence: 'test',
    source: m.source,
  };
  await writeFile(path.join(folder, 'model.json'), JSON.stringify(manifest));
  return folder;
}

/** A stream fed 16 kHz audio that says what `heard` queues, as a real one would once it has heard enough. */
export abstract class ScriptedStream<Out extends RecognizedSegment | KeywordHit> {
  /** Seconds of audio fed so far. */
  protected fedSec = 0;
  protected readonly out: Out[] = [];
  async accept(samples: Float32Array): Promise<void> {
    const before = this.fedSec;
    this.fedSec += samples.length / 16000;
    this.heard(before);
  }
  /** Called after each chunk with the time fed before it: queue into `out` what the audio up to fedSec brings. */
  protected abstract heard(before: number): void;
  drain(): Out[] {
    return this.out.splice(0);
  }
  async finish(): Promise<Out[]> {
    return this.drain();
  }
  async close(): Promise<void> {}
  /** A scripted recogniser's segments end where its script says. */
  async endSegment(): Promise<void> {}
}

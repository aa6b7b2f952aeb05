// The recogniser seam: the engine for a provisioned model is chosen by its manifest's family, through the
// registry in models/engines.ts, and the pipeline works with any engine there without knowing it. A family
// with no engine is reported and skipped.
import t from 'tap';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import { registerEngine, type RecognizedSegment, type StreamingRecognizer } from '../models/engines.js';
import { ModelRegistry } from '../models/registry.js';
import { SpeechModels } from '../edge/analysis/speech.js';
import { analyzeRecording } from '../edge/analyze.js';
import { defaultConfig } from '../provisioning/config.js';
import { sharedVad } from './support/analysis.js';
import { repoRoot } from './support/cli.js';

/** A provisioned model of a family no engine of this repository runs (think: an offline recogniser). */
async function echoModel(dir: string): Promise<string> {
  const model = path.join(dir, 'echo-en');
  await mkdir(model, { recursive: true });
  const weights = Buffer.from('not really weights');
  await writeFile(path.join(model, 'weights.bin'), weights);
  const manifest = {
    schema: 'earshot/model@1',
    name: 'echo-en',
    kind: 'recognizer',
    family: 'test/echo',
    languages: ['en'],
    modelingUnit: '',
    sampleRate: 16000,
    files: { weights: { path: 'weights.bin', size: weights.length, sha256: createHash('sha256').update(weights).digest('hex') } },
    licence: 'test',
    source: 'test/engines.test.ts',
  };
  await writeFile(path.join(model, 'model.json'), JSON.stringify(manifest));
  return model;
}

/** Says "echo" once per second of audio it is fed, as a recogniser would say what it heard. */
class EchoStream implements StreamingRecognizer {
  readonly language = 'en';
  readonly model = 'echo-en';
  private fedSec = 0;
  private out: RecognizedSegment[] = [];
  async accept(samples: Float32Array): Promise<void> {
    const before = this.fedSec;
    this.fedSec += samples.length / 16000;
    if (Math.floor(this.fedSec) > Math.floor(before)) {
      const at = Math.floor(this.fedSec) - 0.4;
      this.out.push({ text: 'echo', start: at, end: at + 0.3, words: [{ w: 'echo', start: at, end: at + 0.3, conf: 0.9 }], confidence: 0.9 });
    }
  }
  drain(): RecognizedSegment[] {
    return this.out.splice(0);
  }
  async finish(): Promise<RecognizedSegment[]> {
    return this.drain();
  }
  async close(): Promise<void> {}
  partial(): RecognizedSegment | undefined {
    return undefined;
  }
}

const watch = { phrases: [], threshold: 0.25, boost: 1 };

t.test('a model whose family has no engine is reported and skipped; once an engine is registered the pipeline uses it', async (t) => {
  const registry = await ModelRegistry.load([await echoModel(t.testdir())]);
  t.same(registry.failures, [], 'the manifest itself is fine');

  const without = await SpeechModels.load(registry, watch);
  t.equal(without.recognizers.en, undefined, 'no engine, no recogniser');
  t.match(without.problems.join('\n'), /echo-en.*family test\/echo is not supported for recognizer \(engines: sherpa-onnx\/online-transducer\)/);

  registerEngine('test/echo', { recognizer: (model) => ({ model, language: 'en', createStream: () => new EchoStream() }) });
  const models = await SpeechModels.load(registry, watch);
  t.equal(models.recognizers.en?.model.name, 'echo-en');

  const config = defaultConfig();
  config.recognition.language = 'en';
  const { index } = await analyzeRecording({ stereo: path.join(repoRoot, 'demo', 'demo-call.wav') }, { config, vadModel: await sharedVad(), speechModels: models });
  t.match(index.recognition, { agent: { model: 'echo-en', language: 'en', degraded: false }, customer: { model: 'echo-en' } });
  const words = index.utterances.flatMap((u) => u.words ?? []);
  t.ok(words.length > 5, `the engine's words reach the index (${words.length})`);
  t.ok(words.every((w) => w.w === 'echo'), 'and only its words');
});

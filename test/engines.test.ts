// The recogniser seam: the engine for a provisioned model is chosen by its manifest's family, through the
// registry in models/engines.ts, and the pipeline works with any engine there without knowing it. A family
// with no engine is reported and skipped.
import t from 'tap';
import path from 'node:path';
import { registerEngine, type RecognizedSegment, type StreamingRecognizer } from '../models/engines.js';
import { ModelRegistry } from '../models/registry.js';
import { SpeechModels } from '../edge/analysis/speech.js';
import { analyzeRecording } from '../edge/analyze.js';
import { defaultConfig } from '../provisioning/config.js';
import { sharedVad } from './support/analysis.js';
import { repoRoot } from './support/cli.js';
import { ScriptedStream, testModelFolder } from './support/test-engines.js';

/** Says "echo" once per second of audio it is fed, as a recogniser would say what it heard. */
class EchoStream extends ScriptedStream<RecognizedSegment> implements StreamingRecognizer {
  readonly language = 'en';
  readonly model = 'echo-en';
  protected heard(before: number): void {
    if (Math.floor(this.fedSec) > Math.floor(before)) {
      const at = Math.floor(this.fedSec) - 0.4;
      this.out.push({ text: 'echo', start: at, end: at + 0.3, words: [{ w: 'echo', start: at, end: at + 0.3, conf: 0.9 }], confidence: 0.9 });
    }
  }
  partial(): RecognizedSegment | undefined {
    return undefined;
  }
}

const watch = { phrases: [], threshold: 0.25, boost: 1 };

t.test('a model whose family has no engine is reported and skipped; once an engine is registered the pipeline uses it', async (t) => {
  const registry = await ModelRegistry.load([await testModelFolder(t.testdir(), { name: 'echo-en', family: 'test/echo', kind: 'recognizer', language: 'en', source: 'test/engines.test.ts' })]);
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

import t from 'tap';
import path from 'node:path';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { repoManifest } from '../models/install.js';
import { renderCallByName } from './support/calls.js';
import { repoRoot } from './support/cli.js';
import { defaultConfig, type EarshotConfig } from '../provisioning/config.js';
import { loadSpeechModels } from '../edge/speech-setup.js';
import { callIndexProblems } from '../edge/index/validate.js';
import { CHANNELS } from '../edge/events.js';
import { analyzeRecording } from '../edge/analyze.js';
import { formatSummary } from '../edge/summary.js';
import { analyzeRendered, inputOf, monoClipAsCall, sharedVad, ZH_REAL_PHRASES } from './support/analysis.js';
import type { CallIndex } from '../edge/index/call-index.js';
import { editDistance, errorRate, sideTokens } from './support/metrics.js';

const shared = process.env.EARSHOT_SHARED ?? path.resolve(repoRoot, '..', 'shared');

function configWith(watch: string[], root = path.join(shared, 'models')): EarshotConfig {
  const config = defaultConfig();
  config.models.root = root;
  config.watch.phrases = watch;
  return config;
}

async function analyzeWithSpeech(name: string, config: EarshotConfig): Promise<CallIndex> {
  const speechModels = await loadSpeechModels(config);
  return (await analyzeRendered(await renderCallByName(name), {}, config, speechModels)).index;
}

t.test('an English call is transcribed end to end, per side, with word times', async (t) => {
  const call = await renderCallByName('en-basic');
  const index = await analyzeWithSpeech('en-basic', configWith([]));
  t.same(callIndexProblems(index), []);
  for (const channel of CHANNELS) {
    t.equal(index.recognition?.[channel].language, 'en', `${channel} recognised as English (${index.recognition?.[channel].reason})`);
    t.equal(index.recognition?.[channel].band, 'wide', `${channel}: a 16 kHz recording is said to be wideband`);
    const { ref, hyp } = sideTokens('en', call.truth.turns, index, channel);
    const wer = errorRate(ref, hyp);
    t.ok(wer <= 0.25, `${channel} WER ${wer.toFixed(3)}`);
  }
  const words = index.utterances.flatMap((u) => u.words ?? []);
  t.ok(words.length > 30, 'word timings present');
  for (const u of index.utterances.filter((x) => x.words)) {
    t.ok(u.words!.every((w) => w.start >= u.start - 0.35 && w.end <= u.end + 0.6), 'words lie inside their utterance');
    t.ok((u.rate as number) > 0.5 && (u.rate as number) < 6, `speech rate ${u.rate} words/s is human`);
  }
  t.ok(index.metrics.speechRate.agent !== null && index.metrics.speechRate.customer !== null);
});

t.test('a narrowband call on a noisy line: the speech models hear it with a noise floor in the empty upper band, and miss fewer words', async (t) => {
  const call = await renderCallByName('en-8k-noisy');
  const errors = async (fill: number | 'off') => {
    const config = configWith([]);
    config.recognition.language = 'en';
    config.recognition.narrowbandFillDb = fill;
    const { index } = await analyzeRendered(call, {}, config, await loadSpeechModels(config));
    // Filled or not, the reviewer is told the line carried telephone audio.
    for (const channel of CHANNELS) t.equal(index.recognition?.[channel].band, 'narrow', `${channel} said to be telephone-band (fill ${fill})`);
    t.match(formatSummary(index), /speech\s+agent: en .*; telephone-band audio \(8 kHz\), words are missed more often/, "earshot analyze's summary says so");
    return CHANNELS.reduce(
      (sum, channel) => {
        const { ref, hyp } = sideTokens('en', call.truth.turns, index, channel);
        return { edits: sum.edits + editDistance(ref, hyp), words: sum.words + ref.length };
      },
      { edits: 0, words: 0 },
    );
  };
  const unfilled = await errors('off');
  const filled = await errors(defaultConfig().recognition.narrowbandFillDb);
  const wer = (e: { edits: number; words: number }) => (e.edits / e.words).toFixed(3);
  t.ok(filled.edits <= 0.75 * unfilled.edits, `word errors ${filled.edits} of ${filled.words} (WER ${wer(filled)}) with the fill, ${unfilled.edits} (WER ${wer(unfilled)}) without`);
});

t.test('a Mandarin call comes out as tone-marked pinyin; auto picks zh', async (t) => {
  const call = await renderCallByName('zh-basic');
  const index = await analyzeWithSpeech('zh-basic', configWith([]));
  for (const channel of CHANNELS) {
    const r = index.recognition?.[channel];
    t.equal(r?.language, 'zh', `${channel}: ${r?.reason}`);
    t.equal(r?.script, 'pinyin');
    const { ref, hyp } = sideTokens('zh', call.truth.turns, index, channel);
    const per = errorRate(ref, hyp);
    // espeak-ng's Mandarin is far from the wenetspeech the model knows: measured 0.71-0.77 here, against
    // ~0.09 on real speech (test/models-speech). The bound catches a wrong language or a broken alignment.
    t.ok(per <= 0.85, `${channel} pinyin syllable error rate ${per.toFixed(3)} on espeak speech`);
  }
  t.ok(index.utterances.some((u) => u.script === 'pinyin' && /[āáǎàēéěèīíǐìōóǒòūúǔù]/.test(u.text ?? '')), 'tone marks kept');
});

t.test("a turn's last words are out while the line is quiet after it, not at that side's next words or the hang-up", async (t) => {
  const config = configWith(['goodbye', 'have a lovely day']);
  const speechModels = await loadSpeechModels(config);
  for (const name of ['rule-late-hangup-en-hit', 'en-silence']) {
    const call = await renderCallByName(name);
    const { events } = await analyzeRecording(inputOf(call), { config, speechModels, vadModel: await sharedVad(), keepEvents: true });
    const words = (events ?? []).filter((e) => e.type === 'words');
    // the turns followed by 4 s or more before that side speaks again (or the call ends)
    const quietAfter = call.truth.turns.filter((turn) => {
      const next = call.truth.turns.find((x) => x.channel === turn.channel && x.start > turn.end)?.start ?? call.truth.durationSec;
      return next - turn.end >= 4;
    });
    t.ok(quietAfter.length > 0, `${name} has a turn with quiet after it`);
    for (const turn of quietAfter) {
      const last = words.filter((w) => w.channel === turn.channel && w.end > turn.start && w.start < turn.end + 0.5).at(-1);
      t.ok(last, `${name}: "${turn.text}" transcribed`);
      if (last) t.ok(last.emittedAt - turn.end <= 2.5, `${name}: "${last.text}" out ${(last.emittedAt - turn.end).toFixed(2)} s after the turn ended (the call ends at ${call.truth.durationSec} s)`);
    }
  }
});

t.test('watched English phrases are spotted on the right side at the right time', async (t) => {
  const call = await renderCallByName('en-basic');
  const phrase = 'mobile number';
  const index = await analyzeWithSpeech('en-basic', configWith([phrase, 'guaranteed']));
  const said = call.truth.turns.filter((x) => x.text.toLowerCase().includes(phrase));
  const hits = index.keywords.filter((k) => k.term === phrase);
  t.ok(hits.length >= 1, `"${phrase}" found (${hits.length})`);
  for (const hit of hits) {
    t.ok(said.some((x) => x.channel === hit.channel && hit.start >= x.start - 0.5 && hit.end <= x.end + 0.8), `hit at ${hit.start}-${hit.end} lies in a turn that says it`);
    t.equal(hit.source, 'kws');
  }
  t.equal(index.keywords.filter((k) => k.term !== phrase).length, 0, 'no false alarm for a phrase never said');
});

t.test('watched Mandarin phrases are spotted through the pipeline on real speech', async (t) => {
  // Real clips carry the phrases (espeak's Mandarin is too far from real speech for the 3.3M spotter);
  // each clip becomes the customer side of a call whose agent side is a quiet line.
  const dir = t.testdir({});
  const zh = path.join(shared, 'audio', 'zh-real');
  const config = configWith([...Object.values(ZH_REAL_PHRASES).flat(), '保本', '验证码']);
  const speechModels = await loadSpeechModels(config);
  let found = 0;
  let expected = 0;
  let falseAlarms = 0;
  for (const [clip, want] of Object.entries(ZH_REAL_PHRASES)) {
    const file = await monoClipAsCall(path.join(zh, `${clip}.wav`), path.join(dir, `call-${clip}.wav`));
    const { index } = await analyzeRecording({ stereo: file }, { config, speechModels, vadModel: await sharedVad() });
    expected += want.length;
    for (const k of index.keywords) {
      t.equal(k.channel, 'customer', `${clip}: ${k.term} heard on the side that said it`);
      if (want.includes(k.term)) found++;
      else falseAlarms++;
    }
  }
  t.equal(found, expected, `all ${expected} phrases found`);
  t.equal(falseAlarms, 0, 'no phrase reported that the clips do not contain');
});

t.test('without models the call is still analysed, and the index says recognition is off and why', async (t) => {
  const index = await analyzeWithSpeech('en-basic', configWith(['refund'], '/nonexistent/models'));
  t.same(callIndexProblems(index), []);
  t.ok(index.utterances.length > 0, 'signal analysis unaffected');
  for (const channel of CHANNELS) {
    t.equal(index.recognition?.[channel].degraded, true);
    t.match(index.recognition?.[channel].reason, /no recognizer provisioned/);
  }
  t.same(index.keywords, []);
});

t.test('a provisioned model the engine cannot run leaves the box hearing with the rest, and says why', async (t) => {
  // A manifest-valid model of a family sherpa's streaming engine does not run (a non-streaming Whisper, say),
  // provisioned before the Mandarin model it should have sat beside.
  const root = t.testdir({});
  const en = path.join(shared, 'models', 'kws-en-gigaspeech-3.3M');
  const other = path.join(root, 'whisper-en');
  await cp(en, other, { recursive: true });
  const manifest = JSON.parse(await readFile(path.join(other, 'model.json'), 'utf8').catch(async () => JSON.stringify(await repoManifest('kws-en-gigaspeech-3.3M'))));
  await writeFile(path.join(other, 'model.json'), JSON.stringify({ ...manifest, name: 'whisper-en', family: 'sherpa-onnx/offline-whisper', kind: 'recognizer' }));
  const config = configWith(['refund', '验证码']);
  config.models.root = root;
  config.models.dirs = [path.join(shared, 'models', 'kws-zh-wenetspeech-3.3M')];
  const models = await loadSpeechModels(config);
  t.match(models.problems.join('\n'), /whisper-en.*family sherpa-onnx\/offline-whisper is not supported/);
  t.ok(models.recognizers.zh, 'the Mandarin recogniser still loads');
  t.notOk(models.recognizers.en, 'no English recogniser rather than a box that will not start');
  const index = (await analyzeRendered(await renderCallByName('zh-basic'), {}, config, models)).index;
  t.ok(index.utterances.some((u) => u.text), 'calls are still transcribed with what could be loaded');
});

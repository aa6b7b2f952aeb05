/**
 * Speech on the box: WER, pinyin syllable error rate, keyword recall and false alarms, and what recognition
 * costs per channel. Models come from ../shared/models (EARSHOT_SHARED overrides), as provisioned on a box.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import wavefile from 'wavefile';
import { renderCallByName } from '../test/support/calls.js';
import { analyzeRendered, monoClipAsCall, readMono16k, sharedVad, ZH_REAL_PHRASES } from '../test/support/analysis.js';
import { analyzeRecording } from '../edge/analyze.js';
import { repoRoot } from '../test/support/cli.js';
import { editDistance, englishWords, sideTokens } from '../test/support/metrics.js';
import { defaultConfig } from '../provisioning/config.js';
import { loadSpeechModels } from '../edge/speech-setup.js';
import { CHANNELS } from '../edge/events.js';
import { resample } from '../device/resample.js';
import type { StreamingRecognizer } from '../models/engines.js';
import { r } from './stats.js';

const shared = process.env.EARSHOT_SHARED ?? path.resolve(repoRoot, '..', 'shared');
const LIBRIVOX = '/usr/share/pocketsphinx/test/data/librivox';
const SETS = {
  festival16k: ['en-basic', 'en-silence', 'en-overtalk', 'en-calm', 'en-agitated', 'en-refund-scam'],
  festival8k: ['en-8k-mulaw', 'en-invest-pitch'],
  mandarinEspeak: ['zh-basic', 'zh-agitated', 'zh-refund-scam', 'zh-invest-pitch'],
};
const WATCHED = {
  en: ['refund', 'bank card', 'verification code', 'password', 'guaranteed', 'risk free', 'cannot lose', 'buy this stock'],
  zh: ['验证码', '密码', '银行卡', '退款', '保本', '稳赚', '推荐股票', '内幕消息'],
};

interface KwsTally { expected: number; found: number; falseAlarms: number; channelHours: number }
const tally = (): KwsTally => ({ expected: 0, found: 0, falseAlarms: 0, channelHours: 0 });
const kwsReport = (k: KwsTally) => ({
  phrasesSaid: k.expected,
  found: k.found,
  recall: k.expected ? r(k.found / k.expected, 3) : null,
  falseAlarms: k.falseAlarms,
  channelHoursListened: r(k.channelHours, 3),
  falseAlarmsPerHour: r(k.falseAlarms / k.channelHours, 1),
});

/** Telephone channel: band-limit to 8 kHz and G.711 mu-law, then back to the pipeline's 16 kHz. */
function overTheTelephone(audio16k: Float32Array): Float32Array {
  const narrow = resample(audio16k, 16000, 8000);
  const wav = new wavefile.WaveFile();
  wav.fromScratch(1, 8000, '16', Int16Array.from(narrow, (x) => Math.max(-32768, Math.min(32767, Math.round(x * 32767)))));
  wav.toMuLaw();
  wav.fromMuLaw();
  const pcm = wav.getSamples(false, Float64Array) as unknown as Float64Array;
  return resample(Float32Array.from(pcm, (x) => x / 32768), 8000, 16000);
}

async function transcribe(stream: StreamingRecognizer, audio: Float32Array): Promise<string> {
  for (let i = 0; i < audio.length; i += 512) await stream.accept(audio.subarray(i, i + 512));
  return [...stream.drain(), ...(await stream.finish())].map((s) => s.text).join(' ');
}

export async function recognitionBench(): Promise<Record<string, unknown>> {
  const config = defaultConfig();
  config.models.root = path.join(shared, 'models');
  config.watch.phrases = [...WATCHED.en, ...WATCHED.zh];
  const speech = await loadSpeechModels(config);
  const kws = { en: tally(), zh: tally() };
  const errorRates: Record<string, { edits: number; refTokens: number }> = {};
  let audioChannelSec = 0;
  let computeSec = 0;
  let cpuSec = 0;

  for (const [set, names] of Object.entries(SETS)) {
    errorRates[set] = { edits: 0, refTokens: 0 };
    for (const name of names) {
      const call = await renderCallByName(name);
      const t0 = process.hrtime.bigint();
      const cpu0 = process.cpuUsage();
      const { index } = await analyzeRendered(call, {}, config, speech);
      computeSec += Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = process.cpuUsage(cpu0);
      cpuSec += (cpu.user + cpu.system) / 1e6;
      audioChannelSec += 2 * index.durationSec;
      const lang = call.truth.language as 'en' | 'zh';
      for (const channel of CHANNELS) {
        const { ref, hyp } = sideTokens(lang, call.truth.turns, index, channel);
        errorRates[set].edits += editDistance(ref, hyp);
        errorRates[set].refTokens += ref.length;
      }
      // Both spotters listen to every side; a hit only counts if it was said there and then.
      for (const k of Object.values(kws)) k.channelHours += (2 * index.durationSec) / 3600;
      for (const turn of call.truth.turns) {
        for (const phrase of WATCHED[lang]) {
          if (!turn.text.toLowerCase().includes(phrase)) continue;
          kws[lang].expected++;
          if (index.keywords.some((k) => k.term === phrase && k.channel === turn.channel && k.end > turn.start - 0.5 && k.start < turn.end + 0.8)) kws[lang].found++;
        }
      }
      for (const k of index.keywords) {
        const said = call.truth.turns.some((x) => x.channel === k.channel && x.text.toLowerCase().includes(k.term) && k.end > x.start - 0.5 && k.start < x.end + 0.8);
        if (!said) kws[/[\u3400-\u9fff]/.test(k.term) ? 'zh' : 'en'].falseAlarms++;
      }
    }
  }

  // Real human speech: LibriVox read English (wideband and over a simulated telephone line).
  const librivox: Record<string, unknown> = {};
  if (existsSync(path.join(LIBRIVOX, 'transcription'))) {
    const en = speech.recognizers.en;
    if (en) {
      const totals = { wideband: { edits: 0, ref: 0 }, telephone8k: { edits: 0, ref: 0 } };
      for (const line of readFileSync(path.join(LIBRIVOX, 'transcription'), 'utf8').trim().split('\n')) {
        const m = /^<s>\s*(.*?)\s*<\/s>\s*\((.+)\)$/.exec(line.trim());
        if (!m) continue;
        const ref = englishWords(m[1]);
        const audio = await readMono16k(path.join(LIBRIVOX, `${m[2]}.wav`));
        for (const [kind, input] of [['wideband', audio], ['telephone8k', overTheTelephone(audio)]] as const) {
          totals[kind].edits += editDistance(ref, englishWords(await transcribe(en.createStream(), input)));
          totals[kind].ref += ref.length;
        }
      }
      librivox.clips = 5;
      librivox.words = totals.wideband.ref;
      librivox.wer = r(totals.wideband.edits / totals.wideband.ref, 3);
      librivox.werTelephone8k = r(totals.telephone8k.edits / totals.telephone8k.ref, 3);
    }
  } else librivox.skipped = 'pocketsphinx-testdata not installed';

  // Real Mandarin: the model's own test clips through the pipeline, with every watched phrase as decoys.
  const zhReal = tally();
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'earshot-bench-'));
  const realConfig = structuredClone(config);
  realConfig.watch.phrases = [...Object.values(ZH_REAL_PHRASES).flat(), ...WATCHED.zh, ...WATCHED.en];
  const realSpeech = await loadSpeechModels(realConfig);
  for (const [clip, want] of Object.entries(ZH_REAL_PHRASES)) {
    const file = await monoClipAsCall(path.join(shared, 'audio', 'zh-real', `${clip}.wav`), path.join(tmp, `${clip}.wav`));
    const { index } = await analyzeRecording({ stereo: file }, { config: realConfig, speechModels: realSpeech, vadModel: await sharedVad() });
    zhReal.expected += want.length;
    zhReal.found += want.filter((p) => index.keywords.some((k) => k.term === p && k.channel === 'customer')).length;
    zhReal.falseAlarms += index.keywords.filter((k) => !want.includes(k.term)).length;
    zhReal.channelHours += (2 * index.durationSec) / 3600;
  }
  await rm(tmp, { recursive: true, force: true });

  // CPU time of every thread (decoding runs on the thread pool, both sides at once): what a channel costs a core.
  const rtf = cpuSec / audioChannelSec;
  const rate = (x: { edits: number; refTokens: number }) => r(x.edits / Math.max(1, x.refTokens), 3);
  return {
    what: 'full pipeline with recognition (auto language: both recognisers until each side is decided) and both keyword spotters on every side',
    models: Object.fromEntries(Object.entries(speech.recognizers).map(([l, m]) => [l, m?.model.name])),
    keywordSpotter: { threshold: config.watch.threshold, boost: config.watch.boost },
    wer: {
      festivalCalls16k: rate(errorRates.festival16k),
      festivalCalls8kMulaw: rate(errorRates.festival8k),
      librivox: librivox,
      targets: { festival: 0.1, librivox: 0.2 },
    },
    pinyinSyllableErrorRate: { espeakMandarinCalls: rate(errorRates.mandarinEspeak), note: 'tone-insensitive; espeak-ng Mandarin is far from real speech' },
    keywordSpotting: {
      englishGeneratedCalls: kwsReport(kws.en),
      mandarinGeneratedCalls: kwsReport(kws.zh),
      mandarinRealClips: kwsReport(zhReal),
      target: 'recall >= 0.9 at <= 1 false alarm per hour',
    },
    speed: {
      audioChannelSec: r(audioChannelSec, 1),
      rtfPerChannel: r(rtf, 4),
      channelsPerCoreRealtime: Math.floor(1 / rtf),
      wallRtfPerChannel: r(computeSec / audioChannelSec, 4),
      note: 'rtfPerChannel is CPU time (all threads) per second of channel audio, calls analysed one at a time as fast as they go; wallRtfPerChannel is elapsed time, lower because decoding runs on the thread pool on every core',
    },
  };
}

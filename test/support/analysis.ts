import { writeFile } from 'node:fs/promises';
import wavefile from 'wavefile';
import type { RenderedCall, TruthTurn } from '../../scripts/make-call.js';
import { readWav } from '../../device/wav.js';
import type { CallAudioInput, ReplayOptions } from '../../device/file-source.js';
import { analyzeRecording, type AnalyzeResult } from '../../edge/analyze.js';
import { SileroVadModel } from '../../models/vad.js';
import { defaultConfig, type EarshotConfig } from '../../provisioning/config.js';
import type { Channel } from '../../edge/events.js';
import type { IndexedUtterance } from '../../edge/index/call-index.js';
import type { SpeechModels } from '../../edge/analysis/speech.js';
import type { CompiledRule } from '../../edge/rules/types.js';

let vad: Promise<SileroVadModel> | undefined;
/** Tests share one VAD session, as every line on a box does. */
export const sharedVad = (): Promise<SileroVadModel> => (vad ??= SileroVadModel.load());

export function inputOf(call: RenderedCall): CallAudioInput {
  return call.wav ? { stereo: call.wav } : { agent: call.agentWav as string, customer: call.customerWav as string };
}

export async function analyzeRendered(
  call: RenderedCall,
  replay: ReplayOptions = {},
  config: EarshotConfig = defaultConfig(),
  speechModels?: SpeechModels,
  rules?: CompiledRule[],
): Promise<AnalyzeResult> {
  return analyzeRecording(inputOf(call), { ...replay, config, vadModel: await sharedVad(), speechModels, rules });
}

export interface Span {
  start: number;
  end: number;
}

/**
 * A speaker's turns as the segmenter is configured to see them: turns of one side closer than the pause
 * that splits utterances are one stretch of speech.
 */
export function truthSpans(turns: TruthTurn[], channel: Channel, minPauseSec: number): Span[] {
  const spans: Span[] = [];
  for (const t of turns.filter((x) => x.channel === channel).sort((a, b) => a.start - b.start)) {
    const last = spans[spans.length - 1];
    if (last && t.start - last.end < minPauseSec) last.end = Math.max(last.end, t.end);
    else spans.push({ start: t.start, end: t.end });
  }
  return spans;
}

/** Detected utterances of one side, merged the same way, so a comma pause inside a turn is not a miss. */
export function detectedSpans(utterances: IndexedUtterance[], channel: Channel, truth: Span[]): Span[] {
  const mine = utterances.filter((u) => u.channel === channel);
  return truth.map((t) => {
    const inside = mine.filter((u) => u.end > t.start - 0.5 && u.start < t.end + 0.5);
    return inside.length ? { start: Math.min(...inside.map((u) => u.start)), end: Math.max(...inside.map((u) => u.end)) } : { start: NaN, end: NaN };
  });
}

/** The real Mandarin clips and the phrases each contains (clips 0-2 contain none of them). */
export const ZH_REAL_PHRASES: Record<string, string[]> = {
  '0': [], '1': [], '2': [],
  '3': ['文森特卡索', '法国'], '4': ['蒋友伯', '女儿'], '5': ['周望军', '落实'], '6': ['朱丽楠', '见面会'],
};

/**
 * A real mono recording as the customer side of a call (0.5 s in, 0.5 s out) whose agent side is a quiet
 * line, so real speech goes through the same pipeline as a call.
 */
export async function monoClipAsCall(clip: string, file: string): Promise<string> {
  const voice = await readMono16k(clip);
  const quiet = new Int16Array(voice.length + 16000);
  const customer = new Int16Array(voice.length + 16000);
  voice.forEach((x, i) => (customer[8000 + i] = Math.round(x * 32767)));
  const wav = new wavefile.WaveFile();
  wav.fromScratch(2, 16000, '16', [quiet, customer]);
  await writeFile(file, wav.toBuffer());
  return file;
}

/** A whole file as 16 kHz mono (the channels averaged, which keeps a mono source's level), for feeding one recogniser. */
export async function readMono16k(file: string): Promise<Float32Array> {
  const { channels } = await readWav(file, 16000);
  if (channels.length === 1) return channels[0];
  const out = new Float32Array(channels[0].length);
  for (const ch of channels) for (let i = 0; i < out.length; i++) out[i] += ch[i] / channels.length;
  return out;
}

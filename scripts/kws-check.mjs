#!/usr/bin/env node
// Speech recognition on this CPU, checked against known truth: the Mandarin keyword spotter
// (../shared/models/kws-zh-wenetspeech-3.3M, int8) run through sherpa-onnx-node over the real-speech clips of
// ../shared/audio/zh-real, whose keywords are known (clips 3-6 hold two each, 0-2 none). Prints one line per
// clip with its hits and exits 1 unless every known keyword is found and nothing else is. Plain JavaScript
// (no tsx) so scripts/arm64-proof.sh runs it inside the arm64 root, where it tells a CPU (or an emulator)
// whose int8 kernels give wrong answers from one that decodes as x86_64 does.
//   node scripts/kws-check.mjs [--models DIR] [--audio DIR] [--threads N] [--json]
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const here = path.dirname(new URL(import.meta.url).pathname);
const models = opt('--models', path.join(here, '../../shared/models'));
const audio = opt('--audio', path.join(here, '../../shared/audio/zh-real'));
const threads = Number(opt('--threads', '1'));
const model = path.join(models, 'kws-zh-wenetspeech-3.3M');

function readWav16kMono(file) {
  const b = readFileSync(file);
  if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') throw new Error(`${file}: not a WAV`);
  let off = 12, fmt, data;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4), size = b.readUInt32LE(off + 4);
    if (id === 'fmt ') fmt = { format: b.readUInt16LE(off + 8), channels: b.readUInt16LE(off + 10), rate: b.readUInt32LE(off + 12), bits: b.readUInt16LE(off + 22) };
    if (id === 'data') data = b.subarray(off + 8, off + 8 + size);
    off += 8 + size + (size & 1);
  }
  if (!fmt || !data || fmt.format !== 1 || fmt.channels !== 1 || fmt.bits !== 16 || fmt.rate !== 16000) throw new Error(`${file}: want 16 kHz mono 16-bit PCM`);
  const out = new Float32Array(data.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = data.readInt16LE(2 * i) / 32768;
  return out;
}

const sherpa = createRequire(import.meta.url)('sherpa-onnx-node');
// The phrases of the clips' truth list, as the model's tokens (`w én s ēn ... @文森特卡索` lines).
const keywordLines = readFileSync(path.join(audio, 'test_keywords.txt'), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
const known = keywordLines.map((l) => l.split('@')[1]);
const spotter = new sherpa.KeywordSpotter({
  featConfig: { sampleRate: 16000, featureDim: 80 },
  modelConfig: {
    transducer: { encoder: path.join(model, 'encoder.int8.onnx'), decoder: path.join(model, 'decoder.onnx'), joiner: path.join(model, 'joiner.int8.onnx') },
    tokens: path.join(model, 'tokens.txt'),
    numThreads: threads,
    provider: 'cpu',
    debug: 0,
    modelingUnit: '',
  },
  maxActivePaths: 4,
  numTrailingBlanks: 1,
  keywordsScore: 1.0,
  keywordsThreshold: 0.25,
  keywordsBuf: keywordLines.join('\n'),
  keywordsBufSize: Buffer.byteLength(keywordLines.join('\n')),
});

const clips = readdirSync(audio).filter((f) => /^\d+\.wav$/.test(f)).sort((a, b) => parseInt(a) - parseInt(b));
const results = [];
const t0 = process.hrtime.bigint();
let audioSec = 0;
for (const clip of clips) {
  const samples = readWav16kMono(path.join(audio, clip));
  audioSec += samples.length / 16000;
  const stream = spotter.createStream();
  const hits = [];
  const drain = () => {
    while (spotter.isReady(stream)) {
      spotter.decode(stream);
      const r = spotter.getResult(stream);
      if (r.keyword) {
        hits.push(r.keyword);
        spotter.reset(stream);
      }
    }
  };
  for (let i = 0; i < samples.length; i += 1600) {
    stream.acceptWaveform({ samples: samples.subarray(i, i + 1600), sampleRate: 16000 });
    drain();
  }
  stream.acceptWaveform({ samples: new Float32Array(16000 * 0.8), sampleRate: 16000 });
  stream.inputFinished();
  drain();
  results.push({ clip, hits });
}
const cpuSec = Number(process.hrtime.bigint() - t0) / 1e9;

// The truth: clip 3-6 each hold two of the listed keywords, 0-2 none. Which two is the x86_64 reference run,
// recorded here (the same on every correct CPU): a hit list that differs is a wrong answer.
const reference = {
  '0.wav': [], '1.wav': [], '2.wav': [],
  '3.wav': ['文森特卡索', '法国'], '4.wav': ['蒋友伯', '女儿'], '5.wav': ['周望军', '落实'], '6.wav': ['朱丽楠', '见面会'],
};
let wrong = 0;
for (const { clip, hits } of results) {
  const want = reference[clip];
  const ok = want !== undefined && JSON.stringify([...hits].sort()) === JSON.stringify([...want].sort());
  if (!ok) wrong++;
  if (!args.includes('--json')) console.log(`  ${clip}: ${hits.length ? hits.join(', ') : '(no hit)'}${ok ? '' : `   WRONG, want ${want?.length ? want.join(', ') : '(no hit)'}`}`);
}
const found = results.flatMap((r) => r.hits).filter((h) => known.includes(h)).length;
const summary = { arch: process.arch, threads, clips: results.length, audioSec: +audioSec.toFixed(1), hits: results.flatMap((r) => r.hits).length, wrongClips: wrong, wallSec: +cpuSec.toFixed(1), results };
if (args.includes('--json')) console.log(JSON.stringify(summary));
else console.log(`kws-check (${process.arch}, ${threads} thread): ${results.length} clips, ${audioSec.toFixed(1)} s of speech, ${found} of 8 known keywords found, ${wrong} clip(s) wrong; ${cpuSec.toFixed(1)} s wall`);
process.exit(wrong ? 1 : 0);

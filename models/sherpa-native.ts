// The streams of sherpa-onnx, driven through its C API (libsherpa-onnx-c-api.so, the library that
// sherpa-onnx-node's addon itself links) so that decoding runs on libuv's thread pool instead of the
// JavaScript thread.
//
// Why not the addon alone: its decode is synchronous, so the only way to use two cores was a worker thread
// per core, each with its own copy of every model (~80 MB per copy, most of the box's memory budget). Here
// one recogniser serves every line and its streams decode in parallel: sherpa's recognisers hold no
// per-decode state, and its own websocket server decodes different streams of one recogniser on several
// threads the same way. Recognisers and spotters are still created by the addon (it owns the large config
// structs, whose layout changes between releases); only stream functions with plain pointer and number
// arguments are declared here, and the addon's objects expose the same C pointers as `handle`.
//
// Streams are created and destroyed here, not by the addon: the addon frees a stream only when the garbage
// collector finalises its small JavaScript wrapper, which can be long after a call ends, while each stream
// holds ~0.4 MB of encoder state.

import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import koffi from 'koffi';
import { workQueue } from '../lib/queue.js';

/** A recogniser or spotter made by sherpa-onnx-node: `handle` is its C pointer, as an External. */
export interface NativeEngine {
  readonly handle: unknown;
}
/** An opaque SherpaOnnxOnlineStream pointer. */
export type StreamPointer = unknown;

/** Recogniser results and keyword results come back as JSON, parsed by the caller. */
export interface SherpaStreamApi {
  createOnlineStream(recognizer: NativeEngine): StreamPointer;
  createKeywordStream(spotter: NativeEngine): StreamPointer;
  destroyStream(stream: StreamPointer): void;
  /** Feature extraction runs with the samples: off the JavaScript thread too. */
  acceptWaveform(stream: StreamPointer, sampleRate: number, samples: Float32Array): Promise<void>;
  inputFinished(stream: StreamPointer): void;
  onlineReady(recognizer: NativeEngine, stream: StreamPointer): boolean;
  decodeOnline(recognizer: NativeEngine, stream: StreamPointer): Promise<void>;
  isEndpoint(recognizer: NativeEngine, stream: StreamPointer): boolean;
  resetOnline(recognizer: NativeEngine, stream: StreamPointer): void;
  onlineResultJson(recognizer: NativeEngine, stream: StreamPointer): string;
  keywordReady(spotter: NativeEngine, stream: StreamPointer): boolean;
  decodeKeyword(spotter: NativeEngine, stream: StreamPointer): Promise<void>;
  resetKeyword(spotter: NativeEngine, stream: StreamPointer): void;
  keywordResultJson(spotter: NativeEngine, stream: StreamPointer): string;
}

/** Where the addon's platform package keeps the C library it was linked against. */
function cApiLibrary(): string {
  if (os.platform() !== 'linux') throw new Error(`sherpa-onnx C API: only Linux boxes are supported (this is ${os.platform()})`);
  const fromAddon = createRequire(createRequire(import.meta.url).resolve('sherpa-onnx-node'));
  const pkg = fromAddon.resolve(`sherpa-onnx-linux-${os.arch()}/package.json`);
  return path.join(path.dirname(pkg), 'libsherpa-onnx-c-api.so');
}

let api: SherpaStreamApi | undefined;

/** Bound on first use, after the addon has loaded the same library (dlopen then returns that copy). */
export function sherpaStreams(): SherpaStreamApi {
  if (api) return api;
  const lib = koffi.load(cApiLibrary());
  // Both JSON strings are allocated with new[] inside the library and must go back through its own free.
  const freeOnlineJson = lib.func('void SherpaOnnxDestroyOnlineStreamResultJson(void *s)');
  const freeKeywordJson = lib.func('void SherpaOnnxFreeKeywordResultJson(void *s)');
  const OnlineJson = koffi.disposable('SherpaOnlineJson', 'const char *', freeOnlineJson);
  const KeywordJson = koffi.disposable('SherpaKeywordJson', 'const char *', freeKeywordJson);

  const createOnline = lib.func('void *SherpaOnnxCreateOnlineStream(void *recognizer)');
  const createKeyword = lib.func('void *SherpaOnnxCreateKeywordStream(void *spotter)');
  const destroy = lib.func('void SherpaOnnxDestroyOnlineStream(void *stream)');
  const accept = lib.func('void SherpaOnnxOnlineStreamAcceptWaveform(void *stream, int32_t sampleRate, const float *samples, int32_t n)');
  const finished = lib.func('void SherpaOnnxOnlineStreamInputFinished(void *stream)');
  const onlineReady = lib.func('int32_t SherpaOnnxIsOnlineStreamReady(void *recognizer, void *stream)');
  const decodeOnline = lib.func('void SherpaOnnxDecodeOnlineStream(void *recognizer, void *stream)');
  const isEndpoint = lib.func('int32_t SherpaOnnxOnlineStreamIsEndpoint(void *recognizer, void *stream)');
  const resetOnline = lib.func('void SherpaOnnxOnlineStreamReset(void *recognizer, void *stream)');
  const onlineJson = lib.func('SherpaOnnxGetOnlineStreamResultAsJson', OnlineJson, ['void *', 'void *']);
  const keywordReady = lib.func('int32_t SherpaOnnxIsKeywordStreamReady(void *spotter, void *stream)');
  const decodeKeyword = lib.func('void SherpaOnnxDecodeKeywordStream(void *spotter, void *stream)');
  const resetKeyword = lib.func('void SherpaOnnxResetKeywordStream(void *spotter, void *stream)');
  const keywordJson = lib.func('SherpaOnnxGetKeywordResultAsJson', KeywordJson, ['void *', 'void *']);

  // At most a few native jobs at a time. The pool has more threads than cores (naudiodon parks a thread per
  // open device), and dozens of streams decoding at once would only interleave on the same cores, each call
  // finishing later, every thread warming its own caches and malloc arena. One per core left cores idle while
  // the JavaScript thread prepared the next decodes: 24 lines measured alert p95 1.9 s with one per core,
  // 0.77 s with two.
  const jobs = workQueue(2 * os.availableParallelism());
  const acceptAsync = promisify(accept.async) as (s: StreamPointer, rate: number, x: Float32Array, n: number) => Promise<void>;
  const decodeOnlineAsync = promisify(decodeOnline.async) as (r: unknown, s: StreamPointer) => Promise<void>;
  const decodeKeywordAsync = promisify(decodeKeyword.async) as (r: unknown, s: StreamPointer) => Promise<void>;
  const checked = (p: StreamPointer, what: string): StreamPointer => {
    if (p === null) throw new Error(`sherpa-onnx could not create a ${what}`);
    return p;
  };

  api = {
    createOnlineStream: (r) => checked(createOnline(r.handle), 'recognizer stream'),
    createKeywordStream: (k) => checked(createKeyword(k.handle), 'keyword stream'),
    destroyStream: (s) => destroy(s),
    acceptWaveform: (s, rate, x) => jobs(() => acceptAsync(s, rate, x, x.length)),
    inputFinished: (s) => finished(s),
    onlineReady: (r, s) => onlineReady(r.handle, s) !== 0,
    decodeOnline: (r, s) => jobs(() => decodeOnlineAsync(r.handle, s)),
    isEndpoint: (r, s) => isEndpoint(r.handle, s) !== 0,
    resetOnline: (r, s) => resetOnline(r.handle, s),
    onlineResultJson: (r, s) => onlineJson(r.handle, s) as string,
    keywordReady: (k, s) => keywordReady(k.handle, s) !== 0,
    decodeKeyword: (k, s) => jobs(() => decodeKeywordAsync(k.handle, s)),
    resetKeyword: (k, s) => resetKeyword(k.handle, s),
    keywordResultJson: (k, s) => keywordJson(k.handle, s) as string,
  };
  return api;
}

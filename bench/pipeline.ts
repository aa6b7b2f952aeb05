/** Signal analysis alone: VAD, segmentation, prosody, emotion, silence and over-talk. */
import { renderCallByName } from '../test/support/calls.js';
import { analyzeRendered, detectedSpans, truthSpans } from '../test/support/analysis.js';
import { defaultConfig } from '../provisioning/config.js';
import { CHANNELS } from '../edge/events.js';
import { percentile, r } from './stats.js';

const CALLS = ['en-basic', 'en-silence', 'en-overtalk', 'en-agitated', 'en-calm', 'en-8k-mulaw', 'zh-basic', 'zh-agitated'];
const CONCURRENT_CALLS = 8;


export async function pipelineBench(): Promise<Record<string, unknown>> {
  const config = defaultConfig();
  const rendered = await Promise.all(CALLS.map(renderCallByName));
  await analyzeRendered(rendered[0]); // warm-up: model load and JIT are not per-call costs

  // One call at a time: the per-channel cost of the pipeline.
  let audioSec = 0;
  let computeSec = 0;
  const boundaryErrors: number[] = [];
  let missed = 0;
  let truthUtterances = 0;
  const perCall: Record<string, unknown>[] = [];
  for (const call of rendered) {
    const t0 = process.hrtime.bigint();
    const { index } = await analyzeRendered(call);
    const sec = Number(process.hrtime.bigint() - t0) / 1e9;
    audioSec += index.durationSec;
    computeSec += sec;
    for (const channel of CHANNELS) {
      const truth = truthSpans(call.truth.turns, channel, config.analysis.vad.minPauseSec);
      const found = detectedSpans(index.utterances, channel, truth);
      truth.forEach((span, i) => {
        truthUtterances++;
        if (Number.isNaN(found[i].start)) missed++;
        else boundaryErrors.push(Math.abs(found[i].start - span.start), Math.abs(found[i].end - span.end));
      });
    }
    perCall.push({
      call: call.truth.name,
      audioSec: index.durationSec,
      rtfPerChannel: r(sec / index.durationSec / 2, 5),
      silences: index.silences.filter((s) => s.position === 'mid').length,
      overtalk: index.overtalk.length,
      emotion: index.emotion.length,
      truthAgitatedTurns: call.truth.turns.filter((t) => t.effect === 'agitated').length,
    });
  }
  const rtfPerChannel = computeSec / audioSec / 2;

  // Many calls at once in one process: what a box sustains when lines share the event loop and VAD session.
  const batch = Array.from({ length: CONCURRENT_CALLS }, (_, i) => rendered[i % rendered.length]);
  const t0 = process.hrtime.bigint();
  const results = await Promise.all(batch.map((c) => analyzeRendered(c)));
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const batchChannelSec = results.reduce((s, x) => s + x.index.durationSec * 2, 0);

  return {
    pipeline: {
      what: 'VAD + segmentation + pitch/loudness + emotion + silence/over-talk, both channels, file replay as fast as possible',
      audioSec: r(audioSec, 1),
      rtfPerChannel: r(rtfPerChannel, 5),
      channelsPerCoreRealtime: Math.floor(1 / rtfPerChannel),
      concurrent: {
        calls: CONCURRENT_CALLS,
        channelSec: r(batchChannelSec, 1),
        wallSec: r(wall, 2),
        channelsSustainedRealtime: Math.floor(batchChannelSec / wall),
      },
    },
    accuracy: {
      truthUtterances,
      missedUtterances: missed,
      boundaryErrorSec: { mean: r(boundaryErrors.reduce((s, x) => s + x, 0) / boundaryErrors.length, 3), p50: r(percentile(boundaryErrors, 0.5), 3), p95: r(percentile(boundaryErrors, 0.95), 3), max: r(Math.max(...boundaryErrors), 3) },
      perCall,
    },
  };
}

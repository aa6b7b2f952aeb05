import type { CallIndex } from './index/call-index.js';

const clock = (sec: number): string => {
  const m = Math.floor(sec / 60);
  const s = sec - m * 60;
  return `${m}:${s.toFixed(1).padStart(4, '0')}`;
};
const pct = (x: number | null): string => (x === null ? 'n/a' : `${Math.round(x * 100)}%`);

/** What a QA supervisor reads first: the shape of the call and anything that stands out, on one screen. */
export function formatSummary(index: CallIndex): string {
  const m = index.metrics;
  const lines = [
    `Call ${index.callId}: ${clock(index.durationSec)} long`,
    `  talk      agent ${m.agentTalkSec.toFixed(1)} s (${m.utteranceCount.agent} utterances), customer ${m.customerTalkSec.toFixed(1)} s (${m.utteranceCount.customer}); agent share ${pct(m.talkRatio)}`,
  ];
  if (m.longestMonologue) {
    const lm = m.longestMonologue;
    lines.push(`  monologue longest ${lm.durationSec.toFixed(1)} s by the ${lm.channel} at ${clock(lm.start)}`);
  }
  lines.push(`  silence   ${index.silences.length} stretch(es), ${m.silenceTotalSec.toFixed(1)} s in all, longest ${m.longestSilenceSec.toFixed(1)} s`);
  for (const s of index.silences) lines.push(`            ${clock(s.start)}-${clock(s.end)}  ${s.durationSec.toFixed(1)} s  (${s.position === 'mid' ? 'mid-call' : s.position === 'start' ? 'before anyone spoke' : 'after the last words'})`);
  lines.push(`  over-talk ${index.overtalk.length} time(s), ${m.overtalkTotalSec.toFixed(1)} s in all (agent interrupted ${m.overtalkCount.agent}, customer ${m.overtalkCount.customer})`);
  for (const o of index.overtalk) lines.push(`            ${clock(o.start)}-${clock(o.end)}  ${o.durationSec.toFixed(1)} s  ${o.by} talked over the ${o.by === 'agent' ? 'customer' : 'agent'}`);
  lines.push(`  emotion   ${index.emotion.length === 0 ? 'no raised stretches' : `${index.emotion.length} raised stretch(es)`}`);
  for (const e of index.emotion) lines.push(`            ${clock(e.start)}-${clock(e.end)}  ${e.channel}: pitch +${e.f0RisePct.toFixed(0)}%,${e.tempoRisePct !== undefined ? ` tempo ${e.tempoRisePct >= 0 ? '+' : ''}${e.tempoRisePct.toFixed(0)}%,` : ''} loudness +${e.loudnessRiseDb.toFixed(1)} dB (score ${e.score.toFixed(2)})`);
  const withdrawn = index.alerts.filter((a) => a.withdrawn).length;
  lines.push(`  alerts    ${index.alerts.length === 0 ? 'none' : `${index.alerts.length - withdrawn}${withdrawn ? ` (and ${withdrawn} withdrawn)` : ''}`}`);
  for (const a of index.alerts) {
    const what = a.withdrawn ? `WITHDRAWN ${a.rule} (${a.channel}, raised at ${clock(a.raisedAt)}, withdrawn at ${clock(a.revisedAt ?? a.raisedAt)}): ${a.evidence}; ${a.withdrawn}` : `${a.rule} (${a.channel}, raised at ${clock(a.raisedAt)}): ${a.evidence}`;
    lines.push(`            ${clock(a.start)}-${clock(a.end)}  ${a.severity.padEnd(8)} ${what}`);
  }
  if (index.recognition) {
    for (const [channel, r] of Object.entries(index.recognition)) {
      const band = r.band === 'narrow' && r.language ? '; telephone-band audio (8 kHz), words are missed more often' : '';
      lines.push(`  speech    ${channel}: ${r.language ? `${r.language} (${r.model}${r.script === 'pinyin' ? ', pinyin' : ''}) — ${r.reason}` : `not transcribed: ${r.reason}`}${band}`);
    }
  }
  if (index.keywords.length > 0) {
    lines.push(`  watched   ${index.keywords.length} phrase hit(s)`);
    for (const k of index.keywords) lines.push(`            ${clock(k.start)}  ${k.channel}: "${k.term}"`);
  }
  const spoken = index.utterances.filter((u) => u.text);
  if (spoken.length > 0) {
    lines.push('  transcript');
    for (const u of spoken) lines.push(`            ${clock(u.start)} ${u.channel.padEnd(8)} ${u.text}`);
  }
  return lines.join('\n');
}

import t from 'tap';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveConfig } from '../provisioning/config.js';
import { analyzeRecording } from '../edge/analyze.js';
import { loadSpeechModels } from '../edge/speech-setup.js';
import { sharedVad } from './support/analysis.js';
import { configWithRules } from '../edge/rules/setup.js';
import { callTracks, renderCallByName, writeStereo16k } from './support/calls.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.EARSHOT_SHARED ?? path.resolve(repoRoot, '..', 'shared');
const fraudCall = { stereo: path.join(repoRoot, 'demo', 'demo-fraud-zh.wav') };

/** A call as a box set up with `watch` analyses it: the packs' phrases watched, the shared speech models loaded. */
async function analyzeWith(call: { stereo: string }, watch: Record<string, unknown>) {
  const site = resolveConfig({ models: { root: path.join(shared, 'models') }, watch });
  const { config, rules } = configWithRules(site);
  const speechModels = await loadSpeechModels(config);
  const { index } = await analyzeRecording(call, { config, rules, vadModel: await sharedVad(), speechModels });
  return { index, speechModels };
}

t.test('watch.channels: spotting only the agent side keeps the agent hits and the alerts they raise', async (t) => {
  const results = [];
  for (const channels of [['agent', 'customer'], ['agent']]) results.push((await analyzeWith(fraudCall, { channels })).index);
  const [both, agentOnly] = results;
  const spotted = (i: typeof both, channel: string) => i.keywords.filter((k) => k.channel === channel && k.source === 'kws').map((k) => `${k.term}@${k.start}`);
  t.ok(spotted(both, 'customer').length > 0, 'with both sides, the customer’s "验证码" is spotted');
  t.same(spotted(agentOnly, 'customer'), [], 'with the agent side only, no customer hit comes from a spotter');
  t.same(spotted(agentOnly, 'agent'), spotted(both, 'agent'), 'the agent side is spotted exactly as before');
  t.ok(both.alerts.some((a) => a.rule === 'credential-request'), 'the agent’s credential requests are alerted');
  t.same(agentOnly.alerts.map((a) => a.rule), both.alerts.map((a) => a.rule), 'and the compliance alerts are the same');
});

t.test('language auto does not hold an opening sentence back: its watched phrase alerts while it is being said', async (t) => {
  // The agent opens with a long sentence that promises a guaranteed return 7.9 s in; the first pause comes later.
  const { index } = await analyzeWith({ stereo: path.join(repoRoot, 'demo', 'demo-invest-en.wav') }, {});
  const first = index.alerts.find((a) => a.rule === 'guaranteed-return');
  t.ok(first, 'the guarantee is alerted');
  t.ok(first!.start < 9, `it is the opening one (at ${first!.start} s)`);
  t.ok(first!.raisedAt - first!.end < 0.6, `raised ${(first!.raisedAt - first!.end).toFixed(2)} s after the phrase, not at the end of the sentence`);
  t.match(index.recognition?.agent.reason ?? '', /auto/, 'the language was decided automatically');
});

t.test('a spotter group decodes its phrases apart: retuning the closings there leaves every other phrase’s hits as they were', async (t) => {
  const closings = ['再见', '拜拜', '感谢您的来电', '祝您生活愉快'];
  const run = async (closing: { threshold?: number; boost?: number; group?: string }) => {
    const { index, speechModels } = await analyzeWith(fraudCall, { tuning: Object.fromEntries(closings.map((p) => [p, closing])) });
    const others = index.keywords.filter((k) => k.source === 'kws' && !closings.includes(k.term)).map((k) => `${k.channel} ${k.term}@${k.start}`);
    return { spotters: speechModels.spotters.zh?.length ?? 0, others };
  };
  const eager = { threshold: 0.01, boost: 8 };
  const together = await run({});
  t.equal(together.spotters, 1, 'by default every Mandarin phrase is decoded by one spotter');
  t.ok(together.others.some((h) => h.includes('验证码')), `the compliance phrases are spotted (${together.others.join(', ')})`);
  t.not((await run(eager)).others.join(', '), together.others.join(', '), 'there, making the closings eager moves the compliance phrases’ hits');
  const apart = await run({ group: 'closings' });
  t.equal(apart.spotters, 2, 'grouped, the closings are a spotter of their own');
  t.same((await run({ ...eager, group: 'closings' })).others, apart.others, 'and the same retuning leaves every other phrase heard exactly as before');
});

t.test('watch.phases: 2 hears phrases one spotter stream misses on a call, each occurrence once', async (t) => {
  // The same call placed 100 and 200 ms later: where its turns fall on the spotter's 0.32 s chunks is chance.
  const call = await renderCallByName('spotter-phases-zh');
  const { tracks } = callTracks(call);
  const said = ['再见', '保本', '祝您生活愉快', '感谢您的来电'];
  const dir = t.testdir({});
  const heard: Record<number, number> = { 1: 0, 2: 0 };
  for (const lead of [0.1, 0.2]) {
    const file = writeStereo16k(path.join(dir, `lead-${lead}.wav`), [tracks.agent, tracks.customer], lead);
    const spotted: Record<number, string[]> = {};
    for (const phases of [1, 2]) {
      const { index } = await analyzeWith({ stereo: file }, { phases });
      spotted[phases] = index.keywords.filter((k) => k.source === 'kws').map((k) => k.term);
      heard[phases] += spotted[phases].length;
    }
    t.comment(`${lead} s later: one phase ${spotted[1].join(', ') || '-'}; two ${spotted[2].join(', ') || '-'}`);
    t.same(spotted[2].filter((x) => !said.includes(x)), [], `${lead} s: no phrase that was not said`);
    t.same(spotted[1].filter((x) => !spotted[2].includes(x)), [], `${lead} s: what one phase hears, two hear`);
    t.equal(new Set(spotted[2]).size, spotted[2].length, `${lead} s: each phrase once`);
  }
  t.ok(heard[2] > heard[1], `two phases hear more of the call's phrases (${heard[2]} of 8 against ${heard[1]})`);
});

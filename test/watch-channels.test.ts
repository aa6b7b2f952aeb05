import t from 'tap';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveConfig } from '../provisioning/config.js';
import { analyzeRecording } from '../edge/analyze.js';
import { loadSpeechModels } from '../edge/speech-setup.js';
import { sharedVad } from './helpers/analysis.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.EARSHOT_SHARED ?? path.resolve(repoRoot, '..', 'shared');

t.test('watch.channels: spotting only the agent side keeps the agent hits and the alerts they raise', async (t) => {
  const call = { stereo: path.join(repoRoot, 'demo', 'demo-fraud-zh.wav') };
  const results = [];
  for (const channels of [['agent', 'customer'], ['agent']]) {
    const config = resolveConfig({ models: { root: path.join(shared, 'models') }, watch: { channels } });
    results.push((await analyzeRecording(call, { config, vadModel: await sharedVad(), speechModels: await loadSpeechModels(config) })).index);
  }
  const [both, agentOnly] = results;
  const spotted = (i: typeof both, channel: string) => i.keywords.filter((k) => k.channel === channel && k.source === 'kws').map((k) => `${k.term}@${k.start}`);
  t.ok(spotted(both, 'customer').length > 0, 'with both sides, the customer’s "验证码" is spotted');
  t.same(spotted(agentOnly, 'customer'), [], 'with the agent side only, no customer hit comes from a spotter');
  t.same(spotted(agentOnly, 'agent'), spotted(both, 'agent'), 'the agent side is spotted exactly as before');
  t.same(agentOnly.alerts.map((a) => a.rule), both.alerts.map((a) => a.rule), 'and the compliance alerts are the same');
});

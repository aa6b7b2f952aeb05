// Rules end to end from Mandarin audio: phrases go through the pinyin transcript and the keyword spotter.
// espeak-ng's Mandarin is rough (measured keyword recall ~0.55), so the calls say phrases the models were
// found to catch (不知道, 你自己看, 密码, 验证码, 保本, 保证收益, 推荐股票, 补偿, 银行卡, 感谢您的来电);
// 退款, 稳赚 and 内幕消息 are in the packs but are rarely heard in espeak's voice.
import t from 'tap';
import { RulePackRegistry } from '../edge/rules/pack.js';
import { ruleCalls, rulesConfig, runRuleCall, testRuleCalls } from './support/rule-calls.js';
import { loadSpeechModels } from '../edge/speech-setup.js';

const rules = RulePackRegistry.withBuiltins().rules();
const config = rulesConfig(rules);
const calls = ruleCalls().filter((c) => c.language === 'zh');

t.test('every rule call of this language has its twin', async (t) => {
  const covered = new Set(calls.map((c) => c.rule));
  for (const rule of covered) {
    t.ok(calls.some((c) => c.rule === rule && c.violation) && calls.some((c) => c.rule === rule && !c.violation), `${rule}: violation and clean twin`);
  }
  t.same([...covered].sort(), ['late-hangup', 'forbidden-phrase', 'credential-request', 'guaranteed-return', 'stock-tip', 'refund-lure'].sort(), 'rules covered');
});

await testRuleCalls(t, calls, rules, config, 'zh');

t.test('不知道 is left to the transcript (the pack tunes it spotter: false); a site can give it back to the spotter', async (t) => {
  const call = calls.find((c) => c.name === 'rule-forbidden-phrase-zh-hit')!;
  const heardBy = async (cfg: typeof config) => {
    const run = await runRuleCall(call, rules, cfg, await loadSpeechModels(cfg));
    return { sources: [...new Set(run.index.keywords.filter((k) => k.term === '不知道').map((k) => k.source))].sort(), rules: run.alerts.map((a) => a.rule) };
  };
  t.equal(config.watch.tuning['不知道']?.spotter, false, 'the built-in pack turns the spotter off for it');
  const asShipped = await heardBy(config);
  t.same(asShipped.sources, ['asr'], 'heard in the transcript, not by the spotter');
  t.ok(asShipped.rules.includes('forbidden-phrase'), 'and the rule still raises its alert');
  const site = { ...config, watch: { ...config.watch, tuning: { ...config.watch.tuning, 不知道: { spotter: true } } } };
  t.same((await heardBy(site)).sources, ['kws'], "with the site's spotter: true the spotter hears it first (the transcript adds nothing it heard)");
});

// Rules end to end from Mandarin audio: phrases go through the pinyin transcript and the keyword spotter.
// espeak-ng's Mandarin is rough (measured keyword recall ~0.55), so the calls say phrases the models were
// found to catch (不知道, 你自己看, 密码, 验证码, 保本, 保证收益, 推荐股票, 补偿, 银行卡, 感谢您的来电);
// 退款, 稳赚 and 内幕消息 are in the packs but are rarely heard in espeak's voice.
import t from 'tap';
import { RulePackRegistry } from '../edge/rules/pack.js';
import { ruleCalls, rulesConfig, testRuleCalls } from './support/rule-calls.js';

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

// The rule engine on hand-made event streams: fast, exact about timing, no audio.
import t from 'tap';
import type { CallEndKind, Channel, PipelineEvent } from '../edge/events.js';
import { CallState, callStateOptions } from '../edge/call/call-state.js';
import { defaultConfig } from '../provisioning/config.js';
import { RuleEngine } from '../edge/rules/engine.js';
import { RulePackRegistry, parseRulePack } from '../edge/rules/pack.js';
import type { Alert, CompiledRule } from '../edge/rules/types.js';
import { buildCallIndex } from '../edge/index/call-index.js';
import { callIndexProblems } from '../edge/index/validate.js';
import { formatSummary } from '../edge/summary.js';
import { formatAlert } from '../edge/run/run-command.js';

const LAG = 0.8;
const builtins = RulePackRegistry.withBuiltins().rules();
const only = (...ids: string[]) => builtins.filter((r) => ids.includes(r.id));
/** As `only`, with late-hangup raised after a heard closing alone (openLineSec 0). */
const closingOnly = (...ids: string[]) => only(...ids).map((r) => (r.id === 'late-hangup' ? { ...r, params: { ...r.params, openLineSec: 0 } } : r));

/** A call as the pipeline would report it; emittedAt follows the pipeline's lags unless given. */
class Call {
  readonly events: PipelineEvent[] = [];
  say(channel: Channel, start: number, end: number, text?: string, opts: { zh?: boolean; wordsAt?: number } = {}): this {
    this.events.push({ type: 'utterance.start', channel, start, emittedAt: start + 0.3 });
    this.events.push({ type: 'utterance.end', channel, start, end, loudnessDb: -25, f0Hz: 150, emittedAt: end + 0.5 });
    if (text) {
      const ws = text.split(/\s+/);
      const step = (end - start) / ws.length;
      this.events.push({
        type: 'words',
        channel,
        language: opts.zh ? 'zh' : 'en',
        script: opts.zh ? 'pinyin' : 'latin',
        start,
        end,
        text,
        words: ws.map((w, i) => ({ w, start: start + i * step, end: start + (i + 1) * step, conf: 0.9 })),
        confidence: 0.9,
        emittedAt: opts.wordsAt ?? end + 0.9,
      });
    }
    return this;
  }
  keyword(channel: Channel, term: string, start: number, end: number, emittedAt = end + 0.3): this {
    this.events.push({ type: 'keyword', channel, term, start, end, score: 0.1, source: 'kws', emittedAt });
    return this;
  }
  add(e: PipelineEvent): this {
    this.events.push(e);
    return this;
  }
  end(durationSec: number, endedBy?: CallEndKind): PipelineEvent[] {
    // at the hang-up the pipeline flushes what is still open, then reports the end
    const events = this.events.map((e) => ({ ...e, emittedAt: Math.min(e.emittedAt, durationSec) }));
    return [...events.sort((a, b) => a.emittedAt - b.emittedAt), { type: 'call.end', durationSec, emittedAt: durationSec, ...(endedBy ? { endedBy } : {}) }];
  }
}

/**
 * Feeds events in order; with ticks, also advances the clock every 100 ms as live capture does. `call`: the
 * call's state, for a line configured otherwise than the default (auto segmentation).
 */
function run(rules: CompiledRule[], events: PipelineEvent[], ticks = true, call?: CallState): Alert[] {
  const engine = new RuleEngine(rules, { decisionLagSec: LAG, ...(call ? { call } : {}) });
  const alerts: Alert[] = [];
  let clock = 0;
  for (const e of events) {
    if (ticks) for (; clock + 0.1 <= e.emittedAt; clock += 0.1) alerts.push(...engine.tick(clock + 0.1));
    alerts.push(...engine.push(e));
  }
  alerts.push(...engine.finish());
  return alerts;
}

t.test('a forbidden phrase in the agent words raises one alert when the words arrive, with neighbours as evidence', async (t) => {
  const events = new Call()
    .say('agent', 0.5, 3, 'good morning how can I help')
    .say('customer', 3.5, 7, 'my sofa arrived broken and I am upset')
    .say('agent', 7.5, 12, 'please calm down that is not my problem at all', { wordsAt: 12.9 })
    .say('customer', 12.5, 14, 'calm down yourself')
    .end(20);
  const alerts = run(only('forbidden-phrase'), events);
  t.equal(alerts.length, 1, 'both phrases of one utterance are one piece of evidence');
  const a = alerts[0];
  t.match(a, { id: 'forbidden-phrase-1', rule: 'forbidden-phrase', severity: 'warning', channel: 'agent', raisedAt: 12.9 });
  t.ok(a.start >= 7.5 && a.end <= 12, `span ${a.start}-${a.end} inside the utterance`);
  t.match(a.evidence, /please calm down that is not my problem/);
  t.notOk(alerts.some((x) => x.channel === 'customer'), 'the customer saying it is not the agent');
});

t.test('a spotter hit and the transcript of the same words are the same evidence', async (t) => {
  const events = new Call()
    .say('agent', 1, 6, 'please read me the verification code and your password', { wordsAt: 8 })
    .keyword('agent', 'verification code', 2.9, 4.0, 4.3)
    .keyword('agent', 'password', 5.2, 5.9, 6.2)
    .end(12);
  const alerts = run(only('credential-request'), events);
  t.same(
    alerts.map((a) => [a.id, a.revision ?? 1, a.revisedAt ?? a.raisedAt]),
    [
      ['credential-request-1', 1, 4.3],
      ['credential-request-1', 2, 6.2],
    ],
    'raised on the first spotter hit, revised on the second (same utterance), the later transcript adds nothing new',
  );
  t.match(alerts[0].evidence, /verification code.*keyword spotter/);
});

t.test('two phrases of one rule in one utterance are one alert, revised to quote both; in two utterances, two alerts', async (t) => {
  const tip = 'we have inside information so you should buy this stock today';
  // The spotter hears the first phrase while the utterance is still going (its end not known yet), a little
  // before the VAD's start; the words, the second phrase among them, come once the recogniser has finalised.
  const oneUtterance = new Call().say('agent', 1, 6, tip, { wordsAt: 7 }).keyword('agent', 'inside information', 1.8, 2.9, 3.2).end(12);
  const engine = new RuleEngine(only('stock-tip'), { decisionLagSec: LAG });
  const published = oneUtterance.flatMap((e) => engine.push(e));
  t.match(published, [
    { id: 'stock-tip-1', raisedAt: 3.2, start: 1.8, end: 2.9, evidence: /"inside information" \(keyword spotter\)/ },
    { id: 'stock-tip-1', revision: 2, revisedAt: 7, raisedAt: 3.2, start: 1.8, end: 2.9 },
  ]);
  t.equal(published.length, 2, 'no second alert for the second phrase');
  t.equal(engine.alerts.length, 1);
  t.match(engine.alerts[0].evidence, /inside information.*buy this stock/, 'the revision quotes both phrases');

  const spotterEarly = new Call().say('agent', 1, 4, 'inside information so buy this stock').keyword('agent', 'inside information', 0.7, 1.6).end(10);
  t.equal(run(only('stock-tip'), spotterEarly).filter((a) => !a.revision).length, 1, 'a spotter hit just before the VAD start is in the utterance');

  const twoUtterances = new Call()
    .say('agent', 1, 3.5, 'we have inside information')
    .say('agent', 4.5, 7, 'so you should buy this stock today')
    .end(12);
  const alerts = run(only('stock-tip'), twoUtterances);
  t.same(
    alerts.map((a) => [a.id, a.revision ?? 1]),
    [
      ['stock-tip-1', 1],
      ['stock-tip-2', 1],
    ],
    'the same phrases in two utterances are two alerts',
  );
  t.match(alerts[1].evidence, /buy this stock/);
  t.notMatch(alerts[1].evidence, /inside information/);
});

t.test('Mandarin phrases match the pinyin transcript phonetically, and spotter hits by their characters', async (t) => {
  const events = new Call()
    .say('agent', 1, 4, 'wǒ bù zhī dào nǐ zì jǐ kàn ba', { zh: true })
    .say('agent', 10, 13, 'qǐng gào sù wǒ nín de mì mǎ', { zh: true })
    .keyword('agent', '验证码', 14, 15)
    .end(20);
  const alerts = run(only('forbidden-phrase', 'credential-request'), events);
  t.same(
    alerts.map((a) => a.rule),
    ['forbidden-phrase', 'credential-request', 'credential-request'],
  );
  t.match(alerts[0].evidence, /bù zhī dào/);
});

t.test('evidence is redacted', async (t) => {
  const events = new Call().say('agent', 1, 8, 'okay so your verification code is four five six seven eight right').end(12);
  const [a] = run(only('credential-request'), events);
  t.match(a.evidence, /verification code is \* \* \* \*/);
  t.notMatch(a.evidence, /four|five|six|seven|eight/);
});

t.test('refund-lure needs the refund and the agent asking for the card within the window', async (t) => {
  const lure = new Call()
    .say('agent', 1, 5, 'we are issuing a refund today')
    .say('customer', 6, 7, 'oh nice')
    .say('agent', 8, 12, 'I need the number on your bank card', { wordsAt: 13 })
    .say('agent', 14, 17, 'the bank card number please')
    .end(20);
  const alerts = run(only('refund-lure'), lure);
  t.equal(alerts.length, 1, 'card talk within the cooldown is the same lure');
  t.match(alerts[0], { rule: 'refund-lure', severity: 'critical', raisedAt: 13 });
  t.match(alerts[0].evidence, /refund.*bank card/);

  const refundOnly = new Call().say('agent', 1, 5, 'we are issuing a refund today').say('agent', 8, 12, 'it goes back to how you paid').end(20);
  t.same(run(only('refund-lure'), refundOnly), []);
  const farApart = new Call().say('agent', 1, 5, 'we are issuing a refund today').say('agent', 90, 94, 'what is your bank card number').end(100);
  t.same(run(only('refund-lure'), farApart), [], 'more than 60 s apart');
  const customerAsksCard = new Call().say('agent', 1, 5, 'we are issuing a refund today').say('customer', 8, 12, 'do you need my bank card').end(20);
  t.same(run(only('refund-lure'), customerAsksCard), [], 'the card request must come from the agent');
});

t.test('dead air: raised as soon as the silence passes the threshold, and only mid-call', async (t) => {
  const events = new Call().say('agent', 0.5, 3, 'let me check that').say('agent', 16, 19, 'thank you for waiting').say('customer', 19.5, 21, 'thanks').end(23);
  const silence: PipelineEvent = { type: 'silence', start: 3, end: 16, position: 'mid', emittedAt: 16.3 };
  const withSilence = [...events, silence].sort((a, b) => a.emittedAt - b.emittedAt);
  const live = run(only('dead-air'), withSilence);
  t.equal(live.length, 1);
  t.match(live[0], { rule: 'dead-air', channel: 'both', start: 3, end: 13 });
  t.ok(live[0].raisedAt >= 13 + LAG && live[0].raisedAt <= 13 + LAG + 0.11, `raised at ${live[0].raisedAt}, before the silence ended`);

  const noTicks = run(only('dead-air'), withSilence, false);
  t.match(noTicks, [{ start: 3, end: 16, raisedAt: 16.3 }], 'without ticks, from the silence event');

  const short = new Call().say('agent', 0.5, 3).say('agent', 12, 14).end(16);
  t.same(run(only('dead-air'), short), [], '9 s is not dead air');
  const atEnd = new Call().say('agent', 0.5, 3).end(13.5);
  t.same(run(only('dead-air'), atEnd), [], 'the quiet after the last words is not dead air once the call has ended');
});

t.test('late hang-up: a closing, then the line stays open', async (t) => {
  const base = () =>
    new Call()
      .say('agent', 0.5, 4, 'thank you for calling northwind how can I help')
      .say('customer', 4.5, 8, 'I wanted to check my bill')
      .say('agent', 8.5, 12, 'it is paid have a lovely day goodbye');
  const late = run(only('late-hangup', 'dead-air'), base().end(25));
  t.equal(late.length, 1, 'the silence after the closing is late-hangup, not dead air');
  t.match(late[0], { rule: 'late-hangup', start: 12, end: 20 });
  t.ok(late[0].raisedAt < 25, `raised at ${late[0].raisedAt}, before the hang-up`);
  t.match(late[0].evidence, /goodbye/);

  t.match(run(only('late-hangup'), base().end(25), false), [{ rule: 'late-hangup', raisedAt: 25 }], 'without ticks, at the hang-up');
  t.same(run(only('late-hangup'), base().end(15)), [], 'hang-up 3 s after the goodbye');
  const greetingOnly = new Call().say('agent', 0.5, 4, 'thank you for calling northwind how can I help').end(30);
  t.same(run(closingOnly('late-hangup'), greetingOnly).map((a) => a.rule), [], 'the greeting is not a closing');
  const reopened = base().say('customer', 13, 17, 'oh wait one more thing about roaming charges please').end(30);
  t.same(run(closingOnly('late-hangup', 'dead-air'), reopened).map((a) => a.rule), ['dead-air'], 'the call went on after the goodbye');
  const shortReply = base().say('customer', 12.5, 13.2, 'bye').end(30);
  t.match(run(only('late-hangup'), shortReply), [{ rule: 'late-hangup', start: 13.2 }], 'a short reply keeps the closing, the silence counts from it');
});

t.test('a call that ends in silence was left open, closing heard or not: dead air raised live becomes late-hangup at the hang-up', async (t) => {
  // The closing was said, but the recogniser did not catch it: no words at all for the agent's last sentence.
  const unheard = () =>
    new Call()
      .say('agent', 0.5, 4, 'thank you for calling northwind how can I help')
      .say('customer', 4.5, 8, 'I wanted to check my bill')
      .say('agent', 8.5, 12);
  const sent = run(only('late-hangup', 'dead-air'), unheard().end(25));
  t.match(sent[0], { rule: 'dead-air', start: 12 }, 'while the line is silent nobody knows it is over: dead air, live');
  t.ok(sent[0].raisedAt < 25, `raised at ${sent[0].raisedAt}, before the hang-up`);
  t.match(sent.slice(1), [{ rule: 'late-hangup', start: 12, end: 20, raisedAt: 25 }, { rule: 'dead-air', revision: 2, revisedAt: 25 }], 'at the hang-up: late-hangup, and the dead air taken back');
  t.match(sent[1].evidence, /no closing heard; no speech on either side for more than 8 s from 0:12/);
  t.match(sent[2].withdrawn, /ran to the hang-up at 25\.0 s: the line was left open/);
  const final = [...new Map(sent.map((a) => [a.id, a])).values()];
  t.same(final.filter((a) => !a.withdrawn).map((a) => a.rule), ['late-hangup'], 'one alert stands for the one silence');

  t.same(run(only('late-hangup', 'dead-air'), unheard().end(21)).map((a) => a.rule), ['late-hangup'], 'ended 9 s into the silence: no dead air yet, late-hangup at the hang-up');
  t.same(run(only('late-hangup'), unheard().end(19)), [], '7 s of quiet before the hang-up is not a line left open');
  const noOpenLine = run(closingOnly('late-hangup', 'dead-air'), unheard().end(25));
  t.same(noOpenLine.map((a) => [a.rule, a.withdrawn ?? null]), [['dead-air', null]], 'openLineSec 0: without a closing heard it stays dead air');
  t.same(run(only('dead-air'), unheard().end(25)).map((a) => [a.rule, a.withdrawn ?? null]), [['dead-air', null]], 'and with no late-hangup rule enabled');

  const cut = run(only('late-hangup', 'dead-air'), unheard().end(25, 'cut'));
  t.same(cut.map((a) => [a.rule, a.withdrawn ?? null]), [['dead-air', null]], 'cut short (shutdown, fault): the call was still going, the dead air stands');
});

t.test('a line that ends calls on a quiet (call state auto): dead air when the silence breaks, never for the quiet that ends the call', async (t) => {
  const autoLine = () => new CallState({ ...callStateOptions(defaultConfig().analysis), endsOnQuietSec: 12 });
  const talk = () => new Call().say('agent', 0.5, 4, 'thank you for calling northwind how can I help').say('customer', 4.5, 8, 'I wanted to check my bill');
  // The call ends on the quiet itself: it says nothing of the line, and no alert at all goes out for it.
  t.same(run(only('late-hangup', 'dead-air'), talk().end(20, 'quiet'), true, autoLine()), [], 'ended by auto segmentation: no dead air flashed before the end, no late hang-up');
  const broken = run(only('dead-air'), talk().say('agent', 19, 22, 'sorry I am back').add({ type: 'silence', start: 8, end: 19, position: 'mid', emittedAt: 19.3 }).end(30, 'quiet'), true, autoLine());
  t.match(broken, [{ rule: 'dead-air', start: 8, raisedAt: 19.3 }], 'a silence of 11 s that broke in speech: dead air, raised as it broke');
  t.equal(broken.length, 1, 'raised once, not withdrawn');
});

t.test('silent agent: after connect, and while the customer keeps talking', async (t) => {
  const connect = new Call().say('customer', 0.5, 2, 'hello is this support').say('customer', 4.5, 6, 'hello anyone there').say('agent', 9, 12, 'sorry how can I help').end(15);
  const a = run(only('silent-agent'), connect);
  t.equal(a.length, 1, 'one alert for one silence of the agent');
  t.match(a[0], { rule: 'silent-agent', channel: 'agent', start: 0, end: 6 });
  t.ok(a[0].raisedAt <= 6 + LAG + 0.11, `raised at ${a[0].raisedAt}`);
  t.match(a[0].evidence, /hello is this support/);

  const greeted = new Call().say('agent', 0.5, 2, 'northwind hello').say('customer', 2.5, 6).say('agent', 6.5, 9).end(12);
  t.same(run(only('silent-agent'), greeted), []);

  const unanswered = new Call()
    .say('agent', 0.5, 2, 'hello')
    .say('customer', 2.5, 5, 'I have a question about my bill')
    .say('customer', 7, 9, 'hello are you there')
    .say('customer', 11, 13, 'hello')
    .say('agent', 16, 18, 'sorry')
    .end(20);
  t.match(run(only('silent-agent'), unanswered), [{ rule: 'silent-agent', start: 5, end: 11 }]);
  const monologue = new Call().say('agent', 0.5, 2).say('customer', 2.5, 8).say('customer', 8.6, 14).say('agent', 14.5, 16).end(18);
  t.same(run(only('silent-agent'), monologue), [], 'a customer explaining with short pauses is not ignored');
});

t.test('hurried hang-up: the call ends on the customer', async (t) => {
  const cut = new Call().say('agent', 0.5, 3).say('customer', 3.5, 10, 'I also wanted to ask about roaming because').end(10);
  t.match(run(only('hurried-hangup'), cut), [{ rule: 'hurried-hangup', channel: 'customer', start: 3.5, end: 10, raisedAt: 10 }]);
  t.match(run(only('hurried-hangup'), cut)[0].evidence, /still speaking.*roaming because/);
  const boxCut = new Call().say('agent', 0.5, 3).say('customer', 3.5, 10, 'I also wanted to ask about roaming because').end(10, 'cut');
  t.same(run(only('hurried-hangup'), boxCut), [], 'the box cut the call (shutdown, fault): nobody hung up on the customer');
  const quick = new Call().say('agent', 0.5, 3).say('customer', 3.5, 9).end(9.6);
  t.equal(run(only('hurried-hangup'), quick).length, 1, '0.6 s after the last words');
  const fine = new Call().say('customer', 0.5, 3).say('agent', 3.5, 6, 'goodbye').end(8.5);
  t.same(run(only('hurried-hangup'), fine), []);
});

t.test('customer agitation from emotion events above the threshold', async (t) => {
  const emo = (channel: Channel, score: number, start: number): PipelineEvent => ({ type: 'emotion', channel, start, end: start + 3, score, f0RisePct: 30, tempoRisePct: 0, loudnessRiseDb: 7, emittedAt: start + 3.5 });
  const events = new Call().say('customer', 1, 10, 'this is ridiculous I am not paying').add(emo('customer', 0.8, 5)).add(emo('agent', 0.9, 12)).add(emo('customer', 0.4, 15)).end(20);
  const alerts = run(only('customer-agitation'), events);
  t.match(alerts, [{ rule: 'customer-agitation', channel: 'customer', start: 5, end: 8, raisedAt: 8.5 }, { id: alerts[0]?.id, revision: 2 }]);
  t.equal(alerts.length, 2, 'one alert (the agent and the calm stretch raise nothing), sent again once its words are in');
  t.match(alerts[0].evidence, /pitch \+30%.*score 0\.80\)$/);
  t.match(alerts[1].evidence, /score 0\.80\): ".*ridiculous.*"/);
});

t.test('agent interruptions: raised while the over-talk goes on, once', async (t) => {
  const events = new Call().say('customer', 1, 8, 'I ordered a sofa two weeks ago and it has not arrived').say('agent', 6, 10, 'yes I can see it here').end(12);
  const overtalk: PipelineEvent = { type: 'overtalk', start: 6, end: 8, by: 'agent', emittedAt: 8.5 };
  const all = [...events, overtalk].sort((a, b) => a.emittedAt - b.emittedAt);
  const alerts = run(only('agent-interrupts'), all);
  t.equal(alerts.length, 1);
  t.match(alerts[0], { rule: 'agent-interrupts', channel: 'agent', start: 6, end: 7 });
  t.ok(alerts[0].raisedAt < 8.5, `raised at ${alerts[0].raisedAt}, before the over-talk ended`);
  t.match(run(only('agent-interrupts'), all, false), [{ start: 6, end: 8, raisedAt: 8.5 }], 'without ticks, from the overtalk event');
  const customerCutsIn = new Call().say('agent', 1, 8).say('customer', 6, 10).end(12);
  t.same(run(only('agent-interrupts'), customerCutsIn), []);
  const brief = new Call().say('customer', 1, 8).say('agent', 7.5, 10).end(12);
  t.same(run(only('agent-interrupts'), brief), [], '0.5 s of over-talk');
  // The customer pauses 0.7 s after the agent cut in, then goes on: still the agent's interruption.
  const throughPause = new Call().say('customer', 1, 6.5).say('agent', 6, 10).say('customer', 7.2, 9).end(12);
  t.match(run(only('agent-interrupts'), throughPause), [{ channel: 'agent', start: 6, end: 7 }], 'the resumed sentence is not the customer cutting in');
  const apart = new Call().say('customer', 1, 6.5).say('agent', 6, 10).say('customer', 8, 9).end(12);
  t.same(run(only('agent-interrupts'), apart), [], 'overlaps 1.5 s apart are two, each too short');
});

const custom = (yaml: string): CompiledRule[] => parseRulePack(`pack: site\nrules:\n${yaml}`, 'site.yml').rules;

t.test('custom rules: a query with metric conditions, windows, and absence', async (t) => {
  const rules = custom(`
  - id: cancel-after-long-call
    severity: info
    query: 'customer:(cancel OR 取消)'
    when:
      metrics:
        durationSec: { min: 30 }
  - id: no-goodbye
    severity: info
    query: 'NOT agent:(goodbye OR 再见)'
  - id: early-complaint
    severity: warning
    phrases: { en: [complaint] }
    when:
      window: { to: 10 }
  - id: long-monologue
    severity: info
    when:
      metrics:
        longestMonologueSec: { min: 20 }
  - id: agent-dominates
    severity: info
    when:
      metrics:
        talkRatio: { min: 0.7 }
`);
  const events = new Call()
    .say('customer', 1, 4, 'I want to make a complaint')
    .say('customer', 5, 8, 'and cancel my contract', { wordsAt: 9 })
    .say('agent', 9, 33, 'let me explain our offers')
    .say('customer', 34, 36, 'another complaint')
    .end(40);
  const alerts = run(rules, events);
  const byRule = (id: string) => alerts.filter((a) => a.rule === id);
  t.equal(byRule('cancel-after-long-call').length, 1, 'the words matched early, the metric later');
  t.ok(byRule('cancel-after-long-call')[0].raisedAt >= 30, `raised once the call was 30 s long (${byRule('cancel-after-long-call')[0].raisedAt})`);
  t.match(byRule('cancel-after-long-call')[0].evidence, /cancel my contract.*durationSec/);
  t.match(byRule('no-goodbye'), [{ raisedAt: 40, start: 0, end: 40 }], 'absence is decided at the hang-up');
  t.ok(byRule('early-complaint')[0].start < 10, 'only the complaint inside the window');
  t.equal(byRule('early-complaint').length, 1);
  t.equal(byRule('long-monologue').length, 1);
  t.ok(byRule('long-monologue')[0].raisedAt < 33, 'a growing metric is judged live');
  t.match(byRule('agent-dominates'), [{ raisedAt: 40 }], 'a ratio is only known at the end');

  // The box cut the call short (shutdown, fault): what only its end can decide is not decided.
  const cut = new Call().say('customer', 1, 4, 'I want to make a complaint').say('customer', 5, 8, 'and cancel my contract', { wordsAt: 9 }).say('agent', 9, 33, 'let me explain our offers').say('customer', 34, 36, 'another complaint').end(40, 'cut');
  const cutRules = run(rules, cut).map((a) => a.rule);
  t.same(cutRules.filter((r) => r === 'no-goodbye' || r === 'agent-dominates'), [], 'cut short: no absence, no ratio judged on the part heard');
  t.same([...new Set(cutRules)].sort(), ['cancel-after-long-call', 'early-complaint', 'long-monologue'], 'what was decided while the call went on stands');
});

t.test("evidence is redacted in the conversation: a PIN the customer says after the agent asks is masked in the quote", async (t) => {
  // The quote alone ("hang on it is forty three twenty one") has no cue: redacted as a sentence, it keeps the PIN.
  const rules = custom(`
  - id: customer-hesitates
    severity: info
    query: 'customer:"hang on"'
`);
  const events = new Call()
    .say('agent', 1, 3, 'what is your pin number')
    .say('customer', 4, 8, 'hang on it is forty three twenty one')
    .end(12);
  const [a] = run(rules, events);
  t.match(a, { rule: 'customer-hesitates', channel: 'customer' }, 'the rule quotes the customer');
  t.match(a.evidence, /hang on it is \* \* \*/, 'the answer is masked as the index masks it');
  t.notMatch(a.evidence, /forty|three|twenty|one/);
  const noAsk = run(rules, new Call().say('agent', 1, 3, 'how was your weekend').say('customer', 4, 8, 'hang on it is forty three twenty one').end(12));
  t.match(noAsk[0].evidence, /forty three twenty/, 'with no request before it, the same words are an ordinary number and stay');

  // The site's spotter heard the agent ask for the password: the answer that follows is masked whole.
  const spotted = new Call()
    .say('agent', 1, 3, 'and the online one please')
    .keyword('agent', 'password', 2, 3)
    .say('customer', 4, 8, 'hang on it is bluebird forty')
    .end(12);
  const [s] = run(rules, spotted);
  t.match(s.evidence, /"\*{4} \*{2} \*{2} \*{2} /, 'a spotted request masks the answer in the quote too');
  t.notMatch(s.evidence, /bluebird|forty/);
});

t.test('ids are deterministic per call and nothing is raised after the end', async (t) => {
  const events = new Call().say('agent', 1, 3, 'calm down').say('agent', 20, 22, 'read the manual').end(30);
  const a = run(only('forbidden-phrase'), events).map((x) => x.id);
  const b = run(only('forbidden-phrase'), events).map((x) => x.id);
  t.same(a, ['forbidden-phrase-1', 'forbidden-phrase-2']);
  t.same(a, b);
  const engine = new RuleEngine(builtins, { decisionLagSec: LAG });
  for (const e of events) engine.push(e);
  t.same(engine.push({ type: 'keyword', channel: 'agent', term: 'password', start: 31, end: 32, score: 1, source: 'kws', emittedAt: 33 }), []);
  t.same(engine.finish(), []);
});

t.test('query rules are re-evaluated only on new words, cheaply', async (t) => {
  // Counted, not timed (the speed is bench/rules.ts's): how often a rule reads the whole call so far, the cost
  // that grows with the call. New words are first matched on their own; the whole call is read again only
  // when they hold one of the rule's terms.
  class CountingCall extends CallState {
    reads = 0;
    override searchable() {
      this.reads++;
      return super.searchable();
    }
  }
  const call = new CountingCall();
  const script = new Call();
  for (let i = 0; i < 600; i++) script.say(i % 2 ? 'customer' : 'agent', i * 2, i * 2 + 1.5, 'just some ordinary words about a bill and a phone');
  script.say('agent', 1210, 1212, 'please calm down');
  const engine = new RuleEngine(builtins, { call, decisionLagSec: LAG });
  const alerts: Alert[] = [];
  for (const e of script.end(1214)) alerts.push(...engine.push(e));
  alerts.push(...engine.finish());
  t.same(
    alerts.filter((a) => a.rule !== 'hurried-hangup').map((a) => a.rule),
    ['forbidden-phrase'],
    'the one phrase a rule asks for is found',
  );
  t.ok(call.reads > 0 && call.reads < 20, `601 utterances through every built-in rule: the whole call read ${call.reads} times`);
});

t.test('customer agitation alerts while the stretch goes on, once, not again when it closes', async (t) => {
  const base = { type: 'emotion' as const, channel: 'customer' as const, start: 5, f0RisePct: 30, tempoRisePct: 0, loudnessRiseDb: 7 };
  const events: PipelineEvent[] = [
    { ...base, end: 6, score: 0.3, ongoing: true, emittedAt: 6.2 },
    { ...base, end: 6.5, score: 0.7, ongoing: true, emittedAt: 6.7 },
    { ...base, end: 7, score: 0.8, ongoing: true, emittedAt: 7.2 },
    { ...base, end: 9, score: 0.8, emittedAt: 10.2 },
  ];
  const alerts = run(only('customer-agitation'), events);
  t.match(alerts, [{ id: 'customer-agitation-1', channel: 'customer', start: 5, end: 6.5, raisedAt: 6.7, evidence: /score 0\.70\)$/ }], 'raised at the first report that qualifies');
  t.same(new Set(alerts.map((a) => a.id)).size, 1, 'the closing event of the same stretch raises no second alert');
  t.match(alerts[1], { id: 'customer-agitation-1', revision: 2, revisedAt: 10.2, start: 5, end: 6.5, evidence: /score 0\.80\)$/ }, 'it revises the alert with the figures the index keeps');
  t.equal(alerts.length, 2);
});

t.test('an agitation alert raised before its words is sent again with them, same id, once', async (t) => {
  const base = { type: 'emotion' as const, channel: 'customer' as const, start: 5, f0RisePct: 30, tempoRisePct: 0, loudnessRiseDb: 7 };
  const call = new Call()
    .add({ ...base, end: 6.5, score: 0.7, ongoing: true, emittedAt: 6.7 })
    .add({ ...base, end: 9, score: 0.8, emittedAt: 9.4 })
    // The recogniser finalises the upset sentence after the stretch has closed; then a calmer one.
    .say('customer', 5, 9, 'this is ridiculous i want my money back', { wordsAt: 10 })
    .say('customer', 12, 14, 'fine thank you');
  const engine = new RuleEngine(only('customer-agitation'), { decisionLagSec: LAG });
  const published = call.end(20).flatMap((e) => engine.push(e));
  t.match(published, [
    { id: 'customer-agitation-1', raisedAt: 6.7, start: 5, end: 6.5, evidence: /voice raised: pitch \+30%.*\(score 0\.70\)$/ },
    { id: 'customer-agitation-1', revision: 2, revisedAt: 10, raisedAt: 6.7, start: 5, end: 6.5, evidence: /\(score 0\.80\): "this is ridiculous i want my money back"/ },
  ]);
  t.equal(published.length, 2, 'one revision, not one per later utterance');
  t.same(engine.alerts, [published[1]], 'the engine keeps the revision in place of the first');
});

t.test('an agitation alert whose words never come is revised only if its figures changed', async (t) => {
  const base = { type: 'emotion' as const, channel: 'customer' as const, start: 5, f0RisePct: 30, tempoRisePct: 0, loudnessRiseDb: 7 };
  const same = new Call().add({ ...base, end: 6.5, score: 0.7, ongoing: true, emittedAt: 6.7 }).add({ ...base, end: 9, score: 0.7, emittedAt: 9.4 });
  const published = run(only('customer-agitation'), same.end(12));
  t.equal(published.length, 1, 'the same figures at the close: nothing to send again');
  t.equal(published[0]!.revision, undefined);
  const rose = new Call().add({ ...base, end: 6.5, score: 0.7, ongoing: true, emittedAt: 6.7 }).add({ ...base, end: 9, score: 0.8, emittedAt: 9.4 });
  const revised = run(only('customer-agitation'), rose.end(12));
  t.match(revised, [{ revision: undefined }, { revision: 2, revisedAt: 12, evidence: /\(score 0\.80\)$/ }], 'the final figures, at the hang-up, without words');
});

t.test('agent monologue: raised while the agent goes on past 30 s; a back-channel does not break it, a reply does', async (t) => {
  const explain = (reply: [number, number, string]) =>
    new Call()
      .say('customer', 0.5, 3, 'hi I would like to understand my new tariff')
      .say('agent', 3.5, 15, 'of course your tariff started on the first of the month')
      .say('customer', ...reply)
      .say('agent', 16.5, 30, 'the unit price is now twenty four pence per kilowatt hour')
      .say('agent', 31, 42, 'and we review your direct debit every six months')
      .say('customer', 43, 45, 'that makes sense thank you')
      .end(48);
  const alerts = run(only('agent-monologue'), explain([15.3, 15.8, 'okay']));
  t.match(alerts, [{ id: 'agent-monologue-1', channel: 'agent', start: 3.5, end: 33.5 }], 'one alert, from the start of the explanation to where it passed 30 s');
  t.equal(alerts.length, 1);
  t.ok(alerts[0].raisedAt >= 33.5 + LAG && alerts[0].raisedAt < 42, `raised while the agent was still talking (${alerts[0].raisedAt})`);
  t.match(alerts[0].evidence, /^the agent talked for more than 30 s from 0:03\.5 without the customer getting a word in: "of course your tariff/);
  t.same(run(only('agent-monologue'), explain([15.3, 16.4, 'sorry what is a tariff'])), [], 'a reply of 1.1 s is the customer getting a word in');
  const paused = new Call().say('agent', 0.5, 14, 'let me read you the terms').say('agent', 16.6, 40, 'and the rest of them').end(42);
  t.same(run(only('agent-monologue'), paused), [], 'a pause of 2.6 s ends the turn');
});

t.test("an alert on a side's words heard in the wrong language is withdrawn when the language is overturned, and the right language's words raise their own", async (t) => {
  // The agent's first words were taken for English (the English spotter's "your PIN" and the words around it);
  // at 21 s the side is judged Mandarin and its speech so far is heard again, with 验证码 where the PIN was.
  const switched: PipelineEvent = { type: 'language.switch', channel: 'agent', from: 'en', to: 'zh', start: 1, end: 21, withdrawnHits: [{ term: 'your PIN', start: 4.6 }], emittedAt: 21.2 };
  const events = new Call()
    .say('agent', 1, 6, 'so what is your pin okay', { wordsAt: 6.9 })
    .keyword('agent', 'your PIN', 4.6, 5.1, 5.4)
    .say('customer', 6.5, 9, 'my password is none of your business', { wordsAt: 9.9 })
    .say('agent', 10, 20, 'okay we can keep going now', { wordsAt: 20.9 })
    .add(switched)
    .say('agent', 1, 6, 'qǐng gào sù wǒ yàn zhèng mǎ', { zh: true, wordsAt: 21.2 })
    .end(30);
  const engine = new RuleEngine(only('credential-request', 'forbidden-phrase'), { decisionLagSec: LAG });
  const sent: Alert[] = [];
  for (const e of events) sent.push(...engine.push(e));

  const first = sent.filter((a) => a.id === 'credential-request-1');
  t.same(first.map((a) => [a.revision ?? 1, a.withdrawn !== undefined]), [[1, false], [2, true]], 'raised on the English PIN, then withdrawn: one revision');
  t.match(first[1], { raisedAt: 5.4, revisedAt: 21.2, start: first[0].start, evidence: first[0].evidence });
  t.match(first[1].withdrawn, /agent side was heard as English until 21\.0 s and is Mandarin/, 'the reason says what changed');
  const second = sent.filter((a) => a.id === 'credential-request-2');
  t.equal(second.length, 1, 'the Mandarin words of the same speech raise their own alert, not held back by the withdrawn one');
  t.match(second[0], { channel: 'agent', raisedAt: 21.2 });
  t.match(second[0].evidence, /yàn zhèng mǎ|验证码/);
  t.notOk(second[0].withdrawn);
  t.same(engine.alerts.map((a) => [a.id, a.withdrawn !== undefined]), [['credential-request-1', true], ['credential-request-2', false]], "the call's alerts: the withdrawn one kept as withdrawn");
  t.notOk(engine.call.utterances.some((u) => u.channel === 'agent' && /pin|okay/.test(u.text ?? '')), "the agent's English words are gone from the call");
  t.same(engine.call.keywords.filter((k) => k.channel === 'agent').map((k) => k.term), [], "and so is the English spotter's hit");

  const index = buildCallIndex(engine.call, { callId: 'c', alerts: engine.alerts, watched: [] });
  t.same(callIndexProblems(index), [], 'the index with a withdrawn alert is valid');
  const summary = formatSummary(index);
  t.match(summary, /alerts\s+1 \(and 1 withdrawn\)/, 'the summary counts the alert that stands and says one was withdrawn');
  t.match(summary, /WITHDRAWN credential-request .*withdrawn at 0:21.*heard as English/, 'and marks the withdrawn one with why');
  t.match(formatAlert({ ...first[1], callId: 'c' }), /credential-request \(withdrawn\).*heard as English/, 'earshot run prints the withdrawal with its reason');
});

t.test('a switch leaves alone the alerts on the other side, and those whose evidence on the side still stands', async (t) => {
  // The customer is overturned (English -> Mandarin); the agent's alert is the agent's. A hit of the customer's
  // new language already out (heard while both spotters listened) is not withdrawn, nor is the alert it raised.
  const rules = custom(`
  - id: refund-word
    severity: warning
    channel: customer
    phrases: { en: [refund], zh: [退款] }
`);
  const events = new Call()
    .say('agent', 1, 4, 'what is your password', { wordsAt: 4.9 })
    .keyword('customer', '退款', 5.2, 5.8, 6.1)
    .say('customer', 10, 12, 'refund me', { wordsAt: 12.9 })
    .add({ type: 'language.switch', channel: 'customer', from: 'en', to: 'zh', start: 5, end: 14, withdrawnHits: [], emittedAt: 14.5 })
    .end(20);
  const engine = new RuleEngine([...only('credential-request'), ...rules], { decisionLagSec: LAG });
  for (const e of events) engine.push(e);
  t.same(engine.alerts.map((a) => [a.id, a.withdrawn !== undefined]), [['credential-request-1', false], ['refund-word-1', false], ['refund-word-2', true]],
    "the agent's alert stands; the customer's spotter hit of Mandarin stands; only the alert on the English words is withdrawn");
});

t.test('a late hang-up that followed a closing heard in withdrawn words is withdrawn with them', async (t) => {
  // The agent's side is overturned at the hang-up (the final judgement): its "goodbye" was Mandarin misheard,
  // and the Mandarin words of the same speech say no closing.
  const events = new Call()
    .say('customer', 1, 5, 'i would like to check my bill please')
    .say('agent', 12, 15, 'sure thing okay goodbye', { wordsAt: 15.9 })
    .add({ type: 'language.switch', channel: 'agent', from: 'en', to: 'zh', start: 1, end: 15, withdrawnHits: [], emittedAt: 29.9 })
    .say('agent', 12, 15, 'hǎo de wǒ kàn yí xià', { zh: true, wordsAt: 29.9 })
    .end(30);
  const alerts = run(only('late-hangup'), events);
  t.same(alerts.map((a) => [a.id, a.withdrawn !== undefined]), [['late-hangup-1', false], ['late-hangup-1', true]], 'raised live after the closing, withdrawn at the switch');
  t.ok(alerts[0].raisedAt < 29.9, `raised while the line was open (${alerts[0].raisedAt} s)`);
  t.match(alerts[1].withdrawn, /agent side was heard as English until 15\.0 s and is Mandarin/);
});

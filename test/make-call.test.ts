import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import wavefile from 'wavefile';
import { DEFAULT_AGITATION, loadCallScript, parseCallScript, readWav, renderCall, toEspeakPinyin, type CallScript } from '../scripts/make-call.js';
import { CALLS_DIR, callTracks, idleSpans, peakDb, renderCallByName, rmsDb } from './support/calls.js';

const { WaveFile } = wavefile;

t.test('en-overtalk: every truth span is speech on its own channel and only there', async (t) => {
  const call = await renderCallByName('en-overtalk');
  const { truth } = call;
  t.equal(truth.schema, 'earshot/call-truth@1');
  const { sampleRate, tracks } = callTracks(call);
  t.equal(sampleRate, 16000);
  t.equal(tracks.agent.length, Math.round(truth.durationSec * sampleRate), 'duration matches the audio');

  for (const turn of truth.turns) {
    const track = tracks[turn.channel];
    const label = `${turn.channel} ${turn.start}-${turn.end}`;
    t.ok(rmsDb(track, sampleRate, turn.start, turn.end) > -40, `${label}: speech energy inside the span`);
    // Trimmed spans start and end on audible speech, not on padding.
    t.ok(peakDb(track, sampleRate, turn.start, turn.start + 0.03) > -46, `${label}: audible at the start`);
    t.ok(peakDb(track, sampleRate, turn.end - 0.03, turn.end) > -46, `${label}: audible at the end`);
  }
  for (const speaker of ['agent', 'customer'] as const) {
    for (const [from, to] of idleSpans(truth, speaker)) {
      // -70 dBFS line noise only: well under the -45 dBFS trim threshold.
      t.ok(rmsDb(tracks[speaker], sampleRate, from, to) < -65, `${speaker} idle ${from}-${to}: quiet`);
      t.ok(peakDb(tracks[speaker], sampleRate, from, to) < -48, `${speaker} idle ${from}-${to}: no stray speech`);
      t.ok(rmsDb(tracks[speaker], sampleRate, from, to) > -80, `${speaker} idle ${from}-${to}: not digital zero`);
    }
  }

  // The script's negative gaps become real overlaps in the truth.
  const [, , agent2, customer2, , customer3, agent4] = truth.turns;
  t.equal(Number((agent2.end - customer2.start).toFixed(3)), 1.5, 'customer cuts in 1.5 s early');
  t.equal(Number((customer3.end - agent4.start).toFixed(3)), 1.2, 'agent cuts in 1.2 s early');
});

t.test('renderCall: split a-law output, absolute start, agitated effect', async (t) => {
  const dir = t.testdir();
  const script: CallScript = {
    name: 'tiny',
    sampleRate: 8000,
    encoding: 'alaw',
    channels: 'split',
    lead: 0.2,
    tail: 0.3,
    turns: [
      { speaker: 'agent', text: 'How can I help?' },
      { speaker: 'customer', at: 2.5, effect: 'agitated', text: 'My phone does not work!' },
    ],
  };
  const call = await renderCall(script, path.join(dir, 'tiny.wav'));
  t.equal(call.wav, undefined);
  t.equal(call.agentWav, path.join(dir, 'tiny.agent.wav'));
  t.equal(call.customerWav, path.join(dir, 'tiny.customer.wav'));
  t.same(JSON.parse(readFileSync(call.truthPath, 'utf8')), call.truth, 'truth JSON on disk');

  const header = new WaveFile(readFileSync(call.agentWav!));
  t.equal(header.bitDepth, '8a', 'G.711 A-law');
  t.equal((header.fmt as { sampleRate: number }).sampleRate, 8000);
  t.equal((header.fmt as { numChannels: number }).numChannels, 1);

  const [agent, customer] = call.truth.turns;
  t.equal(agent.start, 0.2, 'first turn starts after the lead');
  t.equal(customer.start, 2.5, 'absolute start honoured');
  t.equal(customer.effect, 'agitated');
  t.equal(agent.effect, undefined);
  t.equal(call.truth.durationSec, Number((customer.end + 0.3).toFixed(3)));

  const { sampleRate, tracks } = callTracks(call);
  t.equal(sampleRate, 8000);
  const agentPeak = peakDb(tracks.agent, sampleRate, agent.start, agent.end);
  const customerPeak = peakDb(tracks.customer, sampleRate, customer.start, customer.end);
  // Calm turns are normalised to -12 dBFS and agitated ones sit 8 dB higher.
  t.ok(Math.abs(agentPeak + 12) < 1.5, `calm peak ${agentPeak.toFixed(1)} dBFS`);
  t.ok(Math.abs(customerPeak - agentPeak - 8) < 1.5, `agitated peak ${customerPeak.toFixed(1)} dBFS`);
  t.ok(peakDb(tracks.customer, sampleRate, 0, customer.start - 0.01) < -45, 'customer leg silent before it speaks');
});

t.test('renderCall names the missing tool', async (t) => {
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  t.teardown(() => {
    process.env.PATH = saved;
  });
  await t.rejects(
    renderCall({ name: 'x', turns: [{ speaker: 'agent', text: 'Hello.' }] }, path.join(t.testdir(), 'x.wav')),
    /"text2wave" not found on PATH; install Debian package\(s\): festival/,
  );
});

t.test('every committed call script is valid', async (t) => {
  for (const name of ['en-basic', 'en-silence', 'en-overtalk', 'en-agitated', 'en-calm', 'en-8k-mulaw', 'en-split', 'zh-basic', 'zh-agitated']) {
    const script = loadCallScript(path.join(CALLS_DIR, `${name}.yml`));
    t.equal(script.name, name, `${name}.yml names itself`);
  }
  const demo = loadCallScript(path.join(CALLS_DIR, '../../demo/demo-call.yml'));
  t.equal(demo.encoding, 'mulaw');
});

t.test('committed demo call matches its truth', async (t) => {
  const root = path.join(CALLS_DIR, '../..');
  const wav = path.join(root, 'demo/demo-call.wav');
  const truth = JSON.parse(readFileSync(path.join(root, 'demo/demo-call.truth.json'), 'utf8'));
  const { sampleRate, channels } = readWav(wav);
  t.equal(sampleRate, 8000);
  t.equal(channels.length, 2);
  t.ok(readFileSync(wav).length < 1_000_000, 'demo stays under 1 MB');
  t.equal(channels[0].length, Math.round(truth.durationSec * sampleRate));
});

t.test('agitation by degree: the truth records it and the audio is as much louder and faster as asked', async (t) => {
  const dir = t.testdir();
  const text = 'I have been waiting for an hour.';
  const call = await renderCall(
    {
      name: 'degrees',
      turns: [
        { speaker: 'customer', text },
        { speaker: 'customer', text, after: 1, agitation: { pitch: 0.2, tempo: 1.25, gainDb: 3 } },
        { speaker: 'customer', text, after: 1, effect: 'agitated' },
      ],
    },
    path.join(dir, 'degrees.wav'),
  );
  const [calm, mild, full] = call.truth.turns;
  t.equal(calm.agitation, undefined, 'a calm turn has no agitation');
  t.same(mild.agitation, { pitch: 0.2, tempo: 1.25, gainDb: 3 });
  t.equal(mild.effect, 'agitated', 'agitation alone makes the turn agitated');
  t.same(full.agitation, DEFAULT_AGITATION, 'effect: agitated alone is the default degree');
  const { sampleRate, tracks } = callTracks(call);
  const peak = (turn: typeof calm) => peakDb(tracks.customer, sampleRate, turn.start, turn.end);
  t.ok(Math.abs(peak(mild) - peak(calm) - 3) < 1.5, `+3 dB asked, ${(peak(mild) - peak(calm)).toFixed(1)} dB rendered`);
  const ratio = (mild.end - mild.start) / (calm.end - calm.start);
  t.ok(Math.abs(ratio - 1 / 1.25) < 0.06, `tempo 1.25 asked, duration ratio ${ratio.toFixed(2)}`);
});

t.test('parseCallScript rejects bad scripts with the offending field', async (t) => {
  const base = { name: 'bad', turns: [{ speaker: 'agent', text: 'Hi.' }] };
  const cases: Array<[unknown, RegExp]> = [
    [null, /must be a YAML mapping/],
    [{ ...base, name: 'a b' }, /name must be/],
    [{ ...base, language: 'fr' }, /language must be one of en, zh/],
    [{ ...base, sampleRate: 22050 }, /sampleRate must be one of 8000, 16000, 44100, 48000/],
    [{ ...base, encoding: 'mp3' }, /encoding must be one of/],
    [{ ...base, turns: [] }, /turns must be a non-empty list/],
    [{ ...base, turns: [{ speaker: 'bot', text: 'Hi.' }] }, /turns\[0\]\.speaker must be "agent" or "customer"/],
    [{ ...base, turns: [{ speaker: 'agent', text: '' }] }, /turns\[0\]\.text/],
    [{ ...base, turns: [{ speaker: 'agent', text: 'Hi.', at: 1, after: 1 }] }, /both "after" and "at"/],
    [{ ...base, turns: [{ speaker: 'agent', text: 'Hi.', efect: 'agitated' }] }, /unknown field turns\[0\]\.efect/],
    [{ ...base, turns: [{ speaker: 'agent', text: 'Hi.', effect: 'angry' }] }, /turns\[0\]\.effect must be one of agitated/],
    [{ ...base, turns: [{ speaker: 'agent', text: 'Hi.', agitation: { pitch: 2 } }] }, /turns\[0\]\.agitation\.pitch must be a number from 0 to 1/],
    [{ ...base, turns: [{ speaker: 'agent', text: 'Hi.', agitation: { loud: 1 } }] }, /unknown field turns\[0\]\.agitation\.loud/],
    [{ ...base, turns: [{ speaker: 'agent', text: 'Hi.', agitation: 'very' }] }, /turns\[0\]\.agitation must be a mapping/],
    [{ ...base, styles: { customer: { tempo: 3 } } }, /styles\.customer\.tempo must be a number from 0\.7 to 1\.4/],
    [{ ...base, styles: { boss: {} } }, /unknown field styles\.boss/],
    [{ ...base, voices: { agent: 'bogus' } }, /voices\.agent must be slt or kal/],
    [{ ...base, noiseDb: 0 }, /noiseDb/],
    [{ ...base, lead: -1 }, /lead must be a number >= 0/],
  ];
  for (const [value, message] of cases) t.throws(() => parseCallScript(value, 'bad.yml'), message);

  const filled = parseCallScript(base);
  t.match(filled, { language: 'en', sampleRate: 16000, encoding: 'pcm16', channels: 'stereo', lead: 0.5, tail: 1, noiseDb: -70 });
  t.same(filled.voices, { agent: 'slt', customer: 'kal' });
});

t.test('same-speaker overlap is refused', async (t) => {
  await t.rejects(
    renderCall(
      {
        name: 'clash',
        turns: [
          { speaker: 'agent', text: 'Hello there, how are you today?' },
          { speaker: 'agent', after: -0.5, text: 'Sorry.' },
        ],
      },
      path.join(t.testdir(), 'clash.wav'),
    ),
    /overlaps the agent's previous turn/,
  );
});

t.test('toEspeakPinyin: tone numbers, pauses at punctuation, hotline digits', async (t) => {
  t.equal(
    toEspeakPinyin('您好，请问有什么可以帮您？拨打10086。'),
    'nin2 hao3, qing3 wen4 you3 shen2 me5 ke3 yi3 bang1 nin2. bo1 da3 yao1 ling2 ling2 ba1 liu4.',
  );
});

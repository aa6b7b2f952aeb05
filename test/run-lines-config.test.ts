import t from 'tap';
import { join } from 'node:path';
import { ConfigError, loadConfigFile, resolveConfig } from '../provisioning/config.js';
import { resolveLines } from '../provisioning/lines.js';

const lines = (raw: unknown) => resolveLines(resolveConfig(raw, 'site.yml'), 'site.yml');

t.test('a site file lists lines with their sources, call state and agents; defaults fill the rest', async (t) => {
  const dir = t.testdir({
    'earshot.yml': `
recognition:
  language: en
pbx:
  floor:
    path: /dev/ttyUSB0
lines:
  desk-1:
    agent: { id: A17, extension: "1001" }
    audio: { device: "USB Headset", agentChannel: right, customerChannel: left }
    callState: { pbx: floor }
  desk-2:
    agent: { id: A18 }
    audio: { agentDevice: 3, customerDevice: "Trunk tap", sampleRate: 44100 }
    callState: { hook: { path: /dev/ttyS1 } }
    recognition: { language: zh }
    analysis: { silence: { minSec: 5 } }
  trunk-9:
    audio: { pipe: /run/earshot/trunk-9.pcm }
  demo:
    audio: { replay: [demo/demo-call.wav], loop: true }
  spare:
    enabled: false
    audio: { device: 0 }
`,
  });
  const config = loadConfigFile(join(dir, 'earshot.yml'));
  const resolved = resolveLines(config);
  t.same(resolved.map((l) => l.name), ['desk-1', 'desk-2', 'trunk-9', 'demo'], 'a disabled line is not run');
  const [desk1, desk2, trunk, demo] = resolved;
  t.same(desk1.audio, { kind: 'device', device: 'USB Headset', sampleRate: 48000, channels: 2, agentChannel: 1, customerChannel: 0 });
  t.same(desk1.callState, { kind: 'pbx', port: 'floor', extension: '1001' });
  t.same(desk2.audio, { kind: 'devices', agentDevice: 3, customerDevice: 'Trunk tap', sampleRate: 44100 });
  t.same(desk2.callState, { kind: 'hook', path: '/dev/ttyS1', baudRate: 9600 });
  t.equal(desk2.config.recognition.language, 'zh', 'a line overrides the language');
  t.equal(desk2.config.analysis.silence.minSec, 5, 'and an analysis threshold');
  t.equal(desk2.config.analysis.overtalk.minSec, config.analysis.overtalk.minSec, 'leaving the rest as the box has it');
  t.equal(desk1.config.recognition.language, 'en', 'other lines keep the box language');
  t.equal(desk1.config.analysis.silence.minSec, 3);
  t.same(trunk.audio, { kind: 'pipe', path: '/run/earshot/trunk-9.pcm', sampleRate: 8000, channels: 2, agentChannel: 0, customerChannel: 1 });
  t.same(trunk.callState, { kind: 'auto', endAfterQuietSec: 12, minCallSec: 2 }, 'no signal: calls are segmented from the audio');
  t.same(demo.callState, { kind: 'file' }, 'a replayed file is one call');
  t.equal(config.run.healthPort, 8787);
  t.equal(config.run.ringBufferMin, 0, 'no audio is kept unless the site asks');
});

t.test('what an installer can get wrong about a line is named, with the line and the setting', async (t) => {
  const cases: [unknown, RegExp][] = [
    [{ lines: { a: { audio: {} } } }, /lines\.a\.audio: give exactly one of device, agentDevice \+ customerDevice, replay or pipe/],
    [{ lines: { a: { audio: { device: 1, pipe: '/p' } } } }, /lines\.a\.audio: .*found device, pipe/],
    [{ lines: { a: { audio: { agentDevice: 1 } } } }, /agentDevice needs customerDevice/],
    [{ lines: { a: { audio: { device: 1, agentChannel: 1, customerChannel: 1 } } } }, /agentChannel and customerChannel are both 1/],
    [{ lines: { a: { audio: { device: 1, channels: 2, customerChannel: 2 } } } }, /lines\.a\.audio\.customerChannel: channel 2 does not exist on a 2-channel input/],
    [{ lines: { a: { audio: { device: 1 }, callState: { pbx: 'floor' }, agent: { extension: '1' } } } }, /callState\.pbx: no port "floor" under pbx \(the pbx section is empty\)/],
    [{ pbx: { floor: { path: '/dev/x' } }, lines: { a: { audio: { device: 1 }, callState: { pbx: 'floor' } } } }, /lines\.a\.agent\.extension: needed to match PBX records/],
    [
      { pbx: { floor: { path: '/dev/x' } }, lines: { a: { audio: { device: 1 }, callState: { pbx: 'floor' }, agent: { extension: '7' } }, b: { audio: { device: 2 }, callState: { pbx: 'floor' }, agent: { extension: '7' } } } },
      /lines\.b\.agent\.extension: 7 is also line a's/,
    ],
    [{ lines: { a: { audio: { device: 1 }, callState: { auto: {}, hook: { path: '/dev/x' } } } } }, /at most one of pbx, hook or auto/],
    [{ lines: { a: { audio: { device: 1 }, analysis: { silence: { minSec: 'long' } } } } }, /lines\.a overrides: analysis\.silence\.minSec: must be number/],
    [{ lines: { a: { audio: { device: 1 }, analysis: { silense: {} } } } }, /lines\.a overrides: analysis: unknown setting "silense"/],
  ];
  for (const [raw, reason] of cases) {
    try {
      lines(raw);
      t.fail(`accepted ${JSON.stringify(raw)}`);
    } catch (err) {
      t.type(err, ConfigError);
      t.match((err as ConfigError).message, reason);
    }
  }
  t.throws(() => resolveConfig({ lines: { 'desk 1': { audio: { device: 1 } } } }), /lines: property name must be valid|must match pattern/, 'line names are topic- and URL-safe');
  t.throws(() => resolveConfig({ run: { shed: { behindSec: 1, caughtUpSec: 1 } } }), /caughtUpSec must be below run\.shed\.behindSec/);
  t.throws(() => resolveConfig({ run: { shed: { lightenBehindSec: 3 } } }), /lightenBehindSec \(3\) must be above run\.shed\.caughtUpSec \(0\.5\) and not above run\.shed\.behindSec \(2\)/);
  t.throws(() => resolveConfig({ run: { shed: { lightenBehindSec: 0.5 } } }), /lightenBehindSec \(0\.5\) must be above/, 'lightening must end when the line has caught up');
  t.equal(resolveConfig({}).run.shed.lightenBehindSec, 1.25, 'unset: halfway between caught up and shedding');
  t.equal(resolveConfig({ run: { shed: { behindSec: 10, caughtUpSec: 2 } } }).run.shed.lightenBehindSec, 6, 'and it follows them');
});

import type { Logger } from 'pino';
import { HookSwitchParser, PbxRecordParser, type CallStateEvent } from '../../device/call-state.js';
import { SerialCallState } from '../../device/serial-call-state.js';
import { ConfigError, type EarshotConfig } from '../../provisioning/config.js';
import type { LineSettings } from '../../provisioning/lines.js';
import type { CallBoundary } from './line.js';

interface Port {
  name: string;
  kind: 'pbx' | 'hook';
  path: string;
  serial: SerialCallState;
  unrouted: number;
}

/**
 * The serial side of the box: one reader per PBX port (its records routed to lines by extension) and one per
 * hook switch. A garbled or unplugged port is that port's fault: it retries on its own, and lines on other
 * ports (and the audio of its own lines) go on.
 */
export class CallStateInputs {
  private readonly ports: Port[] = [];

  /** Builds every parser first, so a bad pattern is a ConfigError before anything opens. */
  constructor(config: EarshotConfig, settings: LineSettings[], route: (line: string, boundary: CallBoundary) => void, private readonly log: Logger, file = '(config)') {
    const retry = config.run.retry;
    const pbxLines = settings.filter((s) => s.callState.kind === 'pbx');
    for (const [name, port] of Object.entries(config.pbx)) {
      const routes = new Map(pbxLines.filter((s) => s.callState.kind === 'pbx' && s.callState.port === name).map((s) => [(s.callState as { extension: string }).extension, s.name]));
      if (routes.size === 0) continue;
      let parser: PbxRecordParser;
      try {
        parser = new PbxRecordParser({ pattern: port.pattern, startEvents: port.startEvents, endEvents: port.endEvents });
      } catch (err) {
        throw new ConfigError(file, `pbx.${name}: ${(err as Error).message}`);
      }
      const p: Port = { name, kind: 'pbx', path: port.path, serial: new SerialCallState({ path: port.path, baudRate: port.baudRate, parser, retry }), unrouted: 0 };
      p.serial.on('call', (e) => {
        const line = e.extension === null ? undefined : routes.get(e.extension);
        if (!line) {
          p.unrouted++;
          this.log.debug({ port: name, extension: e.extension }, 'PBX record for an extension no line listens to');
          return;
        }
        route(line, toBoundary(e, 'pbx'));
      });
      this.ports.push(p);
    }
    for (const s of settings) {
      if (s.callState.kind !== 'hook') continue;
      let parser: HookSwitchParser;
      try {
        parser = new HookSwitchParser({ offHook: s.callState.offHook, onHook: s.callState.onHook });
      } catch (err) {
        throw new ConfigError(file, `lines.${s.name}.callState.hook: ${(err as Error).message}`);
      }
      const p: Port = { name: `hook:${s.name}`, kind: 'hook', path: s.callState.path, serial: new SerialCallState({ path: s.callState.path, baudRate: s.callState.baudRate, parser, retry }), unrouted: 0 };
      p.serial.on('call', (e) => route(s.name, toBoundary(e, 'hook')));
      this.ports.push(p);
    }
  }

  start(): void {
    for (const p of this.ports) p.serial.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.ports.map((p) => p.serial.stop()));
  }

  problems(): string[] {
    return this.ports.filter((p) => p.serial.state === 'fault').map((p) => `serial ${p.name} (${p.path}): not open, retrying`);
  }

  stats(): Record<string, unknown> {
    return Object.fromEntries(this.ports.map((p) => [p.name, { path: p.path, state: p.serial.state, ...p.serial.counters, unrouted: p.unrouted }]));
  }
}

function toBoundary(e: CallStateEvent, by: 'pbx' | 'hook'): CallBoundary {
  return {
    kind: e.kind,
    by,
    at: e.at,
    ...(e.agentId ? { agentId: e.agentId } : {}),
    ...(e.caller ? { caller: e.caller } : {}),
    ...(e.callRef ? { callRef: e.callRef } : {}),
  };
}

import { readdir, readFile, readlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import { loadNaudiodon, withPortAudio } from './portaudio-binding.js';
import { log } from '../lib/log.js';

export interface AudioDevice {
  /** PortAudio's index; valid until devices are plugged or unplugged. */
  index: number;
  name: string;
  hostApi: string;
  maxInputChannels: number;
  maxOutputChannels: number;
  defaultSampleRate: number;
}

export interface SerialPortInfo {
  path: string;
  manufacturer?: string;
  serialNumber?: string;
  vendorId?: string;
  productId?: string;
  /** Stable names under /dev/serial/by-id that point at this port: they survive replugging, unlike ttyUSB numbers. */
  byId: string[];
  /** Where the listing came from: udev (serialport's list) or a scan of /dev where udevadm is missing. */
  via: 'udev' | 'dev-scan';
}

/** Every PortAudio device, inputs and outputs. Initialises PortAudio (probes ALSA) each time it is called. */
export async function listAudioDevices(): Promise<AudioDevice[]> {
  const nd = loadNaudiodon();
  const devices = await withPortAudio(() => nd.getDevices());
  return devices.map((d) => ({
    index: d.id,
    name: d.name,
    hostApi: d.hostAPIName,
    maxInputChannels: d.maxInputChannels,
    maxOutputChannels: d.maxOutputChannels,
    defaultSampleRate: d.defaultSampleRate,
  }));
}

const SERIAL_NAME = /^tty(S|USB|ACM|AMA)\d+$/;
const BY_ID_DIR = '/dev/serial/by-id';

/**
 * Serial ports for PBX record feeds and hook switches. serialport lists them through `udevadm`, which
 * containers and minimal images lack; then /dev is scanned instead.
 */
export async function listSerialPorts(devDir = '/dev'): Promise<SerialPortInfo[]> {
  const byId = await byIdLinks(resolve(devDir, 'serial/by-id'));
  try {
    const { SerialPort } = await import('serialport');
    const ports = await SerialPort.list();
    return ports.map((p) => ({
      path: p.path,
      manufacturer: p.manufacturer,
      serialNumber: p.serialNumber,
      vendorId: p.vendorId,
      productId: p.productId,
      byId: byId.get(p.path) ?? [],
      via: 'udev' as const,
    }));
  } catch (err) {
    log.debug({ err: (err as Error).message }, 'serialport could not list ports; scanning /dev');
  }
  let names: string[];
  try {
    names = await readdir(devDir);
  } catch {
    names = [];
  }
  const ports: SerialPortInfo[] = [];
  for (const name of names.filter((n) => SERIAL_NAME.test(n)).sort(naturalOrder)) {
    // The kernel makes ttyS0..ttyS31 whether or not a UART is there; type 0 means none is.
    if (name.startsWith('ttyS') && (await uartType(name)) === 0) continue;
    const path = resolve(devDir, name);
    ports.push({ path, byId: byId.get(path) ?? [], via: 'dev-scan' });
  }
  // A by-id link to a port whose name the scan does not know (ttyXRUSB, rfcomm...) is still a port.
  for (const [target, links] of byId) {
    if (!ports.some((p) => p.path === target)) ports.push({ path: target, byId: links, via: 'dev-scan' });
  }
  return ports;
}

async function uartType(name: string): Promise<number | null> {
  try {
    return Number((await readFile(`/sys/class/tty/${name}/type`, 'utf8')).trim());
  } catch {
    return null;
  }
}

/** /dev/serial/by-id links by the device they point at. */
async function byIdLinks(dir: string): Promise<Map<string, string[]>> {
  const links = new Map<string, string[]>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return links;
  }
  for (const name of names.sort()) {
    try {
      const target = resolve(dir, await readlink(resolve(dir, name)));
      links.set(target, [...(links.get(target) ?? []), resolve(dir, name)]);
    } catch {
      // not a link: nothing to map
    }
  }
  return links;
}

function naturalOrder(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

export interface DevicesCommandOptions {
  json: boolean;
  out: (s: string) => void;
}

/**
 * `earshot devices`: what a site installer needs to fill in earshot.yml. Exit status 0, or 1 when a listing
 * could not be made at all (PortAudio failed to load, say); an empty listing is not a failure.
 */
export async function devicesCommand(opts: DevicesCommandOptions): Promise<number> {
  let audio: AudioDevice[] = [];
  let audioError: string | undefined;
  try {
    audio = await listAudioDevices();
  } catch (err) {
    audioError = (err as Error).message;
  }
  let serial: SerialPortInfo[] = [];
  let serialError: string | undefined;
  try {
    serial = await listSerialPorts();
  } catch (err) {
    serialError = (err as Error).message;
  }
  const code = audioError || serialError ? 1 : 0;

  if (opts.json) {
    const errors = { ...(audioError ? { audio: audioError } : {}), ...(serialError ? { serial: serialError } : {}) };
    opts.out(`${JSON.stringify({ audio, serial, ...(Object.keys(errors).length ? { errors } : {}) }, null, 2)}\n`);
    return code;
  }

  const lines: string[] = [];
  const inputs = audio.filter((d) => d.maxInputChannels > 0);
  const outputs = audio.filter((d) => d.maxInputChannels === 0 && d.maxOutputChannels > 0);
  lines.push('Audio inputs');
  if (audioError) {
    lines.push(`  could not list audio devices: ${audioError}`);
  } else if (inputs.length === 0) {
    lines.push('  none: PortAudio sees no audio input on this machine (is the USB sound card plugged in? is the user in the "audio" group?)');
  } else {
    const width = Math.max(...inputs.map((d) => d.name.length + 2));
    for (const d of inputs) {
      lines.push(`  ${`#${d.index}`.padStart(4)}  ${`"${d.name}"`.padEnd(width)}  ${String(d.maxInputChannels).padStart(3)} ch in  ${d.defaultSampleRate} Hz  ${d.hostApi}`);
    }
    const example = inputs[0];
    lines.push('');
    lines.push('  In earshot.yml, a line takes one input by name (exact, or a unique part of it) or by index:');
    lines.push(`    lines: { desk-1: { audio: { device: "${example.name}", channels: 2, agentChannel: 0, customerChannel: 1 } } }`);
    lines.push('  or two mono inputs, one per side: audio: { agentDevice: "<name>", customerDevice: "<name>" }');
    lines.push('  Names are steadier than indexes, which change when devices are plugged in or out.');
  }
  if (outputs.length) {
    lines.push('');
    lines.push('Audio outputs (not usable for capture)');
    for (const d of outputs) lines.push(`  ${`#${d.index}`.padStart(4)}  "${d.name}"  ${d.maxOutputChannels} ch out  ${d.hostApi}`);
  }
  lines.push('');
  lines.push('Serial ports');
  if (serialError) {
    lines.push(`  could not list serial ports: ${serialError}`);
  } else if (serial.length === 0) {
    lines.push('  none: no serial ports found (a USB serial adapter shows up as /dev/ttyUSB* or /dev/ttyACM*)');
  } else {
    for (const p of serial) {
      const about = [p.manufacturer, p.vendorId && p.productId ? `${p.vendorId}:${p.productId}` : undefined, p.serialNumber ? `serial ${p.serialNumber}` : undefined]
        .filter(Boolean)
        .join(', ');
      lines.push(`  ${p.path}${about ? `  ${about}` : ''}`);
      for (const link of p.byId) lines.push(`      also ${link}`);
    }
    lines.push('');
    lines.push('  In earshot.yml: pbx: { main: { path: "<port>" } } for PBX call records, or a line\'s callState: { hook: { path: "<port>" } }.');
    if (serial.some((p) => p.byId.length)) lines.push(`  Prefer the ${BY_ID_DIR}/... names: they survive replugging, ttyUSB numbers do not.`);
  }
  opts.out(`${lines.join('\n')}\n`);
  return code;
}

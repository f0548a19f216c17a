#!/usr/bin/env bash
# Debian packages the test suites need, installed when missing (CI runs as root on a fresh machine).
set -euo pipefail
need=()
# packages/redis: a real redis-server, which the tests start themselves on a free port.
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# packages/redis (cluster tests) and test/recovery: redis-cli joins the test cluster
# (`--cluster create`) and moves a slot. Debian's redis-server depends on redis-tools, which
# ships it; named here so that a redis-server from elsewhere still gets it.
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
# test/browser/: Debian's Chromium, which playwright-core launches from /usr/bin/chromium.
[ -x /usr/bin/chromium ] || need+=(chromium)
# test/clients/: python3-websockets. It installs into Debian's own interpreter, which the suite
# runs as /usr/bin/python3 (a pyenv or venv python3 earlier on PATH would not see it).
/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 || need+=(python3-websockets)
# test/nginx/: Debian's nginx, started by the suite itself (its own prefix, no root needed)
# in front of each adapter with the config docs/deployment.md shows.
[ -x /usr/sbin/nginx ] || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi

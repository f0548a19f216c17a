#!/usr/bin/env bash
# Debian packages the test suites need, installed when missing (CI runs as root on a fresh machine).
set -euo pipefail
need=()
# (interop/browser/redis suites add their packages here)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi

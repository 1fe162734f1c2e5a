#!/usr/bin/env bash
# Install what the browser tests need (Debian's chromium, playwright-core from
# npm) and run them. A browser that cannot be installed is a failure, never a
# silent pass.
set -euo pipefail
cd "$(dirname "$0")"

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  echo "e2e: $CHROMIUM not found, installing Debian's chromium" >&2
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 \
     || [ ! -x "$CHROMIUM" ]; then
    echo "e2e: FAILED: could not install chromium (apt-get install chromium); browser tests cannot run" >&2
    exit 1
  fi
fi

if ! command -v node >/dev/null 2>&1; then
  echo "e2e: FAILED: node is not installed; browser tests cannot run" >&2
  exit 1
fi

npm ci --no-audit --no-fund --loglevel=error
exec node --test --test-reporter=spec run.mjs

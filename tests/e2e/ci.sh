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
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
node --test --test-reporter=spec run.mjs 2>&1 | tee "$log" || status=$?
if [ "$status" -ne 0 ]; then
  exit "$status"
fi
# A step that was skipped, left to do or cancelled proved nothing: every step must pass.
summary() { sed -n "s/^ℹ $1 \([0-9][0-9]*\)\$/\1/p" "$log" | tail -n1; }
tests="$(summary tests)"
passed="$(summary pass)"
if [ -z "$tests" ] || [ "$tests" -eq 0 ] || [ "$tests" != "$passed" ]; then
  echo "e2e: FAILED: ${passed:-?} of ${tests:-?} steps passed (the others were skipped, cancelled or left to do)" >&2
  exit 1
fi

#!/usr/bin/env bash
# The public API of the published crates, as cargo-public-api lists it (from nightly rustdoc
# JSON, every feature on, blanket and auto-trait impls left out), compared with the listings
# committed in api/. A difference fails: a change to the public API must be deliberate.
# After one, `tools/public-api.sh --bless` rewrites the listings; review their diff like code.
set -euo pipefail
cd "$(dirname "$0")/.."
bless=$([ "${1:-}" = "--bless" ] && echo 1 || true)
status=0
for crate in tidings-macros tidings tidings-redis; do
  listing=$(mktemp)
  log=$(mktemp)
  if ! cargo public-api -p "$crate" --all-features -s >"$listing" 2>"$log"; then
    cat "$log" >&2
    echo "cargo public-api failed for $crate" >&2
    exit 1
  fi
  if [ -n "$bless" ]; then
    cp "$listing" "api/$crate.txt"
  elif ! diff -u "api/$crate.txt" "$listing"; then
    echo "the public API of $crate changed (above); if deliberate: tools/public-api.sh --bless" >&2
    status=1
  fi
done
exit "$status"

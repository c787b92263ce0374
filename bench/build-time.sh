#!/usr/bin/env bash
# Build time of the same small app on tidings and on axum's `Sse`: the clock (two events, one
# with a validation rule, one query struct with a rule, one endpoint), each its own crate in a
# temporary directory with its own target directory, dependency versions pinned by this
# workspace's Cargo.lock, debug profile. For each of RUNS runs: a cold build (all
# dependencies), then EDITS rebuilds after changing one number in the app. Prints medians and
# ratios (tidings / axum).
#
#   bench/build-time.sh            # 3 runs, 5 edits each
#   bench/build-time.sh 1 2        # RUNS EDITS
#   BUILD_TIME_DIR=/tmp/bt bench/build-time.sh 0   # only write the two crates there, and keep
#                                                  # them (e.g. for `cargo build --timings`)
#
# Offline: every crate must be in cargo's cache already (a `cargo test --workspace` fetches
# them all).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
edits=${2:-5}
if [ -n "${BUILD_TIME_DIR:-}" ]; then
  work=$BUILD_TIME_DIR
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi

mkdir -p "$work/tidings-clock/src" "$work/axum-clock/src"

cat >"$work/tidings-clock/Cargo.toml" <<EOF
[package]
name = "tidings-clock"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
tidings = { path = "$root/runtime" }
tokio = { version = "1", features = ["rt-multi-thread", "macros", "time", "net"] }
serde = { version = "1", features = ["derive"] }
schemars = "1"

# From crates.io, tidings would be built like any registry crate: without incremental
# compilation, which path dependencies get, and which slows a cold build down.
[profile.dev.package.tidings]
incremental = false

[profile.dev.package.tidings-macros]
incremental = false
EOF

cat >"$work/tidings-clock/src/main.rs" <<'EOF'
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use schemars::JsonSchema;
use serde::Deserialize;
use tidings::{Emitter, Query, Router, Validate, event_stream};

const TICKS: u64 = 1000;

/// What the clock says.
#[event_stream]
#[derive(Debug, Clone)]
enum Clock {
    /// The time.
    Tick {
        #[validate(range(min = 1))]
        unix_ms: u64,
    },
    /// The last event.
    Stopped,
}

#[derive(Deserialize, JsonSchema, Validate)]
struct ClockQuery {
    #[validate(range(min = 10, max = 60000))]
    interval_ms: Option<u64>,
}

#[event_stream(path = "/clock")]
async fn clock(Query(query): Query<ClockQuery>, events: Emitter<Clock>) -> tidings::Result<()> {
    let mut every = tokio::time::interval(Duration::from_millis(query.interval_ms.unwrap_or(1000)));
    for _ in 0..TICKS {
        every.tick().await;
        let unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        events.emit(Clock::Tick { unix_ms }).await?;
    }
    events.emit(Clock::Stopped).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    tidings::serve(Router::new().route(clock)).run(listener).await
}
EOF

cat >"$work/axum-clock/Cargo.toml" <<'EOF'
[package]
name = "axum-clock"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
axum = "0.8"
tokio = { version = "1", features = ["rt-multi-thread", "macros", "time", "net"] }
serde = { version = "1", features = ["derive"] }
serde_json = "1"
futures-util = { version = "0.3", default-features = false, features = ["std"] }
EOF

cat >"$work/axum-clock/src/main.rs" <<'EOF'
use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::stream::{self, Stream};
use serde::{Deserialize, Serialize};

const TICKS: u64 = 1000;

/// The time.
#[derive(Serialize)]
struct Tick {
    unix_ms: u64,
}

#[derive(Deserialize)]
struct ClockQuery {
    interval_ms: Option<u64>,
}

async fn clock(Query(query): Query<ClockQuery>) -> Response {
    let interval_ms = query.interval_ms.unwrap_or(1000);
    // The rule tidings checks from `#[validate]`, by hand.
    if !(10..=60000).contains(&interval_ms) {
        return (StatusCode::BAD_REQUEST, "interval_ms must be between 10 and 60000").into_response();
    }
    Sse::new(ticks(Duration::from_millis(interval_ms))).into_response()
}

fn ticks(every: Duration) -> impl Stream<Item = Result<Event, Infallible>> {
    let interval = tokio::time::interval(every);
    stream::unfold((interval, 0u64), |(mut interval, sent)| async move {
        if sent > TICKS {
            return None;
        }
        if sent == TICKS {
            let stopped = Event::default().event("stopped").data("null");
            return Some((Ok(stopped), (interval, sent + 1)));
        }
        interval.tick().await;
        let unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        // And the event's rule, by hand.
        let tick = Tick { unix_ms: unix_ms.max(1) };
        let event = Event::default().event("tick").json_data(&tick).unwrap_or_default();
        Some((Ok(event), (interval, sent + 1)))
    })
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    axum::serve(listener, axum::Router::new().route("/clock", get(clock))).await
}
EOF

# Pin the versions this workspace uses; cargo drops what an app does not need.
cp "$root/Cargo.lock" "$work/tidings-clock/Cargo.lock"
cp "$root/Cargo.lock" "$work/axum-clock/Cargo.lock"

[ "$runs" -gt 0 ] || exit 0

seconds() {
  local start end
  start=$(date +%s.%N)
  cargo build --offline -q --manifest-path "$1/Cargo.toml" --target-dir "$1/target"
  end=$(date +%s.%N)
  awk -v start="$start" -v end="$end" 'BEGIN { printf "%.3f", end - start }'
}

median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

declare -A cold rebuild
for run in $(seq 1 "$runs"); do
  for app in tidings axum; do
    dir="$work/$app-clock"
    rm -rf "$dir/target"
    cold[$app]="${cold[$app]:-} $(seconds "$dir")"
    for edit in $(seq 1 "$edits"); do
      sed -i "s/^const TICKS: u64 = [0-9]*;/const TICKS: u64 = $((1000 + run * 100 + edit));/" "$dir/src/main.rs"
      rebuild[$app]="${rebuild[$app]:-} $(seconds "$dir")"
    done
    echo "run $run, $app: cold ${cold[$app]##* } s, last rebuild ${rebuild[$app]##* } s" >&2
  done
done

# shellcheck disable=SC2086
tc=$(median ${cold[tidings]}); ac=$(median ${cold[axum]})
# shellcheck disable=SC2086
tr=$(median ${rebuild[tidings]}); ar=$(median ${rebuild[axum]})
echo
echo "$runs cold builds and $((runs * edits)) rebuilds each (medians), debug profile, $(nproc) cores"
echo
echo "| | tidings | axum 0.8 | ratio |"
echo "|---|---|---|---|"
row() {
  awk -v what="$1" -v t="$2" -v a="$3" -v digits="$4" \
    'BEGIN { printf "| %s | %." digits "f s | %." digits "f s | %.2fx |\n", what, t, a, t / a }'
}
row "cold build, all dependencies" "$tc" "$ac" 1
row "rebuild after editing one number in the app" "$tr" "$ar" 2

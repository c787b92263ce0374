//! Memory a client that never reads can pin, measured from this process's resident set: over
//! HTTP/2 (one connection, many streams, the largest window the protocol allows) it stays
//! within a small multiple of each stream's byte budget, as over HTTP/1.1.
//!
//! One test in its own binary, so that nothing else allocates while it measures.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tidings::{Emitter, Router, event_stream};
use tidings_tests::TestServer;
use tidings_tests::raw_h2::RawH2;

#[event_stream]
enum Flood {
    Tick { n: u64, pad: String },
}

static EMITTED: AtomicU64 = AtomicU64::new(0);

/// Events as fast as the stream takes them.
#[event_stream(path = "/flood")]
async fn flood(events: Emitter<Flood>) -> tidings::Result<()> {
    let pad = "x".repeat(150);
    for n in 0.. {
        events
            .emit(Flood::Tick {
                n,
                pad: pad.clone(),
            })
            .await?;
        EMITTED.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm.split(' ').nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Waits until the handlers have stopped emitting (every stream is full), at most 20 s.
async fn until_stalled() {
    let mut last = EMITTED.load(Ordering::Relaxed);
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = EMITTED.load(Ordering::Relaxed);
        if now == last {
            return;
        }
        last = now;
    }
    panic!("the handlers never stopped emitting: nothing pushes back on them");
}

const STREAMS: u64 = 100;
const BUDGET: u64 = 64 * 1024;

/// Bytes of resident memory each stream added, measured in a fresh process of this test
/// binary, so that memory freed by one measurement cannot hide what the next one takes.
fn measure(protocol: &str) -> u64 {
    let stdout = tidings_tests::run_isolated(&[], "one_protocol", &[("MEMORY_PROTOCOL", protocol)]);
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("per stream: "))
        .and_then(|bytes| bytes.trim().parse().ok())
        .unwrap_or_else(|| panic!("{protocol}: no figure in {stdout}"))
}

#[test]
fn a_client_that_never_reads_pins_little_more_than_each_streams_budget() {
    let h1 = measure("h1");
    let h2 = measure("h2");
    println!(
        "resident memory per never-reading stream: HTTP/1.1 {} KiB, HTTP/2 {} KiB (budget {} KiB)",
        h1 / 1024,
        h2 / 1024,
        BUDGET / 1024
    );
    // The budget, its buffer's growth, and 16 KiB in HTTP/2's own send buffer.
    assert!(
        h2 <= 2 * BUDGET + 32 * 1024,
        "an HTTP/2 stream whose client reads nothing holds {h2} bytes"
    );
    assert!(
        h2 <= h1 + h1 / 4,
        "HTTP/2 holds more than HTTP/1.1: {h2} > {h1}"
    );
    // HTTP/1.1 adds a connection and hyper's 16 queued chunks of 4 KiB.
    assert!(
        h1 <= 4 * BUDGET,
        "an HTTP/1.1 stream whose client reads nothing holds {h1} bytes"
    );
}

/// One measurement, run by the test above in a process of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by a_client_that_never_reads_pins_little_more_than_each_streams_budget"]
async fn one_protocol() {
    let protocol = std::env::var("MEMORY_PROTOCOL").expect("MEMORY_PROTOCOL");
    let server = TestServer::start(Router::new().route(flood).buffer_bytes(BUDGET as usize)).await;
    let before = resident_bytes();
    let mut h1 = Vec::new();
    let mut h2 = None;
    if protocol == "h1" {
        // One connection per stream, each from a socket with a tiny receive buffer.
        for _ in 0..STREAMS {
            h1.push(tidings_tests::RawResponse::send_slow(server.addr, "/flood").await);
        }
    } else {
        // Every stream on one connection, which reads nothing.
        let connection = h2.insert(RawH2::connect(server.addr).await);
        for _ in 0..STREAMS {
            connection.get("/flood").await;
        }
    }
    until_stalled().await;
    println!(
        "per stream: {}",
        resident_bytes().saturating_sub(before) / STREAMS
    );
}

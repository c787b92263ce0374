//! The memory a compressed stream keeps, measured from this process's resident set: each
//! encoding's compressor stays within what tidings counts for it in the server's budget
//! (`Encoding::memory`), and the README's figures come from here.
//!
//! Each measurement runs in a fresh process of this test binary, so that nothing else
//! allocates meanwhile and memory freed by one cannot hide what the next takes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tidings::compression::{Compression, Encoding};
use tidings::{Emitter, Router, event_stream};
use tidings_tests::{RawResponse, TestServer};

#[event_stream]
enum Metrics {
    /// The dashboard example's sample, about 250 bytes of JSON.
    Sample {
        unix_ms: u64,
        cpu_percent: f64,
        load_1m: f64,
        memory_used_mib: u64,
        memory_total_mib: u64,
        net_rx_bytes_per_s: f64,
        net_tx_bytes_per_s: f64,
        disk_read_bytes_per_s: f64,
        disk_write_bytes_per_s: f64,
    },
}

/// Streams that have sent all their samples.
static DONE: AtomicU64 = AtomicU64::new(0);

const STREAMS: u64 = 200;
const SAMPLES: u64 = 60;

/// `SAMPLES` samples, one chunk each (a flush each), then the stream stays open.
#[event_stream(path = "/samples")]
async fn samples(events: Emitter<Metrics>) -> tidings::Result<()> {
    for n in 0..SAMPLES {
        let x = (n as f64 * 0.37).sin();
        events
            .emit(Metrics::Sample {
                unix_ms: 1_764_800_000_000 + n * 1000,
                cpu_percent: 20.0 + 10.0 * x,
                load_1m: 1.0 + x.abs(),
                memory_used_mib: 5000 + (n * 7) % 300,
                memory_total_mib: 24_032,
                net_rx_bytes_per_s: 1234.0 * x.abs(),
                net_tx_bytes_per_s: 987.5 + 100.0 * x,
                disk_read_bytes_per_s: 0.0,
                disk_write_bytes_per_s: 40_960.0 * x.abs(),
            })
            .await?;
        // One sample per write, as a slow stream sends them.
        tokio::task::yield_now().await;
    }
    DONE.fetch_add(1, Ordering::SeqCst);
    events.closed().await;
    Ok(())
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm.split(' ').nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Bytes of resident memory per stream whose client asks for `accept_encoding`, measured in a
/// process of its own.
fn measure(accept_encoding: &str) -> u64 {
    let stdout = tidings_tests::run_isolated(
        &[],
        "one_encoding",
        &[("MEMORY_ACCEPT_ENCODING", accept_encoding)],
    );
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("per stream: "))
        .and_then(|bytes| bytes.trim().parse().ok())
        .unwrap_or_else(|| panic!("{accept_encoding}: no figure in {stdout}"))
}

#[test]
fn each_compressor_stays_within_the_memory_counted_for_it() {
    let identity = measure("identity");
    println!("identity: {} KiB per stream", identity / 1024);
    for encoding in Encoding::ALL {
        let compressed = measure(encoding.as_str());
        let compressor = compressed.saturating_sub(identity);
        println!(
            "{encoding}: {} KiB per stream, its compressor {} KiB (counted: {} KiB)",
            compressed / 1024,
            compressor / 1024,
            encoding.memory() / 1024
        );
        assert!(
            compressor <= encoding.memory() as u64,
            "a {encoding} stream's compressor holds {compressor} bytes, more than the {} \
             counted in the budget",
            encoding.memory()
        );
    }
}

/// One measurement, run by the test above in a process of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by each_compressor_stays_within_the_memory_counted_for_it"]
async fn one_encoding() {
    let accept_encoding = std::env::var("MEMORY_ACCEPT_ENCODING").expect("MEMORY_ACCEPT_ENCODING");
    let router = Router::new().route(samples).compression(Compression::new());
    let server = TestServer::start(router).await;
    let before = resident_bytes();
    let mut open = Vec::new();
    for _ in 0..STREAMS {
        let headers = [("accept-encoding", accept_encoding.as_str())];
        let response = RawResponse::send(server.addr, "GET", "/samples", &headers).await;
        let expected = (accept_encoding != "identity").then_some(accept_encoding.as_str());
        assert_eq!(response.header("content-encoding"), expected);
        open.push(response);
    }
    for _ in 0..200 {
        if DONE.load(Ordering::SeqCst) == STREAMS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        DONE.load(Ordering::SeqCst),
        STREAMS,
        "every stream sent its samples"
    );
    // The last chunks reach the sockets.
    tokio::time::sleep(Duration::from_millis(300)).await;
    println!(
        "per stream: {}",
        resident_bytes().saturating_sub(before) / STREAMS
    );
}

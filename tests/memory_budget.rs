//! One budget for the bytes all streams hold (`Serve::max_queued_bytes`), and the largest
//! event of a route (`Router::max_event_bytes`), measured from this process's resident set.
//!
//! Events larger than a stream's own budget go alone, so without a server-wide budget a
//! stream's memory is set by the largest event its route sends: here 40 clients that stop
//! reading a stream of 512 KiB events would pin 40 MB or more (the frame queued, and the one
//! the connection holds). With a 12 MiB budget, the slowest streams are ended, logged
//! and counted, and the process stays within the budget.
//!
//! Its own binary, so that nothing else allocates while it measures.

use std::time::{Duration, Instant};

use tidings::{EmitError, Emitter, Router, event_stream};
use tidings_tests::raw_h2::RawH2;
use tidings_tests::{CapturedLog, PATIENCE, TestServer, stalled_reader};
use tokio::io::AsyncReadExt;

#[event_stream]
enum Big {
    Chunk {
        n: u64,
        pad: std::borrow::Cow<'static, str>,
    },
    /// What the handler saw when an event was too large to send.
    Refused { error: String },
}

/// 512 KiB of padding, shared by every event: what is measured is what tidings holds.
static PAD: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| "b".repeat(512 * 1024));

/// 512 KiB events as fast as the client takes them.
#[event_stream(path = "/big")]
async fn big(events: Emitter<Big>) -> tidings::Result<()> {
    for n in 0.. {
        events
            .emit(Big::Chunk {
                n,
                pad: PAD.as_str().into(),
            })
            .await?;
    }
    Ok(())
}

/// Tries a 2 MiB event on a route whose largest is 1 MiB, says what happened, then sends a
/// small one: the stream goes on.
#[event_stream(path = "/oversized", max_event_bytes = 1_048_576)]
async fn oversized(events: Emitter<Big>) -> tidings::Result<()> {
    let refused = events
        .emit(Big::Chunk {
            n: 0,
            pad: "o".repeat(2 * 1024 * 1024).into(),
        })
        .await;
    let error = match refused {
        Err(error @ EmitError::TooLarge { .. }) => error.to_string(),
        other => format!("unexpected: {other:?}"),
    };
    events.emit(Big::Refused { error }).await?;
    events
        .emit(Big::Chunk {
            n: 1,
            pad: "".into(),
        })
        .await?;
    Ok(())
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm.split(' ').nth(1).unwrap().parse().unwrap();
    pages * 4096
}

const BUDGET: u64 = 12 * 1024 * 1024;
const READERS: usize = 40;
/// Streams of the HTTP/2 connection that reads nothing.
const H2_STREAMS: u64 = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slowest_streams_end_when_the_servers_budget_is_reached() {
    let log = CapturedLog::install();
    let router = Router::new().route(big).route(oversized);
    let server =
        TestServer::start_with(router, |serve| serve.max_queued_bytes(BUDGET as usize)).await;

    // A route's largest event: the handler sees the refusal, the stream goes on.
    let mut response = server.get("/oversized").await;
    assert_eq!(response.status, 200);
    let refused = response.event().await;
    assert!(
        refused.contains("is 2097") && refused.contains("more than the route's largest event"),
        "{refused}"
    );
    assert!(response.event().await.contains("\"n\":1"));

    // Warm up the allocator with one reader, then measure.
    let warm = stalled_reader(server.addr, "/big").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(warm);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = resident_bytes();

    let mut readers = Vec::new();
    for _ in 0..READERS {
        readers.push(stalled_reader(server.addr, "/big").await);
    }
    // Let every handler fill what it may.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let grown = resident_bytes().saturating_sub(before);

    // Some readers were ended: their connections were aborted (EOF or reset after what the
    // kernel had buffered).
    let mut ended = 0;
    for stream in &mut readers {
        let mut sink = vec![0u8; 64 * 1024];
        let start = Instant::now();
        let closed = loop {
            match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut sink)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break true,
                Ok(Ok(_)) if start.elapsed() < Duration::from_millis(300) => continue,
                _ => break false,
            }
        };
        ended += usize::from(closed);
    }
    eprintln!(
        "{READERS} stalled readers of 512 KiB events: resident memory grew {:.1} MiB (budget \
         {} MiB); {ended} streams ended",
        grown as f64 / 1048576.0,
        BUDGET / 1048576
    );
    assert!(ended > 0, "no stream was ended to keep the budget");
    // The budget, plus the allocator's slack (512 KiB blocks freed and reused) and the
    // connections' own buffers; without the budget, at least 40 MiB (and nothing ended).
    assert!(
        grown < 2 * BUDGET,
        "resident memory grew {grown} bytes with a budget of {BUDGET}"
    );
    let logged = log.text();
    assert!(
        logged.contains("ending the slowest stream"),
        "the reason is logged: {logged}"
    );
    // And a client that reads keeps its stream, the budget being full of stalled readers.
    let mut reading = server.get("/big").await;
    let start = Instant::now();
    for n in 0..20 {
        let frame = reading.event().await;
        assert!(frame.starts_with("event: chunk\n"), "{}", &frame[..40]);
        assert!(frame.contains(&format!("\"n\":{n},")));
    }
    assert!(start.elapsed() < PATIENCE);
    drop(reading);
    drop(readers);

    // HTTP/2: one connection, 30 streams, the largest windows, and nothing read. Its streams
    // become the slowest; ending them drops the connection, with what it buffered.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cuts = |log: &CapturedLog| log.text().matches("ending the slowest stream").count();
    let cuts_before = cuts(&log);
    let before = resident_bytes();
    let mut h2 = RawH2::connect(server.addr).await;
    for _ in 0..H2_STREAMS {
        h2.get("/big").await;
    }
    // Read a trickle for 2 s (a window's worth at most): the server sees stalled streams.
    let mut sink = vec![0u8; 64 * 1024];
    let trickle = Instant::now();
    let mut ended_early = false;
    while trickle.elapsed() < Duration::from_secs(2) && !ended_early {
        tokio::time::sleep(Duration::from_millis(200)).await;
        ended_early = matches!(h2.stream.read(&mut sink[..4096]).await, Ok(0) | Err(_));
    }
    let grown = resident_bytes().saturating_sub(before);
    // Then read all there is: a connection the server dropped ends once what the kernel
    // still held for it is read; one it kept would stream forever.
    let start = Instant::now();
    let closed = ended_early
        || tokio::time::timeout(PATIENCE, async {
            while matches!(h2.stream.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await
        .is_ok();
    eprintln!(
        "30 never-read HTTP/2 streams of 512 KiB events: resident memory grew {:.1} MiB; the \
         connection ended {:?} after the trickle",
        grown as f64 / 1048576.0,
        start.elapsed()
    );
    assert!(closed, "the server dropped the HTTP/2 connection");
    assert!(
        cuts(&log) > cuts_before,
        "it was dropped to keep the budget (logged)"
    );
    // Memory: the budget, plus the frame each stream's connection holds outside it (one
    // 512 KiB event per stream, handed to h2 whole), plus the allocator's slack. Most runs
    // grow by under 1 MiB (the HTTP/1.1 phase's freed memory is reused); now and then these
    // allocations land in fresh memory (one CI run: 34.7 MiB, past the twice-the-budget bound
    // this had). What shows the budget at work here is the dropped connection, above.
    let in_flight = H2_STREAMS * PAD.len() as u64;
    assert!(
        grown < 2 * BUDGET + in_flight,
        "resident memory grew {grown} bytes with a budget of {BUDGET}"
    );
}

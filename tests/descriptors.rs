//! Out of file descriptors: the server stops accepting for a while, keeps every open stream,
//! says so in its log (not every few milliseconds), and accepts again once descriptors free
//! up.
//!
//! The test runs itself again under a low descriptor limit (`prlimit`), so that running out
//! takes a few dozen connections and nothing else on the machine is affected.

use std::time::Duration;

use tidings::{Emitter, Router, event_stream};
use tidings_tests::{RawResponse, TestServer};
use tokio::net::TcpStream;

#[event_stream]
enum Tick {
    Tick { n: u64 },
}

#[event_stream(path = "/ticks")]
async fn ticks(events: Emitter<Tick>) -> tidings::Result<()> {
    for n in 0.. {
        events.emit(Tick::Tick { n }).await?;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = events.closed() => break,
        }
    }
    Ok(())
}

#[test]
fn out_of_descriptors_the_server_keeps_its_streams_and_recovers() {
    let stdout = tidings_tests::run_isolated(
        &["prlimit", "--nofile=96:96"],
        "under_a_descriptor_limit",
        &[],
    );
    println!("{stdout}");
}

#[tokio::test]
#[ignore = "run by out_of_descriptors_the_server_keeps_its_streams_and_recovers, under prlimit"]
async fn under_a_descriptor_limit() {
    let log = tidings_tests::CapturedLog::install();
    let server = TestServer::start(Router::new().route(ticks)).await;
    let mut streams = Vec::new();
    for _ in 0..10 {
        let mut stream = server.get("/ticks").await;
        stream.event().await;
        streams.push(stream);
    }
    // Connect until the process has no descriptor left: the last ones wait, unaccepted, in
    // the listener's queue.
    let mut idle = Vec::new();
    loop {
        match TcpStream::connect(server.addr).await {
            Ok(stream) => idle.push(stream),
            Err(error) => {
                assert_eq!(error.raw_os_error(), Some(24), "EMFILE: {error}");
                break;
            }
        }
        assert!(idle.len() < 200, "the descriptor limit is not in force");
    }
    println!("{} idle connections exhausted the descriptors", idle.len());

    // Two seconds without descriptors: every open stream goes on.
    for _ in 0..20 {
        for stream in &mut streams {
            stream.event().await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let warnings = log.text().matches("cannot accept connections").count();
    assert!(
        (1..=2).contains(&warnings),
        "the exhaustion is logged, not every few milliseconds: {warnings} warnings"
    );

    // Descriptors free up: the server accepts again.
    drop(idle);
    let mut recovered = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let Ok(mut socket) = TcpStream::connect(server.addr).await else {
            continue;
        };
        use tokio::io::AsyncWriteExt;
        socket
            .write_all(b"GET /ticks HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        recovered = Some(RawResponse::read_head(socket).await);
        break;
    }
    let mut recovered = recovered.expect("the server accepted again");
    assert_eq!(recovered.status, 200);
    recovered.event().await;
    for stream in &mut streams {
        stream.event().await;
    }
}

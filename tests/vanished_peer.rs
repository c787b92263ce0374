//! A client whose network vanishes without a FIN or RST: the server notices within about the
//! heartbeat interval plus `Serve::dead_peer_timeout`, not the kernel's ~16 minutes.
//!
//! The network that vanishes is a private one: the test runs itself again in a network
//! namespace of its own (`unshare`), where it takes the loopback interface down mid-stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tidings::{Emitter, Router, Serve, State, event_stream};
use tidings_tests::TestServer;

#[event_stream]
enum Beat {
    Beat,
}

/// Whether the stream's `closed()` has resolved.
#[derive(Clone, Default)]
struct Closed(Arc<AtomicBool>);

#[event_stream(path = "/beats")]
async fn beats(State(closed): State<Closed>, events: Emitter<Beat>) -> tidings::Result<()> {
    events.emit(Beat::Beat).await?;
    events.closed().await;
    closed.0.store(true, Ordering::SeqCst);
    Ok(())
}

async fn stream_on(configure: impl FnOnce(Serve) -> Serve) -> (TestServer, Closed) {
    let closed = Closed::default();
    let router = Router::new()
        .route(beats)
        .with_state(closed.clone())
        .heartbeat(Some(Duration::from_millis(200)));
    (TestServer::start_with(router, configure).await, closed)
}

#[test]
fn a_vanished_peer_is_noticed_within_the_dead_peer_timeout() {
    let stdout = tidings_tests::run_isolated(
        &["unshare", "--net", "--map-root-user"],
        "in_a_private_network",
        &[],
    );
    println!("{stdout}");
}

fn ip(args: &[&str]) {
    let status = std::process::Command::new("ip")
        .args(args)
        .status()
        .expect("`ip` (iproute2) sets up the private network: install iproute2");
    assert!(status.success(), "ip {args:?}");
}

#[tokio::test]
#[ignore = "run by a_vanished_peer_is_noticed_within_the_dead_peer_timeout, in a namespace"]
async fn in_a_private_network() {
    ip(&["link", "set", "lo", "up"]);
    let (protected, protected_closed) =
        stream_on(|serve| serve.dead_peer_timeout(Some(Duration::from_secs(1)))).await;
    let (unprotected, unprotected_closed) = stream_on(|serve| serve.dead_peer_timeout(None)).await;
    let mut first = protected.get("/beats").await;
    let mut second = unprotected.get("/beats").await;
    first.event().await;
    second.event().await;

    // The network disappears: no FIN, no RST, nothing acknowledged from now on.
    ip(&["link", "set", "lo", "down"]);
    let vanished = Instant::now();
    while !protected_closed.0.load(Ordering::SeqCst) {
        assert!(
            vanished.elapsed() < Duration::from_secs(10),
            "the server did not notice the vanished peer"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let noticed = vanished.elapsed();
    println!("noticed after {noticed:?} (heartbeat 200 ms, dead peer timeout 1 s)");
    assert!(noticed < Duration::from_secs(4), "{noticed:?}");
    // Without the timeout, the same stream is still open: the kernel would retry for minutes.
    assert!(!unprotected_closed.0.load(Ordering::SeqCst));
    drop((first, second));
}

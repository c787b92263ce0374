//! How streams end: the client leaves, the handler fails or panics, the server shuts down.

use std::time::{Duration, Instant};

use tidings::{Emitter, Router, event_stream};
use tidings_tests::{PATIENCE, TestServer};
use tokio::sync::mpsc;

#[event_stream]
#[derive(Debug, Clone)]
enum Status {
    Step { n: u32 },
    Bye,
}

/// Tells the test when `closed()` resolved, and whether an emit after that failed with
/// `Closed`.
static CLOSED: std::sync::Mutex<Option<mpsc::UnboundedSender<(Instant, bool)>>> =
    std::sync::Mutex::new(None);

#[event_stream(path = "/wait")]
async fn wait(events: Emitter<Status>) -> tidings::Result<()> {
    events.emit(Status::Step { n: 0 }).await?;
    events.closed().await;
    let noticed = Instant::now();
    let refused = matches!(
        events.emit(Status::Bye).await,
        Err(tidings::EmitError::Closed)
    );
    let sender = CLOSED.lock().unwrap().clone();
    if let Some(sender) = sender {
        let _ = sender.send((noticed, refused));
    }
    Ok(())
}

#[tokio::test]
async fn a_client_that_leaves_is_noticed_while_nothing_is_sent() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    *CLOSED.lock().unwrap() = Some(tx);
    // Heartbeats off: only the closed socket can tell the server.
    let server = TestServer::start(Router::new().route(wait).heartbeat(None)).await;

    for http2 in [false, true] {
        let left = if http2 {
            let response = tidings_tests::h2_get(server.addr, "/wait").await;
            let mut body = response.into_body();
            use http_body_util::BodyExt;
            let _first = body.frame().await.unwrap().unwrap();
            let left = Instant::now();
            drop(body); // resets the stream; the connection stays open
            left
        } else {
            let mut response = server.get("/wait").await;
            assert_eq!(response.frame().await, "event: step\ndata: {\"n\":0}\n\n");
            let left = Instant::now();
            // A real FIN from the client's socket, then the socket is gone.
            use tokio::io::AsyncWriteExt;
            response.stream.shutdown().await.unwrap();
            drop(response);
            left
        };
        let (noticed, refused) = tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .unwrap()
            .unwrap();
        let delay = noticed.duration_since(left);
        assert!(
            delay < Duration::from_secs(1),
            "http2={http2}: closed() after {delay:?}"
        );
        assert!(
            refused,
            "http2={http2}: an emit after the client left fails with Closed"
        );
    }
}

#[event_stream(path = "/fail")]
async fn fail(events: Emitter<Status>) -> tidings::Result<()> {
    events.emit(Status::Step { n: 1 }).await?;
    Err(tidings::Error::public("the job was cancelled"))
}

#[event_stream(path = "/fail-inside")]
async fn fail_inside(events: Emitter<Status>) -> tidings::Result<()> {
    events.emit(Status::Step { n: 1 }).await?;
    std::fs::read("/nonexistent/secret/path")?;
    Ok(())
}

#[event_stream(path = "/panic")]
async fn panics(events: Emitter<Status>) -> tidings::Result<()> {
    events.emit(Status::Step { n: 1 }).await?;
    panic!("handler bug");
}

#[event_stream(path = "/unit")]
async fn unit(events: Emitter<Status>) {
    let _ = events.emit(Status::Bye).await;
}

fn app() -> Router {
    Router::new()
        .route(fail)
        .route(fail_inside)
        .route(panics)
        .route(unit)
}

#[tokio::test]
async fn a_failing_handler_sends_one_error_event_and_ends() {
    let server = TestServer::start(app()).await;
    let mut response = server.get("/fail").await;
    assert_eq!(response.frame().await, "event: step\ndata: {\"n\":1}\n\n");
    assert_eq!(
        response.frame().await,
        "event: error\ndata: {\"message\":\"the job was cancelled\"}\n\n"
    );
    assert!(response.ends().await);

    let mut response = server.get("/fail-inside").await;
    response.frame().await;
    let error = response.frame().await;
    assert_eq!(
        error,
        "event: error\ndata: {\"message\":\"internal error\"}\n\n"
    );
    assert!(
        !error.contains("secret"),
        "internal details stay in the log"
    );
    assert!(response.ends().await);
}

#[tokio::test]
async fn a_panicking_handler_sends_an_error_event_and_the_server_lives_on() {
    let server = TestServer::start(app()).await;
    for _ in 0..2 {
        let mut response = server.get("/panic").await;
        assert_eq!(response.frame().await, "event: step\ndata: {\"n\":1}\n\n");
        assert_eq!(
            response.frame().await,
            "event: error\ndata: {\"message\":\"internal error\"}\n\n"
        );
        assert!(response.ends().await);
    }
    let mut response = server.get("/unit").await;
    assert_eq!(response.frame().await, "event: bye\ndata: null\n\n");
    assert!(
        response.ends().await,
        "a handler returning () ends the stream cleanly"
    );
}

#[event_stream(path = "/polite")]
async fn polite(events: Emitter<Status>) -> tidings::Result<()> {
    let mut n = 0;
    loop {
        events.emit(Status::Step { n }).await?;
        n += 1;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            _ = events.closed() => break,
        }
    }
    // The last word still reaches the client during a graceful shutdown.
    let _ = events.emit(Status::Bye).await;
    Ok(())
}

#[event_stream(path = "/stubborn")]
async fn stubborn(events: Emitter<Status>) -> tidings::Result<()> {
    events.emit(Status::Step { n: 0 }).await?;
    // Ignores closed(): only the grace period ends it.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    Ok(())
}

#[tokio::test]
async fn graceful_shutdown_closes_streams_and_waits_for_handlers() {
    let mut server = TestServer::start(Router::new().route(polite)).await;
    let mut first = server.get("/polite").await;
    let mut second = server.get("/polite").await;
    first.event().await;
    second.event().await;
    let stopped = server.begin_shutdown();
    for response in [&mut first, &mut second] {
        let rest = response.rest().await;
        assert!(
            rest.contains("event: bye\n"),
            "the handler saw closed() and said bye: {rest}"
        );
        assert!(
            rest.ends_with(
                "event: bye\ndata: null\n\n\
                 event: tidings.end\ndata: {\"reason\":\"shutdown\",\"reconnect\":true}\n\n"
            ),
            "bye is the handler's last event, then the server says why the stream ended: {rest}"
        );
    }
    tokio::time::timeout(PATIENCE, stopped)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(server.addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn the_grace_period_bounds_the_shutdown() {
    let mut server = TestServer::start_with(Router::new().route(stubborn), |s| {
        s.grace_period(Duration::from_millis(300))
    })
    .await;
    let mut response = server.get("/stubborn").await;
    response.event().await;
    let started = Instant::now();
    let stopped = server.begin_shutdown();
    tokio::time::timeout(PATIENCE, stopped)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "waited for the grace period: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "then stopped: {took:?}");
    // The connection was dropped with the handler.
    response.rest().await;
}

static SPAWNED_SAW_CANCEL: std::sync::Mutex<Option<mpsc::UnboundedSender<()>>> =
    std::sync::Mutex::new(None);

#[event_stream(path = "/spawn")]
async fn spawns(events: Emitter<Status>) -> tidings::Result<()> {
    let token = events.cancellation_token();
    let sender = SPAWNED_SAW_CANCEL.lock().unwrap().clone();
    // Work that outlives nothing: it stops when the stream is closed.
    tokio::spawn(async move {
        token.cancelled().await;
        if let Some(sender) = sender {
            let _ = sender.send(());
        }
    });
    events.emit(Status::Step { n: 0 }).await?;
    events.closed().await;
    Ok(())
}

#[tokio::test]
async fn spawned_tasks_hold_a_token_that_is_cancelled_with_the_stream() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    *SPAWNED_SAW_CANCEL.lock().unwrap() = Some(tx);
    let server = TestServer::start(Router::new().route(spawns)).await;
    let mut response = server.get("/spawn").await;
    response.event().await;
    assert!(
        rx.try_recv().is_err(),
        "not cancelled while the client is there"
    );
    drop(response);
    tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .unwrap()
        .unwrap();
}

#[event_stream(path = "/once")]
async fn once(events: Emitter<Status>) -> tidings::Result<()> {
    events.emit(Status::Bye).await?;
    Ok(())
}

#[tokio::test]
async fn bind_serves_an_address_and_reports_one_in_use() {
    // An address nobody holds: the kernel's pick, let go again.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tidings::serve(Router::new().route(once))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .bind(addr),
    );
    let deadline = Instant::now() + PATIENCE;
    let mut response = loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break tidings_tests::RawResponse::send(addr, "GET", "/once", &[]).await;
        }
        assert!(Instant::now() < deadline, "bind never listened on {addr}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(response.event().await, "event: bye\ndata: null\n\n");

    // A second server on the same address fails with the bind error, without panicking.
    let taken = tidings::serve(Router::new().route(once)).bind(addr).await;
    assert_eq!(
        taken.unwrap_err().kind(),
        std::io::ErrorKind::AddrInUse,
        "binding an address in use"
    );

    let _ = stop.send(());
    let served = tokio::time::timeout(PATIENCE, server).await;
    assert!(matches!(served, Ok(Ok(Ok(())))), "{served:?}");
}

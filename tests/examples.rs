//! The examples, served exactly as `cargo run --example NAME` serves them, over real sockets.

use std::time::{Duration, Instant};

use tidings::EventSet;
use tidings_example_clock::{self as clock, Clock};
use tidings_tests::{TestServer, assert_up_to_date};

#[tokio::test]
async fn the_clock_ticks_at_the_requested_interval() {
    let server = TestServer::start(clock::app()).await;
    let mut response = server.get("/clock?interval_ms=50").await;
    assert_eq!(response.status, 200);
    let started = Instant::now();
    let mut last_ms = 0;
    let mut expected_seq = 0;
    while expected_seq < 5 {
        let frame = response.event().await;
        let data = frame.strip_prefix("event: ").unwrap();
        let (name, data) = data.split_once("\ndata: ").unwrap();
        // A minute's chime comes between ticks when the test runs across a minute boundary.
        if name == "minute" {
            continue;
        }
        match Clock::decode(name, data.trim_end()).unwrap() {
            Clock::Tick { seq, unix_ms } => {
                assert_eq!(seq, expected_seq);
                assert!(unix_ms >= last_ms);
                last_ms = unix_ms;
                expected_seq += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Five ticks 50 ms apart (the first is immediate): at least 200 ms.
    assert!(started.elapsed() >= Duration::from_millis(190));
}

#[tokio::test]
async fn the_clock_refuses_an_interval_out_of_range() {
    let server = TestServer::start(clock::app()).await;
    for query in ["interval_ms=5", "interval_ms=60001", "interval_ms=soon"] {
        let mut response = server.get(&format!("/clock?{query}")).await;
        assert_eq!(response.status, 400, "{query}");
        let body = response.rest().await;
        assert!(body.contains("\"location\":\"query\""), "{body}");
    }
}

/// The committed OpenAPI document of the clock is what the code generates.
#[test]
fn the_clock_openapi_document_is_up_to_date() {
    let document = clock::openapi().to_string_pretty() + "\n";
    assert_up_to_date("examples/clock/openapi.json", &document);
}

/// The committed `examples/clock/client.ts` is what the code generates (CI compiles it with
/// `tsc --strict` and runs it against the example server).
#[test]
fn the_clock_typescript_client_is_up_to_date() {
    assert_up_to_date("examples/clock/client.ts", &clock::typescript());
}

/// A log file in the temporary directory, removed when dropped.
struct TempLog(std::path::PathBuf);

impl TempLog {
    fn new(name: &str, content: &str) -> TempLog {
        let path = std::env::temp_dir().join(format!("tidings-{name}-{}.log", std::process::id()));
        std::fs::write(&path, content).unwrap();
        TempLog(path)
    }

    fn append(&self, content: &str) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.0)
            .unwrap();
        file.write_all(content.as_bytes()).unwrap();
    }
}

impl Drop for TempLog {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `(id, data)` of the next `line` event.
async fn next_line(response: &mut tidings_tests::RawResponse) -> (String, String) {
    let mut frame = response.event().await;
    if frame.starts_with("retry: ") {
        frame = response.event().await;
    }
    let mut id = String::new();
    let mut data = String::new();
    for line in frame.trim_end().lines() {
        if let Some(value) = line.strip_prefix("id: ") {
            id = value.to_owned();
        } else if let Some(value) = line.strip_prefix("data: ") {
            data = value.to_owned();
        } else {
            assert!(
                line == "event: line",
                "unexpected line {line:?} in {frame:?}"
            );
        }
    }
    (id, data)
}

#[tokio::test]
async fn the_log_tail_resumes_at_the_next_line_and_sees_new_ones() {
    let log = TempLog::new("resume", "one\ntwo\r\nthree\n");
    let server = TestServer::start(tidings_example_logs::app(log.0.clone())).await;
    let mut response = server.get("/logs?lines=2").await;
    assert_eq!(response.status, 200);
    assert_eq!(next_line(&mut response).await, ("4".into(), "one".into()));
    assert_eq!(next_line(&mut response).await, ("9".into(), "two".into()));
    // Two lines asked for: the stream ends, and a client comes back with the last id.
    assert!(response.ends().await);
    let mut resumed =
        tidings_tests::RawResponse::send(server.addr, "GET", "/logs", &[("last-event-id", "9")])
            .await;
    assert_eq!(next_line(&mut resumed).await, ("15".into(), "three".into()));
    // A line written later arrives; half a line waits for its line break.
    log.append("four\nfi");
    assert_eq!(next_line(&mut resumed).await, ("20".into(), "four".into()));
    log.append("ve\n");
    assert_eq!(next_line(&mut resumed).await, ("25".into(), "five".into()));
}

#[tokio::test]
async fn an_id_inside_a_line_resumes_at_the_next_line_and_0_at_the_tail() {
    // 300 lines of 10 bytes: more than the 2 KiB a new client gets.
    let text: String = (0..300).map(|n| format!("line {n:04}\n")).collect();
    let log = TempLog::new("midline", &text);
    let server = TestServer::start(tidings_example_logs::app(log.0.clone())).await;
    let resume = |id: &'static str| async move {
        let mut response =
            tidings_tests::RawResponse::send(server.addr, "GET", "/logs", &[("last-event-id", id)])
                .await;
        next_line(&mut response).await
    };
    // At a line's end: the next line. Inside "line 0001": "line 0002", whole.
    assert_eq!(resume("20").await, ("30".into(), "line 0002".into()));
    assert_eq!(resume("13").await, ("30".into(), "line 0002".into()));
    // 0 is no line's end: a new client's tail, not the whole file.
    let (id, line) = resume("0").await;
    assert_eq!(line.len(), 9, "a whole line: {line:?}");
    let from_tail = text.len() as u64 - 2048;
    assert!(
        id.parse::<u64>().unwrap() > from_tail,
        "from the tail: {id}"
    );
    // Inside the line being written (no line break after it): the tail too.
    log.append("line 03");
    let end = (text.len() + 3).to_string();
    let (_, line) = resume(Box::leak(end.into_boxed_str())).await;
    assert_eq!(line.len(), 9, "a whole line: {line:?}");
}

#[tokio::test]
async fn the_log_tail_filters_and_notices_a_rotated_file() {
    let log = TempLog::new("filter", "a INFO\nb ERROR\nc INFO\n");
    let server = TestServer::start(tidings_example_logs::app(log.0.clone())).await;
    let mut response = server.get("/logs?contains=ERROR").await;
    assert_eq!(next_line(&mut response).await.1, "b ERROR");
    log.append("d ERROR\n");
    assert_eq!(next_line(&mut response).await.1, "d ERROR");
    // The file is replaced by a shorter one: the client hears so, then its lines.
    std::fs::write(&log.0, "e ERROR\n").unwrap();
    assert_eq!(response.event().await, "event: rotated\ndata: null\n\n");
    assert_eq!(
        next_line(&mut response).await,
        ("8".into(), "e ERROR".into())
    );
}

#[tokio::test]
async fn a_job_is_watched_from_its_state_now_to_done() {
    use tidings_example_progress::{self as progress, Job, JobRequest, Jobs};
    let jobs = Jobs::default();
    let started = jobs
        .start(&JobRequest {
            steps: 5,
            step_ms: 20,
        })
        .unwrap();
    assert_eq!(started.progress, format!("/jobs/{}/progress", started.id));
    let server = TestServer::start(progress::app(jobs.clone())).await;
    let mut response = server.get(&started.progress).await;
    assert_eq!(response.status, 200);
    let mut percents = Vec::new();
    loop {
        let frame = response.event().await;
        let (name, data) = frame
            .strip_prefix("event: ")
            .and_then(|rest| rest.split_once("\ndata: "))
            .unwrap();
        match Job::decode(name, data.trim_end()).unwrap() {
            Job::Progress { percent, .. } => percents.push(percent),
            Job::Done { took_ms } => {
                assert!(took_ms >= 100, "5 steps of 20 ms took {took_ms} ms");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(percents.first(), Some(&0), "the state at once");
    assert!(percents.is_sorted(), "progress only goes up: {percents:?}");
    assert_eq!(
        response.event().await,
        "event: tidings.end\ndata: {\"reason\":\"complete\",\"reconnect\":false}\n\n",
        "nothing follows `done`: clients do not come back"
    );
    assert!(response.ends().await, "the stream ends after done");

    // A watcher that comes after the end hears `done` at once.
    let mut late = server.get(&started.progress).await;
    assert!(late.event().await.starts_with("event: done\n"));

    // Out of range, or no such job.
    let refused = JobRequest {
        steps: 0,
        step_ms: 10,
    };
    assert_eq!(
        jobs.start(&refused).err(),
        Some(progress::StartError::OutOfRange)
    );
    let mut unknown = server.get("/jobs/999/progress").await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.rest().await.contains("no job 999"));
}

#[tokio::test]
async fn a_cancelled_job_ends_its_streams_and_finished_jobs_are_forgotten() {
    use tidings_example_progress::{self as progress, Job, JobRequest, Jobs, StartError};
    let jobs = Jobs::new(Duration::from_millis(300), 2);
    let slow = JobRequest {
        steps: 1000,
        step_ms: 10_000,
    };
    let started = jobs.start(&slow).unwrap();
    let server = TestServer::start(progress::app(jobs.clone())).await;
    let mut watching = server.get(&started.progress).await;
    assert!(watching.event().await.starts_with(
        "event: progress
"
    ));
    assert!(jobs.cancel(started.id));
    let cancelled = watching.event().await;
    let data = cancelled.strip_prefix("event: cancelled\ndata: ").unwrap();
    assert!(matches!(
        Job::decode("cancelled", data.trim_end()).unwrap(),
        Job::Cancelled { .. }
    ));
    assert!(watching.event().await.contains("\"reason\":\"complete\""));
    assert!(watching.ends().await);
    // At most two jobs kept: a third waits until one is forgotten.
    jobs.start(&slow).unwrap();
    assert_eq!(jobs.start(&slow).err(), Some(StartError::Full));
    assert!(!jobs.cancel(999));
    // The cancelled job is forgotten after 300 ms: memory stays bounded.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(jobs.len(), 1);
    let gone = server.get(&started.progress).await;
    assert_eq!(gone.status, 404);
    assert!(jobs.start(&slow).is_ok());
}

#[tokio::test]
async fn a_line_longer_than_a_read_still_goes_out() {
    let long = "x".repeat(100 * 1024);
    let log = TempLog::new("long", "before\n");
    let server = TestServer::start(tidings_example_logs::app(log.0.clone())).await;
    let mut response = server.get("/logs").await;
    assert_eq!(next_line(&mut response).await.1, "before");
    log.append(&format!("{long}\nafter\n"));
    let mut received = String::new();
    let mut piece_ids = Vec::new();
    loop {
        let (id, data) = next_line(&mut response).await;
        if data == "after" {
            break;
        }
        received.push_str(&data);
        piece_ids.push(id);
    }
    assert_eq!(
        received, long,
        "the long line, in pieces, then the next one"
    );
    // A client cut after the first piece resumes with the second, not at the next line.
    let mut resumed = tidings_tests::RawResponse::send(
        server.addr,
        "GET",
        "/logs",
        &[("last-event-id", piece_ids[0].as_str())],
    )
    .await;
    let (_, second) = next_line(&mut resumed).await;
    assert_eq!(
        second.len(),
        long.len() - 64 * 1024,
        "the rest of the long line"
    );
}

#[tokio::test]
async fn the_log_tail_starts_an_id_past_the_end_at_the_tail_without_claiming_a_rotation() {
    let log = TempLog::new("future", "one\ntwo\n");
    let server = TestServer::start(tidings_example_logs::app(log.0.clone())).await;
    let mut response = tidings_tests::RawResponse::send(
        server.addr,
        "GET",
        "/logs",
        &[("last-event-id", "999999")],
    )
    .await;
    // The last lines, as for a new client: no `rotated`, no replay from a pretend rotation.
    assert_eq!(next_line(&mut response).await, ("4".into(), "one".into()));
    assert_eq!(next_line(&mut response).await, ("8".into(), "two".into()));
    log.append("three\n");
    assert_eq!(
        next_line(&mut response).await,
        ("14".into(), "three".into())
    );
}

/// SIGTERM, as systemd, Kubernetes and Docker stop a service: the streams end with their
/// final chunk (not cut), and the process exits successfully.
async fn terminates_gracefully(name: &str, path: &str) {
    let (mut child, addr) = tidings_tests::start_example(name, &[]);
    let mut response = tidings_tests::RawResponse::send(addr, "GET", path, &[]).await;
    assert_eq!(response.status, 200, "{name}");
    response.event().await;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(
        response.completes().await,
        "{name}: the stream ended with its final chunk"
    );
    let exited = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exited.success(), "{name} exited with {exited}");
}

#[tokio::test]
async fn every_example_stops_gracefully_on_sigterm() {
    terminates_gracefully("clock", "/clock?interval_ms=50").await;
    terminates_gracefully("dashboard", "/metrics").await;
}

#[tokio::test]
async fn the_examples_close_silent_connections() {
    let streams = tidings_example_dashboard::app(tidings_example_dashboard::memory_hub());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serve = tidings_examples::with_streams(axum::Router::new(), streams)
        .unwrap()
        .header_read_timeout(Duration::from_millis(300));
    let server = tokio::spawn(serve.run(listener));
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut sink = [0u8; 64];
    let read = tokio::time::timeout(
        tidings_tests::PATIENCE,
        tokio::io::AsyncReadExt::read(&mut silent, &mut sink),
    )
    .await
    .expect("the silent connection was closed");
    assert_eq!(read.unwrap_or(0), 0);
    server.abort();
}

/// The committed `examples/auth/client.ts` is what the code generates (the page loads it).
#[test]
fn the_auth_typescript_client_is_up_to_date() {
    assert_up_to_date(
        "examples/auth/client.ts",
        &tidings_example_auth::typescript(),
    );
}

#[tokio::test]
async fn the_token_endpoint_bounds_its_body_its_requests_and_its_store() {
    use tidings_example_auth::{MAX_TOKEN_REQUEST_BYTES, Tokens, token_route};
    let tokens = Tokens::bounded(Duration::from_secs(60), 3);
    let serve = tidings_examples::with_streams(token_route(tokens.clone()), tidings::Router::new())
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve.run(listener));
    let post = |body: String| async move {
        let length = body.len().to_string();
        let headers = [
            ("content-type", "application/json"),
            ("content-length", length.as_str()),
        ];
        let mut response = tidings_tests::RawResponse::send_body(
            addr,
            "POST",
            "/token",
            &headers,
            body.as_bytes(),
        )
        .await;
        (response.status, response.rest().await)
    };
    // A body of tiny scopes past the limit (the attack sent 2 MB): refused, nothing kept.
    let scopes = vec!["a"; 2_000];
    let huge = serde_json::json!({ "name": "ann", "scopes": scopes }).to_string();
    assert!(huge.len() > MAX_TOKEN_REQUEST_BYTES);
    assert_eq!(post(huge).await.0, 413);
    // Small, but more scopes than a token carries: a problem+json 400.
    let many = serde_json::json!({ "name": "ann", "scopes": vec!["s"; 9] }).to_string();
    let (status, body) = post(many).await;
    assert_eq!(status, 400);
    assert!(body.contains("at most 8 scopes"), "{body}");
    assert!(tokens.is_empty());
    // The store holds three live tokens; the fourth waits for one to expire.
    let ok = serde_json::json!({ "name": "ann", "scopes": ["feed"] }).to_string();
    for _ in 0..3 {
        assert_eq!(post(ok.clone()).await.0, 200);
    }
    let (status, body) = post(ok).await;
    assert_eq!(status, 503);
    assert!(body.contains("too many tokens"), "{body}");
    assert_eq!(tokens.len(), 3);
}

#[tokio::test]
async fn authenticated_streams_refuse_bad_tokens_and_end_when_the_token_expires() {
    use tidings_example_auth::{Feed, TokenRequest, Tokens, routes};
    let tokens = Tokens::new(Duration::from_millis(600));
    let hub = tidings_example_auth::memory_hub();
    let server = TestServer::start(routes(hub.clone(), tokens.clone())).await;
    let problem = |mut response: tidings_tests::RawResponse, status: u16| async move {
        assert_eq!(response.status, status);
        assert_eq!(
            response.header("content-type"),
            Some("application/problem+json")
        );
        let www = response.header("www-authenticate").map(str::to_owned);
        let body: serde_json::Value = serde_json::from_str(&response.rest().await).unwrap();
        assert_eq!(body["status"], status);
        www
    };
    let get = |headers: Vec<(&'static str, String)>| {
        let addr = server.addr;
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            tidings_tests::RawResponse::send(addr, "GET", "/feed", &headers).await
        }
    };
    // No token, a forged one: 401 with a challenge, before any stream starts.
    assert_eq!(
        problem(get(vec![]).await, 401).await.as_deref(),
        Some("Bearer")
    );
    let forged = vec![("authorization", "Bearer forged".to_owned())];
    assert_eq!(
        problem(get(forged).await, 401).await.as_deref(),
        Some("Bearer")
    );
    // A token without the scope: 403.
    let unscoped = tokens
        .issue(TokenRequest {
            name: "bob".into(),
            scopes: vec![],
        })
        .unwrap();
    let bearer = |token: &str| vec![("authorization", format!("Bearer {token}"))];
    problem(get(bearer(&unscoped.token)).await, 403).await;
    // The scheme is case-insensitive (RFC 9110, section 11.1): `bearer` is read too.
    let lower = vec![("authorization", format!("bearer  {}", unscoped.token))];
    problem(get(lower).await, 403).await;

    // A good token: readings, until it expires; the stream then ends cleanly.
    let publisher = tokio::spawn(tidings_example_auth::publish(hub.clone(), 0));
    let token = tokens
        .issue(TokenRequest {
            name: "ann".into(),
            scopes: vec!["feed".into()],
        })
        .unwrap();
    let started = Instant::now();
    let mut stream = get(bearer(&token.token)).await;
    assert_eq!(stream.status, 200);
    let mut last_id = None;
    let mut seen = Vec::new();
    while let Some(frame) = stream.next_frame().await {
        if let Some(event) = tidings_tests::parse_frame(&frame)
            && event.event == "reading"
        {
            let Feed::Reading { n, .. } = Feed::decode(&event.event, &event.data).unwrap();
            seen.push(n);
            last_id = event.id;
        }
    }
    let lived = started.elapsed();
    assert!(
        (Duration::from_millis(550)..Duration::from_secs(3)).contains(&lived),
        "the stream lived {lived:?}"
    );
    assert!(!seen.is_empty());
    // The expired token no longer opens a stream; a fresh one resumes after the last reading.
    problem(get(bearer(&token.token)).await, 401).await;
    let fresh = tokens
        .issue(TokenRequest {
            name: "ann".into(),
            scopes: vec!["feed".into()],
        })
        .unwrap();
    let mut headers = bearer(&fresh.token);
    headers.push(("last-event-id", last_id.unwrap()));
    let mut resumed = get(headers).await;
    // The first frame is `retry:`, the next the first reading after the last one seen.
    let event = loop {
        if let Some(event) = tidings_tests::parse_frame(&resumed.event().await) {
            break event;
        }
    };
    let Feed::Reading { n, .. } = Feed::decode(&event.event, &event.data).unwrap();
    assert_eq!(
        n,
        seen.last().unwrap() + 1,
        "resumed right after the last reading"
    );
    publisher.abort();
}

#[tokio::test]
async fn an_example_logs_plain_text_off_a_terminal_with_peers_as_addresses() {
    use std::io::{BufRead, Read};
    let mut child = std::process::Command::new(tidings_tests::example_binary("clock"))
        .env("ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the clock");
    let stdout = child.stdout.take().unwrap();
    let line = std::io::BufReader::new(stdout)
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let at = line.find("http://").unwrap() + "http://".len();
    let addr: std::net::SocketAddr = line[at..].split('/').next().unwrap().parse().unwrap();
    let mut response =
        tidings_tests::RawResponse::send(addr, "GET", "/clock?interval_ms=10&count=1", &[]).await;
    assert!(response.rest().await.contains("event: tick"));
    // The stream's end is logged as it ends; then the example is stopped, by its PID.
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let mut logged = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logged)
        .unwrap();
    let ended = logged
        .lines()
        .find(|line| line.contains("stream ended"))
        .unwrap_or_else(|| panic!("no `stream ended` line in {logged:?}"));
    assert!(
        !logged.contains('\u{1b}'),
        "no colour codes in a pipe: {logged:?}"
    );
    assert!(ended.contains("peer=127.0.0.1:"), "{ended}");
    assert!(!ended.contains("Some("), "{ended}");
}

//! The React example's server (`examples/react`), over real sockets: its build progress resumes
//! with `Last-Event-ID`, its streams are counted, and the generated files its page is built
//! from are up to date. The page itself is tested in Chromium (`tools/test/react.test.ts`).

use std::time::Duration;

use tidings::EventSet;
use tidings_example_react::{self as react, Build, BuildRequest, Builds, StreamCounts};
use tidings_tests::{RawResponse, TestServer, assert_up_to_date};

/// The committed `examples/react/src/client.ts` is what the code generates.
#[test]
fn the_react_example_client_is_up_to_date() {
    assert_up_to_date("examples/react/src/client.ts", &react::typescript());
}

/// The committed `examples/react/src/react.ts` (the `useSubscription` hook) is what the code
/// generates.
#[test]
fn the_react_example_hook_is_up_to_date() {
    assert_up_to_date("examples/react/src/react.ts", &react::react());
}

/// The next event of `response`, decoded, with its id (past the `retry:` the router sends).
async fn next(response: &mut RawResponse) -> (String, Build) {
    let mut frame = response.event().await;
    if frame.starts_with("retry: 250\n") {
        frame = response.event().await;
    }
    let (id, rest) = frame
        .strip_prefix("id: ")
        .and_then(|rest| rest.split_once("\nevent: "))
        .unwrap_or_else(|| panic!("an event with an id: {frame:?}"));
    let (name, data) = rest.split_once("\ndata: ").unwrap();
    (id.to_owned(), Build::decode(name, data.trim_end()).unwrap())
}

#[tokio::test]
async fn a_build_resumes_after_the_last_step_seen_and_ends_after_done() {
    let builds = Builds::default();
    let counts = StreamCounts::default();
    let started = builds
        .start(&BuildRequest {
            steps: 6,
            step_ms: 20,
        })
        .unwrap();
    let server = TestServer::start(react::app(
        builds.clone(),
        &counts,
        tidings::hub::Hub::new(),
    ))
    .await;
    let path = format!("/builds/{}/progress", started.id);

    let mut first = server.get(&path).await;
    assert_eq!(first.status, 200);
    for expected in 1..=2 {
        let (id, event) = next(&mut first).await;
        assert_eq!(id, expected.to_string());
        assert!(matches!(event, Build::Step { step, steps: 6, .. } if step == expected));
    }
    assert_eq!(counts.snapshot()["progress"].open, 1);
    drop(first);

    // Back with the id of step 2: steps 3 to 6, then `done`, then the end.
    let mut resumed = RawResponse::send(server.addr, "GET", &path, &[("last-event-id", "2")]).await;
    for expected in 3..=6 {
        let (id, event) = next(&mut resumed).await;
        assert_eq!(id, expected.to_string());
        assert!(matches!(event, Build::Step { step, .. } if step == expected));
    }
    let (id, done) = next(&mut resumed).await;
    assert_eq!(id, "7");
    assert!(matches!(done, Build::Done { took_ms } if took_ms >= 100));
    let complete = "event: tidings.end\ndata: {\"reason\":\"complete\",\"reconnect\":false}\n\n";
    assert_eq!(resumed.event().await, complete, "nothing follows `done`");
    assert!(resumed.ends().await);

    // A client that had `done` gets nothing more.
    let mut after = RawResponse::send(server.addr, "GET", &path, &[("last-event-id", "7")]).await;
    assert_eq!(after.status, 200);
    assert!(after.rest().await.ends_with(complete));

    // Every stream counted, none left open once the handlers ended.
    let mut open = u64::MAX;
    for _ in 0..100 {
        open = counts.snapshot()["progress"].open;
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(open, 0);
    assert_eq!(counts.snapshot()["progress"].opened, 3);

    let mut unknown = server.get("/builds/99/progress").await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.rest().await.contains("no build 99"));
    for (steps, step_ms) in [(0, 10), (1001, 10), (5, 10_001)] {
        assert!(builds.start(&BuildRequest { steps, step_ms }).is_none());
    }
}

#[tokio::test]
async fn the_page_says_how_to_build_its_bundle_until_it_is_built() {
    let dist = std::env::temp_dir().join(format!("tidings-react-dist-{}", std::process::id()));
    std::fs::create_dir_all(&dist).unwrap();
    let folder = dist.to_str().unwrap();
    let (mut child, addr) = tidings_tests::start_example("react", &[("REACT_DIST", folder)]);

    let mut missing = RawResponse::send(addr, "GET", "/", &[]).await;
    assert_eq!(missing.status, 503);
    let body = missing.rest().await;
    assert!(
        body.contains("npm run build --prefix examples/react"),
        "{body}"
    );

    // Built (here, a stand-in bundle): the page loads it, without a restart.
    std::fs::write(dist.join("main.js"), "console.log('built');").unwrap();
    let mut page = RawResponse::send(addr, "GET", "/", &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.rest().await.contains(r#"src="/assets/main.js""#));
    let mut script = RawResponse::send(addr, "GET", "/assets/main.js", &[]).await;
    assert_eq!(script.status, 200);
    assert_eq!(script.rest().await, "console.log('built');");

    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dist);
}

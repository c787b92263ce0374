//! Publishing to a hub allocates per event, never per subscriber per event: the steady path
//! from `Hub::publish` through `Emitter::forward` to the response body shares one serialized
//! frame and reuses every buffer. Counted with a counting allocator, which is deterministic
//! (this test binary runs this one test, on one thread).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use http_body_util::BodyExt;
use tidings::hub::Hub;
use tidings::{Emitter, ResponseBody, event_stream};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator, counting on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[event_stream]
#[derive(Debug, Clone)]
enum Metric {
    Sample { seq: u64, value: f64 },
}

const SUBSCRIBERS: usize = 100;

/// Publishes `count` events and waits until every body has yielded them all.
async fn round(hub: &Hub<Metric>, bodies: &mut [ResponseBody], start: u64, count: u64) {
    for seq in start..start + count {
        hub.publish(Metric::Sample {
            seq,
            value: seq as f64 / 2.0,
        })
        .await
        .unwrap();
    }
    for body in bodies.iter_mut() {
        let mut seen = 0;
        while seen < count {
            let frame = body.frame().await.unwrap().unwrap();
            // Frames queued together arrive joined in one chunk.
            seen += frame.into_data().map_or(0, |data| {
                data.windows(13).filter(|w| w == b"event: sample").count() as u64
            });
        }
    }
}

#[test]
fn no_allocation_per_subscriber_per_event() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let hub = Hub::<Metric>::new();
        let mut bodies = Vec::new();
        for _ in 0..SUBSCRIBERS {
            let (events, body) = Emitter::<Metric>::pair(1024 * 1024);
            let subscription = hub.subscribe(None).await;
            tokio::spawn(async move { events.forward(subscription).await });
            bodies.push(body);
        }
        // Warm up: buffers reach their steady sizes.
        round(&hub, &mut bodies, 0, 200).await;

        const EVENTS: u64 = 100;
        let before = allocations();
        round(&hub, &mut bodies, 200, EVENTS).await;
        let spent = allocations() - before;
        let per_event = spent as f64 / EVENTS as f64;
        println!("{spent} allocations for {EVENTS} events to {SUBSCRIBERS} subscribers: {per_event:.1} per event");
        // A few per publish (the frame, the event's Arc, its id), none per subscriber: one
        // allocation per subscriber per event would be 100 per event here.
        assert!(per_event < 10.0, "{per_event} allocations per event");
    });
}

//! Micro-benchmarks: one emit (validate, serialize, frame, queue) next to axum building the
//! same event and serde_json alone, one binary event next to the same bytes as JSON numbers,
//! and one publish to N subscribers.
//! `cargo bench -p tidings-bench --bench micro`.

use std::borrow::Cow;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http_body::Body;
use http_body_util::BodyExt;
use tidings::Emitter;
use tidings::hub::Hub;
use tidings_bench::{Bench, PAYLOAD, tick};

fn emit(c: &mut Criterion) {
    let (events, mut body) = Emitter::<Bench>::pair(usize::MAX >> 4);
    let mut cx = Context::from_waker(Waker::noop());
    let Bench::Tick { ts, .. } = tick(0);
    let mut seq = 0;
    let mut group = c.benchmark_group("one small event");
    group.bench_function("tidings emit (validate + serialize + frame + queue)", |b| {
        b.iter(|| {
            seq += 1;
            let event = Bench::Tick {
                seq,
                ts,
                payload: Cow::Borrowed(PAYLOAD),
            };
            events.try_emit(black_box(event)).unwrap();
            // Take the frame back, as the connection would, so that the queue stays empty.
            let frame = Pin::new(&mut body).poll_frame(&mut cx);
            assert!(matches!(frame, Poll::Ready(Some(Ok(_)))));
        })
    });
    // Baselines in the same run: axum building the same event, and serde_json alone writing
    // its data into a reused buffer (the part of an emit no SSE library can avoid).
    group.bench_function("axum Event::json_data (baseline)", |b| {
        b.iter(|| {
            seq += 1;
            let tick = AxumTick::new(seq, ts);
            let event = axum::response::sse::Event::default()
                .event("tick")
                .json_data(black_box(&tick))
                .unwrap();
            drop(black_box(event));
        })
    });
    let mut buffer = Vec::with_capacity(256);
    group.bench_function("serde_json::to_writer alone (floor)", |b| {
        b.iter(|| {
            seq += 1;
            let tick = AxumTick::new(seq, ts);
            buffer.clear();
            serde_json::to_writer(&mut buffer, black_box(&tick)).unwrap();
            black_box(&buffer);
        })
    });
    group.finish();
}

/// A binary event, for the cost of base64.
#[tidings::event_stream]
#[derive(Debug, Clone)]
enum Binary {
    #[event(base64)]
    Chunk(bytes::Bytes),
}

/// One emit of a 1 KiB binary event (so its time is its ns per KiB), next to serde_json
/// writing the same bytes as a JSON array of numbers, the way they go without base64.
fn binary(c: &mut Criterion) {
    let (events, mut body) = Emitter::<Binary>::pair(usize::MAX >> 4);
    let mut cx = Context::from_waker(Waker::noop());
    let kib = bytes::Bytes::from((0..1024).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>());
    let mut group = c.benchmark_group("1 KiB of bytes");
    group.bench_function(
        "tidings emit #[event(base64)] (base64 into the stream's buffer)",
        |b| {
            b.iter(|| {
                events
                    .try_emit(black_box(Binary::Chunk(kib.clone())))
                    .unwrap();
                let frame = Pin::new(&mut body).poll_frame(&mut cx);
                assert!(matches!(frame, Poll::Ready(Some(Ok(_)))));
            })
        },
    );
    let numbers: Vec<u8> = kib.to_vec();
    let mut buffer = Vec::with_capacity(8 * 1024);
    group.bench_function(
        "serde_json::to_writer of the bytes as an array of numbers",
        |b| {
            b.iter(|| {
                buffer.clear();
                serde_json::to_writer(&mut buffer, black_box(&numbers)).unwrap();
                black_box(&buffer);
            })
        },
    );
    group.finish();
}

/// The event's data as a plain struct, for the baselines.
#[derive(serde::Serialize)]
struct AxumTick {
    seq: u64,
    ts: u64,
    payload: &'static str,
}

impl AxumTick {
    fn new(seq: u64, ts: u64) -> Self {
        AxumTick {
            seq,
            ts,
            payload: PAYLOAD,
        }
    }
}

fn publish(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("publish to N subscribers and deliver");
    for subscribers in [1usize, 10, 100, 1000] {
        let hub = Hub::<Bench>::new();
        let mut bodies = Vec::new();
        runtime.block_on(async {
            for _ in 0..subscribers {
                let (events, body) = Emitter::<Bench>::pair(usize::MAX >> 4);
                let subscription = hub.subscribe(None).await;
                tokio::spawn(async move { events.forward(subscription).await });
                bodies.push(body);
            }
        });
        let mut seq = 0;
        group.bench_with_input(
            BenchmarkId::from_parameter(subscribers),
            &subscribers,
            |b, _| {
                b.iter(|| {
                    seq += 1;
                    runtime.block_on(async {
                        hub.publish(black_box(tick(seq))).await.unwrap();
                        for body in bodies.iter_mut() {
                            body.frame().await.unwrap().unwrap();
                        }
                    })
                })
            },
        );
    }
    group.finish();
}

criterion_group!(micro, emit, binary, publish);
criterion_main!(micro);

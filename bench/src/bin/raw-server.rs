//! The machine's floor for delivery latency: no HTTP library and no task per connection. One
//! task accepts, answers the request with a fixed head and keeps the socket; the publisher
//! writes each frame to every socket in turn. Only `/broadcast` at `RATE` events per second
//! means anything here: what is left of the latency is the kernel's loopback and the load
//! generator.
//!
//! It also times its own writes, which no load generator can slow down: `GET /writes` answers
//! with the median and 99th percentile, in microseconds, of the time from an event's `ts` to
//! the end of its `write` to each socket, over the writes since the last `GET /writes`. No
//! server that writes every subscriber's socket can deliver sooner than that.

use std::sync::{Arc, Mutex};

use tidings_bench::{Bench, announce, now_micros, publish_loop, rate, tick};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";

#[derive(Default)]
struct Floor {
    sockets: Vec<TcpStream>,
    /// Microseconds from an event's `ts` to the end of each of its writes.
    written_after: Vec<u32>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let floor: Arc<Mutex<Floor>> = Arc::default();
    let publisher = floor.clone();
    tokio::spawn(publish_loop(rate(), move |seq| {
        let Bench::Tick { seq, ts, payload } = tick(seq);
        let frame = format!(
            "event: tick\ndata: {{\"seq\":{seq},\"ts\":{ts},\"payload\":\"{payload}\"}}\n\n"
        );
        let mut floor = publisher.lock().unwrap();
        let Floor {
            sockets,
            written_after,
        } = &mut *floor;
        // A socket that cannot take a whole frame at once is dropped: the floor does not
        // queue.
        sockets.retain(|socket| {
            let written = matches!(socket.try_write(frame.as_bytes()), Ok(n) if n == frame.len());
            if written && written_after.len() < 10_000_000 {
                written_after.push(now_micros().saturating_sub(ts) as u32);
            }
            written
        });
        std::future::ready(true)
    }));
    let listener = tokio::net::TcpListener::bind(tidings_bench::addr()).await?;
    announce(listener.local_addr()?);
    loop {
        let (mut stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let floor = floor.clone();
        tokio::spawn(async move {
            // The request head fits one read; only its path matters here.
            let mut request = [0u8; 1024];
            let Ok(n) = stream.read(&mut request).await else {
                return;
            };
            if request[..n].starts_with(b"GET /writes") {
                let report = write_report(&mut floor.lock().unwrap().written_after);
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{report}",
                    report.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            } else if stream.try_write(HEAD).is_ok() {
                floor.lock().unwrap().sockets.push(stream);
            }
        });
    }
}

/// `p50 p99` of the write times, which it then forgets.
fn write_report(written_after: &mut Vec<u32>) -> String {
    written_after.sort_unstable();
    let at = |q: f64| {
        let i = ((written_after.len() as f64 * q) as usize).min(written_after.len().max(1) - 1);
        written_after.get(i).copied().unwrap_or(0)
    };
    let report = format!("{} {}", at(0.5), at(0.99));
    written_after.clear();
    report
}

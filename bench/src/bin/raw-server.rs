//! The machine's floor for delivery latency: no HTTP library and no task per connection. One
//! task accepts, answers the request with a fixed head and keeps the socket; the publisher
//! writes each frame to every socket in turn. Only `/broadcast` at `RATE` events per second
//! means anything here: what is left of the latency is the kernel's loopback and the load
//! generator.

use std::sync::{Arc, Mutex};

use tidings_bench::{Bench, announce, publish_loop, rate, tick};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

const HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let sockets: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    let publisher = sockets.clone();
    tokio::spawn(publish_loop(rate(), move |seq| {
        let Bench::Tick { seq, ts, payload } = tick(seq);
        let frame = format!(
            "event: tick\ndata: {{\"seq\":{seq},\"ts\":{ts},\"payload\":\"{payload}\"}}\n\n"
        );
        // A socket that cannot take a whole frame at once is dropped: the floor does not
        // queue.
        publisher.lock().unwrap().retain(
            |socket| matches!(socket.try_write(frame.as_bytes()), Ok(n) if n == frame.len()),
        );
        std::future::ready(true)
    }));
    let listener = tokio::net::TcpListener::bind(tidings_bench::addr()).await?;
    announce(listener.local_addr()?);
    loop {
        let (mut stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let sockets = sockets.clone();
        tokio::spawn(async move {
            // The request head fits one read; its content does not matter here.
            let mut request = [0u8; 1024];
            if stream.read(&mut request).await.is_ok() && stream.try_write(HEAD).is_ok() {
                sockets.lock().unwrap().push(stream);
            }
        });
    }
}

//! A server that is not tidings, for the client tests: raw TCP, one scripted answer per
//! connection.

/// A server that is not tidings: raw TCP, one scripted answer per connection, and the
/// requests it received (head and body). An answer that starts with `HOLD ` is sent without
/// a length and the connection then stays open, silent; `REDIRECT 307 /there` redirects.
pub async fn scripted_server(
    answers: Vec<&'static str>,
) -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (requests, received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        for answer in answers {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && socket.read(&mut byte).await.unwrap_or(0) == 1
            {
                request.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&request).into_owned();
            let length = header(&head, "content-length").map_or(0, |n| n.parse().unwrap());
            let mut body = vec![0u8; length];
            socket.read_exact(&mut body).await.unwrap();
            request.extend_from_slice(&body);
            let _ = requests.send(String::from_utf8_lossy(&request).into_owned());
            if let Some(redirect) = answer.strip_prefix("REDIRECT ") {
                // `REDIRECT 307 /there`, or `REDIRECT 302` without a Location.
                let (status, location) = redirect.split_once(' ').unwrap_or((redirect, ""));
                let location = if location.is_empty() {
                    String::new()
                } else {
                    format!("location: {location}\r\n")
                };
                let response = format!(
                    "HTTP/1.1 {status} Moved\r\n{location}content-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = socket.write_all(response.as_bytes()).await;
                continue;
            }
            match answer.strip_prefix("HOLD ") {
                Some(body) => {
                    let response =
                        format!("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n{body}");
                    let _ = socket.write_all(response.as_bytes()).await;
                    held.push(socket);
                }
                None => {
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                }
            }
        }
        // Keep the held connections open until the test ends.
        std::future::pending::<()>().await;
    });
    (addr, received)
}

/// The value of header `name` in a request head.
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

//! A raw HTTP/2 client (h2c, prior knowledge) that does only what a test tells it: it can open
//! streams with a window as large as the protocol allows and then read nothing at all, which
//! no real client library does.

use std::collections::HashMap;
use std::net::SocketAddr;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::PATIENCE;

/// Frame types.
pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;

/// One frame as read.
#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn ends_stream(&self) -> bool {
        matches!(self.kind, DATA | HEADERS) && self.flags & END_STREAM != 0
    }
}

/// A connection of the raw client.
pub struct RawH2 {
    pub stream: TcpStream,
    buffer: BytesMut,
    next_stream: u32,
    /// DATA received per stream, and whether the stream ended (END_STREAM or RST_STREAM).
    pub data: HashMap<u32, (Vec<u8>, bool)>,
    /// RST_STREAM error codes received per stream.
    pub resets: HashMap<u32, u32>,
    /// The server's SETTINGS, as (identifier, value).
    pub settings: Vec<(u16, u32)>,
    /// The error code of a GOAWAY, once one came.
    pub goaway: Option<u32>,
}

fn encode(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK header field, literal without indexing, with a new name and no Huffman coding.
fn literal(out: &mut Vec<u8>, name: &str, value: &str) {
    assert!(name.len() < 127 && value.len() < 127, "short headers only");
    out.push(0);
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    out.push(value.len() as u8);
    out.extend_from_slice(value.as_bytes());
}

impl RawH2 {
    /// Connects with a tiny receive buffer and sends the preface, SETTINGS with the largest
    /// stream window there is, and a connection window as large.
    pub async fn connect(addr: SocketAddr) -> RawH2 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(addr).await.expect("connect");
        let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        let huge = (1u32 << 31) - 1;
        let mut settings = 4u16.to_be_bytes().to_vec();
        settings.extend_from_slice(&huge.to_be_bytes());
        out.extend(encode(SETTINGS, 0, 0, &settings));
        out.extend(encode(0x8, 0, 0, &(huge - 65_535).to_be_bytes()));
        stream.write_all(&out).await.unwrap();
        RawH2 {
            stream,
            buffer: BytesMut::new(),
            next_stream: 1,
            data: HashMap::new(),
            resets: HashMap::new(),
            settings: Vec::new(),
            goaway: None,
        }
    }

    /// Opens a `GET` stream; returns its id.
    pub async fn get(&mut self, path: &str) -> u32 {
        self.request(&[], path).await
    }

    /// Opens a `GET` stream with extra headers.
    pub async fn request(&mut self, headers: &[(&str, &str)], path: &str) -> u32 {
        self.open("GET", headers, path, true).await
    }

    /// Opens a stream; without `end_stream`, its request body is still to come
    /// ([`send_data`](Self::send_data)).
    pub async fn open(
        &mut self,
        method: &str,
        headers: &[(&str, &str)],
        path: &str,
        end_stream: bool,
    ) -> u32 {
        let id = self.next_stream;
        self.next_stream += 2;
        let mut block = Vec::new();
        literal(&mut block, ":method", method);
        literal(&mut block, ":scheme", "http");
        literal(&mut block, ":path", path);
        literal(&mut block, ":authority", "localhost");
        for (name, value) in headers {
            literal(&mut block, name, value);
        }
        let flags = if end_stream {
            END_HEADERS | END_STREAM
        } else {
            END_HEADERS
        };
        self.stream
            .write_all(&encode(HEADERS, flags, id, &block))
            .await
            .unwrap();
        id
    }

    /// Sends request body bytes on stream `id`.
    pub async fn send_data(&mut self, id: u32, data: &[u8], end_stream: bool) {
        let flags = if end_stream { END_STREAM } else { 0 };
        self.stream
            .write_all(&encode(DATA, flags, id, data))
            .await
            .unwrap();
    }

    /// Reads one frame, answering SETTINGS and PING as a client must; `None` at EOF.
    pub async fn read_frame(&mut self) -> Option<Frame> {
        loop {
            if self.buffer.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buffer[0], self.buffer[1], self.buffer[2]])
                    as usize;
                if self.buffer.len() >= 9 + len {
                    let kind = self.buffer[3];
                    let flags = self.buffer[4];
                    let stream =
                        u32::from_be_bytes(self.buffer[5..9].try_into().unwrap()) & 0x7fff_ffff;
                    self.buffer.advance(9);
                    let payload = self.buffer.split_to(len).to_vec();
                    let frame = Frame {
                        kind,
                        flags,
                        stream,
                        payload,
                    };
                    self.note(&frame).await;
                    return Some(frame);
                }
            }
            let read = self.stream.read_buf(&mut self.buffer).await.unwrap_or(0);
            if read == 0 {
                return None;
            }
        }
    }

    async fn note(&mut self, frame: &Frame) {
        match frame.kind {
            SETTINGS if frame.flags & ACK == 0 => {
                for pair in frame.payload.chunks(6) {
                    let id = u16::from_be_bytes([pair[0], pair[1]]);
                    let value = u32::from_be_bytes(pair[2..6].try_into().unwrap());
                    self.settings.push((id, value));
                }
                let _ = self.stream.write_all(&encode(SETTINGS, ACK, 0, &[])).await;
            }
            PING if frame.flags & ACK == 0 => {
                let _ = self
                    .stream
                    .write_all(&encode(PING, ACK, 0, &frame.payload))
                    .await;
            }
            DATA => {
                let entry = self.data.entry(frame.stream).or_default();
                entry.0.extend_from_slice(&frame.payload);
                entry.1 |= frame.ends_stream();
            }
            HEADERS => self.data.entry(frame.stream).or_default().1 |= frame.ends_stream(),
            RST_STREAM => {
                let code = u32::from_be_bytes(frame.payload[..4].try_into().unwrap());
                self.resets.insert(frame.stream, code);
                self.data.entry(frame.stream).or_default().1 = true;
            }
            GOAWAY => {
                self.goaway = Some(u32::from_be_bytes(frame.payload[4..8].try_into().unwrap()))
            }
            _ => {}
        }
    }

    /// Reads frames until `done` holds, failing the test after [`PATIENCE`]; false if the
    /// connection closed first.
    pub async fn read_until(&mut self, mut done: impl FnMut(&RawH2) -> bool) -> bool {
        tokio::time::timeout(PATIENCE, async {
            while !done(self) {
                if self.read_frame().await.is_none() {
                    return false;
                }
            }
            true
        })
        .await
        .expect("the awaited frames in time")
    }

    /// Reads until stream `id` has ended; its data as text.
    pub async fn rest_of(&mut self, id: u32) -> String {
        let ended = self
            .read_until(|h2| h2.data.get(&id).is_some_and(|d| d.1))
            .await;
        assert!(ended, "the connection closed before stream {id} ended");
        String::from_utf8_lossy(&self.data[&id].0).into_owned()
    }

    /// The value the server gave a setting, if it sent one.
    pub fn setting(&self, id: u16) -> Option<u32> {
        self.settings
            .iter()
            .rev()
            .find(|(i, _)| *i == id)
            .map(|(_, v)| *v)
    }
}

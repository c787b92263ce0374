//! The wire format: WHATWG HTML, "Server-sent events", section "Interpreting an event stream".
//!
//! Every frame ends with a blank line. JSON data is one line (serde_json's compact output
//! escapes every control character); text is split into one `data:` (or `:` for comments) line
//! per line, where CR, LF and CRLF all end a line, so no payload can break the framing.

use std::fmt::{self, Write as _};

use bytes::{BufMut, Bytes, BytesMut};

use crate::event::EventSet;

/// Why a frame could not be built.
#[derive(Debug)]
pub(crate) enum FrameError {
    Serialize(serde_json::Error),
    InvalidId,
}

/// Builds the frame of one event: optional `id:`, `event:`, `data:` lines, blank line.
pub(crate) fn event<E: EventSet>(
    event: &E,
    id: Option<&dyn fmt::Display>,
) -> Result<Bytes, FrameError> {
    // Room for a typical small event, so that serializing it does not grow the buffer.
    let mut out = BytesMut::with_capacity(256);
    write_event(&mut out, event, id)?;
    Ok(out.freeze())
}

/// Appends the frame of one event to `out`. On an error, part of it may have been written.
pub(crate) fn write_event<E: EventSet>(
    out: &mut BytesMut,
    event: &E,
    id: Option<&dyn fmt::Display>,
) -> Result<(), FrameError> {
    if let Some(id) = id {
        write_id(out, id)?;
    }
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.name().as_bytes());
    match (event.text(), event.binary()) {
        (Some(text), _) => {
            out.put_u8(b'\n');
            put_lines(out, b"data: ", text);
        }
        (None, Some((bytes, alphabet))) => {
            // Base64 holds no line break: one line, encoded straight into the buffer.
            out.extend_from_slice(b"\ndata: ");
            crate::binary::encode_into(out, bytes, alphabet);
            out.put_u8(b'\n');
        }
        (None, None) => {
            out.extend_from_slice(b"\ndata: ");
            serde_json::to_writer(Append(out), event).map_err(FrameError::Serialize)?;
            out.put_u8(b'\n');
        }
    }
    out.put_u8(b'\n');
    Ok(())
}

/// `io::Write` into a `BytesMut` by appending: the shortest path for serde_json's many small
/// writes (`bytes`' own writer goes through the generic `BufMut::put`).
struct Append<'a>(&'a mut BytesMut);

impl std::io::Write for Append<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    #[inline]
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        // Most of serde_json's writes are a byte or a few (`"`, `:`, `,`): copying those one
        // by one is cheaper than a call to `memcpy`.
        if bytes.len() <= 4 {
            for &byte in bytes {
                self.0.put_u8(byte);
            }
        } else {
            self.0.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The `error` event sent when a handler fails after the stream started.
pub(crate) fn error_event(data: &serde_json::Value) -> Bytes {
    // A `Value` prints as compact JSON: one line.
    Bytes::from(format!(
        "event: {}\ndata: {data}\n\n",
        crate::event::ERROR_EVENT
    ))
}

/// The `tidings.end` event, the last of every stream the server ends itself.
pub(crate) fn end_event(reason: crate::metrics::EndReason) -> Bytes {
    Bytes::from(format!(
        "event: {}\ndata: {{\"reason\":\"{}\",\"reconnect\":{}}}\n\n",
        crate::event::END_EVENT,
        reason.as_str(),
        reason.reconnect()
    ))
}

/// A comment frame; each line of `text` becomes one `:` line.
pub(crate) fn comment(text: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(text.len() + 8);
    put_lines(&mut out, b": ", text);
    out.put_u8(b'\n');
    out.freeze()
}

/// The idle heartbeat: an empty comment, which clients ignore and proxies see as traffic.
pub(crate) const HEARTBEAT: &[u8] = b":\n\n";

/// Tells the client how long to wait before reconnecting.
pub(crate) fn retry(millis: u128) -> Bytes {
    Bytes::from(format!("retry: {millis}\n\n"))
}

fn write_id(out: &mut BytesMut, id: &dyn fmt::Display) -> Result<(), FrameError> {
    out.put_slice(b"id: ");
    let start = out.len();
    // fmt::Write for BytesMut never fails.
    let _ = write!(out, "{id}");
    // A browser would cut the id at CR/LF, and ignores an id with NUL: refuse both.
    if out[start..].iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(FrameError::InvalidId);
    }
    out.put_u8(b'\n');
    Ok(())
}

/// Writes `prefix line\n` for each line of `text`, splitting at CRLF, CR and LF.
fn put_lines(out: &mut BytesMut, prefix: &[u8], text: &str) {
    let mut rest = text;
    loop {
        let end = rest.find(['\r', '\n']).unwrap_or(rest.len());
        out.put_slice(prefix);
        out.put_slice(&rest.as_bytes()[..end]);
        out.put_u8(b'\n');
        if end == rest.len() {
            return;
        }
        let skip = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + skip..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(prefix: &[u8], text: &str) -> String {
        let mut out = BytesMut::new();
        put_lines(&mut out, prefix, text);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn every_line_ending_starts_a_new_line() {
        assert_eq!(
            lines(b"data: ", "a\rb\nc\r\nd"),
            "data: a\ndata: b\ndata: c\ndata: d\n"
        );
        assert_eq!(lines(b"data: ", ""), "data: \n");
        assert_eq!(lines(b"data: ", "a\n"), "data: a\ndata: \n");
        assert_eq!(lines(b"data: ", "\r\n\r"), "data: \ndata: \ndata: \n");
    }

    #[test]
    fn comments_and_retry() {
        assert_eq!(&comment("x\ny")[..], b": x\n: y\n\n");
        assert_eq!(&retry(1500)[..], b"retry: 1500\n\n");
        assert_eq!(
            &error_event(&serde_json::json!({ "message": "no \"luck\"\n" }))[..],
            b"event: error\ndata: {\"message\":\"no \\\"luck\\\"\\n\"}\n\n"
        );
    }

    #[test]
    fn ids_with_line_breaks_are_refused() {
        let mut out = BytesMut::new();
        assert!(write_id(&mut out, &"a\nb").is_err());
        let mut out = BytesMut::new();
        assert!(write_id(&mut out, &"a\0").is_err());
        let mut out = BytesMut::new();
        write_id(&mut out, &42u64).unwrap();
        assert_eq!(&out[..], b"id: 42\n");
    }
}

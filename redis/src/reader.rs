//! Reading a topic's stream into its window: the catch-up after each (re)subscription, and the
//! frames of stream entries and of channel messages.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use redis::Value;
use tidings::EventSet;
use tidings::hub::{EventId, RESET_EVENT};

use crate::commands::Commands;
use crate::window::Shared;

/// How long a connection attempt may take before Redis counts as unreachable.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a command may wait for its answer.
pub(crate) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Most entries one `XRANGE` of a catch-up returns.
const BATCH: usize = 512;
/// The first wait before a failed catch-up is tried again; it doubles up to `MAX_BACKOFF`.
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// One stream entry: its id and its frame body (the frame without its `id:` line).
pub(crate) type Entry = (EventId, Vec<u8>);

/// The topic's follow task, for as long as its storage lives: each time its channel is
/// subscribed on a new connection, reads what the stream holds past the window, then serves
/// live. A failed read is tried again while that connection lasts.
pub(crate) async fn follow<E: EventSet + Sync>(shared: Arc<Shared<E>>, mut commands: Commands) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let woken = shared.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let Some(generation) = shared.catch_up_due() else {
            woken.await;
            continue;
        };
        match read_past_window(&shared, &mut commands).await {
            Ok(()) => {
                backoff = MIN_BACKOFF;
                if shared.go_live(generation) {
                    tracing::debug!(key = %shared.key, "following the Redis stream");
                }
            }
            Err(error) => {
                tracing::debug!(key = %shared.key, %error, "catching up with the Redis stream failed; trying again");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Reads what the stream holds past the window. The first time, the window is filled with the
/// stream's newest entries, so that this instance resumes clients of the others. Later, the
/// stream must still hold the last entry read; otherwise its history broke (Redis restarted
/// empty, trimmed past it meanwhile, or a failover lost it) and every subscriber is told.
async fn read_past_window<E: EventSet + Sync>(
    shared: &Shared<E>,
    connection: &mut Commands,
) -> redis::RedisResult<()> {
    let (started, mut last, read_any) = {
        let window = shared.lock();
        (window.started, window.last, window.read_any())
    };
    if !started {
        // `TIME` first, in the same round trip: an entry added after it is read by the
        // `XREVRANGE` or comes on the channel with an id after it. (Asked after an empty read,
        // the time could pass an entry added in between, which then belonged to no window
        // and made its readers' resumes a reset.)
        let mut pipeline = redis::pipe();
        pipeline
            .cmd("TIME")
            .cmd("XREVRANGE")
            .arg(&shared.key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(shared.limits.max_events.max(1));
        let mut answers = connection.query_on_primary(&pipeline).await?.into_iter();
        let time: (u64, u64) = redis::from_redis_value(answers.next().unwrap_or(Value::Nil))?;
        let mut newest = entries(answers.next().unwrap_or(Value::Nil))?;
        newest.reverse();
        // Resumable: what comes after the first entry loaded (older ids were trimmed, or are
        // from another history). On an empty stream, what comes after Redis's "now": an id
        // from before it belongs to a history that is gone, and gets a reset.
        let base = match newest.first() {
            Some((first, _)) => *first,
            None => just_before(time),
        };
        let last = newest.last().map_or(base, |(id, _)| *id);
        {
            let mut window = shared.lock();
            window.base = base;
            window.last = last;
            window.started = true;
        }
        shared.push(newest.into_iter().map(|(id, body)| record::<E>(id, &body)));
        return Ok(());
    }
    // Each page comes with a look at the entry read last, in the same round trip (so from
    // the same node): a node whose stream lacks it holds another history (Redis restarted
    // empty, a failover lost it, or a restarted node still takes itself for the primary),
    // and reading on from it as if nothing happened would hide a gap.
    let mut check = read_any;
    loop {
        let mut pipeline = redis::pipe();
        if check {
            pipeline
                .cmd("XRANGE")
                .arg(&shared.key)
                .arg(last.to_string())
                .arg(last.to_string());
        }
        pipeline
            .cmd("XRANGE")
            .arg(&shared.key)
            .arg(format!("({last}"))
            .arg("+")
            .arg("COUNT")
            .arg(BATCH);
        let mut replies = connection.query_on_primary(&pipeline).await?;
        let page = entries(replies.pop().unwrap_or(Value::Nil))?;
        if check && entries(replies.pop().unwrap_or(Value::Nil))?.is_empty() {
            tracing::warn!(key = %shared.key, %last, "the Redis stream lost its history: subscribers get a reset");
            shared.push([(last, reset_frame(last), None)]);
        }
        let full = page.len() == BATCH;
        // The next page checks the newest entry of this one; after an empty page there is
        // none (and a reset was given if the old one was gone).
        check = !page.is_empty();
        if let Some((newest, _)) = page.last() {
            last = *newest;
        }
        shared.push(page.into_iter().map(|(id, body)| record::<E>(id, &body)));
        if !full {
            return Ok(());
        }
    }
}

/// The greatest stream id before the time `TIME` answered: reading after it gets every entry
/// added from then on, `<then>-0` included.
fn just_before((seconds, micros): (u64, u64)) -> EventId {
    let now_ms = seconds.saturating_mul(1000) + micros / 1000;
    EventId {
        epoch: now_ms.saturating_sub(1),
        seq: u64::MAX,
    }
}

/// A record of entry `id`: its frame (the event is decoded on demand: `decoded`).
fn record<E: EventSet>(id: EventId, body: &[u8]) -> (EventId, Bytes, Option<Arc<E>>) {
    let mut frame = BytesMut::with_capacity(body.len() + 32);
    // fmt::Write for BytesMut never fails; the id is digits and `-`.
    let _ = writeln!(frame, "id: {id}");
    frame.put_slice(body);
    // Decoded only for a subscriber that filters (`decoded`): most never need it.
    (id, frame.freeze(), None)
}

/// Appends to `out` the records of a message published on a topic's channel: one frame or
/// more, each with `id: <id>` on its first line, then the body as the stream entry holds it
/// (which ends with the frame's blank line, and has none before). False, with nothing
/// appended, for a message tidings did not publish.
pub(crate) fn live_records<E: EventSet>(
    message: &[u8],
    out: &mut Vec<(EventId, Bytes, Option<Arc<E>>)>,
) -> bool {
    let message = Bytes::copy_from_slice(message);
    let mut records = Vec::new();
    let mut rest = &message[..];
    while !rest.is_empty() {
        let Some(end) = rest
            .windows(2)
            .position(|pair| pair == b"\n\n")
            .map(|at| at + 2)
        else {
            return false;
        };
        let frame = &rest[..end];
        let Some(id) = frame_id(frame) else {
            return false;
        };
        records.push((id, message.slice_ref(frame), None));
        rest = &rest[end..];
    }
    out.append(&mut records);
    true
}

/// The id of a frame whose first line is `id: <id>`.
fn frame_id(frame: &[u8]) -> Option<EventId> {
    let newline = frame.iter().position(|&byte| byte == b'\n')?;
    std::str::from_utf8(&frame[..newline])
        .ok()?
        .strip_prefix("id: ")?
        .parse()
        .ok()
}

/// The event of a window record's frame, for a subscriber's filter. `None` for a frame of the
/// storage's own (a reset) or one this process cannot decode (written by another version):
/// filters let those through, as they are.
pub(crate) fn decoded<E: EventSet>(frame: &[u8]) -> Option<Arc<E>> {
    let newline = frame.iter().position(|&byte| byte == b'\n')?;
    decode::<E>(&frame[newline + 1..]).map(Arc::new)
}

/// Decodes a frame body as tidings writes it: `event:` and `data:` lines.
fn decode<E: EventSet>(body: &[u8]) -> Option<E> {
    let text = std::str::from_utf8(body).ok()?;
    let mut name = "message";
    let mut data = String::new();
    let mut lines = 0;
    for line in text.split('\n') {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => name = value,
            "data" => {
                if lines > 0 {
                    data.push('\n');
                }
                data.push_str(value);
                lines += 1;
            }
            _ => {}
        }
    }
    E::decode(name, &data).ok()
}

/// The reset every subscriber gets when the stream's history broke. Its id is the last entry
/// read before the break, which the record has too: a client that reconnects with it gets the
/// reset (again, if it had it), then what came after (`Window::cursor_after`).
fn reset_frame(last: EventId) -> Bytes {
    let data =
        serde_json::json!({ "reason": "unknown", "oldest": null, "latest": last.to_string() });
    Bytes::from(format!(
        "id: {last}\nevent: {RESET_EVENT}\ndata: {data}\n\n"
    ))
}

/// The entries of an `XRANGE`/`XREVRANGE` answer: `[[id, [field, value, ...]], ...]`.
pub(crate) fn entries(reply: Value) -> redis::RedisResult<Vec<Entry>> {
    let Value::Array(items) = reply else {
        return match reply {
            Value::Nil => Ok(Vec::new()),
            other => Err(unexpected("a stream range", &other)),
        };
    };
    let mut entries = Vec::with_capacity(items.len());
    for item in items {
        let Value::Array(mut parts) = item else {
            return Err(unexpected("a stream entry", &item));
        };
        let fields = parts.pop();
        let id = parts.pop();
        let id = match &id {
            Some(Value::BulkString(id)) => {
                std::str::from_utf8(id).ok().and_then(|t| t.parse().ok())
            }
            Some(Value::SimpleString(id)) => id.parse().ok(),
            _ => None,
        };
        let Some(id) = id else {
            return Err(unexpected("a stream entry id", &Value::Nil));
        };
        let body = match fields {
            Some(Value::Array(fields)) => frame_field(fields),
            Some(Value::Map(fields)) => {
                frame_field(fields.into_iter().flat_map(|(k, v)| [k, v]).collect())
            }
            _ => None,
        };
        match body {
            Some(body) => entries.push((id, body)),
            None => tracing::warn!(%id, "a stream entry without a `frame` field: skipped"),
        }
    }
    Ok(entries)
}

/// The value of the `frame` field of an entry's flat `[field, value, ...]` list.
fn frame_field(fields: Vec<Value>) -> Option<Vec<u8>> {
    let mut fields = fields.into_iter();
    while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
        if let (Value::BulkString(name), Value::BulkString(value)) = (name, value)
            && name == b"frame"
        {
            return Some(value);
        }
    }
    None
}

fn unexpected(what: &str, value: &Value) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::Parse,
        "unexpected answer from Redis",
        format!("{what}: {value:?}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tidings::event_stream]
    #[derive(Debug, Clone)]
    enum Feed {
        Tick { n: u64 },
    }

    #[test]
    fn a_message_carries_one_frame_or_more_and_anything_else_is_refused() {
        let mut out = Vec::new();
        let message =
            b"id: 1-0\nevent: tick\ndata: {\"n\":1}\n\nid: 1-1\nevent: tick\ndata: {\"n\":2}\n\n";
        assert!(live_records::<Feed>(message, &mut out));
        let ids: Vec<String> = out.iter().map(|(id, _, _)| id.to_string()).collect();
        assert_eq!(ids, ["1-0", "1-1"]);
        assert_eq!(&out[1].1[..], b"id: 1-1\nevent: tick\ndata: {\"n\":2}\n\n");
        for foreign in [
            &b"hello"[..],
            b"id: 1-2\ndata: 3\n",
            b"event: tick\ndata: 1\n\n",
        ] {
            assert!(!live_records::<Feed>(foreign, &mut out), "{foreign:?}");
        }
        assert_eq!(out.len(), 2, "nothing appended for a foreign message");
    }
}

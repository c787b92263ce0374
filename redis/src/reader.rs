//! The one `XREAD BLOCK` loop per hub and process that feeds the local window.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Value};
use tidings::EventSet;
use tidings::hub::{EventId, RESET_EVENT};

use crate::window::Shared;

/// How long a connection attempt may take before Redis counts as unreachable.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a command may wait for its answer.
pub(crate) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one `XREAD` blocks when no event comes.
const BLOCK: Duration = Duration::from_secs(5);
/// Most entries one `XREAD` returns.
const BATCH: usize = 512;
/// The first wait before reconnecting; it doubles up to `MAX_BACKOFF`.
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// One stream entry: its id and its frame body (the frame without its `id:` line).
pub(crate) type Entry = (EventId, Vec<u8>);

/// Reads the stream for as long as the storage lives, reconnecting after failures.
pub(crate) async fn run<E: EventSet + Sync>(shared: Arc<Shared<E>>, client: redis::Client) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let error = read(&shared, &client, &mut backoff).await;
        if shared.ready.send_replace(false) {
            tracing::warn!(key = %shared.key, %error, "Redis unreachable: new subscribers get 503 until it is back");
        } else {
            tracing::debug!(key = %shared.key, %error, "Redis still unreachable");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection's worth of reading; returns why it stopped.
async fn read<E: EventSet + Sync>(
    shared: &Shared<E>,
    client: &redis::Client,
    backoff: &mut Duration,
) -> redis::RedisError {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(BLOCK + RESPONSE_TIMEOUT));
    let mut connection = match client
        .get_multiplexed_async_connection_with_config(&config)
        .await
    {
        Ok(connection) => connection,
        Err(error) => return error,
    };
    let mut from = match position(shared, &mut connection).await {
        Ok(from) => from,
        Err(error) => return error,
    };
    if !shared.ready.send_replace(true) {
        tracing::info!(key = %shared.key, "reading the Redis stream");
    }
    *backoff = MIN_BACKOFF;
    loop {
        let reply = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(BATCH)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&shared.key)
            .arg(from.to_string())
            .query_async(&mut connection)
            .await;
        let entries = match reply.and_then(xread_entries) {
            Ok(entries) => entries,
            Err(error) => return error,
        };
        if let Some((last, _)) = entries.last() {
            from = *last;
            shared.push(entries.into_iter().map(|(id, body)| record::<E>(id, &body)));
        }
    }
}

/// Where reading starts on a new connection. The first time, the window is filled with the
/// stream's newest entries, so that this instance resumes clients of the others. After a
/// reconnection, the stream must still hold the last entry read; otherwise its history broke
/// (Redis restarted empty, or trimmed past it meanwhile) and every subscriber is told.
async fn position<E: EventSet + Sync>(
    shared: &Shared<E>,
    connection: &mut MultiplexedConnection,
) -> redis::RedisResult<EventId> {
    let (started, last, read_any) = {
        let window = shared.lock();
        (window.started, window.last, window.read_any())
    };
    if !started {
        let reply = redis::cmd("XREVRANGE")
            .arg(&shared.key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(shared.limits.max_events.max(1))
            .query_async(connection)
            .await?;
        let mut newest = entries(reply)?;
        newest.reverse();
        // Resumable: what comes after the first entry loaded (older ids were trimmed, or are
        // from another history). On an empty stream, what comes after Redis's "now": an id
        // from before it belongs to a history that is gone, and gets a reset.
        let base = match newest.first() {
            Some((first, _)) => *first,
            None => just_before_now(connection).await?,
        };
        let last = newest.last().map_or(base, |(id, _)| *id);
        {
            let mut window = shared.lock();
            window.base = base;
            window.last = last;
            window.started = true;
        }
        shared.push(newest.into_iter().map(|(id, body)| record::<E>(id, &body)));
        return Ok(last);
    }
    if !read_any {
        // Nothing was read, so nothing can have been missed: go on from where reading began.
        return Ok(last);
    }
    let reply = redis::cmd("XRANGE")
        .arg(&shared.key)
        .arg(last.to_string())
        .arg(last.to_string())
        .query_async(connection)
        .await?;
    if entries(reply)?.is_empty() {
        tracing::warn!(key = %shared.key, %last, "the Redis stream lost its history: subscribers get a reset");
        shared.push([(last, reset_frame(last), None)]);
    }
    Ok(last)
}

/// The greatest stream id before Redis's clock now (`TIME`): reading after it gets every entry
/// added from now on, `<now>-0` included.
async fn just_before_now(connection: &mut MultiplexedConnection) -> redis::RedisResult<EventId> {
    let (seconds, micros): (u64, u64) = redis::cmd("TIME").query_async(connection).await?;
    let now_ms = seconds.saturating_mul(1000) + micros / 1000;
    Ok(EventId {
        epoch: now_ms.saturating_sub(1),
        seq: u64::MAX,
    })
}

/// A record of entry `id`: its frame, and its event decoded for filters. An entry this
/// process cannot decode (written by another version) still goes out, undecoded.
fn record<E: EventSet>(id: EventId, body: &[u8]) -> (EventId, Bytes, Option<Arc<E>>) {
    let mut frame = BytesMut::with_capacity(body.len() + 32);
    // fmt::Write for BytesMut never fails; the id is digits and `-`.
    let _ = writeln!(frame, "id: {id}");
    frame.put_slice(body);
    let event = decode::<E>(body);
    if event.is_none() {
        tracing::warn!(%id, "a stream entry this process cannot decode: sent as it is");
    }
    (id, frame.freeze(), event.map(Arc::new))
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
/// read before the break, which the record has too: a client that reconnects with it resumes
/// right after the reset, not before it.
fn reset_frame(last: EventId) -> Bytes {
    let data =
        serde_json::json!({ "reason": "unknown", "oldest": null, "latest": last.to_string() });
    Bytes::from(format!(
        "id: {last}\nevent: {RESET_EVENT}\ndata: {data}\n\n"
    ))
}

/// The entries of an `XREAD` answer on one stream (nil when it timed out).
fn xread_entries(reply: Value) -> redis::RedisResult<Vec<Entry>> {
    let streams = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams,
        Value::Map(streams) => streams.into_iter().map(|(_, v)| v).collect(),
        other => return Err(unexpected("XREAD", &other)),
    };
    let mut all = Vec::new();
    for stream in streams {
        // `[key, entries]` (RESP2), or the entries alone (RESP3 map values).
        let entries = match stream {
            Value::Array(mut pair)
                if pair.len() == 2
                    && matches!(pair[0], Value::BulkString(_) | Value::SimpleString(_)) =>
            {
                pair.pop().unwrap_or(Value::Nil)
            }
            other => other,
        };
        all.extend(self::entries(entries)?);
    }
    Ok(all)
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

//! Log streaming: tails a file to the browser, line by line. The id of each line is the byte
//! offset right after it, so a client that reconnects with `Last-Event-ID` resumes at the next
//! line: none lost, none twice. Run it with `cargo run -p tidings-example-logs --example logs` and open the printed
//! address.

use std::io::SeekFrom;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use schemars::JsonSchema;
use serde::Deserialize;
use tidings::{Emitter, Query, Router, State, Validate, event_stream};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// What the log stream says.
#[event_stream]
#[derive(Debug, Clone)]
pub enum Logs {
    /// One line of the file, without its line break, as plain text.
    #[event(text)]
    Line(String),
    /// The file shrank (it was rotated or truncated): lines start again from its beginning.
    Rotated,
}

/// Query string of `/logs`.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
pub struct LogsQuery {
    /// Only the lines that contain this text.
    #[validate(length(min = 1, max = 200))]
    contains: Option<String>,
    /// End the stream after this many lines; an `EventSource` then reconnects and resumes,
    /// which shows resume at work.
    #[validate(range(min = 1))]
    lines: Option<u64>,
}

/// The file to tail.
#[derive(Debug, Clone)]
pub struct LogFile(pub Arc<PathBuf>);

/// How often the file is checked for new lines.
const POLL_EVERY: Duration = Duration::from_millis(100);
/// A new client first gets the lines of about this many bytes at the end of the file.
const TAIL_BYTES: u64 = 2048;
/// The most read from the file at once.
const READ_BYTES: u64 = 64 * 1024;

/// The lines of the log as they are written, from the end of the file, or right after the
/// line whose offset the client sends back in `Last-Event-ID`.
#[event_stream(path = "/logs")]
pub async fn logs(
    State(file): State<LogFile>,
    Query(query): Query<LogsQuery>,
    events: Emitter<Logs>,
) -> tidings::Result<()> {
    let resume_at = events.last_event_id().and_then(|id| id.parse::<u64>().ok());
    let len = tokio::fs::metadata(&*file.0).await?.len();
    let resumed = match resume_at {
        // Every id is the end of a line, so never 0. An id inside a line (made up, or of
        // another file) resumes at the next line's start, never mid-line.
        Some(offset @ 1..) if offset <= len => next_line_start(&file.0, offset).await?,
        _ => None,
    };
    let mut offset = match resumed {
        Some(offset) => offset,
        // 0, past the end, or in the line being written: an id this file never had. The
        // client starts at the tail like a new one; replaying the whole file as if it had
        // been rotated would be a guess. (A rotation seen while streaming is certain.)
        None => tail_start(&file.0).await?,
    };
    let mut sent = 0;
    let mut poll = tokio::time::interval(POLL_EVERY);
    loop {
        tokio::select! {
            _ = poll.tick() => {}
            _ = events.closed() => return Ok(()),
        }
        let Some(read) = read_lines(&file.0, offset).await? else {
            events.emit(Logs::Rotated).await?;
            offset = 0;
            continue;
        };
        for (line, end) in read {
            offset = end;
            if query
                .contains
                .as_ref()
                .is_some_and(|text| !line.contains(text))
            {
                continue;
            }
            events.emit_with_id(end, Logs::Line(line)).await?;
            sent += 1;
            if query.lines.is_some_and(|lines| sent >= lines) {
                return Ok(());
            }
        }
    }
}

/// The routes, tailing `file`. Clients reconnect half a second after a stream ends.
pub fn app(file: PathBuf) -> Router {
    Router::new()
        .route(logs)
        .with_state(LogFile(Arc::new(file)))
        .retry(Duration::from_millis(500))
}

/// The page: plain HTML and an `EventSource`, no build step.
pub const PAGE: &str = include_str!("index.html");

/// Where the last lines of the file start: the first line that begins in its last
/// `TAIL_BYTES`.
async fn tail_start(path: &PathBuf) -> std::io::Result<u64> {
    let mut file = tokio::fs::File::open(path).await?;
    let len = file.metadata().await?.len();
    if len <= TAIL_BYTES {
        return Ok(0);
    }
    let from = len - TAIL_BYTES;
    file.seek(SeekFrom::Start(from)).await?;
    let mut tail = Vec::with_capacity(TAIL_BYTES as usize);
    file.take(TAIL_BYTES).read_to_end(&mut tail).await?;
    Ok(match tail.iter().position(|&b| b == b'\n') {
        Some(at) => from + at as u64 + 1,
        None => len,
    })
}

/// Where a client whose last id was `offset` (at least 1) resumes: `offset` itself when a line
/// ends right before it, or when it is where a piece of a line longer than a read ended (no
/// line break in the read before it); else the start of the next line; `None` when no line
/// break follows.
async fn next_line_start(path: &PathBuf, offset: u64) -> std::io::Result<Option<u64>> {
    let mut file = tokio::fs::File::open(path).await?;
    let from = offset.saturating_sub(READ_BYTES);
    file.seek(SeekFrom::Start(from)).await?;
    let mut before = Vec::new();
    (&mut file)
        .take(offset - from)
        .read_to_end(&mut before)
        .await?;
    let piece_of_a_long_line = offset >= READ_BYTES && !before.contains(&b'\n');
    if before.last() == Some(&b'\n') || piece_of_a_long_line {
        return Ok(Some(offset));
    }
    // Inside a line: skip to its end.
    let mut at = offset;
    let mut chunk = vec![0; READ_BYTES as usize];
    loop {
        let read = file.read(&mut chunk).await?;
        if read == 0 {
            return Ok(None);
        }
        if let Some(end) = chunk[..read].iter().position(|&b| b == b'\n') {
            return Ok(Some(at + end as u64 + 1));
        }
        at += read as u64;
    }
}

/// The whole lines written after `offset`, each with the offset right after it; `None` when
/// the file is now shorter than `offset`.
async fn read_lines(path: &PathBuf, offset: u64) -> std::io::Result<Option<Vec<(String, u64)>>> {
    // Opened again on every look, so that a file replaced by log rotation is the one read.
    let mut file = tokio::fs::File::open(path).await?;
    if file.metadata().await?.len() < offset {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(offset)).await?;
    let mut bytes = Vec::new();
    file.take(READ_BYTES).read_to_end(&mut bytes).await?;
    let mut lines = Vec::new();
    let mut start = 0;
    // A line still being written (no line break yet) waits for the next read.
    while let Some(at) = bytes[start..].iter().position(|&b| b == b'\n') {
        let line = &bytes[start..start + at];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        start += at + 1;
        lines.push((
            String::from_utf8_lossy(line).into_owned(),
            offset + start as u64,
        ));
    }
    if lines.is_empty() && bytes.len() as u64 == READ_BYTES {
        // A line longer than a whole read goes out in pieces rather than never.
        let piece = String::from_utf8_lossy(&bytes).into_owned();
        lines.push((piece, offset + READ_BYTES));
    }
    Ok(Some(lines))
}

/// Appends a made-up access log line to `path` every `every`, numbered from 1, forever: the
/// example's log when it is given none.
pub async fn write_demo_log(path: PathBuf, every: Duration) -> std::io::Result<()> {
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .await?;
    let mut tick = tokio::time::interval(every);
    for n in 1u64.. {
        tick.tick().await;
        let level = match n % 5 {
            0 => "ERROR",
            3 => "WARN",
            _ => "INFO",
        };
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let line = format!(
            "{n:06} {unix_ms} {level} GET /items/{} {} {}ms\n",
            n % 97,
            if level == "ERROR" { 500 } else { 200 },
            n % 13
        );
        file.write_all(line.as_bytes()).await?;
    }
    Ok(())
}

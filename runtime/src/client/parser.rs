//! The WHATWG event stream parser ("Interpreting an event stream"), fed bytes as they arrive.
//!
//! It follows the algorithm to the letter: one leading UTF-8 BOM is stripped (also when split
//! across chunks); lines end at CRLF, LF or a lone CR (a CR that ends a chunk ends the line,
//! and an LF starting the next chunk is then the same line end); lines starting with `:` are
//! comments; `data` lines accumulate; the event type defaults to `message`; an `id` holding
//! NUL is ignored; `retry` counts only when all ASCII digits; an event is dispatched only on a
//! blank line, and a partial event at the end of the stream is discarded. The last event id
//! survives across events (and, kept by the client, across reconnects). Lines and events are
//! bounded in size.

use std::fmt;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    /// The event type (`message` unless the stream said otherwise).
    pub event: String,
    /// The data lines joined by `\n`.
    pub data: String,
    /// The last event id at the time of dispatch (empty if none was ever set).
    pub last_event_id: String,
}

/// What [`Parser::feed_all`] yields, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A dispatched event.
    Event(RawEvent),
    /// A comment line (`:` and one following space removed): heartbeats, mostly.
    Comment(String),
}

/// Where the parser puts what it found: events only, or comments too.
trait Sink {
    /// Whether comment lines are kept (and bounded like other lines) rather than skipped.
    const COMMENTS: bool;
    fn event(&mut self, event: RawEvent);
    fn comment(&mut self, _text: String) {}
}

impl Sink for Vec<RawEvent> {
    const COMMENTS: bool = false;
    fn event(&mut self, event: RawEvent) {
        self.push(event);
    }
}

/// Events only, into a list that could hold comments too (the client, when it does not
/// report them): comments are skipped unbuffered, as with `Vec<RawEvent>`.
pub(crate) struct EventsOnly<'a>(pub(crate) &'a mut Vec<Parsed>);

impl Sink for EventsOnly<'_> {
    const COMMENTS: bool = false;
    fn event(&mut self, event: RawEvent) {
        self.0.push(Parsed::Event(event));
    }
}

impl Sink for Vec<Parsed> {
    const COMMENTS: bool = true;
    fn event(&mut self, event: RawEvent) {
        self.push(Parsed::Event(event));
    }
    fn comment(&mut self, text: String) {
        self.push(Parsed::Comment(text));
    }
}

/// A line or event larger than the parser's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// A line longer than the line limit.
    LineTooLong,
    /// An event whose data is larger than the event limit.
    EventTooLarge,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::LineTooLong => f.write_str("a line of the event stream is too long"),
            ParseError::EventTooLarge => f.write_str("an event of the event stream is too large"),
        }
    }
}

impl std::error::Error for ParseError {}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// An incremental event stream parser.
#[derive(Debug, Clone)]
pub struct Parser {
    /// Bytes of the BOM matched so far at the start of the stream; `None` once past it.
    bom_matched: Option<usize>,
    line: Vec<u8>,
    /// The previous chunk ended with CR: an LF now is part of that line end.
    skip_lf: bool,
    /// The line being read is a comment: its bytes are dropped as they come, never kept.
    in_comment: bool,
    data: String,
    event: String,
    /// The id of the stream being parsed; becomes `last_event_id` when an event dispatches.
    id_buffer: String,
    /// The event source's last event id: sent as `Last-Event-ID` on reconnection.
    last_event_id: String,
    retry: Option<u64>,
    max_line: usize,
    max_event: usize,
}

/// The default bound of a line and of an event's data: browsers take events of several
/// megabytes (one big JSON document on one line), and so does the client.
pub const DEFAULT_MAX_EVENT: usize = 16 * 1024 * 1024;

impl Default for Parser {
    fn default() -> Self {
        Parser::new(DEFAULT_MAX_EVENT, DEFAULT_MAX_EVENT)
    }
}

impl Parser {
    /// A parser that refuses lines over `max_line` bytes and events over `max_event` bytes.
    pub fn new(max_line: usize, max_event: usize) -> Self {
        Parser {
            bom_matched: Some(0),
            line: Vec::new(),
            skip_lf: false,
            in_comment: false,
            data: String::new(),
            event: String::new(),
            id_buffer: String::new(),
            last_event_id: String::new(),
            retry: None,
            max_line,
            max_event,
        }
    }

    /// The last event id seen: sent as `Last-Event-ID` when reconnecting.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// Sets the last event id, e.g. to resume a previous session.
    pub fn set_last_event_id(&mut self, id: impl Into<String>) {
        self.last_event_id = id.into();
        self.id_buffer.clone_from(&self.last_event_id);
    }

    /// The reconnection time the stream asked for with `retry:`, in milliseconds.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// Starts a new connection: a BOM may come again, the buffers start empty (the partial
    /// event of the last connection is dropped); the last event id and retry stay, and an
    /// event of the new connection without an `id:` field keeps that id, as in browsers.
    pub fn reconnect(&mut self) {
        self.bom_matched = Some(0);
        self.line.clear();
        self.skip_lf = false;
        self.in_comment = false;
        self.data.clear();
        self.event.clear();
        self.id_buffer.clone_from(&self.last_event_id);
    }

    /// Feeds the next bytes of the stream; dispatched events are appended to `out`. Comment
    /// lines are skipped as they come, whatever their length, without being kept.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<RawEvent>) -> Result<(), ParseError> {
        self.feed_into(bytes, out)
    }

    /// Like [`feed`](Self::feed), and comment lines are appended too, in stream order. They
    /// are then bounded like any other line.
    pub fn feed_all(&mut self, bytes: &[u8], out: &mut Vec<Parsed>) -> Result<(), ParseError> {
        self.feed_into(bytes, out)
    }

    /// Like [`feed`](Self::feed), into `Parsed` events, without comments.
    pub(crate) fn feed_events(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<Parsed>,
    ) -> Result<(), ParseError> {
        self.feed_into(bytes, &mut EventsOnly(out))
    }

    fn feed_into<S: Sink>(&mut self, mut bytes: &[u8], out: &mut S) -> Result<(), ParseError> {
        if let Some(matched) = self.bom_matched {
            let wanted = &BOM[matched..];
            let n = wanted.len().min(bytes.len());
            if bytes[..n] == wanted[..n] {
                bytes = &bytes[n..];
                if matched + n == BOM.len() {
                    self.bom_matched = None;
                } else {
                    self.bom_matched = Some(matched + n);
                    return Ok(());
                }
            } else {
                // Not a BOM after all: the bytes matched so far are content.
                self.bom_matched = None;
                let partial = &BOM[..matched];
                for &byte in partial {
                    self.push_byte(byte, out)?;
                }
            }
        }
        for &byte in bytes {
            self.push_byte(byte, out)?;
        }
        Ok(())
    }

    fn push_byte<S: Sink>(&mut self, byte: u8, out: &mut S) -> Result<(), ParseError> {
        let skip_lf = std::mem::take(&mut self.skip_lf);
        match byte {
            b'\n' if skip_lf => Ok(()),
            b'\n' => self.end_line(out),
            b'\r' => {
                self.skip_lf = true;
                self.end_line(out)
            }
            _ if self.in_comment => Ok(()),
            b':' if self.line.is_empty() && !S::COMMENTS => {
                self.in_comment = true;
                Ok(())
            }
            _ => {
                if self.line.len() >= self.max_line {
                    return Err(ParseError::LineTooLong);
                }
                self.line.push(byte);
                Ok(())
            }
        }
    }

    fn end_line<S: Sink>(&mut self, out: &mut S) -> Result<(), ParseError> {
        if std::mem::take(&mut self.in_comment) {
            return Ok(());
        }
        let line = std::mem::take(&mut self.line);
        let result = self.process_line(&String::from_utf8_lossy(&line), out);
        // Keep the allocation for the next line.
        self.line = line;
        self.line.clear();
        result
    }

    fn process_line<S: Sink>(&mut self, line: &str, out: &mut S) -> Result<(), ParseError> {
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if let Some(comment) = line.strip_prefix(':') {
            if S::COMMENTS {
                out.comment(comment.strip_prefix(' ').unwrap_or(comment).to_owned());
            }
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => {
                if self.data.len() + value.len() + 1 > self.max_event {
                    return Err(ParseError::EventTooLarge);
                }
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => self.id_buffer = value.to_owned(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(millis) = value.parse() {
                    self.retry = Some(millis);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch<S: Sink>(&mut self, out: &mut S) {
        // Even an event without data moves the last event id.
        self.last_event_id.clone_from(&self.id_buffer);
        if self.data.is_empty() {
            self.event.clear();
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the trailing LF
        let event = std::mem::take(&mut self.event);
        out.event(RawEvent {
            event: if event.is_empty() {
                "message".to_owned()
            } else {
                event
            },
            data,
            last_event_id: self.last_event_id.clone(),
        });
    }
}

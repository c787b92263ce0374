//! Event ids of hub-backed streams.
//!
//! An id is `<epoch>-<seq>`, two decimal `u64`s, e.g. `1795465957726-42`, the shape of a Redis
//! Streams entry id. `epoch` names one run of one hub's history: the in-memory storage takes
//! the time it was created, in milliseconds since the Unix epoch (strictly increasing within a
//! process), so a restart starts a new, larger epoch. `seq` counts the hub's events from 1.
//! Ids order as the pair `(epoch, seq)`; they hold only ASCII digits and `-`, so browsers
//! echo them back unchanged in `Last-Event-ID`.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The id of one event published through a hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId {
    /// Which history the event belongs to.
    pub epoch: u64,
    /// Its position in that history, from 1.
    pub seq: u64,
}

impl EventId {
    /// A new epoch: the current time in milliseconds, never equal to one given before in
    /// this process.
    pub fn new_epoch() -> u64 {
        static LAST: AtomicU64 = AtomicU64::new(0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut last = LAST.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return next,
                Err(actual) => last = actual,
            }
        }
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.epoch, self.seq)
    }
}

/// Why a string is not an [`EventId`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEventId;

impl fmt::Display for InvalidEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event id is `<epoch>-<seq>`, two decimal numbers")
    }
}

impl std::error::Error for InvalidEventId {}

impl FromStr for EventId {
    type Err = InvalidEventId;

    fn from_str(text: &str) -> Result<Self, InvalidEventId> {
        let (epoch, seq) = text.split_once('-').ok_or(InvalidEventId)?;
        let digits = |part: &str| {
            (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse().ok())
                .flatten()
                .ok_or(InvalidEventId)
        };
        Ok(EventId {
            epoch: digits(epoch)?,
            seq: digits(seq)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_order() {
        let id: EventId = "1795465957726-42".parse().unwrap();
        assert_eq!(
            id,
            EventId {
                epoch: 1795465957726,
                seq: 42
            }
        );
        assert_eq!(id.to_string(), "1795465957726-42");
        assert!(id < "1795465957726-100".parse().unwrap());
        assert!(id < "1795465957727-1".parse().unwrap());
        for bad in [
            "",
            "1",
            "1-",
            "-1",
            "1-2-3",
            "a-1",
            "1-+2",
            " 1-2",
            "99999999999999999999-1",
        ] {
            assert!(bad.parse::<EventId>().is_err(), "{bad:?}");
        }
        let (a, b) = (EventId::new_epoch(), EventId::new_epoch());
        assert!(b > a);
    }
}

// Input of the expansion snapshot (see macros/src/snapshot.rs); not compiled on its own.

/// What the clock says.
#[event_stream]
#[derive(Debug, Clone)]
pub enum Clock {
    /// The current time.
    Tick {
        #[validate(range(min = 1))]
        unix_ms: u64,
        zone: Option<Zone>,
    },
    #[event(text)]
    Note(String),
    #[event(rename = "bye")]
    Stopped,
    #[event(base64)]
    Face(Vec<u8>),
    Chime {
        #[event(base64 = "url")]
        sound: Vec<u8>,
    },
}

/// The time, every second.
#[event_stream(path = "/clock/{zone}")]
async fn clock(Path(zone): Path<String>, events: Emitter<Clock>) -> tidings::Result<()> {
    events.emit(Clock::Note(zone)).await?;
    Ok(())
}

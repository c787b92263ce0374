//! The error a handler returns, and how it reaches the client.

use std::borrow::Cow;
use std::fmt;

/// A `Result` whose error is [`Error`]: what an `#[event_stream]` handler returns.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error that ended a stream.
///
/// Any `std::error::Error` converts into it with `?`. Such errors are *internal*: the client
/// receives one `error` event whose message is only `"internal error"`, and the full error
/// chain goes to the log. Build one with [`Error::public`] when the message is meant for the
/// client.
///
/// Like `anyhow::Error`, this type does not implement `std::error::Error` itself, which is what
/// lets every error type convert into it.
pub struct Error {
    source: Box<dyn std::error::Error + Send + Sync + 'static>,
    public: Option<Cow<'static, str>>,
}

impl Error {
    /// An error whose message the client may see, e.g. `"job 7 was cancelled"`.
    pub fn public(message: impl Into<Cow<'static, str>>) -> Self {
        let message = message.into();
        Error {
            source: message.to_string().into(),
            public: Some(message),
        }
    }

    /// An internal error from a message; the client sees only `"internal error"`.
    pub fn msg(message: impl fmt::Display) -> Self {
        Error {
            source: message.to_string().into(),
            public: None,
        }
    }

    /// The message the client is shown in the `error` event.
    pub fn client_message(&self) -> &str {
        self.public.as_deref().unwrap_or("internal error")
    }

    /// Whether the message is meant for the client.
    pub fn is_public(&self) -> bool {
        self.public.is_some()
    }

    /// The underlying error, for logging or downcasting.
    pub fn source(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.source
    }
}

impl<E> From<E> for Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        Error {
            source: Box::new(error),
            public: None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)?;
        let mut next = self.source.source();
        while let Some(cause) = next {
            write!(f, ": {cause}")?;
            next = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("source", &self.source)
            .field("public", &self.public)
            .finish()
    }
}

/// What an `#[event_stream]` handler may return: `()` or `Result<(), E>` with `E: Into<Error>`.
pub trait IntoStreamResult {
    /// Converts the handler's output.
    fn into_stream_result(self) -> Result<()>;
}

impl IntoStreamResult for () {
    fn into_stream_result(self) -> Result<()> {
        Ok(())
    }
}

impl<E: Into<Error>> IntoStreamResult for std::result::Result<(), E> {
    fn into_stream_result(self) -> Result<()> {
        self.map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_message() {
        let err = Error::from(std::io::Error::other("disk on fire"));
        assert_eq!(err.client_message(), "internal error");
        assert_eq!(err.to_string(), "disk on fire");
        let err = Error::public("job cancelled");
        assert_eq!(err.client_message(), "job cancelled");
    }
}

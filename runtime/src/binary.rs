//! Binary events: bytes sent as base64, typed on both ends.
//!
//! Server-sent events carry text only. `#[event(base64)]` on a variant whose one field is
//! bytes ([`Vec<u8>`], [`bytes::Bytes`] or `[u8; N]`) sends them as standard base64, padded,
//! on one `data:` line; `#[event(base64 = "url")]` uses the URL-safe alphabet without
//! padding. On a field of a struct variant, the field goes out as a base64 string inside the
//! JSON object. Schemas say `contentEncoding: base64` (or `base64url`), and the generated
//! clients decode it back: bytes for Rust, a `Uint8Array` for TypeScript.
//!
//! ```
//! use tidings::event_stream;
//!
//! #[event_stream]
//! #[derive(Debug, Clone)]
//! enum Camera {
//!     /// A JPEG thumbnail, as base64 on one `data:` line.
//!     #[event(base64)]
//!     Thumbnail(Vec<u8>),
//!     /// Audio levels, one byte per band, inside a JSON object.
//!     Levels {
//!         at_ms: u64,
//!         #[event(base64 = "url")]
//!         #[validate(length(max = 64))] // counts bytes
//!         bands: Vec<u8>,
//!     },
//! }
//! ```
//!
//! Encoding writes into the stream's buffer directly, with no intermediate string; a
//! `length(...)` rule on such a payload counts bytes, not base64 characters.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::BytesMut;

/// The two base64 alphabets of RFC 4648.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// `A-Z a-z 0-9 + /`, padded with `=` (`#[event(base64)]`).
    Standard,
    /// `A-Z a-z 0-9 - _`, without padding (`#[event(base64 = "url")]`).
    UrlSafe,
}

impl Alphabet {
    /// The JSON Schema `contentEncoding`: `base64` or `base64url`.
    pub fn content_encoding(self) -> &'static str {
        match self {
            Alphabet::Standard => "base64",
            Alphabet::UrlSafe => "base64url",
        }
    }

    fn encoder(self) -> &'static GeneralPurpose {
        match self {
            Alphabet::Standard => &STANDARD,
            Alphabet::UrlSafe => &URL_SAFE_NO_PAD,
        }
    }

    /// Decoders that take the text with or without padding: other senders differ on it.
    fn decoder(self) -> GeneralPurpose {
        let config =
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
        match self {
            Alphabet::Standard => GeneralPurpose::new(&base64::alphabet::STANDARD, config),
            Alphabet::UrlSafe => GeneralPurpose::new(&base64::alphabet::URL_SAFE, config),
        }
    }

    /// The base64 length of `bytes` bytes in this alphabet.
    pub const fn encoded_len(self, bytes: usize) -> usize {
        match self {
            Alphabet::Standard => bytes.div_ceil(3) * 4,
            Alphabet::UrlSafe => (bytes * 4).div_ceil(3),
        }
    }
}

/// A payload `#[event(base64)]` can carry: bytes.
#[diagnostic::on_unimplemented(
    message = "`#[event(base64)]` sends bytes, and `{Self}` is not bytes",
    label = "not `Vec<u8>`, `bytes::Bytes` or `[u8; N]`",
    note = "`#[event(base64)]` takes `Vec<u8>`, `bytes::Bytes` or `[u8; N]`; for text, use `#[event(text)]`"
)]
pub trait BinaryPayload: Sized {
    /// The length of every value, when the type fixes it (`[u8; N]`).
    const FIXED_LEN: Option<usize> = None;

    /// The bytes to send.
    fn as_bytes(&self) -> &[u8];

    /// The payload of decoded bytes; `Err` with the expected length when it is fixed and
    /// `bytes` has another.
    fn from_bytes(bytes: Vec<u8>) -> Result<Self, usize>;
}

impl BinaryPayload for Vec<u8> {
    fn as_bytes(&self) -> &[u8] {
        self
    }

    fn from_bytes(bytes: Vec<u8>) -> Result<Self, usize> {
        Ok(bytes)
    }
}

impl BinaryPayload for bytes::Bytes {
    fn as_bytes(&self) -> &[u8] {
        self
    }

    fn from_bytes(bytes: Vec<u8>) -> Result<Self, usize> {
        Ok(bytes.into())
    }
}

impl<const N: usize> BinaryPayload for [u8; N] {
    const FIXED_LEN: Option<usize> = Some(N);

    fn as_bytes(&self) -> &[u8] {
        self
    }

    fn from_bytes(bytes: Vec<u8>) -> Result<Self, usize> {
        bytes.try_into().map_err(|_| N)
    }
}

/// How generated code handles one `#[event(base64)]` payload of type `T`. Made once per
/// variant or field (where a type that is not bytes is reported, once), then used without
/// the bound.
#[doc(hidden)]
pub struct Codec<T> {
    as_bytes: fn(&T) -> &[u8],
    from_bytes: fn(Vec<u8>) -> Result<T, usize>,
    fixed_len: Option<usize>,
    /// The alphabet.
    pub alphabet: Alphabet,
}

/// The codec of `T` in `alphabet` (a free function, so that a `T` that is not bytes gets the
/// message of [`BinaryPayload`]).
#[doc(hidden)]
pub const fn codec<T: BinaryPayload>(alphabet: Alphabet) -> Codec<T> {
    Codec {
        as_bytes: T::as_bytes,
        from_bytes: T::from_bytes,
        fixed_len: T::FIXED_LEN,
        alphabet,
    }
}

impl<T> Codec<T> {
    /// The bytes of `value`.
    pub fn bytes<'a>(&self, value: &'a T) -> &'a [u8] {
        (self.as_bytes)(value)
    }

    /// The length every value has, when the type fixes it.
    pub fn fixed_len(&self) -> Option<usize> {
        self.fixed_len
    }

    /// Decodes base64 text (padding optional).
    pub fn decode(&self, text: &str) -> Result<T, String> {
        let bytes = self
            .alphabet
            .decoder()
            .decode(text.trim_end_matches(['\r', '\n']))
            .map_err(|error| format!("invalid base64: {error}"))?;
        let got = bytes.len();
        (self.from_bytes)(bytes)
            .map_err(|wanted| format!("{got} bytes where {wanted} were expected"))
    }

    /// Serializes `value` as a base64 string.
    pub fn serialize<S: serde::Serializer>(
        &self,
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&Display(self.bytes(value), self.alphabet))
    }

    /// Deserializes a base64 string.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        &self,
        deserializer: D,
    ) -> Result<T, D::Error> {
        let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
        self.decode(&text).map_err(serde::de::Error::custom)
    }
}

/// Appends the base64 of `bytes` to `out`, encoding in place.
pub(crate) fn encode_into(out: &mut BytesMut, bytes: &[u8], alphabet: Alphabet) {
    let start = out.len();
    out.resize(start + alphabet.encoded_len(bytes.len()), 0);
    let written = alphabet
        .encoder()
        .encode_slice(bytes, &mut out[start..])
        .unwrap_or(0);
    // The buffer was sized by the same formula; a shorter write would leave zeros.
    out.truncate(start + written);
}

/// Decodes base64 text (padding optional) into a payload.
pub fn decode<T: BinaryPayload>(text: &str, alphabet: Alphabet) -> Result<T, String> {
    codec::<T>(alphabet).decode(text)
}

/// Displays bytes as base64 without building a string first (for serde's `collect_str`).
struct Display<'a>(&'a [u8], Alphabet);

impl fmt::Display for Display<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        base64::display::Base64Display::new(self.0, self.1.encoder()).fmt(f)
    }
}

fn serialize<T: BinaryPayload, S: serde::Serializer>(
    value: &T,
    alphabet: Alphabet,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    codec::<T>(alphabet).serialize(value, serializer)
}

fn deserialize<'de, T: BinaryPayload, D: serde::Deserializer<'de>>(
    alphabet: Alphabet,
    deserializer: D,
) -> Result<T, D::Error> {
    codec::<T>(alphabet).deserialize(deserializer)
}

/// `#[serde(with = "tidings::binary::standard")]`: a bytes field as a standard, padded base64
/// string (what `#[event(base64)]` puts on a field); for your own structs inside events.
pub mod standard {
    use super::{Alphabet, BinaryPayload};

    /// Serializes the bytes as base64.
    pub fn serialize<T: BinaryPayload, S: serde::Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        super::serialize(value, Alphabet::Standard, serializer)
    }

    /// Deserializes base64 (padding optional) into bytes.
    pub fn deserialize<'de, T: BinaryPayload, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<T, D::Error> {
        super::deserialize(Alphabet::Standard, deserializer)
    }
}

/// `#[serde(with = "tidings::binary::url_safe")]`: a bytes field as URL-safe base64 without
/// padding (what `#[event(base64 = "url")]` puts on a field).
pub mod url_safe {
    use super::{Alphabet, BinaryPayload};

    /// Serializes the bytes as URL-safe base64.
    pub fn serialize<T: BinaryPayload, S: serde::Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        super::serialize(value, Alphabet::UrlSafe, serializer)
    }

    /// Deserializes URL-safe base64 (padding optional) into bytes.
    pub fn deserialize<'de, T: BinaryPayload, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<T, D::Error> {
        super::deserialize(Alphabet::UrlSafe, deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_length_mod_three_round_trips_in_both_alphabets() {
        for alphabet in [Alphabet::Standard, Alphabet::UrlSafe] {
            for len in 0..10 {
                let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 250) as u8).collect();
                let mut out = BytesMut::from(&b"data: "[..]);
                encode_into(&mut out, &bytes, alphabet);
                let text = std::str::from_utf8(&out[6..]).unwrap();
                assert_eq!(text.len(), alphabet.encoded_len(len));
                assert_eq!(decode::<Vec<u8>>(text, alphabet).unwrap(), bytes);
            }
        }
        assert!(decode::<Vec<u8>>("not base64!", Alphabet::Standard).is_err());
        assert_eq!(
            decode::<[u8; 2]>("AAAA", Alphabet::Standard).unwrap_err(),
            "3 bytes where 2 were expected"
        );
    }
}

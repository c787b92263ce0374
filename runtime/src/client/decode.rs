//! Compressed streams, as the client reads them: with the `compression` feature it asks for
//! zstd, brotli, gzip or deflate (`Accept-Encoding`, unless the subscription sets its own) and
//! decodes what the server sends; without it, a compressed response is refused.

use std::io;
#[cfg(feature = "compression")]
use std::io::Write;

use http::HeaderMap;
use http::header::CONTENT_ENCODING;

/// What the client offers, when its subscription does not set `Accept-Encoding` itself.
#[cfg(feature = "compression")]
pub(super) const ACCEPT_ENCODING: &str = "zstd, br, gzip, deflate";

/// Compressed input is decoded this much at a time, and what it gives parsed before the next:
/// a small compressed chunk that expands to gigabytes (of blank lines, say) never sits in
/// memory whole.
#[cfg(feature = "compression")]
const INPUT_STEP: usize = 4096;

/// The decoder of one response's body.
pub(super) enum Decoder {
    /// No `Content-Encoding` (or `identity`).
    Identity,
    #[cfg(feature = "compression")]
    Zstd(Box<zstd::stream::write::Decoder<'static, Vec<u8>>>),
    #[cfg(feature = "compression")]
    Brotli(Box<brotli::DecompressorWriter<Vec<u8>>>),
    #[cfg(feature = "compression")]
    Gzip(Box<flate2::write::GzDecoder<Vec<u8>>>),
    #[cfg(feature = "compression")]
    Deflate(Box<flate2::write::ZlibDecoder<Vec<u8>>>),
}

impl Decoder {
    /// The decoder for a response with these headers; `Err` names an encoding this client
    /// cannot decode.
    pub(super) fn for_response(headers: &HeaderMap) -> Result<Decoder, String> {
        let Some(value) = headers.get(CONTENT_ENCODING) else {
            return Ok(Decoder::Identity);
        };
        let token = value.to_str().unwrap_or("").trim().to_ascii_lowercase();
        match token.as_str() {
            "" | "identity" => Ok(Decoder::Identity),
            #[cfg(feature = "compression")]
            "zstd" => zstd::stream::write::Decoder::new(Vec::new())
                .map(|decoder| Decoder::Zstd(Box::new(decoder)))
                .map_err(|error| format!("no zstd decoder: {error}")),
            #[cfg(feature = "compression")]
            "br" => Ok(Decoder::Brotli(Box::new(brotli::DecompressorWriter::new(
                Vec::new(),
                INPUT_STEP,
            )))),
            #[cfg(feature = "compression")]
            "gzip" | "x-gzip" => Ok(Decoder::Gzip(Box::new(flate2::write::GzDecoder::new(
                Vec::new(),
            )))),
            #[cfg(feature = "compression")]
            "deflate" => Ok(Decoder::Deflate(Box::new(flate2::write::ZlibDecoder::new(
                Vec::new(),
            )))),
            _ => Err(format!("{value:?}")),
        }
    }

    /// How much of `available` input to decode before parsing what it gives: all of it when
    /// the body is not compressed.
    pub(super) fn step(&self, available: usize) -> usize {
        match self {
            Decoder::Identity => available,
            #[cfg(feature = "compression")]
            _ => available.min(INPUT_STEP),
        }
    }

    /// Decodes `input` (a [`step`](Self::step)): what it gives, or
    /// `None` when the body is not compressed and `input` is the text itself.
    #[cfg_attr(not(feature = "compression"), allow(unused_variables))]
    pub(super) fn decode(&mut self, input: &[u8]) -> io::Result<Option<Vec<u8>>> {
        match self {
            Decoder::Identity => Ok(None),
            #[cfg(feature = "compression")]
            Decoder::Zstd(decoder) => {
                through(decoder.as_mut(), input)?;
                Ok(Some(std::mem::take(decoder.get_mut())))
            }
            #[cfg(feature = "compression")]
            Decoder::Brotli(decoder) => {
                through(decoder.as_mut(), input)?;
                Ok(Some(std::mem::take(decoder.get_mut())))
            }
            #[cfg(feature = "compression")]
            Decoder::Gzip(decoder) => {
                through(decoder.as_mut(), input)?;
                Ok(Some(std::mem::take(decoder.get_mut())))
            }
            #[cfg(feature = "compression")]
            Decoder::Deflate(decoder) => {
                through(decoder.as_mut(), input)?;
                Ok(Some(std::mem::take(decoder.get_mut())))
            }
        }
    }
}

/// Writes `input` into a decoder and flushes it, so that it gives all it can.
#[cfg(feature = "compression")]
fn through<W: Write>(writer: &mut W, input: &[u8]) -> io::Result<()> {
    writer.write_all(input)?;
    writer.flush()
}

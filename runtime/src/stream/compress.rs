//! Compressed streams: the encodings a router offers ([`Compression`]), and the encoder of each
//! compressed stream.
//!
//! A stream compresses far better than its events one by one, because its compressor
//! remembers the events before: the bench's 140-byte `tick` events take about 30 bytes each
//! on the wire (README, "Production: compressed streams", has the figures).
//! Each stream has its own compressor, flushed (a sync flush) after every chunk the
//! connection writes, so that an event, a heartbeat or the end reaches the client as soon as it
//! would uncompressed: nothing waits in the compressor for more bytes. The queue already
//! gathers the frames emitted together into one chunk, so it is one flush per write, not one
//! per event.
//!
//! Each encoding's level and window are fixed, chosen for many long streams of small writes:
//! the memory each compressed stream keeps ([`Encoding::memory`]) is counted in the server's
//! budget of queued bytes (`Serve::max_queued_bytes`), and a stream that would take that
//! budget past its end is sent uncompressed instead.
//!
//! ```
//! use tidings::compression::{Compression, Encoding};
//! use tidings::Router;
//!
//! // gzip, zstd, brotli, deflate: the first the client accepts, by its q-values.
//! let app = Router::new().compression(Compression::new());
//! // Only these two, zstd first when the client likes both as much.
//! let app = Router::new().compression(Compression::new().encodings([Encoding::Zstd, Encoding::Gzip]));
//! ```

use std::fmt;
use std::io::{self, Write};

use bytes::Bytes;

use crate::stream::budget::Reserved;
use crate::stream::deflate::{Container, Deflate};

/// A content coding a stream can be compressed with (`Content-Encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encoding {
    /// `zstd`: level 3, a 32 KiB window, small match tables: about 105 KiB per stream, and
    /// several times gzip's CPU per write.
    Zstd,
    /// `br`: quality 3, a 64 KiB window: the fewest bytes, the most CPU and memory.
    Brotli,
    /// `gzip`: a 1 KiB window, fixed Huffman codes (a compressor made for small flushed
    /// writes): the least CPU per write and the least memory, 3 KiB per stream.
    Gzip,
    /// `deflate` (the zlib format): gzip's compressor with a shorter header.
    Deflate,
}

impl Encoding {
    /// Every encoding, in the order [`Compression::new`] prefers them: least CPU per write
    /// first (gzip, then zstd), at about the same size on the wire (README, "Production:
    /// compressed streams", has the figures).
    pub const ALL: [Encoding; 4] = [
        Encoding::Gzip,
        Encoding::Zstd,
        Encoding::Brotli,
        Encoding::Deflate,
    ];

    /// The token of `Accept-Encoding` and `Content-Encoding`: `zstd`, `br`, `gzip`, `deflate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Zstd => "zstd",
            Encoding::Brotli => "br",
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
        }
    }

    /// The encoding a `Content-Encoding` token names (case-insensitive; `x-gzip` is gzip).
    pub fn from_token(token: &str) -> Option<Encoding> {
        let token = token.trim();
        Encoding::ALL
            .into_iter()
            .find(|encoding| encoding.as_str().eq_ignore_ascii_case(token))
            .or_else(|| {
                token
                    .eq_ignore_ascii_case("x-gzip")
                    .then_some(Encoding::Gzip)
            })
    }

    /// The bytes of memory one stream's compressor keeps, as counted in the server's budget:
    /// the resident memory measured per stream (`tests/compression_memory.rs`: about 105 KiB
    /// for zstd, 315 KiB for brotli), with room to spare; for gzip and deflate, the 3 KiB
    /// that the compressor allocates in one piece (1-2 KiB of it resident until its window
    /// has filled).
    pub fn memory(self) -> usize {
        match self {
            Encoding::Zstd => 128 * 1024,
            Encoding::Brotli => 352 * 1024,
            Encoding::Gzip | Encoding::Deflate => 4 * 1024,
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which encodings a router's streams may be compressed with, in the server's order of
/// preference ([`Router::compression`](crate::Router::compression)).
///
/// The client's `Accept-Encoding` decides, by its q-values; among encodings it likes as much,
/// the first here wins. A client that accepts none of them gets the stream uncompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compression {
    encodings: Vec<Encoding>,
}

impl Default for Compression {
    fn default() -> Self {
        Compression::new()
    }
}

impl Compression {
    /// Every encoding: gzip, zstd, brotli, deflate ([`Encoding::ALL`]).
    pub fn new() -> Self {
        Compression {
            encodings: Encoding::ALL.to_vec(),
        }
    }

    /// Offers only `encodings`, preferred in this order (repeats are ignored). With none,
    /// streams are never compressed.
    pub fn encodings(mut self, encodings: impl IntoIterator<Item = Encoding>) -> Self {
        self.encodings.clear();
        for encoding in encodings {
            if !self.encodings.contains(&encoding) {
                self.encodings.push(encoding);
            }
        }
        self
    }

    /// The encodings offered, preferred first.
    pub fn offered(&self) -> &[Encoding] {
        &self.encodings
    }
}

/// One stream's compressor, and the memory it holds in the server's budget.
pub(crate) struct Encoder {
    codec: Codec,
    encoding: Encoding,
    _reserved: Option<Reserved>,
}

enum Codec {
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    /// gzip and deflate: our own compressor, made for small flushed writes.
    Deflate(Box<Deflate>),
}

// Levels and windows: measured for streams of small flushed writes (README, "Production:
// compressed streams"). Larger windows or levels shrank the bench's events by a few percent at several
// times the memory (brotli quality 5: 1 MiB per stream) or the CPU per flush.
const ZSTD_LEVEL: i32 = 3;
const ZSTD_WINDOW_LOG: u32 = 15;
/// zstd's match tables: 2^12 entries instead of its level 3 default of 2^17 (about 800 KiB
/// per stream), which helps little for events of a few hundred bytes.
const ZSTD_TABLE_LOG: u32 = 12;
const BROTLI_QUALITY: u32 = 3;
const BROTLI_WINDOW_LOG: u32 = 16;
const BROTLI_BUFFER: usize = 4096;

impl Encoder {
    /// A compressor for `encoding`, holding `reserved` of the budget while it lives.
    pub(crate) fn new(encoding: Encoding, reserved: Option<Reserved>) -> io::Result<Self> {
        let codec = match encoding {
            Encoding::Zstd => {
                use zstd::stream::raw::CParameter;
                let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL)?;
                encoder.window_log(ZSTD_WINDOW_LOG)?;
                encoder.set_parameter(CParameter::HashLog(ZSTD_TABLE_LOG))?;
                encoder.set_parameter(CParameter::ChainLog(ZSTD_TABLE_LOG))?;
                Codec::Zstd(encoder)
            }
            Encoding::Brotli => Codec::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                BROTLI_BUFFER,
                BROTLI_QUALITY,
                BROTLI_WINDOW_LOG,
            ))),
            Encoding::Gzip => Codec::Deflate(Box::new(Deflate::new(Container::Gzip))),
            Encoding::Deflate => Codec::Deflate(Box::new(Deflate::new(Container::Zlib))),
        };
        Ok(Encoder {
            codec,
            encoding,
            _reserved: reserved,
        })
    }

    /// The encoding this compressor writes.
    pub(crate) fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Compresses `chunk` and flushes: every byte of it can be decoded from what this returns.
    pub(crate) fn encode(&mut self, chunk: &[u8]) -> io::Result<Bytes> {
        match &mut self.codec {
            Codec::Zstd(encoder) => {
                encoder.write_all(chunk)?;
                encoder.flush()?;
                Ok(Bytes::from(std::mem::take(encoder.get_mut())))
            }
            Codec::Brotli(encoder) => {
                encoder.write_all(chunk)?;
                encoder.flush()?;
                Ok(Bytes::from(std::mem::take(encoder.get_mut())))
            }
            Codec::Deflate(deflate) => Ok(deflate.encode(chunk)),
        }
    }

    /// The end of the compressed stream (its trailer): the last bytes the client gets.
    pub(crate) fn finish(self) -> io::Result<Bytes> {
        match self.codec {
            Codec::Zstd(encoder) => encoder.finish().map(Bytes::from),
            Codec::Brotli(encoder) => Ok(Bytes::from(encoder.into_inner())),
            Codec::Deflate(deflate) => Ok(deflate.finish()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn decode(encoding: Encoding, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match encoding {
            Encoding::Zstd => zstd::stream::read::Decoder::new(bytes)
                .unwrap()
                .read_to_end(&mut out),
            Encoding::Brotli => brotli::Decompressor::new(bytes, 4096).read_to_end(&mut out),
            Encoding::Gzip => flate2::read::GzDecoder::new(bytes).read_to_end(&mut out),
            Encoding::Deflate => flate2::read::ZlibDecoder::new(bytes).read_to_end(&mut out),
        }
        .unwrap();
        out
    }

    /// What the client can decode after each chunk, without the bytes of later ones.
    fn decode_partial(encoding: Encoding, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buffer = [0; 4096];
        let mut reader: Box<dyn Read> = match encoding {
            Encoding::Zstd => Box::new(zstd::stream::read::Decoder::new(bytes).unwrap()),
            Encoding::Brotli => Box::new(brotli::Decompressor::new(bytes, 4096)),
            Encoding::Gzip => Box::new(flate2::read::GzDecoder::new(bytes)),
            Encoding::Deflate => Box::new(flate2::read::ZlibDecoder::new(bytes)),
        };
        // The stream is cut short: read until the decoder has nothing more, then stop.
        while let Ok(n @ 1..) = reader.read(&mut buffer) {
            out.extend_from_slice(&buffer[..n]);
        }
        out
    }

    #[test]
    fn every_chunk_can_be_decoded_as_soon_as_it_is_encoded_and_the_stream_ends_whole() {
        for encoding in Encoding::ALL {
            let mut encoder = Encoder::new(encoding, None).unwrap();
            let mut wire = Vec::new();
            let mut sent = Vec::new();
            for n in 0..200 {
                let chunk = format!("id: {n}\nevent: tick\ndata: {{\"seq\":{n}}}\n\n");
                wire.extend_from_slice(&encoder.encode(chunk.as_bytes()).unwrap());
                sent.extend_from_slice(chunk.as_bytes());
                if n % 50 == 0 {
                    assert_eq!(
                        decode_partial(encoding, &wire),
                        sent,
                        "{encoding}, chunk {n}"
                    );
                }
            }
            wire.extend_from_slice(&encoder.finish().unwrap());
            assert_eq!(decode(encoding, &wire), sent, "{encoding}");
            assert!(
                wire.len() * 2 < sent.len(),
                "{encoding}: {} bytes",
                wire.len()
            );
        }
    }

    #[test]
    fn a_large_chunk_is_encoded_whole() {
        let chunk: Vec<u8> = (0..300_000u32).flat_map(|n| n.to_le_bytes()).collect();
        for encoding in Encoding::ALL {
            let mut encoder = Encoder::new(encoding, None).unwrap();
            let mut wire = encoder.encode(&chunk).unwrap().to_vec();
            wire.extend_from_slice(&encoder.finish().unwrap());
            assert_eq!(decode(encoding, &wire), chunk, "{encoding}");
        }
    }

    #[test]
    fn tokens_name_their_encodings() {
        for encoding in Encoding::ALL {
            assert_eq!(Encoding::from_token(encoding.as_str()), Some(encoding));
        }
        assert_eq!(Encoding::from_token(" GZIP "), Some(Encoding::Gzip));
        assert_eq!(Encoding::from_token("x-gzip"), Some(Encoding::Gzip));
        assert_eq!(Encoding::from_token("compress"), None);
        let only = Compression::new().encodings([Encoding::Gzip, Encoding::Zstd, Encoding::Gzip]);
        assert_eq!(only.offered(), [Encoding::Gzip, Encoding::Zstd]);
    }
}

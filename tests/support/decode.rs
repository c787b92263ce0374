//! Compressed bodies as tests read them: a decoder fed as bytes arrive, written independently
//! of the client's.

use std::io::Write;

/// A decoder fed as bytes arrive, written independently of the client's.
pub enum Decoder {
    Identity(Vec<u8>),
    Zstd(zstd::stream::write::Decoder<'static, Vec<u8>>),
    Brotli(Box<brotli::DecompressorWriter<Vec<u8>>>),
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    Deflate(flate2::write::ZlibDecoder<Vec<u8>>),
}

impl Decoder {
    /// The decoder for a response's `Content-Encoding`.
    pub fn new(content_encoding: Option<&str>) -> Decoder {
        match content_encoding {
            None => Decoder::Identity(Vec::new()),
            Some("zstd") => Decoder::Zstd(zstd::stream::write::Decoder::new(Vec::new()).unwrap()),
            Some("br") => {
                Decoder::Brotli(Box::new(brotli::DecompressorWriter::new(Vec::new(), 4096)))
            }
            Some("gzip") => Decoder::Gzip(flate2::write::GzDecoder::new(Vec::new())),
            Some("deflate") => Decoder::Deflate(flate2::write::ZlibDecoder::new(Vec::new())),
            Some(other) => panic!("unexpected Content-Encoding {other}"),
        }
    }

    /// Feeds `bytes`; everything decodable so far.
    pub fn feed(&mut self, bytes: &[u8]) -> &mut Vec<u8> {
        fn through<W: Write>(writer: &mut W, bytes: &[u8]) {
            writer.write_all(bytes).unwrap();
            writer.flush().unwrap();
        }
        match self {
            Decoder::Identity(text) => {
                text.extend_from_slice(bytes);
                text
            }
            Decoder::Zstd(decoder) => {
                through(decoder, bytes);
                decoder.get_mut()
            }
            Decoder::Brotli(decoder) => {
                through(decoder.as_mut(), bytes);
                decoder.get_mut()
            }
            Decoder::Gzip(decoder) => {
                through(decoder, bytes);
                decoder.get_mut()
            }
            Decoder::Deflate(decoder) => {
                through(decoder, bytes);
                decoder.get_mut()
            }
        }
    }

    /// Checks the end of the body: a compressed stream ends with its trailer.
    pub fn finish(self) {
        match self {
            Decoder::Identity(_) => {}
            Decoder::Zstd(decoder) => drop(decoder.into_inner()),
            Decoder::Brotli(decoder) => {
                decoder.into_inner().expect("a whole brotli stream");
            }
            Decoder::Gzip(decoder) => {
                decoder.finish().expect("a whole gzip stream");
            }
            Decoder::Deflate(decoder) => {
                decoder.finish().expect("a whole deflate stream");
            }
        }
    }
}

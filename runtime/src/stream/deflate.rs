//! The gzip and deflate compressor of a stream: DEFLATE (RFC 1951) made for many long streams
//! of small writes, each flushed.
//!
//! zlib's compressors are built for files. With 1,000 live streams each flushing a 150-byte
//! event (one process, each compressor in turn), zlib-rs at level 1 (flate2's fastest
//! backend) was the fastest of them, and spent most of its time in cache misses on its
//! 128 KiB hash table (a fixed size), keeping about 215 KiB per stream; classic zlib took 2-3
//! times as long (it builds Huffman trees for every block), miniz_oxide at its fastest
//! settings twice as long. A stream of events needs less: find where a recent event said the
//! same thing, and say so. This compressor does only that: greedy matches through a hash of
//! the next 4 bytes (512 entries, no chains), a 1 KiB window, the fixed Huffman codes
//! (nothing to build or send per flush), one block per write, closed by a sync flush.
//!
//! Its state is small on purpose. By a stream's next write, the server's other streams have
//! pushed that state out of the caches, and the time per flush followed the state's size more
//! than the work. Medians of 7 rounds in one process: zlib-rs 2.2 µs per flush; this code
//! with an 8 KiB window and a 1,024-entry table (18 KiB per stream) 1.35 µs; as it is,
//! 0.27 µs, with the whole state in one 3 KiB piece and its hot parts (the table, the
//! window's last 512 bytes) loaded at the start of a write all at once, not one miss at a
//! time. A 1 KiB window still holds the last few events, where their repeats are: it costs
//! 13 % more bytes than an 8 KiB one on the bench's tick, and 15-20 % more than zlib-rs at
//! level 1 on dashboard-like JSON (0.32, 0.28 and 0.28 of the text in writes of 150 bytes,
//! 4 KiB and 64 KiB, against 0.28, 0.23 and 0.23).
//!
//! The output is standard DEFLATE: any inflater decodes it (browsers, curl, Node, flate2); the
//! tests below decode it after every write of streams of every shape.

use bytes::Bytes;

/// How far back a match may reach. Twice this is kept, so that the window is slid once per
/// window of input, not once per write. Small on purpose: see the module doc.
const WINDOW: usize = 1024;
/// log2 of the hash table's entries: 512 of 2 bytes.
const HASH_BITS: u32 = 9;
/// The shortest match worth a reference: a hash covers 4 bytes.
const MIN_MATCH: usize = 4;
/// The longest match DEFLATE can say.
const MAX_MATCH: usize = 258;
/// Bytes per cache line, the unit [`Matcher::warm`] loads.
const CACHE_LINE: usize = 64;

/// The container of the compressed stream: the `Content-Encoding` it is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Container {
    /// `gzip` (RFC 1952): a 10-byte header, a CRC-32 and the length at the end.
    Gzip,
    /// `deflate`, which HTTP defines as the zlib format (RFC 1950): a 2-byte header, an
    /// Adler-32 at the end.
    Zlib,
}

/// One stream's compressor.
pub(crate) struct Deflate {
    container: Container,
    /// Whether the header has been written (with the first output).
    started: bool,
    /// CRC-32 (gzip) or Adler-32 (zlib) of every byte compressed so far.
    checksum: u32,
    /// Bytes compressed so far, modulo 2^32 (gzip's trailer holds it).
    length: u32,
    matcher: Matcher,
}

impl Deflate {
    pub(crate) fn new(container: Container) -> Self {
        Deflate {
            container,
            started: false,
            checksum: match container {
                Container::Gzip => 0,
                Container::Zlib => 1,
            },
            length: 0,
            matcher: Matcher::new(),
        }
    }

    /// Compresses `chunk` as one block and flushes: every byte of it can be decoded from what
    /// this returns and what came before.
    pub(crate) fn encode(&mut self, chunk: &[u8]) -> Bytes {
        // Fixed codes take at most 9 bits per byte; then the block's ends and the flush.
        let mut out = Vec::with_capacity(chunk.len() + chunk.len() / 8 + 32);
        self.header(&mut out);
        self.checksum = match self.container {
            Container::Gzip => zlib_rs::crc32::crc32(self.checksum, chunk),
            Container::Zlib => zlib_rs::adler32::adler32(self.checksum, chunk),
        };
        self.length = self.length.wrapping_add(chunk.len() as u32);
        self.matcher.block(chunk, &mut out);
        Bytes::from(out)
    }

    /// The end of the compressed stream: a last, empty block and the container's trailer.
    pub(crate) fn finish(mut self) -> Bytes {
        let mut out = Vec::with_capacity(32);
        self.header(&mut out);
        let mut bits = BitWriter::default();
        bits.put(&mut out, 0b011, 3); // The last block, fixed codes...
        let (code, len) = LITERAL_CODES[END_OF_BLOCK];
        bits.put(&mut out, code.into(), len.into()); // ...and nothing in it.
        bits.align(&mut out);
        match self.container {
            Container::Gzip => {
                out.extend_from_slice(&self.checksum.to_le_bytes());
                out.extend_from_slice(&self.length.to_le_bytes());
            }
            Container::Zlib => out.extend_from_slice(&self.checksum.to_be_bytes()),
        }
        Bytes::from(out)
    }

    fn header(&mut self, out: &mut Vec<u8>) {
        if std::mem::replace(&mut self.started, true) {
            return;
        }
        match self.container {
            // No name, no time; "fastest" compression; OS unknown.
            Container::Gzip => out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255]),
            // Deflate with a window of up to 32 KiB, "fastest"; the check bits make the pair
            // a multiple of 31.
            Container::Zlib => out.extend_from_slice(&[0x78, 0x01]),
        }
    }
}

/// The LZ77 half: the window of what was sent and where each 4 bytes were last seen, in one
/// piece of memory (about 3 KiB, boxed with the rest of the compressor) so that a write
/// touches as few pages as possible.
struct Matcher {
    /// For each hash of 4 bytes, the stream position (modulo 2^16) where they were last seen.
    /// An entry may be stale or collide: a match is checked byte by byte before it is used,
    /// and any equal bytes in the window are a valid reference.
    head: [u16; 1 << HASH_BITS],
    /// The stream position of `history[0]`, modulo 2^16.
    start: u16,
    /// How much of `history` holds the stream's last bytes.
    len: usize,
    /// The stream's last bytes: at least the window's worth (once sent), then the write
    /// being compressed, a window at a time.
    history: [u8; 2 * WINDOW],
}

impl Matcher {
    fn new() -> Self {
        Matcher {
            head: [0; 1 << HASH_BITS],
            start: 0,
            len: 0,
            history: [0; 2 * WINDOW],
        }
    }

    /// Appends one fixed-code block for `input` to `out`, then a sync flush (an empty stored
    /// block), which leaves the output on a byte boundary.
    fn block(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.warm();
        let mut bits = BitWriter::default();
        bits.put(out, 0b010, 3); // Not the last block; fixed codes.
        // A window at a time: a match reaches at most a window back.
        for piece in input.chunks(WINDOW) {
            self.slide(piece.len());
            let from = self.len;
            self.len += piece.len();
            self.history[from..self.len].copy_from_slice(piece);
            let mut at = from;
            while at < self.len {
                if let Some((length, distance)) = self.find_match(at) {
                    bits.put_match(out, length, distance);
                    at += length;
                } else {
                    let (code, len) = LITERAL_CODES[usize::from(self.history[at])];
                    bits.put(out, code.into(), len.into());
                    at += 1;
                }
            }
        }
        let (code, len) = LITERAL_CODES[END_OF_BLOCK];
        bits.put(out, code.into(), len.into());
        // The sync flush: a stored block's 3 header bits, padding, and its empty length.
        bits.put(out, 0, 3);
        bits.align(out);
        out.extend_from_slice(&[0, 0, 0xff, 0xff]);
    }

    /// Drops history older than the window when `incoming` (at most a window) more bytes
    /// would not fit.
    fn slide(&mut self, incoming: usize) {
        if self.len + incoming <= 2 * WINDOW {
            return;
        }
        let old = self.len - WINDOW;
        self.history.copy_within(old..self.len, 0);
        self.len = WINDOW;
        self.start = self.start.wrapping_add(old as u16);
    }

    /// Touches every cache line of the hash table and of the window's last 512 bytes (where
    /// an event's predecessors are), with loads that do not wait on each other. With many
    /// streams, a stream's state has left the cache by its next write; loaded one miss at a
    /// time, as the matching asks for them, the misses were most of a write's time. With
    /// 1,000 streams, writes were faster with this in 5 of 6 paired rounds (medians 0.36 µs
    /// with it, 0.49 µs without).
    fn warm(&self) {
        let mut sum = 0u16;
        for line in self.head.chunks(CACHE_LINE / size_of::<u16>()) {
            sum = sum.wrapping_add(line[0]);
        }
        let recent = self.len.saturating_sub(512);
        for line in self.history[recent..self.len].chunks(CACHE_LINE) {
            sum = sum.wrapping_add(line[0].into());
        }
        // Without a use, the loads would be optimised away.
        std::hint::black_box(sum);
    }

    /// The longest match the hash table points at for the bytes at `at` (within the current
    /// write: a flush sends everything, so nothing waits for later bytes), and records `at`.
    fn find_match(&mut self, at: usize) -> Option<(usize, usize)> {
        let history = &self.history[..self.len];
        let next = history.get(at..at + MIN_MATCH)?;
        let hash = (u32::from_le_bytes([next[0], next[1], next[2], next[3]])
            .wrapping_mul(0x9E37_79B1)
            >> (32 - HASH_BITS)) as usize;
        let position = self.start.wrapping_add(at as u16);
        let seen = std::mem::replace(&mut self.head[hash], position);
        let distance = usize::from(position.wrapping_sub(seen));
        if distance == 0 || distance > WINDOW.min(at) {
            return None;
        }
        let length = common_length(history, at - distance, at);
        (length >= MIN_MATCH).then_some((length, distance))
    }
}

/// How many bytes from `candidate` equal those from `at` (up to the end of `history` and
/// [`MAX_MATCH`]), compared 8 at a time. Overlapping is fine (DEFLATE copies byte by byte):
/// `candidate < at`.
fn common_length(history: &[u8], candidate: usize, at: usize) -> usize {
    let longest = (history.len() - at).min(MAX_MATCH);
    let word = |from: usize| u64::from_le_bytes(history[from..from + 8].try_into().unwrap());
    let mut n = 0;
    while n + 8 <= longest {
        let differ = word(candidate + n) ^ word(at + n);
        if differ != 0 {
            // Little-endian: the first differing byte holds the lowest set bit.
            return n + (differ.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + (n..longest)
        .take_while(|&i| history[candidate + i] == history[at + i])
        .count()
}

/// Bits, least significant first, as DEFLATE packs them.
#[derive(Default)]
struct BitWriter {
    pending: u64,
    count: u32,
}

impl BitWriter {
    /// Appends the low `count` bits of `value` (at most 32).
    fn put(&mut self, out: &mut Vec<u8>, value: u32, count: u32) {
        self.pending |= u64::from(value) << self.count;
        self.count += count;
        if self.count >= 32 {
            out.extend_from_slice(&(self.pending as u32).to_le_bytes());
            self.pending >>= 32;
            self.count -= 32;
        }
    }

    /// A length and distance pair: at most 8 + 5 + 5 + 13 = 31 bits, put at once.
    fn put_match(&mut self, out: &mut Vec<u8>, length: usize, distance: usize) {
        let symbol = usize::from(LENGTH_SYMBOL[length]);
        let (code, code_len) = LITERAL_CODES[257 + symbol];
        let mut value = u32::from(code);
        let mut count = u32::from(code_len);
        value |= (length as u32 - u32::from(LENGTH_BASE[symbol])) << count;
        count += u32::from(LENGTH_EXTRA[symbol]);
        let symbol = distance_symbol(distance);
        // Distance codes are all 5 bits: the symbol, reversed.
        value |= u32::from(reverse(symbol as u16, 5)) << count;
        count += 5;
        value |= (distance as u32 - u32::from(DISTANCE_BASE[symbol])) << count;
        count += u32::from(DISTANCE_EXTRA[symbol]);
        self.put(out, value, count);
    }

    /// Pads with zeros to the next byte and writes what is pending.
    fn align(&mut self, out: &mut Vec<u8>) {
        let bytes = self.count.div_ceil(8) as usize;
        out.extend_from_slice(&self.pending.to_le_bytes()[..bytes]);
        self.pending = 0;
        self.count = 0;
    }
}

const END_OF_BLOCK: usize = 256;

/// The fixed literal/length codes (RFC 1951, 3.2.6), bit-reversed to be written least
/// significant bit first, with their lengths.
const LITERAL_CODES: [(u16, u8); 286] = {
    let mut codes = [(0, 0); 286];
    let mut symbol = 0;
    while symbol < 286 {
        let s = symbol as u16;
        let (code, len) = match symbol {
            0..=143 => (0x30 + s, 8),
            144..=255 => (0x190 + s - 144, 9),
            256..=279 => (s - 256, 7),
            _ => (0xc0 + s - 280, 8),
        };
        codes[symbol] = (reverse(code, len), len);
        symbol += 1;
    }
    codes
};

const fn reverse(code: u16, len: u8) -> u16 {
    code.reverse_bits() >> (16 - len as u32)
}

/// The first length of each length symbol (257 + index), and its extra bits.
const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// The length symbol (minus 257) of each length 3..=258.
const LENGTH_SYMBOL: [u8; MAX_MATCH + 1] = {
    let mut symbols = [0; MAX_MATCH + 1];
    let mut symbol = 0;
    while symbol < 28 {
        let mut length = LENGTH_BASE[symbol] as usize;
        while length < LENGTH_BASE[symbol + 1] as usize {
            symbols[length] = symbol as u8;
            length += 1;
        }
        symbol += 1;
    }
    // 258 has a symbol of its own (285), not 284 with all extra bits set.
    symbols[MAX_MATCH] = 28;
    symbols
};
/// The first distance of each distance symbol, and its extra bits.
const DISTANCE_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DISTANCE_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// The distance symbol of `distance` (1..=32768): two symbols per power of two past 4.
fn distance_symbol(distance: usize) -> usize {
    let d = distance - 1;
    if d < 4 {
        return d;
    }
    let log = (usize::BITS - 1 - d.leading_zeros()) as usize;
    2 * log + ((d >> (log - 1)) & 1)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::compression::Encoding;

    /// What an inflater makes of `wire` so far: the bytes it can decode, and whether the
    /// stream ended properly (checksum and length included).
    fn inflate(container: Container, wire: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let mut buffer = [0; 4096];
        let mut reader: Box<dyn Read> = match container {
            Container::Gzip => Box::new(flate2::read::GzDecoder::new(wire)),
            Container::Zlib => Box::new(flate2::read::ZlibDecoder::new(wire)),
        };
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => return (out, true),
                Ok(n) => out.extend_from_slice(&buffer[..n]),
                // Cut short: everything flushed so far was decoded.
                Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return (out, false);
                }
                Err(error) => panic!("{container:?}: {error}"),
            }
        }
    }

    /// xorshift64: inputs of every shape, the same on every run.
    struct Random(u64);

    impl Random {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n.max(1)
        }
    }

    /// A chunk like a stream's, or not: events, repeats of earlier bytes, runs, noise.
    fn chunk(random: &mut Random, sent: &[u8]) -> Vec<u8> {
        let mut chunk = Vec::new();
        let target = match random.below(10) {
            0 => 0,
            1 => random.below(70_000) as usize,
            _ => random.below(400) as usize,
        };
        while chunk.len() < target {
            match random.below(4) {
                0 => chunk.extend_from_slice(
                    format!(
                        "event: tick\ndata: {{\"seq\":{}}}\n\n",
                        random.below(1 << 40)
                    )
                    .as_bytes(),
                ),
                1 if !sent.is_empty() => {
                    // A third within the window's reach, the rest past it.
                    let from =
                        sent.len() - 1 - random.below(sent.len().min(3 * WINDOW) as u64) as usize;
                    let len = random.below(600) as usize;
                    chunk.extend_from_slice(&sent[from..(from + len).min(sent.len())]);
                }
                2 => {
                    let byte = random.below(256) as u8;
                    chunk.extend(std::iter::repeat_n(byte, random.below(700) as usize));
                }
                _ => chunk.extend((0..random.below(300)).map(|_| random.below(256) as u8)),
            }
        }
        chunk.truncate(target);
        chunk
    }

    #[test]
    fn every_write_decodes_as_soon_as_it_is_sent_and_the_stream_ends_whole() {
        let mut random = Random(0x5eed);
        for stream in 0..60 {
            let container = if stream % 2 == 0 {
                Container::Gzip
            } else {
                Container::Zlib
            };
            let mut deflate = Deflate::new(container);
            let (mut wire, mut sent) = (Vec::new(), Vec::new());
            for _ in 0..random.below(60) {
                let chunk = chunk(&mut random, &sent);
                wire.extend_from_slice(&deflate.encode(&chunk));
                sent.extend_from_slice(&chunk);
                let (decoded, ended) = inflate(container, &wire);
                assert!(
                    !ended && decoded == sent,
                    "stream {stream}: {} bytes",
                    sent.len()
                );
            }
            wire.extend_from_slice(&deflate.finish());
            let (decoded, ended) = inflate(container, &wire);
            assert!(ended && decoded == sent, "stream {stream}: the end");
        }
    }

    #[test]
    fn a_stream_longer_than_the_positions_wrap_stays_decodable() {
        // Positions in the hash table wrap at 64 KiB: stale entries must never be used.
        let mut deflate = Deflate::new(Container::Gzip);
        let (mut wire, mut sent) = (Vec::new(), Vec::new());
        for n in 0..5000u32 {
            let chunk = format!(
                "event: tick\ndata: {{\"seq\":{},\"pad\":\"{}\"}}\n\n",
                n * 7919,
                "x".repeat((n % 97) as usize)
            );
            wire.extend_from_slice(&deflate.encode(chunk.as_bytes()));
            sent.extend_from_slice(chunk.as_bytes());
        }
        wire.extend_from_slice(&deflate.finish());
        assert!(sent.len() > 4 * 65536);
        assert_eq!(inflate(Container::Gzip, &wire), (sent.clone(), true));
        // Events that repeat compress like they do with zlib.
        assert!(
            wire.len() * 4 < sent.len(),
            "{} of {}",
            wire.len(),
            sent.len()
        );
    }

    #[test]
    fn an_empty_stream_and_empty_writes_are_valid() {
        for container in [Container::Gzip, Container::Zlib] {
            assert_eq!(
                inflate(container, &Deflate::new(container).finish()),
                (vec![], true)
            );
            let mut deflate = Deflate::new(container);
            let mut wire = deflate.encode(b"").to_vec();
            wire.extend_from_slice(&deflate.encode(b"a"));
            wire.extend_from_slice(&deflate.encode(b""));
            wire.extend_from_slice(&deflate.finish());
            assert_eq!(inflate(container, &wire), (b"a".to_vec(), true));
        }
    }

    #[test]
    fn the_state_is_within_what_the_budget_counts() {
        // All of a compressor's memory between writes: one boxed piece (`Codec::Deflate`).
        let state = std::mem::size_of::<Deflate>();
        for encoding in [Encoding::Gzip, Encoding::Deflate] {
            assert!(
                state <= encoding.memory(),
                "{state} > {}",
                encoding.memory()
            );
        }
    }

    #[test]
    fn lengths_and_distances_take_their_symbols() {
        assert_eq!(LENGTH_SYMBOL[3], 0);
        assert_eq!(LENGTH_SYMBOL[10], 7);
        assert_eq!(LENGTH_SYMBOL[11], 8);
        assert_eq!(LENGTH_SYMBOL[257], 27);
        assert_eq!(LENGTH_SYMBOL[258], 28);
        for (symbol, base) in DISTANCE_BASE.iter().enumerate() {
            assert_eq!(distance_symbol(usize::from(*base)), symbol);
            let last = DISTANCE_BASE.get(symbol + 1).map_or(32768, |next| next - 1);
            assert_eq!(distance_symbol(usize::from(last)), symbol);
        }
    }
}

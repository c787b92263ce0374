//! The path and query decoders: any path and query string against routes with struct, tuple
//! and catch-all parameters and a query of many shapes.
#![no_main]

use bytes::Bytes;
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

const PREFIXES: [&str; 4] = ["/users/", "/pair/", "/files/", "/hub?"];

fuzz_target!(|input: &[u8]| {
    let Some((&which, rest)) = input.split_first() else {
        return;
    };
    // Printable bytes stay as they are; others are percent-encoded, as a client would send.
    let mut target = PREFIXES[usize::from(which) % PREFIXES.len()].to_owned();
    for &byte in rest {
        if byte.is_ascii_graphic() && byte != b'#' {
            target.push(char::from(byte));
        } else {
            target.push_str(&format!("%{byte:02X}"));
        }
    }
    let Ok(uri) = http::Uri::try_from(target) else {
        return;
    };
    let request = http::Request::get(uri)
        .body(Full::new(Bytes::new()))
        .unwrap();
    common::answer(request);
});

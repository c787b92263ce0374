//! A whole request through the router: any method, URI, headers and body.
#![no_main]

use bytes::Bytes;
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|input: &[u8]| {
    // Sections separated by NUL: method, URI, header lines ("name: value"), then the body.
    let mut sections = input.splitn(4, |&b| b == 0);
    let method = sections.next().unwrap_or_default();
    let uri = sections.next().unwrap_or_default();
    let headers = sections.next().unwrap_or_default();
    let body = sections.next().unwrap_or_default();
    let mut request = http::Request::builder();
    if let Ok(method) = http::Method::from_bytes(method) {
        request = request.method(method);
    }
    let Ok(uri) = http::Uri::try_from(uri) else {
        return;
    };
    request = request.uri(uri);
    for line in headers.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name),
            http::HeaderValue::from_bytes(value.trim_ascii()),
        ) {
            request = request.header(name, value);
        }
    }
    let Ok(request) = request.body(Full::new(Bytes::copy_from_slice(body))) else {
        return;
    };
    common::answer(request);
});

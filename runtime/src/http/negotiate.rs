//! Which encoding a stream is compressed with: the route's and the router's choice
//! ([`Router::compression`](crate::Router::compression)), then the client's `Accept-Encoding`.

use std::borrow::Cow;

use http::HeaderMap;
use http::header::ACCEPT_ENCODING;

use crate::compression::{Compression, Encoding};

/// The encodings a route's streams may use: the route's attribute (`compress = false` or
/// `true`) wins over the router's setting.
pub(crate) fn for_route(
    route: Option<bool>,
    router: Option<&Compression>,
) -> Option<Cow<'_, Compression>> {
    match (route, router) {
        (Some(false), _) | (None, None) => None,
        (_, Some(router)) => Some(Cow::Borrowed(router)),
        (Some(true), None) => Some(Cow::Owned(Compression::new())),
    }
}

/// The encoding to answer with, by RFC 9110 (section 12.5.3): the offered encoding with the
/// highest q-value in `Accept-Encoding` (`*` stands for the encodings it does not name; `q=0`
/// refuses), the server's preference among equals. `None` (identity) when the client sent no
/// `Accept-Encoding` or accepts none of them.
pub(crate) fn negotiate(headers: &HeaderMap, compression: &Compression) -> Option<Encoding> {
    let mut named: Vec<(Encoding, u16)> = Vec::new();
    let mut any: Option<u16> = None;
    let values = headers.get_all(ACCEPT_ENCODING).iter();
    for item in values
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';');
        let token = parts.next().unwrap_or("").trim();
        let Some(q) = quality(parts) else {
            continue;
        };
        if token == "*" {
            any = Some(q);
        } else if let Some(encoding) = Encoding::from_token(token) {
            named.push((encoding, q));
        }
    }
    let quality_of = |encoding: Encoding| {
        named
            .iter()
            .find(|(named, _)| *named == encoding)
            .map(|(_, q)| *q)
            .or(any)
            .unwrap_or(0)
    };
    let mut best: Option<(Encoding, u16)> = None;
    for &encoding in compression.offered() {
        let q = quality_of(encoding);
        if q > 0 && best.is_none_or(|(_, best)| q > best) {
            best = Some((encoding, q));
        }
    }
    best.map(|(encoding, _)| encoding)
}

/// The q-value among an item's parameters, in thousandths (1000 without one); `None` when it
/// is malformed, which makes the item count for nothing.
fn quality<'a>(parameters: impl Iterator<Item = &'a str>) -> Option<u16> {
    for parameter in parameters {
        let Some((name, value)) = parameter.split_once('=') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("q") {
            continue;
        }
        let value = value.trim();
        let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
        let valid = matches!(whole, "0" | "1")
            && fraction.len() <= 3
            && fraction.bytes().all(|b| b.is_ascii_digit())
            && (whole == "0" || fraction.bytes().all(|b| b == b'0'));
        if !valid {
            return None;
        }
        let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
        return Some(if whole == "1" { 1000 } else { thousandths });
    }
    Some(1000)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn chosen(accept_encoding: &[&str], compression: &Compression) -> Option<&'static str> {
        let mut headers = HeaderMap::new();
        for value in accept_encoding {
            headers.append(ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        }
        negotiate(&headers, compression).map(Encoding::as_str)
    }

    #[test]
    fn the_highest_q_value_wins_then_the_servers_order() {
        let all = Compression::new();
        let cases: &[(&[&str], Option<&str>)] = &[
            (&[], None),
            (&[""], None),
            (&["identity"], None),
            (&["gzip, deflate, br, zstd"], Some("gzip")),
            (&["deflate, br, zstd"], Some("zstd")),
            (&["gzip, deflate, br"], Some("gzip")),
            (&["br"], Some("br")),
            (&["deflate"], Some("deflate")),
            (&["gzip;q=0.5, br;q=0.8"], Some("br")),
            (&["zstd;q=0.1, gzip;q=0.2"], Some("gzip")),
            (&["zstd;q=0, gzip;q=0.001"], Some("gzip")),
            (&["zstd;q=0, gzip;q=0"], None),
            (&["*"], Some("gzip")),
            (&["*;q=0.5, gzip;q=0"], Some("zstd")),
            (&["*;q=0"], None),
            (&["ZSTD;Q=1.000"], Some("zstd")),
            (&["x-gzip"], Some("gzip")),
            (&["gzip", "zstd;q=0.9"], Some("gzip")),
            (&["compress, identity;q=1"], None),
            // Malformed q-values count for nothing.
            (&["zstd;q=2, gzip"], Some("gzip")),
            (&["zstd;q=0.5x, gzip;q=0.1"], Some("gzip")),
            (&["zstd;q=1.5"], None),
            (&["zstd;q=0.1234"], None),
        ];
        for (accept, expected) in cases {
            assert_eq!(
                chosen(accept, &all),
                *expected,
                "Accept-Encoding: {accept:?}"
            );
        }
        let zstd_first = Compression::new().encodings([Encoding::Zstd, Encoding::Gzip]);
        assert_eq!(chosen(&["gzip, zstd, br"], &zstd_first), Some("zstd"));
        assert_eq!(chosen(&["br"], &zstd_first), None);
        assert_eq!(chosen(&["gzip"], &Compression::new().encodings([])), None);
    }

    #[test]
    fn a_routes_attribute_wins_over_its_router() {
        let router = Compression::new().encodings([Encoding::Gzip]);
        assert_eq!(for_route(None, None), None);
        assert_eq!(for_route(Some(false), Some(&router)), None);
        assert_eq!(for_route(None, Some(&router)).as_deref(), Some(&router));
        assert_eq!(
            for_route(Some(true), Some(&router)).as_deref(),
            Some(&router)
        );
        assert_eq!(
            for_route(Some(true), None).as_deref(),
            Some(&Compression::new())
        );
    }
}

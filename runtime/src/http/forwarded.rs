//! The client's address behind a reverse proxy: [`TrustedProxies`] takes it from the forwarded
//! header of a proxy you trust.
//!
//! Behind nginx, HAProxy or Caddy every connection comes from the proxy, so
//! [`RequestContext::peer_addr`], [`StreamsPerClient`](crate::limits::StreamsPerClient) and
//! `RateLimit` would see one client. A proxy says who its client was in `Forwarded` (RFC 7239)
//! or `X-Forwarded-For`; any client can send those headers too, so they are read only on
//! connections from addresses you list, and the chain is read from the right, past your own
//! proxies, to the first address you do not trust.
//!
//! ```
//! use tidings::forwarded::TrustedProxies;
//! use tidings::limits::StreamsPerClient;
//! use tidings::{event_stream, Emitter, Router};
//!
//! #[event_stream]
//! enum Clock {
//!     Tick { n: u64 },
//! }
//!
//! #[event_stream(path = "/clock")]
//! async fn clock(events: Emitter<Clock>) -> tidings::Result<()> {
//!     events.emit(Clock::Tick { n: 1 }).await?;
//!     Ok(())
//! }
//!
//! let proxies = TrustedProxies::new(["127.0.0.1", "10.0.0.0/8"]).expect("addresses");
//! let app = Router::new()
//!     .route(clock)
//!     // First: the limits after it count clients, not the proxy.
//!     .middleware(proxies)
//!     .middleware(StreamsPerClient::new(8));
//! ```

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use crate::http::extract::{PeerAddr, RequestContext};
use crate::http::middleware::Middleware;
use crate::http::rejection::Rejection;
use crate::http::wiring::Wiring;

/// Middleware: on a connection from one of these proxies, the client's address is the one the
/// proxy forwarded, put in the request's extensions as [`PeerAddr`] (which
/// [`RequestContext::peer_addr`] and the per-client limits read). See the [module](self) docs.
///
/// `Forwarded: for=...` is read when present, `X-Forwarded-For` otherwise; walking from the
/// right, addresses of trusted proxies are skipped and the first other one is the client's (if
/// every address is a trusted proxy's, the leftmost). A request from any other address, or
/// whose header names no address where the client's should be (`unknown`, an obfuscated
/// name, a malformed value), keeps its connection's address.
#[derive(Debug, Clone)]
pub struct TrustedProxies {
    proxies: Vec<IpNet>,
}

impl TrustedProxies {
    /// The proxies' addresses: single addresses (`"10.0.0.7"`, `"::1"`) or networks in CIDR
    /// notation (`"10.0.0.0/8"`). An error names the first that is neither.
    pub fn new<I>(proxies: I) -> Result<Self, InvalidProxy>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let proxies = proxies
            .into_iter()
            .map(|proxy| {
                let text = proxy.as_ref().trim();
                text.parse::<IpNet>()
                    .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| InvalidProxy(text.to_owned()))
            })
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies { proxies })
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.proxies.iter().any(|net| net.contains(&address))
    }

    /// The client's address, from the forwarded chain of a request that came through `peer`.
    fn client(&self, peer: IpAddr, headers: &::http::HeaderMap) -> Option<SocketAddr> {
        if !self.trusts(peer) {
            return None;
        }
        let chain = forwarded_chain(headers);
        let mut client = None;
        for hop in chain.iter().rev() {
            match hop {
                Some(address) if self.trusts(address.ip()) => client = Some(*address),
                Some(address) => return Some(*address),
                // A hop that names no address: who the client is cannot be known.
                None => return None,
            }
        }
        client
    }
}

impl Middleware for TrustedProxies {
    async fn run(&self, cx: &mut RequestContext) -> Result<(), Rejection> {
        let Some(peer) = cx.peer_addr() else {
            return Ok(());
        };
        if let Some(client) = self.client(peer.ip(), cx.headers()) {
            cx.extensions_mut().insert(PeerAddr(client));
        }
        Ok(())
    }

    fn provides(&self, _provided: &mut Wiring) {
        // `PeerAddr` is read through `RequestContext::peer_addr`, not as an `Extension`.
    }
}

/// An address given to [`TrustedProxies::new`] that is neither an IP address nor a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidProxy(pub String);

impl std::fmt::Display for InvalidProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` is not an IP address or a network (such as 10.0.0.0/8)",
            self.0
        )
    }
}

impl std::error::Error for InvalidProxy {}

/// The hops of the forwarded chain, client first: `Forwarded`'s `for=` values when the request
/// has that header, `X-Forwarded-For`'s otherwise. `None` for a hop that names no address.
fn forwarded_chain(headers: &::http::HeaderMap) -> Vec<Option<SocketAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|value| value.split(','))
            .map(|element| {
                let node = element.split(';').find_map(|pair| {
                    let (name, value) = pair.split_once('=')?;
                    name.trim()
                        .eq_ignore_ascii_case("for")
                        .then_some(value.trim())
                });
                node.and_then(node_address)
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|hop| node_address(hop.trim()))
        .collect()
}

/// The address of a node as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:4711`, quoted or not. The port is 0 when there is none.
fn node_address(node: &str) -> Option<SocketAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(address) = node.parse::<SocketAddr>() {
        return Some(address);
    }
    let bare = node
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(node);
    bare.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(proxies: &[&str], peer: &str, headers: &[(&str, &str)]) -> Option<String> {
        let trusted = TrustedProxies::new(proxies).unwrap();
        let mut map = ::http::HeaderMap::new();
        for (name, value) in headers {
            map.append(
                ::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        trusted
            .client(peer.parse().unwrap(), &map)
            .map(|address| address.to_string())
    }

    #[test]
    fn the_client_is_the_first_untrusted_hop_from_the_right() {
        let xff = [("x-forwarded-for", "203.0.113.9, 10.0.0.2")];
        assert_eq!(
            client(&["10.0.0.0/8"], "10.0.0.1", &xff).as_deref(),
            Some("203.0.113.9:0")
        );
        // A client that writes its own header cannot hide behind it: the hop the trusted
        // proxy added is the one read.
        let spoofed = [("x-forwarded-for", "1.2.3.4, 198.51.100.7")];
        assert_eq!(
            client(&["10.0.0.1"], "10.0.0.1", &spoofed).as_deref(),
            Some("198.51.100.7:0")
        );
        // Every hop trusted: the leftmost.
        let inside = [("x-forwarded-for", "10.1.1.1, 10.0.0.2")];
        assert_eq!(
            client(&["10.0.0.0/8"], "10.0.0.1", &inside).as_deref(),
            Some("10.1.1.1:0")
        );
    }

    #[test]
    fn only_a_trusted_peer_is_believed() {
        let xff = [("x-forwarded-for", "203.0.113.9")];
        assert_eq!(client(&["10.0.0.1"], "192.0.2.50", &xff), None);
        assert_eq!(client(&["10.0.0.1"], "10.0.0.1", &[]), None, "no header");
    }

    #[test]
    fn forwarded_wins_and_reads_every_form_of_node() {
        let headers = [
            (
                "forwarded",
                r#"for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.2"#,
            ),
            ("x-forwarded-for", "192.0.2.1"),
        ];
        assert_eq!(
            client(&["10.0.0.0/8"], "10.0.0.1", &headers).as_deref(),
            Some("[2001:db8:cafe::17]:4711")
        );
        let v4 = [("forwarded", "for=192.0.2.60:80;by=10.0.0.1")];
        assert_eq!(
            client(&["10.0.0.1"], "10.0.0.1", &v4).as_deref(),
            Some("192.0.2.60:80")
        );
        let bracketed = [("forwarded", r#"For="[::1]""#)];
        assert_eq!(
            client(&["10.0.0.1"], "10.0.0.1", &bracketed).as_deref(),
            Some("[::1]:0")
        );
    }

    #[test]
    fn a_hop_without_an_address_keeps_the_connections() {
        for value in ["for=unknown", "for=_hidden", "for=\"not an address\""] {
            let headers = [("forwarded", value)];
            assert_eq!(client(&["10.0.0.1"], "10.0.0.1", &headers), None, "{value}");
        }
    }

    #[test]
    fn proxies_are_addresses_or_networks() {
        assert!(TrustedProxies::new(["::1", "fd00::/8", " 10.0.0.7 "]).is_ok());
        let error = TrustedProxies::new(["10.0.0.0/8", "proxy.example"]).unwrap_err();
        assert_eq!(error, InvalidProxy("proxy.example".into()));
        assert!(error.to_string().contains("proxy.example"));
        // An IPv4 peer written as IPv6 (a dual-stack socket) is the same address.
        let trusted = TrustedProxies::new(["127.0.0.1"]).unwrap();
        assert!(trusted.trusts("::ffff:127.0.0.1".parse().unwrap()));
    }
}

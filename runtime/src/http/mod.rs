//! The [`http`](https://docs.rs/http) crate, re-exported: `tidings::http::StatusCode`,
//! `header::AUTHORIZATION`, `HeaderValue`, `Method`... name what handlers, extractors and
//! rejections use without a dependency of the app's own (its version is tidings').
//!
//! ```
//! use tidings::http::{StatusCode, header};
//! use tidings::Rejection;
//!
//! let refusal = Rejection::new(StatusCode::UNAUTHORIZED)
//!     .header(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
//! assert_eq!(refusal.status(), 401);
//! ```
//!
//! tidings' own HTTP layer lives here too, its modules also at the crate root: which endpoint
//! answers a request ([`router`]), what runs before it ([`middleware`], [`limits`]), what a
//! handler reads of the request ([`extract`], [`json`], path parameters), what a JSON route
//! answers ([`reply`]), how a refusal looks ([`rejection`], [`error_handler`]), and how an
//! endpoint's stream starts (`start`). It sits on the stream layer (`crate::stream`) and the
//! wire, and knows no server: servers (`crate::server`) and documents (`crate::openapi`,
//! `crate::typescript`) sit on it.

#[doc(no_inline)]
pub use ::http::*;

pub mod endpoint;
pub mod error_handler;
pub mod extract;
pub mod forwarded;
pub(crate) mod inputs;
pub mod json;
pub(crate) mod json_route;
pub mod limits;
pub mod middleware;
#[cfg(feature = "compression")]
pub(crate) mod negotiate;
pub(crate) mod path_params;
pub mod rejection;
pub mod reply;
pub(crate) mod route;
pub mod router;
pub(crate) mod start;
pub mod wiring;

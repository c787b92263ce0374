//! The HTTP layer: which endpoint answers a request ([`router`]), what runs before it
//! ([`middleware`], [`limits`]), what a handler reads of the request ([`extract`], [`json`],
//! path parameters), what a JSON route answers ([`reply`]), how a refusal looks ([`rejection`], [`error_handler`]), and how an
//! endpoint's stream starts (`start`).
//!
//! It sits on the stream layer (`crate::stream`) and the wire, and knows no server: servers
//! (`crate::server`) and documents (`crate::openapi`, `crate::typescript`) sit on it.

pub mod endpoint;
pub mod error_handler;
pub mod extract;
pub(crate) mod inputs;
pub mod json;
pub(crate) mod json_route;
pub mod limits;
pub mod middleware;
pub(crate) mod path_params;
pub mod rejection;
pub mod reply;
pub mod router;
pub(crate) mod start;
pub mod wiring;

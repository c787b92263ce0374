//! Boxed futures and errors, which every layer passes around.

use std::future::Future;
use std::pin::Pin;

/// A boxed future that is `Send`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A boxed error that can cross threads: what request bodies and services fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

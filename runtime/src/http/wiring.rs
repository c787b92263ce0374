//! Wiring: what a route's extractors need from its router (state, middleware's extensions),
//! checked when the router becomes a service, so that a missing `with_state` is an error at
//! startup rather than a `500` on every request.

use std::any::{TypeId, type_name};

/// What a route's extractors need, and what its router and middleware give
/// ([`FromRequest::needs`](crate::FromRequest::needs),
/// [`Middleware::provides`](crate::Middleware::provides)).
#[derive(Debug, Default, Clone)]
pub struct Wiring {
    state: Vec<(TypeId, &'static str)>,
    extensions: Vec<(TypeId, &'static str)>,
    /// A middleware that did not say what it provides: its extensions cannot be checked.
    unknown_extensions: bool,
}

impl Wiring {
    /// Needs (or gives) a state value of type `T` ([`State<T>`](crate::State)).
    pub fn state<T: 'static>(&mut self) {
        self.state.push((TypeId::of::<T>(), type_name::<T>()));
    }

    /// Needs (or gives) a request extension of type `T` ([`Extension<T>`](crate::Extension)).
    pub fn extension<T: 'static>(&mut self) {
        self.extensions.push((TypeId::of::<T>(), type_name::<T>()));
    }

    /// Gives extensions this wiring does not name: they cannot be checked.
    pub fn unknown_extensions(&mut self) {
        self.unknown_extensions = true;
    }

    pub(crate) fn extend(&mut self, other: Wiring) {
        self.state.extend(other.state);
        self.extensions.extend(other.extensions);
        self.unknown_extensions |= other.unknown_extensions;
    }

    /// What of `needs` this wiring does not give, in words.
    pub(crate) fn missing(&self, needs: &Wiring) -> Vec<String> {
        let mut missing = Vec::new();
        for (id, name) in &needs.state {
            if !self.state.iter().any(|(given, _)| given == id) {
                missing.push(format!(
                    "`State<{name}>`, but no `Router::with_state` gives a `{name}`"
                ));
            }
        }
        if !self.unknown_extensions {
            for (id, name) in &needs.extensions {
                if !self.extensions.iter().any(|(given, _)| given == id) {
                    missing.push(format!(
                        "`Extension<{name}>`, but no middleware of its router provides one \
                         (e.g. `Router::require::<{name}>()`)"
                    ));
                }
            }
        }
        missing
    }
}

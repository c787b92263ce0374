//! Procedural macros of [tidings](https://docs.rs/tidings). Use them through the `tidings`
//! crate, which re-exports them and provides every item the generated code names.
//!
//! Each macro parses its input into a small model (`ast`), rejects what cannot work with
//! spanned errors (`valid`), then generates code (`expand`, `endpoint`).

mod ast;
mod case;
mod endpoint;
mod errors;
mod expand;
mod valid;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;

use crate::errors::Errors;

/// Marks an enum as the event set of a stream, or an `async fn` as a streaming endpoint.
///
/// See the documentation of the `tidings` crate.
#[proc_macro_attribute]
pub fn event_stream(args: TokenStream, input: TokenStream) -> TokenStream {
    event_stream2(args.into(), input.into()).into()
}

/// Marks an `async fn` as a route that answers once with JSON.
///
/// See the documentation of the `tidings` crate.
#[proc_macro_attribute]
pub fn json_route(args: TokenStream, input: TokenStream) -> TokenStream {
    json_route2(args.into(), input.into()).into()
}

/// Derives `tidings::Validate` from `#[validate(...)]` field rules.
#[proc_macro_derive(Validate, attributes(validate))]
pub fn derive_validate(input: TokenStream) -> TokenStream {
    derive_validate2(input.into()).into()
}

fn event_stream2(args: TokenStream2, input: TokenStream2) -> TokenStream2 {
    let mut errors = Errors::default();
    let parsed_args = ast::Args::parse(args, &mut errors);
    match syn::parse2::<syn::Item>(input.clone()) {
        Ok(syn::Item::Enum(item)) => {
            if let Some(path) = &parsed_args.path {
                errors.push(
                    path.span(),
                    "`path` belongs on the endpoint's async fn, not on the event enum",
                );
            }
            if let Some(method) = &parsed_args.method {
                errors.push(
                    method.span(),
                    "`method` belongs on the endpoint's async fn, not on the event enum",
                );
            }
            if let Some(max) = &parsed_args.max_event_bytes {
                errors.push(
                    max.span(),
                    "`max_event_bytes` belongs on the endpoint's async fn, not on the event enum",
                );
            }
            if let Some(compress) = &parsed_args.compress {
                errors.push(
                    compress.span(),
                    "`compress` belongs on the endpoint's async fn, not on the event enum",
                );
            }
            let rename_all = parsed_args.rename_all.map(|(rule, _)| rule);
            let model = ast::EventEnum::parse(item, rename_all, &mut errors);
            valid::event_enum(&model, &mut errors);
            if errors.is_empty() {
                expand::event_enum(&model)
            } else {
                // Keep the enum (without our attributes) so that one mistake does not turn
                // into "cannot find type" errors everywhere else.
                let compile_errors = errors.to_compile_errors();
                let item = expand::strip_helper_attrs(model.item);
                quote!(#item #compile_errors)
            }
        }
        Ok(syn::Item::Fn(item)) => {
            let model = ast::EndpointFn::parse(item, parsed_args, &mut errors);
            valid::endpoint(&model, valid::RouteMacro::Stream, &mut errors);
            if errors.is_empty() {
                endpoint::expand(&model)
            } else {
                let compile_errors = errors.to_compile_errors();
                let item = model.item;
                quote!(#[allow(dead_code)] #item #compile_errors)
            }
        }
        Ok(other) => {
            let message = "`#[event_stream]` goes on an enum (the events of a stream) or on an \
                           `async fn` (a streaming endpoint)";
            let error = syn::Error::new_spanned(other, message).to_compile_error();
            quote!(#input #error)
        }
        Err(error) => error.to_compile_error(),
    }
}

fn json_route2(args: TokenStream2, input: TokenStream2) -> TokenStream2 {
    let mut errors = Errors::default();
    let parsed_args = ast::Args::parse(args, &mut errors);
    match syn::parse2::<syn::ItemFn>(input.clone()) {
        Ok(item) => {
            if let Some(max) = &parsed_args.max_event_bytes {
                errors.push(
                    max.span(),
                    "`max_event_bytes` is for streams: a `#[json_route]` sends no events",
                );
            }
            if let Some(compress) = &parsed_args.compress {
                errors.push(
                    compress.span(),
                    "`compress` is for streams: a `#[json_route]` answers once, uncompressed",
                );
            }
            let model = ast::EndpointFn::parse(item, parsed_args, &mut errors);
            valid::endpoint(&model, valid::RouteMacro::Json, &mut errors);
            if errors.is_empty() {
                endpoint::expand_json(&model)
            } else {
                let compile_errors = errors.to_compile_errors();
                let item = model.item;
                quote!(#[allow(dead_code)] #item #compile_errors)
            }
        }
        Err(_) => {
            let message = "`#[json_route]` goes on an `async fn` (a route that answers once with \
                           JSON); events are declared with `#[event_stream]`";
            let error = syn::Error::new(proc_macro2::Span::call_site(), message).to_compile_error();
            quote!(#input #error)
        }
    }
}

fn derive_validate2(input: TokenStream2) -> TokenStream2 {
    let input = match syn::parse2::<syn::DeriveInput>(input) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    let mut errors = Errors::default();
    let model = ast::ValidateInput::parse(&input, &mut errors);
    match model.as_ref().map(|m| &m.data) {
        Some(ast::ValidateData::Struct(fields)) => valid::fields(fields, &mut errors),
        Some(ast::ValidateData::Enum(variants)) => {
            for variant in variants {
                valid::fields(&variant.fields, &mut errors);
            }
        }
        None => {}
    }
    match model {
        Some(model) if errors.is_empty() => expand::validate_input(&model),
        _ => errors.to_compile_errors(),
    }
}

#[cfg(test)]
mod snapshot;

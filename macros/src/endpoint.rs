//! Code generation for endpoints, streams (`#[event_stream]`) and JSON routes (`#[json_route]`).
//! The `async fn` becomes a struct of the same name that
//! implements `tidings::Endpoint`, and a function of the same name that returns it, so that
//! `Router::route(clock)` reads naturally. The struct has braces on purpose: a unit or tuple
//! struct named `clock` would capture every `clock` pattern binding in the module. The user's
//! function itself moves, unchanged, inside `Endpoint::start`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::{EndpointFn, docs};

/// What both kinds of endpoint generate around the user's function: the trait items they
/// share (method, path, name, docs, what the extractors document and need), and per argument
/// the extraction and the value passed on.
struct Parts {
    shared_items: TokenStream,
    extractions: Vec<TokenStream>,
    call_args: Vec<TokenStream>,
}

fn parts(input: &EndpointFn) -> Parts {
    let item = &input.item;
    let method = format_ident!(
        "{}",
        input
            .method
            .as_ref()
            .map_or("GET".to_owned(), |m| m.value())
    );
    let description = match docs(&item.attrs) {
        Some(text) => quote!(::core::option::Option::Some(#text)),
        None => quote!(::core::option::Option::None),
    };
    let mut extractions = Vec::new();
    let mut descriptions = Vec::new();
    let mut needs = Vec::new();
    let mut call_args = Vec::new();
    for (index, arg) in input.args.iter().enumerate() {
        if arg.emitter_of.is_some() {
            call_args.push(quote!(__events));
            continue;
        }
        let value = format_ident!("__arg{}", index);
        let ty = &arg.ty;
        // Spanned at the argument's type, so "not an extractor" points there.
        // Every use names the trait the same way, so that a type that is not an extractor is
        // reported once (rustc merges identical errors at one span).
        extractions.push(quote_spanned! {ty.span()=>
            let #value = <#ty as ::tidings::FromRequest>::from_request(&mut __cx)
                .await
                .map_err(::tidings::__private::rejection)?;
        });
        descriptions.push(quote_spanned! {ty.span()=>
            <#ty as ::tidings::FromRequest>::describe(doc, generator);
        });
        needs.push(quote_spanned! {ty.span()=>
            <#ty as ::tidings::FromRequest>::needs(needs);
        });
        call_args.push(quote!(#value));
    }
    let name = item.sig.ident.to_string();
    let path = input.path.as_ref().map(|p| p.value()).unwrap_or_default();
    let shared_items = quote! {
        const METHOD: ::tidings::__private::Method = ::tidings::__private::Method::#method;
        const PATH: &'static str = #path;
        const NAME: &'static str = #name;
        const DESCRIPTION: ::core::option::Option<&'static str> = #description;

        fn describe_inputs(
            doc: &mut ::tidings::openapi::InputDoc,
            generator: &mut ::tidings::__private::schemars::SchemaGenerator,
        ) {
            #(#descriptions)*
            let _ = (doc, generator);
        }

        fn needs(needs: &mut ::tidings::wiring::Wiring) {
            #(#needs)*
            let _ = needs;
        }
    };
    Parts {
        shared_items,
        extractions,
        call_args,
    }
}

/// The struct that stands for the function, and the function that returns it.
fn endpoint_type(input: &EndpointFn, what: &str) -> TokenStream {
    let item = &input.item;
    let ident = &item.sig.ident;
    let vis = &item.vis;
    let doc_attrs = item.attrs.iter().filter(|a| a.path().is_ident("doc"));
    quote! {
        /// The endpoint type of the function of the same name; `Router::route` takes the
        /// function.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug)]
        #vis struct #ident {
            _private: (),
        }

        #(#doc_attrs)*
        ///
        #[doc = #what]
        #vis fn #ident() -> #ident {
            #ident { _private: () }
        }
    }
}

pub fn expand(input: &EndpointFn) -> TokenStream {
    let item = &input.item;
    let ident = &item.sig.ident;
    let Parts {
        shared_items,
        extractions,
        call_args,
    } = parts(input);
    let event = input
        .args
        .iter()
        .find_map(|a| a.emitter_of.clone())
        .expect("validated: one Emitter argument");
    let endpoint_type = endpoint_type(
        input,
        " An `#[event_stream]` endpoint: register it with `Router::route`.",
    );
    let output_span = match &item.sig.output {
        syn::ReturnType::Default => item.sig.ident.span(),
        syn::ReturnType::Type(_, ty) => ty.span(),
    };
    let task = if extractions.is_empty() {
        quote_spanned!(output_span=> ::tidings::__private::StreamTask::new(#ident))
    } else {
        quote_spanned! {output_span=>
            ::tidings::__private::StreamTask::new(move |__events| #ident(#(#call_args),*))
        }
    };

    // Only when the attribute sets it: the trait's default (the router's) otherwise.
    let max_event_bytes = input.max_event_bytes.as_ref().map(|max| {
        quote!(const MAX_EVENT_BYTES: ::core::option::Option<usize> = ::core::option::Option::Some(#max);)
    });

    // `true` names an item that exists only with tidings' `compression` feature, so that
    // asking for compression without it fails to compile, naming the feature.
    let compress = input.compress.as_ref().map(|compress| {
        let value = if compress.value {
            quote_spanned!(compress.span()=> ::tidings::__private::compression_feature::ON)
        } else {
            quote!(::core::option::Option::Some(false))
        };
        quote!(const COMPRESS: ::core::option::Option<bool> = #value;)
    });

    quote! {
        #endpoint_type

        #[automatically_derived]
        impl ::tidings::Endpoint for #ident {
            type Event = #event;
            #shared_items
            #max_event_bytes
            #compress

            #[allow(unused_mut)]
            fn start(
                &self,
                mut __cx: ::tidings::RequestContext,
            ) -> ::tidings::__private::BoxFuture<
                'static,
                ::core::result::Result<::tidings::__private::StreamTask<#event>, ::tidings::Rejection>,
            > {
                #item

                ::std::boxed::Box::pin(async move {
                    #(#extractions)*
                    let _ = &mut __cx;
                    ::core::result::Result::Ok(#task)
                })
            }
        }
    }
}

pub fn expand_json(input: &EndpointFn) -> TokenStream {
    let item = &input.item;
    let ident = &item.sig.ident;
    let Parts {
        shared_items,
        extractions,
        call_args,
    } = parts(input);
    let reply = match &item.sig.output {
        syn::ReturnType::Default => quote_spanned!(ident.span()=> ()),
        syn::ReturnType::Type(_, ty) => quote!(#ty),
    };
    let endpoint_type = endpoint_type(
        input,
        " A `#[json_route]` endpoint: register it with `Router::route`.",
    );

    quote! {
        #endpoint_type

        #[automatically_derived]
        impl ::tidings::JsonEndpoint for #ident {
            type Reply = #reply;
            #shared_items

            #[allow(unused_mut)]
            fn call(
                &self,
                mut __cx: ::tidings::RequestContext,
            ) -> ::tidings::__private::BoxFuture<
                'static,
                ::core::result::Result<Self::Reply, ::tidings::Rejection>,
            > {
                #item

                ::std::boxed::Box::pin(async move {
                    #(#extractions)*
                    let _ = &mut __cx;
                    ::core::result::Result::Ok(#ident(#(#call_args),*).await)
                })
            }
        }
    }
}

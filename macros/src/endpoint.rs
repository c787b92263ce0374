//! Code generation for endpoints. The `async fn` becomes a struct of the same name that
//! implements `tidings::Endpoint`, and a function of the same name that returns it, so that
//! `Router::route(clock)` reads naturally. The struct has braces on purpose: a unit or tuple
//! struct named `clock` would capture every `clock` pattern binding in the module. The user's
//! function itself moves, unchanged, inside `Endpoint::start`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::{EndpointFn, docs};

pub fn expand(input: &EndpointFn) -> TokenStream {
    let item = &input.item;
    let ident = &item.sig.ident;
    let vis = &item.vis;
    let name = ident.to_string();
    let path = input.path.as_ref().map(|p| p.value()).unwrap_or_default();
    let method = format_ident!(
        "{}",
        input
            .method
            .as_ref()
            .map_or("GET".to_owned(), |m| m.value())
    );
    let doc_attrs = item.attrs.iter().filter(|a| a.path().is_ident("doc"));
    let description = match docs(&item.attrs) {
        Some(text) => quote!(::core::option::Option::Some(#text)),
        None => quote!(::core::option::Option::None),
    };
    let event = input
        .args
        .iter()
        .find_map(|a| a.emitter_of.clone())
        .expect("validated: one Emitter argument");

    let mut extractions = Vec::new();
    let mut descriptions = Vec::new();
    let mut call_args = Vec::new();
    for (index, arg) in input.args.iter().enumerate() {
        if arg.emitter_of.is_some() {
            call_args.push(quote!(__events));
            continue;
        }
        let value = format_ident!("__arg{}", index);
        let ty = &arg.ty;
        // Spanned at the argument's type, so "not an extractor" points there.
        extractions.push(quote_spanned! {ty.span()=>
            let #value = ::tidings::__private::extract::<#ty>(&mut __cx).await?;
        });
        descriptions.push(quote_spanned! {ty.span()=>
            <#ty as ::tidings::FromRequest>::describe(doc, generator);
        });
        call_args.push(quote!(#value));
    }
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
        /// An `#[event_stream]` endpoint: register it with `Router::route`.
        #vis fn #ident() -> #ident {
            #ident { _private: () }
        }

        #[automatically_derived]
        impl ::tidings::Endpoint for #ident {
            type Event = #event;
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

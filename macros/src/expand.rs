//! Code generation for event enums and `#[derive(Validate)]`. Everything generated names the
//! runtime through `::tidings::__private`, so users need no other dependency.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;

use crate::ast::{Base64, EventEnum, Field, Rule, Style, ValidateData, ValidateInput, Variant};

pub fn event_enum(input: &EventEnum) -> TokenStream {
    let ident = &input.item.ident;
    let type_name = ident.to_string();
    let mut item = strip_helper_attrs(input.item.clone());
    add_base64_serializers(&mut item, input);
    let names = input.variants.iter().map(|v| &v.name);
    let name_arms = input.variants.iter().map(|v| {
        let pattern = variant_pattern(ident, v);
        let name = &v.name;
        quote!(#pattern => #name,)
    });
    let text_fn = text_fn(input);
    let binary_fn = binary_fn(input);
    let codecs = base64_codecs(input);
    let mirrors = input
        .variants
        .iter()
        .filter_map(|v| mirror_struct(ident, v));
    let decode_arms = input.variants.iter().map(|v| decode_arm(ident, v));
    let schemas = input.variants.iter().map(event_schema);
    let validate_body = validate_variants(ident, &input.variants);
    quote! {
        #[derive(::tidings::__private::serde::Serialize)]
        #[serde(crate = "::tidings::__private::serde", untagged)]
        #item

        const _: () = {
            #codecs

            #(#mirrors)*

            #[automatically_derived]
            impl ::tidings::EventSet for #ident {
                const TYPE_NAME: &'static str = #type_name;
                const NAMES: &'static [&'static str] = &[#(#names),*];

                fn name(&self) -> &'static str {
                    match self {
                        #(#name_arms)*
                    }
                }

                #text_fn

                #binary_fn

                fn decode(
                    __name: &str,
                    __data: &str,
                ) -> ::core::result::Result<Self, ::tidings::DecodeError> {
                    match __name {
                        #(#decode_arms)*
                        _ => ::core::result::Result::Err(::tidings::DecodeError::unknown(__name)),
                    }
                }

                fn event_schemas(
                    __generator: &mut ::tidings::__private::schemars::SchemaGenerator,
                ) -> ::std::vec::Vec<::tidings::EventSchema> {
                    ::std::vec![#(#schemas),*]
                }
            }

            #[automatically_derived]
            impl ::tidings::Validate for #ident {
                fn validate_at(
                    &self,
                    __at: &::tidings::__private::FieldPath<'_>,
                    __report: &mut ::tidings::Violations,
                ) {
                    #[allow(unused_imports)]
                    use ::tidings::__private::{SkipNested as _, ValidateNested as _};
                    #validate_body
                }
            }
        };
    }
}

/// Removes `#[event]` from variants, `#[validate]` from fields (they are ours, not attributes
/// the compiler knows) and `#[schemars]` from fields (the enum derives no `JsonSchema`: the
/// variant's mirror struct, which does, keeps them).
pub fn strip_helper_attrs(mut item: syn::ItemEnum) -> syn::ItemEnum {
    let ours = |attr: &syn::Attribute| {
        ["event", "validate", "schemars"]
            .iter()
            .any(|name| attr.path().is_ident(name))
    };
    for variant in &mut item.variants {
        variant.attrs.retain(|a| !ours(a));
        for field in variant.fields.iter_mut() {
            field.attrs.retain(|a| !ours(a));
        }
    }
    item
}

/// Serializes `#[event(base64)]` variants and fields as base64 strings (what a plain
/// `serde_json::to_string` of the event then gives too), through the enum's helpers.
fn add_base64_serializers(item: &mut syn::ItemEnum, input: &EventEnum) {
    let ident = &input.item.ident;
    for (variant, model) in item.variants.iter_mut().zip(&input.variants) {
        if model.base64.is_some() {
            let serializer = format!("{ident}::{}", helper_name("serialize", model, None));
            variant
                .attrs
                .push(syn::parse_quote!(#[serde(serialize_with = #serializer)]));
        }
        for (field, field_model) in variant.fields.iter_mut().zip(&model.fields) {
            if field_model.base64.is_some() {
                let serializer = format!(
                    "{ident}::{}",
                    helper_name("serialize", model, Some(field_model))
                );
                field
                    .attrs
                    .push(syn::parse_quote!(#[serde(serialize_with = #serializer)]));
            }
        }
    }
}

/// `__tidings_{what}_{Variant}` or `__tidings_{what}_{Variant}_{field}`.
fn helper_name(what: &str, variant: &Variant, field: Option<&Field>) -> String {
    match field.map(|f| &f.member) {
        Some(syn::Member::Named(name)) => format!("__tidings_{what}_{}_{name}", variant.ident),
        Some(syn::Member::Unnamed(index)) => {
            format!("__tidings_{what}_{}_{}", variant.ident, index.index)
        }
        None => format!("__tidings_{what}_{}", variant.ident),
    }
}

/// The codec constant of a base64 variant or field.
fn codec_ident(variant: &Variant, field: Option<&Field>) -> syn::Ident {
    format_ident!("{}", helper_name("base64", variant, field).to_uppercase())
}

/// One codec per base64 payload (where a type that is not bytes is reported, once, on the
/// type), and the enum's serde helpers that use it.
fn base64_codecs(input: &EventEnum) -> TokenStream {
    let ident = &input.item.ident;
    let mut codecs = Vec::new();
    let mut helpers = Vec::new();
    for variant in &input.variants {
        let sites = variant
            .base64
            .filter(|_| variant.style == Style::Newtype)
            .map(|base64| (base64, None, &variant.fields[0]))
            .into_iter()
            .chain(
                variant
                    .fields
                    .iter()
                    .filter_map(|field| Some((field.base64?, Some(field), field))),
            );
        for (base64, field, payload) in sites {
            let codec = codec_ident(variant, field);
            let ty = &payload.ty;
            let alphabet = alphabet(base64);
            let new = quote_spanned!(syn::spanned::Spanned::span(ty)=>
                ::tidings::binary::codec::<#ty>(#alphabet)
            );
            codecs.push(quote! {
                #[allow(non_upper_case_globals)]
                const #codec: ::tidings::binary::Codec<#ty> = #new;
            });
            let serialize = format_ident!("{}", helper_name("serialize", variant, field));
            helpers.push(quote! {
                #[doc(hidden)]
                #[allow(non_snake_case)]
                fn #serialize<__S: ::tidings::__private::serde::Serializer>(
                    __value: &#ty,
                    __serializer: __S,
                ) -> ::core::result::Result<__S::Ok, __S::Error> {
                    #codec.serialize(__value, __serializer)
                }
            });
            if field.is_some() {
                let deserialize = format_ident!("{}", helper_name("deserialize", variant, field));
                helpers.push(quote! {
                    #[doc(hidden)]
                    #[allow(non_snake_case)]
                    fn #deserialize<'de, __D: ::tidings::__private::serde::Deserializer<'de>>(
                        __deserializer: __D,
                    ) -> ::core::result::Result<#ty, __D::Error> {
                        #codec.deserialize(__deserializer)
                    }
                });
            }
        }
    }
    if codecs.is_empty() {
        return TokenStream::new();
    }
    quote! {
        #(#codecs)*

        impl #ident {
            #(#helpers)*
        }
    }
}

fn alphabet(base64: Base64) -> TokenStream {
    if base64.url {
        quote!(::tidings::binary::Alphabet::UrlSafe)
    } else {
        quote!(::tidings::binary::Alphabet::Standard)
    }
}

fn variant_pattern(ident: &syn::Ident, variant: &Variant) -> TokenStream {
    let v = &variant.ident;
    match variant.style {
        Style::Unit => quote!(#ident::#v),
        Style::Newtype | Style::Tuple => quote!(#ident::#v(..)),
        Style::Struct => quote!(#ident::#v { .. }),
    }
}

fn text_fn(input: &EventEnum) -> TokenStream {
    let ident = &input.item.ident;
    let arms: Vec<_> = input
        .variants
        .iter()
        .filter(|v| v.text.is_some() && v.style == Style::Newtype)
        .map(|v| {
            let variant = &v.ident;
            quote!(#ident::#variant(__text) => ::core::option::Option::Some(::core::convert::AsRef::<str>::as_ref(__text)),)
        })
        .collect();
    if arms.is_empty() {
        return TokenStream::new();
    }
    quote! {
        fn text(&self) -> ::core::option::Option<&str> {
            #[allow(unreachable_patterns)]
            match self {
                #(#arms)*
                _ => ::core::option::Option::None,
            }
        }
    }
}

fn binary_fn(input: &EventEnum) -> TokenStream {
    let ident = &input.item.ident;
    let arms: Vec<_> = input
        .variants
        .iter()
        .filter(|v| v.style == Style::Newtype)
        .filter_map(|v| {
            v.base64?;
            let variant = &v.ident;
            let codec = codec_ident(v, None);
            Some(quote!(#ident::#variant(__bytes) => ::core::option::Option::Some((#codec.bytes(__bytes), #codec.alphabet)),))
        })
        .collect();
    if arms.is_empty() {
        return TokenStream::new();
    }
    quote! {
        fn binary(&self) -> ::core::option::Option<(&[u8], ::tidings::binary::Alphabet)> {
            #[allow(unreachable_patterns)]
            match self {
                #(#arms)*
                _ => ::core::option::Option::None,
            }
        }
    }
}

fn mirror_ident(variant: &Variant) -> syn::Ident {
    format_ident!("__{}Data", variant.ident)
}

/// A struct with the variant's fields and their serde/schemars attributes, deriving
/// `Deserialize` and `JsonSchema`: decoding and schemas then follow serde's own rules.
fn mirror_struct(ident: &syn::Ident, variant: &Variant) -> Option<TokenStream> {
    if variant.base64.is_some() {
        // Decoded from base64 and documented as bytes without one.
        return None;
    }
    let mirror = mirror_ident(variant);
    let mut data_fields = Vec::new();
    let fields = variant.fields.iter().map(|field| {
        let attrs = &field.mirror_attrs;
        let described = data_field(&mirror, field).map(|(schema_attr, data_field)| {
            data_fields.push(data_field);
            schema_attr
        });
        let base64_attrs = field.base64.map(|base64| {
            let deserializer = format!(
                "{ident}::{}",
                helper_name("deserialize", variant, Some(field))
            );
            let encoding = if base64.url { "base64url" } else { "base64" };
            quote! {
                #[serde(deserialize_with = #deserializer)]
                #[schemars(with = "::std::string::String", extend("contentEncoding" = #encoding))]
            }
        });
        let schema_rules = field
            .rules
            .iter()
            .filter_map(|rule| schema_rule(rule, field.base64));
        let attrs = quote!(#(#attrs)* #base64_attrs #described);
        let ty = &field.ty;
        match &field.member {
            syn::Member::Named(name) => quote!(#attrs #(#schema_rules)* #name: #ty),
            syn::Member::Unnamed(_) => quote!(#attrs #(#schema_rules)* #ty),
        }
    });
    let fields: Vec<_> = fields.collect();
    let rename_all = variant.field_rename.map(|rule| {
        let rule = rule.as_str();
        quote!(#[serde(rename_all = #rule)])
    });
    let body = match variant.style {
        Style::Unit | Style::Tuple => return None,
        Style::Newtype => quote!((#(#fields),*);),
        Style::Struct => quote!({ #(#fields),* }),
    };
    Some(quote! {
        #(#data_fields)*

        #[derive(::tidings::__private::serde::Deserialize, ::tidings::__private::schemars::JsonSchema)]
        #[serde(crate = "::tidings::__private::serde")]
        #[schemars(crate = "::tidings::__private::schemars")]
        #rename_all
        #[allow(dead_code)]
        struct #mirror #body
    })
}

/// For a field whose schema comes from a type that may lack `JsonSchema`: the attribute that
/// gives schemars that type through `DataField` (an `Option` stays outside, so that schemars
/// still sees an optional field), and the `DataField` impl, spanned at the field's type, that
/// reports a missing `JsonSchema` once, with the fix.
fn data_field(mirror: &syn::Ident, field: &Field) -> Option<(TokenStream, TokenStream)> {
    if field.base64.is_some() || schema_elsewhere(&field.mirror_attrs) {
        return None;
    }
    let (optional, data) = match option_inner(&field.ty) {
        Some(inner) => (true, inner),
        None => (false, &field.ty),
    };
    if is_scalar(data) {
        return None;
    }
    let marker = match &field.member {
        syn::Member::Named(name) => format_ident!("{mirror}_{}", name.unraw()),
        syn::Member::Unnamed(index) => format_ident!("{mirror}_{}", index.index),
    };
    let schema = format!("::tidings::__private::support::FieldSchema<{marker}>");
    let schema = if optional {
        format!("::core::option::Option<{schema}>")
    } else {
        schema
    };
    let span = syn::spanned::Spanned::span(data);
    let data_field = quote! {
        #[allow(non_camel_case_types)]
        struct #marker;
        impl ::tidings::__private::support::DataField for #marker {
            fn schema() -> ::tidings::__private::support::DataSchema {
                ::tidings::__private::support::DataSchema::of::<#data>()
            }
        }
    };
    let data_field = quote_spanned!(span=> #data_field);
    Some((quote!(#[schemars(with = #schema)]), data_field))
}

/// `T` of a field written `Option<T>`.
fn option_inner(ty: &syn::Type) -> Option<&syn::Type> {
    let syn::Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match (last.ident == "Option", args.args.first(), args.args.len()) {
        (true, Some(syn::GenericArgument::Type(inner)), 1) => Some(inner),
        _ => None,
    }
}

/// Types that surely describe themselves (no `DataField` needed): std's scalars and `String`.
fn is_scalar(ty: &syn::Type) -> bool {
    const SCALARS: [&str; 17] = [
        "bool", "char", "String", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32",
        "i64", "i128", "isize", "f32", "f64",
    ];
    match ty {
        syn::Type::Path(path) if path.qself.is_none() => path
            .path
            .get_ident()
            .is_some_and(|ident| SCALARS.iter().any(|scalar| ident == scalar)),
        _ => false,
    }
}

/// Whether a field's schema comes from somewhere other than its type (`with`, `schema_with`),
/// or it has none (`skip`): its type then need not implement `JsonSchema`.
fn schema_elsewhere(attrs: &[syn::Attribute]) -> bool {
    const KEYS: [&str; 4] = ["with", "schema_with", "skip", "skip_deserializing"];
    attrs
        .iter()
        .filter_map(|attr| attr.meta.require_list().ok())
        .filter(|list| list.path.is_ident("serde") || list.path.is_ident("schemars"))
        .flat_map(|list| list.tokens.clone())
        .any(|token| matches!(token, proc_macro2::TokenTree::Ident(ident) if KEYS.iter().any(|key| ident == key)))
}

/// The schemars attribute that puts a rule's keywords into the schema. On a base64 field, a
/// `length` counts bytes: the string's bounds are those of their base64.
fn schema_rule(rule: &Rule, base64: Option<Base64>) -> Option<TokenStream> {
    let encoded = |bound: &syn::Expr| match base64 {
        Some(base64) => {
            let alphabet = alphabet(base64);
            quote!(#alphabet.encoded_len(#bound))
        }
        None => quote!(#bound),
    };
    let bounds = |min: &Option<syn::Expr>, max: &Option<syn::Expr>| {
        let min = min.as_ref().map(|min| {
            let min = encoded(min);
            quote!(min = #min)
        });
        let max = max.as_ref().map(|max| {
            let max = encoded(max);
            quote!(max = #max)
        });
        let bounds = min.into_iter().chain(max);
        quote!(#(#bounds),*)
    };
    match rule {
        Rule::Range { min, max, .. } => {
            let bounds = bounds(min, max);
            Some(quote!(#[schemars(range(#bounds))]))
        }
        Rule::Length { min, max, .. } => {
            let bounds = bounds(min, max);
            Some(quote!(#[schemars(length(#bounds))]))
        }
        Rule::Pattern { regex, .. } if base64.is_none() => {
            Some(quote!(#[schemars(regex(pattern = #regex))]))
        }
        Rule::Pattern { .. } => None,
        Rule::Custom { .. } | Rule::Nested { .. } | Rule::NotNested { .. } => None,
    }
}

fn decode_arm(ident: &syn::Ident, variant: &Variant) -> TokenStream {
    let name = &variant.name;
    let v = &variant.ident;
    let mirror = mirror_ident(variant);
    let parse = quote! {
        let __value: #mirror = ::tidings::__private::serde_json::from_str(__data)
            .map_err(::tidings::DecodeError::data(#name))?;
    };
    let value = match variant.style {
        Style::Unit => quote! {
            ::tidings::__private::support::decode_unit(#name, __data)?;
            #ident::#v
        },
        Style::Newtype if variant.text.is_some() => quote! {
            #ident::#v(::core::convert::From::from(::std::string::String::from(__data)))
        },
        Style::Newtype if variant.base64.is_some() => {
            let codec = codec_ident(variant, None);
            quote! {
                #ident::#v(::tidings::__private::support::decode_binary(#name, __data, &#codec)?)
            }
        }
        Style::Newtype => quote! {
            #parse
            #ident::#v(__value.0)
        },
        Style::Struct => {
            let members = variant.fields.iter().map(|f| &f.member);
            let members2 = members.clone();
            quote! {
                #parse
                #ident::#v { #(#members: __value.#members2),* }
            }
        }
        Style::Tuple => quote!(::core::unreachable!()),
    };
    quote!(#name => ::core::result::Result::Ok({ #value }),)
}

fn event_schema(variant: &Variant) -> TokenStream {
    let name = &variant.name;
    let description = match &variant.docs {
        Some(docs) => quote!(::core::option::Option::Some(#docs)),
        None => quote!(::core::option::Option::None),
    };
    let text = variant.text.is_some();
    let binary = match variant.base64 {
        Some(base64) => {
            let alphabet = alphabet(base64);
            quote!(::core::option::Option::Some(#alphabet))
        }
        None => quote!(::core::option::Option::None),
    };
    let data = match variant.style {
        Style::Newtype if variant.base64.is_some() => {
            let codec = codec_ident(variant, None);
            let (min, max) = variant.fields[0]
                .rules
                .iter()
                .find_map(|rule| match rule {
                    Rule::Length { min, max, .. } => Some((min.clone(), max.clone())),
                    _ => None,
                })
                .unwrap_or_default();
            let bound = |bound: Option<syn::Expr>| match bound {
                Some(bound) => quote!(::core::option::Option::Some((#bound) as usize)),
                None => quote!(::core::option::Option::None),
            };
            let (min, max) = (bound(min), bound(max));
            quote!(::tidings::__private::support::bytes_schema(#min, #max, &#codec))
        }
        Style::Unit | Style::Tuple => quote!(::tidings::__private::support::null_schema()),
        Style::Newtype | Style::Struct => {
            let mirror = mirror_ident(variant);
            quote!(<#mirror as ::tidings::__private::schemars::JsonSchema>::json_schema(__generator))
        }
    };
    quote!(::tidings::__private::support::schema(#name, #description, #text, #binary, #data))
}

fn validate_variants(ident: &syn::Ident, variants: &[Variant]) -> TokenStream {
    let arms: Vec<_> = variants
        .iter()
        .filter_map(|variant| {
            let v = &variant.ident;
            let bindings: Vec<_> = (0..variant.fields.len())
                .map(|i| format_ident!("__f{}", i))
                .collect();
            let pattern = match variant.style {
                Style::Struct => {
                    let members = variant.fields.iter().map(|f| &f.member);
                    quote!(#ident::#v { #(#members: #bindings),* })
                }
                _ => quote!(#ident::#v(#(#bindings),*)),
            };
            let checks = variant
                .fields
                .iter()
                .zip(&bindings)
                .map(|(field, binding)| {
                    // A newtype's value is the event data itself: its path is the root.
                    let at = match variant.style {
                        Style::Newtype => quote!(__at),
                        _ => field_path(field),
                    };
                    let bytes_or_text = variant.base64.is_some() || variant.text.is_some();
                    field_checks(field, binding, &at, !bytes_or_text)
                })
                .filter(|checks| !checks.is_empty())
                .collect::<Vec<_>>();
            (!checks.is_empty()).then(|| {
                quote! {
                    #pattern => {
                        #(#checks)*
                    }
                }
            })
        })
        .collect();
    if arms.is_empty() {
        return quote!(let _ = (__at, __report););
    }
    let rest = (arms.len() < variants.len()).then(|| quote!(_ => {}));
    quote! {
        #[allow(unused_variables)]
        match self {
            #(#arms)*
            #rest
        }
    }
}

fn field_path(field: &Field) -> TokenStream {
    let name = &field.json_name;
    quote!(&__at.field(#name))
}

/// The checks of one field's rules. `value` is a reference to the field.
fn field_checks(
    field: &Field,
    value: &syn::Ident,
    at: &TokenStream,
    nested_by_default: bool,
) -> TokenStream {
    let checks = field.rules.iter().map(|rule| {
        let span = rule.span();
        // The value carries the rule's span, so a rule on the wrong type is reported there.
        let value = syn::Ident::new(&value.to_string(), span);
        let check = quote!(::tidings::__private::check);
        match rule {
            Rule::Range { min, max, .. } => {
                let (min, max) = (option(min, span), option(max, span));
                quote_spanned!(span=> #check::range(#value, #min, #max, #at, __report);)
            }
            Rule::Length { min, max, .. } => {
                let (min, max) = (option(min, span), option(max, span));
                quote_spanned!(span=> #check::length(#value, #min, #max, #at, __report);)
            }
            Rule::Pattern { regex, .. } => quote_spanned! {span=>
                {
                    static PATTERN: ::tidings::__private::LazyLock<::tidings::__private::Regex> =
                        ::tidings::__private::LazyLock::new(|| #check::compile_pattern(#regex));
                    #check::pattern(#value, &PATTERN, #at, __report);
                }
            },
            Rule::Custom { function, .. } => {
                quote_spanned!(span=> #check::custom(#value, #function, #at, __report);)
            }
            Rule::Nested { .. } => quote_spanned!(span=> #check::nested(#value, #at, __report);),
            Rule::NotNested { .. } => quote!(),
        }
    });
    // Every field whose type implements `Validate` has its own rules checked, unless it says
    // `nested` (done above) or `nested = false`: a type's schema advertises its rules, so
    // they hold wherever it is used. Chosen at compile time (autoref), a no-op otherwise.
    // Bytes and text have no rules of their own to look for.
    let by_default = (nested_by_default
        && field.base64.is_none()
        && !field
            .rules
            .iter()
            .any(|rule| matches!(rule, Rule::Nested { .. } | Rule::NotNested { .. })))
    .then(|| quote!((&::tidings::__private::Nested(#value)).validate_nested(#at, __report);));
    quote!(#(#checks)* #by_default)
}

fn option(value: &Option<syn::Expr>, span: Span) -> TokenStream {
    match value {
        Some(value) => quote_spanned!(span=> ::core::option::Option::Some(#value)),
        None => quote_spanned!(span=> ::core::option::Option::None),
    }
}

pub fn validate_input(input: &ValidateInput) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let patterns = match &input.data {
        ValidateData::Struct(fields) => fields
            .iter()
            .filter(|field| matches!(field.member, syn::Member::Named(_)))
            .flat_map(|field| {
                field.rules.iter().filter_map(move |rule| match rule {
                    Rule::Pattern { regex, .. } => {
                        let name = &field.json_name;
                        Some(quote! {
                            ::tidings::__private::check::property_keyword(
                                schema, #name, "pattern", ::tidings::__private::serde_json::Value::from(#regex),
                            );
                        })
                    }
                    _ => None,
                })
            })
            .collect(),
        ValidateData::Enum(_) => Vec::new(),
    };
    let describe_rules = (!patterns.is_empty()).then(|| {
        quote! {
            fn describe_rules(schema: &mut ::tidings::__private::schemars::Schema) {
                #(#patterns)*
            }
        }
    });
    let body = match &input.data {
        ValidateData::Struct(fields) => {
            let checks = fields.iter().enumerate().map(|(i, field)| {
                let binding = format_ident!("__f{}", i, span = Span::call_site());
                let member = &field.member;
                let at = field_path(field);
                let checks = field_checks(field, &binding, &at, true);
                quote! {
                    let #binding = &self.#member;
                    #checks
                }
            });
            quote!(#(#checks)*)
        }
        ValidateData::Enum(variants) => validate_variants(ident, variants),
    };
    quote! {
        #[automatically_derived]
        impl #impl_generics ::tidings::Validate for #ident #ty_generics #where_clause {
            #[allow(unused_variables)]
            fn validate_at(
                &self,
                __at: &::tidings::__private::FieldPath<'_>,
                __report: &mut ::tidings::Violations,
            ) {
                #[allow(unused_imports)]
                use ::tidings::__private::{SkipNested as _, ValidateNested as _};
                #body
            }

            #describe_rules
        }
    }
}

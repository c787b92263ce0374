//! Parsing: attributes and items into a small model. Nothing here decides what is allowed;
//! `valid.rs` does. Parse errors are collected so that one compile shows them all.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, Fields, Ident, LitStr, Member, Token, Type};

use crate::case::RenameRule;
use crate::errors::Errors;

/// An enum under `#[event_stream]`.
pub struct EventEnum {
    pub item: syn::ItemEnum,
    pub variants: Vec<Variant>,
}

pub struct Variant {
    pub ident: Ident,
    /// The event name after `rename` / `rename_all`.
    pub name: String,
    /// Where the name comes from: the `rename` string or the variant's ident.
    pub name_span: Span,
    pub style: Style,
    pub fields: Vec<Field>,
    pub docs: Option<String>,
    /// `#[event(text)]`: the data goes out as plain text lines.
    pub text: Option<Span>,
    /// `#[event(base64)]`: the bytes go out as base64 on one line.
    pub base64: Option<Base64>,
    /// Variant-level `#[serde(rename_all = ...)]`, for the field names of struct variants.
    pub field_rename: Option<RenameRule>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Unit,
    Newtype,
    Struct,
    /// A tuple variant with more than one field (rejected by `valid.rs`).
    Tuple,
}

pub struct Field {
    pub member: Member,
    pub ty: Type,
    /// The name in the wire JSON (after serde's `rename`), used in error paths.
    pub json_name: String,
    /// `serde`, `schemars` and `doc` attributes, copied onto the decoding mirror.
    pub mirror_attrs: Vec<Attribute>,
    pub rules: Vec<Rule>,
    /// `#[event(base64)]` on a field: bytes as a base64 string inside the JSON.
    pub base64: Option<Base64>,
}

/// `#[event(base64)]` or `#[event(base64 = "url")]`.
#[derive(Clone, Copy)]
pub struct Base64 {
    pub span: Span,
    /// The URL-safe alphabet, without padding.
    pub url: bool,
}

impl Base64 {
    fn parse(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<Base64> {
        let span = meta.path.span();
        if !meta.input.peek(Token![=]) {
            return Ok(Base64 { span, url: false });
        }
        let alphabet: LitStr = meta.value()?.parse()?;
        match alphabet.value().as_str() {
            "standard" => Ok(Base64 { span, url: false }),
            "url" => Ok(Base64 { span, url: true }),
            _ => Err(syn::Error::new(
                alphabet.span(),
                "the base64 alphabet is `\"standard\"` (the default, padded) or `\"url\"` (URL-safe, unpadded)",
            )),
        }
    }
}

/// One `#[validate(...)]` rule.
pub enum Rule {
    Range {
        span: Span,
        min: Option<Expr>,
        max: Option<Expr>,
    },
    Length {
        span: Span,
        min: Option<Expr>,
        max: Option<Expr>,
    },
    Pattern {
        span: Span,
        regex: LitStr,
    },
    Custom {
        span: Span,
        function: syn::ExprPath,
    },
    /// `nested`: validate the field's own rules. The default for every field whose type
    /// implements `Validate`; written out, it also says the type must.
    Nested {
        span: Span,
    },
    /// `nested = false`: do not validate the field's own rules.
    NotNested {
        span: Span,
    },
}

impl Rule {
    pub fn span(&self) -> Span {
        match self {
            Rule::Range { span, .. }
            | Rule::Length { span, .. }
            | Rule::Pattern { span, .. }
            | Rule::Custom { span, .. }
            | Rule::Nested { span }
            | Rule::NotNested { span } => *span,
        }
    }

    pub fn keyword(&self) -> &'static str {
        match self {
            Rule::Range { .. } => "range",
            Rule::Length { .. } => "length",
            Rule::Pattern { .. } => "pattern",
            Rule::Custom { .. } => "custom",
            Rule::Nested { .. } | Rule::NotNested { .. } => "nested",
        }
    }
}

/// Arguments of `#[event_stream(...)]`: on an enum `rename_all`, on a fn `path` and `method`.
#[derive(Default)]
pub struct Args {
    pub rename_all: Option<(RenameRule, Span)>,
    pub path: Option<LitStr>,
    pub method: Option<LitStr>,
    pub max_event_bytes: Option<syn::LitInt>,
    pub compress: Option<syn::LitBool>,
}

impl Args {
    pub fn parse(tokens: proc_macro2::TokenStream, errors: &mut Errors) -> Args {
        let mut args = Args::default();
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("rename_all") {
                let value: LitStr = meta.value()?.parse()?;
                match RenameRule::from_str(&value.value()) {
                    Some(rule) => args.rename_all = Some((rule, value.span())),
                    None => errors.push(value.span(), RenameRule::UNKNOWN),
                }
            } else if meta.path.is_ident("path") {
                args.path = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("method") {
                args.method = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("max_event_bytes") {
                let value: syn::LitInt = meta.value()?.parse()?;
                value.base10_parse::<usize>().map_err(|_| {
                    syn::Error::new(
                        value.span(),
                        "`max_event_bytes` is a number of bytes, e.g. `max_event_bytes = 8_388_608`",
                    )
                })?;
                args.max_event_bytes = Some(value);
            } else if meta.path.is_ident("compress") {
                let value: syn::Lit = meta.value()?.parse()?;
                match value {
                    syn::Lit::Bool(value) => args.compress = Some(value),
                    other => {
                        return Err(syn::Error::new(
                            other.span(),
                            "`compress` is `true` or `false`, e.g. `compress = false`",
                        ));
                    }
                }
            } else {
                return Err(meta.error(
                    "unknown argument: `#[event_stream]` takes `rename_all = \"...\"` on an enum, \
                     and `path = \"/...\"`, `method = \"...\"`, `max_event_bytes = N` and \
                     `compress = true|false` on an async fn",
                ));
            }
            Ok(())
        });
        if let Err(error) = syn::parse::Parser::parse2(parser, tokens) {
            errors.add(error);
        }
        args
    }
}

impl EventEnum {
    pub fn parse(item: syn::ItemEnum, rename_all: Option<RenameRule>, errors: &mut Errors) -> Self {
        let variants = item
            .variants
            .iter()
            .map(|variant| {
                Variant::parse(variant, rename_all.unwrap_or(RenameRule::SnakeCase), errors)
            })
            .collect();
        EventEnum { item, variants }
    }
}

impl Variant {
    pub fn parse(variant: &syn::Variant, rename_all: RenameRule, errors: &mut Errors) -> Variant {
        let mut rename: Option<LitStr> = None;
        let mut text = None;
        let mut base64 = None;
        for attr in variant.attrs.iter().filter(|a| a.path().is_ident("event")) {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    rename = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident("text") {
                    text = Some(meta.path.span());
                } else if meta.path.is_ident("base64") {
                    base64 = Some(Base64::parse(&meta)?);
                } else {
                    return Err(meta.error(
                        "unknown `event` option: use `rename = \"name\"`, `text` or `base64`",
                    ));
                }
                Ok(())
            });
            if let Err(error) = result {
                errors.add(error);
            }
        }
        for attr in variant
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("validate"))
        {
            errors.push(
                attr.span(),
                "`#[validate(...)]` goes on the fields of a variant, not on the variant",
            );
        }
        let (name, name_span) = match &rename {
            Some(lit) => (lit.value(), lit.span()),
            None => (
                rename_all.apply(&variant.ident.to_string()),
                variant.ident.span(),
            ),
        };
        let style = match &variant.fields {
            Fields::Unit => Style::Unit,
            Fields::Unnamed(fields) if fields.unnamed.len() == 1 => Style::Newtype,
            Fields::Unnamed(_) => Style::Tuple,
            Fields::Named(_) => Style::Struct,
        };
        let field_rename = serde_rename_all(&variant.attrs);
        let fields = variant
            .fields
            .iter()
            .enumerate()
            .map(|(index, field)| Field::parse(field, index, field_rename, errors))
            .collect();
        Variant {
            ident: variant.ident.clone(),
            name,
            name_span,
            style,
            fields,
            docs: docs(&variant.attrs),
            text,
            base64,
            field_rename,
        }
    }
}

impl Field {
    pub fn parse(
        field: &syn::Field,
        index: usize,
        rename_all: Option<RenameRule>,
        errors: &mut Errors,
    ) -> Field {
        let member = match &field.ident {
            Some(ident) => Member::Named(ident.clone()),
            None => Member::Unnamed(syn::Index {
                index: index as u32,
                span: field.ty.span(),
            }),
        };
        let json_name = serde_rename(&field.attrs).unwrap_or_else(|| match &field.ident {
            Some(ident) => {
                let name = ident.unraw().to_string();
                rename_all.map_or(name.clone(), |rule| rule.apply_to_field(&name))
            }
            None => index.to_string(),
        });
        let mirror_attrs = field
            .attrs
            .iter()
            .filter(|a| {
                ["serde", "schemars", "doc"]
                    .iter()
                    .any(|name| a.path().is_ident(name))
            })
            .cloned()
            .collect();
        let mut base64 = None;
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("event")) {
            if let Err(error) = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("base64") {
                    base64 = Some(Base64::parse(&meta)?);
                    Ok(())
                } else {
                    Err(meta.error("on a field, `event` takes `base64` or `base64 = \"url\"`"))
                }
            }) {
                errors.add(error);
            }
        }
        let mut rules = Vec::new();
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("validate")) {
            if let Err(error) = attr.parse_nested_meta(|meta| {
                rules.push(parse_rule(&meta)?);
                Ok(())
            }) {
                errors.add(error);
            }
        }
        Field {
            member,
            ty: field.ty.clone(),
            json_name,
            mirror_attrs,
            rules,
            base64,
        }
    }
}

fn parse_rule(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<Rule> {
    let span = meta.path.span();
    let keyword = meta
        .path
        .get_ident()
        .map(Ident::to_string)
        .unwrap_or_default();
    match keyword.as_str() {
        "range" | "length" => {
            let (mut min, mut max) = (None, None);
            meta.parse_nested_meta(|bound| {
                let slot = if bound.path.is_ident("min") {
                    &mut min
                } else if bound.path.is_ident("max") {
                    &mut max
                } else {
                    return Err(bound.error(format!("`{keyword}` takes `min = ..` and `max = ..`")));
                };
                if slot.is_some() {
                    return Err(bound.error("this bound is given twice"));
                }
                *slot = Some(bound.value()?.parse::<Expr>()?);
                Ok(())
            })?;
            if min.is_none() && max.is_none() {
                return Err(syn::Error::new(
                    span,
                    format!("`{keyword}` needs `min = ..`, `max = ..` or both"),
                ));
            }
            Ok(if keyword == "range" {
                Rule::Range { span, min, max }
            } else {
                Rule::Length { span, min, max }
            })
        }
        "pattern" => Ok(Rule::Pattern {
            span,
            regex: meta.value()?.parse()?,
        }),
        "custom" => {
            let value = meta.value()?;
            // Accept both `custom = path::to::fn` and `custom = "path::to::fn"`.
            let function = if value.peek(LitStr) {
                value.parse::<LitStr>()?.parse()?
            } else {
                value.parse()?
            };
            Ok(Rule::Custom { span, function })
        }
        "nested" => {
            if meta.input.peek(syn::token::Paren) {
                return Err(meta.error("`nested` takes no arguments: `nested` or `nested = false`"));
            }
            if meta.input.peek(Token![=]) {
                let on: syn::LitBool = meta.value()?.parse()?;
                return Ok(if on.value {
                    Rule::Nested { span }
                } else {
                    Rule::NotNested { span }
                });
            }
            Ok(Rule::Nested { span })
        }
        _ => Err(meta.error(
            "unknown rule: use `range(min = .., max = ..)`, `length(min = .., max = ..)`, \
             `pattern = \"regex\"`, `custom = path::to::fn` or `nested`",
        )),
    }
}

/// The joined doc comment, trimmed; `None` if there is none.
pub fn docs(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|line| {
            line.strip_prefix(' ')
                .unwrap_or(&line)
                .trim_end()
                .to_owned()
        })
        .collect();
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// `#[serde(rename = "...")]` (or `rename(serialize = "...")`) on a field.
fn serde_rename(attrs: &[Attribute]) -> Option<String> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                if meta.input.peek(Token![=]) {
                    found = Some(meta.value()?.parse::<LitStr>()?.value());
                } else {
                    meta.parse_nested_meta(|inner| {
                        if inner.path.is_ident("serialize") {
                            found = Some(inner.value()?.parse::<LitStr>()?.value());
                        } else {
                            let _ = inner.value()?.parse::<LitStr>()?;
                        }
                        Ok(())
                    })?;
                }
            } else {
                skip_meta_value(meta.input)?;
            }
            Ok(())
        });
    }
    found
}

/// `#[serde(rename_all = "...")]` on a variant.
fn serde_rename_all(attrs: &[Attribute]) -> Option<RenameRule> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename_all") && meta.input.peek(Token![=]) {
                found = RenameRule::from_str(&meta.value()?.parse::<LitStr>()?.value());
            } else {
                skip_meta_value(meta.input)?;
            }
            Ok(())
        });
    }
    found
}

/// Skips `= value` or `(...)` of a serde option this macro does not read.
fn skip_meta_value(input: ParseStream<'_>) -> syn::Result<()> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        input.parse::<Expr>()?;
    } else if input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in input);
        _content.parse::<proc_macro2::TokenStream>()?;
    }
    Ok(())
}

/// An `async fn` under `#[event_stream(path = ...)]`.
pub struct EndpointFn {
    pub item: syn::ItemFn,
    pub path: Option<LitStr>,
    pub method: Option<LitStr>,
    pub max_event_bytes: Option<syn::LitInt>,
    pub compress: Option<syn::LitBool>,
    pub args: Vec<FnArg>,
}

pub struct FnArg {
    pub ty: Type,
    /// `Some(E)` for `Emitter<E>`.
    pub emitter_of: Option<Type>,
    pub span: Span,
}

impl EndpointFn {
    pub fn parse(item: syn::ItemFn, args: Args, errors: &mut Errors) -> Self {
        if let Some((_, span)) = args.rename_all {
            errors.push(
                span,
                "`rename_all` belongs on the event enum, not on the endpoint",
            );
        }
        let mut fn_args = Vec::new();
        for input in &item.sig.inputs {
            match input {
                syn::FnArg::Receiver(receiver) => errors.push(
                    receiver.span(),
                    "an endpoint is a free function: remove `self`",
                ),
                syn::FnArg::Typed(typed) => fn_args.push(FnArg {
                    ty: (*typed.ty).clone(),
                    emitter_of: emitter_event_type(&typed.ty),
                    span: typed.span(),
                }),
            }
        }
        EndpointFn {
            item,
            path: args.path,
            method: args.method,
            max_event_bytes: args.max_event_bytes,
            compress: args.compress,
            args: fn_args,
        }
    }
}

/// `E` when `ty` is `Emitter<E>` (with any path prefix, e.g. `tidings::Emitter<E>`).
fn emitter_event_type(ty: &Type) -> Option<Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Emitter" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(event) if args.args.len() == 1 => Some(event.clone()),
        _ => None,
    }
}

/// A struct or enum under `#[derive(Validate)]`.
pub struct ValidateInput {
    pub ident: Ident,
    pub generics: syn::Generics,
    pub data: ValidateData,
}

pub enum ValidateData {
    Struct(Vec<Field>),
    Enum(Vec<Variant>),
}

impl ValidateInput {
    pub fn parse(input: &syn::DeriveInput, errors: &mut Errors) -> Option<Self> {
        let data = match &input.data {
            syn::Data::Struct(data) => {
                let rename_all = serde_rename_all(&input.attrs);
                ValidateData::Struct(
                    data.fields
                        .iter()
                        .enumerate()
                        .map(|(index, field)| Field::parse(field, index, rename_all, errors))
                        .collect(),
                )
            }
            syn::Data::Enum(data) => ValidateData::Enum(
                data.variants
                    .iter()
                    .map(|variant| Variant::parse(variant, RenameRule::SnakeCase, errors))
                    .collect(),
            ),
            syn::Data::Union(data) => {
                errors.push(
                    data.union_token.span,
                    "`#[derive(Validate)]` supports structs and enums, not unions",
                );
                return None;
            }
        };
        Some(ValidateInput {
            ident: input.ident.clone(),
            generics: input.generics.clone(),
            data,
        })
    }
}

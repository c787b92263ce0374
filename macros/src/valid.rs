//! Validation: rejects what cannot work, each error spanned at the offending token and saying
//! what to do instead.

use std::collections::HashMap;

use syn::spanned::Spanned;

use crate::ast::{EndpointFn, EventEnum, Field, Rule, Style};
use crate::errors::Errors;

/// The event that reports a failed handler; user events may not take its name.
const RESERVED_EVENT: &str = "error";
/// tidings' own events (`tidings.end`, `tidings.reset`) start with it.
const RESERVED_PREFIX: &str = "tidings.";

pub fn event_enum(input: &EventEnum, errors: &mut Errors) {
    let item = &input.item;
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        errors.push(
            item.generics.span(),
            "an event enum cannot be generic: its event names and schemas are fixed at compile \
             time; use concrete types in the variants",
        );
    }
    if input.variants.is_empty() {
        errors.push(
            item.ident.span(),
            "an event enum needs at least one variant: each variant is one event of the stream",
        );
    }
    for attr in item
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("derive"))
    {
        let _ = attr.parse_nested_meta(|meta| {
            let last = meta
                .path
                .segments
                .last()
                .map(|segment| segment.ident.to_string());
            if last.as_deref() == Some("Serialize") {
                errors.add(syn::Error::new_spanned(
                    &meta.path,
                    "`#[event_stream]` implements `Serialize` for the enum itself (each event's \
                     data is the variant's payload): remove it from the `#[derive]`",
                ));
            }
            Ok(())
        });
    }
    let mut seen: HashMap<&str, &syn::Ident> = HashMap::new();
    for variant in &input.variants {
        let name = variant.name.as_str();
        if name.is_empty() {
            errors.push(variant.name_span, "an event name cannot be empty");
        } else if let Some(c) = name.chars().find(|c| matches!(c, '\r' | '\n' | '\0')) {
            errors.push(
                variant.name_span,
                format_args!(
                    "an event name cannot contain {}: it would break the `event:` line",
                    match c {
                        '\r' => "a carriage return (CR)",
                        '\n' => "a line feed (LF)",
                        _ => "NUL",
                    }
                ),
            );
        } else if name == RESERVED_EVENT {
            errors.push(
                variant.name_span,
                "the event name `error` is reserved for the event that reports a failed handler; \
                 rename this variant with `#[event(rename = \"...\")]`",
            );
        } else if name.starts_with(RESERVED_PREFIX) {
            errors.push(
                variant.name_span,
                format_args!(
                    "event names starting with `{RESERVED_PREFIX}` are reserved for tidings' own \
                     events (`tidings.end`, `tidings.reset`); rename this variant with \
                     `#[event(rename = \"...\")]`"
                ),
            );
        }
        if let Some(first) = seen.insert(name, &variant.ident) {
            errors.push(
                variant.name_span,
                format_args!(
                    "duplicate event name `{name}`: variant `{first}` already uses it; give one \
                     of them another name with `#[event(rename = \"...\")]`"
                ),
            );
        }
        if variant.style == Style::Tuple {
            errors.push(
                item.variants
                    .iter()
                    .find(|v| v.ident == variant.ident)
                    .map_or(variant.ident.span(), |v| v.fields.span()),
                "an event carries one value: use one field, named fields, or a struct",
            );
        }
        if let Some(span) = variant.text
            && variant.style != Style::Newtype
        {
            errors.push(
                span,
                "`text` sends a string as plain text: it needs a variant with one string field, \
                 like `Log(String)`",
            );
        }
        if let Some(base64) = variant.base64 {
            if variant.style != Style::Newtype {
                errors.push(
                    base64.span,
                    "`base64` sends bytes as base64: it needs a variant with one field of bytes, \
                     like `Thumbnail(Vec<u8>)`; on a field of a struct variant, put it on the field",
                );
            }
            if variant.text.is_some() {
                errors.push(
                    base64.span,
                    "an event is either `text` or `base64`, not both",
                );
            }
        }
        for field in &variant.fields {
            if let Some(base64) = field.base64
                && variant.style != Style::Struct
            {
                errors.push(
                    base64.span,
                    "`base64` on a field goes in a struct variant; for a variant with one field, \
                     put `#[event(base64)]` on the variant",
                );
            }
        }
        fields(&variant.fields, errors);
    }
}

pub fn fields(fields: &[Field], errors: &mut Errors) {
    for field in fields {
        let mut kinds: HashMap<&str, ()> = HashMap::new();
        for rule in &field.rules {
            if kinds.insert(rule.keyword(), ()).is_some() {
                errors.push(
                    rule.span(),
                    format_args!("`{}` is given twice for this field", rule.keyword()),
                );
            }
            match rule {
                Rule::Pattern { regex, .. } => pattern(regex, errors),
                Rule::Range { span, min, max } | Rule::Length { span, min, max } => {
                    if let (Some(min), Some(max)) =
                        (min.as_ref().and_then(number), max.as_ref().and_then(number))
                        && min > max
                    {
                        errors.push(*span, "`min` is greater than `max`: no value can pass");
                    }
                }
                Rule::Custom { .. } | Rule::Nested { .. } | Rule::NotNested { .. } => {}
            }
        }
    }
}

/// The value of a numeric literal bound, when it is one.
fn number(expr: &syn::Expr) -> Option<f64> {
    match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(int),
            ..
        }) => int.base10_parse().ok(),
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Float(float),
            ..
        }) => float.base10_parse().ok(),
        syn::Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => number(expr).map(|n| -n),
        _ => None,
    }
}

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

pub fn endpoint(input: &EndpointFn, kind: RouteMacro, errors: &mut Errors) {
    let sig = &input.item.sig;
    let attr = kind.attr();
    if sig.asyncness.is_none() {
        errors.push(
            sig.fn_token.span,
            format_args!("{attr} endpoint must be an `async fn`"),
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(
            sig.generics.span(),
            format_args!("{attr} endpoint cannot be generic: the route needs concrete types"),
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(variadic.span(), "an endpoint cannot be variadic");
    }
    for arg in &input.args {
        if let syn::Type::ImplTrait(_) = arg.ty {
            errors.push(
                arg.ty.span(),
                "an endpoint argument needs a concrete type, not `impl Trait`",
            );
        }
    }
    let emitters: Vec<_> = input
        .args
        .iter()
        .filter(|a| a.emitter_of.is_some())
        .collect();
    match emitters.as_slice() {
        emitters if kind == RouteMacro::Json => {
            for arg in emitters {
                errors.push(
                    arg.span,
                    "a `#[json_route]` answers once: a handler that takes an `Emitter` is a \
                     stream, marked `#[event_stream(path = \"...\")]`",
                );
            }
        }
        [] => errors.push(
            sig.ident.span(),
            "an `#[event_stream]` endpoint needs one `Emitter<E>` argument, where `E` is the \
             `#[event_stream]` enum of its events, e.g. `events: Emitter<MyEvents>`",
        ),
        [_] => {}
        [_, extra @ ..] => {
            for arg in extra {
                errors.push(
                    arg.span,
                    "an endpoint has exactly one `Emitter`; clone it to send from several places",
                );
            }
        }
    }
    let method = input
        .method
        .as_ref()
        .map_or("GET".to_owned(), |m| m.value());
    let bodies: Vec<_> = input
        .args
        .iter()
        .filter(|a| is_body_extractor(&a.ty))
        .collect();
    for arg in &bodies {
        if method == "GET" || method == "DELETE" {
            let what = match kind {
                RouteMacro::Stream => "a stream answered to a posted `Json` body",
                RouteMacro::Json => "a route that reads a `Json` body",
            };
            errors.push(
                arg.ty.span(),
                format_args!(
                    "a {method} request has no body to read: use `method = \"POST\"` for {what}"
                ),
            );
        }
    }
    for arg in bodies.iter().skip(1) {
        errors.push(
            arg.ty.span(),
            "the request body can be read once: keep one `Json` argument",
        );
    }
    match &input.path {
        None => errors.push(
            proc_macro2::Span::call_site(),
            format_args!("an endpoint needs its route: `{}`", kind.with_path()),
        ),
        Some(path) => {
            if let Err(message) = check_path(&path.value()) {
                errors.push(path.span(), message);
            }
        }
    }
    if let Some(method) = &input.method
        && !METHODS.contains(&method.value().as_str())
    {
        errors.push(
            method.span(),
            format_args!("unsupported method: use one of {}", METHODS.join(", ")),
        );
    }
}

/// Which attribute made the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteMacro {
    /// `#[event_stream]` on an `async fn`: a stream.
    Stream,
    /// `#[json_route]`: one JSON answer.
    Json,
}

impl RouteMacro {
    /// The attribute, with its article.
    fn attr(self) -> &'static str {
        match self {
            RouteMacro::Stream => "an `#[event_stream]`",
            RouteMacro::Json => "a `#[json_route]`",
        }
    }

    fn with_path(self) -> &'static str {
        match self {
            RouteMacro::Stream => "#[event_stream(path = \"/...\")]",
            RouteMacro::Json => "#[json_route(path = \"/...\")]",
        }
    }
}

/// `Json<T>` (with any path prefix): the extractor that reads the request body.
fn is_body_extractor(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(path) if path.path.segments.last().is_some_and(|s| s.ident == "Json"))
}

/// Checks a route pattern: a leading `/`, and `{name}` or a final `{*name}` parameters.
pub fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("a path starts with `/`: write \"/{path}\""));
    }
    let mut names = Vec::new();
    let mut rest = path;
    while let Some(at) = rest.find(['{', '}']) {
        if rest[at..].starts_with('}') {
            return Err("`}` without a matching `{`: parameters are written `{name}`".into());
        }
        let after = &rest[at + 1..];
        let Some(end) = after
            .find(['{', '}'])
            .filter(|&end| after[end..].starts_with('}'))
        else {
            return Err("`{` without a matching `}`: parameters are written `{name}`".into());
        };
        let param = &after[..end];
        let name = param.strip_prefix('*').unwrap_or(param);
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "`{{{param}}}` is not a parameter: write `{{name}}` with a Rust-style identifier"
            ));
        }
        rest = &after[end + 1..];
        if param.starts_with('*') && !rest.is_empty() {
            return Err(format!("the catch-all `{{{param}}}` must end the path"));
        }
        if names.contains(&name) {
            return Err(format!("the parameter `{name}` appears twice"));
        }
        names.push(name);
    }
    Ok(())
}

/// Checks a `pattern` with the engine that checks it at run time, so that what compiles here
/// runs there.
#[cfg(feature = "pattern")]
fn pattern(regex: &syn::LitStr, errors: &mut Errors) {
    if let Err(error) = regex_lite::Regex::new(&regex.value()) {
        errors.push(regex.span(), format_args!("invalid regex: {error}"));
    }
}

/// Without the regex engine (tidings' `pattern` feature off), says how to get it.
#[cfg(not(feature = "pattern"))]
fn pattern(regex: &syn::LitStr, errors: &mut Errors) {
    errors.push(
        regex.span(),
        "`pattern` needs tidings' `pattern` feature: \
         `tidings = { version = \"0.1\", features = [\"pattern\"] }` in Cargo.toml",
    );
}

#[cfg(test)]
mod tests {
    use super::check_path;

    #[test]
    fn paths() {
        assert!(check_path("/clock").is_ok());
        assert!(check_path("/jobs/{id}/logs/{*rest}").is_ok());
        assert!(check_path("/files/{name}.txt").is_ok());
        assert!(check_path("clock").is_err());
        assert!(check_path("/jobs/{id").is_err());
        assert!(check_path("/jobs/id}").is_err());
        assert!(check_path("/jobs/{}").is_err());
        assert!(check_path("/jobs/{1d}").is_err());
        assert!(check_path("/jobs/{a{b}}").is_err());
        assert!(check_path("/{*rest}/x").is_err());
        assert!(check_path("/{id}/{id}").is_err());
    }
}

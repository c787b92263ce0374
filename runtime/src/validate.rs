//! Field rules: the runtime half of `#[validate(...)]`.
//!
//! The rules written on the fields of an `#[event_stream]` enum (or of a struct with
//! `#[derive(Validate)]`) are checked on every emit, and appear in the JSON Schema of the event
//! as the matching keywords:
//!
//! | rule | applies to | schema keywords |
//! |---|---|---|
//! | `range(min = a, max = b)` | numbers | `minimum`, `maximum` |
//! | `length(min = a, max = b)` | strings (in chars), collections | `minLength`/`maxLength`, `minItems`/`maxItems` |
//! | `pattern = "regex"` | strings | `pattern` |
//! | `custom = path::to::fn` | anything: `fn(&T) -> Result<(), E>`, `E: Display` | none |
//! | `nested` | types that implement [`Validate`] | those of the type |
//!
//! A field whose type implements [`Validate`] (a struct with `#[derive(Validate)]`, a `Vec`
//! or `Option` of one...) has its own rules checked without `nested`: its schema shows them,
//! so they hold wherever it is used. `nested = false` opts a field out. In a generic type, the
//! field's type is not known when the derive runs: write `nested` there.
//!
//! `Option` fields are checked only when they are `Some`. A `length` on bytes sent with
//! `#[event(base64)]` counts bytes.
//!
//! Patterns (cargo feature `pattern`) are compiled at build time by the engine that checks
//! them at run time,
//! [`regex-lite`](https://docs.rs/regex-lite): the usual syntax, with `\d`, `\w`, `\s` and
//! case folding on ASCII, as the ECMA-262 patterns of JSON Schema have them, and no Unicode
//! classes such as `\p{L}` (a pattern using one does not compile).
//!
//! ```
//! use tidings::Validate;
//!
//! #[derive(Validate)]
//! struct Point {
//!     #[validate(range(min = -90.0, max = 90.0))]
//!     lat: f64,
//!     #[validate(length(min = 1, max = 16))]
//!     label: String,
//! }
//!
//! let err = Point { lat: 91.0, label: String::new() }.validate().unwrap_err();
//! assert_eq!(err.len(), 2);
//! assert_eq!(err.to_string(), "lat: must be at most 90 (range); label: must be at least 1 character long (length)");
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;

/// A type whose values can be checked against rules.
///
/// Implemented by `#[derive(Validate)]` and by `#[event_stream]` enums.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `tidings::Validate`",
    label = "inputs (`Path`, `Query`, `Json`) and `nested` fields are validated",
    note = "add `#[derive(tidings::Validate)]` to `{Self}`; it may have no rules at all"
)]
pub trait Validate {
    /// Checks `self`, reporting every broken rule under `at`.
    fn validate_at(&self, at: &FieldPath<'_>, report: &mut Violations);

    /// Checks `self` and returns every broken rule.
    fn validate(&self) -> Result<(), Violations> {
        let mut report = Violations::default();
        self.validate_at(&FieldPath::Root, &mut report);
        report.into_result()
    }

    /// Adds to `schema` (the JSON Schema schemars derived for `Self`) the keywords of rules
    /// that schemars does not read from `#[validate]` itself: `pattern`. schemars already
    /// turns `range` and `length` into `minimum`/`maximum` and `minLength`/`maxLength`/
    /// `minItems`/`maxItems`.
    fn describe_rules(schema: &mut schemars::Schema)
    where
        Self: Sized,
    {
        let _ = schema;
    }
}

impl<T: Validate + ?Sized> Validate for &T {
    fn validate_at(&self, at: &FieldPath<'_>, report: &mut Violations) {
        (**self).validate_at(at, report)
    }
}

impl<T: Validate + ?Sized> Validate for Box<T> {
    fn validate_at(&self, at: &FieldPath<'_>, report: &mut Violations) {
        (**self).validate_at(at, report)
    }
}

impl<T: Validate + ?Sized> Validate for Arc<T> {
    fn validate_at(&self, at: &FieldPath<'_>, report: &mut Violations) {
        (**self).validate_at(at, report)
    }
}

impl<T: Validate> Validate for Option<T> {
    fn validate_at(&self, at: &FieldPath<'_>, report: &mut Violations) {
        if let Some(value) = self {
            value.validate_at(at, report)
        }
    }
}

impl<T: Validate> Validate for [T] {
    fn validate_at(&self, at: &FieldPath<'_>, report: &mut Violations) {
        for (index, item) in self.iter().enumerate() {
            item.validate_at(&at.index(index), report)
        }
    }
}

impl<T: Validate> Validate for Vec<T> {
    fn validate_at(&self, at: &FieldPath<'_>, report: &mut Violations) {
        self.as_slice().validate_at(at, report)
    }
}

/// Values without rules of their own, so that `Path<u64>` and friends need nothing.
macro_rules! no_rules {
    ($($ty:ty)*) => {$(
        impl Validate for $ty {
            fn validate_at(&self, _at: &FieldPath<'_>, _report: &mut Violations) {}
        }
    )*};
}
no_rules!(() bool char str String u8 u16 u32 u64 u128 usize i8 i16 i32 i64 i128 isize f32 f64);

macro_rules! tuples {
    ($(($($name:ident $index:tt),*))*) => {$(
        impl<$($name: Validate),*> Validate for ($($name,)*) {
            fn validate_at(&self, at: &FieldPath<'_>, report: &mut Violations) {
                $(self.$index.validate_at(&at.index($index), report);)*
            }
        }
    )*};
}
tuples!((A 0) (A 0, B 1) (A 0, B 1, C 2) (A 0, B 1, C 2, D 3));

/// Where a value sits inside the checked value, built on the stack while checking; it becomes
/// a string (`items[2].name`) only when a rule fails.
#[derive(Debug, Clone, Copy)]
pub enum FieldPath<'a> {
    /// The checked value itself.
    Root,
    /// A named field of the value at the parent path.
    Field(&'a FieldPath<'a>, &'static str),
    /// An element of the sequence at the parent path.
    Index(&'a FieldPath<'a>, usize),
}

impl<'a> FieldPath<'a> {
    /// The path of the field `name` under this one.
    pub fn field(&'a self, name: &'static str) -> FieldPath<'a> {
        FieldPath::Field(self, name)
    }

    /// The path of element `index` under this one.
    pub fn index(&'a self, index: usize) -> FieldPath<'a> {
        FieldPath::Index(self, index)
    }
}

impl fmt::Display for FieldPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldPath::Root => Ok(()),
            FieldPath::Field(FieldPath::Root, name) => f.write_str(name),
            FieldPath::Field(parent, name) => write!(f, "{parent}.{name}"),
            FieldPath::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Path of the field, e.g. `items[2].name`; empty for the value itself.
    pub path: String,
    /// The rule: `range`, `length`, `pattern`, `custom` or `nested`.
    pub rule: &'static str,
    /// What is wrong, for people.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "{} ({})", self.message, self.rule)
    }
}

/// Every rule a value broke.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations {
    list: Vec<Violation>,
}

impl Violations {
    /// Records a broken rule.
    pub fn push(&mut self, at: &FieldPath<'_>, rule: &'static str, message: impl fmt::Display) {
        self.list.push(Violation {
            path: at.to_string(),
            rule,
            message: message.to_string(),
        });
    }

    /// The broken rules, in the order they were found.
    pub fn iter(&self) -> std::slice::Iter<'_, Violation> {
        self.list.iter()
    }

    /// How many rules were broken.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether no rule was broken.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// `Ok` when no rule was broken.
    pub fn into_result(self) -> Result<(), Violations> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl<'a> IntoIterator for &'a Violations {
    type Item = &'a Violation;
    type IntoIter = std::slice::Iter<'a, Violation>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, violation) in self.list.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{violation}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Violations {}

/// A value `range(...)` can check.
#[diagnostic::on_unimplemented(
    message = "`range` cannot check a `{Self}`",
    label = "`range` applies to numbers",
    note = "`range(min = .., max = ..)` checks integers, floats and `Option`s of them"
)]
pub trait RangeValue {
    /// The number type the bounds are written in.
    type Number: PartialOrd + fmt::Display;
    /// The number to check, if any (`None` skips the rule).
    fn range_value(&self) -> Option<&Self::Number>;
}

macro_rules! range_numbers {
    ($($ty:ty)*) => {$(
        impl RangeValue for $ty {
            type Number = $ty;
            fn range_value(&self) -> Option<&$ty> { Some(self) }
        }
    )*};
}
range_numbers!(u8 u16 u32 u64 u128 usize i8 i16 i32 i64 i128 isize f32 f64);

impl<T: RangeValue> RangeValue for Option<T> {
    type Number = T::Number;
    fn range_value(&self) -> Option<&T::Number> {
        self.as_ref().and_then(T::range_value)
    }
}

impl<T: RangeValue + ?Sized> RangeValue for &T {
    type Number = T::Number;
    fn range_value(&self) -> Option<&T::Number> {
        (**self).range_value()
    }
}

/// A value `length(...)` can check.
#[diagnostic::on_unimplemented(
    message = "`length` cannot check a `{Self}`",
    label = "`length` applies to strings and collections",
    note = "`length(min = .., max = ..)` counts the chars of a string or the items of a collection"
)]
pub trait LengthValue {
    /// What the length counts, for messages.
    const UNIT: LengthUnit = LengthUnit::Items;

    /// The length to check, if any (`None` skips the rule).
    fn length_value(&self) -> Option<usize>;
}

/// What a length counts: "must be at least 3 characters long", "must have at most 2 items".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthUnit {
    /// Characters (Unicode code points) of text.
    Characters,
    /// Bytes.
    Bytes,
    /// Items of a collection.
    Items,
}

impl LengthUnit {
    /// "must be at least `bound` characters long", and the like.
    fn message(self, bound: &str, count: usize) -> String {
        let (one, many) = match self {
            LengthUnit::Characters => ("character", "characters"),
            LengthUnit::Bytes => ("byte", "bytes"),
            LengthUnit::Items => ("item", "items"),
        };
        let noun = if count == 1 { one } else { many };
        match self {
            LengthUnit::Items => format!("must have {bound} {count} {noun}"),
            _ => format!("must be {bound} {count} {noun} long"),
        }
    }
}

impl LengthValue for str {
    const UNIT: LengthUnit = LengthUnit::Characters;

    fn length_value(&self) -> Option<usize> {
        // JSON Schema's minLength/maxLength count code points.
        Some(self.chars().count())
    }
}

impl LengthValue for String {
    const UNIT: LengthUnit = LengthUnit::Characters;

    fn length_value(&self) -> Option<usize> {
        self.as_str().length_value()
    }
}

impl LengthValue for std::borrow::Cow<'_, str> {
    const UNIT: LengthUnit = LengthUnit::Characters;

    fn length_value(&self) -> Option<usize> {
        (**self).length_value()
    }
}

macro_rules! length_collections {
    ($($ty:ident<$($p:ident),*>)*) => {$(
        impl<$($p),*> LengthValue for $ty<$($p),*> {
            fn length_value(&self) -> Option<usize> { Some(self.len()) }
        }
    )*};
}
length_collections!(Vec<T> VecDeque<T> BTreeSet<T> HashSet<T, S> BTreeMap<K, V> HashMap<K, V, S>);

impl<T, const N: usize> LengthValue for [T; N] {
    fn length_value(&self) -> Option<usize> {
        Some(N)
    }
}

impl LengthValue for bytes::Bytes {
    const UNIT: LengthUnit = LengthUnit::Bytes;

    fn length_value(&self) -> Option<usize> {
        Some(self.len())
    }
}

impl<T> LengthValue for [T] {
    fn length_value(&self) -> Option<usize> {
        Some(self.len())
    }
}

impl<T: LengthValue> LengthValue for Option<T> {
    const UNIT: LengthUnit = T::UNIT;

    fn length_value(&self) -> Option<usize> {
        self.as_ref().and_then(T::length_value)
    }
}

impl<T: LengthValue + ?Sized> LengthValue for &T {
    const UNIT: LengthUnit = T::UNIT;

    fn length_value(&self) -> Option<usize> {
        (**self).length_value()
    }
}

impl<T: LengthValue + ?Sized> LengthValue for Box<T> {
    const UNIT: LengthUnit = T::UNIT;

    fn length_value(&self) -> Option<usize> {
        (**self).length_value()
    }
}

impl<T: LengthValue + ?Sized> LengthValue for Arc<T> {
    const UNIT: LengthUnit = T::UNIT;

    fn length_value(&self) -> Option<usize> {
        (**self).length_value()
    }
}

/// A value `pattern = "..."` can check.
#[diagnostic::on_unimplemented(
    message = "`pattern` cannot check a `{Self}`",
    label = "`pattern` applies to strings",
    note = "`pattern = \"regex\"` checks `String`, `&str`, `Cow<str>` and `Option`s of them"
)]
pub trait PatternValue {
    /// The text to check, if any (`None` skips the rule).
    fn pattern_value(&self) -> Option<&str>;
}

impl PatternValue for str {
    fn pattern_value(&self) -> Option<&str> {
        Some(self)
    }
}

impl PatternValue for String {
    fn pattern_value(&self) -> Option<&str> {
        Some(self)
    }
}

impl PatternValue for std::borrow::Cow<'_, str> {
    fn pattern_value(&self) -> Option<&str> {
        Some(self)
    }
}

impl<T: PatternValue> PatternValue for Option<T> {
    fn pattern_value(&self) -> Option<&str> {
        self.as_ref().and_then(T::pattern_value)
    }
}

impl<T: PatternValue + ?Sized> PatternValue for &T {
    fn pattern_value(&self) -> Option<&str> {
        (**self).pattern_value()
    }
}

impl<T: PatternValue + ?Sized> PatternValue for Box<T> {
    fn pattern_value(&self) -> Option<&str> {
        (**self).pattern_value()
    }
}

impl<T: PatternValue + ?Sized> PatternValue for Arc<T> {
    fn pattern_value(&self) -> Option<&str> {
        (**self).pattern_value()
    }
}

/// The checks that generated code calls, one per rule.
#[doc(hidden)]
pub mod check {
    use super::*;
    use std::cmp::Ordering;

    pub fn range<T: RangeValue + ?Sized>(
        value: &T,
        min: Option<T::Number>,
        max: Option<T::Number>,
        at: &FieldPath<'_>,
        report: &mut Violations,
    ) {
        let Some(number) = value.range_value() else {
            return;
        };
        // A NaN compares as neither: it fails both bounds.
        if let Some(min) = min
            && !matches!(
                number.partial_cmp(&min),
                Some(Ordering::Greater | Ordering::Equal)
            )
        {
            report.push(at, "range", format_args!("must be at least {min}"));
        }
        if let Some(max) = max
            && !matches!(
                number.partial_cmp(&max),
                Some(Ordering::Less | Ordering::Equal)
            )
        {
            report.push(at, "range", format_args!("must be at most {max}"));
        }
    }

    pub fn length<T: LengthValue + ?Sized>(
        value: &T,
        min: Option<usize>,
        max: Option<usize>,
        at: &FieldPath<'_>,
        report: &mut Violations,
    ) {
        let Some(length) = value.length_value() else {
            return;
        };
        if let Some(min) = min
            && length < min
        {
            report.push(at, "length", T::UNIT.message("at least", min));
        }
        if let Some(max) = max
            && length > max
        {
            report.push(at, "length", T::UNIT.message("at most", max));
        }
    }

    #[cfg(feature = "pattern")]
    pub fn pattern<T: PatternValue + ?Sized>(
        value: &T,
        regex: &regex_lite::Regex,
        at: &FieldPath<'_>,
        report: &mut Violations,
    ) {
        if let Some(text) = value.pattern_value()
            && !regex.is_match(text)
        {
            report.push(
                at,
                "pattern",
                format_args!("must match the pattern `{}`", regex.as_str()),
            );
        }
    }

    pub fn custom<T: ?Sized, E: fmt::Display>(
        value: &T,
        rule: impl FnOnce(&T) -> Result<(), E>,
        at: &FieldPath<'_>,
        report: &mut Violations,
    ) {
        if let Err(error) = rule(value) {
            report.push(at, "custom", error);
        }
    }

    pub fn nested<T: Validate + ?Sized>(value: &T, at: &FieldPath<'_>, report: &mut Violations) {
        value.validate_at(at, report)
    }

    /// A field, for the nested validation every field gets by default: `validate_nested`
    /// resolves to [`ValidateNested`] when its type implements [`Validate`], and to the
    /// no-op of [`SkipNested`] otherwise (autoref specialization: `(&Nested(field))` matches
    /// the first by value, the second only by one more reference). In generic code the
    /// type is unknown and the no-op is chosen: write `nested` there.
    pub struct Nested<'a, T: ?Sized>(pub &'a T);

    /// Validates a field whose type implements [`Validate`].
    pub trait ValidateNested {
        /// Checks the field's own rules.
        fn validate_nested(&self, at: &FieldPath<'_>, report: &mut Violations);
    }

    impl<T: Validate + ?Sized> ValidateNested for Nested<'_, T> {
        fn validate_nested(&self, at: &FieldPath<'_>, report: &mut Violations) {
            self.0.validate_at(at, report)
        }
    }

    /// Passes over a field whose type has no rules of its own.
    pub trait SkipNested {
        /// Does nothing.
        fn validate_nested(&self, at: &FieldPath<'_>, report: &mut Violations) {
            let _ = (at, report);
        }
    }

    impl<T: ?Sized> SkipNested for &Nested<'_, T> {}

    /// Sets `keyword` on the schema of property `property` (a no-op if there is none).
    pub fn property_keyword(
        schema: &mut schemars::Schema,
        property: &str,
        keyword: &str,
        value: serde_json::Value,
    ) {
        if let Some(target) = schema
            .get_mut("properties")
            .and_then(|properties| properties.get_mut(property))
            .and_then(|target| target.as_object_mut())
        {
            target.insert(keyword.to_owned(), value);
        }
    }

    /// Compiles a pattern that the macro already checked at compile time.
    #[cfg(feature = "pattern")]
    pub fn compile_pattern(pattern: &str) -> regex_lite::Regex {
        match regex_lite::Regex::new(pattern) {
            Ok(regex) => regex,
            // The macro compiled the pattern with the same engine; only limits can fail here.
            // A regex that matches nothing keeps the rule failing closed instead of panicking.
            Err(error) => {
                tracing::error!(%pattern, %error, "validation pattern rejected at run time");
                regex_lite::Regex::new(r"[^\s\S]").expect("a constant regex")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_like_accessors() {
        let root = FieldPath::Root;
        let items = root.field("items");
        let second = items.index(2);
        let name = second.field("name");
        assert_eq!(name.to_string(), "items[2].name");
    }

    #[test]
    fn rules_skip_none_and_report_bounds() {
        let mut report = Violations::default();
        let at = FieldPath::Root;
        check::range(&Some(5u8), Some(6), None, &at, &mut report);
        check::range(&None::<u8>, Some(6), None, &at, &mut report);
        check::range(&f64::NAN, Some(0.0), Some(1.0), &at, &mut report);
        check::length("héllo", None, Some(4), &at, &mut report);
        check::length(&vec![1, 2], Some(2), Some(2), &at, &mut report);
        check::length(&vec![1], Some(2), None, &at, &mut report);
        check::length(
            &bytes::Bytes::from_static(b"ab"),
            None,
            Some(1),
            &at,
            &mut report,
        );
        check::length(&Some("abc"), Some(4), None, &at, &mut report);
        let messages: Vec<_> = report.iter().map(|v| v.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "must be at least 6",
                "must be at least 0",
                "must be at most 1",
                "must be at most 4 characters long",
                "must have at least 2 items",
                "must be at most 1 byte long",
                "must be at least 4 characters long"
            ]
        );
    }
}

#[cfg(all(test, feature = "pattern"))]
mod pattern_engine {
    #[test]
    fn unicode_classes_are_refused() {
        assert!(regex_lite::Regex::new(r"^\p{L}+$").is_err());
        assert!(regex_lite::Regex::new(r"^\d+$").unwrap().is_match("123"));
        assert!(!regex_lite::Regex::new(r"^\d+$").unwrap().is_match("١٢٣"));
    }
}

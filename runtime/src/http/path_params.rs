//! Deserializes the `{name}` segments of a matched path into the type of a `Path<T>`.
//!
//! A struct or map takes the parameters by name, a tuple or sequence by position, and a single
//! value the only parameter. Every value is parsed from its text, as its target type asks.

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

/// Why path parameters could not become the requested type.
#[derive(Debug)]
pub(crate) struct PathError(String);

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PathError {}

impl de::Error for PathError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        PathError(msg.to_string())
    }
}

/// All parameters of a match, in path order.
pub(crate) struct Params<'a>(pub(crate) &'a [(String, String)]);

impl<'de> Params<'de> {
    /// The only parameter, for a `Path<T>` whose `T` is one value.
    fn single(&self) -> Result<Value<'de>, PathError> {
        match self.0 {
            [(_, value)] => Ok(Value(value)),
            params => Err(PathError(format!(
                "expected 1 path parameter, the route has {}",
                params.len()
            ))),
        }
    }
}

/// Deserializer methods of `Params` that hand the only parameter to `Value`.
macro_rules! single_value {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
            self.single()?.$method(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Params<'de> {
    type Error = PathError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        match self.0 {
            [(_, value)] => Value(value).deserialize_any(visitor),
            _ => self.deserialize_map(visitor),
        }
    }

    single_value! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_option
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        self.single()?.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        let pairs = self.0.iter().map(|(k, v)| (k.as_str(), Value(v)));
        visitor.visit_map(MapDeserializer::new(pairs))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_seq(SeqDeserializer::new(self.0.iter().map(|(_, v)| Value(v))))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        if len != self.0.len() {
            return Err(PathError(format!(
                "expected {len} path parameters, the route has {}",
                self.0.len()
            )));
        }
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! {
        bytes byte_buf unit unit_struct identifier ignored_any
    }
}

/// One parameter's text.
struct Value<'a>(&'a str);

impl<'de> IntoDeserializer<'de, PathError> for Value<'de> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

macro_rules! parse_value {
    ($($method:ident => $visit:ident,)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
            match self.0.parse() {
                Ok(value) => visitor.$visit(value),
                Err(_) => Err(PathError(format!(
                    "`{}` is not a valid {}", self.0, stringify!($method).trim_start_matches("deserialize_")
                ))),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Value<'de> {
    type Error = PathError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_borrowed_str(self.0)
    }

    parse_value! {
        deserialize_bool => visit_bool,
        deserialize_i8 => visit_i8,
        deserialize_i16 => visit_i16,
        deserialize_i32 => visit_i32,
        deserialize_i64 => visit_i64,
        deserialize_i128 => visit_i128,
        deserialize_u8 => visit_u8,
        deserialize_u16 => visit_u16,
        deserialize_u32 => visit_u32,
        deserialize_u64 => visit_u64,
        deserialize_u128 => visit_u128,
        deserialize_f32 => visit_f32,
        deserialize_f64 => visit_f64,
        deserialize_char => visit_char,
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_enum(self.0.into_deserializer())
    }

    forward_to_deserialize_any! {
        str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn single_tuple_and_struct() {
        let one = params(&[("id", "42")]);
        assert_eq!(u64::deserialize(Params(&one)).unwrap(), 42);
        let two = params(&[("user", "ann"), ("id", "7")]);
        assert_eq!(
            <(String, u8)>::deserialize(Params(&two)).unwrap(),
            ("ann".to_string(), 7)
        );
        #[derive(Deserialize, Debug, PartialEq)]
        struct Key {
            user: String,
            id: u8,
        }
        assert_eq!(
            Key::deserialize(Params(&two)).unwrap(),
            Key {
                user: "ann".into(),
                id: 7
            }
        );
        let bad = params(&[("id", "x")]);
        assert_eq!(
            u64::deserialize(Params(&bad)).unwrap_err().to_string(),
            "`x` is not a valid u64"
        );
    }
}

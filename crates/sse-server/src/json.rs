//! `dispatch_message` data: a string is sent as it is, anything else as
//! JSON (oak's `typeof data === "string" ? data : JSON.stringify(data)`).
//!
//! Rust has no specialization, so the string case is found by serializing
//! once into [`AsText`], a serializer that accepts only a string or a char
//! and refuses everything else at its first call (no work is done for
//! non-strings before falling back to `serde_json`).

use serde::ser::{self, Impossible, Serialize};
use sse_wire::Text;

use crate::Error;

pub(crate) fn message_text<T: Serialize + ?Sized>(data: &T) -> Result<Text, Error> {
    if let Ok(s) = data.serialize(AsText) {
        return Ok(s);
    }
    let ev = sse_wire::Event::new().json_data(data)?;
    Ok(Text::from(ev.data_ref().unwrap_or_default().to_owned()))
}

struct AsText;

#[derive(Debug)]
struct NotText;

impl std::fmt::Display for NotText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a string")
    }
}
impl std::error::Error for NotText {}
impl ser::Error for NotText {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        NotText
    }
}

macro_rules! refuse {
    ($($name:ident($($t:ty),*)),* $(,)?) => {
        $(fn $name(self, $(_: $t),*) -> Result<Text, NotText> { Err(NotText) })*
    };
}

impl ser::Serializer for AsText {
    type Ok = Text;
    type Error = NotText;
    type SerializeSeq = Impossible<Text, NotText>;
    type SerializeTuple = Impossible<Text, NotText>;
    type SerializeTupleStruct = Impossible<Text, NotText>;
    type SerializeTupleVariant = Impossible<Text, NotText>;
    type SerializeMap = Impossible<Text, NotText>;
    type SerializeStruct = Impossible<Text, NotText>;
    type SerializeStructVariant = Impossible<Text, NotText>;

    fn serialize_str(self, v: &str) -> Result<Text, NotText> {
        Ok(Text::from(v.to_owned()))
    }
    fn serialize_char(self, v: char) -> Result<Text, NotText> {
        Ok(Text::from(v.to_string()))
    }
    refuse!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<Text, NotText> {
        // `Some("x")` is `"x"` in JSON, so a string for oak's rule too.
        v.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<Text, NotText> {
        // A newtype around a string is a string in JSON too.
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Text, NotText> {
        Err(NotText)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotText> {
        Err(NotText)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotText> {
        Err(NotText)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotText> {
        Err(NotText)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotText> {
        Err(NotText)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotText> {
        Err(NotText)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, NotText> {
        Err(NotText)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotText> {
        Err(NotText)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_as_they_are_everything_else_as_json() {
        assert_eq!(message_text("a\"b").unwrap().as_str(), "a\"b");
        assert_eq!(message_text(&String::from("x")).unwrap().as_str(), "x");
        assert_eq!(message_text(&'c').unwrap().as_str(), "c");
        assert_eq!(
            message_text(&serde_json::json!({"hello": "world"}))
                .unwrap()
                .as_str(),
            r#"{"hello":"world"}"#
        );
        assert_eq!(message_text(&42).unwrap().as_str(), "42");
        assert_eq!(message_text(&[1, 2]).unwrap().as_str(), "[1,2]");
        assert_eq!(message_text(&Some("s")).unwrap().as_str(), "s");
        assert_eq!(message_text(&None::<&str>).unwrap().as_str(), "null");
    }

    #[test]
    fn unserializable_is_a_json_error() {
        let mut m = std::collections::HashMap::new();
        m.insert(vec![1u8], 1);
        assert!(message_text(&m).unwrap_err().is_json());
    }
}

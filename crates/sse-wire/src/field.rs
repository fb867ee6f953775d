//! Checked field values: [`EventType`] and [`EventId`], and the
//! [`FieldError`] that says why a value was refused.

use std::fmt;

use crate::Text;

/// The value of an `event:` field, checked to hold no line break.
///
/// A CR or LF inside an event type would end the field early and let the
/// rest of the value be read as another field (SSE injection), so it is
/// refused rather than escaped: the format has no escaping.
///
/// ```
/// use sse_wire::EventType;
/// assert!(EventType::new("ping").is_ok());
/// let err = EventType::new("ping\ndata: injected").unwrap_err();
/// assert_eq!(err.field(), "event");
/// assert!(err.is_line_break());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventType(Text);

/// The value of an `id:` field, checked to hold no line break and no NUL.
///
/// Browsers ignore an `id` that contains U+0000, so such an id would be
/// silently lost; it is refused here instead. An empty id is allowed: it
/// resets the client's last event ID.
///
/// ```
/// use sse_wire::EventId;
/// assert_eq!(EventId::new("42").unwrap().as_str(), "42");
/// assert!(EventId::new("4\u{0}2").unwrap_err().is_nul());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(Text);

impl EventType {
    /// Checks and wraps an event type.
    ///
    /// # Errors
    /// When the value contains CR or LF.
    pub fn new(value: impl Into<Text>) -> Result<Self, FieldError> {
        let value = value.into();
        check(Field::Event, value.as_bytes(), false)?;
        Ok(EventType(value))
    }

    /// The event type.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The value as [`Text`].
    pub fn into_text(self) -> Text {
        self.0
    }
}

impl EventId {
    /// Checks and wraps an event id.
    ///
    /// # Errors
    /// When the value contains CR, LF or NUL.
    pub fn new(value: impl Into<Text>) -> Result<Self, FieldError> {
        let value = value.into();
        check(Field::Id, value.as_bytes(), true)?;
        Ok(EventId(value))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The value as [`Text`].
    pub fn into_text(self) -> Text {
        self.0
    }
}

fn check(field: Field, value: &[u8], refuse_nul: bool) -> Result<(), FieldError> {
    let found = if refuse_nul {
        value
            .iter()
            .position(|&b| b == b'\r' || b == b'\n' || b == 0)
    } else {
        memchr::memchr2(b'\r', b'\n', value)
    };
    match found {
        None => Ok(()),
        Some(i) => Err(FieldError {
            field,
            problem: match value[i] {
                b'\r' => Problem::CarriageReturn,
                b'\n' => Problem::LineFeed,
                _ => Problem::Nul,
            },
            at: i,
        }),
    }
}

macro_rules! field_impls {
    ($t:ident) => {
        impl TryFrom<&str> for $t {
            type Error = FieldError;
            fn try_from(value: &str) -> Result<Self, FieldError> {
                $t::new(value)
            }
        }
        impl TryFrom<String> for $t {
            type Error = FieldError;
            fn try_from(value: String) -> Result<Self, FieldError> {
                $t::new(value)
            }
        }
        impl TryFrom<Text> for $t {
            type Error = FieldError;
            fn try_from(value: Text) -> Result<Self, FieldError> {
                $t::new(value)
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.as_str(), f)
            }
        }
        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}
field_impls!(EventType);
field_impls!(EventId);

/// A field value that cannot be written to an event stream.
///
/// Says which field and why; see [`FieldError::field`] and the `is_*`
/// predicates.
#[derive(Clone, PartialEq, Eq)]
pub struct FieldError {
    field: Field,
    problem: Problem,
    at: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Field {
    Event,
    Id,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Problem {
    LineFeed,
    CarriageReturn,
    Nul,
}

impl FieldError {
    /// The field's name on the wire: `"event"` or `"id"`.
    pub fn field(&self) -> &'static str {
        match self.field {
            Field::Event => "event",
            Field::Id => "id",
        }
    }

    /// The value contains CR or LF.
    pub fn is_line_break(&self) -> bool {
        matches!(self.problem, Problem::LineFeed | Problem::CarriageReturn)
    }

    /// The value contains U+0000 NULL (refused in ids only).
    pub fn is_nul(&self) -> bool {
        self.problem == Problem::Nul
    }

    /// The byte offset of the first refused character in the value.
    pub fn position(&self) -> usize {
        self.at
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.problem {
            Problem::LineFeed => "a line feed (LF), which would end the field early",
            Problem::CarriageReturn => "a carriage return (CR), which would end the field early",
            Problem::Nul => "a NUL character, which makes clients ignore the id",
        };
        write!(
            f,
            "invalid `{}` field value: byte {} is {}",
            self.field(),
            self.at,
            what
        )
    }
}

impl fmt::Debug for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FieldError")
            .field("field", &self.field())
            .field("problem", &self.problem)
            .field("at", &self.at)
            .finish()
    }
}

impl std::error::Error for FieldError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_refuses_cr_and_lf_but_not_nul() {
        assert!(EventType::new("a\rb").unwrap_err().is_line_break());
        assert!(EventType::new("a\nb").unwrap_err().is_line_break());
        assert!(EventType::new("a\0b").is_ok());
    }

    #[test]
    fn id_refuses_cr_lf_and_nul() {
        assert!(EventId::new("a\rb").unwrap_err().is_line_break());
        assert!(EventId::new("a\nb").unwrap_err().is_line_break());
        let e = EventId::new("ab\0").unwrap_err();
        assert!(e.is_nul());
        assert_eq!(e.position(), 2);
        assert_eq!(e.field(), "id");
    }

    #[test]
    fn empty_values_are_allowed() {
        assert!(EventId::new("").is_ok());
        assert!(EventType::new("").is_ok());
    }

    #[test]
    fn error_message_names_field_and_reason() {
        let e = EventId::new("x\ny").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid `id` field value: byte 1 is a line feed (LF), which would end the field early"
        );
    }
}

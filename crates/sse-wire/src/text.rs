//! [`Text`]: an immutable UTF-8 string that can share its bytes with the
//! buffer it was decoded from.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

/// An immutable, cheaply cloneable UTF-8 string.
///
/// The decoder hands out field values as `Text` so that a value which is one
/// contiguous, valid slice of the input is returned without a copy: it is a
/// reference-counted view into the decoder's buffer. Cloning a `Text` never
/// copies the bytes.
///
/// Note that a `Text` sliced from the input keeps the buffer it came from
/// alive until it is dropped; call [`Text::to_string`] to detach a value you
/// intend to keep for a long time.
///
/// ```
/// use sse_wire::Text;
/// let t = Text::from("héllo");
/// assert_eq!(t, "héllo");
/// assert_eq!(t.len(), 6); // bytes, as for `str`
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(
    // Invariant: always valid UTF-8. Every constructor upholds it.
    Bytes,
);

impl Text {
    /// A `Text` that points at a static string (no allocation).
    pub const fn from_static(s: &'static str) -> Self {
        Text(Bytes::from_static(s.as_bytes()))
    }

    /// Decodes `bytes` as UTF-8, replacing invalid sequences with U+FFFD as
    /// the WHATWG "UTF-8 decode" does. Valid input is kept without a copy.
    pub fn from_utf8_lossy(bytes: Bytes) -> Self {
        match std::str::from_utf8(&bytes) {
            Ok(_) => Text(bytes),
            Err(_) => Text(Bytes::from(String::from_utf8_lossy(&bytes).into_owned())),
        }
    }

    /// Wraps `bytes` if they are valid UTF-8.
    ///
    /// # Errors
    /// Gives the bytes back when they are not valid UTF-8.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, Bytes> {
        match std::str::from_utf8(&bytes) {
            Ok(_) => Ok(Text(bytes)),
            Err(_) => Err(bytes),
        }
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor checks (or builds from a `str`) that the
        // bytes are valid UTF-8, and `Bytes` is immutable.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The underlying bytes, without a copy.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Text {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(Bytes::from(s))
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Self {
        Text::from(s.as_str())
    }
}

impl From<Box<str>> for Text {
    fn from(s: Box<str>) -> Self {
        Text::from(String::from(s))
    }
}

impl From<Text> for Bytes {
    fn from(t: Text) -> Bytes {
        t.0
    }
}

impl From<Text> for String {
    fn from(t: Text) -> String {
        t.as_str().to_owned()
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Text> for str {
    fn eq(&self, other: &Text) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        *self == other.as_str()
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lossy_keeps_valid_input_without_copy() {
        let b = Bytes::from_static(b"plain");
        let t = Text::from_utf8_lossy(b.clone());
        assert_eq!(t.as_bytes().as_ptr(), b.as_ptr());
    }

    #[test]
    fn lossy_replaces_invalid_sequences() {
        let t = Text::from_utf8_lossy(Bytes::from_static(b"a\xffb\xe2\x82"));
        assert_eq!(t, "a\u{FFFD}b\u{FFFD}");
    }

    #[test]
    fn from_utf8_refuses_invalid() {
        assert!(Text::from_utf8(Bytes::from_static(b"\xc3")).is_err());
        assert_eq!(Text::from_utf8(Bytes::from_static(b"ok")).unwrap(), "ok");
    }
}

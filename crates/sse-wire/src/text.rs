//! [`Text`]: an immutable UTF-8 string that can share its bytes with the
//! buffer it was decoded from.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

/// An immutable, cheaply cloneable UTF-8 string.
///
/// Short strings (up to 23 bytes: most event types, ids and small data) are
/// kept inline, with no allocation and no reference count to touch. Longer
/// ones that are one contiguous, valid slice of the decoder's input are kept
/// as a reference-counted view into that input: no copy. Cloning never
/// copies more than the inline bytes.
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
#[derive(Clone)]
pub struct Text(Repr);

/// The longest string kept inline. 23 is what fits beside the tag in the
/// 32 bytes a `Bytes` takes (the tag lives in `Bytes`'s pointer niche): a
/// `Text` is four words, and copying events around stays cheap. A 30-byte
/// capacity made `Text` 40 bytes and small-event decoding ~25% slower.
const INLINE: usize = 23;

// The layout argument above, checked on 64-bit targets.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Text>() == 32);

#[derive(Clone)]
enum Repr {
    // Invariant for both: the bytes are valid UTF-8. Every constructor
    // upholds it.
    Inline { len: u8, buf: [u8; INLINE] },
    Shared(Bytes),
}

impl Default for Text {
    fn default() -> Self {
        Text(Repr::Inline {
            len: 0,
            buf: [0; INLINE],
        })
    }
}

impl Text {
    /// A `Text` for a static string (no allocation).
    pub const fn from_static(s: &'static str) -> Self {
        let b = s.as_bytes();
        if b.len() > INLINE {
            return Text(Repr::Shared(Bytes::from_static(b)));
        }
        let mut buf = [0u8; INLINE];
        let mut i = 0;
        while i < b.len() {
            buf[i] = b[i];
            i += 1;
        }
        Text(Repr::Inline {
            len: b.len() as u8,
            buf,
        })
    }

    /// Decodes `bytes` as UTF-8, replacing invalid sequences with U+FFFD as
    /// the WHATWG "UTF-8 decode" does. Valid input is kept without a copy
    /// (or inline when short).
    pub fn from_utf8_lossy(bytes: Bytes) -> Self {
        if is_utf8(&bytes) {
            Text::from_valid(bytes)
        } else {
            Text::from(String::from_utf8_lossy(&bytes).into_owned())
        }
    }

    /// Wraps `bytes` if they are valid UTF-8.
    ///
    /// # Errors
    /// Gives the bytes back when they are not valid UTF-8.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, Bytes> {
        if is_utf8(&bytes) {
            Ok(Text::from_valid(bytes))
        } else {
            Err(bytes)
        }
    }

    /// `Text` for a slice of `source` at `range`, decoded as UTF-8 with
    /// replacement: inline when short, a shared view of `source` when
    /// long and valid, a new string when invalid.
    #[inline(always)]
    pub(crate) fn from_slice_of(source: &Bytes, range: std::ops::Range<usize>) -> Self {
        let bytes = &source[range.clone()];
        if bytes.len() <= INLINE {
            if !bytes.is_ascii() && !is_utf8(bytes) {
                return Text::from(String::from_utf8_lossy(bytes).into_owned());
            }
            // Copy a fixed-size window when the source has one: two vector
            // moves instead of a variable-length memcpy call. The bytes past
            // `len` are never read. The short-source case is out of line:
            // inlined, the compiler merges both copies into one memcpy call
            // of variable length (a third of the small-event cost).
            let Some(window) = source[range.start..].first_chunk::<INLINE>() else {
                return Text::inline_near_end(bytes);
            };
            return Text(Repr::Inline {
                len: bytes.len() as u8,
                buf: *window,
            });
        }
        Text::from_utf8_lossy(source.slice(range))
    }

    /// Wraps bytes known to be valid UTF-8.
    fn from_valid(bytes: Bytes) -> Self {
        if bytes.len() <= INLINE {
            Text::inline(&bytes)
        } else {
            Text(Repr::Shared(bytes))
        }
    }

    /// [`Text::inline`], kept out of line for [`Text::from_slice_of`].
    #[cold]
    #[inline(never)]
    fn inline_near_end(bytes: &[u8]) -> Self {
        Text::inline(bytes)
    }

    /// Copies valid UTF-8 of at most `INLINE` bytes.
    fn inline(bytes: &[u8]) -> Self {
        let mut buf = [0u8; INLINE];
        buf[..bytes.len()].copy_from_slice(bytes);
        Text(Repr::Inline {
            len: bytes.len() as u8,
            buf,
        })
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        let bytes: &[u8] = match &self.0 {
            Repr::Inline { len, buf } => &buf[..usize::from(*len)],
            Repr::Shared(b) => b,
        };
        // The invariant the `unsafe` below rests on, checked in debug builds
        // (the tests and fuzz targets run with it).
        debug_assert!(
            std::str::from_utf8(bytes).is_ok(),
            "Text holds invalid UTF-8"
        );
        // The crate's only `unsafe` (`#![deny(unsafe_code)]` elsewhere):
        // validating again on every read would cost the decoder a pass over
        // each value it hands out.
        // SAFETY: every constructor checks (or builds from a `str`) that the
        // bytes are valid UTF-8, and neither representation is mutable.
        #[allow(unsafe_code)]
        unsafe {
            std::str::from_utf8_unchecked(bytes)
        }
    }

    /// The bytes as `Bytes`: without a copy when shared, copied when inline.
    pub fn into_bytes(self) -> Bytes {
        match self.0 {
            Repr::Inline { len, buf } => Bytes::copy_from_slice(&buf[..usize::from(len)]),
            Repr::Shared(b) => b,
        }
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

/// Whether `bytes` are valid UTF-8. Long values go through SIMD validation
/// (several times faster than `core::str::from_utf8` on event data); short
/// ones through the standard library, whose setup cost is lower.
fn is_utf8(bytes: &[u8]) -> bool {
    if bytes.len() >= 64 {
        simdutf8::basic::from_utf8(bytes).is_ok()
    } else {
        std::str::from_utf8(bytes).is_ok()
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Text) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Text) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
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
        self.as_bytes()
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
        if s.len() <= INLINE {
            Text::inline(s.as_bytes())
        } else {
            Text(Repr::Shared(Bytes::from(s)))
        }
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        if s.len() <= INLINE {
            Text::inline(s.as_bytes())
        } else {
            Text(Repr::Shared(Bytes::copy_from_slice(s.as_bytes())))
        }
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
        t.into_bytes()
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
    fn lossy_keeps_long_valid_input_without_copy() {
        let b = Bytes::from_static(b"a string longer than the inline capacity");
        let t = Text::from_utf8_lossy(b.clone());
        assert_eq!(t.as_bytes().as_ptr(), b.as_ptr());
    }

    #[test]
    fn short_strings_are_inline_and_long_ones_shared() {
        let short = Text::from("x".repeat(INLINE));
        assert!(matches!(short.0, Repr::Inline { .. }));
        let long = Text::from("x".repeat(INLINE + 1));
        assert!(matches!(long.0, Repr::Shared(_)));
        assert_eq!(long.clone(), "x".repeat(INLINE + 1));
        assert_eq!(short.into_bytes(), "x".repeat(INLINE).as_bytes());
    }

    #[test]
    fn from_static_is_const_and_either_representation() {
        const SHORT: Text = Text::from_static("message");
        const LONG: Text = Text::from_static("a static string longer than thirty bytes");
        assert_eq!(SHORT, "message");
        assert_eq!(LONG, "a static string longer than thirty bytes");
    }

    #[test]
    fn equality_ignores_representation() {
        let inline = Text::from("abc");
        let shared = Text(Repr::Shared(Bytes::from_static(b"abc")));
        assert_eq!(inline, shared);
        use std::collections::hash_map::DefaultHasher;
        use std::hash::{Hash, Hasher};
        let h = |t: &Text| {
            let mut s = DefaultHasher::new();
            t.hash(&mut s);
            s.finish()
        };
        assert_eq!(h(&inline), h(&shared));
    }

    #[test]
    fn lossy_replaces_invalid_sequences() {
        let t = Text::from_utf8_lossy(Bytes::from_static(b"a\xffb\xe2\x82"));
        assert_eq!(t, "a\u{FFFD}b\u{FFFD}");
    }

    #[test]
    fn long_values_are_validated_like_short_ones() {
        for len in [63, 64, 65, 200] {
            let mut v = vec![b'a'; len];
            assert!(Text::from_utf8(Bytes::from(v.clone())).is_ok());
            v[len - 1] = 0xff;
            assert!(
                Text::from_utf8(Bytes::from(v.clone())).is_err(),
                "len {len}"
            );
            let lossy = Text::from_utf8_lossy(Bytes::from(v));
            assert!(lossy.ends_with('\u{FFFD}'));
        }
    }

    #[test]
    fn from_utf8_refuses_invalid() {
        assert!(Text::from_utf8(Bytes::from_static(b"\xc3")).is_err());
        assert_eq!(Text::from_utf8(Bytes::from_static(b"ok")).unwrap(), "ok");
    }
}

//! Topic matching (MERCURE.md M6–M9, L1): `*`, Exact, URL Pattern and the
//! legacy RFC 6570 URI templates, compiled once and evaluated in linear time.
//!
//! A [`TopicMatcher`] is built from a matcher type and a pattern string, the
//! way a subscriber's query parameter or a token's `authorization_details`
//! entry names it. Building validates the pattern (a malformed URL pattern is
//! a client error); matching never fails and never panics: a topic that
//! cannot be parsed as a URL simply does not match a URL pattern.
//!
//! ```
//! use sse_hub::topic::{HubUrl, MatchType, Topic, TopicMatcher};
//!
//! let hub = HubUrl::parse("https://example.com/.well-known/mercure").unwrap();
//! let books = TopicMatcher::new(MatchType::UrlPattern, "/books/:id", &hub).unwrap();
//! assert!(books.matches_str("https://example.com/books/1"));
//! assert!(books.matches_str("/books/2")); // relative topics resolve against the hub
//! assert!(!books.matches_str("https://example.com/authors/1"));
//!
//! // Parse a topic once, test it against many matchers.
//! let topic = Topic::new("https://EXAMPLE.com/books/3", &hub);
//! assert!(books.matches(&topic)); // the host is case-insensitive
//! ```

use std::cell::OnceCell;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use url::Url;

/// The compiled-program budget for one regular expression (URL-pattern
/// custom groups, URI templates). The `regex` crate matches in time linear in
/// input × program size; this bound keeps the program size, and so the cost
/// of every evaluation, small whatever the client wrote. A pattern that needs
/// more is refused when it is compiled (a 400 for subscribers).
const REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// Budget for the lazy DFA cache of one regular expression (memory only).
const REGEX_DFA_SIZE_LIMIT: usize = 256 * 1024;
/// Nesting depth limit for regex syntax, so a deep `((((…))))` custom group
/// is refused instead of using deep recursion in the regex parser.
const REGEX_NEST_LIMIT: u32 = 32;

/// The hub's own absolute URL: the base for relative URL patterns and topics
/// (M8) and the root of the reserved namespace (M15).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubUrl {
    url: Arc<Url>,
}

impl HubUrl {
    /// Parses the hub URL, such as `https://example.com/.well-known/mercure`.
    ///
    /// # Errors
    ///
    /// Fails when the text is not an absolute URL with a host.
    pub fn parse(url: &str) -> Result<Self, InvalidHubUrl> {
        let url = Url::parse(url).map_err(|_| InvalidHubUrl(()))?;
        if url.cannot_be_a_base() || url.host().is_none() {
            return Err(InvalidHubUrl(()));
        }
        Ok(HubUrl { url: Arc::new(url) })
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The URL's path, such as `/.well-known/mercure`.
    pub fn path(&self) -> &str {
        self.url.path()
    }

    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    /// Resolves `reference` against the hub URL; `None` when it does not
    /// parse (such a topic never matches a URL pattern).
    pub(crate) fn resolve(&self, reference: &str) -> Option<Url> {
        self.url.join(reference).ok()
    }
}

impl fmt::Display for HubUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The hub URL given to [`HubUrl::parse`] is not an absolute URL with a host.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the hub URL must be an absolute URL with a host")]
pub struct InvalidHubUrl(());

/// How a matcher's pattern is interpreted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MatchType {
    /// Byte-for-byte comparison (M7). The default.
    Exact,
    /// A WHATWG URL pattern (M8).
    UrlPattern,
    /// A legacy (0.x, L1) RFC 6570 URI template; also matches its own text.
    UriTemplate,
}

impl MatchType {
    /// The S/JSON-LD name: `Exact`, `URLPattern` (and `URITemplate` for the
    /// legacy type, which has no name in the current protocol).
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Exact => "Exact",
            MatchType::UrlPattern => "URLPattern",
            MatchType::UriTemplate => "URITemplate",
        }
    }

    /// The H (snake_case protocol) name: `exact`, `urlpattern`, `uritemplate`.
    pub fn as_lower_str(self) -> &'static str {
        match self {
            MatchType::Exact => "exact",
            MatchType::UrlPattern => "urlpattern",
            MatchType::UriTemplate => "uritemplate",
        }
    }
}

impl fmt::Display for MatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pattern that cannot be compiled for its matcher type.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid {match_type} pattern: {reason}")]
pub struct InvalidPattern {
    match_type: MatchType,
    reason: &'static str,
}

impl InvalidPattern {
    /// The matcher type the pattern was compiled for.
    pub fn match_type(&self) -> MatchType {
        self.match_type
    }
}

/// A topic prepared for matching: the raw string plus its URL resolution
/// against the hub, computed at most once however many URL-pattern matchers
/// look at it. Fan-out builds one per update topic.
#[derive(Debug)]
pub struct Topic<'a> {
    raw: &'a str,
    hub: &'a HubUrl,
    resolved: OnceCell<Option<Url>>,
}

impl<'a> Topic<'a> {
    /// Wraps `raw`; nothing is parsed until a URL pattern needs it.
    pub fn new(raw: &'a str, hub: &'a HubUrl) -> Self {
        Topic {
            raw,
            hub,
            resolved: OnceCell::new(),
        }
    }

    /// The topic as published.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    fn resolved(&self) -> Option<&Url> {
        self.resolved
            .get_or_init(|| self.hub.resolve(self.raw))
            .as_ref()
    }
}

/// A compiled topic matcher: `*`, Exact, URL pattern or URI template.
///
/// Cheap to clone (the compiled program is shared) and `Send + Sync`, so one
/// compiled matcher can sit in a fan-out index and in a cache.
#[derive(Clone)]
pub struct TopicMatcher {
    match_type: MatchType,
    pattern: Arc<str>,
    compiled: Compiled,
}

#[derive(Clone)]
enum Compiled {
    /// `*`: every topic (M6), checked before the type.
    Any,
    Exact,
    UrlPattern {
        pattern: Arc<urlpattern::UrlPattern<LinearRegex>>,
        hub: HubUrl,
    },
    /// `None` when the text is not a valid template: 0.x then matches by
    /// equality only, which keeps old subscribers working.
    UriTemplate(Option<Arc<regex::Regex>>),
}

impl fmt::Debug for TopicMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TopicMatcher")
            .field("match_type", &self.match_type)
            .field("pattern", &&*self.pattern)
            .finish()
    }
}

impl PartialEq for TopicMatcher {
    fn eq(&self, other: &Self) -> bool {
        self.match_type == other.match_type && self.pattern == other.pattern
    }
}

impl Eq for TopicMatcher {}

/// Consistent with `Eq` (type and pattern text), so a matcher can key a
/// match cache or a deduplicating index. Clippy's `mutable_key_type` fires on
/// such maps because the compiled regex keeps a scratch-space pool; hash and
/// equality never read it, so the lint can be allowed there.
impl std::hash::Hash for TopicMatcher {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.match_type.hash(state);
        self.pattern.hash(state);
    }
}

impl TopicMatcher {
    /// Compiles `pattern` as `match_type`. A pattern of exactly `*` matches
    /// every topic whatever the type (M6).
    ///
    /// # Errors
    ///
    /// A URL pattern that does not parse, that needs a base it cannot take,
    /// or whose custom regex groups are not valid linear-time regular
    /// expressions within the size budget (M9). Exact patterns and legacy
    /// URI templates always compile. Length and character rules are the
    /// caller's (see [`crate::subscribe`]).
    pub fn new(match_type: MatchType, pattern: &str, hub: &HubUrl) -> Result<Self, InvalidPattern> {
        let compiled = if pattern == "*" {
            Compiled::Any
        } else {
            match match_type {
                MatchType::Exact => Compiled::Exact,
                MatchType::UrlPattern => Compiled::UrlPattern {
                    pattern: Arc::new(compile_url_pattern(pattern, hub)?),
                    hub: hub.clone(),
                },
                // A template without an expression expands only to itself:
                // equality, no regex. Most legacy `topic=` selectors are
                // such literals, and a compiled regex costs each of those
                // subscribers ~10 KB.
                MatchType::UriTemplate if !pattern.contains('{') => Compiled::UriTemplate(None),
                MatchType::UriTemplate => {
                    Compiled::UriTemplate(uri_template_regex(pattern).map(Arc::new))
                }
            }
        };
        Ok(TopicMatcher {
            match_type,
            pattern: Arc::from(pattern),
            compiled,
        })
    }

    /// The matcher for `*`.
    pub fn any() -> Self {
        TopicMatcher {
            match_type: MatchType::Exact,
            pattern: Arc::from("*"),
            compiled: Compiled::Any,
        }
    }

    /// The matcher type it was built with.
    pub fn match_type(&self) -> MatchType {
        self.match_type
    }

    /// The pattern text, exactly as given.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Whether this is the `*` wildcard.
    pub fn is_any(&self) -> bool {
        matches!(self.compiled, Compiled::Any)
    }

    /// Whether this matcher selects `topic`.
    pub fn matches(&self, topic: &Topic<'_>) -> bool {
        self.matches_with(topic.raw, || topic.resolved().cloned())
    }

    /// Whether this matcher selects `topic`, resolving a relative topic
    /// against the hub URL the matcher was compiled with. Prefer
    /// [`matches`](Self::matches) with a shared [`Topic`] when testing one
    /// topic against many URL patterns: it resolves the topic only once.
    pub fn matches_str(&self, topic: &str) -> bool {
        match &self.compiled {
            Compiled::UrlPattern { hub, .. } => self.matches_with(topic, || hub.resolve(topic)),
            _ => self.matches_with(topic, || None),
        }
    }

    /// `resolve` is called only for URL patterns, so Exact and template
    /// matching never parse the topic.
    fn matches_with(&self, raw: &str, resolve: impl FnOnce() -> Option<Url>) -> bool {
        match &self.compiled {
            Compiled::Any => true,
            Compiled::Exact => *self.pattern == *raw,
            Compiled::UriTemplate(regex) => {
                *self.pattern == *raw || regex.as_ref().is_some_and(|r| r.is_match(raw))
            }
            // M8: a topic that does not parse as a URL never matches.
            Compiled::UrlPattern { pattern, .. } => {
                resolve().is_some_and(|url| url_pattern_test(pattern, url))
            }
        }
    }
}

// Matchers live in shared fan-out indexes and caches across threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TopicMatcher>();
    assert_send_sync::<HubUrl>();
    assert_send_sync::<InvalidPattern>();
};

/// Parses a URL pattern string with the hub URL as base (relative patterns,
/// M8), case-sensitively (`ignoreCase` is never on).
fn compile_url_pattern(
    pattern: &str,
    hub: &HubUrl,
) -> Result<urlpattern::UrlPattern<LinearRegex>, InvalidPattern> {
    let invalid = |reason| InvalidPattern {
        match_type: MatchType::UrlPattern,
        reason,
    };
    // The parser is third-party code fed client input; a panic in it must
    // cost this request, not the hub.
    let parsed = catch_unwind(AssertUnwindSafe(|| {
        let init = urlpattern::UrlPatternInit::parse_constructor_string::<LinearRegex>(
            pattern,
            Some(hub.url().clone()),
        )
        .map_err(|_| invalid("the pattern does not parse"))?;
        urlpattern::UrlPattern::<LinearRegex>::parse(
            init,
            urlpattern::UrlPatternOptions {
                ignore_case: false,
                ..Default::default()
            },
        )
        .map_err(|e| match e {
            urlpattern::Error::RegExp(()) => {
                invalid("a regular expression group is invalid or exceeds the size budget")
            }
            _ => invalid("the pattern does not parse"),
        })
    }));
    parsed.unwrap_or_else(|_| Err(invalid("the pattern does not parse")))
}

fn url_pattern_test(pattern: &urlpattern::UrlPattern<LinearRegex>, url: Url) -> bool {
    catch_unwind(AssertUnwindSafe(|| {
        pattern
            .test(urlpattern::UrlPatternMatchInput::Url(url))
            .unwrap_or(false)
    }))
    .unwrap_or(false)
}

fn linear_regex_builder(pattern: &str) -> regex::RegexBuilder {
    let mut builder = regex::RegexBuilder::new(pattern);
    builder
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_SIZE_LIMIT)
        .nest_limit(REGEX_NEST_LIMIT);
    builder
}

/// The `regex` crate behind URL patterns, with a tight program budget.
///
/// `urlpattern` compiles every component to a regular expression and inserts
/// custom groups (`:id(\d+)`) verbatim. The `regex` crate has no
/// backreferences or look-around and matches in linear time, which is what
/// M9 asks for; a group using unsupported syntax (look-around, backreferences)
/// fails to compile and the pattern is refused. The default `regex` budget
/// (10 MiB per program) would let one subscriber make every evaluation
/// expensive, so the budget here is much smaller.
#[derive(Debug)]
struct LinearRegex(regex::Regex);

impl urlpattern::regexp::RegExp for LinearRegex {
    fn syntax() -> urlpattern::RegexSyntax {
        urlpattern::RegexSyntax::Rust
    }

    fn parse(pattern: &str, _flags: &str, _force_eval: bool) -> Result<Self, ()> {
        // `flags` is `ui` or `u`; `i` only with `ignoreCase`, which is never
        // on, and the `regex` crate is always Unicode-aware.
        linear_regex_builder(pattern)
            .build()
            .map(LinearRegex)
            .map_err(|_| ())
    }

    fn matches<'a>(&self, text: &'a str) -> Option<Vec<Option<&'a str>>> {
        let captures = self.0.captures(text)?;
        Some(
            captures
                .iter()
                .skip(1)
                .map(|c| c.map(|m| m.as_str()))
                .collect(),
        )
    }

    fn pattern_string(&self) -> &str {
        self.0.as_str()
    }
}

/// Compiles an RFC 6570 template (levels 1–4) to an anchored regular
/// expression, the way the 0.x hub does, or `None` when the text is not a
/// valid template.
///
/// Each expression matches what any expansion of it could produce: the
/// operator's prefix, then values separated by the operator's separator.
/// Values may be empty or contain `,` (lists) and `=` (named operators and
/// exploded maps); `+` and `#` also allow reserved characters. Prefix
/// modifiers (`:3`) are accepted and not enforced, which only widens the
/// match the way undefined variables do.
fn uri_template_regex(template: &str) -> Option<regex::Regex> {
    const UNRESERVED: &str = r"A-Za-z0-9\-._~";
    const RESERVED: &str = r":/?#\[\]@!$&'()*+,;=";
    let mut re = String::with_capacity(template.len() * 2 + 2);
    re.push('^');
    let mut rest = template;
    while !rest.is_empty() {
        match rest.find(['{', '}']) {
            None => {
                re.push_str(&regex::escape(rest));
                break;
            }
            Some(i) => {
                let (literal, tail) = rest.split_at(i);
                re.push_str(&regex::escape(literal));
                if tail.starts_with('}') {
                    return None;
                }
                let close = tail.find('}')?;
                let expr = tail.get(1..close)?;
                rest = tail.get(close + 1..)?;
                let (op, vars) = match expr.chars().next() {
                    Some(c @ ('+' | '#' | '.' | '/' | ';' | '?' | '&')) => (Some(c), &expr[1..]),
                    Some(_) => (None, expr),
                    None => return None,
                };
                if vars.is_empty() || !vars.split(',').all(valid_varspec) {
                    return None;
                }
                let (prefix, sep, reserved) = match op {
                    None => ("", ",", false),
                    Some('+') => ("", ",", true),
                    Some('#') => ("#", ",", true),
                    Some('.') => (".", ".", false),
                    Some('/') => ("/", "/", false),
                    Some(';') => (";", ";", false),
                    Some('?') => ("?", "&", false),
                    Some(_) => ("&", "&", false),
                };
                let chars = if reserved {
                    format!("[{UNRESERVED}{RESERVED}]")
                } else {
                    format!("[{UNRESERVED},=]")
                };
                let value = format!("(?:{chars}|%[0-9A-Fa-f]{{2}})*");
                re.push_str(&format!(
                    "(?:{}{value}(?:{}{value})*)?",
                    regex::escape(prefix),
                    regex::escape(sep)
                ));
            }
        }
    }
    re.push('$');
    linear_regex_builder(&re).build().ok()
}

/// `varname [ ":" max-length | "*" ]` per RFC 6570 §2.3–2.4.
fn valid_varspec(spec: &str) -> bool {
    let (name, modifier) = match spec.find([':', '*']) {
        Some(i) => spec.split_at(i),
        None => (spec, ""),
    };
    let name_ok = !name.is_empty()
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'%')
        });
    let modifier_ok = match modifier.as_bytes() {
        [] | [b'*'] => true,
        [b':', digits @ ..] => {
            (1..=4).contains(&digits.len())
                && digits.iter().all(u8::is_ascii_digit)
                && digits[0] != b'0'
        }
        _ => false,
    };
    name_ok && modifier_ok
}

/// Why a value breaks the character rules ([`check_chars`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CharFault {
    /// C0 (U+0000–U+001F), DEL (U+007F) or C1 (U+0080–U+009F).
    Control,
    /// A Unicode format character (general category Cf), such as U+200B or
    /// U+202E.
    Format,
}

impl CharFault {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            CharFault::Control => "contains a control character (C0, DEL or C1)",
            CharFault::Format => "contains an invisible Unicode format character (category Cf)",
        }
    }
}

/// The M4 character rules shared by topics, patterns, ids and types: no C0,
/// DEL or C1 controls (S), and no Unicode `Cf` characters (H) — the latter
/// are invisible and can make two different topics look identical.
pub(crate) fn check_chars(value: &str) -> Result<(), CharFault> {
    for c in value.chars() {
        let cp = u32::from(c);
        if cp < 0x20 || (0x7f..=0x9f).contains(&cp) {
            return Err(CharFault::Control);
        }
        if is_format_char(cp) {
            return Err(CharFault::Format);
        }
    }
    Ok(())
}

/// Unicode general category Cf (Unicode 16). The set is small and changes
/// rarely, so a table beats a Unicode-data dependency.
fn is_format_char(cp: u32) -> bool {
    const CF: &[(u32, u32)] = &[
        (0x00AD, 0x00AD),
        (0x0600, 0x0605),
        (0x061C, 0x061C),
        (0x06DD, 0x06DD),
        (0x070F, 0x070F),
        (0x0890, 0x0891),
        (0x08E2, 0x08E2),
        (0x180E, 0x180E),
        (0x200B, 0x200F),
        (0x202A, 0x202E),
        (0x2060, 0x2064),
        (0x2066, 0x206F),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
    ];
    if cp < 0xAD {
        return false;
    }
    CF.iter().any(|&(lo, hi)| (lo..=hi).contains(&cp))
}

/// Decodes `application/x-www-form-urlencoded` bytes the WHATWG way: split
/// on `&`, the first `=` separates name and value, `+` is a space, `%XX` is
/// a byte and a malformed `%` stays literal. Names and values stay bytes so
/// callers decide what invalid UTF-8 means (a 400 for values they use).
pub(crate) fn form_pairs(input: &[u8]) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    input
        .split(|&b| b == b'&')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            (form_decode(name), form_decode(value))
        })
}

fn form_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => match (
                input.get(i + 1).and_then(hex),
                input.get(i + 2).and_then(hex),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            _ => out.push(b),
        }
        i += 1;
    }
    out
}

fn hex(b: &u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes every byte outside RFC 3986 `unreserved`, so the result is
/// one path segment whatever the input (M39: `:` → `%3A`, `/` → `%2F`,
/// `%` → `%25`).
pub fn encode_path_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

/// Decodes `%XX` escapes whose byte is RFC 3986 `unreserved` and leaves every
/// other escape as it is: the normalisation that makes `/.well-known/%6Dercure`
/// compare equal to `/.well-known/mercure` without changing what `%2F` means.
pub(crate) fn decode_unreserved(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(hex),
                bytes.get(i + 2).and_then(hex),
            ) {
                let b = hi << 4 | lo;
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                    out.push(char::from(b));
                    i += 3;
                    continue;
                }
            }
        }
        // Copy one whole UTF-8 character; `i` is always on a boundary here.
        let ch_len = path[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&path[i..i + ch_len]);
        i += ch_len;
    }
    out
}

/// RFC 3986 §5.2.4 remove_dot_segments, for the reserved-namespace check.
pub(crate) fn remove_dot_segments(path: &str) -> String {
    let absolute = path.starts_with('/');
    let body = if absolute { &path[1..] } else { path };
    let segments: Vec<&str> = body.split('/').collect();
    let mut output: Vec<&str> = Vec::with_capacity(segments.len());
    let mut trailing_slash = false;
    for (idx, seg) in segments.iter().enumerate() {
        let last = idx + 1 == segments.len();
        match *seg {
            "." => trailing_slash = last,
            ".." => {
                output.pop();
                trailing_slash = last;
            }
            s => {
                output.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    if absolute {
        out.push('/');
    }
    out.push_str(&output.join("/"));
    if trailing_slash && !out.ends_with('/') {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> HubUrl {
        HubUrl::parse("https://example.com/.well-known/mercure").unwrap()
    }

    #[test]
    fn literal_uri_template_matches_by_equality_without_a_regex() {
        let m = TopicMatcher::new(
            MatchType::UriTemplate,
            "https://example.com/books/1",
            &hub(),
        )
        .unwrap();
        assert!(matches!(m.compiled, Compiled::UriTemplate(None)));
        assert!(m.matches_str("https://example.com/books/1"));
        assert!(!m.matches_str("https://example.com/books/12"));
        assert!(!m.matches_str("https://example.com/books/"));
        // Regex metacharacters in a literal are still literal.
        let dot = TopicMatcher::new(MatchType::UriTemplate, "urn:a.b", &hub()).unwrap();
        assert!(dot.matches_str("urn:a.b") && !dot.matches_str("urn:aXb"));
        let t = TopicMatcher::new(
            MatchType::UriTemplate,
            "https://example.com/books/{id}",
            &hub(),
        )
        .unwrap();
        assert!(matches!(t.compiled, Compiled::UriTemplate(Some(_))));
        assert!(t.matches_str("https://example.com/books/12"));
    }

    #[test]
    fn form_decoding_follows_whatwg() {
        let pairs: Vec<_> = form_pairs(b"a=1+2&b=%41%zz&&c&d=x=y").collect();
        assert_eq!(
            pairs,
            vec![
                (b"a".to_vec(), b"1 2".to_vec()),
                (b"b".to_vec(), b"A%zz".to_vec()),
                (b"c".to_vec(), b"".to_vec()),
                (b"d".to_vec(), b"x=y".to_vec()),
            ]
        );
        assert_eq!(form_decode(b"%"), b"%");
        assert_eq!(form_decode(b"%4"), b"%4");
    }

    #[test]
    fn dot_segments() {
        assert_eq!(remove_dot_segments("/a/b/../c"), "/a/c");
        assert_eq!(remove_dot_segments("/a/./b/."), "/a/b/");
        assert_eq!(remove_dot_segments("/../../x"), "/x");
        assert_eq!(remove_dot_segments("/a/.."), "/");
    }

    #[test]
    fn unreserved_decoding_keeps_reserved_escapes() {
        assert_eq!(
            decode_unreserved("/%2Ewell-known/%6dercure%2Fx"),
            "/.well-known/mercure%2Fx"
        );
        assert_eq!(decode_unreserved("/é%"), "/é%");
    }

    #[test]
    fn cf_table() {
        assert_eq!(check_chars("a\u{200B}b"), Err(CharFault::Format));
        assert_eq!(check_chars("a\u{202E}b"), Err(CharFault::Format));
        assert_eq!(check_chars("a\u{85}b"), Err(CharFault::Control));
        assert_eq!(check_chars("a\u{7f}"), Err(CharFault::Control));
        assert_eq!(check_chars("héllo wörld ✓"), Ok(()));
    }

    #[test]
    fn template_compiles_levels() {
        let re = uri_template_regex("https://example.com/books/{id}").unwrap();
        assert!(re.is_match("https://example.com/books/1"));
        assert!(!re.is_match("https://example.com/books/1/2"));
        let re = uri_template_regex("/a{/path*}{?q,r}").unwrap();
        assert!(re.is_match("/a/x/y?q=1&r=2"));
        assert!(uri_template_regex("/a/{").is_none());
        assert!(uri_template_regex("/a/}").is_none());
        assert!(uri_template_regex("/a/{}").is_none());
        assert!(uri_template_regex("/a/{x:0}").is_none());
        let m = TopicMatcher::new(MatchType::UriTemplate, "/a/{", &hub()).unwrap();
        assert!(m.matches_str("/a/{"));
        assert!(!m.matches_str("/a/b"));
    }
}

//! URL and body templates with `{topic}` and `{data}` placeholders, and the
//! encodings the placeholders are substituted with.

use std::fmt;

/// How a placeholder's value is written into its context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// As is (a raw request body).
    Raw,
    /// Percent-encoded for a URL path or query component: everything but
    /// the RFC 3986 unreserved characters is escaped.
    Url,
    /// `application/x-www-form-urlencoded`: as [`Encoding::Url`], with
    /// spaces as `+`.
    Form,
    /// The inside of a JSON string: `"`, `\` and control characters escaped.
    Json,
}

impl Encoding {
    /// Appends `value` to `out` in this encoding.
    ///
    /// ```
    /// use sse_bench::template::Encoding;
    /// let mut s = String::new();
    /// Encoding::Url.push("/bench/1 a&b", &mut s);
    /// assert_eq!(s, "%2Fbench%2F1%20a%26b");
    /// s.clear();
    /// Encoding::Form.push("a b=c", &mut s);
    /// assert_eq!(s, "a+b%3Dc");
    /// s.clear();
    /// Encoding::Json.push("say \"hi\"\n", &mut s);
    /// assert_eq!(s, r#"say \"hi\"\n"#);
    /// ```
    pub fn push(self, value: &str, out: &mut String) {
        match self {
            Encoding::Raw => out.push_str(value),
            Encoding::Url | Encoding::Form => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                for &b in value.as_bytes() {
                    if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                        out.push(b as char);
                    } else if b == b' ' && self == Encoding::Form {
                        out.push('+');
                    } else {
                        out.push('%');
                        out.push(HEX[(b >> 4) as usize] as char);
                        out.push(HEX[(b & 15) as usize] as char);
                    }
                }
            }
            Encoding::Json => {
                for c in value.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        '\t' => out.push_str("\\t"),
                        c if (c as u32) < 0x20 => {
                            out.push_str(&format!("\\u{:04x}", c as u32));
                        }
                        c => out.push(c),
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Topic,
    Data,
}

/// A string with `{topic}` and `{data}` placeholders. Any other `{…}` is
/// kept literally (JSON bodies are full of braces).
///
/// ```
/// use sse_bench::template::{Encoding, Template};
/// let t = Template::parse("topic={topic}&data={data}");
/// let mut out = String::new();
/// t.render("/bench/0", "sseb:0:1:2:", Encoding::Form, &mut out);
/// assert_eq!(out, "topic=%2Fbench%2F0&data=sseb%3A0%3A1%3A2%3A");
/// let json = Template::parse(r#"{"topic":"{topic}","data":"{data}"}"#);
/// out.clear();
/// json.render("t", "d", Encoding::Json, &mut out);
/// assert_eq!(out, r#"{"topic":"t","data":"d"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Splits `s` at its placeholders.
    pub fn parse(s: &str) -> Self {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = s;
        while !rest.is_empty() {
            let (part, len) = if rest.starts_with("{topic}") {
                (Some(Part::Topic), "{topic}".len())
            } else if rest.starts_with("{data}") {
                (Some(Part::Data), "{data}".len())
            } else {
                (None, rest.chars().next().map_or(1, char::len_utf8))
            };
            match part {
                Some(p) => {
                    if !lit.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut lit)));
                    }
                    parts.push(p);
                }
                None => lit.push_str(&rest[..len]),
            }
            rest = &rest[len..];
        }
        if !lit.is_empty() {
            parts.push(Part::Literal(lit));
        }
        Template { parts }
    }

    /// Whether the template has a `{topic}` placeholder.
    pub fn has_topic(&self) -> bool {
        self.parts.contains(&Part::Topic)
    }

    /// Appends the template to `out` with the placeholders replaced by
    /// `topic` and `data` in `encoding`.
    pub fn render(&self, topic: &str, data: &str, encoding: Encoding, out: &mut String) {
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Topic => encoding.push(topic, out),
                Part::Data => encoding.push(data, out),
            }
        }
    }
}

/// An `http://` URL split into what a hand-written HTTP/1.1 request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// `host[:port]` as written: the `Host` header.
    pub authority: String,
    /// The host alone (brackets kept off an IPv6 literal).
    pub host: String,
    /// The port (80 when not given).
    pub port: u16,
    /// The path and query, a template: `{topic}` may appear here.
    pub target: Template,
}

/// A URL this tool cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError(String);

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UrlError {}

impl HttpUrl {
    /// Parses an `http://host[:port]/path?query` URL template.
    ///
    /// # Errors
    /// For other schemes (`https` is not supported: the load generator talks
    /// plain HTTP/1.1 to keep each subscriber small), a missing host, a bad
    /// port, or a placeholder in the host.
    ///
    /// ```
    /// use sse_bench::template::HttpUrl;
    /// let u = HttpUrl::parse("http://127.0.0.1:8080/sub?id={topic}").unwrap();
    /// assert_eq!((u.host.as_str(), u.port, u.authority.as_str()), ("127.0.0.1", 8080, "127.0.0.1:8080"));
    /// assert!(u.target.has_topic());
    /// assert!(HttpUrl::parse("https://example.com/").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| UrlError(format!("{url}: only http:// URLs are supported")))?;
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains(['{', '}', '@']) {
            return Err(UrlError(format!("{url}: bad host")));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| UrlError(format!("{url}: bad IPv6 host")))?;
            (h, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port = match port {
            None => 80,
            Some(p) => p
                .parse()
                .map_err(|_| UrlError(format!("{url}: bad port")))?,
        };
        let target = if target.starts_with('?') {
            format!("/{target}")
        } else {
            target.to_owned()
        };
        Ok(HttpUrl {
            authority: authority.to_owned(),
            host: host.to_owned(),
            port,
            target: Template::parse(&target),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_braces_survive() {
        let t = Template::parse("{x}{topic}{");
        let mut s = String::new();
        t.render("a b", "", Encoding::Url, &mut s);
        assert_eq!(s, "{x}a%20b{");
    }

    #[test]
    fn urls() {
        let u = HttpUrl::parse("http://[::1]:9/x").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9));
        let u = HttpUrl::parse("http://localhost?a=b").unwrap();
        assert_eq!(u.port, 80);
        let mut s = String::new();
        u.target.render("", "", Encoding::Url, &mut s);
        assert_eq!(s, "/?a=b");
        assert!(HttpUrl::parse("http://h:x/").is_err());
        assert!(HttpUrl::parse("http://{topic}/").is_err());
        assert!(HttpUrl::parse("http:///").is_err());
    }

    #[test]
    fn non_ascii_is_percent_encoded_as_utf8() {
        let mut s = String::new();
        Encoding::Url.push("é", &mut s);
        assert_eq!(s, "%C3%A9");
    }
}

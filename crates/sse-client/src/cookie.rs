//! A small, bounded cookie store for one event source: what the browser's
//! `withCredentials` gives an `EventSource`. A server that sets a cookie
//! (a Mercure hub's authorization cookie, a session) gets it back on every
//! reconnect and redirect.
//!
//! It implements the parts of RFC 6265 an event source meets: `Domain`
//! (host-only by default), `Path`, `Secure`, `Max-Age`, `Expires`, and
//! replacement by (name, domain, path). It does not consult the public
//! suffix list: a `Domain` attribute must contain a dot and domain-match the
//! host that set it, which keeps one server from setting cookies for a
//! top-level domain but not for `co.uk`-like suffixes. The store lives only
//! as long as its event source, which talks to one site, so that is an
//! acceptable gap.

use std::time::{Duration, SystemTime};

use http::Uri;

/// At most this many cookies are kept; the oldest goes first.
pub(crate) const MAX_COOKIES: usize = 64;
/// A `Set-Cookie` longer than this is ignored (browsers use 4096).
pub(crate) const MAX_COOKIE_BYTES: usize = 4096;

#[derive(Clone, Debug)]
struct Cookie {
    name: String,
    value: String,
    domain: String,
    host_only: bool,
    path: String,
    secure: bool,
    expires: Option<SystemTime>,
}

/// Memory: at most `MAX_COOKIES × MAX_COOKIE_BYTES` (256 KiB) of cookie text.
#[derive(Debug, Default)]
pub(crate) struct CookieJar {
    cookies: Vec<Cookie>,
}

fn host_of(url: &Uri) -> Option<String> {
    let host = url.host()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some(host.to_ascii_lowercase())
}

fn is_ip(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
}

fn domain_match(host: &str, domain: &str) -> bool {
    host == domain
        || (!is_ip(host)
            && host.len() > domain.len()
            && host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.')
}

fn default_path(url: &Uri) -> String {
    let path = url.path();
    match path.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => path[..i].to_owned(),
    }
}

fn path_match(request: &str, cookie: &str) -> bool {
    request == cookie
        || (request.starts_with(cookie)
            && (cookie.ends_with('/') || request.as_bytes().get(cookie.len()) == Some(&b'/')))
}

impl CookieJar {
    /// Stores one `Set-Cookie` header received from `url`. Anything malformed
    /// or too large is ignored, as browsers do.
    pub(crate) fn store(&mut self, url: &Uri, header: &[u8], now: SystemTime) {
        if header.len() > MAX_COOKIE_BYTES {
            return;
        }
        let Ok(header) = std::str::from_utf8(header) else {
            return;
        };
        let Some(host) = host_of(url) else { return };
        let mut parts = header.split(';');
        let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else {
            return;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() {
            return;
        }
        let mut cookie = Cookie {
            name: name.to_owned(),
            value: value.to_owned(),
            domain: host.clone(),
            host_only: true,
            path: default_path(url),
            secure: false,
            expires: None,
        };
        let mut max_age_seen = false;
        for attr in parts {
            let (key, val) = attr.split_once('=').unwrap_or((attr, ""));
            let (key, val) = (key.trim(), val.trim());
            if key.eq_ignore_ascii_case("max-age") {
                // RFC 6265 5.2.2: Max-Age wins over Expires.
                let Ok(secs) = val.parse::<i64>() else {
                    continue;
                };
                max_age_seen = true;
                cookie.expires = Some(if secs <= 0 {
                    SystemTime::UNIX_EPOCH
                } else {
                    now.checked_add(Duration::from_secs(secs.unsigned_abs()))
                        .unwrap_or(now + Duration::from_secs(100 * 365 * 24 * 3600))
                });
            } else if key.eq_ignore_ascii_case("expires") {
                if !max_age_seen {
                    if let Ok(t) = httpdate::parse_http_date(val) {
                        cookie.expires = Some(t);
                    }
                }
            } else if key.eq_ignore_ascii_case("domain") {
                let d = val.trim_start_matches('.').to_ascii_lowercase();
                if d.is_empty() {
                    continue;
                }
                if !domain_match(&host, &d) || (!d.contains('.') && d != host) {
                    return; // a cookie for somebody else's domain: reject it
                }
                cookie.host_only = d == host;
                cookie.domain = d;
            } else if key.eq_ignore_ascii_case("path") {
                if val.starts_with('/') {
                    cookie.path = val.to_owned();
                }
            } else if key.eq_ignore_ascii_case("secure") {
                cookie.secure = true;
            }
        }
        self.cookies.retain(|c| {
            !(c.name == cookie.name && c.domain == cookie.domain && c.path == cookie.path)
        });
        if cookie.expires.is_some_and(|t| t <= now) {
            return; // a deletion
        }
        self.cookies.retain(|c| c.expires.is_none_or(|t| t > now));
        if self.cookies.len() >= MAX_COOKIES {
            self.cookies.remove(0);
        }
        self.cookies.push(cookie);
    }

    /// The `Cookie` header value for a request to `url`, if any cookie applies.
    pub(crate) fn header(&self, url: &Uri, now: SystemTime) -> Option<String> {
        let host = host_of(url)?;
        let https = url.scheme_str() == Some("https");
        let path = url.path();
        let mut out = String::new();
        for c in &self.cookies {
            let host_ok = if c.host_only {
                host == c.domain
            } else {
                domain_match(&host, &c.domain)
            };
            if !host_ok
                || (c.secure && !https)
                || !path_match(path, &c.path)
                || c.expires.is_some_and(|t| t <= now)
            {
                continue;
            }
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(&c.name);
            out.push('=');
            out.push_str(&c.value);
        }
        (!out.is_empty()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn host_only_cookie_round_trip() {
        let now = SystemTime::now();
        let mut jar = CookieJar::default();
        jar.store(
            &uri("http://hub.example/events"),
            b"mercureAuthorization=abc; Path=/; HttpOnly",
            now,
        );
        assert_eq!(
            jar.header(&uri("http://hub.example/events?x=1"), now)
                .as_deref(),
            Some("mercureAuthorization=abc")
        );
        assert_eq!(jar.header(&uri("http://sub.hub.example/events"), now), None);
        assert_eq!(jar.header(&uri("http://other.example/events"), now), None);
    }

    #[test]
    fn domain_path_secure_and_expiry() {
        let now = SystemTime::now();
        let mut jar = CookieJar::default();
        let from = uri("https://a.example.com/x/y");
        jar.store(&from, b"d=1; Domain=.example.com; Path=/", now);
        jar.store(&from, b"p=2", now); // default path /x
        jar.store(&from, b"s=3; Secure; Path=/", now);
        jar.store(&from, b"e=4; Max-Age=10", now);
        jar.store(&from, b"bad=5; Domain=com", now);
        jar.store(&from, b"evil=6; Domain=other.org", now);
        assert_eq!(
            jar.header(&uri("https://a.example.com/x/z"), now)
                .as_deref(),
            Some("d=1; p=2; s=3; e=4")
        );
        assert_eq!(
            jar.header(&uri("https://b.example.com/x/z"), now)
                .as_deref(),
            Some("d=1")
        );
        assert_eq!(
            jar.header(&uri("http://b.example.com/"), now).as_deref(),
            Some("d=1")
        );
        let later = now + Duration::from_secs(11);
        assert_eq!(
            jar.header(&uri("https://a.example.com/x"), later)
                .as_deref(),
            Some("d=1; p=2; s=3")
        );
        // Replacement and deletion.
        jar.store(&from, b"p=new; Path=/x", now);
        jar.store(&from, b"d=gone; Domain=example.com; Path=/; Max-Age=0", now);
        assert_eq!(
            jar.header(&uri("https://a.example.com/x"), now).as_deref(),
            Some("s=3; e=4; p=new")
        );
    }

    #[test]
    fn bounded() {
        let now = SystemTime::now();
        let mut jar = CookieJar::default();
        let from = uri("http://h/");
        for i in 0..200 {
            jar.store(&from, format!("c{i}=v").as_bytes(), now);
        }
        assert_eq!(jar.cookies.len(), MAX_COOKIES);
        assert_eq!(jar.cookies[0].name, "c136");
        jar.store(&from, &vec![b'x'; MAX_COOKIE_BYTES + 1], now);
        assert_eq!(jar.cookies.len(), MAX_COOKIES);
        // Garbage never panics.
        for junk in [
            &b""[..],
            b"=",
            b";;;",
            b"a",
            b"\xff=\xfe",
            b"a=b; Max-Age=-99999999999999999999",
            b"a=b; Expires=never",
        ] {
            jar.store(&from, junk, now);
        }
    }
}

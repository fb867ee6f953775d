//! Reading one HTTP/1.1 request head, and refusing bad ones with a reason.

use std::io;
use std::time::Duration;

use bytes::BytesMut;
use http::StatusCode;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::Shutdown;

/// The largest request head accepted; a longer one is answered 431.
pub(crate) const MAX_HEAD: usize = 16 * 1024;
/// The most request headers accepted (hyper's default); more is a 431.
pub(crate) const MAX_HEADERS: usize = 100;
/// Time allowed for a request head, counted from when the connection
/// starts waiting for it (accepted, or done with its previous request): a
/// connection that sends nothing is closed after this long, one whose head
/// is still incomplete gets a 408. hyper applies the same bound to the
/// connections it serves.
pub(crate) const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Why no head came.
pub(crate) enum HeadError {
    /// Not HTTP/1.x (the HTTP/2 preface): hyper serves it.
    NotOurs,
    /// The connection failed, or sent nothing within [`HEAD_TIMEOUT`].
    Io,
    /// A head we answer with an error and close (after a linger, see
    /// `linger`): too large, too many headers, malformed, too slow, or
    /// with a transfer coding we do not implement.
    Refused(Refusal),
}

/// An error answer to a request head, with a body that says why (a bare
/// status leaves the client guessing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    TooLarge,
    TooManyHeaders,
    Malformed(&'static str),
    Timeout,
    /// A transfer coding other than `chunked` (RFC 9112 §6.1: 501).
    UnknownCoding,
}

impl Refusal {
    fn from_parse_error(e: httparse::Error) -> Refusal {
        match e {
            httparse::Error::TooManyHeaders => Refusal::TooManyHeaders,
            httparse::Error::HeaderName => Refusal::Malformed("invalid header name"),
            httparse::Error::HeaderValue => Refusal::Malformed("invalid header value"),
            httparse::Error::NewLine => Refusal::Malformed("invalid line ending"),
            httparse::Error::Token => Refusal::Malformed("invalid method or request target"),
            httparse::Error::Version => Refusal::Malformed("unsupported HTTP version"),
            httparse::Error::Status => Refusal::Malformed("invalid request line"),
        }
    }

    /// The status line's code and reason, and the body that says why.
    pub(crate) fn status_and_body(self) -> (StatusCode, String) {
        match self {
            Refusal::TooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!("request head too large: at most {MAX_HEAD} bytes"),
            ),
            Refusal::TooManyHeaders => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!("too many request headers: at most {MAX_HEADERS}"),
            ),
            Refusal::Malformed(why) => (
                StatusCode::BAD_REQUEST,
                format!("malformed request head: {why}"),
            ),
            Refusal::Timeout => (
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "request head not received within {} s",
                    HEAD_TIMEOUT.as_secs()
                ),
            ),
            Refusal::UnknownCoding => (
                StatusCode::NOT_IMPLEMENTED,
                "transfer coding not implemented: only a body coded with `chunked` alone \
                 is accepted"
                    .to_owned(),
            ),
        }
    }

    /// The whole response: status line, headers, body.
    pub(crate) fn response(self) -> String {
        let (status, body) = self.status_and_body();
        let reason = status.canonical_reason().unwrap_or("");
        format!(
            "HTTP/1.1 {} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}\n",
            status.as_u16(),
            body.len() + 1
        )
    }
}

/// Checks a request's `Transfer-Encoding` field lines (all of them, in
/// order) as RFC 9112 §6 asks of a server that knows only `chunked`:
/// - no such line: no transfer coding, accepted;
/// - `chunked` alone: a chunked body, accepted;
/// - `chunked` not last (or no coding at all): the body's length cannot be
///   known, 400 and close (§6.3, a MUST);
/// - `chunked` last after other codings (`gzip, chunked`, or `identity,
///   chunked`: `identity` is no transfer coding since RFC 7230): a coding
///   we do not implement, 501 (§6.1);
/// - `chunked` twice: not allowed (§7), 400.
///
/// hyper takes a final `chunked` as enough and would hand such a body to
/// the router still coded, so both paths call this.
pub(crate) fn check_transfer_coding<'a>(
    lines: impl IntoIterator<Item = &'a [u8]>,
) -> Result<(), Refusal> {
    let mut lines = lines.into_iter().peekable();
    if lines.peek().is_none() {
        return Ok(());
    }
    let mut codings = lines
        .flat_map(|line| line.split(|&b| b == b','))
        .map(|c| c.trim_ascii())
        .filter(|c| !c.is_empty());
    let Some(mut last) = codings.next() else {
        return Err(Refusal::Malformed("empty Transfer-Encoding"));
    };
    let mut others = false;
    let mut chunked_before = false;
    for c in codings {
        others = true;
        chunked_before |= last.eq_ignore_ascii_case(b"chunked");
        last = c;
    }
    if !last.eq_ignore_ascii_case(b"chunked") {
        Err(Refusal::Malformed(
            "chunked is not the final transfer coding",
        ))
    } else if chunked_before {
        Err(Refusal::Malformed("chunked applied more than once"))
    } else if others {
        Err(Refusal::UnknownCoding)
    } else {
        Ok(())
    }
}

/// The start of the HTTP/2 connection preface (prior knowledge, h2c).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// Reads until `pending` holds a complete head; returns its length.
/// `Ok(None)`: the client closed an idle connection, or shutdown began
/// while it was idle.
pub(crate) async fn read_head(
    sock: &mut TcpStream,
    pending: &mut BytesMut,
    shutdown: &Shutdown,
) -> Result<Option<usize>, HeadError> {
    let deadline = Instant::now() + HEAD_TIMEOUT;
    loop {
        if !pending.is_empty() {
            let n = pending.len().min(H2_PREFACE.len());
            if pending[..n] == H2_PREFACE[..n] {
                if n == H2_PREFACE.len() {
                    return Err(HeadError::NotOurs);
                }
            } else {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut req = httparse::Request::new(&mut headers);
                match req.parse(pending) {
                    Ok(httparse::Status::Complete(n)) => {
                        let te = req
                            .headers
                            .iter()
                            .filter(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
                            .map(|h| h.value);
                        return check_transfer_coding(te)
                            .map(|()| Some(n))
                            .map_err(HeadError::Refused);
                    }
                    Ok(httparse::Status::Partial) if pending.len() < MAX_HEAD => {}
                    Ok(httparse::Status::Partial) => {
                        return Err(HeadError::Refused(Refusal::TooLarge))
                    }
                    Err(e) => return Err(HeadError::Refused(Refusal::from_parse_error(e))),
                }
            }
        }
        // Wait for bytes without holding a buffer: an idle keep-alive
        // connection costs no read buffer.
        let ready = tokio::select! {
            r = sock.readable() => r,
            _ = shutdown.triggered(), if pending.is_empty() => return Ok(None),
            _ = tokio::time::sleep_until(deadline) => {
                return Err(if pending.is_empty() {
                    HeadError::Io
                } else {
                    HeadError::Refused(Refusal::Timeout)
                });
            }
        };
        if ready.is_err() {
            return Err(HeadError::Io);
        }
        pending.reserve(2048);
        match sock.try_read_buf(pending) {
            Ok(0) if pending.is_empty() => return Ok(None),
            Ok(0) => return Err(HeadError::Io),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return Err(HeadError::Io),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{check_transfer_coding, Refusal};

    #[test]
    fn transfer_codings_as_rfc_9112_says() {
        let bad = Refusal::Malformed;
        let cases: &[(&[&str], Result<(), Refusal>)] = &[
            (&["chunked"], Ok(())),
            (&["Chunked"], Ok(())),
            (&[" chunked ,"], Ok(())),
            (&["identity, chunked"], Err(Refusal::UnknownCoding)),
            (&["gzip, chunked"], Err(Refusal::UnknownCoding)),
            (&["gzip", "chunked"], Err(Refusal::UnknownCoding)),
            (
                &["foo"],
                Err(bad("chunked is not the final transfer coding")),
            ),
            (
                &["chunked, gzip"],
                Err(bad("chunked is not the final transfer coding")),
            ),
            (
                &["chunked", "gzip"],
                Err(bad("chunked is not the final transfer coding")),
            ),
            (
                &["chunked;x=1"],
                Err(bad("chunked is not the final transfer coding")),
            ),
            (
                &["chunked, chunked"],
                Err(bad("chunked applied more than once")),
            ),
            (&["", " , "], Err(bad("empty Transfer-Encoding"))),
            (&[], Ok(())),
        ];
        for (lines, want) in cases {
            let got = check_transfer_coding(lines.iter().map(|l| l.as_bytes()));
            assert_eq!(&got, want, "{lines:?}");
        }
    }
}

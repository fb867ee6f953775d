//! Reading one HTTP/1.1 request head, and refusing bad ones with a reason.

use std::io;
use std::time::Duration;

use bytes::BytesMut;
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
    /// A head we answer with an error and close: too large, too many
    /// headers, malformed, or too slow.
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

    /// The whole response: status line, headers, body.
    fn response(self) -> String {
        let (status, body) = match self {
            Refusal::TooLarge => (
                "431 Request Header Fields Too Large",
                format!("request head too large: at most {MAX_HEAD} bytes"),
            ),
            Refusal::TooManyHeaders => (
                "431 Request Header Fields Too Large",
                format!("too many request headers: at most {MAX_HEADERS}"),
            ),
            Refusal::Malformed(why) => {
                ("400 Bad Request", format!("malformed request head: {why}"))
            }
            Refusal::Timeout => (
                "408 Request Timeout",
                format!(
                    "request head not received within {} s",
                    HEAD_TIMEOUT.as_secs()
                ),
            ),
        };
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}\n",
            body.len() + 1
        )
    }
}

/// Answers a refused head and leaves the connection to be closed. One
/// non-blocking write: the answer is small enough for any socket buffer,
/// and a client that does not read it is not waited for.
pub(crate) fn refuse(sock: &TcpStream, refusal: Refusal) {
    let _ = sock.try_write(refusal.response().as_bytes());
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
                    Ok(httparse::Status::Complete(n)) => return Ok(Some(n)),
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

//! The little HTTP/1.1 this tool speaks: response heads, body framing, and
//! a keep-alive connection for publishing.
//!
//! Hand-written rather than hyper because a subscriber must stay small (a
//! hyper connection keeps 16 KB of buffers per socket) and because the bench
//! needs to see exactly what the server sent.

use std::io;
use std::net::SocketAddr;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::chunked::{ChunkError, ChunkedDecoder};

/// The largest response head accepted; a server that sends more is broken.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// What matters in a response head.
#[derive(Debug)]
pub(crate) struct Head {
    pub status: u16,
    /// The media type, lowercased, parameters removed.
    pub content_type: Option<String>,
    pub body: BodyReader,
    /// The server will close the connection after this response.
    pub close: bool,
}

/// Parses a response head from the start of `buf`: `Ok(None)` when more
/// bytes are needed, else the head and its length.
pub(crate) fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
            return Err("response head too large".into())
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("bad response head: {e}")),
    };
    let status = resp.code.unwrap_or(0);
    let mut content_type = None;
    let mut chunked = false;
    let mut length = None;
    let mut close = resp.version == Some(0);
    for h in resp.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        if h.name.eq_ignore_ascii_case("content-type") {
            let media = value.split(';').next().unwrap_or("").trim();
            content_type = Some(media.to_ascii_lowercase());
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if h.name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| "bad content-length".to_string())?,
            );
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.contains("close") {
                close = true;
            } else if v.contains("keep-alive") {
                close = false;
            }
        }
    }
    let body = if (100..200).contains(&status) || status == 204 || status == 304 {
        BodyReader::Length(0)
    } else if chunked {
        BodyReader::Chunked(ChunkedDecoder::new())
    } else if let Some(n) = length {
        BodyReader::Length(n)
    } else {
        close = true;
        BodyReader::UntilClose
    };
    Ok(Some((
        Head {
            status,
            content_type,
            body,
            close,
        },
        len,
    )))
}

/// How the end of a response body is found.
#[derive(Debug)]
pub(crate) enum BodyReader {
    Chunked(ChunkedDecoder),
    /// Bytes left.
    Length(u64),
    /// The body ends when the server closes the connection.
    UntilClose,
}

impl BodyReader {
    /// Passes the body bytes in `input` to `out`; returns how many bytes
    /// were consumed and whether the body is complete.
    pub(crate) fn feed<'a>(
        &mut self,
        input: &'a [u8],
        mut out: impl FnMut(&'a [u8]),
    ) -> Result<(usize, bool), ChunkError> {
        match self {
            BodyReader::Chunked(c) => {
                let n = c.decode(input, out)?;
                Ok((n, c.is_done()))
            }
            BodyReader::Length(left) => {
                let n = (*left).min(input.len() as u64) as usize;
                if n > 0 {
                    out(&input[..n]);
                }
                *left -= n as u64;
                Ok((n, *left == 0))
            }
            BodyReader::UntilClose => {
                if !input.is_empty() {
                    out(input);
                }
                Ok((input.len(), false))
            }
        }
    }
}

/// A short, low-cardinality reason for an I/O error (it becomes a key in
/// the report's error counts).
pub(crate) fn io_reason(what: &str, e: &io::Error) -> String {
    format!("{what}: {}", e.kind())
}

/// A failed request/response exchange.
#[derive(Debug)]
pub(crate) struct ExchangeError {
    pub reason: String,
    /// Nothing of a response arrived: on a reused keep-alive connection this
    /// is the server having closed it while idle, and a retry is safe.
    pub nothing_received: bool,
}

/// A keep-alive HTTP/1.1 client connection, one request at a time.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: TcpStream,
    buf: BytesMut,
}

impl Conn {
    pub(crate) async fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: BytesMut::with_capacity(4096),
        })
    }

    /// Sends `request` and reads the whole response (the body is
    /// discarded). Returns the status and whether the connection can carry
    /// another request.
    pub(crate) async fn exchange(&mut self, request: &[u8]) -> Result<(u16, bool), ExchangeError> {
        let fail = |reason: String, nothing_received: bool| ExchangeError {
            reason,
            nothing_received,
        };
        self.buf.clear();
        self.stream
            .write_all(request)
            .await
            .map_err(|e| fail(io_reason("write", &e), true))?;
        let head = loop {
            if let Some((head, len)) = parse_head(&self.buf).map_err(|r| fail(r, false))? {
                self.buf.advance(len);
                if (100..200).contains(&head.status) {
                    continue; // an interim response; the real one follows
                }
                break head;
            }
            let before = self.buf.len();
            self.buf.reserve(4096);
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) => return Err(fail("closed before response".into(), before == 0)),
                Ok(_) => {}
                Err(e) => return Err(fail(io_reason("read", &e), before == 0)),
            }
        };
        let mut body = head.body;
        loop {
            let (n, done) = body
                .feed(&self.buf, |_| {})
                .map_err(|e| fail(e.to_string(), false))?;
            self.buf.advance(n);
            if done {
                break;
            }
            self.buf.reserve(4096);
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) if matches!(body, BodyReader::UntilClose) => break,
                Ok(0) => return Err(fail("closed inside response body".into(), false)),
                Ok(_) => {}
                Err(e) => return Err(fail(io_reason("read", &e), false)),
            }
        }
        Ok((head.status, !head.close))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: Text/Event-Stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\nrest";
        for end in 0..raw.len() - 4 {
            assert!(parse_head(&raw[..end]).unwrap().is_none());
        }
        let (head, len) = parse_head(raw).unwrap().unwrap();
        assert_eq!(len, raw.len() - 4);
        assert_eq!(head.status, 200);
        assert_eq!(head.content_type.as_deref(), Some("text/event-stream"));
        assert!(matches!(head.body, BodyReader::Chunked(_)));
        assert!(!head.close);

        let (head, _) = parse_head(b"HTTP/1.0 404 Not Found\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.status, 404);
        assert!(head.close);
        assert!(matches!(head.body, BodyReader::UntilClose));

        let (head, _) = parse_head(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(matches!(head.body, BodyReader::Length(0)));
        assert!(head.close);

        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }
}

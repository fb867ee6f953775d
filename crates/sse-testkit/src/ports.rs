//! Free loopback ports.
//!
//! A server the test runs in process binds `127.0.0.1:0` itself and reads
//! its port back (no race). A server in another process (`sse serve`,
//! `redis-server`) is told a port: [`free_port`] asks the kernel for one
//! and releases it, so another process can take it before the server
//! binds; the launchers in this kit retry on a fresh port when that
//! happens.

use std::net::{SocketAddr, TcpListener};

/// A loopback TCP port that was free a moment ago.
///
/// # Panics
///
/// When the kernel hands out no port (out of ephemeral ports).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// `127.0.0.1:<a free port>` (see [`free_port`]).
pub fn free_addr() -> SocketAddr {
    ([127, 0, 0, 1], free_port()).into()
}

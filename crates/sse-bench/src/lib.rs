//! The load generator behind `sse bench`: many lean SSE subscribers spread
//! over worker processes and source addresses, a publisher at a fixed rate,
//! and a report of publish-to-receive latency, loss, duplicates and — given
//! the server's pid — server CPU per delivery and memory per subscriber.
//!
//! The binary only parses [`Args`] and calls [`run`]:
//!
//! ```no_run
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     bench: sse_bench::Args,
//! }
//!
//! fn main() -> anyhow::Result<std::process::ExitCode> {
//!     let mut cli = Cli::parse();
//!     // Workers are started as `current_exe() <self_args> --worker-json`;
//!     // this binary has no subcommand in between.
//!     cli.bench.self_args = vec![];
//!     sse_bench::run(cli.bench)
//! }
//! ```
//!
//! The building blocks are public and small, for tests and for other tools:
//! [`chunked::ChunkedDecoder`] (HTTP chunked bodies),
//! [`payload`] (the stamp each update carries),
//! [`seq::SeqTracker`] (loss and duplicates by sequence number),
//! [`template`] (URL and body templates), and [`report::Summary`] (the
//! `--json` document, whose fields are documented there).
//!
//! ```
//! use sse_bench::{payload, seq::SeqTracker};
//! let mut seen = SeqTracker::default();
//! for seq in [0, 1, 1, 3] {
//!     let mut data = String::new();
//!     payload::encode(payload::Stamp { topic: 0, seq, sent_us: 1 }, 64, &mut data);
//!     seen.record(payload::parse(&data).unwrap().seq);
//! }
//! assert_eq!((seen.lost(4), seen.duplicates()), (1, 1));
//! ```
//!
//! # Command lines
//! ```text
//! # nginx+nchan (configured as bench/nchan.conf.in), server pid for CPU and memory figures:
//! sse bench --target nchan --url http://127.0.0.1:8080 -n 10000 --rate 10 --server-pid "$PID"
//! # A Mercure hub (ours included); the token from the environment:
//! SSE_BENCH_TOKEN=… sse bench --target mercure --url http://127.0.0.1:3000 -n 1000 --topics 100 --rate 1000
//! # Any server, by templates (a JSON publish API here):
//! sse bench --subscribe-url 'http://127.0.0.1:3000/events?topic={topic}' \
//!     --publish-url 'http://127.0.0.1:3000/publish' \
//!     --publish-header 'Content-Type: application/json' \
//!     --publish-body '{"topic":"{topic}","data":"{data}"}' -n 5000 --rate 50 --json
//! # Idle hold: connect 19,000, measure the server's RSS per subscriber, hold 10 s:
//! sse bench --target nchan --url http://127.0.0.1:8080 -n 19000 --hold 10 --server-pid "$PID"
//! ```
//!
//! # How a run goes
//! 1. The coordinator starts `--workers` processes (one per 15,000
//!    subscribers by default: a process may hold 20,000 open files here) by
//!    re-executing itself with a hidden `--worker-json` flag, and sends each
//!    its share on stdin.
//! 2. Workers connect their subscribers at `--connect-rate`, each socket
//!    bound to a source address before `connect`, and report when every
//!    attempt has finished. Nothing is published before that, so every
//!    update counts for every connected subscriber.
//! 3. The coordinator publishes at `--rate` on a fixed schedule, then tells
//!    the workers how many updates each topic got; they wait (at most
//!    `--drain-timeout`) for the rest to arrive and send their figures and
//!    HDR histograms back.
//!
//! Two variations for the harder scenarios: `--slow-fraction` makes some
//! subscribers stop reading (slow consumers), `--churn` closes and reopens
//! subscribers while publishing. Both groups are counted apart, so the loss
//! figures of everyone else stay exact. With `--slow-resume` the slow
//! subscribers read again once publishing ends, reconnecting with
//! `Last-Event-ID` where the server cut them, and what they still miss is
//! reported (`slow_resume` in the JSON).
//!
//! # Exit status
//! 0 when the run was clean (see [`report::Summary::clean`]), 2 when it
//! completed with errors, loss or duplicates; an `Err` when it could not
//! run.

#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(rust_2018_idioms)]

mod args;
pub mod chunked;
mod coordinator;
mod http;
pub mod payload;
mod procfs;
mod protocol;
mod publisher;
pub mod report;
pub mod seq;
pub mod template;
mod worker;

use std::process::ExitCode;

pub use args::{Args, Target};

/// The largest latency recorded exactly: one hour, in µs. Larger values
/// are clamped (a delivery an hour late is a failure whatever its value).
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Runs a benchmark as `args` says, or a worker process when started with
/// the hidden worker flag.
///
/// # Errors
/// When the arguments are inconsistent, the server address does not
/// resolve, a worker process cannot be started or dies, or a phase does not
/// finish within its bound. Failures of individual connections or requests
/// are not errors: they are counted in the report.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.worker {
        return worker::main();
    }
    coordinator::run(args)
}

/// Now, in µs since the UNIX epoch: the clock all processes share.
fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The run's latency histogram: 1 µs to an hour, three significant digits.
fn latency_histogram() -> hdrhistogram::Histogram<u64> {
    hdrhistogram::Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
        .expect("constant bounds are valid")
}

/// Raises the soft open-files limit to the hard one: each subscriber is a
/// socket, and the default soft limit (often 1,024) is far below what one
/// process may hold. Returns the limit in force.
fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to write into.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: a valid rlimit; failure leaves the old limit in force.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    // `rlim_t` is u64 on Linux but not on every platform.
    #[allow(clippy::unnecessary_cast)]
    let limit = lim.rlim_cur as u64;
    limit
}

//! `sse`: the command-line front of the workspace. Thin by design: each
//! subcommand parses its arguments and calls into a library crate.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// See the `mimalloc` feature in Cargo.toml for why (BENCHMARKS.md has
/// the figures); `.cargo/config.toml` builds it without eager arena commit.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod decode;
mod jwks;
mod listen;
mod logging;
mod publish;
mod serve;
mod token;

#[derive(Parser)]
#[command(name = "sse", version, about = "Server-Sent Events, end to end")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the hub: Mercure publish/subscribe with durable history.
    // Boxed, as `Bench`: their many settings dwarf the other commands'.
    Serve(Box<serve::Args>),
    /// Publish one update to a hub; prints its id.
    Publish(publish::Args),
    /// Connect to an event stream and print its events (curl for SSE).
    Listen(listen::Args),
    /// Load-test an SSE server: subscribers, a fixed-rate publisher, latency.
    Bench(Box<sse_bench::Args>),
    /// Decode a captured event stream into one JSON object per line.
    Decode(decode::Args),
    /// Mint an access token (publisher, subscriber or both) for a hub.
    Token(token::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Publish(args) => publish::run(args),
        Command::Listen(args) => listen::run(args),
        Command::Bench(args) => sse_bench::run(*args),
        Command::Decode(args) => decode::run(args),
        Command::Token(args) => token::run(args),
    };
    match result {
        Ok(code) => code,
        // A reader that went away (`sse decode … | head -1`) is a normal
        // end for a command-line filter, not an error to report.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sse: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || e.downcast_ref::<serde_json::Error>()
                .and_then(|j| j.io_error_kind())
                .is_some_and(|k| k == std::io::ErrorKind::BrokenPipe)
    })
}

//! `sse`: the command-line front of the workspace. Thin by design: each
//! subcommand parses its arguments and calls into a library crate.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod decode;

#[derive(Parser)]
#[command(name = "sse", version, about = "Server-Sent Events, end to end")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode a captured event stream into one JSON object per line.
    Decode(decode::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Decode(args) => decode::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("sse: {err:#}");
            ExitCode::FAILURE
        }
    }
}

//! `sse-bench`: the same load generator as `sse bench`, as a stand-alone
//! binary (for developing this crate and for its end-to-end tests).

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "sse-bench", version)]
struct Cli {
    #[command(flatten)]
    bench: sse_bench::Args,
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    // Workers re-execute this binary with no subcommand in between.
    cli.bench.self_args = Vec::new();
    match sse_bench::run(cli.bench) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("sse-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

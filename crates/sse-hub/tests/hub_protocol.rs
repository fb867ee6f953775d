//! Black-box HTTP tests of the hub (MERCURE.md, requirement by
//! requirement): the router served by `sse_server::serve` on 127.0.0.1:0,
//! spoken to over raw TCP. Each test is named after the requirement it
//! checks (M… for S/H, L… for the legacy generation); durability, fan-out
//! and limits tests follow. Waits are on events, each bounded.
//!
//! The cases live in `hub_support/cases.rs`; `sse-cli`'s `mercure_binary`
//! test runs the same cases against the `sse serve` binary.

mod hub_support;

use hub_support::*;

/// Here every case runs: the hub is in process.
macro_rules! in_process_only {
    ($($case:item)*) => { $($case)* };
}

include!("hub_support/cases.rs");

//! The hub's protocol cases (MERCURE.md, requirement by requirement, both
//! generations, every error status) against the running `sse serve`
//! binary: the same cases as `sse-hub`'s `hub_protocol` test, each on its
//! own `sse serve --store memory://` process configured by flags.
//!
//! Cases that need the hub in process (its metrics object, a store the
//! test opens itself, settings with no flag) run only there.

// The harness is sse-hub's, shared by path so that both targets speak to
// the hub the same way.
#[path = "../../sse-hub/tests/hub_support/mod.rs"]
mod hub_support;

mod binary_hub;

// Glob for the harness, with the binary-backed `TestHub` taking the name's
// place (an explicit import shadows a glob one).
use binary_hub::TestHub;
use hub_support::*;

/// Here the cases that need the hub in process are left out.
macro_rules! in_process_only {
    ($($case:item)*) => {};
}

include!("../../sse-hub/tests/hub_support/cases.rs");

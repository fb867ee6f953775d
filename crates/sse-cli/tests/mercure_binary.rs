//! The hub's protocol cases (MERCURE.md, requirement by requirement, both
//! generations, every error status) against the running `sse serve`
//! binary: the same cases as `sse-hub`'s `hub_protocol` test
//! (`sse_testkit::mercure::cases`), each on its own
//! `sse serve --store memory://` process configured by flags.
//!
//! Cases that need the hub in process (its metrics object, a store the
//! test opens itself, settings with no flag) run only there.

sse_testkit::mercure_cases!(sse_testkit::mercure::BinaryHub);

//! A Mercure hub as a library.
#![deny(missing_docs)]

pub mod auth;
pub mod debug_page;
mod fanout;
mod http;
pub mod hub;
pub mod publish;
mod rejection;
pub mod store;
pub mod subscribe;
pub mod topic;
mod update;

pub use hub::{Caller, Hub, HubConfig, HubRoutes};
pub use rejection::Rejection;
pub use update::{generate_id, Update};

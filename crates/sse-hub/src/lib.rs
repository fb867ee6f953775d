//! A Mercure hub as a library (work in progress).

pub mod auth;
pub mod debug_page;
pub mod hub;
pub mod publish;
pub mod store;
pub mod subscribe;
pub mod topic;
mod update;

pub use hub::{Hub, HubConfig};
pub use update::Update;

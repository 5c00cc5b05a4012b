//! Version 1 of the REST API under `/api/v1`.

pub mod admin;
pub mod auth;
pub mod channels;
pub mod error;
pub mod keys;
pub mod roles;
pub mod ws;

pub use roles::{Attributes, Role};

//! Version 1 of the REST API under `/api/v1`.

pub mod admin;
pub mod auth;
pub mod error;
pub mod roles;

pub use roles::{Attributes, Role};

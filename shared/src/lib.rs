//! # passerelle-shared
//!
//! What the Passerelle server and its clients agree on:
//!
//! - [`protocol`]: the REST DTOs and WebSocket frames of `/api/v1`, typed once so that the
//!   server, the Rust SDK and the tests cannot drift apart;
//! - [`crypto`]: the end-to-end encryption library (docs/PROTOCOL.md), built on ring;
//! - [`ids`]: validated logins and the typed ids of users, devices, channels and institutions.
//!
//! The Rust client SDK lives behind the `client` feature.

#[cfg(feature = "client")]
pub mod client;
pub mod crypto;
pub mod fuzzing;
pub mod ids;
pub mod privacy;
pub mod protocol;

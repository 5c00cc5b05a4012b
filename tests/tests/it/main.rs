//! The integration suite: real servers on ephemeral ports, real databases.

mod auth;
mod hygiene;
mod migrations;
mod roles;
mod tls;

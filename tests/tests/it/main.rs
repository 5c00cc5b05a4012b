//! The integration suite: real servers on ephemeral ports, real databases.

mod abuse;
mod audit;
mod auditor_view;
mod auth;
mod backup;
mod cases;
mod charter;
mod exclusion;
mod hub;
mod hygiene;
mod keys;
mod layering;
mod linking;
mod matrix;
mod migrations;
mod provisional;
mod reports;
mod retention;
mod roles;
mod sdk;
mod support;
mod tls;

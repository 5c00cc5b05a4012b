//! Version 1 of the REST API under `/api/v1`.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod case_identity;
pub mod cases;
pub mod channels;
pub mod charter;
pub mod error;
pub mod field_reports;
pub mod invitations;
pub mod key_log;
pub mod keys;
pub mod meetings;
pub mod notices;
pub mod referrals;
pub mod roles;
pub mod routes;
pub mod sealed_meta;
pub mod webauthn;
pub mod ws;

pub use roles::{Attributes, InstitutionKind, Role};

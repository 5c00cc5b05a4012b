//! The services: what each request does, between the gate that lets it through and the
//! database it changes. One module per domain; each function takes the `AppState` and the
//! caller, records what it did in the access log, and returns a typed result or an
//! `ApiError` (docs/ARCHITECTURE.md).

pub mod accounts;
pub mod attachments;
pub mod case_identity;
pub mod cases;
pub mod channels;
pub mod charter;
pub mod coordinators;
pub mod exclusion;
pub mod field_reports;
pub mod group_coordinators;
pub mod import;
pub mod invitations;
pub mod key_log;
pub mod keys;
pub mod linking;
pub mod meetings;
pub mod notices;
pub mod practice;
pub mod prekeys;
pub mod referrals;
pub mod reports;
pub mod retention;
pub mod sealed;

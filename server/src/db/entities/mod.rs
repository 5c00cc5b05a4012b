//! sea-orm entities of the main database. Tables are created by `passerelle-migrations`.

#![allow(unreachable_pub)] // sea-orm derives public items; the module itself is crate-private.

pub(crate) mod access_change;
pub(crate) mod annual_report;
pub(crate) mod archive_access;
pub(crate) mod attachment;
pub(crate) mod case_file;
pub(crate) mod case_identity;
pub(crate) mod case_identity_key;
pub(crate) mod channel;
pub(crate) mod channel_institution;
pub(crate) mod channel_member;
pub(crate) mod channel_rules;
pub(crate) mod charter;
pub(crate) mod charter_acceptance;
pub(crate) mod device;
pub(crate) mod device_link;
pub(crate) mod device_prekey;
pub(crate) mod epoch_key;
pub(crate) mod field_report;
pub(crate) mod group_coordinator;
pub(crate) mod identity_key;
pub(crate) mod institution;
pub(crate) mod invitation;
pub(crate) mod key_backup;
pub(crate) mod key_backup_page;
pub(crate) mod key_log_entry;
pub(crate) mod key_log_state;
pub(crate) mod login_lockout;
pub(crate) mod meeting;
pub(crate) mod meeting_envelope;
pub(crate) mod meeting_item;
pub(crate) mod membership_event;
pub(crate) mod membership_log_record;
pub(crate) mod message;
pub(crate) mod offline_notice;
pub(crate) mod referral;
pub(crate) mod report_counter;
pub(crate) mod rules_acceptance;
pub(crate) mod session;
pub(crate) mod user;
pub(crate) mod webauthn_challenge;
pub(crate) mod webauthn_credential;
pub(crate) mod withheld_key;

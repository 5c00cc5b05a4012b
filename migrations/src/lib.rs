//! # passerelle-migrations
//!
//! One file per migration, naming tables by string so that old migrations never depend
//! on today's entities. The same migrations run on SQLite and PostgreSQL, at start-up.
//!
//! The access log has its own [`audit::Migrator`]: it lives in its own database.

pub use sea_orm_migration::prelude::*;

pub mod audit;
mod columns;
mod m0001_accounts;
mod m0002_keys_and_channels;
mod m0003_charter_and_cases;
mod m0004_device_links;
mod m0005_withheld_keys;
mod m0006_access_changes;
mod m0007_login_lockouts;
mod m0007_webauthn;
mod m0008_provisional_passwords;
mod m0009_institution_kinds;
mod m0010_report_counts;
mod m0011_case_reviews;
mod m0013_invitations;
mod m0013_offline_notices;
mod m0014_field_reports;
mod m0015_case_schemes;
mod m0016_referrals;
mod m0017_meetings;
mod m0018_case_identity;
mod m0019_group_coordinators;
mod m0020_membership_events;
mod m0021_referral_schemes;
mod m0022_membership_log;
mod m0023_signed_prekeys;
mod m0024_sealed_titles;
mod m0025_key_log;
mod m0029_sealed_note_sealer;
mod m0030_key_backup_pages;

/// The migrations of the main database, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_accounts::Migration),
            Box::new(m0002_keys_and_channels::Migration),
            Box::new(m0003_charter_and_cases::Migration),
            Box::new(m0004_device_links::Migration),
            Box::new(m0005_withheld_keys::Migration),
            Box::new(m0006_access_changes::Migration),
            Box::new(m0007_webauthn::Migration),
            Box::new(m0007_login_lockouts::Migration),
            Box::new(m0008_provisional_passwords::Migration),
            Box::new(m0009_institution_kinds::Migration),
            Box::new(m0010_report_counts::Migration),
            Box::new(m0011_case_reviews::Migration),
            Box::new(m0013_offline_notices::Migration),
            Box::new(m0013_invitations::Migration),
            Box::new(m0014_field_reports::Migration),
            Box::new(m0015_case_schemes::Migration),
            Box::new(m0016_referrals::Migration),
            Box::new(m0017_meetings::Migration),
            Box::new(m0018_case_identity::Migration),
            Box::new(m0019_group_coordinators::Migration),
            Box::new(m0020_membership_events::Migration),
            Box::new(m0021_referral_schemes::Migration),
            Box::new(m0022_membership_log::Migration),
            Box::new(m0023_signed_prekeys::Migration),
            Box::new(m0024_sealed_titles::Migration),
            Box::new(m0025_key_log::Migration),
            Box::new(m0029_sealed_note_sealer::Migration),
            Box::new(m0030_key_backup_pages::Migration),
        ]
    }
}

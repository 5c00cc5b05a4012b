//! Authorisation decisions: pure functions, the one place where "may this role do this?"
//! is answered (DESIGN.md §1, CHARTER.md C1, C4, C6).

use passerelle_shared::protocol::v1::Role;

/// Something a role may or may not do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    /// Manage institutions and accounts (admin).
    ManageAccounts,
    /// Read, filter, export and verify the access log (auditor).
    ReadAuditLog,
    /// Read the anonymous annual report (coordinator, admin).
    ReadAnnualReport,
    /// Create channels and practice-analysis sessions (coordinator).
    CreateChannels,
    /// Add and remove channel members (coordinator).
    ManageMembers,
    /// Browse the directory of colleagues (everyone but external participants).
    BrowseDirectory,
    /// Take part in channels one was added to.
    UseChannels,
}

/// Whether `role` has `capability`. Duties are separate: the admin does not read the
/// access log, the auditor does not manage accounts, and neither reads messages.
pub fn role_can(role: Role, capability: Capability) -> bool {
    use Capability::*;
    use Role::*;
    match capability {
        ManageAccounts => role == Admin,
        ReadAuditLog => role == Auditor,
        ReadAnnualReport => matches!(role, Coordinator | Admin),
        CreateChannels | ManageMembers => role == Coordinator,
        BrowseDirectory => matches!(role, Member | Coordinator | Admin),
        UseChannels => matches!(role, Member | Coordinator | External),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_cannot_read_the_access_log_and_the_auditor_cannot_manage_accounts() {
        assert!(!role_can(Role::Admin, Capability::ReadAuditLog));
        assert!(!role_can(Role::Auditor, Capability::ManageAccounts));
        assert!(role_can(Role::Auditor, Capability::ReadAuditLog));
        assert!(role_can(Role::Admin, Capability::ManageAccounts));
    }

    #[test]
    fn external_participants_cannot_create_invite_or_browse() {
        for capability in [
            Capability::CreateChannels,
            Capability::ManageMembers,
            Capability::BrowseDirectory,
        ] {
            assert!(!role_can(Role::External, capability), "{capability:?}");
        }
        assert!(role_can(Role::External, Capability::UseChannels));
    }

    #[test]
    fn only_coordinators_create_channels() {
        for role in Role::ALL {
            assert_eq!(
                role_can(role, Capability::CreateChannels),
                role == Role::Coordinator
            );
        }
    }
}

//! Authorisation decisions: pure functions, the one place where "may this role do this?"
//! and "may this person read or write this channel now?" are answered (docs/ARCHITECTURE.md,
//! CHARTER.md C1, C2, C4–C6, C9, C11).
//!
//! The callers gather the facts from the database ([`GateFacts`]); the decisions here take
//! no connection and no clock, so that each rule is tested on its own.

use passerelle_shared::protocol::v1::channels::{ChannelKind, LegalRegime};
use passerelle_shared::protocol::v1::{Attributes, Role};

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
    /// Publish a new version of the charter (admin).
    PublishCharter,
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
        PublishCharter => role == Admin,
    }
}

/// What the legal regimes and the allow-list look at in a person (CHARTER.md C5).
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// Role, if the stored one is known.
    pub role: Option<Role>,
    /// Disabled by an admin.
    pub disabled: bool,
    /// Institution id.
    pub institution_id: &'a str,
    /// Attributes the regimes check.
    pub attributes: Attributes,
}

/// Why a person cannot be (or can no longer be) a member of a channel of `regime` open to
/// `institutions`, if they cannot: checked on every addition, and again on every access
/// so that a changed attribute or institution takes effect at once.
pub fn join_refusal(
    candidate: &Candidate<'_>,
    regime: LegalRegime,
    institutions: &[String],
) -> Option<&'static str> {
    let can_use = candidate
        .role
        .is_some_and(|role| role_can(role, Capability::UseChannels));
    if !can_use || candidate.disabled {
        return Some("role_cannot_join");
    }
    if !institutions.iter().any(|i| i == candidate.institution_id) {
        return Some("institution_not_allowed");
    }
    let meets_regime = match regime {
        LegalRegime::ClspdConfidential => true,
        LegalRegime::SharedSecretSocial => candidate.attributes.social_action_professional,
        LegalRegime::ChildProtection => candidate.attributes.bound_by_professional_secrecy,
    };
    (!meets_regime).then_some("regime_not_met")
}

/// What a request does with a channel's content (messages, keys, attachments, members).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read history, keys, attachments, the member list; receive live frames.
    Read,
    /// Send, upload, publish an epoch key, add a member, type.
    Write,
}

/// Where the caller stands with the charter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CharterFacts {
    /// The admin has published no charter yet: confidential channels stay closed.
    NotPublished,
    /// A version is in force; has the caller accepted it?
    Current {
        /// Accepted by the caller.
        accepted: bool,
    },
}

/// Where the caller stands with the internal rules that apply to the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RulesFacts {
    /// No internal rules apply (direct conversations).
    NotRequired,
    /// The coordinator has published none yet: the channel stays closed.
    NotPublished,
    /// A version is in force; has the caller accepted it?
    Current {
        /// Accepted by the caller.
        accepted: bool,
    },
}

/// Where a channel is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// Open.
    Active,
    /// A case whose follow-up ended: read-only, readable with a written reason.
    Archived,
    /// Being destroyed, or destroyed: nothing is left to read.
    Gone,
}

impl Lifecycle {
    /// From the stored status.
    pub fn parse(status: &str) -> Lifecycle {
        match status {
            "active" => Lifecycle::Active,
            "archived" => Lifecycle::Archived,
            _ => Lifecycle::Gone,
        }
    }
}

/// Everything the charter gate decides on, for one member and one channel.
#[derive(Clone, Copy, Debug)]
pub struct GateFacts {
    /// Kind of channel.
    pub kind: ChannelKind,
    /// Lifecycle.
    pub lifecycle: Lifecycle,
    /// [`join_refusal`] of the member now.
    pub membership_refusal: Option<&'static str>,
    /// The charter.
    pub charter: CharterFacts,
    /// The internal rules.
    pub rules: RulesFacts,
    /// The member gave a written reason to read this archive and it has not expired.
    pub archive_access: bool,
    /// A practice session's start and end (unix ms).
    pub session: Option<(i64, i64)>,
}

/// The charter gate (CHARTER.md C2, C5, C9, C11): may a member read or write a channel
/// now? `Err` carries the stable code of the refusal. Order matters: the first unmet
/// condition is the one the user is asked to fix.
pub fn channel_access(facts: &GateFacts, access: Access, now_ms: i64) -> Result<(), &'static str> {
    if facts.lifecycle == Lifecycle::Gone {
        return Err("not_found");
    }
    if let Some(refusal) = facts.membership_refusal {
        return Err(refusal);
    }
    match facts.charter {
        CharterFacts::NotPublished => return Err("charter_not_published"),
        CharterFacts::Current { accepted: false } => return Err("charter_not_accepted"),
        CharterFacts::Current { accepted: true } => {}
    }
    match facts.rules {
        RulesFacts::NotPublished => return Err("rules_not_published"),
        RulesFacts::Current { accepted: false } => return Err("rules_not_accepted"),
        RulesFacts::NotRequired | RulesFacts::Current { accepted: true } => {}
    }
    if facts.lifecycle == Lifecycle::Archived {
        return match access {
            Access::Write => Err("channel_closed"),
            Access::Read if facts.archive_access => Ok(()),
            Access::Read => Err("archive_reason_required"),
        };
    }
    if let (Access::Write, Some((starts_at, ends_at))) = (access, facts.session) {
        if now_ms >= ends_at {
            return Err("session_ended");
        }
        if now_ms < starts_at {
            return Err("session_not_started");
        }
    }
    Ok(())
}

/// Whether this kind of channel follows a working group's internal rules.
pub fn rules_apply(kind: ChannelKind) -> bool {
    kind != ChannelKind::Direct
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

    fn open() -> GateFacts {
        GateFacts {
            kind: ChannelKind::WorkingGroup,
            lifecycle: Lifecycle::Active,
            membership_refusal: None,
            charter: CharterFacts::Current { accepted: true },
            rules: RulesFacts::Current { accepted: true },
            archive_access: false,
            session: None,
        }
    }

    #[test]
    fn a_member_who_accepted_both_texts_reads_and_writes() {
        assert_eq!(channel_access(&open(), Access::Read, 0), Ok(()));
        assert_eq!(channel_access(&open(), Access::Write, 0), Ok(()));
    }

    #[test]
    fn the_charter_comes_first_then_the_rules() {
        let mut facts = open();
        facts.charter = CharterFacts::NotPublished;
        facts.rules = RulesFacts::NotPublished;
        assert_eq!(
            channel_access(&facts, Access::Read, 0),
            Err("charter_not_published")
        );
        facts.charter = CharterFacts::Current { accepted: false };
        assert_eq!(
            channel_access(&facts, Access::Read, 0),
            Err("charter_not_accepted")
        );
        facts.charter = CharterFacts::Current { accepted: true };
        assert_eq!(
            channel_access(&facts, Access::Read, 0),
            Err("rules_not_published")
        );
        facts.rules = RulesFacts::Current { accepted: false };
        assert_eq!(
            channel_access(&facts, Access::Write, 0),
            Err("rules_not_accepted")
        );
        facts.kind = ChannelKind::Direct;
        facts.rules = RulesFacts::NotRequired;
        assert_eq!(channel_access(&facts, Access::Write, 0), Ok(()));
    }

    #[test]
    fn an_archive_is_read_only_and_needs_a_reason_to_be_read() {
        let mut facts = open();
        facts.kind = ChannelKind::Case;
        facts.lifecycle = Lifecycle::Archived;
        assert_eq!(
            channel_access(&facts, Access::Read, 0),
            Err("archive_reason_required")
        );
        facts.archive_access = true;
        assert_eq!(channel_access(&facts, Access::Read, 0), Ok(()));
        assert_eq!(
            channel_access(&facts, Access::Write, 0),
            Err("channel_closed")
        );
    }

    #[test]
    fn a_session_is_writable_between_its_start_and_its_end_and_readable_after() {
        let mut facts = open();
        facts.kind = ChannelKind::PracticeSession;
        facts.session = Some((100, 200));
        assert_eq!(
            channel_access(&facts, Access::Write, 99),
            Err("session_not_started")
        );
        assert_eq!(channel_access(&facts, Access::Write, 100), Ok(()));
        assert_eq!(
            channel_access(&facts, Access::Write, 200),
            Err("session_ended")
        );
        assert_eq!(channel_access(&facts, Access::Read, 500), Ok(()));
    }

    #[test]
    fn a_member_who_no_longer_meets_the_regime_is_refused_even_with_every_acceptance() {
        let mut facts = open();
        facts.membership_refusal = Some("regime_not_met");
        assert_eq!(
            channel_access(&facts, Access::Read, 0),
            Err("regime_not_met")
        );
        facts.membership_refusal = None;
        facts.lifecycle = Lifecycle::Gone;
        assert_eq!(channel_access(&facts, Access::Read, 0), Err("not_found"));
    }

    #[test]
    fn regimes_check_the_attributes_and_the_allow_list() {
        let institutions = vec!["ccas".to_owned()];
        let mut candidate = Candidate {
            role: Some(Role::Member),
            disabled: false,
            institution_id: "ccas",
            attributes: Attributes::default(),
        };
        assert_eq!(
            join_refusal(&candidate, LegalRegime::ClspdConfidential, &institutions),
            None
        );
        assert_eq!(
            join_refusal(&candidate, LegalRegime::ChildProtection, &institutions),
            Some("regime_not_met")
        );
        assert_eq!(
            join_refusal(&candidate, LegalRegime::SharedSecretSocial, &institutions),
            Some("regime_not_met")
        );
        candidate.attributes.bound_by_professional_secrecy = true;
        candidate.attributes.social_action_professional = true;
        assert_eq!(
            join_refusal(&candidate, LegalRegime::ChildProtection, &institutions),
            None
        );
        candidate.institution_id = "police";
        assert_eq!(
            join_refusal(&candidate, LegalRegime::ChildProtection, &institutions),
            Some("institution_not_allowed")
        );
        candidate.role = Some(Role::Auditor);
        assert_eq!(
            join_refusal(&candidate, LegalRegime::ClspdConfidential, &institutions),
            Some("role_cannot_join")
        );
    }

    #[test]
    fn only_the_admin_publishes_the_charter() {
        for role in Role::ALL {
            assert_eq!(
                role_can(role, Capability::PublishCharter),
                role == Role::Admin
            );
        }
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

//! Authorisation decisions: pure functions, the one place where "may this role do this?"
//! and "may this person read or write this channel now?" are answered (docs/ARCHITECTURE.md,
//! CHARTER.md C1, C2, C4–C6, C9, C11).
//!
//! The callers gather the facts from the database ([`GateFacts`]); the decisions here take
//! no connection and no clock, so that each rule is tested on its own.

use passerelle_shared::protocol::v1::channels::{ChannelKind, LegalRegime};
use passerelle_shared::protocol::v1::{Attributes, InstitutionKind, Role};

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

/// A person's part in the mediators' field reports (issue 21, item 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldReportDuty {
    /// A mediator: files reports to their own groups and sees only their own reports.
    Reporter,
    /// A professional of a group: sees the reports addressed to it, takes them in charge
    /// and answers them.
    Handler,
}

/// What `role`, in an institution of `kind`, does with field reports, if anything. Being a
/// mediator is a matter of institution, not of role: the mediators are usually external
/// accounts, who browse no directory and gain nothing here beyond their own reports.
pub fn field_report_duty(role: Role, kind: InstitutionKind) -> Option<FieldReportDuty> {
    if !role_can(role, Capability::UseChannels) {
        return None;
    }
    if kind == InstitutionKind::Mediation {
        return Some(FieldReportDuty::Reporter);
    }
    matches!(role, Role::Member | Role::Coordinator).then_some(FieldReportDuty::Handler)
}

/// A step of the referral workflow (issue 21, item 1; docs/PROTOCOL.md §17).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferralStep {
    /// Open a referral (the referring capability).
    Open,
    /// Open an ACTE referral: the school that excluded a pupil refers them to the host
    /// structure itself (issue 21, item 4), as the intervenant social may.
    OpenActe,
    /// List referrals and read one.
    Read,
    /// Accept or decline a proposed referral.
    Decide,
    /// Record that the follow-up started, then close the referral.
    Advance,
}

/// Where a person stands with one referral: the facts [`referral_allows`] decides on. For
/// [`ReferralStep::Open`] and [`ReferralStep::OpenActe`] only `role` and `kind` matter.
#[derive(Clone, Copy, Debug)]
pub struct ReferralParty {
    /// Role.
    pub role: Role,
    /// The kind of their institution.
    pub kind: InstitutionKind,
    /// They opened the referral.
    pub is_referrer: bool,
    /// They belong to the target institution.
    pub of_target: bool,
    /// They are the referent of the case the acceptance opened.
    pub is_referent: bool,
}

/// Whether `party` may take `step`. The referring capability belongs to the professionals
/// of an institution of kind `intervention_sociale_commissariat` (as filing field reports
/// belongs to the mediation's); the professionals of the target institution decide, never
/// the referrer; the referent follows and closes; the coordinator, who answers for the
/// CLSPD's cases (CHARTER.md C1, C7), may decide and follow any. External participants
/// take no part (C6).
pub fn referral_allows(party: &ReferralParty, step: ReferralStep) -> bool {
    let professional = matches!(party.role, Role::Member | Role::Coordinator)
        && role_can(party.role, Capability::UseChannels);
    let coordinator = party.role == Role::Coordinator;
    match step {
        ReferralStep::Open => {
            professional && party.kind == InstitutionKind::InterventionSocialeCommissariat
        }
        ReferralStep::OpenActe => {
            professional
                && matches!(
                    party.kind,
                    InstitutionKind::InterventionSocialeCommissariat
                        | InstitutionKind::EducationNationale
                )
        }
        ReferralStep::Read => professional && (party.is_referrer || party.of_target || coordinator),
        ReferralStep::Decide => {
            coordinator || (professional && party.of_target && !party.is_referrer)
        }
        ReferralStep::Advance => coordinator || (professional && party.is_referent),
    }
}

/// Whether someone of `role` may use the referral pages at all: every professional may
/// receive a referral for their institution.
pub fn may_use_referrals(role: Role) -> bool {
    matches!(role, Role::Member | Role::Coordinator)
}

/// Whether a caller of `role` may issue an invitation link for an account: an admin for
/// any account, a coordinator for the people of their own working groups
/// (`shares_working_group`: the invited account is a member of an active working group
/// the coordinator is a member of).
pub fn may_invite(role: Role, shares_working_group: bool) -> bool {
    role_can(role, Capability::ManageAccounts)
        || (role_can(role, Capability::ManageMembers) && shares_working_group)
}

/// A person's part in the meetings of their working groups (issue 21, item 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeetingDuty {
    /// Schedules meetings, records attendance, decisions and minutes, and closes them.
    Organiser,
    /// Reads the meetings of their groups (and their printable version), records nothing.
    Participant,
}

/// What `role` does with the meetings of the groups it belongs to, if anything. The
/// coordinator and the professionals (members) run the cellule de veille; an external
/// participant attends and reads; the admin and the auditor, who read no channel, have no
/// part.
pub fn meeting_duty(role: Role) -> Option<MeetingDuty> {
    match role {
        Role::Coordinator | Role::Member => Some(MeetingDuty::Organiser),
        Role::External => Some(MeetingDuty::Participant),
        Role::Admin | Role::Auditor => None,
    }
}

/// Whether a case attached to `case_group` may be on an agenda of `meeting_group` for
/// someone of `role` who sees the case: a group reviews its own cases; a coordinator also
/// brings the cases they follow themselves.
pub fn agenda_admits(role: Role, case_group: Option<&str>, meeting_group: &str) -> bool {
    case_group == Some(meeting_group) || role == Role::Coordinator
}

/// Whether a person coordinates a channel: holds the coordinator role, or is named a
/// coordinator of the working group the channel is (or belongs to, for a case or a
/// session) — CHARTER.md C1. The one place "coordinator of this case" is decided: every
/// coordinator's power over a group, its cases and sessions asks this.
pub fn coordinates(role: Role, named_by_group: bool) -> bool {
    role_can(role, Capability::ManageMembers)
        || (named_by_group && role_can(role, Capability::UseChannels) && role != Role::External)
}

/// Whether a member of a case may read the person's identity (CHARTER.md C7): its
/// coordinators and its referent, nobody else.
pub fn reads_identity(coordinates_case: bool, is_referent: bool) -> bool {
    coordinates_case || is_referent
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

/// Why a request about a channel is refused: one stable code and one French message, the
/// same over REST (`ApiError::Blocked`, or 422 for an addition) and in WebSocket `error`
/// frames, so that a refusal reads the same wherever it is met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The channel is destroyed, or being destroyed.
    NotFound,
    /// The caller is not (or no longer) a member.
    NotMember,
    /// The role may not use channels, or the account is disabled.
    RoleCannotJoin,
    /// The person's institution is not on the channel's allow-list.
    InstitutionNotAllowed,
    /// The person lacks the attribute the channel's legal regime requires (C5).
    RegimeNotMet,
    /// No charter is published yet (C2).
    CharterNotPublished,
    /// The charter in force is not accepted (C2).
    CharterNotAccepted,
    /// The group's internal rules are not published yet.
    RulesNotPublished,
    /// The group's internal rules in force are not accepted.
    RulesNotAccepted,
    /// An archive is read only with a written reason (C11).
    ArchiveReasonRequired,
    /// The channel is read-only (archived).
    ChannelClosed,
    /// The practice session is over (read-only, C9).
    SessionEnded,
    /// The practice session has not started.
    SessionNotStarted,
    /// The device was revoked: it gets nothing more (C3).
    DeviceRevoked,
    /// The person's identity is for the case's coordinators and referent only (C7).
    IdentityRestricted,
    /// Only a coordinator of the channel (or of its group) may do this (C1).
    NotCoordinator,
}

impl Refusal {
    /// The stable code clients switch on.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NotFound => "not_found",
            Refusal::NotMember => "not_member",
            Refusal::RoleCannotJoin => "role_cannot_join",
            Refusal::InstitutionNotAllowed => "institution_not_allowed",
            Refusal::RegimeNotMet => "regime_not_met",
            Refusal::CharterNotPublished => "charter_not_published",
            Refusal::CharterNotAccepted => "charter_not_accepted",
            Refusal::RulesNotPublished => "rules_not_published",
            Refusal::RulesNotAccepted => "rules_not_accepted",
            Refusal::ArchiveReasonRequired => "archive_reason_required",
            Refusal::ChannelClosed => "channel_closed",
            Refusal::SessionEnded => "session_ended",
            Refusal::SessionNotStarted => "session_not_started",
            Refusal::DeviceRevoked => "device_revoked",
            Refusal::IdentityRestricted => "identity_restricted",
            Refusal::NotCoordinator => "not_coordinator",
        }
    }

    /// The French message shown to people.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::NotFound => "Ce canal n'existe plus.",
            Refusal::NotMember => "Vous n'êtes pas membre de ce canal.",
            Refusal::RoleCannotJoin => "Ce compte ne peut pas participer aux canaux.",
            Refusal::InstitutionNotAllowed => {
                "Votre institution n'est pas autorisée dans ce canal."
            }
            Refusal::RegimeNotMet => {
                "Vous ne remplissez plus les conditions du régime juridique de ce canal."
            }
            Refusal::CharterNotPublished => {
                "Aucune charte n'a encore été publiée : les canaux confidentiels restent fermés \
                 jusqu'à sa publication par l'administrateur."
            }
            Refusal::CharterNotAccepted => {
                "Acceptez la version en vigueur de la charte d'échange d'informations pour \
                 accéder aux canaux confidentiels."
            }
            Refusal::RulesNotPublished => {
                "Le règlement intérieur de ce groupe n'a pas encore été publié par sa coordination."
            }
            Refusal::RulesNotAccepted => {
                "Acceptez la version en vigueur du règlement intérieur de ce groupe pour y accéder."
            }
            Refusal::ArchiveReasonRequired => {
                "Ce dossier est archivé : indiquez par écrit le motif de sa consultation."
            }
            Refusal::ChannelClosed => "Ce canal est en lecture seule.",
            Refusal::SessionEnded => {
                "La séance d'analyse de pratiques est terminée : elle est désormais en lecture seule."
            }
            Refusal::SessionNotStarted => "La séance d'analyse de pratiques n'a pas encore commencé.",
            Refusal::DeviceRevoked => "Cet appareil a été révoqué : il ne reçoit plus aucune clé.",
            Refusal::IdentityRestricted => {
                "L'identité de la personne n'est accessible qu'à la coordination et au référent \
                 du dossier."
            }
            Refusal::NotCoordinator => {
                "Seule la coordination de ce groupe (ou un coordinateur du CLSPD) peut faire cela."
            }
        }
    }
}

/// Why a person cannot be (or can no longer be) a member of a channel of `regime` open to
/// `institutions`, if they cannot: checked on every addition, and again on every access
/// so that a changed attribute or institution takes effect at once.
pub fn join_refusal(
    candidate: &Candidate<'_>,
    regime: LegalRegime,
    institutions: &[String],
) -> Option<Refusal> {
    let can_use = candidate
        .role
        .is_some_and(|role| role_can(role, Capability::UseChannels));
    if !can_use || candidate.disabled {
        return Some(Refusal::RoleCannotJoin);
    }
    if !institutions.iter().any(|i| i == candidate.institution_id) {
        return Some(Refusal::InstitutionNotAllowed);
    }
    let meets_regime = match regime {
        LegalRegime::ClspdConfidential => true,
        LegalRegime::SharedSecretSocial => candidate.attributes.social_action_professional,
        LegalRegime::ChildProtection => candidate.attributes.bound_by_professional_secrecy,
    };
    (!meets_regime).then_some(Refusal::RegimeNotMet)
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
    pub membership_refusal: Option<Refusal>,
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
/// now? `Err` carries the refusal. Order matters: the first unmet
/// condition is the one the user is asked to fix.
pub fn channel_access(facts: &GateFacts, access: Access, now_ms: i64) -> Result<(), Refusal> {
    if facts.lifecycle == Lifecycle::Gone {
        return Err(Refusal::NotFound);
    }
    if let Some(refusal) = facts.membership_refusal {
        return Err(refusal);
    }
    match facts.charter {
        CharterFacts::NotPublished => return Err(Refusal::CharterNotPublished),
        CharterFacts::Current { accepted: false } => return Err(Refusal::CharterNotAccepted),
        CharterFacts::Current { accepted: true } => {}
    }
    match facts.rules {
        RulesFacts::NotPublished => return Err(Refusal::RulesNotPublished),
        RulesFacts::Current { accepted: false } => return Err(Refusal::RulesNotAccepted),
        RulesFacts::NotRequired | RulesFacts::Current { accepted: true } => {}
    }
    if facts.lifecycle == Lifecycle::Archived {
        return match access {
            Access::Write => Err(Refusal::ChannelClosed),
            Access::Read if facts.archive_access => Ok(()),
            Access::Read => Err(Refusal::ArchiveReasonRequired),
        };
    }
    if let (Access::Write, Some((starts_at, ends_at))) = (access, facts.session) {
        if now_ms >= ends_at {
            return Err(Refusal::SessionEnded);
        }
        if now_ms < starts_at {
            return Err(Refusal::SessionNotStarted);
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
    fn the_intervenant_social_refers_the_target_decides_the_referent_follows() {
        let party = |role, kind, is_referrer, of_target, is_referent| ReferralParty {
            role,
            kind,
            is_referrer,
            of_target,
            is_referent,
        };
        let isc = InstitutionKind::InterventionSocialeCommissariat;
        let social = InstitutionKind::ActionSocialeDepartement;
        assert!(referral_allows(
            &party(Role::Member, isc, false, false, false),
            ReferralStep::Open
        ));
        assert!(!referral_allows(
            &party(Role::External, isc, false, false, false),
            ReferralStep::Open
        ));
        assert!(!referral_allows(
            &party(Role::Member, social, false, false, false),
            ReferralStep::Open
        ));
        // ACTE: the school refers an excluded pupil itself; nobody else but the
        // intervenant social does.
        let school = InstitutionKind::EducationNationale;
        assert!(referral_allows(
            &party(Role::Member, school, false, false, false),
            ReferralStep::OpenActe
        ));
        assert!(!referral_allows(
            &party(Role::Member, school, false, false, false),
            ReferralStep::Open
        ));
        assert!(referral_allows(
            &party(Role::Member, isc, false, false, false),
            ReferralStep::OpenActe
        ));
        assert!(!referral_allows(
            &party(Role::Member, social, false, false, false),
            ReferralStep::OpenActe
        ));
        assert!(!referral_allows(
            &party(Role::External, school, false, false, false),
            ReferralStep::OpenActe
        ));
        let referrer = party(Role::Member, isc, true, false, false);
        assert!(referral_allows(&referrer, ReferralStep::Read));
        assert!(!referral_allows(&referrer, ReferralStep::Decide));
        assert!(!referral_allows(&referrer, ReferralStep::Advance));
        let target = party(Role::Member, social, false, true, false);
        assert!(referral_allows(&target, ReferralStep::Decide));
        assert!(!referral_allows(&target, ReferralStep::Advance));
        assert!(referral_allows(
            &party(Role::Member, social, false, true, true),
            ReferralStep::Advance
        ));
        let stranger = party(
            Role::Member,
            InstitutionKind::PoliceNationale,
            false,
            false,
            false,
        );
        assert!(!referral_allows(&stranger, ReferralStep::Read));
        assert!(!referral_allows(&stranger, ReferralStep::Decide));
        let coordinator = party(
            Role::Coordinator,
            InstitutionKind::Collectivite,
            false,
            false,
            false,
        );
        for step in [
            ReferralStep::Read,
            ReferralStep::Decide,
            ReferralStep::Advance,
        ] {
            assert!(referral_allows(&coordinator, step), "{step:?}");
        }
        for role in [Role::Admin, Role::Auditor] {
            assert!(!referral_allows(
                &party(role, social, false, true, true),
                ReferralStep::Read
            ));
        }
    }

    #[test]
    fn an_admin_invites_anyone_a_coordinator_only_the_people_of_their_groups() {
        assert!(may_invite(Role::Admin, false));
        assert!(may_invite(Role::Coordinator, true));
        assert!(!may_invite(Role::Coordinator, false));
        for role in [Role::Member, Role::Auditor, Role::External] {
            assert!(!may_invite(role, true), "{role:?}");
        }
    }

    #[test]
    fn the_admin_cannot_read_the_access_log_and_the_auditor_cannot_manage_accounts() {
        assert!(!role_can(Role::Admin, Capability::ReadAuditLog));
        assert!(!role_can(Role::Auditor, Capability::ManageAccounts));
        assert!(role_can(Role::Auditor, Capability::ReadAuditLog));
        assert!(role_can(Role::Admin, Capability::ManageAccounts));
    }

    #[test]
    fn mediators_file_field_reports_and_professionals_handle_them() {
        use InstitutionKind::*;
        assert_eq!(
            field_report_duty(Role::External, Mediation),
            Some(FieldReportDuty::Reporter)
        );
        assert_eq!(
            field_report_duty(Role::Member, Mediation),
            Some(FieldReportDuty::Reporter)
        );
        assert_eq!(
            field_report_duty(Role::Member, Ccas),
            Some(FieldReportDuty::Handler)
        );
        assert_eq!(
            field_report_duty(Role::Coordinator, Collectivite),
            Some(FieldReportDuty::Handler)
        );
        // An association's external account neither files nor handles; the admin and the
        // auditor read no report at all.
        assert_eq!(
            field_report_duty(Role::External, AssociationHabilitee),
            None
        );
        assert_eq!(field_report_duty(Role::Auditor, Mediation), None);
        assert_eq!(field_report_duty(Role::Admin, Collectivite), None);
    }

    #[test]
    fn professionals_run_meetings_and_externals_only_read_them() {
        assert_eq!(
            meeting_duty(Role::Coordinator),
            Some(MeetingDuty::Organiser)
        );
        assert_eq!(meeting_duty(Role::Member), Some(MeetingDuty::Organiser));
        assert_eq!(meeting_duty(Role::External), Some(MeetingDuty::Participant));
        assert_eq!(meeting_duty(Role::Admin), None);
        assert_eq!(meeting_duty(Role::Auditor), None);
    }

    #[test]
    fn an_agenda_holds_the_groups_cases_and_the_coordinators_own() {
        assert!(agenda_admits(Role::Member, Some("g1"), "g1"));
        assert!(!agenda_admits(Role::Member, Some("g2"), "g1"));
        assert!(!agenda_admits(Role::Member, None, "g1"));
        assert!(agenda_admits(Role::Coordinator, None, "g1"));
        assert!(agenda_admits(Role::Coordinator, Some("g2"), "g1"));
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
            Err(Refusal::CharterNotPublished)
        );
        facts.charter = CharterFacts::Current { accepted: false };
        assert_eq!(
            channel_access(&facts, Access::Read, 0),
            Err(Refusal::CharterNotAccepted)
        );
        facts.charter = CharterFacts::Current { accepted: true };
        assert_eq!(
            channel_access(&facts, Access::Read, 0),
            Err(Refusal::RulesNotPublished)
        );
        facts.rules = RulesFacts::Current { accepted: false };
        assert_eq!(
            channel_access(&facts, Access::Write, 0),
            Err(Refusal::RulesNotAccepted)
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
            Err(Refusal::ArchiveReasonRequired)
        );
        facts.archive_access = true;
        assert_eq!(channel_access(&facts, Access::Read, 0), Ok(()));
        assert_eq!(
            channel_access(&facts, Access::Write, 0),
            Err(Refusal::ChannelClosed)
        );
    }

    #[test]
    fn a_session_is_writable_between_its_start_and_its_end_and_readable_after() {
        let mut facts = open();
        facts.kind = ChannelKind::PracticeSession;
        facts.session = Some((100, 200));
        assert_eq!(
            channel_access(&facts, Access::Write, 99),
            Err(Refusal::SessionNotStarted)
        );
        assert_eq!(channel_access(&facts, Access::Write, 100), Ok(()));
        assert_eq!(
            channel_access(&facts, Access::Write, 200),
            Err(Refusal::SessionEnded)
        );
        assert_eq!(channel_access(&facts, Access::Read, 500), Ok(()));
    }

    #[test]
    fn a_member_who_no_longer_meets_the_regime_is_refused_even_with_every_acceptance() {
        let mut facts = open();
        facts.membership_refusal = Some(Refusal::RegimeNotMet);
        assert_eq!(
            channel_access(&facts, Access::Read, 0),
            Err(Refusal::RegimeNotMet)
        );
        facts.membership_refusal = None;
        facts.lifecycle = Lifecycle::Gone;
        assert_eq!(
            channel_access(&facts, Access::Read, 0),
            Err(Refusal::NotFound)
        );
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
            Some(Refusal::RegimeNotMet)
        );
        assert_eq!(
            join_refusal(&candidate, LegalRegime::SharedSecretSocial, &institutions),
            Some(Refusal::RegimeNotMet)
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
            Some(Refusal::InstitutionNotAllowed)
        );
        candidate.role = Some(Role::Auditor);
        assert_eq!(
            join_refusal(&candidate, LegalRegime::ClspdConfidential, &institutions),
            Some(Refusal::RoleCannotJoin)
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
    fn a_group_names_its_coordinators_and_only_they_and_the_referent_read_identities() {
        assert!(coordinates(Role::Coordinator, false));
        assert!(coordinates(Role::Member, true));
        assert!(!coordinates(Role::Member, false));
        assert!(!coordinates(Role::External, true));
        assert!(!coordinates(Role::Admin, true));
        assert!(reads_identity(true, false));
        assert!(reads_identity(false, true));
        assert!(!reads_identity(false, false));
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

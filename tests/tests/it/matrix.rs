//! The authorization matrix (issue 10): every REST endpoint and WebSocket frame × role ×
//! situation has its expected outcome, checked against a real server; every refusal is
//! recorded in the access log. An endpoint of the OpenAPI document without a row here
//! makes the test fail.
//!
//! "Allowed" means authorization let the request through: the answer is not 401, 403 or
//! 404 (a 409 or 422 about the body is the endpoint's own business). "Refused" means 401,
//! 403 or 404, and one more denial in the access log.

use std::collections::BTreeSet;

use passerelle_server::audit::{EventFilter, Outcome};
use passerelle_server::clock::Clock;
use passerelle_shared::protocol::v1::cases::{CaseView, CreateCase, Programme};
use passerelle_shared::protocol::v1::channels::{Channel, LegalRegime};
use passerelle_shared::protocol::v1::field_reports::FieldReportCategory;
use passerelle_shared::protocol::v1::ws::{ClientFrame, ServerFrame};
use passerelle_shared::protocol::v1::{InstitutionKind, Role};
use passerelle_tests::TestServer;
use reqwest::{Method, StatusCode};

use crate::support::{ensure_charter, working_group, Party, GUARD};

/// Where a principal stands with respect to the matrix's working group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Situation {
    /// Member, charter and rules accepted.
    Member,
    /// Not a member; institution on the allow-list.
    NonMember,
    /// Was a member, removed by the coordinator.
    Removed,
    /// Of an institution outside the allow-list.
    OtherInstitution,
    /// Member, but has not accepted the charter in force.
    CharterNotAccepted,
    /// Logged out: the session is over.
    ExpiredSession,
    /// Was a member; an admin disabled the account (CHARTER.md C3).
    Disabled,
    /// Was a member; revoked their device, which ended the session bound to it (C3).
    DeviceRevoked,
}

/// Who may call an endpoint.
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// Login steps and the OpenAPI document: no session involved; not executed here.
    Public,
    /// Any logged-in account.
    AnyUser,
    /// The admin role.
    Admin,
    /// The auditor role.
    Auditor,
    /// Coordinators and admins.
    Reporter,
    /// Members, coordinators and admins (not externals, not auditors).
    Directory,
    /// A directory browser, or a co-member of the colleague.
    ColleagueKeys,
    /// Coordinators (creating channels, cases, sessions).
    Coordinator,
    /// Members, coordinators and externals of the working group, charter and rules accepted.
    ChannelMember,
    /// Coordinators who are members of the working group.
    ChannelCoordinator,
    /// Members of the archived case, which no one opened with a reason: refused to all.
    ArchivedWithoutReason,
    /// Another account's device link request: refused to all.
    OthersLinkRequest,
    /// A security key that is not the caller's: refused to all.
    OthersSecurityKey,
    /// Members of the cases (professionals, not externals), charter accepted.
    CaseMember,
    /// Leaving reduces exposure: never blocked by the charter gate.
    Leave,
    /// The group's rules: read and accepted by its members, charter accepted or not (they
    /// are part of what one accepts).
    GroupRules,
    /// Reducing exposure or governing the group (rules, exclusion, archiving): the
    /// group's coordinators, never blocked by the charter gate.
    GroupCoordinator,
    /// Filing a field report: the mediators (the matrix's externals are in the Médiation
    /// institution), charter accepted; which group is the body's business (422).
    FieldReportFiler,
    /// Listing field reports: mediators (their own) and professionals (their groups').
    FieldReportList,
    /// Reading and changing a field report: the professionals of the addressed group
    /// (the author, who is no principal here, too).
    FieldReportHandler,
    /// Opening a referral: the intervenant social au commissariat only (no principal).
    ReferralOpener,
    /// Listing referrals: every professional (their own, their institution's).
    ReferralList,
    /// Reading, accepting and declining a referral addressed to the CCAS: its
    /// professionals and the coordinators.
    ReferralReceiver,
    /// Following and closing a referral: its referent (none yet) and the coordinators.
    ReferralAdvancer,
    /// Listing meetings: everyone who takes part in channels (their groups' meetings).
    MeetingList,
    /// Scheduling a meeting: professionals and coordinators whom the group's gate lets
    /// write; which group is the body's business (422 for a non-member).
    MeetingScheduler,
    /// Recording attendance, decisions and minutes, closing: the group's professionals
    /// and coordinators, not its externals.
    MeetingOrganiser,
    /// Reading a group's named coordinators: its members (charter or not) and the admin.
    GroupCoordinatorsRead,
    /// Naming a group's coordinators: its coordinators (charter or not) and the admin.
    GroupCoordinatorsSet,
}

fn allowed(rule: Rule, role: Role, situation: Situation) -> bool {
    use Role::*;
    if matches!(
        situation,
        Situation::ExpiredSession | Situation::Disabled | Situation::DeviceRevoked
    ) {
        return false;
    }
    let member = situation == Situation::Member;
    match rule {
        Rule::Public | Rule::AnyUser => true,
        Rule::Admin => role == Admin,
        Rule::Auditor => role == Auditor,
        Rule::Reporter => matches!(role, Coordinator | Admin),
        Rule::Directory => matches!(role, Member | Coordinator | Admin),
        // Public keys of a co-member: sharing a channel is enough, charter or not.
        Rule::ColleagueKeys => {
            matches!(role, Member | Coordinator | Admin)
                || member
                || situation == Situation::CharterNotAccepted
        }
        Rule::Coordinator => role == Coordinator,
        Rule::ChannelMember => member && matches!(role, Member | Coordinator | External),
        Rule::ChannelCoordinator => member && role == Coordinator,
        Rule::ArchivedWithoutReason | Rule::OthersLinkRequest | Rule::OthersSecurityKey => false,
        Rule::CaseMember => member && matches!(role, Member | Coordinator),
        Rule::GroupRules => {
            matches!(situation, Situation::Member | Situation::CharterNotAccepted)
                && matches!(role, Member | Coordinator | External)
        }
        Rule::GroupCoordinator => {
            matches!(situation, Situation::Member | Situation::CharterNotAccepted)
                && role == Coordinator
        }
        Rule::FieldReportFiler => {
            role == External
                && !matches!(
                    situation,
                    Situation::OtherInstitution | Situation::CharterNotAccepted
                )
        }
        Rule::FieldReportList => {
            matches!(role, Member | Coordinator)
                || (role == External && situation != Situation::OtherInstitution)
        }
        Rule::FieldReportHandler => member && matches!(role, Member | Coordinator),
        Rule::ReferralOpener => false,
        Rule::ReferralList => matches!(role, Member | Coordinator),
        Rule::ReferralReceiver => {
            role == Coordinator || (role == Member && situation != Situation::OtherInstitution)
        }
        Rule::ReferralAdvancer => role == Coordinator,
        Rule::MeetingList => matches!(role, Member | Coordinator | External),
        Rule::MeetingScheduler => {
            matches!(role, Member | Coordinator) && situation != Situation::CharterNotAccepted
        }
        Rule::MeetingOrganiser => member && matches!(role, Member | Coordinator),
        Rule::GroupCoordinatorsRead => {
            role == Admin
                || (matches!(situation, Situation::Member | Situation::CharterNotAccepted)
                    && matches!(role, Member | Coordinator | External))
        }
        Rule::GroupCoordinatorsSet => {
            role == Admin
                || (matches!(situation, Situation::Member | Situation::CharterNotAccepted)
                    && role == Coordinator)
        }
        Rule::Leave => {
            matches!(situation, Situation::Member | Situation::CharterNotAccepted)
                && matches!(role, Member | Coordinator | External)
        }
    }
}

/// One row: an endpoint and who may call it. Rows run in order; the ones that change
/// the caller's own standing (leaving, revoking one's device, logging out) come last.
struct Row {
    method: Method,
    path: &'static str,
    rule: Rule,
    body: Option<fn(&World, &Principal) -> serde_json::Value>,
}

fn row(method: Method, path: &'static str, rule: Rule) -> Row {
    Row {
        method,
        path,
        rule,
        body: None,
    }
}

fn with(
    method: Method,
    path: &'static str,
    rule: Rule,
    body: fn(&World, &Principal) -> serde_json::Value,
) -> Row {
    Row {
        method,
        path,
        rule,
        body: Some(body),
    }
}

fn rows() -> Vec<Row> {
    use Method as M;
    use Rule::*;
    vec![
        row(M::POST, "/api/v1/auth/login", Public),
        // An unknown link: anyone may try, and is refused for the link (422), not the role.
        with(
            M::POST,
            "/api/v1/invitations/accept",
            Public,
            |_, _| serde_json::json!({ "token": "inconnu", "new_password": "une phrase de passe" }),
        ),
        row(M::POST, "/api/v1/auth/totp", Public),
        row(M::POST, "/api/v1/auth/webauthn", Public),
        row(M::POST, "/api/v1/auth/passwordless", Public),
        row(M::POST, "/api/v1/auth/passwordless/finish", Public),
        row(M::GET, "/api/v1/me/security-keys", AnyUser),
        with(
            M::POST,
            "/api/v1/me/security-keys/register",
            AnyUser,
            |_, _| serde_json::json!({ "name": "Clé de test" }),
        ),
        // A malformed answer: authorization passed, the body is refused (400).
        with(
            M::POST,
            "/api/v1/me/security-keys/register/finish",
            AnyUser,
            |_, _| serde_json::json!({ "ceremony_id": "inconnue", "credential": {} }),
        ),
        with(
            M::PATCH,
            "/api/v1/me/security-keys/{foreign_key}",
            OthersSecurityKey,
            |_, _| serde_json::json!({ "name": "Volée" }),
        ),
        row(
            M::DELETE,
            "/api/v1/me/security-keys/{foreign_key}",
            OthersSecurityKey,
        ),
        row(M::GET, "/api/v1/openapi.json", Public),
        row(M::GET, "/api/v1/ws", Public), // the WebSocket has its own part below
        row(M::GET, "/api/v1/me", AnyUser),
        row(M::GET, "/api/v1/me/notices", AnyUser),
        with(
            M::PUT,
            "/api/v1/me/notices",
            AnyUser,
            |_, _| serde_json::json!({ "enabled": true }),
        ),
        row(M::GET, "/api/v1/auth/sessions", AnyUser),
        row(M::GET, "/api/v1/charter", AnyUser),
        row(M::GET, "/api/v1/channels", AnyUser),
        with(
            M::POST,
            "/api/v1/channels/destroyed",
            AnyUser,
            |w, _| serde_json::json!({ "channel_ids": [w.group] }),
        ),
        row(M::GET, "/api/v1/cases/notice-templates", AnyUser),
        row(M::GET, "/api/v1/keys/backup", AnyUser),
        with(
            M::PUT,
            "/api/v1/keys/backup",
            AnyUser,
            |_, _| serde_json::json!({ "data": {} }),
        ),
        row(M::GET, "/api/v1/keys/backup/pages/{page_hash}", AnyUser),
        with(
            M::PUT,
            "/api/v1/keys/backup/pages/{page_hash}",
            AnyUser,
            |_, _| {
                serde_json::json!({ "page": {
                    "v": 1,
                    "user_id": "someone",
                    "nonce": "AAAAAAAAAAAAAAAA",
                    "ciphertext": "AAAAAAAAAAAAAAAAAAAAAA",
                } })
            },
        ),
        with(M::PUT, "/api/v1/keys/backup/head", AnyUser, |_, _| {
            serde_json::json!({ "head": {
                "v": 1,
                "user_id": "someone",
                "revision": 1,
                "pages": [],
                "nonce": "AAAAAAAAAAAAAAAA",
                "ciphertext": "AAAAAAAAAAAAAAAAAAAAAA",
            } })
        }),
        with(
            M::PUT,
            "/api/v1/keys/identity",
            AnyUser,
            |w, _| serde_json::json!({ "identity_key": w.spare_identity }),
        ),
        with(
            M::POST,
            "/api/v1/keys/devices",
            AnyUser,
            |w, _| serde_json::json!({ "certificate": w.foreign_certificate, "name": "x" }),
        ),
        with(M::POST, "/api/v1/keys/reset", AnyUser, |w, _| {
            serde_json::json!({
                "identity_key": w.spare_identity,
                "certificate": w.foreign_certificate,
                "name": "x",
                "backup": {
                    "v": 1,
                    "user_id": "someone",
                    "revision": 1,
                    "nonce": "AAAAAAAAAAAAAAAA",
                    "ciphertext": "AAAAAAAAAAAAAAAAAAAAAA",
                },
            })
        }),
        row(M::GET, "/api/v1/keys/users/{colleague}", ColleagueKeys),
        row(M::GET, "/api/v1/keys/log/head", AnyUser),
        row(M::GET, "/api/v1/keys/log/consistency?from=0&to=0", AnyUser),
        row(M::GET, "/api/v1/keys/log/users/{colleague}", ColleagueKeys),
        row(M::GET, "/api/v1/keys/log/entries?start=0&end=0", AnyUser),
        with(
            M::POST,
            "/api/v1/keys/link-requests",
            AnyUser,
            |_, _| serde_json::json!({ "request": {}, "name": "x" }),
        ),
        row(M::GET, "/api/v1/keys/link-requests", AnyUser),
        row(
            M::GET,
            "/api/v1/keys/link-requests/{foreign_link}",
            OthersLinkRequest,
        ),
        with(
            M::POST,
            "/api/v1/keys/link-requests/{foreign_link}/approve",
            OthersLinkRequest,
            |w, _| serde_json::json!({ "certificate": w.foreign_certificate }),
        ),
        row(
            M::DELETE,
            "/api/v1/keys/link-requests/{foreign_link}",
            OthersLinkRequest,
        ),
        with(
            M::POST,
            "/api/v1/keys/devices/{device}/epoch-keys",
            AnyUser,
            |_, _| serde_json::json!({ "keys": [] }),
        ),
        // An unsigned prekey: authorization passed, the body is refused (422).
        with(
            M::PUT,
            "/api/v1/keys/devices/{device}/prekey",
            AnyUser,
            |_, _| serde_json::json!({ "prekey": {} }),
        ),
        row(M::GET, "/api/v1/directory", Directory),
        row(M::GET, "/api/v1/directory/institutions", AnyUser),
        row(M::GET, "/api/v1/reports/annual?year=2026", Reporter),
        row(M::GET, "/api/v1/admin/institutions", Admin),
        with(
            M::POST,
            "/api/v1/admin/institutions",
            Admin,
            |_, _| serde_json::json!({ "name": "", "kind": "ccas" }),
        ),
        with(
            M::PATCH,
            "/api/v1/admin/institutions/{institution}",
            Admin,
            |_, _| serde_json::json!({ "kind": "collectivite" }),
        ),
        row(M::GET, "/api/v1/admin/users", Admin),
        with(
            M::POST,
            "/api/v1/admin/users",
            Admin,
            |_, _| serde_json::json!({ "login": "x", "display_name": "X", "institution_id": "none", "role": "member" }),
        ),
        // A list without accounts: authorization passed, the file is refused (400).
        with(
            M::POST,
            "/api/v1/admin/users/import",
            Admin,
            |_, _| serde_json::json!({ "csv": "login,name,institution,role\n" }),
        ),
        with(
            M::PATCH,
            "/api/v1/admin/users/{victim}",
            Admin,
            |_, _| serde_json::json!({ "display_name": "Victime" }),
        ),
        row(
            M::POST,
            "/api/v1/admin/users/{victim}/reset-password",
            Admin,
        ),
        row(M::POST, "/api/v1/admin/users/{victim}/reset-mfa", Admin),
        row(M::POST, "/api/v1/admin/users/{victim}/disable", Admin),
        row(M::POST, "/api/v1/admin/users/{victim}/enable", Admin),
        row(M::POST, "/api/v1/admin/users/{victim}/unlock", Admin),
        row(M::POST, "/api/v1/admin/users/{victim}/invitation", Admin),
        with(
            M::PUT,
            "/api/v1/admin/users/{victim}/email",
            Admin,
            |_, _| serde_json::json!({ "email": "victime@ville.example.fr" }),
        ),
        with(
            M::POST,
            "/api/v1/admin/charters",
            Admin,
            |_, _| serde_json::json!({ "text": "" }),
        ),
        row(M::GET, "/api/v1/audit/events", Auditor),
        row(M::GET, "/api/v1/audit/daily", Auditor),
        row(M::GET, "/api/v1/audit/export?format=json", Auditor),
        row(M::GET, "/api/v1/audit/verify", Auditor),
        row(M::GET, "/api/v1/audit/public-key", Auditor),
        row(M::GET, "/api/v1/audit/checkpoints", Auditor),
        row(M::GET, "/api/v1/audit/head", Auditor),
        row(M::GET, "/api/v1/audit/proofs/inclusion?seq=1", Auditor),
        row(M::GET, "/api/v1/audit/proofs/consistency?old=0", Auditor),
        row(M::GET, "/api/v1/channels/{group}", ChannelMember),
        row(M::GET, "/api/v1/channels/{group}/messages", ChannelMember),
        row(M::GET, "/api/v1/channels/{group}/membership", ChannelMember),
        row(
            M::GET,
            "/api/v1/channels/{group}/membership-log",
            ChannelMember,
        ),
        // A well-formed genesis of another channel: refused (409) for a member.
        with(
            M::POST,
            "/api/v1/channels/{group}/membership-log",
            ChannelMember,
            |_, _| {
                serde_json::json!({ "record": {
                    "v": 1, "channel_id": "autre-canal", "seq": 1, "prev": "A".repeat(43),
                    "epoch": 0, "actor": "x", "actor_device": "x", "kind": "genesis",
                    "subjects": ["x"], "at": 0, "signature": "A".repeat(86)
                }})
            },
        ),
        row(M::GET, "/api/v1/channels/{group}/epoch", ChannelMember),
        row(
            M::GET,
            "/api/v1/channels/{group}/keys?device_id={device}",
            ChannelMember,
        ),
        row(M::GET, "/api/v1/channels/{group}/rules", GroupRules),
        with(
            M::POST,
            "/api/v1/channels/{group}/rules/accept",
            GroupRules,
            |w, _| serde_json::json!({ "version": w.rules }),
        ),
        row(M::GET, "/api/v1/attachments/{attachment}", ChannelMember),
        with(
            M::POST,
            "/api/v1/channels/{group}/epochs",
            ChannelMember,
            |_, _| serde_json::json!({ "epoch": 999, "keys": [] }),
        ),
        // No epoch named: the channel let the caller through, the body is refused (422).
        with(
            M::POST,
            "/api/v1/channels/{group}/keys/delivered",
            ChannelMember,
            |_, _| serde_json::json!({ "device_id": "none", "epochs": [] }),
        ),
        row(
            M::POST,
            "/api/v1/channels/{group}/attachments",
            ChannelMember,
        ),
        row(M::GET, "/api/v1/cases/{case}", ArchivedWithoutReason),
        row(
            M::GET,
            "/api/v1/channels/{case}/messages",
            ArchivedWithoutReason,
        ),
        row(
            M::GET,
            "/api/v1/channels/{case}/membership",
            ArchivedWithoutReason,
        ),
        with(
            M::POST,
            "/api/v1/channels/{group}/rules",
            GroupCoordinator,
            |_, _| serde_json::json!({ "text": "" }),
        ),
        with(
            M::POST,
            "/api/v1/channels/{group}/members",
            ChannelCoordinator,
            |_, p| serde_json::json!({ "user_id": p.joiner }),
        ),
        with(
            M::DELETE,
            "/api/v1/channels/{group}/members/{joiner}",
            GroupCoordinator,
            |_, _| serde_json::json!({ "reason": "Fin de mission" }),
        ),
        with(
            M::POST,
            "/api/v1/channels/{group}/archive",
            GroupCoordinator,
            |_, _| serde_json::json!({ "end_date": 0 }),
        ),
        with(
            M::POST,
            "/api/v1/channels",
            Coordinator,
            |w, _| serde_json::json!({ "kind": "working_group", "name": "Nouveau groupe", "regime": "clspd_confidential", "institutions": [w.institution] }),
        ),
        with(M::POST, "/api/v1/cases", Coordinator, |w, p| {
            serde_json::to_value(CreateCase {
                programme: Programme::PublicTranquillity,
                reporting_institution: w.institution.clone().into(),
                regime: LegalRegime::ClspdConfidential,
                group_id: None,
                institutions: vec![p.institution.clone().into()],
                members: Vec::new(),
                referent_user_id: None,
                destroy_limit: None,
                scheme: None,
            })
            .unwrap()
        }),
        with(M::POST, "/api/v1/practice-sessions", Coordinator, |w, p| {
            serde_json::json!({
                "name": "", "starts_at": w.now, "ends_at": w.now + 3_600_000, "institutions": [p.institution.clone()], "members": []
            })
        }),
        row(
            M::GET,
            "/api/v1/practice-sessions/{practice}",
            ChannelMember,
        ),
        // Sealed by the group's owner, not the caller: an allowed filing is refused as
        // 422 and stores nothing.
        with(
            M::POST,
            "/api/v1/field-reports",
            FieldReportFiler,
            |w, _| {
                serde_json::json!({
                    "group_id": w.group, "category": "technical_fault",
                    "sealed_place": w.owner_envelope, "observed_at": w.now,
                    "description": w.owner_envelope
                })
            },
        ),
        row(M::GET, "/api/v1/field-reports", FieldReportList),
        row(
            M::GET,
            "/api/v1/field-reports/{field_report}",
            FieldReportHandler,
        ),
        // A step skipped: an allowed call is refused as 409 and changes nothing.
        with(
            M::POST,
            "/api/v1/field-reports/{field_report}/status",
            FieldReportHandler,
            |_, _| serde_json::json!({ "status": "done" }),
        ),
        // No principal refers: the body is valid, the role is not.
        with(M::POST, "/api/v1/referrals", ReferralOpener, |w, _| {
            serde_json::json!({
                "client_id": "matrice", "reason": "housing",
                "consent": { "outcome": "consented", "method": "in_person" },
                "programme": "public_tranquillity", "target_institution": w.ccas
            })
        }),
        row(M::GET, "/api/v1/referrals", ReferralList),
        row(M::GET, "/api/v1/referrals/{referral}", ReferralReceiver),
        // An unknown referent: an allowed acceptance is refused as 422 and opens nothing.
        with(
            M::POST,
            "/api/v1/referrals/{referral}/accept",
            ReferralReceiver,
            |_, _| serde_json::json!({ "referent_user_id": "inconnu" }),
        ),
        // A note the caller did not seal for the referrer: refused as 422, nothing changes.
        with(
            M::POST,
            "/api/v1/referrals/{referral}/decline",
            ReferralReceiver,
            |w, _| serde_json::json!({ "reason": "other", "note": w.owner_envelope }),
        ),
        // A step skipped: an allowed call is refused as 409 and changes nothing.
        with(
            M::POST,
            "/api/v1/referrals/{referral}/status",
            ReferralAdvancer,
            |_, _| serde_json::json!({ "status": "closed" }),
        ),
        // The live case, at another time than the world's meeting: the first allowed
        // principal schedules it, the others are told it exists (409).
        with(M::POST, "/api/v1/meetings", MeetingScheduler, |w, _| {
            serde_json::json!({
                "group_id": w.group, "scheduled_at": w.now + 2 * 86_400_000, "agenda": [w.live_case]
            })
        }),
        row(M::GET, "/api/v1/meetings", MeetingList),
        row(M::GET, "/api/v1/meetings/{meeting}", ChannelMember),
        with(
            M::POST,
            "/api/v1/meetings/{meeting}/attendance",
            MeetingOrganiser,
            |_, _| serde_json::json!({ "attendees": [] }),
        ),
        // Not on the agenda, sealed by someone else, nothing decided yet: allowed calls
        // are refused as 422 and change nothing.
        with(
            M::POST,
            "/api/v1/meetings/{meeting}/decisions",
            MeetingOrganiser,
            |_, _| serde_json::json!({ "case_id": "inconnu", "decision": "postpone" }),
        ),
        with(
            M::POST,
            "/api/v1/meetings/{meeting}/minutes",
            MeetingOrganiser,
            |w, _| serde_json::json!({ "minutes": w.owner_envelope }),
        ),
        // The world's meeting has its one situation decided: removing it is refused (409),
        // an unknown case too (422), and so is cancelling it (409); nothing changes.
        with(
            M::POST,
            "/api/v1/meetings/{meeting}/agenda",
            MeetingOrganiser,
            |_, _| serde_json::json!({ "agenda": ["inconnu"] }),
        ),
        row(
            M::POST,
            "/api/v1/meetings/{meeting}/cancel",
            MeetingOrganiser,
        ),
        // Last of the meeting's rows: the first allowed principal closes it, the others
        // are told it is held (409).
        row(
            M::POST,
            "/api/v1/meetings/{meeting}/close",
            MeetingOrganiser,
        ),
        with(
            M::PATCH,
            "/api/v1/cases/{live_case}",
            ChannelCoordinator,
            |_, _| serde_json::json!({}),
        ),
        // The person's identity (C7): the case's coordinators and referent (the live
        // case has none); none is recorded, so an allowed reading is refused as 422.
        row(
            M::GET,
            "/api/v1/cases/{live_case}/identity?device_id={device}",
            ChannelCoordinator,
        ),
        row(
            M::GET,
            "/api/v1/cases/{live_case}/identity/readers",
            ChannelCoordinator,
        ),
        // An empty sealing: an allowed call is refused for its body (422).
        with(
            M::PUT,
            "/api/v1/cases/{live_case}/identity",
            ChannelCoordinator,
            |w, _| serde_json::json!({ "version": 1, "envelope": w.owner_envelope, "keys": [] }),
        ),
        row(
            M::GET,
            "/api/v1/channels/{group}/coordinators",
            GroupCoordinatorsRead,
        ),
        with(
            M::PUT,
            "/api/v1/channels/{group}/coordinators",
            GroupCoordinatorsSet,
            |_, _| serde_json::json!({ "user_ids": [] }),
        ),
        // A title sealed for another scope: an allowed call is refused for its body (422).
        with(
            M::PUT,
            "/api/v1/channels/{live_case}/title",
            CaseMember,
            |w, _| serde_json::json!({ "envelope": w.owner_envelope }),
        ),
        with(
            M::PUT,
            "/api/v1/cases/{live_case}/information",
            CaseMember,
            |w, _| serde_json::json!({ "outcome": "not_informed", "reason": "child_interest", "decided_by": w.colleague }),
        ),
        // A note sealed for another scope, on a case with no sealed note: an allowed call is
        // refused for its body (422).
        with(
            M::PUT,
            "/api/v1/cases/{live_case}/note",
            CaseMember,
            |w, _| serde_json::json!({ "envelope": w.owner_envelope }),
        ),
        with(
            M::POST,
            "/api/v1/channels/{case}/open-archived",
            CaseMember,
            |_, _| serde_json::json!({ "reason": "Relecture pour la synthèse annuelle du groupe" }),
        ),
        row(M::DELETE, "/api/v1/auth/sessions/{spare_session}", AnyUser),
        with(
            M::POST,
            "/api/v1/charter/accept",
            AnyUser,
            |w, _| serde_json::json!({ "version": w.charter }),
        ),
        row(M::POST, "/api/v1/channels/{group}/leave", Leave),
        row(M::POST, "/api/v1/auth/logout", AnyUser),
        // The last rows are sent with another session of the same person (the main one
        // just logged out): revoking a device ends the sessions bound to it, and changing
        // the password ends every other session (issue 14).
        row(M::DELETE, REVOKE_DEVICE, AnyUser),
        with(
            M::POST,
            CHANGE_PASSWORD,
            AnyUser,
            |_, p| serde_json::json!({ "current_password": p.password, "new_password": format!("{}-nouveau", p.password) }),
        ),
    ]
}

/// Rows sent with [`Principal::second_token`], after the main session logged out.
const REVOKE_DEVICE: &str = "/api/v1/keys/devices/{device}";
const CHANGE_PASSWORD: &str = "/api/v1/me/password";

/// What the rows refer to.
struct World {
    charter: u64,
    rules: u64,
    group: String,
    case: String,
    live_case: String,
    practice: String,
    attachment: String,
    victim: String,
    colleague: String,
    institution: String,
    now: i64,
    spare_identity: String,
    foreign_certificate: serde_json::Value,
    foreign_link: String,
    /// A security key id that is nobody's (the caller's own keys are not in the matrix).
    foreign_key: String,
    /// A field report a mediator (no principal) filed to the group.
    field_report: String,
    /// A report description sealed for the group by its owner.
    owner_envelope: serde_json::Value,
    /// A referral of the intervenant social (no principal) to the CCAS.
    referral: String,
    /// The CCAS, where the member principals work.
    ccas: String,
    /// A meeting of the group the owner scheduled, with the live case on its agenda.
    meeting: String,
}

/// A caller of the matrix.
struct Principal {
    role: Role,
    situation: Situation,
    token: String,
    spare_session: String,
    /// A second session of the same person, not bound to their device (the ended one
    /// for an expired session).
    second_token: String,
    device: String,
    password: String,
    institution: String,
    /// A member the principal adds and removes (coordinators each have their own).
    joiner: String,
}

impl Principal {
    fn path(&self, world: &World, template: &str) -> String {
        template
            .replace("{field_report}", &world.field_report)
            .replace("{referral}", &world.referral)
            .replace("{meeting}", &world.meeting)
            .replace("{group}", &world.group)
            .replace("{foreign_key}", &world.foreign_key)
            .replace("{live_case}", &world.live_case)
            .replace("{case}", &world.case)
            .replace("{practice}", &world.practice)
            .replace("{attachment}", &world.attachment)
            .replace("{victim}", &world.victim)
            .replace("{foreign_link}", &world.foreign_link)
            .replace("{joiner}", &self.joiner)
            .replace("{colleague}", &world.colleague)
            // Not a page hash (422): a well-formed one no account holds would answer 404,
            // which reads as a refusal here.
            .replace("{page_hash}", "pas-une-empreinte")
            .replace("{device}", &self.device)
            .replace("{spare_session}", &self.spare_session)
            .replace("{institution}", &self.institution)
    }
}

async fn denials(server: &TestServer) -> u64 {
    // Anonymous refusals beyond the first few of a minute are counted, and written as one
    // event with the count: write them now.
    server.state.audit.write_refusal_counts(true).await.unwrap();
    let filter = EventFilter {
        outcome: Some(Outcome::Denied),
        ..EventFilter::default()
    };
    server.state.audit.count(&filter).await.unwrap()
}

/// Makes a principal: a person of `role` standing in `situation`.
async fn principal(
    server: &TestServer,
    login: &str,
    role: Role,
    situation: Situation,
    institution: &str,
) -> (Party, Principal) {
    let party = if situation == Situation::CharterNotAccepted {
        Party::bare(server, login, role, institution).await
    } else {
        Party::new(server, login, role, institution).await
    };
    let spare = server.login(&party.user).await.unwrap();
    let mut second_token = server.login(&party.user).await.unwrap().token;
    let mut token = party.client.bearer_token().to_owned();
    if situation == Situation::ExpiredSession {
        let ended = server.login(&party.user).await.unwrap();
        server
            .http()
            .post(server.url("/api/v1/auth/logout"))
            .bearer_auth(&ended.token)
            .send()
            .await
            .unwrap();
        token = ended.token;
        second_token = token.clone();
    }
    let principal = Principal {
        role,
        situation,
        token,
        spare_session: spare.session_id,
        second_token,
        device: party.device.device_id.clone(),
        password: party.user.password.clone(),
        institution: party.user.institution_id.clone(),
        joiner: String::new(),
    };
    (party, principal)
}

#[tokio::test]
async fn every_endpoint_and_frame_answers_every_role_and_situation_as_the_matrix_says() {
    // Each login moves the test clock by a TOTP step; with some eighty logins to set the
    // world up, the idle limit must outlast the set-up.
    let server = TestServer::spawn_with(|c| {
        c.session_idle_minutes = 24 * 60;
        c.session_absolute_hours = 48;
    })
    .await
    .unwrap();
    let charter = ensure_charter(&server).await;
    // The externals are the CLSPD's mediators.
    server
        .institution_of_kind("Médiation", InstitutionKind::Mediation)
        .await
        .unwrap();

    // The principals: three channel roles in every situation, and the admin and auditor.
    let mut parties = Vec::new();
    let mut principals = Vec::new();
    for role in [Role::Member, Role::Coordinator, Role::External] {
        for situation in [
            Situation::Member,
            Situation::NonMember,
            Situation::Removed,
            Situation::OtherInstitution,
            Situation::CharterNotAccepted,
            Situation::ExpiredSession,
        ] {
            let institution = match (situation, role) {
                (Situation::OtherInstitution, _) => "PJJ",
                (_, Role::External) => "Médiation",
                (_, Role::Coordinator) => "Mairie",
                _ => "CCAS",
            };
            let login = format!(
                "{}.{}",
                role.as_str(),
                format!("{situation:?}").to_lowercase()
            );
            let (party, principal) = principal(&server, &login, role, situation, institution).await;
            parties.push(party);
            principals.push(principal);
        }
    }
    // The excluded: members until the world is built, then disabled or device-revoked.
    for situation in [Situation::Disabled, Situation::DeviceRevoked] {
        let login = format!("member.{}", format!("{situation:?}").to_lowercase());
        let (party, principal) = principal(&server, &login, Role::Member, situation, "CCAS").await;
        parties.push(party);
        principals.push(principal);
    }
    for role in [Role::Admin, Role::Auditor] {
        for situation in [Situation::NonMember, Situation::ExpiredSession] {
            let login = format!(
                "{}.{}",
                role.as_str(),
                format!("{situation:?}").to_lowercase()
            );
            let (party, principal) = principal(&server, &login, role, situation, "Mairie").await;
            parties.push(party);
            principals.push(principal);
        }
    }

    // The working group: its members are the principals in a member-like situation.
    let mut owner = Party::new(&server, "proprietaire", Role::Coordinator, "Mairie").await;
    let in_group: Vec<&Party> = parties
        .iter()
        .zip(&principals)
        .filter(|(_, p)| {
            matches!(
                p.situation,
                Situation::Member
                    | Situation::Removed
                    | Situation::CharterNotAccepted
                    | Situation::ExpiredSession
                    | Situation::Disabled
                    | Situation::DeviceRevoked
            ) && matches!(p.role, Role::Member | Role::Coordinator | Role::External)
        })
        .map(|(party, _)| party)
        .collect();
    let group: Channel = working_group(&mut owner, &in_group).await;
    for (party, p) in parties.iter().zip(&principals) {
        if p.situation == Situation::Removed {
            owner
                .client
                .request(
                    Method::DELETE,
                    &format!("/channels/{}/members/{}", group.id, party.user.id),
                )
                .json(&serde_json::json!({ "reason": "Exclusion" }))
                .send()
                .await
                .unwrap()
                .error_for_status()
                .unwrap();
        }
    }
    // Each principal's joiner is already a member: an allowed add answers "already a
    // member", an allowed removal removes them.
    for (index, p) in principals.iter_mut().enumerate() {
        let joiner = Party::new(
            &server,
            &format!("membre.ajoute{index}"),
            Role::Member,
            "CCAS",
        )
        .await;
        owner
            .client
            .post_empty(
                &format!("/channels/{}/members", group.id),
                &serde_json::json!({ "user_id": joiner.user.id }),
            )
            .await
            .unwrap();
        joiner.accept_rules(&group.id).await;
        p.joiner = joiner.user.id.clone();
    }
    let rules: serde_json::Value = owner
        .client
        .get(&format!("/channels/{}/rules", group.id))
        .await
        .unwrap();
    let members: Vec<&Party> = parties
        .iter()
        .zip(&principals)
        .filter(|(_, p)| p.situation == Situation::Member && p.role != Role::External)
        .map(|(party, _)| party)
        .collect();
    let case_body = |institutions: Vec<String>, member_ids: Vec<String>| CreateCase {
        programme: Programme::PublicTranquillity,
        reporting_institution: owner.user.institution_id.clone().into(),
        regime: LegalRegime::ClspdConfidential,
        group_id: Some(group.id.clone()),
        institutions: institutions.into_iter().map(Into::into).collect(),
        members: member_ids.into_iter().map(Into::into).collect(),
        referent_user_id: None,
        destroy_limit: None,
        scheme: None,
    };
    let member_ids: Vec<String> = members.iter().map(|m| m.user.id.clone()).collect();
    let institutions: Vec<String> = members
        .iter()
        .map(|m| m.user.institution_id.clone())
        .collect();
    let archived: CaseView = owner
        .client
        .post(
            "/cases",
            &case_body(institutions.clone(), member_ids.clone()),
        )
        .await
        .unwrap();
    owner
        .client
        .post_empty(
            &format!("/channels/{}/archive", archived.channel.id),
            &serde_json::json!({ "end_date": server.clock.now_ms() }),
        )
        .await
        .unwrap();
    let live: CaseView = owner
        .client
        .post(
            "/cases",
            &case_body(institutions.clone(), member_ids.clone()),
        )
        .await
        .unwrap();
    let practice: serde_json::Value = owner
        .client
        .post(
            "/practice-sessions",
            &serde_json::json!({
                "name": "", "starts_at": server.clock.now_ms() - 60_000, "ends_at": server.clock.now_ms() + 3_600_000,
                "group_id": group.id,
                "institutions": parties.iter().zip(&principals)
                    .filter(|(_, p)| p.situation == Situation::Member).map(|(party, _)| party.user.institution_id.clone()).collect::<Vec<_>>(),
                "members": parties.iter().zip(&principals)
                    .filter(|(_, p)| p.situation == Situation::Member).map(|(party, _)| party.user.id.clone()).collect::<Vec<_>>()
            }),
        )
        .await
        .unwrap();
    let attachment = owner
        .client
        .upload_attachment(&group.id, "a.txt", "text/plain", b"chiffre")
        .await
        .unwrap();
    let mut reporter = Party::new(&server, "mediateur.auteur", Role::External, "Médiation").await;
    owner
        .client
        .post_empty(
            &format!("/channels/{}/members", group.id),
            &serde_json::json!({ "user_id": reporter.user.id }),
        )
        .await
        .unwrap();
    reporter.accept_rules(&group.id).await;
    // The group's log, as the owner's browser signs it once it lists the group (§22.4):
    // the reporter's client seals nothing before.
    crate::support::start_log(&mut owner, &group.id).await;
    let field_report = reporter
        .client
        .file_field_report(
            &mut reporter.device,
            passerelle_shared::client::NewFieldReport {
                group_id: &group.id,
                category: FieldReportCategory::TechnicalFault,
                place: "Entrée B",
                observed_at: server.clock.now_ms(),
                description: &passerelle_shared::crypto::MessageContent::text("Porte forcée"),
            },
        )
        .await
        .unwrap();
    server
        .institution_of_kind(
            "Intervenant social",
            InstitutionKind::InterventionSocialeCommissariat,
        )
        .await
        .unwrap();
    let ccas = server.institution("CCAS").await.unwrap();
    let mut referrer = Party::new(&server, "isc.auteur", Role::Member, "Intervenant social").await;
    let referral = referrer
        .client
        .open_referral(
            &mut referrer.device,
            passerelle_shared::client::NewReferral {
                client_id: "matrice-orientation",
                reason: passerelle_shared::protocol::v1::referrals::ReferralReason::Housing,
                consent: passerelle_shared::protocol::v1::referrals::ReferralConsent::Consented {
                    method: passerelle_shared::protocol::v1::cases::InformationMethod::InPerson,
                },
                programme: Programme::PublicTranquillity,
                destroy_limit: None,
                scheme: None,
                target_institution: &ccas,
                proposed_referent: None,
                note: None,
            },
        )
        .await
        .unwrap();
    let meeting = owner
        .client
        .schedule_meeting(
            &group.id,
            server.clock.now_ms() + 86_400_000,
            &[live.channel.id.as_str()],
        )
        .await
        .unwrap();
    let meeting = owner
        .client
        .decide_situation(
            &mut owner.device,
            &meeting,
            passerelle_shared::client::Decision {
                case_id: &live.channel.id,
                decision: passerelle_shared::protocol::v1::meetings::MeetingDecision::Postpone,
                note: None,
                next_review_at: None,
            },
        )
        .await
        .unwrap();
    let victim = server
        .create_user("victime", Role::Member, "CCAS")
        .await
        .unwrap();
    let spare_identity = passerelle_shared::crypto::IdentityKeyPair::generate()
        .unwrap()
        .public_key()
        .to_base64url();
    // A device of the owner's waiting to be linked: no principal may see or decide it.
    let foreign_link = server
        .client(&owner.user)
        .await
        .unwrap()
        .request_link("Téléphone du propriétaire")
        .await
        .unwrap()
        .request
        .id;
    let world = World {
        charter,
        rules: rules["current"]["version"].as_u64().unwrap(),
        group: group.id.to_string(),
        case: archived.channel.id.to_string(),
        live_case: live.channel.id.to_string(),
        practice: practice["channel"]["id"].as_str().unwrap().to_owned(),
        attachment: attachment.id.clone(),
        victim: victim.id.clone(),
        colleague: members[0].user.id.clone(),
        institution: owner.user.institution_id.clone(),
        now: server.clock.now_ms(),
        spare_identity,
        foreign_certificate: serde_json::to_value(&owner.device.certificate).unwrap(),
        foreign_link,
        foreign_key: "cle-d-un-autre".to_owned(),
        field_report: field_report.id.clone(),
        owner_envelope: serde_json::to_value(owner.forged_envelope(&group.id)).unwrap(),
        referral: referral.id.clone(),
        ccas,
        meeting: meeting.id.clone(),
    };

    // Every operation of the OpenAPI document has a row, and every row an operation.
    let openapi: serde_json::Value = server
        .http()
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut documented = BTreeSet::new();
    for (path, operations) in openapi["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let table = rows();
    let normalise = |path: &str| -> String {
        let path = path.split('?').next().unwrap_or(path);
        path.split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "{}".to_owned()
                } else {
                    segment.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    };
    let tabled: BTreeSet<(String, String)> = table
        .iter()
        .map(|r| (r.method.to_string(), normalise(r.path)))
        .collect();
    let documented: BTreeSet<(String, String)> = documented
        .into_iter()
        .map(|(m, p)| (m, normalise(&p)))
        .collect();
    let mut expected_rows = documented.clone();
    expected_rows.insert(("GET".into(), "/api/v1/openapi.json".into()));
    expected_rows.insert(("GET".into(), "/api/v1/ws".into()));
    let missing: Vec<_> = expected_rows.difference(&tabled).collect();
    assert!(
        missing.is_empty(),
        "endpoints without a row in the matrix: {missing:?}"
    );
    let stale: Vec<_> = tabled.difference(&expected_rows).collect();
    assert!(
        stale.is_empty(),
        "rows for endpoints that do not exist: {stale:?}"
    );

    // The exclusions (issue 14), once the excluded are members of everything above.
    let admin = crate::support::admin_client(&server, "matrix.admin").await;
    for (party, p) in parties.iter().zip(principals.iter_mut()) {
        match p.situation {
            Situation::Disabled => {
                admin
                    .request(
                        Method::POST,
                        &format!("/admin/users/{}/disable", party.user.id),
                    )
                    .send()
                    .await
                    .unwrap()
                    .error_for_status()
                    .unwrap();
            }
            Situation::DeviceRevoked => {
                party
                    .client
                    .request(Method::DELETE, &format!("/keys/devices/{}", p.device))
                    .send()
                    .await
                    .unwrap()
                    .error_for_status()
                    .unwrap();
                // Its other session is not bound to the device: the rows it would send
                // go with the ended one instead.
                p.second_token = p.token.clone();
            }
            _ => {}
        }
    }

    // The REST cells.
    let http = server.http();
    let mut cells = 0;
    let mut wrong = Vec::new();
    for row in &table {
        if matches!(row.rule, Rule::Public) {
            continue;
        }
        for p in &principals {
            let token = if row.path == REVOKE_DEVICE || row.path == CHANGE_PASSWORD {
                &p.second_token
            } else {
                &p.token
            };
            let mut request = http
                .request(row.method.clone(), server.url(&p.path(&world, row.path)))
                .bearer_auth(token);
            request = match row.body {
                Some(body) => request.json(&body(&world, p)),
                None if row.path.ends_with("/attachments") => request
                    .header("content-type", "application/octet-stream")
                    .body("blob"),
                None => request,
            };
            let before = denials(&server).await;
            let status = request.send().await.unwrap().status();
            let refused = matches!(
                status,
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
            );
            let expect = allowed(row.rule, p.role, p.situation);
            cells += 1;
            if refused == expect {
                wrong.push(format!(
                    "{} {} as {:?}/{:?}: {status}",
                    row.method, row.path, p.role, p.situation
                ));
            } else if refused && denials(&server).await <= before {
                wrong.push(format!(
                    "{} {} as {:?}/{:?}: refused ({status}) but not logged",
                    row.method, row.path, p.role, p.situation
                ));
            }
        }
    }

    // The WebSocket cells: connecting, then each frame, for every principal with a live
    // device (the last REST rows revoked them: re-enrol first).
    drop(parties);
    let ws_cells = websocket_cells(&server, &group.id).await;
    cells += ws_cells.0;
    wrong.extend(ws_cells.1);
    assert!(
        wrong.is_empty(),
        "{} of {cells} cells wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    println!("authorization matrix: {cells} cells");
}

/// Frames × situations on the WebSocket; returns (cells, mismatches).
async fn websocket_cells(server: &TestServer, _old_group: &str) -> (usize, Vec<String>) {
    let mut wrong = Vec::new();
    let mut cells = 0;
    let mut owner = Party::new(server, "ws.proprietaire", Role::Coordinator, "Mairie").await;
    let mut member = Party::new(server, "ws.membre", Role::Member, "CCAS").await;
    let outsider = Party::new(server, "ws.dehors", Role::Member, "CCAS").await;
    let removed = Party::new(server, "ws.exclu", Role::Member, "CCAS").await;
    let unaccepted = Party::bare(server, "ws.sans.charte", Role::External, "Médiation").await;
    let group = working_group(&mut owner, &[&member, &removed, &unaccepted]).await;
    owner
        .client
        .request(
            Method::DELETE,
            &format!("/channels/{}/members/{}", group.id, removed.user.id),
        )
        .json(&serde_json::json!({ "reason": "Exclusion" }))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let id = owner.send_text(&group.id, "ouverture").await;
    owner.ack(&id).await;
    member.receive().await;

    // Connecting with a revoked device, and with an ended session.
    let revoked = Party::new(server, "ws.revoque", Role::Member, "CCAS").await;
    revoked
        .client
        .request(
            Method::DELETE,
            &format!("/keys/devices/{}", revoked.device.device_id),
        )
        .send()
        .await
        .unwrap();
    let before = denials(server).await;
    cells += 1;
    if revoked
        .client
        .connect(&revoked.device.device_id)
        .await
        .is_ok()
        || denials(server).await <= before
    {
        wrong.push("ws connect with a revoked device: not refused and logged".into());
    }
    let ended = server.login(&member.user).await.unwrap();
    server
        .http()
        .post(server.url("/api/v1/auth/logout"))
        .bearer_auth(&ended.token)
        .send()
        .await
        .unwrap();
    let stale = passerelle_shared::client::Client::with_token(
        &server.url(""),
        ended.token,
        member.client.me.clone(),
    );
    cells += 1;
    if stale.connect(&member.device.device_id).await.is_ok() {
        wrong.push("ws connect with an ended session: not refused".into());
    }

    let cases: [(&str, Party, bool); 4] = [
        ("member", member, true),
        ("non-member", outsider, false),
        ("removed", removed, false),
        ("charter not accepted", unaccepted, false),
    ];
    for (situation, mut party, expect) in cases {
        let envelope = party.forged_envelope(&group.id);
        let frames = [
            (
                "sync",
                ClientFrame::Sync {
                    cursors: [(group.id.clone(), 0)].into_iter().collect(),
                },
            ),
            (
                "read",
                ClientFrame::Read {
                    channel_id: group.id.clone(),
                    seq: 1,
                },
            ),
            (
                "typing",
                ClientFrame::Typing {
                    channel_id: group.id.clone(),
                },
            ),
            (
                "send",
                ClientFrame::Send {
                    channel_id: group.id.clone(),
                    envelope,
                },
            ),
        ];
        for (name, frame) in frames {
            cells += 1;
            let before = denials(server).await;
            let sent_id = match &frame {
                ClientFrame::Send { envelope, .. } => Some(envelope.client_msg_id.clone()),
                _ => None,
            };
            party.conn.send(&frame).await.unwrap();
            party.conn.send(&ClientFrame::Ping).await.unwrap();
            let mut refused = false;
            let mut seen = Vec::new();
            loop {
                let next = party.conn.next_within(GUARD).await;
                seen.push(format!("{next:?}").chars().take(120).collect::<String>());
                match next {
                    // A send is answered after its commit, possibly after the pong.
                    Some(ServerFrame::Ack { client_msg_id, .. })
                        if Some(&client_msg_id) == sent_id.as_ref() =>
                    {
                        break
                    }
                    Some(ServerFrame::Error {
                        code, reference, ..
                    }) if code != "bad_signature" && code != "epoch_required" => {
                        refused = true;
                        // A refused send ends its cell; other refusals wait for the pong.
                        if sent_id.is_some() && reference == sent_id {
                            break;
                        }
                    }
                    Some(ServerFrame::Pong) if sent_id.is_none() => break,
                    Some(_) => {}
                    None => {
                        refused = true;
                        break;
                    }
                }
            }
            // A send by a member with a forged signature is refused for its signature,
            // which is not an authorization matter: the member's send cell checks that the
            // frame is not refused for membership or the charter.
            if refused == expect {
                wrong.push(format!(
                    "ws {name} as {situation}: refused={refused} {seen:?}"
                ));
            } else if refused && denials(server).await <= before {
                wrong.push(format!("ws {name} as {situation}: refused but not logged"));
            }
        }
    }
    (cells, wrong)
}

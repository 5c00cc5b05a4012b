//! The annual report (CHARTER.md C14): anonymous counts only — groups, cases opened and
//! closed, members by institution, charter acceptances, exclusions — for the coordinator
//! and the admin. No name, no case reference, no content: the only report the charter
//! allows (C10). Its security section counts how sign-in with passkeys and security keys
//! is used (C15).

use std::collections::BTreeMap;

use passerelle_shared::protocol::v1::cases::LocalScheme;
use passerelle_shared::protocol::v1::field_reports::{FieldReportCategory, FieldReportStatus};
use passerelle_shared::protocol::v1::meetings::MeetingDecision;
use passerelle_shared::protocol::v1::referrals::{ReferralReason, ReferralStatus};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::audit::{EventFilter, Outcome};
use crate::auth::CurrentUser;
use crate::db::{self, entities::annual_report};
use crate::error::{ApiError, Result};
use crate::policy::Capability;
use crate::state::AppState;

/// The events the report counts, each counted in the year it happens (UTC) when it
/// happens: the access-log purge and the destruction of cases change no past count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counted {
    /// A working group was created.
    WorkingGroupCreated,
    /// A case was opened.
    CaseOpened,
    /// A case's follow-up ended (archived).
    CaseClosed,
    /// A practice-analysis session was created.
    PracticeSession,
    /// A direct conversation between two professionals was started (outside any working
    /// group: CHARTER.md C1).
    DirectConversation,
    /// The charter or a group's rules were accepted.
    Acceptance,
    /// A member was removed by a coordinator.
    Exclusion,
    /// A case was opened under ACTE.
    ActeCaseOpened,
    /// A case was opened under a chantier éducatif.
    ChantierCaseOpened,
    /// A mediator filed a field report of this category.
    FieldReportFiled(FieldReportCategory),
    /// A field report reached this status (taken in charge, or done).
    FieldReportReached(FieldReportStatus),
    /// A referral was opened for this reason.
    ReferralOpened(ReferralReason),
    /// A referral reached this status (its outcome: accepted or declined, then followed,
    /// closed).
    ReferralReached(ReferralStatus),
    /// A meeting of a working group was held (closed).
    MeetingHeld,
    /// A situation was reviewed by a meeting held.
    SituationReviewed,
    /// A meeting held decided this about a situation.
    MeetingDecision(MeetingDecision),
}

impl Counted {
    fn indicator(self) -> &'static str {
        match self {
            Counted::WorkingGroupCreated => "working_groups_created",
            Counted::CaseOpened => "cases_opened",
            Counted::CaseClosed => "cases_closed",
            Counted::PracticeSession => "practice_sessions",
            Counted::DirectConversation => "direct_conversations",
            Counted::Acceptance => "charter_acceptances",
            Counted::Exclusion => "exclusions",
            Counted::ActeCaseOpened => "acte_cases_opened",
            Counted::ChantierCaseOpened => "chantier_cases_opened",
            Counted::FieldReportFiled(category) => match category {
                FieldReportCategory::Incivility => "field_reports_incivility",
                FieldReportCategory::Conflict => "field_reports_conflict",
                FieldReportCategory::TechnicalFault => "field_reports_technical_fault",
                FieldReportCategory::IllegalDumping => "field_reports_illegal_dumping",
                FieldReportCategory::Other => "field_reports_other",
            },
            // Every filed report starts `new`: the filings are that count.
            Counted::FieldReportReached(status) => match status {
                FieldReportStatus::New => "field_reports_new",
                FieldReportStatus::InProgress => "field_reports_in_progress",
                FieldReportStatus::Done => "field_reports_done",
            },
            Counted::ReferralOpened(reason) => match reason {
                ReferralReason::Social => "referrals_social",
                ReferralReason::Economic => "referrals_economic",
                ReferralReason::Housing => "referrals_housing",
                ReferralReason::Family => "referrals_family",
                ReferralReason::Health => "referrals_health",
                ReferralReason::Schooling => "referrals_schooling",
                ReferralReason::Other => "referrals_other",
            },
            // Every opened referral starts `proposed`: the openings are that count.
            Counted::ReferralReached(status) => match status {
                ReferralStatus::Proposed => "referrals_proposed",
                ReferralStatus::Accepted => "referrals_accepted",
                ReferralStatus::Declined => "referrals_declined",
                ReferralStatus::Followed => "referrals_followed",
                ReferralStatus::Closed => "referrals_closed",
            },
            Counted::MeetingHeld => "meetings_held",
            Counted::SituationReviewed => "meeting_situations_reviewed",
            Counted::MeetingDecision(decision) => match decision {
                MeetingDecision::MaintainFollowUp => "meeting_decisions_maintain_follow_up",
                MeetingDecision::ReferElsewhere => "meeting_decisions_refer_elsewhere",
                MeetingDecision::CloseSituation => "meeting_decisions_close_situation",
                MeetingDecision::Postpone => "meeting_decisions_postpone",
                MeetingDecision::RequestAssessment => "meeting_decisions_request_assessment",
            },
        }
    }

    /// What opening a case under `scheme` counts as.
    pub(crate) fn scheme_case_opened(scheme: &LocalScheme) -> Counted {
        match scheme {
            LocalScheme::Acte { .. } => Counted::ActeCaseOpened,
            LocalScheme::ChantierEducatif { .. } => Counted::ChantierCaseOpened,
        }
    }

    /// What a created channel of `kind` counts as, if anything.
    pub(crate) fn channel_created(kind: &str) -> Option<Counted> {
        match kind {
            "working_group" => Some(Counted::WorkingGroupCreated),
            "case" => Some(Counted::CaseOpened),
            "practice_session" => Some(Counted::PracticeSession),
            "direct" => Some(Counted::DirectConversation),
            _ => None,
        }
    }
}

/// Counts one event of the report, in the current year.
pub(crate) async fn count(state: &AppState, event: Counted) -> Result<()> {
    count_in(&state.db, state.now_ms(), event).await
}

/// Counts one event of the year of `now_ms`, on `db`: inside the transaction that makes
/// the event happen, so that the count and the event are written together or not at all.
pub(crate) async fn count_in(db: &impl ConnectionTrait, now_ms: i64, event: Counted) -> Result<()> {
    db::reports::bump(db, year_of(now_ms), event.indicator()).await?;
    Ok(())
}

/// The annual report of one calendar year (UTC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AnnualReport {
    /// The year.
    pub year: i32,
    /// Working groups existing at the end of the year (now, for the current year).
    pub working_groups: u64,
    /// Working groups created during the year.
    pub working_groups_created: u64,
    /// Cases opened during the year.
    pub cases_opened: u64,
    /// Cases whose follow-up ended during the year.
    pub cases_closed: u64,
    /// Practice-analysis sessions created during the year.
    pub practice_sessions: u64,
    /// Direct conversations started during the year (reports frozen before they were
    /// counted read 0).
    #[serde(default)]
    pub direct_conversations: u64,
    /// Distinct members of working groups and cases, by institution, at the end of the
    /// year (now, for the current year).
    pub members_by_institution: BTreeMap<String, u64>,
    /// Charter and group-rules acceptances during the year.
    pub charter_acceptances: u64,
    /// Members excluded during the year.
    pub exclusions: u64,
    /// Cases opened under the local schemes during the year (reports frozen before the
    /// schemes existed read 0).
    #[serde(default)]
    pub schemes: SchemeCounts,
    /// Sign-in security during the year.
    pub security: SecurityCounts,
    /// The mediators' field reports of the year (absent from reports frozen before they
    /// existed, read as zeros).
    #[serde(default)]
    pub field_reports: FieldReportCounts,
    /// The intervenant social's referrals of the year (absent from reports frozen before
    /// they existed, read as zeros).
    #[serde(default)]
    pub referrals: ReferralCounts,
    /// The meetings of the working groups held during the year (absent from reports
    /// frozen before they existed, read as zeros).
    #[serde(default)]
    pub meetings: MeetingCounts,
}

/// The referrals: opened by reason, and their outcomes during the year.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReferralCounts {
    /// Referrals opened, by reason (stable name), every reason listed.
    pub by_reason: BTreeMap<String, u64>,
    /// Referrals that reached each outcome (stable name) during the year: `accepted`,
    /// `declined`, `followed`, `closed`.
    pub by_outcome: BTreeMap<String, u64>,
}

/// The meetings of the working groups (cellule de veille, programmes' groups).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MeetingCounts {
    /// Meetings held (closed) during the year.
    pub held: u64,
    /// Situations reviewed by those meetings (one per agenda item).
    pub situations_reviewed: u64,
    /// Their decisions, by decision (stable name), every decision listed.
    pub by_decision: BTreeMap<String, u64>,
}

/// The mediators' field reports: filed by category, and how many reached each status
/// during the year.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldReportCounts {
    /// Reports filed, by category (stable name), every category listed.
    pub by_category: BTreeMap<String, u64>,
    /// Reports that reached each status (stable name) during the year: `new` counts the
    /// filings, `in_progress` the reports taken in charge, `done` those answered.
    pub by_status: BTreeMap<String, u64>,
}

/// Cases opened under the CLSPD's local schemes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SchemeCounts {
    /// ACTE: pupils temporarily excluded from their collège, hosted by a structure.
    pub acte_cases_opened: u64,
    /// Chantiers éducatifs.
    pub chantier_cases_opened: u64,
}

/// The security section: passkeys and security keys, and MFA resets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SecurityCounts {
    /// Keys registered.
    pub security_keys_registered: u64,
    /// Keys removed by their owner.
    pub security_keys_removed: u64,
    /// Sign-ins with a key (second step or passwordless).
    pub security_key_sign_ins: u64,
    /// Refused key answers (unknown key, bad signature, replay, wrong site).
    pub security_key_failures: u64,
    /// MFA resets by an admin (every key and the TOTP secret forgotten).
    pub mfa_resets: u64,
}

fn year_bounds(year: i32) -> Result<(i64, i64)> {
    let start = time::Date::from_calendar_date(year, time::Month::January, 1)
        .map_err(|_| ApiError::BadRequest("année invalide".into()))?;
    let end = time::Date::from_calendar_date(year + 1, time::Month::January, 1)
        .map_err(|_| ApiError::BadRequest("année invalide".into()))?;
    let ms = |date: time::Date| date.midnight().assume_utc().unix_timestamp() * 1000;
    Ok((ms(start), ms(end)))
}

fn year_of(ms: i64) -> i32 {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .map(|t| t.year())
        .unwrap_or(1970)
}

async fn count_actions(
    state: &AppState,
    actions: &[&str],
    from_ms: i64,
    to_ms: i64,
) -> Result<u64> {
    count_outcomes(state, actions, Outcome::Success, from_ms, to_ms).await
}

async fn count_outcomes(
    state: &AppState,
    actions: &[&str],
    outcome: Outcome,
    from_ms: i64,
    to_ms: i64,
) -> Result<u64> {
    let mut total = 0;
    for action in actions {
        let filter = EventFilter {
            action: Some((*action).to_owned()),
            outcome: Some(outcome),
            from_ms: Some(from_ms),
            to_ms: Some(to_ms),
            ..EventFilter::default()
        };
        total += state
            .audit
            .count(&filter)
            .await
            .map_err(ApiError::internal)?;
    }
    Ok(total)
}

/// The report of `year` as things stand: the counters, and the groups and members of
/// today. Only right for the current year, or for a year that has just ended: the
/// report of a closed year is frozen from this (see [`freeze_closed_years`]).
async fn compute(state: &AppState, year: i32) -> Result<AnnualReport> {
    let (from, to) = year_bounds(year)?;
    let counters = db::reports::counters(&state.db, year).await?;
    let counter = |event: Counted| counters.get(event.indicator()).copied().unwrap_or(0);
    Ok(AnnualReport {
        year,
        working_groups: db::reports::channels_existing(&state.db, "working_group", to).await?,
        working_groups_created: counter(Counted::WorkingGroupCreated),
        cases_opened: counter(Counted::CaseOpened),
        cases_closed: counter(Counted::CaseClosed),
        practice_sessions: counter(Counted::PracticeSession),
        direct_conversations: counter(Counted::DirectConversation),
        members_by_institution: db::reports::members_by_institution(&state.db, to).await?,
        charter_acceptances: counter(Counted::Acceptance),
        exclusions: counter(Counted::Exclusion),
        schemes: SchemeCounts {
            acte_cases_opened: counter(Counted::ActeCaseOpened),
            chantier_cases_opened: counter(Counted::ChantierCaseOpened),
        },
        // Sign-in security is read from the access log while the year runs; the year's
        // snapshot freezes it before any purge (the log keeps at least six months).
        security: SecurityCounts {
            security_keys_registered: count_actions(state, &["webauthn_registered"], from, to)
                .await?,
            security_keys_removed: count_actions(state, &["webauthn_removed"], from, to).await?,
            security_key_sign_ins: count_actions(state, &["webauthn_used"], from, to).await?,
            security_key_failures: count_outcomes(
                state,
                &["webauthn_failed", "webauthn_registration_failed"],
                Outcome::Failure,
                from,
                to,
            )
            .await?,
            mfa_resets: count_actions(state, &["admin_mfa_reset"], from, to).await?,
        },
        field_reports: FieldReportCounts {
            by_category: FieldReportCategory::ALL
                .into_iter()
                .map(|c| {
                    let count = counter(Counted::FieldReportFiled(c));
                    (c.as_str().to_owned(), count)
                })
                .collect(),
            by_status: FieldReportStatus::ALL
                .into_iter()
                .map(|s| {
                    (
                        s.as_str().to_owned(),
                        counter(Counted::FieldReportReached(s)),
                    )
                })
                .collect(),
        },
        referrals: ReferralCounts {
            by_reason: ReferralReason::ALL
                .iter()
                .map(|r| (r.as_str().to_owned(), counter(Counted::ReferralOpened(*r))))
                .collect(),
            by_outcome: ReferralStatus::ALL
                .iter()
                .filter(|s| **s != ReferralStatus::Proposed)
                .map(|s| (s.as_str().to_owned(), counter(Counted::ReferralReached(*s))))
                .collect(),
        },
        meetings: MeetingCounts {
            held: counter(Counted::MeetingHeld),
            situations_reviewed: counter(Counted::SituationReviewed),
            by_decision: MeetingDecision::ALL
                .into_iter()
                .map(|d| (d.as_str().to_owned(), counter(Counted::MeetingDecision(d))))
                .collect(),
        },
    })
}

async fn store(state: &AppState, report: &AnnualReport, frozen: bool) -> Result<()> {
    let body = serde_json::to_string(report).map_err(ApiError::internal)?;
    db::reports::store(
        &state.db,
        annual_report::Model {
            year: report.year,
            body,
            frozen,
            updated_at: state.now_ms(),
        },
    )
    .await?;
    Ok(())
}

/// Keeps the current year's report up to date and freezes the years that have ended,
/// from their last snapshot: run by every retention pass, so a year's groups and members
/// are those of its last days, whenever someone reads the report.
pub async fn freeze_closed_years(state: &AppState) -> Result<()> {
    let current = year_of(state.now_ms());
    for year in db::reports::unfrozen_years(&state.db).await? {
        if year < current {
            freeze(state, year).await?;
        }
    }
    let report = compute(state, current).await?;
    store(state, &report, false).await
}

/// The frozen report of the closed `year`: the last snapshot taken while it ran, or, if
/// the server never took one, what can be computed now.
async fn freeze(state: &AppState, year: i32) -> Result<AnnualReport> {
    let report = match db::reports::stored(&state.db, year).await? {
        Some(stored) => serde_json::from_str(&stored.body).map_err(ApiError::internal)?,
        None => compute(state, year).await?,
    };
    store(state, &report, true).await?;
    Ok(report)
}

/// The report for `year`; recorded in the access log. A closed year's report is frozen:
/// it reads the same whatever happens afterwards.
pub async fn annual(state: &AppState, user: &CurrentUser, year: i32) -> Result<AnnualReport> {
    user.require(state, Capability::ReadAnnualReport, "annual_report_read")
        .await?;
    if !(2000..=9998).contains(&year) {
        return Err(ApiError::BadRequest("année invalide".into()));
    }
    let report = if year < year_of(state.now_ms()) {
        match db::reports::stored(&state.db, year).await? {
            Some(stored) if stored.frozen => {
                serde_json::from_str(&stored.body).map_err(ApiError::internal)?
            }
            _ => freeze(state, year).await?,
        }
    } else {
        compute(state, year).await?
    };
    state
        .record(
            user.actor(),
            "annual_report_read",
            None,
            Outcome::Success,
            json!({ "year": year }),
        )
        .await?;
    Ok(report)
}

/// The report as CSV: one `indicator,value` line per count, members by institution last.
pub fn to_csv(report: &AnnualReport) -> String {
    let mut lines = vec![
        "indicateur,valeur".to_owned(),
        format!("annee,{}", report.year),
        format!("groupes_de_travail,{}", report.working_groups),
        format!("groupes_de_travail_crees,{}", report.working_groups_created),
        format!("situations_ouvertes,{}", report.cases_opened),
        format!("situations_closes,{}", report.cases_closed),
        format!("seances_analyse_de_pratiques,{}", report.practice_sessions),
        format!("conversations_directes,{}", report.direct_conversations),
        format!("acceptations_charte,{}", report.charter_acceptances),
        format!("exclusions,{}", report.exclusions),
        format!("situations_acte,{}", report.schemes.acte_cases_opened),
        format!(
            "situations_chantier_educatif,{}",
            report.schemes.chantier_cases_opened
        ),
        format!(
            "cles_de_securite_enregistrees,{}",
            report.security.security_keys_registered
        ),
        format!(
            "cles_de_securite_retirees,{}",
            report.security.security_keys_removed
        ),
        format!(
            "connexions_par_cle_de_securite,{}",
            report.security.security_key_sign_ins
        ),
        format!(
            "echecs_de_cle_de_securite,{}",
            report.security.security_key_failures
        ),
        format!("reinitialisations_mfa,{}", report.security.mfa_resets),
    ];
    for (category, count) in &report.field_reports.by_category {
        lines.push(format!("signalements_{category},{count}"));
    }
    for (status, count) in &report.field_reports.by_status {
        lines.push(format!("signalements_statut_{status},{count}"));
    }
    for (reason, count) in &report.referrals.by_reason {
        lines.push(format!("orientations_{reason},{count}"));
    }
    for (outcome, count) in &report.referrals.by_outcome {
        lines.push(format!("orientations_issue_{outcome},{count}"));
    }
    lines.push(format!("reunions_tenues,{}", report.meetings.held));
    lines.push(format!(
        "situations_examinees,{}",
        report.meetings.situations_reviewed
    ));
    for (decision, count) in &report.meetings.by_decision {
        lines.push(format!("decisions_{decision},{count}"));
    }
    for (institution, count) in &report.members_by_institution {
        lines.push(format!("membres_{},{count}", csv_field(institution)));
    }
    lines.join("\n") + "\n"
}

/// Quotes a CSV field, and neutralises spreadsheet formulas.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    format!("\"{}\"", text.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_year_spans_its_days_in_utc() {
        let (from, to) = year_bounds(2026).unwrap();
        assert_eq!(from, 1_767_225_600_000);
        assert_eq!(to - from, 365 * 24 * 3_600_000);
    }

    #[test]
    fn csv_cells_cannot_become_formulas() {
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("CCAS"), "\"CCAS\"");
    }
}

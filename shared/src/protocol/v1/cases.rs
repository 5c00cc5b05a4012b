//! Cases, their lifecycle, and practice-analysis sessions (CHARTER.md C7–C9, C11, C13;
//! docs/ARCHITECTURE.md).
//!
//! A case is a channel named by a random case reference. What the server stores about it
//! comes from closed lists (programme, reporting institution, follow-up status, how the
//! person was informed); the person's identity never reaches it in clear: if it is
//! recorded at all, it is sealed for the coordinators and the referent only
//! ([`super::case_identity`]).
//!
//! **Minimisation (C8).** The few free-text fields are short
//! ([`MAX_NOTE_CHARS`] characters) and must hold no name, no offence and no health data:
//! write the minimum the reader needs, and never what identifies the person.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::channels::{Channel, LegalRegime};
use crate::ids::{ChannelId, InstitutionId, UserId};

/// Longest free-text note, in characters (CHARTER.md C8).
pub const MAX_NOTE_CHARS: usize = 280;

/// Longest written reason for reading an archived case, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Shortest written reason for reading an archived case, in characters.
pub const MIN_REASON_CHARS: usize = 10;

macro_rules! closed_list {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $code:literal, $label:literal;)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in the order forms show them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable name, stored and sent on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)+
                }
            }

            /// The French label shown in forms.
            pub fn label(self) -> &'static str {
                match self {
                    $($name::$variant => $label,)+
                }
            }

            /// Parses the stable name.
            pub fn parse(name: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|value| value.as_str() == name)
            }
        }
    };
}

/// The same closed-list shape for the other resources that describe a person's situation
/// (referrals), so that every list reads, parses and labels alike.
pub(crate) use closed_list;

closed_list! {
    /// The CLSPD programme a case is followed under.
    Programme {
        /// Young people exposed to delinquency.
        YouthExposedToDelinquency => "youth_exposed_to_delinquency",
            "Jeunes exposés à la délinquance";
        /// Violence against women, domestic violence, help to victims.
        ViolenceAgainstWomenAndDomesticViolence => "violence_against_women_and_domestic_violence",
            "Violences faites aux femmes, violences intrafamiliales et aide aux victimes";
        /// Public tranquillity.
        PublicTranquillity => "public_tranquillity",
            "Tranquillité publique";
    }
}

closed_list! {
    /// Where a case stands in its follow-up (not its lifecycle: see [`Channel::status`]).
    FollowUpStatus {
        /// Reported to the group, not yet assessed.
        Reported => "reported", "Situation signalée";
        /// Being assessed by the group.
        Assessment => "assessment", "En cours d'évaluation";
        /// Support in progress.
        Support => "support", "Accompagnement en cours";
        /// Referred to ordinary services (droit commun).
        Referred => "referred", "Orientée vers le droit commun";
    }
}

closed_list! {
    /// How the person (or their guardians) was informed (CHARTER.md C13).
    InformationMethod {
        /// Face to face.
        InPerson => "in_person", "Entretien";
        /// By letter.
        Letter => "letter", "Courrier";
        /// By telephone.
        Phone => "phone", "Téléphone";
    }
}

closed_list! {
    /// Who was informed.
    InformedParty {
        /// The person concerned.
        Person => "person", "La personne concernée";
        /// The guardians (parents, legal representatives) of a minor.
        Guardians => "guardians", "Les représentants légaux";
        /// Both.
        PersonAndGuardians => "person_and_guardians",
            "La personne et ses représentants légaux";
    }
}

closed_list! {
    /// Why the person was not informed; always documented (CHARTER.md C13).
    NotInformedReason {
        /// Informing would go against the child's interest.
        ChildInterest => "child_interest", "Intérêt de l'enfant";
        /// Informing would put the person or someone else at risk.
        RiskToPerson => "risk_to_person", "Risque pour la personne ou pour autrui";
        /// The person could not be reached despite attempts.
        Unreachable => "unreachable", "Personne injoignable malgré les tentatives";
    }
}

/// How the person was informed, or why not (CHARTER.md C13).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum InformationRecord {
    /// The person (or their guardians) was informed.
    Informed {
        /// When (unix ms).
        informed_at: i64,
        /// How.
        method: InformationMethod,
        /// Who was informed.
        informed: InformedParty,
        /// By whom: the account id of a member of the case.
        informed_by: UserId,
    },
    /// The person was deliberately not informed, for a documented reason.
    NotInformed {
        /// The reason, from the closed list.
        reason: NotInformedReason,
        /// Left empty: a note in clear is refused (`note_must_be_sealed`), the note goes
        /// in `sealed_note`. Cases recorded before notes were sealed keep theirs here
        /// until the information is recorded again (docs/PROTOCOL.md §24).
        #[serde(default)]
        note: String,
        /// A short justification (at most [`MAX_NOTE_CHARS`] characters), sealed by the
        /// recording device under [`super::sealed_meta::note_scope`] and one of the
        /// case's epochs. Minimisation: no name, no offence, no health data.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<Object>)]
        sealed_note: Option<Box<crate::crypto::Envelope>>,
        /// Decided by: the account id of a member of the case.
        decided_by: UserId,
    },
}

/// Longest ACTE exclusion, in calendar days: a temporary exclusion from a collège lasts
/// at most eight school days (Code de l'éducation, R. 511-14), which spans at most
/// fourteen calendar days with its week-ends.
pub const MAX_ACTE_DAYS: i64 = 14;

/// Longest period of a chantier éducatif, in calendar days: a chantier follows a young
/// person over weeks, never over more than a year.
pub const MAX_CHANTIER_DAYS: i64 = 366;

/// A local scheme (*dispositif*) of the CLSPD a case of the youth programme is followed
/// under, beside its programme; counted by the annual report. Only dates and institution
/// ids: never the young person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LocalScheme {
    /// ACTE (*accompagnement des collégiens temporairement exclus*): the school refers an
    /// excluded pupil to a host structure for the days of the exclusion.
    Acte {
        /// The school (an institution of type Éducation nationale).
        school_institution: InstitutionId,
        /// First day of the exclusion (unix ms, midnight UTC of the day).
        excluded_from: i64,
        /// Last day of the exclusion (unix ms), at most [`MAX_ACTE_DAYS`] after the first.
        excluded_until: i64,
        /// The structure that hosts the pupil during the exclusion (another institution).
        host_institution: InstitutionId,
    },
    /// Chantier éducatif: young people of 17 to 25 followed over a work period.
    ChantierEducatif {
        /// First day of the chantier (unix ms).
        starts_on: i64,
        /// Last day of the chantier (unix ms), at most [`MAX_CHANTIER_DAYS`] after the first.
        ends_on: i64,
    },
}

impl LocalScheme {
    /// The stable name of the scheme, stored and counted.
    pub fn as_str(&self) -> &'static str {
        match self {
            LocalScheme::Acte { .. } => "acte",
            LocalScheme::ChantierEducatif { .. } => "chantier_educatif",
        }
    }

    /// The French label shown in forms and in the annual report.
    pub fn label(&self) -> &'static str {
        match self {
            LocalScheme::Acte { .. } => "ACTE (collégiens temporairement exclus)",
            LocalScheme::ChantierEducatif { .. } => "Chantier éducatif",
        }
    }
}

/// `POST /api/v1/cases`: a coordinator opens a case. There is no field for the person's
/// identity: if it is recorded at all, it goes end-to-end encrypted into the channel.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCase {
    /// Programme.
    pub programme: Programme,
    /// The institution that reported the situation (an institution id of the CLSPD).
    pub reporting_institution: InstitutionId,
    /// Legal regime the case shares under.
    pub regime: LegalRegime,
    /// The working group whose internal rules apply (recommended: CHARTER.md C1).
    #[serde(default)]
    pub group_id: Option<ChannelId>,
    /// Institutions whose professionals may be members (the allow-list).
    #[serde(default)]
    pub institutions: Vec<InstitutionId>,
    /// Initial members besides the coordinator (account ids).
    #[serde(default)]
    pub members: Vec<UserId>,
    /// The case's referent: one of its members.
    #[serde(default)]
    pub referent_user_id: Option<UserId>,
    /// A date after which the case must not be kept (unix ms), e.g. the person's 25th
    /// birthday for the youth programme. The server stores this date only, never a birth
    /// date.
    #[serde(default)]
    pub destroy_limit: Option<i64>,
    /// The local scheme the case is followed under, if any (youth programme only).
    #[serde(default)]
    pub scheme: Option<LocalScheme>,
}

/// `PATCH /api/v1/cases/{id}`: what the coordinator or the referent may change.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCase {
    /// New follow-up status.
    #[serde(default)]
    pub follow_up_status: Option<FollowUpStatus>,
    /// New referent (a member of the case).
    #[serde(default)]
    pub referent_user_id: Option<UserId>,
    /// An earlier destruction limit (unix ms); a limit can only be brought forward.
    #[serde(default)]
    pub destroy_limit: Option<i64>,
    /// The situation was reviewed, even if nothing changes. Any update is a review: the
    /// next one is due a review period later (CHARTER.md C11).
    #[serde(default)]
    pub reviewed: bool,
    /// The signed record naming `referent_user_id` (docs/PROTOCOL.md §19, §22.1:
    /// `role_changed`, role `referent`), extending the case's membership log. Required to
    /// change the referent of a case that has a log; also accepted to sign the current
    /// referent of a case whose log does not name them yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub record: Option<crate::crypto::MembershipRecord>,
}

/// `GET /api/v1/cases/{id}`: a case as its members see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CaseView {
    /// The channel (its name is the case reference).
    pub channel: Channel,
    /// Programme.
    pub programme: Programme,
    /// Reporting institution (id).
    pub reporting_institution: InstitutionId,
    /// Follow-up status.
    pub follow_up_status: FollowUpStatus,
    /// The referent (account id).
    pub referent_user_id: Option<UserId>,
    /// The destruction limit the coordinator set (unix ms): required for the youth
    /// programme (the person's 25th birthday, computed by the client from the birth
    /// month, which never reaches the server).
    pub destroy_limit: Option<i64>,
    /// How the person was informed, or why not; absent until recorded.
    pub information: Option<InformationRecord>,
    /// Who recorded it (account id).
    pub information_recorded_by: Option<UserId>,
    /// Who last sealed the note again under a newer epoch (§24), when not the person who
    /// recorded the information: the note's sealer, whose device must sign it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note_sealed_by: Option<UserId>,
    /// When it was recorded (unix ms).
    pub information_recorded_at: Option<i64>,
    /// When the situation must be reviewed next (unix ms, CHARTER.md C11).
    #[serde(default)]
    pub next_review_at: Option<i64>,
    /// Since when the case, not reviewed in time, is proposed for closing: it is archived
    /// automatically unless reviewed within the configured delay.
    #[serde(default)]
    pub closing_proposed_at: Option<i64>,
    /// The local scheme (ACTE, chantier éducatif), if any.
    #[serde(default)]
    pub scheme: Option<LocalScheme>,
    /// Whether the person's identity is recorded (sealed for the coordinators and the
    /// referent only, [`super::case_identity`]); never the identity itself.
    #[serde(default)]
    pub identity: Option<super::case_identity::IdentityStatus>,
    /// Whether the caller coordinates the case (a coordinator, or a coordinator named by
    /// its group): what the screen offers them.
    #[serde(default)]
    pub caller_coordinates: bool,
    /// Whether the caller may read the person's identity (its coordinators and referent).
    #[serde(default)]
    pub caller_reads_identity: bool,
}

impl CaseView {
    /// The sealed note of why the person was not informed, if any (§24).
    pub fn sealed_note(&self) -> Option<&crate::crypto::Envelope> {
        match &self.information {
            Some(InformationRecord::NotInformed {
                sealed_note: Some(envelope),
                ..
            }) => Some(envelope),
            _ => None,
        }
    }

    /// Who sealed the note, whose device must have signed it: who sealed it again under a
    /// newer epoch, or else who recorded the information.
    pub fn note_sealer(&self) -> Option<&str> {
        self.note_sealed_by
            .as_deref()
            .or(self.information_recorded_by.as_deref())
    }
}

/// `POST /api/v1/channels/{id}/archive`: the coordinator ends the follow-up.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchiveCase {
    /// End of the follow-up (unix ms), not in the future.
    pub end_date: i64,
    /// An earlier limit (unix ms), e.g. the person's 25th birthday for the youth programme.
    /// The case is destroyed at the earlier of this and three years after `end_date`.
    #[serde(default)]
    pub destroy_by: Option<i64>,
}

/// `POST /api/v1/channels/{id}/open-archived`: the written reason for reading an archived
/// case, logged in the access log (CHARTER.md C11). Minimisation: say why, not about whom.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenArchived {
    /// Why the archive must be read (10 to 500 characters).
    pub reason: String,
}

/// Answer to `open-archived`: the archive is readable by the caller until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ArchiveAccess {
    /// Channel.
    pub channel_id: ChannelId,
    /// Readable until (unix ms).
    pub expires_at: i64,
}

/// `GET /api/v1/cases/notice-templates`: a model letter or script to inform the person
/// (CHARTER.md C13).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NoticeTemplate {
    /// Stable id.
    pub id: String,
    /// Title, in French.
    pub title: String,
    /// Who it is addressed to.
    pub audience: InformedParty,
    /// The text, in French Markdown, with `[placeholders]` to fill in.
    pub text: String,
}

/// `POST /api/v1/practice-sessions`: a facilitator opens an *analyse de pratiques*
/// session. Sessions are never linked to a case (CHARTER.md C9).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePracticeSession {
    /// Left empty: the session's title is sealed by the client afterwards
    /// (`PUT /channels/{id}/title`, docs/PROTOCOL.md §24); a title in clear is refused
    /// (`title_must_be_sealed`).
    #[serde(default)]
    pub name: String,
    /// Start (unix ms).
    pub starts_at: i64,
    /// End (unix ms): the session is read-only from then on.
    pub ends_at: i64,
    /// The working group whose internal rules apply.
    #[serde(default)]
    pub group_id: Option<ChannelId>,
    /// Institutions whose professionals may take part.
    #[serde(default)]
    pub institutions: Vec<InstitutionId>,
    /// Participants besides the facilitator (account ids).
    #[serde(default)]
    pub members: Vec<UserId>,
}

/// A practice session as its participants see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PracticeSession {
    /// The channel (with `starts_at`, `ends_at` and `destroy_by`).
    pub channel: Channel,
    /// The facilitator (account id).
    pub facilitator: UserId,
    /// The rule shown to participants, in French.
    pub rule: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_lists_round_trip_through_their_names() {
        for programme in Programme::ALL {
            assert_eq!(Programme::parse(programme.as_str()), Some(*programme));
            let json = serde_json::to_string(programme).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", programme.as_str()));
        }
        for status in FollowUpStatus::ALL {
            assert_eq!(FollowUpStatus::parse(status.as_str()), Some(*status));
        }
        assert_eq!(Programme::parse("anything else"), None);
    }

    #[test]
    fn an_information_record_is_tagged_by_its_outcome() {
        let record = InformationRecord::NotInformed {
            reason: NotInformedReason::ChildInterest,
            note: "Attendre l'audience".into(),
            sealed_note: None,
            decided_by: "u".into(),
        };
        let json = serde_json::to_value(&record).unwrap_or_default();
        assert_eq!(json["outcome"], "not_informed");
        assert_eq!(json["reason"], "child_interest");
        assert_eq!(
            serde_json::from_value::<InformationRecord>(json).ok(),
            Some(record)
        );
    }

    #[test]
    fn a_case_request_has_no_field_for_a_name() {
        let json = r#"{"programme":"public_tranquillity","reporting_institution":"i",
            "regime":"clspd_confidential","person_name":"Jean Dupont"}"#;
        assert!(serde_json::from_str::<CreateCase>(json).is_err());
    }
}

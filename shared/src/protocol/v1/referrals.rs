//! Referrals (*orientations*) of the intervenant social au commissariat (issue 21, item 1;
//! docs/PROTOCOL.md §17).
//!
//! A referrer (an account of an institution of kind `intervention_sociale_commissariat`)
//! refers a person to another institution of the CLSPD: a reason from a closed list, the
//! person's consent (CHARTER.md C13), the target institution, optionally the proposed
//! referent there, and an optional short note sealed for a channel the referrer shares
//! with that referent. A professional of the target institution (or the coordinator)
//! accepts it, which opens a case with a named referent, or declines it with a reason from
//! a closed list. The referral is then followed, then closed.
//!
//! **Minimisation (CHARTER.md C7, C8).** There is no field for the person: the server
//! stores closed-list values and dates; what the referrer writes travels end-to-end
//! encrypted.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::cases::{closed_list, InformationMethod, LocalScheme, Programme};
use crate::crypto::Envelope;
use crate::ids::{CaseId, InstitutionId, UserId};

/// Longest client id of a referral, in characters.
pub const MAX_CLIENT_ID_CHARS: usize = 64;

/// Largest sealed note, in ciphertext bytes: the padding bucket of a note of
/// [`super::cases::MAX_NOTE_CHARS`] characters, plus the GCM tag. A longer text does not
/// fit and is refused (`referral_note_too_long`).
pub const MAX_NOTE_CIPHERTEXT: usize = 2048 + 16;

closed_list! {
    /// Why the person is referred, so that the annual report can count it.
    ReferralReason {
        /// Social difficulty (isolation, access to rights).
        Social => "social", "Difficultés sociales";
        /// Economic difficulty (resources, debts).
        Economic => "economic", "Difficultés économiques";
        /// Housing.
        Housing => "housing", "Logement";
        /// Family difficulty (conflict, parenting).
        Family => "family", "Difficultés familiales";
        /// Health (access to care), never a diagnosis.
        Health => "health", "Santé (accès aux soins)";
        /// A pupil temporarily excluded from school, hosted for the days of the exclusion
        /// (ACTE).
        Schooling => "schooling", "Scolarité (exclusion temporaire)";
        /// Anything else.
        Other => "other", "Autre";
    }
}

closed_list! {
    /// Why a person informed of the referral is referred without their consent
    /// (CHARTER.md C13): always documented.
    WithoutConsentReason {
        /// The child's interest (child protection).
        ChildInterest => "child_interest", "Intérêt de l'enfant";
        /// A danger to the person or to someone else.
        DangerToPerson => "danger_to_person", "Danger pour la personne ou pour autrui";
        /// The person cannot express consent now.
        UnableToConsent => "unable_to_consent",
            "Personne hors d'état d'exprimer son consentement";
    }
}

closed_list! {
    /// Why the target institution declines a referral.
    DeclineReason {
        /// Outside the institution's remit.
        OutsideRemit => "outside_remit", "Hors du champ de compétence du service";
        /// Already followed elsewhere.
        AlreadyFollowed => "already_followed", "Personne déjà suivie par ailleurs";
        /// No capacity now.
        NoCapacity => "no_capacity", "Pas de capacité de prise en charge";
        /// The person refused the support.
        PersonRefused => "person_refused", "La personne a refusé l'accompagnement";
        /// Anything else.
        Other => "other", "Autre";
    }
}

closed_list! {
    /// Where a referral stands: `proposed` → `accepted` or `declined`; `accepted` →
    /// `followed` → `closed`.
    ReferralStatus {
        /// Sent, waiting for the target institution.
        Proposed => "proposed", "Proposée";
        /// Accepted: a case is open at the target institution.
        Accepted => "accepted", "Acceptée";
        /// Declined, with a reason.
        Declined => "declined", "Refusée";
        /// The referent confirmed the follow-up started.
        Followed => "followed", "Suivie";
        /// The referral is over.
        Closed => "closed", "Close";
    }
}

impl ReferralStatus {
    /// Whether a referral may move from this status to `to`: one step forward, never back,
    /// so that a replayed transition is told apart from a new one.
    pub fn may_become(self, to: ReferralStatus) -> bool {
        use ReferralStatus::*;
        matches!(
            (self, to),
            (Proposed, Accepted) | (Proposed, Declined) | (Accepted, Followed) | (Followed, Closed)
        )
    }
}

/// The person's consent to the referral (CHARTER.md C13): they are always informed; they
/// consented, or they are referred without their consent for a documented reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReferralConsent {
    /// Informed, and consenting.
    Consented {
        /// How they were informed.
        method: InformationMethod,
    },
    /// Informed, and referred without their consent.
    InformedWithoutConsent {
        /// How they were informed.
        method: InformationMethod,
        /// Why, from the closed list.
        reason: WithoutConsentReason,
    },
}

impl ReferralConsent {
    /// How the person was informed.
    pub fn method(&self) -> InformationMethod {
        match self {
            ReferralConsent::Consented { method }
            | ReferralConsent::InformedWithoutConsent { method, .. } => *method,
        }
    }
}

/// `POST /api/v1/referrals`: a referrer opens a referral. There is no field for the
/// person: the note, sealed, says what the receiving side needs.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenReferral {
    /// The client's id for this referral (1 to [`MAX_CLIENT_ID_CHARS`] letters, digits,
    /// `-` or `_`): the same id sent twice is refused as a replay.
    pub client_id: String,
    /// Why.
    pub reason: ReferralReason,
    /// The person's consent.
    pub consent: ReferralConsent,
    /// The CLSPD programme the case will be followed under once accepted.
    pub programme: Programme,
    /// For the youth programme, the date after which the case must not be kept (the
    /// person's 25th birthday, computed by the client: CHARTER.md C11).
    #[serde(default)]
    pub destroy_limit: Option<i64>,
    /// The local scheme the case will be followed under (youth programme only). An ACTE
    /// referral is addressed to the scheme's host structure; the school that excluded the
    /// pupil may open one itself.
    #[serde(default)]
    pub scheme: Option<LocalScheme>,
    /// The institution the person is referred to (another institution of the CLSPD).
    pub target_institution: InstitutionId,
    /// The professional of the target institution proposed as referent.
    #[serde(default)]
    pub proposed_referent: Option<UserId>,
    /// A short note for the receiving side, sealed for a channel the referrer shares with
    /// the proposed referent (a direct conversation); needs `proposed_referent`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub note: Option<Envelope>,
}

/// `POST /api/v1/referrals/{id}/accept`: a professional of the target institution (or the
/// coordinator) accepts; a case opens with the referent.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptReferral {
    /// The case's referent, a professional of the target institution; by default the
    /// proposed referent, or else the person accepting.
    #[serde(default)]
    pub referent_user_id: Option<UserId>,
    /// The working group whose internal rules the case follows (one the person accepting
    /// belongs to); without it the case has rules of its own, which the coordinator
    /// publishes before anyone reads it.
    #[serde(default)]
    pub group_id: Option<String>,
}

/// `POST /api/v1/referrals/{id}/decline`: the target institution declines, with a reason.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineReferral {
    /// Why, from the closed list.
    pub reason: DeclineReason,
    /// A short note for the referrer, sealed for a channel the decliner shares with them.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub note: Option<Envelope>,
}

/// `POST /api/v1/referrals/{id}/status`: the referent (or the coordinator) records that the
/// follow-up started (`followed`), then that the referral is over (`closed`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvanceReferral {
    /// `followed` or `closed`: the status after the current one.
    pub status: ReferralStatus,
}

/// A referral as the referrer, the target institution and the coordinator see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Referral {
    /// Id.
    pub id: String,
    /// The referrer (account id).
    pub referrer: UserId,
    /// Their name.
    pub referrer_name: String,
    /// The target institution (id).
    pub target_institution: InstitutionId,
    /// Its name.
    pub target_institution_name: String,
    /// Why.
    pub reason: ReferralReason,
    /// The person's consent.
    pub consent: ReferralConsent,
    /// The programme of the case to open.
    pub programme: Programme,
    /// The local scheme of the case to open.
    #[serde(default)]
    pub scheme: Option<LocalScheme>,
    /// The proposed referent (account id).
    #[serde(default)]
    pub proposed_referent: Option<UserId>,
    /// Their name.
    #[serde(default)]
    pub proposed_referent_name: Option<String>,
    /// The sealed note: open it as a message of its channel sent by `referrer`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub note: Option<Envelope>,
    /// Status.
    pub status: ReferralStatus,
    /// When it was opened (unix ms).
    pub opened_at: i64,
    /// Who accepted or declined it (account id).
    #[serde(default)]
    pub decided_by: Option<UserId>,
    /// Their name.
    #[serde(default)]
    pub decided_by_name: Option<String>,
    /// When (unix ms).
    #[serde(default)]
    pub decided_at: Option<i64>,
    /// Why it was declined.
    #[serde(default)]
    pub decline_reason: Option<DeclineReason>,
    /// The sealed note of the decline: open it as a message of its channel sent by
    /// `decided_by`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub decline_note: Option<Envelope>,
    /// The case opened by the acceptance (channel id).
    #[serde(default)]
    pub case_id: Option<CaseId>,
    /// Its reference.
    #[serde(default)]
    pub case_reference: Option<String>,
    /// The case's referent (account id).
    #[serde(default)]
    pub referent: Option<UserId>,
    /// Their name.
    #[serde(default)]
    pub referent_name: Option<String>,
    /// When the follow-up was confirmed (unix ms).
    #[serde(default)]
    pub followed_at: Option<i64>,
    /// When the referral was closed (unix ms).
    #[serde(default)]
    pub closed_at: Option<i64>,
}

/// `GET /api/v1/referrals`: what the caller may see, and whether they may refer, so that a
/// client shows the form only to those the server lets open one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReferralList {
    /// The caller has the referring capability.
    pub may_refer: bool,
    /// They may refer only under ACTE (a school refers its excluded pupils).
    #[serde(default)]
    pub only_acte: bool,
    /// The referrals they may see, newest first.
    pub referrals: Vec<Referral>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_lists_round_trip_through_their_names() {
        for reason in ReferralReason::ALL {
            assert_eq!(ReferralReason::parse(reason.as_str()), Some(*reason));
            let json = serde_json::to_string(reason).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
        }
        for status in ReferralStatus::ALL {
            assert_eq!(ReferralStatus::parse(status.as_str()), Some(*status));
        }
        assert_eq!(ReferralReason::parse("offence"), None);
    }

    #[test]
    fn a_referral_moves_forward_one_step_at_a_time() {
        use ReferralStatus::*;
        assert!(Proposed.may_become(Accepted));
        assert!(Proposed.may_become(Declined));
        assert!(Accepted.may_become(Followed));
        assert!(Followed.may_become(Closed));
        assert!(!Accepted.may_become(Accepted));
        assert!(!Declined.may_become(Followed));
        assert!(!Proposed.may_become(Closed));
    }

    #[test]
    fn a_referral_has_no_field_for_a_name() {
        let json = r#"{"client_id":"a","reason":"housing",
            "consent":{"outcome":"consented","method":"in_person"},
            "programme":"public_tranquillity","target_institution":"i",
            "person_name":"Jean Dupont"}"#;
        assert!(serde_json::from_str::<OpenReferral>(json).is_err());
    }
}

//! `cases`: what the server knows of a case: closed-list values, dates and account ids,
//! never the person (CHARTER.md C7, C8, C13).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub channel_id: String,
    pub programme: String,
    pub reporting_institution: String,
    pub follow_up_status: String,
    pub referent_user_id: Option<String>,
    pub destroy_limit: Option<i64>,
    /// `informed` or `not_informed`.
    pub info_outcome: Option<String>,
    pub info_at: Option<i64>,
    pub info_method: Option<String>,
    pub info_party: Option<String>,
    pub info_by: Option<String>,
    pub not_informed_reason: Option<String>,
    pub not_informed_note: Option<String>,
    /// Who sealed the note again under a newer epoch (§24); `None`: its recorder.
    pub note_sealed_by: Option<String>,
    pub info_recorded_by: Option<String>,
    pub info_recorded_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// When the situation must be reviewed next (C11); `None` only for cases opened
    /// before reviews existed, until the next retention pass sets it.
    pub next_review_at: Option<i64>,
    /// Since when the overdue case is proposed for closing.
    pub closing_proposed_at: Option<i64>,
    /// The local scheme (`acte`, `chantier_educatif`), if any.
    pub scheme: Option<String>,
    /// ACTE: the school's institution id.
    pub scheme_school: Option<String>,
    /// ACTE: the host structure's institution id.
    pub scheme_host: Option<String>,
    /// The scheme's first day (exclusion or chantier), unix ms.
    pub scheme_from: Option<i64>,
    /// The scheme's last day, unix ms.
    pub scheme_until: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

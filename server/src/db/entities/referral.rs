//! `referrals`: the intervenant social's referrals; the notes are sealed envelopes (JSON),
//! opaque to the server.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "referrals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub client_id: String,
    pub referrer_id: String,
    pub target_institution: String,
    pub reason: String,
    pub consent_outcome: String,
    pub consent_method: String,
    pub consent_reason: Option<String>,
    pub programme: String,
    pub destroy_limit: Option<i64>,
    pub proposed_referent: Option<String>,
    pub note: Option<String>,
    pub status: String,
    pub opened_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub decline_reason: Option<String>,
    pub decline_note: Option<String>,
    pub case_id: Option<String>,
    pub referent_id: Option<String>,
    pub followed_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// The JSON of the `LocalScheme` the case will be followed under.
    pub scheme: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

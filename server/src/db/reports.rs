//! Counts for the annual report (CHARTER.md C14): numbers only, never a name.

use std::collections::{BTreeMap, HashMap, HashSet};

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, Set};

use super::entities::{annual_report, channel, channel_member, institution, report_counter, user};

/// Adds one to `indicator` of `year`, creating the counter at its first event.
pub(crate) async fn bump(
    db: &impl ConnectionTrait,
    year: i32,
    indicator: &str,
) -> Result<(), DbErr> {
    report_counter::Entity::insert(report_counter::ActiveModel {
        year: Set(year),
        indicator: Set(indicator.to_owned()),
        count: Set(1),
    })
    .on_conflict(
        OnConflict::columns([
            report_counter::Column::Year,
            report_counter::Column::Indicator,
        ])
        .value(
            report_counter::Column::Count,
            Expr::col((report_counter::Entity, report_counter::Column::Count)).add(1),
        )
        .to_owned(),
    )
    .exec(db)
    .await
    .map(|_| ())
}

/// Every counter of `year`, by indicator.
pub(crate) async fn counters(
    db: &impl ConnectionTrait,
    year: i32,
) -> Result<HashMap<String, u64>, DbErr> {
    Ok(report_counter::Entity::find()
        .filter(report_counter::Column::Year.eq(year))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.indicator, u64::try_from(c.count).unwrap_or(0)))
        .collect())
}

/// The stored report of `year`, if any.
pub(crate) async fn stored(
    db: &impl ConnectionTrait,
    year: i32,
) -> Result<Option<annual_report::Model>, DbErr> {
    annual_report::Entity::find_by_id(year).one(db).await
}

/// Stores the report of `year`, unless a frozen one is already there: a closed year's
/// report is written once.
pub(crate) async fn store(
    db: &impl ConnectionTrait,
    model: annual_report::Model,
) -> Result<(), DbErr> {
    if stored(db, model.year).await?.is_some_and(|r| r.frozen) {
        return Ok(());
    }
    annual_report::Entity::insert(annual_report::ActiveModel {
        year: Set(model.year),
        body: Set(model.body),
        frozen: Set(model.frozen),
        updated_at: Set(model.updated_at),
    })
    .on_conflict(
        OnConflict::column(annual_report::Column::Year)
            .update_columns([
                annual_report::Column::Body,
                annual_report::Column::Frozen,
                annual_report::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec(db)
    .await
    .map(|_| ())
}

/// The years whose stored report is not frozen yet.
pub(crate) async fn unfrozen_years(db: &impl ConnectionTrait) -> Result<Vec<i32>, DbErr> {
    Ok(annual_report::Entity::find()
        .filter(annual_report::Column::Frozen.eq(false))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.year)
        .collect())
}

/// Channels of `kind` created before `to_ms` and not destroyed.
pub(crate) async fn channels_existing(
    db: &impl ConnectionTrait,
    kind: &str,
    to_ms: i64,
) -> Result<u64, DbErr> {
    channel::Entity::find()
        .filter(channel::Column::Kind.eq(kind))
        .filter(channel::Column::CreatedAt.lt(to_ms))
        .filter(channel::Column::Status.ne("destroyed"))
        .count(db)
        .await
}

/// Distinct members of working groups and cases, counted by institution name: the
/// memberships that exist now and began before `before_ms`.
pub(crate) async fn members_by_institution(
    db: &impl ConnectionTrait,
    before_ms: i64,
) -> Result<BTreeMap<String, u64>, DbErr> {
    let channels: HashSet<String> = channel::Entity::find()
        .filter(channel::Column::Kind.is_in(["working_group", "case"]))
        .filter(channel::Column::Status.ne("destroyed"))
        .all(db)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    let members: HashSet<String> = channel_member::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .filter(|m| m.added_at < before_ms && channels.contains(&m.channel_id))
        .map(|m| m.user_id)
        .collect();
    let institutions: HashMap<String, String> = institution::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|i| (i.id, i.name))
        .collect();
    let mut counts = BTreeMap::new();
    for account in user::Entity::find().all(db).await? {
        if members.contains(&account.id) {
            let name = institutions
                .get(&account.institution_id)
                .cloned()
                .unwrap_or_default();
            *counts.entry(name).or_insert(0) += 1;
        }
    }
    Ok(counts)
}

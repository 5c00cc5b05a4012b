//! Counts for the annual report (CHARTER.md C14): numbers only, never a name.

use std::collections::{BTreeMap, HashMap, HashSet};

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter};

use super::entities::{channel, channel_member, institution, user};

/// Channels of `kind` created in `[from_ms, to_ms)`.
pub(crate) async fn channels_created(
    db: &impl ConnectionTrait,
    kind: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<u64, DbErr> {
    channel::Entity::find()
        .filter(channel::Column::Kind.eq(kind))
        .filter(channel::Column::CreatedAt.gte(from_ms))
        .filter(channel::Column::CreatedAt.lt(to_ms))
        .count(db)
        .await
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

/// Distinct members of working groups and cases, counted by institution name.
pub(crate) async fn members_by_institution(
    db: &impl ConnectionTrait,
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
        .filter(|m| channels.contains(&m.channel_id))
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

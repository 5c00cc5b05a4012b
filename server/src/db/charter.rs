//! The charter, the working groups' internal rules, and their acceptances.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::entities::{channel_rules, charter, charter_acceptance, rules_acceptance};

/// The number of the charter version in force, if any (without its text).
pub(crate) async fn current_charter_version(
    db: &impl ConnectionTrait,
) -> Result<Option<i64>, DbErr> {
    charter::Entity::find()
        .select_only()
        .column(charter::Column::Version)
        .order_by_desc(charter::Column::Version)
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await
}

/// The charter version in force, with its text.
pub(crate) async fn current_charter(
    db: &impl ConnectionTrait,
) -> Result<Option<charter::Model>, DbErr> {
    charter::Entity::find()
        .order_by_desc(charter::Column::Version)
        .one(db)
        .await
}

/// Stores a new charter version (the primary key refuses a concurrent duplicate).
pub(crate) async fn insert_charter(
    db: &impl ConnectionTrait,
    model: charter::Model,
) -> Result<charter::Model, DbErr> {
    charter::ActiveModel::from(model).insert(db).await
}

/// Whether `user_id` accepted charter `version`.
pub(crate) async fn charter_accepted(
    db: &impl ConnectionTrait,
    user_id: &str,
    version: i64,
) -> Result<bool, DbErr> {
    Ok(
        charter_acceptance::Entity::find_by_id((user_id.to_owned(), version))
            .one(db)
            .await?
            .is_some(),
    )
}

/// The latest charter acceptance of a user.
pub(crate) async fn latest_charter_acceptance(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Option<charter_acceptance::Model>, DbErr> {
    charter_acceptance::Entity::find()
        .filter(charter_acceptance::Column::UserId.eq(user_id))
        .order_by_desc(charter_acceptance::Column::Version)
        .one(db)
        .await
}

/// Records an acceptance; returns false when it was already recorded.
pub(crate) async fn insert_charter_acceptance(
    db: &impl ConnectionTrait,
    model: charter_acceptance::Model,
) -> Result<bool, DbErr> {
    if charter_accepted(db, &model.user_id, model.version).await? {
        return Ok(false);
    }
    charter_acceptance::ActiveModel::from(model)
        .insert(db)
        .await?;
    Ok(true)
}

/// The number of the rules version in force for `channel_id`, if any (without its text).
pub(crate) async fn current_rules_version(
    db: &impl ConnectionTrait,
    channel_id: &str,
) -> Result<Option<i64>, DbErr> {
    channel_rules::Entity::find()
        .select_only()
        .column(channel_rules::Column::Version)
        .filter(channel_rules::Column::ChannelId.eq(channel_id))
        .order_by_desc(channel_rules::Column::Version)
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await
}

/// The rules version in force for `channel_id`, with its text.
pub(crate) async fn current_rules(
    db: &impl ConnectionTrait,
    channel_id: &str,
) -> Result<Option<channel_rules::Model>, DbErr> {
    channel_rules::Entity::find()
        .filter(channel_rules::Column::ChannelId.eq(channel_id))
        .order_by_desc(channel_rules::Column::Version)
        .one(db)
        .await
}

/// Stores a new rules version.
pub(crate) async fn insert_rules(
    db: &impl ConnectionTrait,
    model: channel_rules::Model,
) -> Result<channel_rules::Model, DbErr> {
    channel_rules::ActiveModel::from(model).insert(db).await
}

/// Whether `user_id` accepted version `version` of the rules of `channel_id`.
pub(crate) async fn rules_accepted(
    db: &impl ConnectionTrait,
    channel_id: &str,
    user_id: &str,
    version: i64,
) -> Result<bool, DbErr> {
    Ok(
        rules_acceptance::Entity::find_by_id((channel_id.to_owned(), user_id.to_owned(), version))
            .one(db)
            .await?
            .is_some(),
    )
}

/// The latest acceptance of a channel's rules by a user.
pub(crate) async fn latest_rules_acceptance(
    db: &impl ConnectionTrait,
    channel_id: &str,
    user_id: &str,
) -> Result<Option<rules_acceptance::Model>, DbErr> {
    rules_acceptance::Entity::find()
        .filter(rules_acceptance::Column::ChannelId.eq(channel_id))
        .filter(rules_acceptance::Column::UserId.eq(user_id))
        .order_by_desc(rules_acceptance::Column::Version)
        .one(db)
        .await
}

/// Records an acceptance of rules; returns false when it was already recorded.
pub(crate) async fn insert_rules_acceptance(
    db: &impl ConnectionTrait,
    model: rules_acceptance::Model,
) -> Result<bool, DbErr> {
    if rules_accepted(db, &model.channel_id, &model.user_id, model.version).await? {
        return Ok(false);
    }
    rules_acceptance::ActiveModel::from(model)
        .insert(db)
        .await?;
    Ok(true)
}

/// Which of `user_ids` accepted charter `version` (the writer's check of a batch's
/// senders, one query).
pub(crate) async fn charter_accepted_by(
    db: &impl ConnectionTrait,
    version: i64,
    user_ids: &[String],
) -> Result<Vec<String>, DbErr> {
    let mut found = Vec::new();
    for chunk in user_ids.chunks(super::LOOKUP_CHUNK) {
        found.extend(
            charter_acceptance::Entity::find()
                .select_only()
                .column(charter_acceptance::Column::UserId)
                .filter(charter_acceptance::Column::Version.eq(version))
                .filter(charter_acceptance::Column::UserId.is_in(chunk.iter().cloned()))
                .into_tuple::<String>()
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

/// The rules version in force of each of these rules owners that has one.
pub(crate) async fn current_rules_versions(
    db: &impl ConnectionTrait,
    owners: &[String],
) -> Result<Vec<(String, i64)>, DbErr> {
    let mut found = Vec::new();
    for chunk in owners.chunks(super::LOOKUP_CHUNK) {
        found.extend(
            channel_rules::Entity::find()
                .select_only()
                .column(channel_rules::Column::ChannelId)
                .column_as(channel_rules::Column::Version.max(), "version")
                .filter(channel_rules::Column::ChannelId.is_in(chunk.iter().cloned()))
                .group_by(channel_rules::Column::ChannelId)
                .into_tuple::<(String, i64)>()
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

/// The rules versions accepted among these (rules owner, user) pairs, as
/// (owner, user, version).
pub(crate) async fn rules_accepted_by(
    db: &impl ConnectionTrait,
    pairs: &[(String, String)],
) -> Result<Vec<(String, String, i64)>, DbErr> {
    let mut found = Vec::new();
    for chunk in pairs.chunks(super::LOOKUP_CHUNK) {
        found.extend(
            rules_acceptance::Entity::find()
                .select_only()
                .column(rules_acceptance::Column::ChannelId)
                .column(rules_acceptance::Column::UserId)
                .column(rules_acceptance::Column::Version)
                .filter(
                    Expr::tuple([
                        Expr::col(rules_acceptance::Column::ChannelId).into(),
                        Expr::col(rules_acceptance::Column::UserId).into(),
                    ])
                    .in_tuples(chunk.iter().cloned()),
                )
                .into_tuple::<(String, String, i64)>()
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

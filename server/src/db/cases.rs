//! Case records, the channels' lifecycle, and access to archives.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use super::entities::{archive_access, case_file, channel};

/// A case's record.
pub(crate) async fn find_case(
    db: &impl ConnectionTrait,
    channel_id: &str,
) -> Result<Option<case_file::Model>, DbErr> {
    case_file::Entity::find_by_id(channel_id.to_owned())
        .one(db)
        .await
}

/// Stores a new case record.
pub(crate) async fn insert_case(
    db: &impl ConnectionTrait,
    model: case_file::Model,
) -> Result<(), DbErr> {
    case_file::ActiveModel::from(model).insert(db).await?;
    Ok(())
}

/// Replaces a case record.
pub(crate) async fn update_case(
    db: &impl ConnectionTrait,
    model: case_file::Model,
) -> Result<(), DbErr> {
    // Every column may have changed: mark them all for the update.
    case_file::ActiveModel::from(model)
        .reset_all()
        .update(db)
        .await?;
    Ok(())
}

/// The records of active cases whose review is due at `now`, or that have no review date
/// yet (opened before reviews existed).
pub(crate) async fn active_due_for_review(
    db: &impl ConnectionTrait,
    now: i64,
) -> Result<Vec<case_file::Model>, DbErr> {
    let due = case_file::Entity::find()
        .filter(
            case_file::Column::NextReviewAt
                .lt(now)
                .or(case_file::Column::NextReviewAt.is_null()),
        )
        .all(db)
        .await?;
    let mut active = Vec::with_capacity(due.len());
    for record in due {
        let live = channel::Entity::find_by_id(record.channel_id.clone())
            .filter(channel::Column::Status.eq("active"))
            .one(db)
            .await?
            .is_some();
        if live {
            active.push(record);
        }
    }
    Ok(active)
}

/// Sets when a channel is destroyed.
pub(crate) async fn set_destroy_by(
    db: &impl ConnectionTrait,
    channel_id: &str,
    destroy_by: Option<i64>,
) -> Result<(), DbErr> {
    channel::Entity::update_many()
        .col_expr(channel::Column::DestroyBy, Expr::value(destroy_by))
        .filter(channel::Column::Id.eq(channel_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Archives an active case; returns false if it was not active any more.
pub(crate) async fn archive(
    db: &impl ConnectionTrait,
    channel_id: &str,
    ended_at: i64,
    destroy_by: i64,
) -> Result<bool, DbErr> {
    let result = channel::Entity::update_many()
        .col_expr(channel::Column::Status, Expr::value("archived"))
        .col_expr(channel::Column::EndedAt, Expr::value(ended_at))
        .col_expr(channel::Column::DestroyBy, Expr::value(destroy_by))
        .filter(channel::Column::Id.eq(channel_id))
        .filter(channel::Column::Status.eq("active"))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Grants (or renews) a member's access to an archive until `expires_at`.
pub(crate) async fn grant_archive_access(
    db: &impl ConnectionTrait,
    model: archive_access::Model,
) -> Result<(), DbErr> {
    archive_access::Entity::delete_many()
        .filter(archive_access::Column::ChannelId.eq(model.channel_id.clone()))
        .filter(archive_access::Column::UserId.eq(model.user_id.clone()))
        .exec(db)
        .await?;
    archive_access::ActiveModel::from(model).insert(db).await?;
    Ok(())
}

/// Whether a member may read an archive at `now_ms`.
pub(crate) async fn has_archive_access(
    db: &impl ConnectionTrait,
    channel_id: &str,
    user_id: &str,
    now_ms: i64,
) -> Result<bool, DbErr> {
    Ok(
        archive_access::Entity::find_by_id((channel_id.to_owned(), user_id.to_owned()))
            .one(db)
            .await?
            .is_some_and(|grant| grant.expires_at > now_ms),
    )
}

/// Deletes expired archive accesses.
pub(crate) async fn delete_expired_archive_accesses(
    db: &impl ConnectionTrait,
    now_ms: i64,
) -> Result<u64, DbErr> {
    Ok(archive_access::Entity::delete_many()
        .filter(archive_access::Column::ExpiresAt.lte(now_ms))
        .exec(db)
        .await?
        .rows_affected)
}

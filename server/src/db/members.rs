//! Membership rows: who is in which channel, and how far each member has read.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

use super::entities::channel_member;

/// A user's membership rows.
pub(crate) async fn of_user(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Vec<channel_member::Model>, DbErr> {
    channel_member::Entity::find()
        .filter(channel_member::Column::UserId.eq(user_id))
        .all(db)
        .await
}

/// Every membership row (to close every channel at once when a new charter version
/// is published).
pub(crate) async fn all(db: &impl ConnectionTrait) -> Result<Vec<channel_member::Model>, DbErr> {
    channel_member::Entity::find().all(db).await
}

/// A channel's members.
pub(crate) async fn of_channel(
    db: &impl ConnectionTrait,
    channel_id: &str,
) -> Result<Vec<channel_member::Model>, DbErr> {
    channel_member::Entity::find()
        .filter(channel_member::Column::ChannelId.eq(channel_id))
        .order_by_asc(channel_member::Column::AddedAt)
        .all(db)
        .await
}

/// A user's membership of a channel, if any.
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    channel_id: &str,
    user_id: &str,
) -> Result<Option<channel_member::Model>, DbErr> {
    channel_member::Entity::find_by_id((channel_id.to_owned(), user_id.to_owned()))
        .one(db)
        .await
}

/// Adds a member.
pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    model: channel_member::Model,
) -> Result<(), DbErr> {
    channel_member::ActiveModel::from(model).insert(db).await?;
    Ok(())
}

/// Removes a member; returns whether they were one.
pub(crate) async fn delete(
    db: &impl ConnectionTrait,
    channel_id: &str,
    user_id: &str,
) -> Result<bool, DbErr> {
    let result = channel_member::Entity::delete_many()
        .filter(channel_member::Column::ChannelId.eq(channel_id))
        .filter(channel_member::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Records how far a member has read.
pub(crate) async fn set_read(
    db: &impl ConnectionTrait,
    channel_id: &str,
    user_id: &str,
    seq: i64,
) -> Result<bool, DbErr> {
    let result = channel_member::Entity::update_many()
        .col_expr(channel_member::Column::ReadSeq, Expr::value(seq))
        .filter(channel_member::Column::ChannelId.eq(channel_id))
        .filter(channel_member::Column::UserId.eq(user_id))
        .filter(channel_member::Column::ReadSeq.lt(seq))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The membership rows among these (channel, user) pairs.
pub(crate) async fn find_many(
    db: &impl ConnectionTrait,
    keys: &[(String, String)],
) -> Result<Vec<channel_member::Model>, DbErr> {
    let mut found = Vec::new();
    for chunk in keys.chunks(super::LOOKUP_CHUNK) {
        found.extend(
            channel_member::Entity::find()
                .filter(
                    Expr::tuple([
                        Expr::col(channel_member::Column::ChannelId).into(),
                        Expr::col(channel_member::Column::UserId).into(),
                    ])
                    .in_tuples(chunk.iter().cloned()),
                )
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

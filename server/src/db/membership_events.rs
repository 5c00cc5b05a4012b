//! A channel's membership history (docs/PROTOCOL.md §21): appended in the transaction of
//! the change itself, read in order, aged out with the messages and deleted with the
//! channel (`db::retention`).

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::entities::{channel, membership_event};

/// A change to append; the position (`seq`, `after_seq`) and time are the store's.
#[derive(Clone, Debug)]
pub(crate) struct NewEvent<'a> {
    pub(crate) channel_id: &'a str,
    pub(crate) change: &'static str,
    pub(crate) member_id: &'a str,
    /// `None`: the server made the change.
    pub(crate) actor_id: Option<&'a str>,
    /// A category of a closed list, never free text.
    pub(crate) reason: Option<&'static str>,
    pub(crate) role: Option<&'static str>,
    /// For `device_added`: the new device.
    pub(crate) device_id: Option<&'a str>,
}

/// Appends an event, inside the transaction that makes the change. It first writes the
/// channel's row, which holds that row's lock until the commit (PostgreSQL), so that two
/// changes cannot take the same `seq` and a message committed concurrently is either
/// before `after_seq` or after the change.
pub(crate) async fn append(
    db: &impl ConnectionTrait,
    event: NewEvent<'_>,
    now_ms: i64,
) -> Result<membership_event::Model, DbErr> {
    channel::Entity::update_many()
        .col_expr(
            channel::Column::LastSeq,
            Expr::col(channel::Column::LastSeq).into(),
        )
        .filter(channel::Column::Id.eq(event.channel_id))
        .exec(db)
        .await?;
    let after_seq = channel::Entity::find_by_id(event.channel_id.to_owned())
        .one(db)
        .await?
        .map(|c| c.last_seq)
        .ok_or_else(|| DbErr::RecordNotFound(format!("channel {}", event.channel_id)))?;
    let last: Option<i64> = membership_event::Entity::find()
        .select_only()
        .column(membership_event::Column::Seq)
        .filter(membership_event::Column::ChannelId.eq(event.channel_id))
        .order_by_desc(membership_event::Column::Seq)
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await?;
    let model = membership_event::Model {
        channel_id: event.channel_id.to_owned(),
        seq: last.unwrap_or(0) + 1,
        after_seq,
        change: event.change.to_owned(),
        member_id: event.member_id.to_owned(),
        actor_id: event.actor_id.map(str::to_owned),
        reason: event.reason.map(str::to_owned),
        role: event.role.map(str::to_owned),
        device_id: event.device_id.map(str::to_owned),
        at: now_ms,
    };
    membership_event::ActiveModel::from(model.clone())
        .insert(db)
        .await?;
    Ok(model)
}

/// Up to `limit` events of a channel with `seq` above `after`, in order.
pub(crate) async fn after(
    db: &impl ConnectionTrait,
    channel_id: &str,
    after: i64,
    limit: u64,
) -> Result<Vec<membership_event::Model>, DbErr> {
    membership_event::Entity::find()
        .filter(membership_event::Column::ChannelId.eq(channel_id))
        .filter(membership_event::Column::Seq.gt(after))
        .order_by_asc(membership_event::Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

/// The event that let `user_id` in most recently (their addition, or the channel's
/// creation by them), if it is still stored.
pub(crate) async fn joined_by(
    db: &impl ConnectionTrait,
    channel_id: &str,
    user_id: &str,
) -> Result<Option<membership_event::Model>, DbErr> {
    membership_event::Entity::find()
        .filter(membership_event::Column::ChannelId.eq(channel_id))
        .filter(membership_event::Column::MemberId.eq(user_id))
        .filter(membership_event::Column::Change.is_in(["created", "added"]))
        .order_by_desc(membership_event::Column::Seq)
        .one(db)
        .await
}

/// The latest stored event about `user_id` in a channel (to tell whether the server
/// removed them by itself, PROTOCOL.md §22.3).
pub(crate) async fn last_of_member(
    db: &impl ConnectionTrait,
    channel_id: &str,
    user_id: &str,
) -> Result<Option<membership_event::Model>, DbErr> {
    membership_event::Entity::find()
        .filter(membership_event::Column::ChannelId.eq(channel_id))
        .filter(membership_event::Column::MemberId.eq(user_id))
        .order_by_desc(membership_event::Column::Seq)
        .one(db)
        .await
}

/// The channel's `created` event, if it is still stored.
pub(crate) async fn creation(
    db: &impl ConnectionTrait,
    channel_id: &str,
) -> Result<Option<membership_event::Model>, DbErr> {
    membership_event::Entity::find()
        .filter(membership_event::Column::ChannelId.eq(channel_id))
        .filter(membership_event::Column::Change.eq("created"))
        .one(db)
        .await
}

/// Deletes a channel's events older than `cutoff_ms` (history retention), or all of them
/// (`None`: the channel is destroyed).
pub(crate) async fn delete_before(
    db: &impl ConnectionTrait,
    channel_id: &str,
    cutoff_ms: Option<i64>,
) -> Result<u64, DbErr> {
    let mut query = membership_event::Entity::delete_many()
        .filter(membership_event::Column::ChannelId.eq(channel_id));
    if let Some(cutoff) = cutoff_ms {
        query = query.filter(membership_event::Column::At.lt(cutoff));
    }
    Ok(query.exec(db).await?.rows_affected)
}

//! Channels, membership, epochs, messages and attachments.

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::entities::{
    attachment, channel, channel_institution, channel_member, epoch_key, message, withheld_key,
};

/// One channel.
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<channel::Model>, DbErr> {
    channel::Entity::find_by_id(id.to_owned()).one(db).await
}

/// Inserts a channel with its allow-list.
pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    model: channel::Model,
    institutions: &[String],
) -> Result<channel::Model, DbErr> {
    let channel = channel::ActiveModel::from(model).insert(db).await?;
    for institution_id in institutions {
        channel_institution::ActiveModel {
            channel_id: Set(channel.id.clone()),
            institution_id: Set(institution_id.clone()),
        }
        .insert(db)
        .await?;
    }
    Ok(channel)
}

/// A channel's institution allow-list.
pub(crate) async fn institutions_of(
    db: &impl ConnectionTrait,
    channel_id: &str,
) -> Result<Vec<String>, DbErr> {
    Ok(channel_institution::Entity::find()
        .filter(channel_institution::Column::ChannelId.eq(channel_id))
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.institution_id)
        .collect())
}

/// The channels a user is a member of.
pub(crate) async fn of_user(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Vec<channel::Model>, DbErr> {
    let ids: Vec<String> = memberships_of(db, user_id)
        .await?
        .into_iter()
        .map(|m| m.channel_id)
        .collect();
    channel::Entity::find()
        .filter(channel::Column::Id.is_in(ids))
        .order_by_asc(channel::Column::CreatedAt)
        .all(db)
        .await
}

/// A user's membership rows.
pub(crate) async fn memberships_of(
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
pub(crate) async fn all_memberships(
    db: &impl ConnectionTrait,
) -> Result<Vec<channel_member::Model>, DbErr> {
    channel_member::Entity::find().all(db).await
}

/// The live channels that follow the internal rules of `group_id`.
pub(crate) async fn following_rules_of(
    db: &impl ConnectionTrait,
    group_id: &str,
) -> Result<Vec<channel::Model>, DbErr> {
    channel::Entity::find()
        .filter(channel::Column::GroupId.eq(group_id))
        .filter(channel::Column::Status.is_in(["active", "archived"]))
        .all(db)
        .await
}

/// Deletes an attachment row (an upload that lost a race with the channel's destruction).
pub(crate) async fn delete_attachment(db: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    attachment::Entity::delete_by_id(id.to_owned())
        .exec(db)
        .await?;
    Ok(())
}

/// A channel's members.
pub(crate) async fn members(
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
pub(crate) async fn membership(
    db: &impl ConnectionTrait,
    channel_id: &str,
    user_id: &str,
) -> Result<Option<channel_member::Model>, DbErr> {
    channel_member::Entity::find_by_id((channel_id.to_owned(), user_id.to_owned()))
        .one(db)
        .await
}

/// Adds a member.
pub(crate) async fn add_member(
    db: &impl ConnectionTrait,
    model: channel_member::Model,
) -> Result<(), DbErr> {
    channel_member::ActiveModel::from(model).insert(db).await?;
    Ok(())
}

/// Removes a member; returns whether they were one.
pub(crate) async fn remove_member(
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

/// Requires a new epoch before the next message of these channels (membership or device
/// set changed).
pub(crate) async fn require_rotation(
    db: &impl ConnectionTrait,
    channel_ids: Vec<String>,
) -> Result<(), DbErr> {
    channel::Entity::update_many()
        .col_expr(channel::Column::RotationRequired, Expr::value(true))
        .filter(channel::Column::Id.is_in(channel_ids))
        .exec(db)
        .await?;
    Ok(())
}

/// Moves a channel from epoch `epoch - 1` to `epoch`; returns false when another device
/// published that epoch first.
pub(crate) async fn advance_epoch(
    db: &impl ConnectionTrait,
    channel_id: &str,
    epoch: i64,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let result = channel::Entity::update_many()
        .col_expr(channel::Column::Epoch, Expr::value(epoch))
        .col_expr(channel::Column::EpochStartedAt, Expr::value(now_ms))
        .col_expr(channel::Column::EpochMessages, Expr::value(0))
        .col_expr(channel::Column::RotationRequired, Expr::value(false))
        .filter(channel::Column::Id.eq(channel_id))
        .filter(channel::Column::Epoch.eq(epoch - 1))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Stores wrapped epoch keys.
pub(crate) async fn insert_epoch_keys(
    db: &impl ConnectionTrait,
    rows: Vec<epoch_key::Model>,
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    epoch_key::Entity::insert_many(rows.into_iter().map(epoch_key::ActiveModel::from))
        .exec(db)
        .await?;
    Ok(())
}

/// A device's wrapped keys of a channel, from `min_epoch` on.
pub(crate) async fn epoch_keys_for(
    db: &impl ConnectionTrait,
    channel_id: &str,
    device_id: &str,
    min_epoch: i64,
) -> Result<Vec<epoch_key::Model>, DbErr> {
    epoch_key::Entity::find()
        .filter(epoch_key::Column::ChannelId.eq(channel_id))
        .filter(epoch_key::Column::RecipientDevice.eq(device_id))
        .filter(epoch_key::Column::Epoch.gte(min_epoch))
        .order_by_asc(epoch_key::Column::Epoch)
        .all(db)
        .await
}

/// Stores messages.
pub(crate) async fn insert_messages(
    db: &impl ConnectionTrait,
    rows: Vec<message::Model>,
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    message::Entity::insert_many(rows.into_iter().map(message::ActiveModel::from))
        .exec(db)
        .await?;
    Ok(())
}

/// Messages of a channel after `after_seq`, at most `limit`.
pub(crate) async fn messages_after(
    db: &impl ConnectionTrait,
    channel_id: &str,
    after_seq: i64,
    limit: u64,
) -> Result<Vec<message::Model>, DbErr> {
    message::Entity::find()
        .filter(message::Column::ChannelId.eq(channel_id))
        .filter(message::Column::Seq.gt(after_seq))
        .order_by_asc(message::Column::Seq)
        .limit(limit)
        .all(db)
        .await
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

/// Records an attachment.
pub(crate) async fn insert_attachment(
    db: &impl ConnectionTrait,
    model: attachment::Model,
) -> Result<(), DbErr> {
    attachment::ActiveModel::from(model).insert(db).await?;
    Ok(())
}

/// One attachment.
pub(crate) async fn find_attachment(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<attachment::Model>, DbErr> {
    attachment::Entity::find_by_id(id.to_owned()).one(db).await
}

/// Locks channel rows until the end of the transaction (PostgreSQL `FOR UPDATE`, in id
/// order so that two writers never deadlock); nothing to do on SQLite, whose writers are
/// serialised by the database itself.
pub(crate) async fn lock_for_update(
    db: &impl ConnectionTrait,
    channel_ids: &[&str],
) -> Result<(), DbErr> {
    if channel_ids.is_empty() || db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(());
    }
    let placeholders: Vec<String> = (1..=channel_ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT id FROM channels WHERE id IN ({}) ORDER BY id FOR UPDATE",
        placeholders.join(", ")
    );
    let values: Vec<sea_orm::Value> = channel_ids.iter().map(|id| (*id).into()).collect();
    db.query_all(sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        sql,
        values,
    ))
    .await?;
    Ok(())
}

/// Largest number of rows looked up by one of the batch queries below (two bound values
/// per row at most, well under SQLite's and PostgreSQL's limits on bound parameters).
const LOOKUP_CHUNK: usize = 400;

/// The messages already stored under these (sender device, client message id) pairs
/// (idempotent sends), one query per [`LOOKUP_CHUNK`] pairs: the writer's batch asks
/// once instead of once per message.
pub(crate) async fn find_sent_many(
    db: &impl ConnectionTrait,
    keys: &[(String, String)],
) -> Result<Vec<message::Model>, DbErr> {
    let mut found = Vec::new();
    for chunk in keys.chunks(LOOKUP_CHUNK) {
        found.extend(
            message::Entity::find()
                .filter(
                    Expr::tuple([
                        Expr::col(message::Column::SenderDevice).into(),
                        Expr::col(message::Column::ClientMsgId).into(),
                    ])
                    .in_tuples(chunk.iter().cloned()),
                )
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

/// The membership rows among these (channel, user) pairs.
pub(crate) async fn memberships_many(
    db: &impl ConnectionTrait,
    keys: &[(String, String)],
) -> Result<Vec<channel_member::Model>, DbErr> {
    let mut found = Vec::new();
    for chunk in keys.chunks(LOOKUP_CHUNK) {
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

/// These channels (those that exist).
pub(crate) async fn find_many(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Vec<channel::Model>, DbErr> {
    let mut found = Vec::new();
    for chunk in ids.chunks(LOOKUP_CHUNK) {
        found.extend(
            channel::Entity::find()
                .filter(channel::Column::Id.is_in(chunk.iter().cloned()))
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

/// These sending devices (those that exist, revoked or not): the writer checks in its
/// transaction that each sender's device is still live.
pub(crate) async fn sending_devices(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Vec<super::entities::device::Model>, DbErr> {
    use super::entities::device;
    let mut found = Vec::new();
    for chunk in ids.chunks(LOOKUP_CHUNK) {
        found.extend(
            device::Entity::find()
                .filter(device::Column::Id.is_in(chunk.iter().cloned()))
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

/// These accounts (the senders of a batch, whose role and attributes the writer checks
/// against each channel's regime at commit time).
pub(crate) async fn accounts_many(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Vec<super::entities::user::Model>, DbErr> {
    use super::entities::user;
    let mut found = Vec::new();
    for chunk in ids.chunks(LOOKUP_CHUNK) {
        found.extend(
            user::Entity::find()
                .filter(user::Column::Id.is_in(chunk.iter().cloned()))
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

/// The institution allow-lists of these channels, as (channel, institution) rows.
pub(crate) async fn institutions_many(
    db: &impl ConnectionTrait,
    channel_ids: &[String],
) -> Result<Vec<channel_institution::Model>, DbErr> {
    let mut found = Vec::new();
    for chunk in channel_ids.chunks(LOOKUP_CHUNK) {
        found.extend(
            channel_institution::Entity::find()
                .filter(channel_institution::Column::ChannelId.is_in(chunk.iter().cloned()))
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

/// Reserves `count` sequence numbers of each channel and counts them in its epoch:
/// `(channel, count)` in, `channel → last seq reserved` out. One statement per
/// [`LOOKUP_CHUNK`] channels (a batch of the writer touching a hundred channels made a
/// hundred round trips through the pool), so the row locks (PostgreSQL) or the write
/// lock (SQLite) keep sequence numbers dense and unique whatever the number of writers.
pub(crate) async fn reserve_seqs_many(
    db: &impl ConnectionTrait,
    counts: &[(&str, i64)],
) -> Result<std::collections::HashMap<String, i64>, DbErr> {
    let backend = db.get_database_backend();
    let mut last = std::collections::HashMap::with_capacity(counts.len());
    for chunk in counts.chunks(LOOKUP_CHUNK) {
        let Some(((first_id, first_count), rest)) = chunk.split_first() else {
            continue;
        };
        let mut added = Expr::case(channel::Column::Id.eq(*first_id), *first_count);
        for (id, count) in rest {
            added = added.case(channel::Column::Id.eq(*id), *count);
        }
        let added: sea_orm::sea_query::SimpleExpr = added.finally(0).into();
        let statement = Query::update()
            .table(channel::Entity)
            .value(
                channel::Column::LastSeq,
                Expr::col(channel::Column::LastSeq).add(added.clone()),
            )
            .value(
                channel::Column::EpochMessages,
                Expr::col(channel::Column::EpochMessages).add(added),
            )
            .and_where(channel::Column::Id.is_in(chunk.iter().map(|(id, _)| *id)))
            .returning(Query::returning().columns([channel::Column::Id, channel::Column::LastSeq]))
            .to_owned();
        for row in db.query_all(backend.build(&statement)).await? {
            last.insert(
                row.try_get::<String>("", "id")?,
                row.try_get::<i64>("", "last_seq")?,
            );
        }
        if let Some((missing, _)) = chunk.iter().find(|(id, _)| !last.contains_key(*id)) {
            return Err(DbErr::RecordNotFound(format!("channel {missing}")));
        }
    }
    Ok(last)
}

/// Records the devices a sender left out of an epoch.
pub(crate) async fn insert_withheld(
    db: &impl ConnectionTrait,
    rows: Vec<withheld_key::Model>,
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    withheld_key::Entity::insert_many(rows.into_iter().map(withheld_key::ActiveModel::from))
        .exec(db)
        .await?;
    Ok(())
}

/// The epochs of a channel, from `min_epoch` on, whose key was withheld from a device.
pub(crate) async fn withheld_for(
    db: &impl ConnectionTrait,
    channel_id: &str,
    device_id: &str,
    min_epoch: i64,
) -> Result<Vec<withheld_key::Model>, DbErr> {
    withheld_key::Entity::find()
        .filter(withheld_key::Column::ChannelId.eq(channel_id))
        .filter(withheld_key::Column::DeviceId.eq(device_id))
        .filter(withheld_key::Column::Epoch.gte(min_epoch))
        .order_by_asc(withheld_key::Column::Epoch)
        .all(db)
        .await
}

//! Channel rows: creation with the institution allow-list, lookups, epoch and sequence
//! counters, and the row locks of the message writer.

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};

use super::entities::{channel, channel_institution};

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

/// Those of `ids` whose channel is destroyed or being destroyed: the channel row stays
/// as a tombstone after its destruction (docs/ARCHITECTURE.md §6).
pub(crate) async fn destroyed_among(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Vec<String>, DbErr> {
    let mut destroyed = Vec::new();
    for chunk in ids.chunks(super::LOOKUP_CHUNK) {
        destroyed.extend(
            channel::Entity::find()
                .filter(channel::Column::Id.is_in(chunk.to_vec()))
                .filter(channel::Column::Status.is_in(["destroying", "destroyed"]))
                .order_by_asc(channel::Column::Id)
                .all(db)
                .await?
                .into_iter()
                .map(|c| c.id),
        );
    }
    Ok(destroyed)
}

/// The channels a user is a member of.
pub(crate) async fn of_user(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Vec<channel::Model>, DbErr> {
    let ids: Vec<String> = super::members::of_user(db, user_id)
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

/// Stores a channel's sealed title (docs/PROTOCOL.md §24) and, for a channel still
/// named in clear, the reference that replaces its name.
pub(crate) async fn set_title(
    db: &impl ConnectionTrait,
    channel_id: &str,
    title: String,
    title_by: &str,
    reference: Option<String>,
) -> Result<(), DbErr> {
    let mut update = channel::Entity::update_many()
        .col_expr(channel::Column::Title, Expr::value(Some(title)))
        .col_expr(
            channel::Column::TitleBy,
            Expr::value(Some(title_by.to_owned())),
        );
    if let Some(reference) = reference {
        update = update.col_expr(channel::Column::Name, Expr::value(reference));
    }
    update
        .filter(channel::Column::Id.eq(channel_id))
        .exec(db)
        .await?;
    Ok(())
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

/// The case channel of this reference (the name a case is known by), if any.
pub(crate) async fn find_case_by_reference(
    db: &impl ConnectionTrait,
    reference: &str,
) -> Result<Option<channel::Model>, DbErr> {
    channel::Entity::find()
        .filter(channel::Column::Kind.eq("case"))
        .filter(channel::Column::Name.eq(reference))
        .one(db)
        .await
}

/// These channels (those that exist).
pub(crate) async fn find_many(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Vec<channel::Model>, DbErr> {
    let mut found = Vec::new();
    for chunk in ids.chunks(super::LOOKUP_CHUNK) {
        found.extend(
            channel::Entity::find()
                .filter(channel::Column::Id.is_in(chunk.iter().cloned()))
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
    for chunk in channel_ids.chunks(super::LOOKUP_CHUNK) {
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
/// [`LOOKUP_CHUNK`](super::LOOKUP_CHUNK) channels (a batch of the writer touching a hundred channels made a
/// hundred round trips through the pool), so the row locks (PostgreSQL) or the write
/// lock (SQLite) keep sequence numbers dense and unique whatever the number of writers.
pub(crate) async fn reserve_seqs_many(
    db: &impl ConnectionTrait,
    counts: &[(&str, i64)],
) -> Result<std::collections::HashMap<String, i64>, DbErr> {
    let backend = db.get_database_backend();
    let mut last = std::collections::HashMap::with_capacity(counts.len());
    for chunk in counts.chunks(super::LOOKUP_CHUNK) {
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

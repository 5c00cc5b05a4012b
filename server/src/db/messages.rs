//! Stored (encrypted) messages: the writer's inserts and idempotency lookups, history
//! reads.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::entities::message;

/// Stores messages.
pub(crate) async fn insert(
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
pub(crate) async fn after(
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

/// The messages already stored under these (sender device, client message id) pairs
/// (idempotent sends), one query per [`LOOKUP_CHUNK`](super::LOOKUP_CHUNK) pairs: the writer's batch asks
/// once instead of once per message.
pub(crate) async fn find_sent_many(
    db: &impl ConnectionTrait,
    keys: &[(String, String)],
) -> Result<Vec<message::Model>, DbErr> {
    let mut found = Vec::new();
    for chunk in keys.chunks(super::LOOKUP_CHUNK) {
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

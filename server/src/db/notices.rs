//! `offline_notices` (and the e-mail column of `users`): who may get an offline notice,
//! whether they have something unread, and the claim that makes one node of a cluster,
//! and only one, send each notice.

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, Set,
};

use super::entities::{channel_member, message, offline_notice, user};

/// Someone an offline notice may go to: an enabled account with an e-mail address.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Recipient {
    /// The account.
    pub(crate) user_id: String,
    /// Where the notice goes (never logged).
    pub(crate) email: String,
    /// The account's notice row, if it has one yet.
    pub(crate) state: Option<offline_notice::Model>,
}

/// Prints no address.
impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipient")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// The notice row of an account, if any.
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Option<offline_notice::Model>, DbErr> {
    offline_notice::Entity::find_by_id(user_id.to_owned())
        .one(db)
        .await
}

/// Sets the account's opt-out, creating its row if needed.
pub(crate) async fn set_opted_out(
    db: &impl ConnectionTrait,
    user_id: &str,
    opted_out: bool,
) -> Result<(), DbErr> {
    offline_notice::Entity::insert(offline_notice::ActiveModel {
        user_id: Set(user_id.to_owned()),
        opted_out: Set(opted_out),
        last_online_at: Set(None),
        notified_at: Set(None),
    })
    .on_conflict(
        OnConflict::column(offline_notice::Column::UserId)
            .update_column(offline_notice::Column::OptedOut)
            .to_owned(),
    )
    .exec(db)
    .await
    .map(|_| ())
}

/// Records that these accounts had a connection open at `now_ms`.
pub(crate) async fn mark_online(
    db: &impl ConnectionTrait,
    user_ids: &[String],
    now_ms: i64,
) -> Result<(), DbErr> {
    for chunk in user_ids.chunks(super::LOOKUP_CHUNK) {
        offline_notice::Entity::insert_many(chunk.iter().map(|user_id| {
            offline_notice::ActiveModel {
                user_id: Set(user_id.clone()),
                opted_out: Set(false),
                last_online_at: Set(Some(now_ms)),
                notified_at: Set(None),
            }
        }))
        .on_conflict(
            OnConflict::column(offline_notice::Column::UserId)
                .update_column(offline_notice::Column::LastOnlineAt)
                .to_owned(),
        )
        .exec(db)
        .await?;
    }
    Ok(())
}

/// Enabled accounts that have an e-mail address and have not opted out, with their
/// notice rows.
pub(crate) async fn recipients(db: &impl ConnectionTrait) -> Result<Vec<Recipient>, DbErr> {
    let mut states: HashMap<String, offline_notice::Model> = offline_notice::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.user_id.clone(), row))
        .collect();
    let users: Vec<(String, Option<String>)> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .column(user::Column::Email)
        .filter(user::Column::Email.is_not_null())
        .filter(user::Column::Disabled.eq(false))
        .into_tuple()
        .all(db)
        .await?;
    Ok(users
        .into_iter()
        .filter_map(|(user_id, email)| {
            let state = states.remove(&user_id);
            if state.as_ref().is_some_and(|s| s.opted_out) {
                return None;
            }
            Some(Recipient {
                email: email?,
                user_id,
                state,
            })
        })
        .collect())
}

/// Whether `user_id` has, in one of their channels, a message of someone else that they
/// have not read and that was stored after `since_ms`.
pub(crate) async fn has_unread_since(
    db: &impl ConnectionTrait,
    user_id: &str,
    since_ms: i64,
) -> Result<bool, DbErr> {
    let memberships: Vec<(String, i64)> = channel_member::Entity::find()
        .select_only()
        .column(channel_member::Column::ChannelId)
        .column(channel_member::Column::ReadSeq)
        .filter(channel_member::Column::UserId.eq(user_id))
        .into_tuple()
        .all(db)
        .await?;
    for chunk in memberships.chunks(super::LOOKUP_CHUNK) {
        let unread = chunk
            .iter()
            .fold(Condition::any(), |any, (channel_id, read_seq)| {
                any.add(
                    Condition::all()
                        .add(message::Column::ChannelId.eq(channel_id.as_str()))
                        .add(message::Column::Seq.gt(*read_seq)),
                )
            });
        let found: Option<i64> = message::Entity::find()
            .select_only()
            .column(message::Column::Seq)
            .filter(unread)
            .filter(message::Column::SenderUser.ne(user_id))
            .filter(message::Column::CreatedAt.gt(since_ms))
            .limit(1)
            .into_tuple()
            .one(db)
            .await?;
        if found.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Claims the notice of `user_id` at `now_ms`, if its last notice is still `seen` (what
/// the caller read): of several nodes running the pass at once, exactly one wins.
pub(crate) async fn claim(
    db: &impl ConnectionTrait,
    user_id: &str,
    seen: Option<i64>,
    now_ms: i64,
) -> Result<bool, DbErr> {
    // The row exists from here on, so that the compare-and-set below has one to update.
    offline_notice::Entity::insert(offline_notice::ActiveModel {
        user_id: Set(user_id.to_owned()),
        opted_out: Set(false),
        last_online_at: Set(None),
        notified_at: Set(None),
    })
    .on_conflict(
        OnConflict::column(offline_notice::Column::UserId)
            .do_nothing()
            .to_owned(),
    )
    .do_nothing()
    .exec(db)
    .await?;
    let still = match seen {
        Some(at) => offline_notice::Column::NotifiedAt.eq(at),
        None => offline_notice::Column::NotifiedAt.is_null(),
    };
    let result = offline_notice::Entity::update_many()
        .col_expr(offline_notice::Column::NotifiedAt, Expr::value(now_ms))
        .filter(offline_notice::Column::UserId.eq(user_id))
        .filter(offline_notice::Column::OptedOut.eq(false))
        .filter(still)
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Gives a claim back after the notice could not be sent, so that a later pass tries
/// again: the last notice becomes `previous` again, unless another claim came since.
pub(crate) async fn release(
    db: &impl ConnectionTrait,
    user_id: &str,
    claimed_at: i64,
    previous: Option<i64>,
) -> Result<(), DbErr> {
    offline_notice::Entity::update_many()
        .col_expr(offline_notice::Column::NotifiedAt, Expr::value(previous))
        .filter(offline_notice::Column::UserId.eq(user_id))
        .filter(offline_notice::Column::NotifiedAt.eq(claimed_at))
        .exec(db)
        .await
        .map(|_| ())
}

/// Sets (or, with `None`, removes) the e-mail address of an account; returns whether the
/// account exists.
pub(crate) async fn set_email(
    db: &impl ConnectionTrait,
    user_id: &str,
    email: Option<String>,
) -> Result<bool, DbErr> {
    let result = user::Entity::update_many()
        .col_expr(user::Column::Email, Expr::value(email))
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

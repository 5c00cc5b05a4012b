//! The audit database: connection, entities and queries.
//!
//! This lives beside the access log rather than in `crate::db` because the log is a
//! database of its own (CHARTER.md C12: stored apart from messages), opened, migrated and
//! queried only by this module.

use std::time::Duration;

use anyhow::Context;
use passerelle_migrations::audit::Migrator;
use passerelle_migrations::MigratorTrait;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ColumnTrait, Condition, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::query::EventFilter;

/// The PostgreSQL schema that holds the log when it shares a server with the main database.
pub const POSTGRES_SCHEMA: &str = "audit";

/// `audit_events`: the hash-chained events.
pub(crate) mod event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub time_ms: i64,
        pub actor_user_id: Option<String>,
        pub actor_login: Option<String>,
        pub actor_institution_id: Option<String>,
        pub actor_session_id: Option<String>,
        pub actor_ip: Option<String>,
        pub action: String,
        pub target: Option<String>,
        pub outcome: String,
        pub details: String,
        pub prev_hash: String,
        pub hash: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `audit_checkpoints`: signed (seq, hash, time) of the chain's head.
pub(crate) mod checkpoint {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_checkpoints")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub hash: String,
        pub time_ms: i64,
        pub key_id: String,
        pub signature: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `audit_anchor`: signed (seq, hash) of the last event removed by each retention purge.
pub(crate) mod anchor {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_anchor")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub hash: String,
        pub time_ms: i64,
        pub key_id: String,
        pub signature: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `audit_leaves`: each event's chain hash, the leaves of the Merkle tree; kept after a
/// retention purge so that every signed root can still be recomputed.
// sea-orm's derive requires public items; the module keeps them crate-private.
#[allow(unreachable_pub)]
pub(crate) mod leaf {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_leaves")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub hash: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `audit_tree_heads`: the signed checkpoints of the Merkle tree (C2SP signed notes).
// sea-orm's derive requires public items; the module keeps them crate-private.
#[allow(unreachable_pub)]
pub(crate) mod tree_head {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_tree_heads")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub size: i64,
        pub root: String,
        pub time_ms: i64,
        #[sea_orm(column_type = "Text")]
        pub note: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `audit_cosignatures`: a witness's cosignature line of a checkpoint.
// sea-orm's derive requires public items; the module keeps them crate-private.
#[allow(unreachable_pub)]
pub(crate) mod cosignature {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_cosignatures")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub size: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub witness: String,
        #[sea_orm(column_type = "Text")]
        pub line: String,
        pub time_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Opens the audit database and runs its migrations. SQLite: WAL, `synchronous=FULL`
/// (an acknowledged event survives a power cut), foreign keys, `secure_delete` (purged
/// events do not stay in free space). PostgreSQL: the `audit`
/// schema, created if needed, first on the search path.
pub(crate) async fn connect_and_migrate(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30));
    if url.starts_with("sqlite:") {
        // One writer (ours) and a few readers for auditors' queries and exports.
        options.max_connections(4).min_connections(1);
        options.map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30))
                .pragma("secure_delete", "ON")
        });
    } else {
        let bootstrap = Database::connect(url)
            .await
            .context("cannot open the audit database")?;
        bootstrap
            .execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS {POSTGRES_SCHEMA}"))
            .await
            .context("cannot create the audit schema")?;
        bootstrap.close().await.ok();
        options.max_connections(4).min_connections(1);
        options.set_schema_search_path(POSTGRES_SCHEMA);
    }
    let db = Database::connect(options)
        .await
        .context("cannot open the audit database")?;
    Migrator::up(&db, None)
        .await
        .context("audit database migration failed")?;
    Ok(db)
}

/// Sequence numbers are `u64` in the API and `BIGINT` in the database; the writer never
/// comes near `i64::MAX`, so the conversion saturates rather than fails.
pub(crate) fn to_db(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// See [`to_db`]; a negative value (only a tampered row holds one) maps to 0.
pub(crate) fn from_db(seq: i64) -> u64 {
    u64::try_from(seq).unwrap_or(0)
}

/// Takes the writer lock for the rest of the transaction: SQLite's write lock, or
/// PostgreSQL's lock on the `audit_writer` row. Must be the transaction's first statement,
/// so that on SQLite the busy timeout applies and the snapshot read next is fresh.
pub(crate) async fn take_writer_lock(txn: &impl ConnectionTrait) -> Result<(), DbErr> {
    let updated = txn
        .execute_unprepared("UPDATE audit_writer SET generation = generation + 1 WHERE id = 1")
        .await?;
    if updated.rows_affected() == 0 {
        // The row was removed by hand; put it back (on PostgreSQL a concurrent writer doing
        // the same fails on the primary key and its batch is retried by its callers).
        txn.execute_unprepared("INSERT INTO audit_writer (id, generation) VALUES (1, 1)")
            .await?;
    }
    Ok(())
}

/// The event with the highest sequence number.
pub(crate) async fn last_event(db: &impl ConnectionTrait) -> Result<Option<event::Model>, DbErr> {
    event::Entity::find()
        .order_by_desc(event::Column::Seq)
        .one(db)
        .await
}

/// The event at `seq`.
pub(crate) async fn event_at(
    db: &impl ConnectionTrait,
    seq: u64,
) -> Result<Option<event::Model>, DbErr> {
    event::Entity::find_by_id(to_db(seq)).one(db).await
}

/// Events after `after_seq` up to `up_to` included, in sequence order.
pub(crate) async fn events_after(
    db: &impl ConnectionTrait,
    after_seq: i64,
    up_to: i64,
    limit: u64,
) -> Result<Vec<event::Model>, DbErr> {
    event::Entity::find()
        .filter(event::Column::Seq.gt(after_seq))
        .filter(event::Column::Seq.lte(up_to))
        .order_by_asc(event::Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

/// The first event after `after_seq` whose `prev_hash` is `prev_hash`: who claims to
/// follow a given event. Only used to explain a break, so a full scan is acceptable.
pub(crate) async fn successor_of(
    db: &impl ConnectionTrait,
    prev_hash: &str,
    after_seq: u64,
) -> Result<Option<event::Model>, DbErr> {
    event::Entity::find()
        .filter(event::Column::PrevHash.eq(prev_hash))
        .filter(event::Column::Seq.gt(to_db(after_seq)))
        .order_by_asc(event::Column::Seq)
        .one(db)
        .await
}

/// The lowest sequence number at or below `seq` (rows the last purge should have removed).
pub(crate) async fn first_at_or_below(
    db: &impl ConnectionTrait,
    seq: u64,
) -> Result<Option<i64>, DbErr> {
    event::Entity::find()
        .select_only()
        .column(event::Column::Seq)
        .filter(event::Column::Seq.lte(to_db(seq)))
        .order_by_asc(event::Column::Seq)
        .into_tuple::<i64>()
        .one(db)
        .await
}

/// The first event recorded at or after `time_ms`.
pub(crate) async fn first_seq_at_or_after(
    db: &impl ConnectionTrait,
    time_ms: i64,
) -> Result<Option<i64>, DbErr> {
    event::Entity::find()
        .select_only()
        .column(event::Column::Seq)
        .filter(event::Column::TimeMs.gte(time_ms))
        .order_by_asc(event::Column::Seq)
        .into_tuple::<i64>()
        .one(db)
        .await
}

/// The most recent retention anchor.
pub(crate) async fn latest_anchor(
    db: &impl ConnectionTrait,
) -> Result<Option<anchor::Model>, DbErr> {
    anchor::Entity::find()
        .order_by_desc(anchor::Column::Seq)
        .one(db)
        .await
}

/// The most recent checkpoint.
pub(crate) async fn last_checkpoint(
    db: &impl ConnectionTrait,
) -> Result<Option<checkpoint::Model>, DbErr> {
    checkpoint::Entity::find()
        .order_by_desc(checkpoint::Column::Seq)
        .one(db)
        .await
}

/// Checkpoints after `after_seq`, in order.
pub(crate) async fn checkpoints_after(
    db: &impl ConnectionTrait,
    after_seq: i64,
    limit: u64,
) -> Result<Vec<checkpoint::Model>, DbErr> {
    checkpoint::Entity::find()
        .filter(checkpoint::Column::Seq.gt(after_seq))
        .order_by_asc(checkpoint::Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

/// Removes the events and checkpoints up to `seq` included (after the anchor is stored).
pub(crate) async fn delete_up_to(db: &impl ConnectionTrait, seq: u64) -> Result<u64, DbErr> {
    let events = event::Entity::delete_many()
        .filter(event::Column::Seq.lte(to_db(seq)))
        .exec(db)
        .await?;
    checkpoint::Entity::delete_many()
        .filter(checkpoint::Column::Seq.lte(to_db(seq)))
        .exec(db)
        .await?;
    Ok(events.rows_affected)
}

/// The auditors' filter as a condition.
fn condition(filter: &EventFilter) -> Condition {
    let mut condition = Condition::all();
    if let Some(user) = &filter.user {
        condition = condition.add(
            Condition::any()
                .add(event::Column::ActorUserId.eq(user.as_str()))
                .add(event::Column::ActorLogin.eq(user.as_str())),
        );
    }
    if let Some(institution) = &filter.institution {
        condition = condition.add(event::Column::ActorInstitutionId.eq(institution.as_str()));
    }
    if let Some(target) = &filter.target {
        let mut either = Condition::any().add(event::Column::Target.eq(target.as_str()));
        if let Some(alias) = &filter.target_alias {
            either = either.add(event::Column::Target.eq(alias.as_str()));
        }
        condition = condition.add(either);
    }
    if let Some(action) = &filter.action {
        condition = condition.add(event::Column::Action.eq(action.as_str()));
    }
    if let Some(outcome) = filter.outcome {
        condition = condition.add(event::Column::Outcome.eq(outcome.as_str()));
    }
    if let Some(from) = filter.from_ms {
        condition = condition.add(event::Column::TimeMs.gte(from));
    }
    if let Some(to) = filter.to_ms {
        condition = condition.add(event::Column::TimeMs.lt(to));
    }
    condition
}

/// One page of the events matching `filter`, after `after_seq`, in sequence order.
pub(crate) async fn filtered_page(
    db: &impl ConnectionTrait,
    filter: &EventFilter,
    after_seq: u64,
    limit: u64,
) -> Result<Vec<event::Model>, DbErr> {
    event::Entity::find()
        .filter(condition(filter))
        .filter(event::Column::Seq.gt(to_db(after_seq)))
        .order_by_asc(event::Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

/// One page of the events matching `filter`, before `before_seq` (all when `None`),
/// newest first: what an auditor reads first is what just happened.
pub(crate) async fn filtered_page_desc(
    db: &impl ConnectionTrait,
    filter: &EventFilter,
    before_seq: Option<u64>,
    limit: u64,
) -> Result<Vec<event::Model>, DbErr> {
    let mut query = event::Entity::find().filter(condition(filter));
    if let Some(before) = before_seq {
        query = query.filter(event::Column::Seq.lt(to_db(before)));
    }
    query
        .order_by_desc(event::Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

/// Milliseconds in a day: events are counted per UTC day.
pub(crate) const DAY_MS: i64 = 86_400_000;

/// Events matching `filter` per UTC day (days since 1970-01-01), the latest `max_days`
/// days that have events, oldest first. Counted by the database, whatever the volume.
pub(crate) async fn daily_counts(
    db: &impl ConnectionTrait,
    filter: &EventFilter,
    max_days: u64,
) -> Result<Vec<(i64, i64)>, DbErr> {
    use sea_orm::sea_query::Expr;
    let day = || Expr::col(event::Column::TimeMs).div(DAY_MS);
    let mut days: Vec<(i64, i64)> = event::Entity::find()
        .select_only()
        .column_as(day(), "day")
        .column_as(event::Column::Seq.count(), "n")
        .filter(condition(filter))
        .group_by(day())
        .order_by_desc(day())
        .limit(max_days)
        .into_tuple()
        .all(db)
        .await?;
    days.reverse();
    Ok(days)
}

/// How many events match `filter` (for the auditor's page header).
pub(crate) async fn count(db: &impl ConnectionTrait, filter: &EventFilter) -> Result<u64, DbErr> {
    event::Entity::find()
        .filter(condition(filter))
        .count(db)
        .await
}

/// Leaves after `after_seq`, in order, at most `limit`.
pub(crate) async fn leaves_after(
    db: &impl ConnectionTrait,
    after_seq: i64,
    limit: u64,
) -> Result<Vec<leaf::Model>, DbErr> {
    leaf::Entity::find()
        .filter(leaf::Column::Seq.gt(after_seq))
        .order_by_asc(leaf::Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

/// Tree heads after size `after`, in order, at most `limit`.
pub(crate) async fn tree_heads_after(
    db: &impl ConnectionTrait,
    after: i64,
    limit: u64,
) -> Result<Vec<tree_head::Model>, DbErr> {
    tree_head::Entity::find()
        .filter(tree_head::Column::Size.gt(after))
        .order_by_asc(tree_head::Column::Size)
        .limit(limit)
        .all(db)
        .await
}

/// The largest signed tree head.
pub(crate) async fn last_tree_head(
    db: &impl ConnectionTrait,
) -> Result<Option<tree_head::Model>, DbErr> {
    tree_head::Entity::find()
        .order_by_desc(tree_head::Column::Size)
        .one(db)
        .await
}

/// The cosignatures of the tree head of `size`.
pub(crate) async fn cosignatures_of(
    db: &impl ConnectionTrait,
    size: i64,
) -> Result<Vec<cosignature::Model>, DbErr> {
    cosignature::Entity::find()
        .filter(cosignature::Column::Size.eq(size))
        .all(db)
        .await
}

/// The largest size `witness` cosigned, as this log stored it.
pub(crate) async fn last_cosigned_by(
    db: &impl ConnectionTrait,
    witness: &str,
) -> Result<Option<i64>, DbErr> {
    cosignature::Entity::find()
        .select_only()
        .column(cosignature::Column::Size)
        .filter(cosignature::Column::Witness.eq(witness))
        .order_by_desc(cosignature::Column::Size)
        .into_tuple::<i64>()
        .one(db)
        .await
}

//! Every migration runs up and down on SQLite and on a real PostgreSQL.

use passerelle_migrations::{Migrator, MigratorTrait};
use passerelle_tests::pg::TestDatabase;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

async fn table_count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn up_down_up(db: &DatabaseConnection, count_tables: &str) {
    Migrator::up(db, None).await.unwrap();
    assert!(table_count(db, count_tables).await >= 3);
    Migrator::down(db, None).await.unwrap();
    // Only the migration bookkeeping table may remain.
    assert!(table_count(db, count_tables).await <= 1);
    Migrator::up(db, None).await.unwrap();
    let applied = Migrator::get_applied_migrations(db).await.unwrap();
    assert_eq!(applied.len(), Migrator::migrations().len());
}

#[tokio::test]
async fn migrations_run_up_and_down_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("m.sqlite").display()
    );
    let db = Database::connect(&url).await.unwrap();
    up_down_up(
        &db,
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )
    .await;
}

#[tokio::test]
async fn migrations_run_up_and_down_on_postgresql() {
    let database = TestDatabase::create()
        .await
        .expect("PostgreSQL must be reachable (PASSERELLE_TEST_DATABASE_URL)");
    let db = Database::connect(&database.url).await.unwrap();
    up_down_up(
        &db,
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .await;
    db.close().await.unwrap();
    database.drop_now().await.unwrap();
}

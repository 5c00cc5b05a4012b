//! PostgreSQL test databases: each test creates its own and drops it afterwards.
//!
//! The server is found through `PASSERELLE_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); the test suite fails if it is unreachable.

use sea_orm::{ConnectionTrait, Database};

/// The administrative URL of the PostgreSQL server used by the tests.
pub fn admin_url() -> String {
    std::env::var("PASSERELLE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database created for one test, dropped on [`TestDatabase::drop_now`] or, as a
/// fallback, when dropped (best effort, in a thread of its own).
#[derive(Debug)]
pub struct TestDatabase {
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
    dropped: bool,
}

fn url_for(admin: &str, name: &str) -> String {
    match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => format!("{admin}/{name}"),
    }
}

impl TestDatabase {
    /// Creates `passerelle_test_<random>`.
    pub async fn create() -> anyhow::Result<TestDatabase> {
        let admin = admin_url();
        let name = format!("passerelle_test_{}", uuid::Uuid::new_v4().simple());
        let db = Database::connect(&admin).await?;
        db.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await?;
        db.close().await?;
        Ok(TestDatabase {
            url: url_for(&admin, &name),
            name,
            dropped: false,
        })
    }

    /// Drops the database now (every connection to it must be closed).
    pub async fn drop_now(mut self) -> anyhow::Result<()> {
        drop_database(&self.name).await?;
        self.dropped = true;
        Ok(())
    }
}

async fn drop_database(name: &str) -> anyhow::Result<()> {
    let db = Database::connect(&admin_url()).await?;
    db.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await?;
    db.close().await?;
    Ok(())
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot be blocked on; a short-lived
        // runtime in its own thread does the clean-up.
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = runtime.block_on(drop_database(&name));
            }
        })
        .join();
    }
}

//! The access log against real SQLite files, tampered with the way someone holding the
//! database would: plain SQL on another connection.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::json;
use tempfile::TempDir;

use super::chain::{self, Fields};
use super::store::{self, event};
use super::*;
use crate::clock::ManualClock;

const DAY_MS: i64 = 24 * 3600 * 1000;

struct Fixture {
    dir: TempDir,
    clock: Arc<ManualClock>,
    log: AuditLog,
}

fn options(dir: &Path, clock: &Arc<ManualClock>, every: u64) -> AuditOptions {
    let mut options = AuditOptions::for_data_dir(dir);
    options.clock = clock.clone();
    options.background = false;
    options.checkpoint_every = every;
    options
}

async fn fixture(every: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let log = AuditLog::open(options(dir.path(), &clock, every))
        .await
        .unwrap();
    Fixture { dir, clock, log }
}

impl Fixture {
    /// Another connection to the same file: what an intruder with the database would use.
    async fn raw(&self) -> DatabaseConnection {
        Database::connect(crate::db::sqlite_url(&self.dir.path().join("audit.sqlite")))
            .await
            .unwrap()
    }

    async fn sql(&self, statements: &str) {
        let db = self.raw().await;
        db.execute_unprepared(statements).await.unwrap();
        db.close().await.unwrap();
    }

    async fn record_n(&self, n: u64) {
        for i in 0..n {
            self.log.record(sample(i)).await.unwrap();
        }
    }

    async fn first_break(&self) -> ChainBreak {
        let report = self.log.verify().await.unwrap();
        assert!(!report.intact, "tampering went unnoticed: {report}");
        report.first_break.unwrap()
    }

    /// Rewrites row `seq` through `change`, optionally recomputing its hash as someone who
    /// read docs/AUDIT.md would.
    async fn rewrite(&self, seq: u64, rehash: bool, change: impl FnOnce(&mut event::Model)) {
        let db = self.raw().await;
        let mut row = store::event_at(&db, seq).await.unwrap().unwrap();
        change(&mut row);
        if rehash {
            row.hash = recompute(&row, store::from_db(row.seq));
        }
        save(&db, &row).await;
        db.close().await.unwrap();
    }
}

fn sample(i: u64) -> Event {
    Event {
        actor: Actor {
            user_id: Some(format!("u-{}", i % 3)),
            login: Some(format!("agent{}", i % 3)),
            institution_id: Some(
                if i.is_multiple_of(2) {
                    "i-police"
                } else {
                    "i-school"
                }
                .into(),
            ),
            session_id: Some(format!("s-{i}")),
            ip: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))),
        },
        action: if i.is_multiple_of(4) {
            "login"
        } else {
            "history_read"
        },
        target: Some(format!("case-{}", i % 5)),
        outcome: if i.is_multiple_of(7) {
            Outcome::Denied
        } else {
            Outcome::Success
        },
        details: json!({ "n": i, "b": "x", "a": [1, 2] }),
    }
}

fn recompute(row: &event::Model, seq: u64) -> String {
    let prev = chain::parse_hash(&row.prev_hash).unwrap();
    let hash = chain::event_hash(
        &prev,
        seq,
        &Fields {
            time_ms: row.time_ms,
            user_id: row.actor_user_id.as_deref(),
            login: row.actor_login.as_deref(),
            institution_id: row.actor_institution_id.as_deref(),
            session_id: row.actor_session_id.as_deref(),
            ip: row.actor_ip.as_deref(),
            action: &row.action,
            target: row.target.as_deref(),
            outcome: &row.outcome,
            details: &row.details,
        },
    );
    chain::to_hex(&hash)
}

async fn save(db: &DatabaseConnection, row: &event::Model) {
    use sea_orm::{ActiveModelTrait, IntoActiveModel};
    let mut active = row.clone().into_active_model();
    for column in [
        event::Column::Action,
        event::Column::Target,
        event::Column::PrevHash,
        event::Column::Hash,
        event::Column::Details,
    ] {
        active.reset(column);
    }
    active.update(db).await.unwrap();
}

async fn insert(db: &DatabaseConnection, row: event::Model) {
    use sea_orm::{EntityTrait, IntoActiveModel};
    event::Entity::insert(row.into_active_model())
        .exec_without_returning(db)
        .await
        .unwrap();
}

/// Makes room at `seq` by moving every later row one place down (two steps, because the
/// primary key is checked row by row).
const SHIFT_FROM_17: &str = "UPDATE audit_events SET seq = seq + 1000000 WHERE seq >= 17;
     UPDATE audit_events SET seq = seq - 999999 WHERE seq >= 1000000;";

#[tokio::test]
async fn events_get_dense_sequence_numbers_from_one_and_verify() {
    let f = fixture(1000).await;
    for expected in 1..=5 {
        assert_eq!(f.log.record(sample(expected)).await.unwrap(), expected);
    }
    let report = f.log.verify().await.unwrap();
    assert!(report.intact, "{report}");
    assert_eq!(
        (report.first_seq, report.last_seq, report.events_checked),
        (Some(1), Some(5), 5)
    );
}

#[tokio::test]
async fn an_event_edited_in_the_database_is_reported_at_its_position() {
    let f = fixture(1000).await;
    f.record_n(40).await;
    f.sql("UPDATE audit_events SET target = 'case-other' WHERE seq = 17")
        .await;
    let broken = f.first_break().await;
    assert_eq!(
        (broken.seq, broken.kind),
        (17, BreakKind::Edited),
        "{broken}"
    );
}

#[tokio::test]
async fn an_edit_whose_hash_was_recomputed_is_still_reported_at_its_position() {
    let f = fixture(1000).await;
    f.record_n(40).await;
    f.rewrite(17, true, |row| row.target = Some("case-rewritten".into()))
        .await;
    let broken = f.first_break().await;
    assert_eq!(
        (broken.seq, broken.kind),
        (17, BreakKind::Edited),
        "{broken}"
    );
}

#[tokio::test]
async fn a_deleted_event_is_reported_at_its_position() {
    let f = fixture(1000).await;
    f.record_n(40).await;
    f.sql("DELETE FROM audit_events WHERE seq = 17").await;
    let broken = f.first_break().await;
    assert_eq!(
        (broken.seq, broken.kind),
        (17, BreakKind::Deleted),
        "{broken}"
    );
}

#[tokio::test]
async fn a_deletion_hidden_by_renumbering_is_reported_at_its_position() {
    let f = fixture(1000).await;
    f.record_n(40).await;
    f.sql(
        "DELETE FROM audit_events WHERE seq = 17;
         UPDATE audit_events SET seq = seq + 1000000 WHERE seq > 17;
         UPDATE audit_events SET seq = seq - 1000001 WHERE seq >= 1000000;",
    )
    .await;
    let broken = f.first_break().await;
    assert_eq!(
        (broken.seq, broken.kind),
        (17, BreakKind::Deleted),
        "{broken}"
    );
}

#[tokio::test]
async fn deleting_the_last_events_is_detected() {
    let f = fixture(1000).await;
    f.record_n(40).await;
    f.sql("DELETE FROM audit_events WHERE seq >= 38").await;
    let broken = f.first_break().await;
    assert_eq!(
        (broken.seq, broken.kind),
        (38, BreakKind::Deleted),
        "{broken}"
    );
}

#[tokio::test]
async fn a_forged_event_slipped_into_the_chain_is_reported_at_its_position() {
    let f = fixture(1000).await;
    f.record_n(40).await;
    let db = f.raw().await;
    let genuine_16 = store::event_at(&db, 16).await.unwrap().unwrap();
    f.sql(SHIFT_FROM_17).await;
    // A well-formed forgery: linked to 16 and correctly hashed at 17.
    let mut forged = genuine_16.clone();
    forged.seq = 17;
    forged.action = "history_read".into();
    forged.target = Some("case-forged".into());
    forged.prev_hash = genuine_16.hash.clone();
    forged.hash = recompute(&forged, 17);
    insert(&db, forged).await;
    db.close().await.unwrap();
    let broken = f.first_break().await;
    assert_eq!(
        (broken.seq, broken.kind),
        (17, BreakKind::Inserted),
        "{broken}"
    );
}

#[tokio::test]
async fn a_clumsy_inserted_row_is_reported_at_its_position() {
    let f = fixture(1000).await;
    f.record_n(40).await;
    let db = f.raw().await;
    let mut forged = store::event_at(&db, 16).await.unwrap().unwrap();
    f.sql(SHIFT_FROM_17).await;
    forged.seq = 17;
    forged.prev_hash = "00".repeat(32);
    forged.hash = "11".repeat(32);
    insert(&db, forged).await;
    db.close().await.unwrap();
    let broken = f.first_break().await;
    assert_eq!(
        (broken.seq, broken.kind),
        (17, BreakKind::Inserted),
        "{broken}"
    );
}

#[tokio::test]
async fn two_processes_appending_to_one_log_keep_one_chain() {
    // `passerelle admin` beside a running server, or two nodes on one PostgreSQL.
    let f = fixture(7).await;
    let other = AuditLog::open(options(f.dir.path(), &f.clock, 7))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for (n, log) in [f.log.clone(), other.clone()].into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..60 {
                seqs.push(log.record(sample(n as u64 * 100 + i)).await.unwrap());
            }
            seqs
        }));
    }
    let mut all = BTreeSet::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    assert_eq!(all, (1..=120).collect::<BTreeSet<u64>>());
    for log in [&f.log, &other] {
        let report = log.verify().await.unwrap();
        assert!(report.intact, "{report}");
        assert_eq!(report.events_checked, 120);
        assert_eq!(report.checkpoints_checked, 120 / 7);
    }
}

#[tokio::test]
async fn a_rewritten_last_event_is_caught_by_the_server_that_wrote_it() {
    let f = fixture(1000).await;
    f.record_n(20).await;
    f.rewrite(20, true, |row| row.target = Some("case-hidden".into()))
        .await;
    let broken = f.first_break().await;
    assert_eq!(
        (broken.seq, broken.kind),
        (20, BreakKind::Rewritten),
        "{broken}"
    );
}

#[tokio::test]
async fn two_swapped_events_are_reported_as_reordered_at_the_first() {
    let f = fixture(1000).await;
    f.record_n(40).await;
    f.sql(
        "UPDATE audit_events SET seq = -1 WHERE seq = 17;
         UPDATE audit_events SET seq = 17 WHERE seq = 18;
         UPDATE audit_events SET seq = 18 WHERE seq = -1;",
    )
    .await;
    let broken = f.first_break().await;
    assert_eq!(
        (broken.seq, broken.kind),
        (17, BreakKind::Reordered),
        "{broken}"
    );
}

#[tokio::test]
async fn checkpoints_verify_with_the_published_key_and_fail_with_another() {
    let f = fixture(10).await;
    f.record_n(35).await;
    let checkpoints = f.log.checkpoints(0, 100).await.unwrap();
    assert_eq!(
        checkpoints.iter().map(|cp| cp.seq).collect::<Vec<_>>(),
        vec![10, 20, 30]
    );

    let published = signing::decode_public_key(&f.log.public_key()).unwrap();
    for cp in &checkpoints {
        assert!(checkpoint_signature_is_valid(&published, cp), "{cp:?}");
    }
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let other = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .unwrap()
        .public_key()
        .as_ref()
        .to_vec();
    for cp in &checkpoints {
        assert!(!checkpoint_signature_is_valid(&other, cp));
        // Even when the checkpoint claims the other key's id.
        let relabelled = Checkpoint {
            key_id: signing::key_id(&other),
            ..cp.clone()
        };
        assert!(!checkpoint_signature_is_valid(&other, &relabelled));
    }

    let report = f.log.verify().await.unwrap();
    assert!(report.intact, "{report}");
    assert_eq!(report.checkpoints_checked, 3);
    let report = f
        .log
        .verify_with_keys(&TrustedKeys::new([other]))
        .await
        .unwrap();
    let broken = report.first_break.unwrap();
    assert_eq!(
        (broken.seq, broken.kind),
        (10, BreakKind::BadSignature),
        "{broken}"
    );
}

#[tokio::test]
async fn a_forged_checkpoint_signature_is_reported() {
    let f = fixture(10).await;
    f.record_n(25).await;
    let forged = f.log.checkpoints(0, 10).await.unwrap()[0].signature.clone();
    f.sql(&format!(
        "UPDATE audit_checkpoints SET signature = '{forged}' WHERE seq = 20"
    ))
    .await;
    let broken = f.first_break().await;
    assert_eq!(
        (broken.seq, broken.kind),
        (20, BreakKind::BadSignature),
        "{broken}"
    );
}

#[tokio::test]
async fn a_rewritten_and_fully_rehashed_stretch_is_caught_by_the_next_checkpoint() {
    let f = fixture(10).await;
    f.record_n(25).await;
    // Edit 13 and rehash 13..=25 so that every link holds again.
    let db = f.raw().await;
    let mut prev = store::event_at(&db, 12).await.unwrap().unwrap().hash;
    for seq in 13..=25 {
        let mut row = store::event_at(&db, seq).await.unwrap().unwrap();
        if seq == 13 {
            row.target = Some("case-hidden".into());
        }
        row.prev_hash = prev.clone();
        row.hash = recompute(&row, seq);
        prev = row.hash.clone();
        save(&db, &row).await;
    }
    db.close().await.unwrap();
    let broken = f.first_break().await;
    assert_eq!(
        (broken.seq, broken.kind),
        (20, BreakKind::Rewritten),
        "{broken}"
    );
    assert!(broken.detail.contains("after seq 10"), "{broken}");
}

#[tokio::test]
async fn a_checkpoint_is_signed_when_the_interval_passes() {
    let f = fixture(1000).await;
    f.record_n(3).await;
    assert_eq!(f.log.tick().await.unwrap(), None);
    f.clock.advance_ms(301_000);
    let cp = f.log.tick().await.unwrap().unwrap();
    assert_eq!(cp.seq, 3);
    // Nothing new since: no second checkpoint however long we wait.
    f.clock.advance_ms(301_000);
    assert_eq!(f.log.tick().await.unwrap(), None);
}

#[tokio::test]
async fn concurrent_writers_build_one_dense_unbroken_chain() {
    let f = fixture(37).await;
    let mut tasks = Vec::new();
    for task in 0..8u64 {
        let log = f.log.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..50 {
                seqs.push(log.record(sample(task * 1000 + i)).await.unwrap());
            }
            seqs
        }));
    }
    let mut all = BTreeSet::new();
    for task in tasks {
        for seq in task.await.unwrap() {
            assert!(all.insert(seq), "seq {seq} given twice");
        }
    }
    assert_eq!(all, (1..=400).collect::<BTreeSet<u64>>());
    let report = f.log.verify().await.unwrap();
    assert!(report.intact, "{report}");
    assert_eq!(report.events_checked, 400);
    assert_eq!(report.checkpoints_checked, 400 / 37);
}

#[tokio::test]
async fn the_chain_resumes_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let first = AuditLog::open(options(dir.path(), &clock, 4))
        .await
        .unwrap();
    for i in 0..5 {
        first.record(sample(i)).await.unwrap();
    }
    let key = first.public_key();
    drop(first);
    let second = AuditLog::open(options(dir.path(), &clock, 4))
        .await
        .unwrap();
    assert_eq!(second.public_key(), key);
    assert_eq!(second.record(sample(5)).await.unwrap(), 6);
    for i in 6..10 {
        second.record(sample(i)).await.unwrap();
    }
    let report = second.verify().await.unwrap();
    assert!(report.intact, "{report}");
    assert_eq!(report.events_checked, 10);
    assert_eq!(
        second
            .checkpoints(0, 10)
            .await
            .unwrap()
            .iter()
            .map(|cp| cp.seq)
            .collect::<Vec<_>>(),
        // 5: the event the first process left unsigned, signed as the second opened.
        vec![4, 5, 9]
    );
}

#[tokio::test]
async fn filters_return_exactly_the_expected_events() {
    let f = fixture(1000).await;
    let t0 = f.clock.now_ms();
    for i in 0..30 {
        f.log.record(sample(i)).await.unwrap();
        f.clock.advance_ms(1000);
    }
    let seqs = |page: EventPage| page.events.iter().map(|e| e.seq).collect::<Vec<_>>();
    let all = |filter: EventFilter| {
        let log = f.log.clone();
        async move { seqs(log.query(&filter, 0, 1000).await.unwrap()) }
    };
    // sample(i) is seq i + 1.
    let expected = |keep: &dyn Fn(u64) -> bool| {
        (0..30)
            .filter(|i| keep(*i))
            .map(|i| i + 1)
            .collect::<Vec<_>>()
    };

    let by_user = all(EventFilter {
        user: Some("u-1".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(by_user, expected(&|i| i % 3 == 1));
    let by_login = all(EventFilter {
        user: Some("agent1".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(by_login, by_user);
    let by_institution = all(EventFilter {
        institution: Some("i-school".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(by_institution, expected(&|i| i % 2 == 1));
    let by_target = all(EventFilter {
        target: Some("case-3".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(by_target, expected(&|i| i % 5 == 3));
    let by_action = all(EventFilter {
        action: Some("login".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(by_action, expected(&|i| i % 4 == 0));
    let by_outcome = all(EventFilter {
        outcome: Some(Outcome::Denied),
        ..Default::default()
    })
    .await;
    assert_eq!(by_outcome, expected(&|i| i % 7 == 0));
    let by_period = all(EventFilter {
        from_ms: Some(t0 + 10_000),
        to_ms: Some(t0 + 20_000),
        ..Default::default()
    })
    .await;
    assert_eq!(by_period, expected(&|i| (10..20).contains(&i)));
    let combined = all(EventFilter {
        user: Some("u-0".into()),
        institution: Some("i-police".into()),
        outcome: Some(Outcome::Success),
        ..Default::default()
    })
    .await;
    assert_eq!(
        combined,
        expected(&|i| i % 3 == 0 && i % 2 == 0 && i % 7 != 0)
    );
    assert_eq!(
        f.log
            .count(&EventFilter {
                user: Some("u-1".into()),
                ..Default::default()
            })
            .await
            .unwrap(),
        u64::try_from(by_user.len()).unwrap()
    );

    // Keyset pagination walks the same events, page by page.
    let filter = EventFilter {
        institution: Some("i-police".into()),
        ..Default::default()
    };
    let mut walked = Vec::new();
    let mut after = 0;
    loop {
        let page = f.log.query(&filter, after, 4).await.unwrap();
        walked.extend(page.events.iter().map(|e| e.seq));
        match page.next_after_seq {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(walked, expected(&|i| i % 2 == 0));
}

#[tokio::test]
async fn exports_stream_exactly_the_filtered_events_as_csv_and_json() {
    let f = fixture(1000).await;
    // More than one export page.
    for i in 0..1200 {
        f.log.record(sample(i)).await.unwrap();
    }
    let filter = EventFilter {
        target: Some("case-2".into()),
        ..Default::default()
    };
    let expected: Vec<u64> = (0..1200u64).filter(|i| i % 5 == 2).map(|i| i + 1).collect();

    let chunks: Vec<Vec<u8>> = f
        .log
        .export(filter.clone(), ExportFormat::Json)
        .try_collect()
        .await
        .unwrap();
    assert!(chunks.len() > 2, "the export is streamed in pages");
    let json: serde_json::Value = serde_json::from_slice(&chunks.concat()).unwrap();
    let seqs: Vec<u64> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, expected);
    assert_eq!(json[0]["details"]["n"], 2);
    assert_eq!(json[0]["actor"]["institution_id"], "i-police");

    let csv: Vec<Vec<u8>> = f
        .log
        .export(filter, ExportFormat::Csv)
        .try_collect()
        .await
        .unwrap();
    let csv = String::from_utf8(csv.concat()).unwrap();
    let mut lines = csv.split("\r\n").filter(|line| !line.is_empty());
    assert_eq!(format!("{}\r\n", lines.next().unwrap()), CSV_HEADER);
    let seqs: Vec<u64> = lines
        .map(|line| line.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs, expected);

    let none = EventFilter {
        action: Some("nothing".into()),
        ..Default::default()
    };
    let empty: Vec<Vec<u8>> = f
        .log
        .export(none, ExportFormat::Json)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&empty.concat()).unwrap(),
        json!([])
    );
}

#[tokio::test]
async fn a_purge_removes_expired_events_and_the_chain_verifies_from_the_signed_anchor() {
    let f = fixture(5).await;
    f.record_n(12).await;
    f.clock.advance_ms(200 * DAY_MS);
    f.record_n(3).await;
    f.clock.advance_ms(200 * DAY_MS);
    f.record_n(4).await;
    // 12 months of retention: the first 12 events (400 days old) go, the rest stay.
    let report = f.log.purge_expired(f.clock.now_ms()).await.unwrap();
    assert_eq!(report.purged, 12);
    let anchor = report.anchor.unwrap();
    assert_eq!(anchor.seq, 12);
    let remaining = f.log.query(&EventFilter::default(), 0, 100).await.unwrap();
    let seqs: Vec<u64> = remaining.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (13..=20).collect::<Vec<_>>());
    assert_eq!(remaining.events.last().unwrap().action, "audit_purged");

    let verified = f.log.verify().await.unwrap();
    assert!(verified.intact, "{verified}");
    assert_eq!(verified.anchor.as_ref().map(|a| a.seq), Some(12));
    assert_eq!(verified.first_seq, Some(13));
    // Nothing more to purge now; appending goes on after the purge.
    assert_eq!(
        f.log.purge_expired(f.clock.now_ms()).await.unwrap().purged,
        0
    );
    assert_eq!(f.log.record(sample(99)).await.unwrap(), 21);

    // A restart resumes from the purged log, and removing the anchor is detected.
    let dir = f.dir.path().to_owned();
    let reopened = AuditLog::open(options(&dir, &f.clock, 5)).await.unwrap();
    assert!(reopened.verify().await.unwrap().intact);
    f.sql("DELETE FROM audit_anchor").await;
    let broken = f.first_break().await;
    assert_eq!(
        (broken.seq, broken.kind),
        (1, BreakKind::Deleted),
        "{broken}"
    );
}

#[tokio::test]
async fn a_purge_that_would_hide_tampering_is_refused() {
    let f = fixture(1000).await;
    f.record_n(10).await;
    f.sql("UPDATE audit_events SET target = 'case-x' WHERE seq = 3")
        .await;
    f.clock.advance_ms(400 * DAY_MS);
    let refused = f.log.purge_expired(f.clock.now_ms()).await;
    assert!(
        matches!(refused, Err(AuditError::Tampered(ref b)) if b.seq == 3),
        "{refused:?}"
    );
    assert_eq!(f.first_break().await.seq, 3);
}

#[tokio::test]
async fn a_forged_anchor_is_reported() {
    let f = fixture(1000).await;
    f.record_n(10).await;
    f.clock.advance_ms(400 * DAY_MS);
    f.record_n(2).await;
    f.log.purge_expired(f.clock.now_ms()).await.unwrap();
    f.sql("UPDATE audit_anchor SET time_ms = time_ms + 1").await;
    let broken = f.first_break().await;
    assert_eq!(
        (broken.seq, broken.kind),
        (10, BreakKind::BadSignature),
        "{broken}"
    );
}

#[tokio::test]
async fn oversized_fields_are_bounded_and_still_verify() {
    let f = fixture(1000).await;
    let mut event = sample(1);
    event.actor.login = Some("é".repeat(1000));
    event.details = json!({ "blob": "x".repeat(100_000) });
    f.log.record(event).await.unwrap();
    let stored = &f
        .log
        .query(&EventFilter::default(), 0, 1)
        .await
        .unwrap()
        .events[0];
    assert!(stored.login.as_ref().unwrap().len() <= 256);
    assert_eq!(stored.details_json()["details_truncated"], true);
    assert!(f.log.verify().await.unwrap().intact);
}

#[tokio::test]
async fn the_verify_command_reports_tampering() {
    let f = fixture(1000).await;
    f.record_n(5).await;
    let dir = f.dir.path().to_owned();
    let mut opts = options(&dir, &f.clock, 1000);
    assert!(verify_command(opts.clone(), None).await.unwrap());
    f.log.checkpoint_now().await.unwrap();
    assert!(verify_command(opts.clone(), None).await.unwrap());
    f.sql("DELETE FROM audit_events WHERE seq = 2").await;
    assert!(!verify_command(opts.clone(), None).await.unwrap());
    opts.signing_key_path = dir.join("missing.p8");
    assert!(verify_command(opts, None).await.is_err());
}

#[tokio::test]
async fn the_writer_stops_when_the_last_handle_is_dropped() {
    let f = fixture(1000).await;
    let weak = f.log.tx.downgrade();
    drop(f.log);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(weak.upgrade().is_none());
}

#[test]
fn retention_counts_calendar_months() {
    let at = |s: &str| {
        let t =
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap()
    };
    assert_eq!(
        months_before(at("2025-03-31T10:00:00Z"), 1),
        at("2025-02-28T10:00:00Z")
    );
    assert_eq!(
        months_before(at("2025-03-31T10:00:00Z"), 12),
        at("2024-03-31T10:00:00Z")
    );
    assert_eq!(
        months_before(at("2025-01-15T00:00:00Z"), 36),
        at("2022-01-15T00:00:00Z")
    );
}

#[test]
fn retention_outside_6_to_36_months_is_refused() {
    for months in [5, 37] {
        let mut options = AuditOptions::new("sqlite::memory:", "/nonexistent");
        options.retention_months = months;
        assert!(options.validate().is_err());
    }
}

/// The same log on PostgreSQL, in the `audit` schema of a database of its own. Runs when
/// `PASSERELLE_TEST_DATABASE_URL` names a server (CI sets it); skipped otherwise.
#[tokio::test]
async fn on_postgresql_the_log_lives_in_its_own_schema_and_detects_tampering() {
    let Ok(admin_url) = std::env::var("PASSERELLE_TEST_DATABASE_URL") else {
        eprintln!("PASSERELLE_TEST_DATABASE_URL is not set: PostgreSQL test skipped");
        return;
    };
    let name = format!("passerelle_audit_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(&admin_url).await.unwrap();
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    let url = match admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => format!("{admin_url}/{name}"),
    };
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let mut opts = options(dir.path(), &clock, 10);
    opts.database_url = url.clone();
    let first = AuditLog::open(opts.clone()).await.unwrap();
    let second = AuditLog::open(opts).await.unwrap();
    let mut tasks = Vec::new();
    for (n, log) in [first.clone(), second.clone()].into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for i in 0..40 {
                log.record(sample(n as u64 * 100 + i)).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let report = first.verify().await.unwrap();
    assert!(report.intact, "{report}");
    assert_eq!((report.events_checked, report.checkpoints_checked), (80, 8));

    let raw = Database::connect(&url).await.unwrap();
    let tables = raw
        .query_one(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'audit' AND table_name LIKE 'audit_%'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(
        tables, 8,
        "events, leaves, checkpoints, tree heads, cosignatures, anchor, writer lock and \
         migration history"
    );
    raw.execute_unprepared("UPDATE audit.audit_events SET target = 'case-x' WHERE seq = 33")
        .await
        .unwrap();
    raw.close().await.unwrap();
    let broken = second.verify().await.unwrap().first_break.unwrap();
    assert_eq!(
        (broken.seq, broken.kind),
        (33, BreakKind::Edited),
        "{broken}"
    );

    drop((first, second));
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
}

#[tokio::test]
async fn without_its_checkpoint_key_the_log_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let mut opts = options(dir.path(), &clock, 1000);
    opts.log_key_path = None;
    let err = AuditLog::open(opts.clone()).await.unwrap_err();
    assert!(format!("{err:#}").contains("audit.log_key_file"), "{err:#}");
    // A configured key that is missing is not silently replaced by a new one.
    opts.log_key_path = Some(dir.path().join("elsewhere").join("audit-log.key"));
    opts.create_log_key = false;
    let err = AuditLog::open(opts).await.unwrap_err();
    assert!(format!("{err:#}").contains("does not exist"), "{err:#}");
    assert!(!dir.path().join("elsewhere").exists());
}

#[tokio::test]
async fn every_checkpoint_is_also_a_signed_merkle_head_that_verifies() {
    let f = fixture(4).await;
    f.record_n(10).await;
    f.log.checkpoint_now().await.unwrap();
    let head = f.log.latest_head().await.unwrap().unwrap();
    assert_eq!(head.size, 10);
    let note = note::Note::parse(&head.note).unwrap();
    let verifier = note::NoteVerifier::parse(&f.log.log_verifier_key()).unwrap();
    assert!(verifier.check_note(&note).is_some());
    let body = note::CheckpointBody::parse(&note.body).unwrap();
    let proof = f.log.inclusion_proof(3, 10).await.unwrap().unwrap();
    let path: Vec<merkle::Hash> = proof
        .proof
        .iter()
        .map(|h| note::decode_hash(h).unwrap())
        .collect();
    let leaf = merkle::leaf_hash(&chain::parse_hash(&proof.chain_hash).unwrap());
    assert!(merkle::verify_inclusion(2, 10, &leaf, &path, &body.root));
    let consistency = f.log.consistency_proof(4, 10).await.unwrap().unwrap();
    let path: Vec<merkle::Hash> = consistency
        .proof
        .iter()
        .map(|h| note::decode_hash(h).unwrap())
        .collect();
    let old = note::decode_hash(&consistency.old_root).unwrap();
    assert!(merkle::verify_consistency(4, 10, &old, &body.root, &path));
    assert!(f.log.verify().await.unwrap().intact);
    // A leaf changed behind the log's back is found at its position.
    // (Its first byte is flipped to another value whatever it was: a fixed value would
    // leave one leaf in 256 unchanged.)
    f.sql(
        "UPDATE audit_leaves SET hash = CASE WHEN substr(hash, 1, 2) = 'ab' THEN 'cd' ELSE 'ab' END \
         || substr(hash, 3) WHERE seq = 6",
    )
    .await;
    let broken = f.first_break().await;
    assert_eq!(
        (broken.seq, broken.kind),
        (6, BreakKind::Edited),
        "{broken}"
    );
}

#[tokio::test]
async fn verification_requires_a_checkpoint_every_interval_while_events_are_recorded() {
    // Events every 100 s; a checkpoint due every 300 s, never by count.
    let f = fixture(100_000).await;
    for i in 0..30 {
        f.log.record(sample(i)).await.unwrap();
        f.clock.advance_ms(100_000);
        f.log.tick().await.unwrap();
    }
    f.log.checkpoint_now().await.unwrap();
    let report = f.log.verify_strict(Vec::new()).await.unwrap();
    assert!(report.intact, "{report}");

    // Removing the checkpoints of a stretch leaves events under none for half an hour.
    f.sql("DELETE FROM audit_tree_heads WHERE size > 5 AND size < 25")
        .await;
    let report = f.log.verify_strict(Vec::new()).await.unwrap();
    let problem = report
        .first_break
        .expect("the missing checkpoints are found");
    assert_eq!(problem.kind, BreakKind::Uncovered, "{problem}");
    assert!(problem.seq > 1 && problem.seq <= 6, "{problem}");
    assert!(problem.detail.contains("every 300 s"), "{problem}");
}

//! The retention job (CHARTER.md C11): crypto-shredding of expired channels, purge of aged
//! history, crash safety, and a service that keeps running whatever happens to a pass.
//! The clock is moved, never waited for.

use std::collections::BTreeMap;

use passerelle_server::app::retention::{self, FailPoint};
use passerelle_server::clock::Clock;
use passerelle_shared::protocol::v1::cases::{
    ArchiveCase, CaseView, CreateCase, CreatePracticeSession, OpenArchived, PracticeSession,
    Programme,
};
use passerelle_shared::protocol::v1::channels::{Channel, HistoryPage, LegalRegime};
use passerelle_shared::protocol::v1::ws::{ClientFrame, ServerFrame};
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;

use crate::support::{
    audit_events, channel_column, count_rows, files_holding, long_sessions_server, working_group,
    Party,
};

const DAY_MS: i64 = 24 * 3_600_000;

/// Every table that holds rows of a channel, with the column naming it.
const CHANNEL_TABLES: [(&str, &str); 10] = [
    ("messages", "channel_id"),
    ("epoch_keys", "channel_id"),
    ("attachments", "channel_id"),
    ("channel_members", "channel_id"),
    ("channel_institutions", "channel_id"),
    ("channel_rules", "channel_id"),
    ("rules_acceptances", "channel_id"),
    ("cases", "channel_id"),
    ("archive_accesses", "channel_id"),
    ("membership_events", "channel_id"),
];

/// How many rows of each table a channel has.
async fn rows_of(server: &TestServer, channel_id: &str) -> BTreeMap<&'static str, i64> {
    let mut rows = BTreeMap::new();
    for (table, column) in CHANNEL_TABLES {
        rows.insert(table, count_rows(server, table, column, channel_id).await);
    }
    rows
}

/// The blobs on disk of a channel.
fn blobs_of(server: &TestServer, channel_id: &str) -> Vec<String> {
    let dir = server.data_dir.path().join("attachments").join(channel_id);
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// A case without a group, with its own rules accepted by everyone, a message, an
/// attachment and a read receipt.
async fn busy_case(server: &TestServer, coord: &mut Party, member: &mut Party) -> CaseView {
    busy_case_and_ciphertext(server, coord, member).await.0
}

/// [`busy_case`], with its message's ciphertext as stored (base64url in the envelope).
async fn busy_case_and_ciphertext(
    server: &TestServer,
    coord: &mut Party,
    member: &mut Party,
) -> (CaseView, String) {
    let case: CaseView = coord
        .client
        .post(
            "/cases",
            &CreateCase {
                programme: Programme::ViolenceAgainstWomenAndDomesticViolence,
                reporting_institution: member.user.institution_id.clone().into(),
                regime: LegalRegime::ClspdConfidential,
                group_id: None,
                institutions: vec![member.user.institution_id.clone().into()],
                members: vec![member.user.id.clone().into()],
                referent_user_id: None,
                destroy_limit: None,
                scheme: None,
            },
        )
        .await
        .unwrap();
    let id = case.channel.id.clone();
    coord.publish_rules(&id, "# Règlement du dossier").await;
    coord.accept_rules(&id).await;
    member.accept_rules(&id).await;
    coord
        .client
        .upload_attachment(&id, "rapport.pdf", "application/pdf", &[7u8; 1000])
        .await
        .unwrap();
    let sent = coord.send_text(&id, "situation").await;
    let seq = coord.ack(&sent).await;
    let (message, _) = member.receive().await;
    member
        .conn
        .send(&ClientFrame::Read {
            channel_id: id.clone(),
            seq: message.seq,
        })
        .await
        .unwrap();
    assert_eq!(seq, message.seq);
    // The receipt is stored once its frame comes back.
    coord
        .frame(|f| matches!(f, ServerFrame::Receipt { .. }).then_some(()))
        .await;
    let _ = server;
    let envelope = serde_json::to_value(&message.envelope).unwrap();
    let ciphertext = envelope["ciphertext"].as_str().unwrap().to_owned();
    (case, ciphertext)
}

async fn archive_until(coord: &Party, case_id: &str, destroy_by: i64, end_date: i64) {
    let _: CaseView = coord
        .client
        .post(
            &format!("/channels/{case_id}/archive"),
            &ArchiveCase {
                end_date,
                destroy_by: Some(destroy_by),
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn the_job_destroys_every_row_and_blob_of_an_expired_case_and_nothing_else() {
    let server = long_sessions_server(|_| {}).await;
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut member = Party::new(&server, "assistante", Role::Member, "CCAS").await;
    let group = working_group(&mut coord, &[&member]).await;
    let sent = coord.send_text(&group.id, "groupe").await;
    coord.ack(&sent).await;
    member.receive().await;
    coord
        .client
        .upload_attachment(&group.id, "cr.pdf", "application/pdf", &[1u8; 500])
        .await
        .unwrap();
    let (expiring, expiring_ciphertext) =
        busy_case_and_ciphertext(&server, &mut coord, &mut member).await;
    let (kept, kept_ciphertext) = busy_case_and_ciphertext(&server, &mut coord, &mut member).await;
    let (expiring_id, kept_id) = (expiring.channel.id.clone(), kept.channel.id.clone());

    let now = server.clock.now_ms();
    archive_until(&coord, &expiring_id, now + DAY_MS, now).await;
    let _: serde_json::Value = member
        .client
        .post(
            &format!("/channels/{expiring_id}/open-archived"),
            &OpenArchived {
                reason: "Vérification avant destruction".into(),
            },
        )
        .await
        .unwrap();
    let before = rows_of(&server, &expiring_id).await;
    for table in [
        "messages",
        "epoch_keys",
        "attachments",
        "channel_members",
        "channel_institutions",
        "channel_rules",
        "rules_acceptances",
        "cases",
        "archive_accesses",
    ] {
        assert!(before[table] > 0, "the test case has rows in {table}");
    }
    assert_eq!(blobs_of(&server, &expiring_id).len(), 1);
    let kept_rows = rows_of(&server, &kept_id).await;
    let group_rows = rows_of(&server, &group.id).await;
    let kept_blobs = blobs_of(&server, &kept_id);
    let group_blobs = blobs_of(&server, &group.id);

    // Not yet: nothing happens before destroy_by.
    let report = retention::run_once(&server.state).await.unwrap();
    assert!(report.destroyed.is_empty());

    server.clock.advance_ms(2 * DAY_MS);
    let report = retention::run_once(&server.state).await.unwrap();
    assert_eq!(report.destroyed, vec![expiring_id.clone()]);
    let dropped = member
        .frame(|f| match f {
            ServerFrame::ChannelDestroyed { channel_id } => Some(channel_id.clone()),
            _ => None,
        })
        .await;
    assert_eq!(dropped, expiring_id, "connected members drop their keys");

    let after = rows_of(&server, &expiring_id).await;
    assert!(after.values().all(|n| *n == 0), "rows left: {after:?}");
    assert!(blobs_of(&server, &expiring_id).is_empty());
    assert!(!server
        .data_dir
        .path()
        .join("attachments")
        .join(expiring_id.as_str())
        .exists());
    assert_eq!(
        channel_column(&server, &expiring_id, "status").await,
        "destroyed"
    );
    assert_eq!(channel_column(&server, &expiring_id, "name").await, "");
    if passerelle_server::db::is_sqlite(&server.state.db) {
        // Deleted rows leave the files too (secure_delete, then the pass's checkpoint),
        // not only the tables: a copy of the data directory holds nothing of the case.
        assert_eq!(
            files_holding(&server, &expiring_ciphertext),
            Vec::<String>::new()
        );
        assert!(
            !files_holding(&server, &kept_ciphertext).is_empty(),
            "the scan finds a message that is still stored"
        );
    }
    // Nothing of the others.
    assert_eq!(rows_of(&server, &kept_id).await, kept_rows);
    assert_eq!(rows_of(&server, &group.id).await, group_rows);
    assert_eq!(blobs_of(&server, &kept_id), kept_blobs);
    assert_eq!(blobs_of(&server, &group.id), group_blobs);
    let page: HistoryPage = member
        .client
        .get(&format!("/channels/{kept_id}/messages"))
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 1);

    // Gone for its former members; the destruction is in the access log, once.
    let err = member
        .client
        .get::<HistoryPage>(&format!("/channels/{expiring_id}/messages"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("not_found"));
    let channels: Vec<Channel> = member.client.get("/channels").await.unwrap();
    assert!(channels.iter().all(|c| c.id != expiring_id));
    let mut cursors = BTreeMap::new();
    cursors.insert(expiring_id.clone(), 1);
    member
        .conn
        .send(&ClientFrame::Sync { cursors })
        .await
        .unwrap();
    let told = member
        .frame(|f| match f {
            ServerFrame::ChannelDestroyed { channel_id } => Some(channel_id.clone()),
            ServerFrame::Error { code, .. } => panic!("{code}"),
            _ => None,
        })
        .await;
    assert_eq!(told, expiring_id);
    let report = retention::run_once(&server.state).await.unwrap();
    assert!(report.destroyed.is_empty(), "idempotent");
    let recorded = audit_events(&server, &expiring_id, "channel_destroyed").await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].login.as_deref(), Some("retention"));
    assert!(recorded[0].details.contains("\"messages\":1"));
}

#[tokio::test]
async fn a_purge_interrupted_midway_is_resumed_cleanly_and_the_service_keeps_running() {
    let server = long_sessions_server(|_| {}).await;
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut member = Party::new(&server, "assistante", Role::Member, "CCAS").await;
    let group = working_group(&mut coord, &[&member]).await;
    let after_rows = busy_case(&server, &mut coord, &mut member).await.channel.id;
    let after_marking = busy_case(&server, &mut coord, &mut member).await.channel.id;
    let now = server.clock.now_ms();
    archive_until(&coord, &after_rows, now + DAY_MS, now).await;
    server.clock.advance_ms(2 * DAY_MS);

    // A crash after the rows, before the blobs.
    let failed = retention::run_pass(&server.state, Some(FailPoint::AfterRows)).await;
    assert!(failed.is_err());
    assert_eq!(
        channel_column(&server, &after_rows, "status").await,
        "destroying"
    );
    assert!(rows_of(&server, &after_rows)
        .await
        .values()
        .all(|n| *n == 0));
    assert_eq!(
        blobs_of(&server, &after_rows).len(),
        1,
        "the blob is still there"
    );
    // The service runs on, and the half-destroyed channel is unreachable.
    let health = server
        .http()
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert!(health.status().is_success());
    let err = member
        .client
        .get::<HistoryPage>(&format!("/channels/{after_rows}/messages"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("not_found"));
    let sent = coord.send_text(&group.id, "le service continue").await;
    coord.ack(&sent).await;
    member.receive().await;

    // The next pass finishes it.
    let report = retention::run_once(&server.state).await.unwrap();
    assert_eq!(report.destroyed, vec![after_rows.clone()]);
    assert!(blobs_of(&server, &after_rows).is_empty());
    assert_eq!(
        channel_column(&server, &after_rows, "status").await,
        "destroyed"
    );
    assert_eq!(
        audit_events(&server, &after_rows, "channel_destroyed")
            .await
            .len(),
        1
    );

    // A crash right after marking, then a restart: the pass at start-up resumes it.
    archive_until(
        &coord,
        &after_marking,
        server.clock.now_ms() + DAY_MS,
        server.clock.now_ms(),
    )
    .await;
    server.clock.advance_ms(2 * DAY_MS);
    let failed = retention::run_pass(&server.state, Some(FailPoint::AfterMarking)).await;
    assert!(failed.is_err());
    assert_eq!(
        channel_column(&server, &after_marking, "status").await,
        "destroying"
    );
    assert!(rows_of(&server, &after_marking).await["messages"] > 0);
    let envelope = member.forged_envelope(&after_marking);
    let code = member
        .error_for(&ClientFrame::Send {
            channel_id: after_marking.clone(),
            envelope,
        })
        .await;
    assert_eq!(
        code, "not_member",
        "nothing is written to a channel being destroyed"
    );
    let server = server.restart().await.unwrap();
    // Whether the start-up pass or this one does it, it is done once.
    retention::run_once(&server.state).await.unwrap();
    assert!(rows_of(&server, &after_marking)
        .await
        .values()
        .all(|n| *n == 0));
    assert!(blobs_of(&server, &after_marking).is_empty());
    assert_eq!(
        channel_column(&server, &after_marking, "status").await,
        "destroyed"
    );
    assert_eq!(
        audit_events(&server, &after_marking, "channel_destroyed")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn the_job_runs_on_its_own_and_destroys_a_practice_session_seven_days_after_its_end() {
    let server = long_sessions_server(|config| config.retention.interval_secs = 1).await;
    let mut coord = Party::new(&server, "animatrice", Role::Coordinator, "Mairie").await;
    let mut member = Party::new(&server, "educ", Role::Member, "PJJ").await;
    let group = working_group(&mut coord, &[&member]).await;
    let now = server.clock.now_ms();
    let session: PracticeSession = coord
        .client
        .post(
            "/practice-sessions",
            &CreatePracticeSession {
                name: String::new(),
                starts_at: now,
                ends_at: now + 3_600_000,
                group_id: Some(group.id.clone()),
                institutions: vec![member.user.institution_id.clone().into()],
                members: vec![member.user.id.clone().into()],
            },
        )
        .await
        .unwrap();
    let id = session.channel.id.clone();
    let sent = coord.send_text(&id, "Une situation, sans nom").await;
    coord.ack(&sent).await;
    member.receive().await;

    // Six days after the end it is still there (read-only).
    server.clock.advance_ms(3_600_000 + 6 * DAY_MS);
    let report = retention::run_once(&server.state).await.unwrap();
    assert!(report.destroyed.is_empty());
    // Past seven days, the periodic job destroys it without being asked.
    server.clock.advance_ms(DAY_MS + 1);
    let dropped = member
        .frame(|f| match f {
            ServerFrame::ChannelDestroyed { channel_id } => Some(channel_id.clone()),
            _ => None,
        })
        .await;
    assert_eq!(dropped, id);
    // The frame goes out first; this pass waits for the job's pass to finish.
    let report = retention::run_once(&server.state).await.unwrap();
    assert!(report.destroyed.is_empty(), "the job destroyed it already");
    assert!(rows_of(&server, &id).await.values().all(|n| *n == 0));
    assert_eq!(channel_column(&server, &id, "status").await, "destroyed");
    // The group is kept.
    assert_eq!(channel_column(&server, &group.id, "status").await, "active");
}

#[tokio::test]
async fn a_working_groups_history_older_than_its_retention_is_purged_and_the_rest_kept() {
    let server = long_sessions_server(|_| {}).await;
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut member = Party::new(&server, "assistante", Role::Member, "CCAS").await;
    let group = working_group(&mut coord, &[&member]).await;
    let old_file = coord
        .client
        .upload_attachment(&group.id, "ancien.pdf", "application/pdf", &[3u8; 300])
        .await
        .unwrap();
    for text in ["un", "deux", "trois"] {
        let sent = coord.send_text(&group.id, text).await;
        coord.ack(&sent).await;
        member.receive().await;
    }
    let old_epoch = count_rows(&server, "epoch_keys", "channel_id", &group.id).await;
    assert!(old_epoch > 0);

    // Thirteen months later (past the default 12), a new message in a new epoch.
    server.clock.advance_ms(395 * DAY_MS);
    let new_file = coord
        .client
        .upload_attachment(&group.id, "nouveau.pdf", "application/pdf", &[4u8; 300])
        .await
        .unwrap();
    let sent = coord.send_text(&group.id, "quatre").await;
    coord.ack(&sent).await;
    member.receive().await;

    let report = retention::run_once(&server.state).await.unwrap();
    assert_eq!((report.purged_messages, report.purged_attachments), (3, 1));
    let purged = member
        .frame(|f| match f {
            ServerFrame::HistoryPurged {
                channel_id,
                up_to_seq,
                below_epoch,
            } => Some((channel_id.clone(), *up_to_seq, *below_epoch)),
            _ => None,
        })
        .await;
    assert_eq!(purged, (group.id.clone(), 3, 2));
    let page: HistoryPage = member
        .client
        .get(&format!("/channels/{}/messages", group.id))
        .await
        .unwrap();
    let seqs: Vec<u64> = page.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![4]);
    let blobs = blobs_of(&server, &group.id);
    assert_eq!(blobs, vec![new_file.id.clone()]);
    assert!(!blobs.contains(&old_file.id));
    assert_eq!(
        count_rows(&server, "attachments", "channel_id", &group.id).await,
        1
    );
    // Only the new epoch's keys remain (one per member device).
    assert_eq!(
        count_rows(&server, "epoch_keys", "channel_id", &group.id).await,
        2
    );
    assert_eq!(channel_column(&server, &group.id, "status").await, "active");
    let recorded = audit_events(&server, &group.id, "history_purged").await;
    assert_eq!(recorded.len(), 1);
    let report = retention::run_once(&server.state).await.unwrap();
    assert_eq!(report.purged_messages, 0, "idempotent");
}

#[tokio::test]
async fn a_device_offline_at_a_destruction_shreds_the_channel_at_its_next_backup_write() {
    use passerelle_shared::protocol::v1::channels::{DestroyedChannels, DestroyedQuery};

    let server = long_sessions_server(|_| {}).await;
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut member = Party::new(&server, "assistante", Role::Member, "CCAS").await;
    let expiring = busy_case(&server, &mut coord, &mut member).await;
    let expiring_id = expiring.channel.id.clone();
    // A second device of the coordinator, restored from the code, then left closed.
    let mut laptop = server.client(&coord.user).await.unwrap();
    let mut laptop_device = laptop
        .restore_with_recovery_code(&coord.recovery_code, "Portable")
        .await
        .unwrap();
    let epoch = {
        let page: HistoryPage = laptop
            .get(&format!("/channels/{expiring_id}/messages"))
            .await
            .unwrap();
        let text = laptop
            .open(&laptop_device, &page.messages[0])
            .await
            .unwrap();
        assert_eq!(text.text, "situation");
        page.messages[0].envelope.header().epoch
    };
    assert!(laptop.holds_epoch_key(&expiring_id, epoch));

    let now = server.clock.now_ms();
    archive_until(&coord, &expiring_id, now + DAY_MS, now).await;
    server.clock.advance_ms(2 * DAY_MS);
    let report = retention::run_once(&server.state).await.unwrap();
    assert_eq!(report.destroyed, vec![expiring_id.clone()]);

    // The server says which channels are gone, to anyone who names them.
    let answer: DestroyedChannels = laptop
        .post(
            "/channels/destroyed",
            &DestroyedQuery {
                channel_ids: vec![expiring_id.clone(), "un-autre-canal".into()],
            },
        )
        .await
        .unwrap();
    assert_eq!(answer.destroyed, vec![expiring_id.clone()]);
    let too_many = laptop
        .post::<_, DestroyedChannels>(
            "/channels/destroyed",
            &DestroyedQuery {
                channel_ids: vec!["x".into(); 1_001],
            },
        )
        .await
        .unwrap_err();
    assert_eq!(too_many.code(), Some("invalid_destroyed_query"));

    // The laptop never received `channel_destroyed`; its next backup write shreds it.
    laptop.write_backup(&mut laptop_device).await.unwrap();
    assert!(!laptop.holds_epoch_key(&expiring_id, epoch));
    let contents = crate::support::open_key_backup(&laptop, &coord.user.id, &coord.recovery_code)
        .await
        .unwrap();
    assert!(contents.epoch_keys().all(|(c, _, _)| c != expiring_id));
    assert!(contents.is_shredded(&expiring_id, epoch));
}

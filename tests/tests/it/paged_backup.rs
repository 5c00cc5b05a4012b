//! The paged key backup (docs/PROTOCOL.md §10.8, issue 18 item 4): a backup far beyond
//! the old single blob's cap is written and restored, a new key uploads one page, the
//! server cannot drop, swap or roll back a page unseen, nor take a head naming a page it
//! does not hold, a backup of the first format is converted by the first write, and the
//! pages of shredded channels go away.

use passerelle_shared::crypto::{
    BackupContents, BackupPages, EpochKey, KeyBackup, KeyBackupHead, KeyBackupPage, PageHash,
    PageRef, RecoveryCode, Shredded, StoredBackup, Version1,
};
use passerelle_shared::protocol::v1::keys::KeyBackupBody;
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};

use crate::support::{audit_actions, open_key_backup, stored_backup_pages, working_group, Party};

fn channel(i: u32) -> String {
    format!("{i:08}-aaaa-4bbb-8ccc-dddddddddddd")
}

fn key_for(channel: u32, epoch: u64) -> EpochKey {
    let mut bytes = [0u8; 32];
    bytes[..4].copy_from_slice(&channel.to_be_bytes());
    bytes[4..12].copy_from_slice(&epoch.to_be_bytes());
    EpochKey::from_bytes(&bytes)
}

/// The stored backup's contents (head or blob) and its version.
async fn stored_contents(party: &Party) -> (BackupContents, i64) {
    let body: KeyBackupBody = party.client.get("/keys/backup").await.unwrap();
    let contents = open_key_backup(&party.client, &party.user.id, &party.recovery_code)
        .await
        .unwrap();
    (contents, body.version)
}

/// Writes `keys` in pages as a device of this release does (the library's
/// `BackupPages` and `KeyBackupHead`, which the SDK's write uses), over the stored
/// backup; returns the pages written.
async fn write_paged(party: &Party, keys: &[(String, u64, EpochKey)]) -> Vec<PageRef> {
    let key = RecoveryCode::parse(&party.recovery_code)
        .unwrap()
        .backup_key(&party.user.id);
    let (contents, version) = stored_contents(party).await;
    let mut pages = BackupPages::new();
    pages.update(&contents, keys.iter().map(|(c, e, k)| (c.as_str(), *e, k)));
    for page in pages.seal_changed(&key, &party.user.id).unwrap() {
        let response = put_page(party, &page.hash().to_string(), &page).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let references = pages.references().unwrap();
    let head = KeyBackupHead::seal(
        &contents,
        references.clone(),
        &key,
        &party.user.id,
        version as u64 + 1,
    )
    .unwrap();
    let response = put_head(party, &head, version).await;
    assert_eq!(response.status(), StatusCode::OK);
    references
}

async fn put_page(party: &Party, hash: &str, page: &KeyBackupPage) -> reqwest::Response {
    party
        .client
        .request(Method::PUT, &format!("/keys/backup/pages/{hash}"))
        .json(&serde_json::json!({ "page": page }))
        .send()
        .await
        .unwrap()
}

async fn put_head(party: &Party, head: &KeyBackupHead, version: i64) -> reqwest::Response {
    party
        .client
        .request(Method::PUT, "/keys/backup/head")
        .header("if-match", format!("\"{version}\""))
        .json(&serde_json::json!({ "head": head }))
        .send()
        .await
        .unwrap()
}

fn count(actions: &[(String, String)], action: &str, success: bool) -> usize {
    actions
        .iter()
        .filter(|(a, outcome)| a == action && (outcome == "success") == success)
        .count()
}

async fn error_code(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.unwrap();
    body["error"]["code"].as_str().unwrap_or("").to_owned()
}

#[tokio::test]
async fn a_backup_of_200000_epoch_keys_is_written_and_restored_and_a_new_key_uploads_one_page() {
    let server = TestServer::spawn().await.unwrap();
    let mut party = Party::new(&server, "agent", Role::Coordinator, "CCAS").await;
    // 200,000 keys: beyond the single blob's cap (16 MiB, about 110,000 keys).
    let keys: Vec<(String, u64, EpochKey)> = (0..2_000)
        .flat_map(|c| (1..=100).map(move |e| (channel(c), e, key_for(c, e))))
        .collect();
    write_paged(&party, &keys).await;
    let before = stored_backup_pages(&server, &party.user.id).await;
    assert_eq!(before.len(), 100, "2,000 keys a page");

    // The SDK merges it before writing: with no key of its own, it uploads nothing.
    party.client.write_backup(&mut party.device).await.unwrap();
    assert_eq!(stored_backup_pages(&server, &party.user.id).await, before);
    let uploads = count(
        &audit_actions(&server, Some(&party.user.id)).await,
        "key_backup_page_written",
        true,
    );
    assert_eq!(uploads, 100);

    // A new epoch key (a new group's first message): one page uploaded, the rest kept.
    let group = working_group(&mut party, &[]).await;
    let id = party.send_text(&group.id, "bonjour").await;
    party.ack(&id).await;
    party.client.write_backup(&mut party.device).await.unwrap();
    let after = stored_backup_pages(&server, &party.user.id).await;
    assert!(
        before.iter().all(|h| after.contains(h)),
        "no full page rewritten"
    );
    assert_eq!(after.len(), 101);
    let actions = audit_actions(&server, Some(&party.user.id)).await;
    assert_eq!(
        count(&actions, "key_backup_page_written", true),
        101,
        "one page uploaded for the new key"
    );

    // A new device restores every key with the recovery code.
    let mut fresh = server.client(&party.user).await.unwrap();
    fresh
        .restore_with_recovery_code(&party.recovery_code, "Nouveau poste")
        .await
        .unwrap();
    for (c, e) in [(0, 1), (0, 100), (1_999, 1), (1_999, 100)] {
        assert!(fresh.holds_epoch_key(&channel(c), e));
    }
    let contents = open_key_backup(&fresh, &party.user.id, &party.recovery_code)
        .await
        .unwrap();
    let of_group = contents
        .epoch_keys()
        .filter(|(c, _, _)| *c == group.id)
        .count();
    assert!(of_group >= 1);
    assert!(fresh.holds_epoch_key(&group.id, 1));
    assert_eq!(contents.epoch_keys().count(), 200_000 + of_group);
    assert_eq!(
        *contents.epoch_key(&channel(1_234), 56).unwrap().to_bytes(),
        *key_for(1_234, 56).to_bytes()
    );
}

#[tokio::test]
async fn a_page_dropped_swapped_or_rolled_back_by_the_server_is_detected_on_restore() {
    let server = TestServer::spawn().await.unwrap();
    let party = Party::new(&server, "agent", Role::Member, "CCAS").await;
    let first: Vec<(String, u64, EpochKey)> =
        (0..3).map(|c| (channel(c), 1, key_for(c, 1))).collect();
    let old = write_paged(&party, &first).await;
    let old_page: serde_json::Value = party
        .client
        .get(&format!("/keys/backup/pages/{}", old[0].hash))
        .await
        .unwrap();
    // A later write rewrites the page (one more key); the server deletes the old one.
    let (contents, _) = stored_contents(&party).await;
    let mut all: Vec<(String, u64, EpochKey)> = contents
        .epoch_keys()
        .map(|(c, e, k)| (c.to_owned(), e, EpochKey::from_bytes(&k.to_bytes())))
        .collect();
    all.push((channel(9), 1, key_for(9, 1)));
    let new = write_paged(&party, &all).await;
    assert_eq!(
        stored_backup_pages(&server, &party.user.id).await,
        vec![new[0].hash.to_string()]
    );

    let db = &server.state.db;
    let placeholder = |n: usize| match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    };
    let set_page = |data: String| {
        Statement::from_sql_and_values(
            db.get_database_backend(),
            format!(
                "UPDATE key_backup_pages SET data = {} WHERE user_id = {}",
                placeholder(1),
                placeholder(2)
            ),
            [data.into(), party.user.id.clone().into()],
        )
    };
    let current: serde_json::Value = party
        .client
        .get(&format!("/keys/backup/pages/{}", new[0].hash))
        .await
        .unwrap();

    // Rolled back: the server serves the older page under the new name.
    db.execute(set_page(old_page["page"].to_string()))
        .await
        .unwrap();
    let mut fresh = server.client(&party.user).await.unwrap();
    let refused = fresh
        .restore_with_recovery_code(&party.recovery_code, "Poste")
        .await
        .err()
        .expect("the restore is refused");
    assert!(refused.to_string().contains("altérée"), "{refused}");
    assert!(!fresh.holds_epoch_key(&channel(0), 1), "nothing restored");

    // Swapped: a page of another account's layout, here one bit of the ciphertext.
    let mut swapped = current.clone();
    let text = swapped["page"]["ciphertext"].as_str().unwrap().to_owned();
    let flipped = if text.starts_with('A') { "B" } else { "A" };
    swapped["page"]["ciphertext"] = format!("{flipped}{}", &text[1..]).into();
    db.execute(set_page(swapped["page"].to_string()))
        .await
        .unwrap();
    let refused = fresh
        .restore_with_recovery_code(&party.recovery_code, "Poste")
        .await
        .err()
        .expect("the restore is refused");
    assert!(refused.to_string().contains("altérée"), "{refused}");

    // Dropped: the page is gone.
    db.execute(Statement::from_sql_and_values(
        db.get_database_backend(),
        format!(
            "DELETE FROM key_backup_pages WHERE user_id = {}",
            placeholder(1)
        ),
        [party.user.id.clone().into()],
    ))
    .await
    .unwrap();
    let refused = fresh
        .restore_with_recovery_code(&party.recovery_code, "Poste")
        .await
        .err()
        .expect("the restore is refused");
    assert!(refused.to_string().contains("incomplète"), "{refused}");
    assert!(!fresh.holds_epoch_key(&channel(0), 1));
}

#[tokio::test]
async fn a_head_naming_a_page_the_server_does_not_hold_is_refused_logged_and_nothing_changes() {
    let server = TestServer::spawn_with(|config| {
        config.max_backup_page_bytes = 768 * 1024;
        config.max_backup_total_bytes = 100 * 1024;
    })
    .await
    .unwrap();
    let party = Party::new(&server, "agent", Role::Member, "CCAS").await;
    let key = RecoveryCode::parse(&party.recovery_code)
        .unwrap()
        .backup_key(&party.user.id);
    let kept = write_paged(&party, &[(channel(1), 1, key_for(1, 1))]).await;
    let before: KeyBackupBody = party.client.get("/keys/backup").await.unwrap();
    let (contents, version) = stored_contents(&party).await;

    let mut named = kept.clone();
    named.push(PageRef {
        id: [9; 16],
        hash: PageHash([7; 32]),
    });
    let head =
        KeyBackupHead::seal(&contents, named, &key, &party.user.id, version as u64 + 1).unwrap();
    let refused = put_head(&party, &head, version).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(refused).await, "backup_page_missing");
    let after: KeyBackupBody = party.client.get("/keys/backup").await.unwrap();
    assert_eq!(after, before, "the stored head is untouched");
    assert_eq!(
        stored_backup_pages(&server, &party.user.id).await,
        vec![kept[0].hash.to_string()],
        "and no page deleted"
    );

    // A page under a name that is not its hash, a page too large, and pages past the
    // account's total are refused with their own codes.
    let mut pages = BackupPages::new();
    pages.update(&contents, [("c", 1, &key_for(0, 1))]);
    let page = pages.seal_changed(&key, &party.user.id).unwrap().remove(0);
    let response = put_page(&party, &PageHash([1; 32]).to_string(), &page).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(response).await, "backup_page_hash");
    let response = put_page(&party, "pas-une-empreinte", &page).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Over the page limit: no writer makes such a page (2,000 keys stay under 600 KB), so
    // it is forged; the server does not open pages, it counts their bytes.
    let big = KeyBackupPage {
        v: Version1,
        user_id: party.user.id.clone(),
        nonce: [0; 12],
        ciphertext: vec![7; 800 * 1024],
    };
    let response = put_page(&party, &big.hash().to_string(), &big).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(response).await, "backup_page_too_large");
    let mut refused_total = None;
    for n in 0..4u32 {
        let half: Vec<(String, u64, EpochKey)> = (0..300)
            .map(|c| (channel(c), u64::from(n) + 1, key_for(c, 1)))
            .collect();
        let mut pages = BackupPages::new();
        pages.update(&contents, half.iter().map(|(c, e, k)| (c.as_str(), *e, k)));
        let page = pages.seal_changed(&key, &party.user.id).unwrap().remove(0);
        let response = put_page(&party, &page.hash().to_string(), &page).await;
        if response.status() != StatusCode::NO_CONTENT {
            refused_total = Some((response.status(), error_code(response).await));
            break;
        }
    }
    assert_eq!(
        refused_total,
        Some((
            StatusCode::PAYLOAD_TOO_LARGE,
            "backup_total_too_large".into()
        ))
    );

    // Another account asking for this account's page by its hash gets what a guess gets,
    // and the attempt is logged.
    let neighbour = Party::new(&server, "voisin", Role::Member, "CCAS").await;
    let response = neighbour
        .client
        .request(
            reqwest::Method::GET,
            &format!("/keys/backup/pages/{}", kept[0].hash),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let theirs = audit_actions(&server, Some(&neighbour.user.id)).await;
    assert_eq!(
        count(&theirs, "key_backup_page_read", false),
        1,
        "{theirs:?}"
    );

    let actions = audit_actions(&server, Some(&party.user.id)).await;
    assert_eq!(count(&actions, "key_backup_write", false), 1, "{actions:?}");
    assert!(
        count(&actions, "key_backup_page_write", false) >= 4,
        "{actions:?}"
    );
}

#[tokio::test]
async fn the_first_write_converts_a_backup_of_the_first_format() {
    let server = TestServer::spawn().await.unwrap();
    let mut party = Party::new(&server, "agent", Role::Member, "CCAS").await;
    // A backup as a client of the first format wrote it: one blob with three keys.
    let key = RecoveryCode::parse(&party.recovery_code)
        .unwrap()
        .backup_key(&party.user.id);
    let (mut contents, version) = stored_contents(&party).await;
    for c in 0..3 {
        contents.insert_epoch_key(&channel(c), 1, key_for(c, 1));
    }
    let blob = KeyBackup::seal(&contents, &key, &party.user.id, version as u64 + 1).unwrap();
    let written = party
        .client
        .request(Method::PUT, "/keys/backup")
        .header("if-match", format!("\"{version}\""))
        .json(&serde_json::json!({ "data": blob }))
        .send()
        .await
        .unwrap();
    assert_eq!(written.status(), StatusCode::NO_CONTENT);

    // It still restores.
    let mut fresh = server.client(&party.user).await.unwrap();
    fresh
        .restore_with_recovery_code(&party.recovery_code, "Poste")
        .await
        .unwrap();
    assert!(fresh.holds_epoch_key(&channel(2), 1));

    // The SDK's next write converts it: a head and one page with the three keys.
    party.client.write_backup(&mut party.device).await.unwrap();
    let body: KeyBackupBody = party.client.get("/keys/backup").await.unwrap();
    let StoredBackup::Head(head) = serde_json::from_value(body.data).unwrap() else {
        panic!("still a single blob");
    };
    assert_eq!(head.pages.len(), 1);
    let opened = open_key_backup(&party.client, &party.user.id, &party.recovery_code)
        .await
        .unwrap();
    for c in 0..3 {
        assert!(opened.epoch_key(&channel(c), 1).is_some());
    }
    let mut again = server.client(&party.user).await.unwrap();
    again
        .restore_with_recovery_code(&party.recovery_code, "Autre poste")
        .await
        .unwrap();
    assert!(again.holds_epoch_key(&channel(2), 1));

    // A client of the first format can no longer write a blob over the paged backup.
    let stale = party
        .client
        .request(Method::PUT, "/keys/backup")
        .header("if-match", format!("\"{}\"", body.version))
        .json(&serde_json::json!({ "data": blob }))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(stale).await, "backup_paged");
    let unchanged: KeyBackupBody = party.client.get("/keys/backup").await.unwrap();
    assert_eq!(unchanged.version, body.version);
}

#[tokio::test]
async fn a_shredded_channels_page_is_dropped_and_its_keys_never_back_after_a_restore() {
    let server = TestServer::spawn().await.unwrap();
    let mut party = Party::new(&server, "agent", Role::Member, "CCAS").await;
    // Channel 0 fills the first page, channel 1 the second.
    let keys: Vec<(String, u64, EpochKey)> = [0u32, 1]
        .into_iter()
        .flat_map(|c| (1..=2_000).map(move |e| (channel(c), e, key_for(c, e))))
        .collect();
    let pages = write_paged(&party, &keys).await;
    assert_eq!(pages.len(), 2);

    // Channel 0 is destroyed: the SDK's next write drops its page whole and keeps the
    // other as it was (not uploaded again).
    party.client.shred(&channel(0), Shredded::Channel);
    party.client.write_backup(&mut party.device).await.unwrap();
    assert_eq!(
        stored_backup_pages(&server, &party.user.id).await,
        vec![pages[1].hash.to_string()]
    );
    let opened = open_key_backup(&party.client, &party.user.id, &party.recovery_code)
        .await
        .unwrap();
    assert!(opened.epoch_keys().all(|(c, _, _)| c != channel(0)));
    assert!(opened.is_shredded(&channel(0), 1));
    assert_eq!(opened.epoch_keys().count(), 2_000);

    // Most of channel 1's history purged: its page is rewritten with the rest.
    party.client.shred(&channel(1), Shredded::Below(1_990));
    party.client.write_backup(&mut party.device).await.unwrap();
    let stored = stored_backup_pages(&server, &party.user.id).await;
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], pages[1].hash.to_string());

    let mut fresh = server.client(&party.user).await.unwrap();
    fresh
        .restore_with_recovery_code(&party.recovery_code, "Poste")
        .await
        .unwrap();
    assert!(!fresh.holds_epoch_key(&channel(0), 1));
    assert!(!fresh.holds_epoch_key(&channel(1), 1_989));
    assert!(fresh.holds_epoch_key(&channel(1), 1_990));
    assert!(fresh.holds_epoch_key(&channel(1), 2_000));
}

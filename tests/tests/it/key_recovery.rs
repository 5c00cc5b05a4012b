//! The key backup as it grows, crypto-shredding through it, and the lost recovery code
//! (issue 18, items 3 to 5): a reset stores identity, device and backup in one step, a
//! destroyed channel's keys never come back through another device's backup write, and
//! a backup of 20,000 epoch keys writes and restores.

use passerelle_shared::crypto::{
    BackupContents, DeviceCertificateRequest, DeviceKeys, EpochKey, IdentityKeyPair, KeyBackup,
    RecoveryCode, Shredded,
};
use passerelle_shared::protocol::v1::channels::HistoryPage;
use passerelle_shared::protocol::v1::keys::{KeyBackupBody, ResetKeys, UserKeys};
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;
use reqwest::{Method, StatusCode};

use crate::support::{audit_actions, working_group, Party};

/// The account's backup as the server holds it, opened with `code`.
async fn open_backup(
    party_client: &passerelle_shared::client::Client,
    user_id: &str,
    code: &str,
) -> BackupContents {
    let body: KeyBackupBody = party_client.get("/keys/backup").await.unwrap();
    let sealed: KeyBackup = serde_json::from_value(body.data).unwrap();
    assert_eq!(sealed.user_id, user_id);
    sealed
        .open(&RecoveryCode::parse(code).unwrap().backup_key(user_id))
        .unwrap()
}

/// Waits for the acknowledgement of the send just made: it follows the commit.
async fn acknowledged(conn: &mut passerelle_shared::client::Connection) {
    use passerelle_shared::protocol::v1::ws::ServerFrame;
    loop {
        match conn.next_within(std::time::Duration::from_secs(10)).await {
            Some(ServerFrame::Ack { .. }) => return,
            Some(_) => continue,
            None => panic!("the send was not acknowledged"),
        }
    }
}

/// The texts of a history page this client can open (the others are skipped).
async fn read_all(
    client: &mut passerelle_shared::client::Client,
    device: &passerelle_shared::client::Device,
    page: &HistoryPage,
) -> Vec<String> {
    let mut texts = Vec::new();
    for message in &page.messages {
        if let Ok(content) = client.open(device, message).await {
            texts.push(content.text.clone());
        }
    }
    texts
}

/// A reset request with a fresh identity, for `user_id`'s session.
fn reset_request(user_id: &str, backup_user: &str) -> (ResetKeys, String) {
    let identity = IdentityKeyPair::generate().unwrap();
    let keys = DeviceKeys::generate().unwrap();
    let device_id = format!("reset-{}", &user_id[..8]);
    let request =
        DeviceCertificateRequest::new(user_id, &device_id, identity.public_key(), &keys).unwrap();
    let certificate = identity.certify(&request).unwrap();
    let code = RecoveryCode::generate().unwrap();
    let contents = BackupContents::new(
        IdentityKeyPair::from_private_bytes(&identity.to_private_bytes()).unwrap(),
    );
    let backup = KeyBackup::seal(&contents, &code.backup_key(backup_user), backup_user, 1).unwrap();
    (
        ResetKeys {
            identity_key: identity.public_key().clone(),
            certificate,
            name: "Poste".into(),
            backup,
        },
        device_id,
    )
}

#[tokio::test]
async fn a_lost_recovery_code_is_replaced_in_one_step_and_the_new_device_sends_and_reads() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let member = Party::new(&server, "membre", Role::Member, "CCAS").await;
    let channel = working_group(&mut coord, &[&member]).await;
    let id = coord.send_text(&channel.id, "avant la perte").await;
    coord.ack(&id).await;

    // The member lost their only computer and its recovery code: it is revoked, and a
    // fresh browser creates new keys.
    let mut fresh = server.client(&member.user).await.unwrap();
    fresh
        .request(
            Method::DELETE,
            &format!("/keys/devices/{}", member.device.device_id),
        )
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let old_backup: KeyBackupBody = fresh.get("/keys/backup").await.unwrap();
    let enrolment = fresh.reset_keys("Nouveau poste").await.unwrap();
    let mut device = enrolment.device;
    let new_code = enrolment.recovery_code.to_display_string().to_string();
    assert_eq!(
        new_code.replace('-', "").len(),
        26,
        "a new code carries 128 bits"
    );

    // The new backup replaced the old one and opens with the new code only.
    let body: KeyBackupBody = fresh.get("/keys/backup").await.unwrap();
    assert_eq!(body.version, old_backup.version + 1);
    let contents = open_backup(&fresh, &member.user.id, &new_code).await;
    let keys: UserKeys = fresh
        .get(&format!("/keys/users/{}", member.user.id))
        .await
        .unwrap();
    assert_eq!(
        keys.identity_key.as_ref(),
        Some(contents.identity().public_key())
    );
    let live: Vec<_> = keys
        .devices
        .iter()
        .filter(|d| d.revoked_at.is_none())
        .collect();
    assert_eq!(live.len(), 1, "exactly the new device is live, no orphan");
    assert_eq!(live[0].certificate.device_id, device.device_id);
    let old = RecoveryCode::parse(&member.recovery_code).unwrap();
    let sealed: KeyBackup = serde_json::from_value(body.data).unwrap();
    assert!(sealed.open(&old.backup_key(&member.user.id)).is_err());

    // The coordinator, on a second device, is warned too (the pins travel in the
    // backup) and accepts the new identity.
    let mut colleague = server.client(&coord.user).await.unwrap();
    let mut colleague_device = colleague
        .restore_with_recovery_code(&coord.recovery_code, "Poste du coordinateur")
        .await
        .unwrap();
    colleague
        .accept_identity_change(&member.user.id)
        .await
        .unwrap();
    let mut colleague_conn = colleague
        .connect(&colleague_device.device_id)
        .await
        .unwrap();
    // The new device writes in the channel; a colleague reads it.
    let mut conn = fresh.connect(&device.device_id).await.unwrap();
    let envelope = fresh
        .seal(
            &mut device,
            &channel.id,
            &passerelle_shared::crypto::MessageContent::text("après la réinitialisation"),
        )
        .await
        .unwrap();
    conn.send(&passerelle_shared::protocol::v1::ws::ClientFrame::Send {
        channel_id: channel.id.clone(),
        envelope,
    })
    .await
    .unwrap();
    acknowledged(&mut conn).await;
    // The colleague's client that pinned the old identity is told it changed; once the
    // colleague trusts the new one (a fresh client here), they read each other.
    assert!(matches!(
        coord.client.fetch_user_devices(&member.user.id).await,
        Err(passerelle_shared::client::ClientError::IdentityChanged(_))
    ));
    let page: HistoryPage = colleague
        .get(&format!("/channels/{}/messages", channel.id))
        .await
        .unwrap();
    let texts = read_all(&mut colleague, &colleague_device, &page).await;
    assert!(
        texts.contains(&"après la réinitialisation".to_owned()),
        "{texts:?}"
    );
    let envelope = colleague
        .seal(
            &mut colleague_device,
            &channel.id,
            &passerelle_shared::crypto::MessageContent::text("bien reçu"),
        )
        .await
        .unwrap();
    colleague_conn
        .send(&passerelle_shared::protocol::v1::ws::ClientFrame::Send {
            channel_id: channel.id.clone(),
            envelope,
        })
        .await
        .unwrap();
    acknowledged(&mut colleague_conn).await;
    let page: HistoryPage = fresh
        .get(&format!("/channels/{}/messages", channel.id))
        .await
        .unwrap();
    let texts = read_all(&mut fresh, &device, &page).await;
    assert_eq!(texts.last().map(String::as_str), Some("bien reçu"));
    let actions = audit_actions(&server, Some(&member.user.id)).await;
    assert!(
        actions
            .iter()
            .any(|(action, _)| action == "identity_key_reset"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_reset_while_a_device_is_live_or_with_another_users_backup_changes_nothing() {
    let server = TestServer::spawn().await.unwrap();
    let member = Party::new(&server, "membre", Role::Member, "CCAS").await;
    let other = Party::new(&server, "autre", Role::Member, "CCAS").await;
    let before: KeyBackupBody = member.client.get("/keys/backup").await.unwrap();
    let keys_before: UserKeys = member
        .client
        .get(&format!("/keys/users/{}", member.user.id))
        .await
        .unwrap();

    let (live_device, device_id) = reset_request(&member.user.id, &member.user.id);
    let refused = member
        .client
        .request(Method::POST, "/keys/reset")
        .json(&live_device)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "identity_in_use");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("appareils"));

    // Once revoked, a backup sealed for someone else is still refused.
    member
        .client
        .request(
            Method::DELETE,
            &format!("/keys/devices/{}", member.device.device_id),
        )
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let fresh = server.client(&member.user).await.unwrap();
    let (foreign, _) = reset_request(&member.user.id, &other.user.id);
    let refused = fresh
        .request(Method::POST, "/keys/reset")
        .json(&foreign)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_backup");

    let after: KeyBackupBody = fresh.get("/keys/backup").await.unwrap();
    assert_eq!(after, before, "the backup is untouched");
    let keys_after: UserKeys = fresh
        .get(&format!("/keys/users/{}", member.user.id))
        .await
        .unwrap();
    assert_eq!(keys_after.identity_key, keys_before.identity_key);
    assert!(keys_after
        .devices
        .iter()
        .all(|d| d.certificate.device_id != device_id && d.revoked_at.is_some()));
    let actions = audit_actions(&server, Some(&member.user.id)).await;
    let denials = actions
        .iter()
        .filter(|(action, _)| action == "keys_reset")
        .count();
    assert_eq!(denials, 2, "{actions:?}");
}

#[tokio::test]
async fn a_backup_of_20000_epoch_keys_is_written_and_restored() {
    let server = TestServer::spawn().await.unwrap();
    let party = Party::new(&server, "agent", Role::Member, "CCAS").await;
    let channels: Vec<String> = (0..200)
        .map(|i| format!("0000{i:04}-aaaa-4bbb-8ccc-dddddddddddd"))
        .collect();
    let body: KeyBackupBody = party.client.get("/keys/backup").await.unwrap();
    let code = RecoveryCode::parse(&party.recovery_code).unwrap();
    let key = code.backup_key(&party.user.id);
    let sealed: KeyBackup = serde_json::from_value(body.data).unwrap();
    let mut contents = sealed.open(&key).unwrap();
    for channel in &channels {
        for epoch in 1..=100u64 {
            contents.insert_epoch_key(
                channel,
                epoch,
                EpochKey::from_bytes(&[(epoch % 251) as u8; 32]),
            );
        }
    }
    let big = KeyBackup::seal(&contents, &key, &party.user.id, sealed.revision + 1).unwrap();
    let written = party
        .client
        .request(Method::PUT, "/keys/backup")
        .header("if-match", format!("\"{}\"", body.version))
        .json(&serde_json::json!({ "data": big }))
        .send()
        .await
        .unwrap();
    assert_eq!(written.status(), StatusCode::NO_CONTENT);

    let mut fresh = server.client(&party.user).await.unwrap();
    fresh
        .restore_with_recovery_code(&party.recovery_code, "Nouveau poste")
        .await
        .unwrap();
    for channel in [&channels[0], &channels[199]] {
        for epoch in [1, 100] {
            assert!(fresh.holds_epoch_key(channel, epoch));
        }
    }
    let contents = open_backup(&fresh, &party.user.id, &party.recovery_code).await;
    assert_eq!(contents.epoch_keys().count(), 20_000);
}

#[tokio::test]
async fn a_destroyed_channels_keys_never_come_back_through_another_devices_backup_write() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let member = Party::new(&server, "membre", Role::Member, "CCAS").await;
    let channel = working_group(&mut coord, &[&member]).await;
    let id = coord.send_text(&channel.id, "à détruire").await;
    coord.ack(&id).await;
    let kept = working_group(&mut coord, &[&member]).await;
    let id = coord.send_text(&kept.id, "à garder").await;
    coord.ack(&id).await;

    // A second device of the coordinator, restored from the code: it holds the keys too.
    let mut laptop = server.client(&coord.user).await.unwrap();
    let mut laptop_device = laptop
        .restore_with_recovery_code(&coord.recovery_code, "Portable")
        .await
        .unwrap();
    assert!(laptop.holds_epoch_key(&channel.id, 1));

    // The channel is destroyed: the first device shreds it and writes the backup.
    coord.client.shred(&channel.id, Shredded::Channel);
    coord.client.write_backup(&mut coord.device).await.unwrap();
    assert!(!coord.client.holds_epoch_key(&channel.id, 1));

    // The laptop, which never saw the destruction, writes the backup with its keys.
    laptop.write_backup(&mut laptop_device).await.unwrap();
    assert!(
        !laptop.holds_epoch_key(&channel.id, 1),
        "the merge shredded it on the laptop"
    );
    let contents = open_backup(&laptop, &coord.user.id, &coord.recovery_code).await;
    assert!(contents.epoch_keys().all(|(c, _, _)| c != channel.id));
    assert!(contents.epoch_keys().any(|(c, _, _)| c == kept.id));
    assert!(contents.is_shredded(&channel.id, 1));

    // A third device restored from the code has none of its keys.
    let mut restored = server.client(&coord.user).await.unwrap();
    restored
        .restore_with_recovery_code(&coord.recovery_code, "Tablette")
        .await
        .unwrap();
    assert!(!restored.holds_epoch_key(&channel.id, 1));
    assert!(restored.holds_epoch_key(&kept.id, 1));
}

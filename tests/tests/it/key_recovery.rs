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

/// The account's backup as the server holds it (head and pages, or a single blob),
/// opened with `code`.
async fn open_backup(
    party_client: &passerelle_shared::client::Client,
    user_id: &str,
    code: &str,
) -> BackupContents {
    crate::support::open_key_backup(party_client, user_id, code)
        .await
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
    let device_id = format!("reset-{}", &user_id[..8]);
    (
        keys_request(user_id, &device_id, backup_user, false),
        device_id,
    )
}

/// New keys for `user_id`'s session: a fresh identity, the device `device_id` certified
/// by it and a first backup sealed for `backup_user`; a first enrolment if `enrol`.
fn keys_request(user_id: &str, device_id: &str, backup_user: &str, enrol: bool) -> ResetKeys {
    let identity = IdentityKeyPair::generate().unwrap();
    let keys = DeviceKeys::generate().unwrap();
    let request =
        DeviceCertificateRequest::new(user_id, device_id, identity.public_key(), &keys).unwrap();
    let certificate = identity.certify(&request).unwrap();
    let code = RecoveryCode::generate().unwrap();
    let contents = BackupContents::new(
        IdentityKeyPair::from_private_bytes(&identity.to_private_bytes()).unwrap(),
    );
    let backup = KeyBackup::seal(&contents, &code.backup_key(backup_user), backup_user, 1).unwrap();
    ResetKeys {
        identity_key: identity.public_key().clone(),
        certificate,
        name: "Poste".into(),
        backup,
        enrol,
    }
}

/// What the server holds of `user_id`'s keys: identity, devices, and the backup (status
/// and body).
async fn stored_keys(
    client: &passerelle_shared::client::Client,
    user_id: &str,
) -> (UserKeys, StatusCode, String) {
    let keys: UserKeys = client.get(&format!("/keys/users/{user_id}")).await.unwrap();
    let backup = client
        .request(Method::GET, "/keys/backup")
        .send()
        .await
        .unwrap();
    let status = backup.status();
    (keys, status, backup.text().await.unwrap())
}

/// Posts new keys; the refusal's status and code.
async fn refused_keys(
    client: &passerelle_shared::client::Client,
    request: &ResetKeys,
) -> (StatusCode, String) {
    let response = client
        .request(Method::POST, "/keys/reset")
        .json(request)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

#[tokio::test]
async fn a_first_enrolment_is_one_request_and_a_refused_one_leaves_no_identity_behind() {
    let server = TestServer::spawn().await.unwrap();
    // The SDK's enrolment: identity, device and backup stored by one request, which the
    // access log shows as one event (no separate device registration or backup write).
    let first = Party::new(&server, "premier", Role::Member, "CCAS").await;
    let actions = audit_actions(&server, None).await;
    let count = |name: &str| actions.iter().filter(|(a, _)| a == name).count();
    assert_eq!(count("identity_key_published"), 1, "{actions:?}");
    assert_eq!(count("device_registered"), 0, "{actions:?}");
    assert_eq!(count("key_backup_written"), 0, "{actions:?}");
    let (keys, backup_status, _) = stored_keys(&first.client, &first.user.id).await;
    assert!(keys.identity_key.is_some());
    assert_eq!(keys.devices.len(), 1);
    assert_eq!(backup_status, StatusCode::OK);
    let code = RecoveryCode::parse(&first.recovery_code).unwrap();
    let body: KeyBackupBody = first.client.get("/keys/backup").await.unwrap();
    let sealed: KeyBackup = serde_json::from_value(body.data).unwrap();
    assert!(sealed.open(&code.backup_key(&first.user.id)).is_ok());

    // A second account whose enrolment fails in the middle: its identity is written in
    // the transaction before the device id is found taken (the first account's). Nothing
    // stays: no identity without a device and a backup.
    let user = server
        .create_user("second", Role::Member, "CCAS")
        .await
        .unwrap();
    let mut client = server.client(&user).await.unwrap();
    let taken = keys_request(&user.id, &first.device.device_id, &user.id, true);
    assert_eq!(
        refused_keys(&client, &taken).await,
        (StatusCode::CONFLICT, "device_exists".to_owned())
    );
    // Another user's backup, another user's certificate: refused too.
    let foreign_backup = keys_request(&user.id, "device-second-1", &first.user.id, true);
    assert_eq!(
        refused_keys(&client, &foreign_backup).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_backup".to_owned()
        )
    );
    let foreign_certificate = keys_request(&first.user.id, "device-second-2", &user.id, true);
    assert_eq!(
        refused_keys(&client, &foreign_certificate).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_certificate".to_owned()
        )
    );
    // A malformed body: no backup.
    let mut malformed =
        serde_json::to_value(keys_request(&user.id, "device-second-4", &user.id, true)).unwrap();
    malformed.as_object_mut().unwrap().remove("backup");
    let response = client
        .request(Method::POST, "/keys/reset")
        .json(&malformed)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    let (keys, backup_status, _) = stored_keys(&client, &user.id).await;
    assert!(keys.identity_key.is_none(), "no identity left behind");
    assert!(keys.devices.is_empty(), "no device left behind");
    assert_eq!(
        backup_status,
        StatusCode::NOT_FOUND,
        "no backup left behind"
    );
    let denials = audit_actions(&server, Some(&user.id))
        .await
        .into_iter()
        .filter(|(action, _)| action == "keys_reset")
        .count();
    assert_eq!(denials, 3);

    // The enrolment then succeeds; a second one, which would replace the identity, is
    // refused and changes nothing.
    let enrolment = client.enrol_first_device("Poste").await.unwrap();
    let before = stored_keys(&client, &user.id).await;
    let again = keys_request(&user.id, "device-second-3", &user.id, true);
    assert_eq!(
        refused_keys(&client, &again).await,
        (StatusCode::CONFLICT, "identity_exists".to_owned())
    );
    let after = stored_keys(&client, &user.id).await;
    assert_eq!(after.0.identity_key, before.0.identity_key);
    assert_eq!(after.0.identity_version, before.0.identity_version);
    assert_eq!(after.0.devices.len(), 1);
    assert_eq!(
        after.0.devices[0].certificate.device_id,
        enrolment.device.device_id
    );
    assert_eq!(
        (after.1, &after.2),
        (before.1, &before.2),
        "the backup is untouched"
    );
    assert!(client.enrol_first_device("Encore").await.is_err());
    let denials = audit_actions(&server, Some(&user.id))
        .await
        .into_iter()
        .filter(|(action, _)| action == "keys_reset")
        .count();
    assert_eq!(denials, 5);
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
/// The single blob of the first format, at 20,000 keys, still restores, and the restored
/// device's first write converts it into ten pages of 2,000 (docs/PROTOCOL.md §10.8); the
/// paged backup beyond the old cap is `paged_backup::a_backup_of_200000_epoch_keys_…`.
async fn a_backup_of_20000_epoch_keys_of_the_first_format_restores_and_is_converted_into_pages() {
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
    let mut fresh_device = fresh
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

    fresh.write_backup(&mut fresh_device).await.unwrap();
    assert_eq!(
        crate::support::stored_backup_pages(&server, &party.user.id)
            .await
            .len(),
        10
    );
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

#[tokio::test]
async fn a_backup_over_the_cap_is_refused_with_its_own_code_logged_and_the_stored_one_kept() {
    // A small cap stands for the 16 MiB one (docs/PROTOCOL.md §10.5).
    let server = TestServer::spawn_with(|config| config.max_backup_bytes = 64 * 1024)
        .await
        .unwrap();
    let party = Party::new(&server, "agent", Role::Member, "CCAS").await;
    let key = RecoveryCode::parse(&party.recovery_code)
        .unwrap()
        .backup_key(&party.user.id);
    let write = |contents: &BackupContents, revision: u64, version: i64| {
        let sealed = KeyBackup::seal(contents, &key, &party.user.id, revision).unwrap();
        party
            .client
            .request(Method::PUT, "/keys/backup")
            .header("if-match", format!("\"{version}\""))
            .json(&serde_json::json!({ "data": sealed }))
            .send()
    };
    let body: KeyBackupBody = party.client.get("/keys/backup").await.unwrap();
    let sealed: KeyBackup = serde_json::from_value(body.data).unwrap();
    let mut contents = sealed.open(&key).unwrap();
    let channel = |i: u32| format!("0000{i:04}-aaaa-4bbb-8ccc-dddddddddddd");
    for i in 0..250 {
        contents.insert_epoch_key(&channel(i), 1, EpochKey::from_bytes(&[7; 32]));
    }
    let written = write(&contents, sealed.revision + 1, body.version)
        .await
        .unwrap();
    assert_eq!(written.status(), StatusCode::NO_CONTENT, "under the cap");
    let kept: KeyBackupBody = party.client.get("/keys/backup").await.unwrap();

    // Past the cap: refused with its own code and a French message, logged, and the
    // stored backup stays as it was (nothing replaced, nothing lost).
    for i in 250..600 {
        contents.insert_epoch_key(&channel(i), 1, EpochKey::from_bytes(&[7; 32]));
    }
    let refused = write(&contents, sealed.revision + 2, kept.version)
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let error: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["code"], "backup_too_large");
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("sauvegarde de clés a atteint la taille maximale"));
    let after: KeyBackupBody = party.client.get("/keys/backup").await.unwrap();
    assert_eq!(after, kept, "the stored backup is untouched");
    let opened = open_backup(&party.client, &party.user.id, &party.recovery_code).await;
    assert_eq!(opened.epoch_keys().count(), 250);
    let denials = audit_actions(&server, Some(&party.user.id))
        .await
        .into_iter()
        .filter(|(action, outcome)| action == "key_backup_write" && outcome != "success")
        .count();
    assert_eq!(denials, 1);
}

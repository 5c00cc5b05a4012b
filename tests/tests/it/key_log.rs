//! The key transparency log (issue 17 item 4, docs/PROTOCOL.md §25): every identity and
//! device change is an entry of a Merkle log whose signed head clients check for
//! consistency; a key served outside the log, or a log rewritten behind a client's back,
//! is refused; and a colleague's identity reset keeps her earlier messages readable,
//! marked as sent with an old key.

use passerelle_shared::client::{Client, ClientError, Device};
use passerelle_shared::crypto::{
    DeviceCertificateRequest, DeviceKeys, IdentityKeyPair, KeyLogError, KeyLogKind,
};
use passerelle_shared::protocol::v1::channels::HistoryPage;
use passerelle_shared::protocol::v1::key_log::{
    KeyLogEntries, KeyLogHeadBody, UserKeyLog, KEY_LOG_PAGE_MAX,
};
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};

use crate::support::{audit_actions, working_group, Party};

/// Runs `sql` (with `?` placeholders, rewritten for PostgreSQL) on the server's database:
/// the tampering of a malicious operator.
async fn tamper(server: &TestServer, sql: &str, values: Vec<sea_orm::Value>) {
    let db = &server.state.db;
    let backend = db.get_database_backend();
    let mut text = String::new();
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' && backend == sea_orm::DbBackend::Postgres {
            n += 1;
            text.push_str(&format!("${n}"));
        } else {
            text.push(c);
        }
    }
    db.execute(Statement::from_sql_and_values(backend, text, values))
        .await
        .unwrap();
}

async fn revoke(client: &Client, device_id: &str) {
    client
        .request(Method::DELETE, &format!("/keys/devices/{device_id}"))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
}

/// The texts this client opens in a channel's history, each with whether it was sent
/// with an old key; the unreadable ones as `None`.
async fn history(
    client: &mut Client,
    device: &Device,
    channel_id: &str,
) -> Vec<(Option<String>, bool)> {
    let page: HistoryPage = client
        .get(&format!("/channels/{channel_id}/messages"))
        .await
        .unwrap();
    let mut out = Vec::new();
    for message in &page.messages {
        match client.open(device, message).await {
            Ok(content) => out.push((
                Some(content.text.clone()),
                client.sent_with_old_key(&message.envelope.sender_device),
            )),
            Err(_) => out.push((None, false)),
        }
    }
    out
}

#[tokio::test]
async fn every_identity_and_device_change_is_logged_and_proved_to_clients() {
    let server = TestServer::spawn().await.unwrap();
    let mut sophie = Party::new(&server, "sophie", Role::Member, "Police").await;
    let karim = Party::new(&server, "karim", Role::Coordinator, "Mairie").await;

    let logged = sophie.client.logged_keys(&karim.user.id).await.unwrap();
    assert_eq!(logged.identities().len(), 1);
    let karim_keys: passerelle_shared::protocol::v1::keys::UserKeys = sophie
        .client
        .get(&format!("/keys/users/{}", karim.user.id))
        .await
        .unwrap();
    let certificate = &karim_keys.devices[0].certificate;
    let status = logged.certificate(certificate).unwrap();
    assert!(!status.old_identity && !status.revoked);
    let first = sophie.client.key_log_head().unwrap().clone();

    // Karim loses his computer and resets: revocation, new identity, new device.
    revoke(&karim.client, &karim.device.device_id).await;
    let mut fresh = server.client(&karim.user).await.unwrap();
    fresh.reset_keys("Nouveau poste").await.unwrap();
    let answer: UserKeyLog = sophie
        .client
        .get(&format!("/keys/log/users/{}", karim.user.id))
        .await
        .unwrap();
    let kinds: Vec<KeyLogKind> = answer.entries.iter().map(|e| e.entry.kind).collect();
    assert_eq!(
        kinds,
        [
            KeyLogKind::Identity,
            KeyLogKind::DeviceAdded,
            KeyLogKind::DeviceRevoked,
            KeyLogKind::Identity,
            KeyLogKind::DeviceAdded
        ]
    );

    // The client accepts the grown log only through a consistency proof from its head.
    let logged = sophie.client.logged_keys(&karim.user.id).await.unwrap();
    assert_eq!(logged.identities().len(), 2);
    let status = logged.certificate(certificate).unwrap();
    assert!(status.old_identity && status.revoked, "{status:?}");
    assert!(sophie.client.key_log_head().unwrap().size > first.size);

    // The head is a signed note with the key log's own origin.
    let head: KeyLogHeadBody = sophie.client.get("/keys/log/head").await.unwrap();
    let origin = head.checkpoint.lines().next().unwrap().to_owned();
    assert!(origin.ends_with("/keys"), "{origin}");
    assert!(head.verifier_key.starts_with(&format!("{origin}+")));

    // Refusals: a range outside the log, and the entries of someone one may not see.
    let refused = sophie
        .client
        .request(Method::GET, "/keys/log/consistency?from=5&to=2")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_log_range");
    let actions = audit_actions(&server, None).await;
    assert!(
        actions
            .iter()
            .any(|(action, outcome)| action == "key_log_read" && outcome == "denied"),
        "{actions:?}"
    );
    let refused = sophie
        .client
        .request(Method::GET, "/keys/log/consistency?from=x")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
}

/// A colleague resets her keys: what she wrote before stays readable on every member's
/// device — one that pinned her old key and accepted the change, one that meets her for
/// the first time after the reset, one restored from the recovery code — and is marked
/// as sent with an old key; what she writes after is not.
#[tokio::test]
async fn a_colleagues_reset_keeps_her_earlier_messages_readable_and_marked() {
    let server = TestServer::spawn().await.unwrap();
    let mut karim = Party::new(&server, "karim", Role::Coordinator, "Mairie").await;
    let mut sophie = Party::new(&server, "sophie", Role::Member, "Police").await;
    let jean = Party::new(&server, "jean", Role::Member, "CCAS").await;
    let channel = working_group(&mut karim, &[&sophie, &jean]).await;
    crate::support::start_log(&mut karim, &channel.id).await;
    let id = sophie
        .send_text(&channel.id, "Signalement avant la perte")
        .await;
    sophie.ack(&id).await;
    let old_device = sophie.device.device_id.clone();
    let before = history(&mut karim.client, &karim.device, &channel.id).await;
    assert_eq!(
        before,
        [(Some("Signalement avant la perte".to_owned()), false)]
    );
    karim.client.write_backup(&mut karim.device).await.unwrap();

    // Sophie lost her laptop and her recovery code.
    revoke(&sophie.client, &old_device).await;
    let mut fresh = server.client(&sophie.user).await.unwrap();
    let mut device = fresh.reset_keys("Nouveau poste").await.unwrap().device;
    let mut conn = fresh.connect(&device.device_id).await.unwrap();
    let envelope = fresh
        .seal(
            &mut device,
            &channel.id,
            &passerelle_shared::crypto::MessageContent::text("Après la réinitialisation"),
        )
        .await
        .unwrap();
    conn.send(&passerelle_shared::protocol::v1::ws::ClientFrame::Send {
        channel_id: channel.id.clone(),
        envelope,
    })
    .await
    .unwrap();
    loop {
        match conn.next_within(std::time::Duration::from_secs(10)).await {
            Some(passerelle_shared::protocol::v1::ws::ServerFrame::Ack { .. }) => break,
            Some(_) => continue,
            None => panic!("no ack"),
        }
    }
    let expected = [
        (Some("Signalement avant la perte".to_owned()), true),
        (Some("Après la réinitialisation".to_owned()), false),
    ];

    // Karim had pinned her old key: warned, he accepts the new one and reads both.
    assert!(matches!(
        karim.client.fetch_user_devices(&sophie.user.id).await,
        Err(ClientError::IdentityChanged(_))
    ));
    karim
        .client
        .accept_identity_change(&sophie.user.id)
        .await
        .unwrap();
    karim.client.refresh_roster(&channel.id).await.unwrap();
    assert_eq!(
        history(&mut karim.client, &karim.device, &channel.id).await,
        expected
    );
    assert!(karim.client.sent_with_old_key(&old_device));

    // Jean's client meets Sophie for the first time after her reset.
    let mut jean_client = jean.client;
    assert_eq!(
        history(&mut jean_client, &jean.device, &channel.id).await,
        expected
    );

    // A device of Karim's restored from his recovery code reads the same.
    let mut restored = server.client(&karim.user).await.unwrap();
    let restored_device = restored
        .restore_with_recovery_code(&karim.recovery_code, "Portable")
        .await
        .unwrap();
    restored
        .accept_identity_change(&sophie.user.id)
        .await
        .unwrap();
    let seen = history(&mut restored, &restored_device, &channel.id).await;
    assert_eq!(seen[0], expected[0], "{seen:?}");
}

/// A malicious operator replaces a colleague's identity key and device in the database
/// without going through the log: a client that meets her for the first time refuses the
/// keys instead of trusting them.
#[tokio::test]
async fn an_identity_key_swapped_outside_the_log_is_refused() {
    let server = TestServer::spawn().await.unwrap();
    let mut karim = Party::new(&server, "karim", Role::Coordinator, "Mairie").await;
    let sophie = Party::new(&server, "sophie", Role::Member, "Police").await;
    let channel = working_group(&mut karim, &[&sophie]).await;

    let forged = IdentityKeyPair::generate().unwrap();
    let keys = DeviceKeys::generate().unwrap();
    let device_id = "f0f0f0f0-aaaa-4bbb-8ccc-dddddddddddd";
    let request =
        DeviceCertificateRequest::new(&sophie.user.id, device_id, forged.public_key(), &keys)
            .unwrap();
    let certificate = forged.certify(&request).unwrap();
    tamper(
        &server,
        "UPDATE identity_keys SET public_key = ? WHERE user_id = ?",
        vec![
            forged.public_key().to_base64url().into(),
            sophie.user.id.clone().into(),
        ],
    )
    .await;
    tamper(
        &server,
        "INSERT INTO devices (id, user_id, certificate, signing_key, name, created_at) \
         VALUES (?, ?, ?, ?, 'Poste', 1)",
        vec![
            device_id.into(),
            sophie.user.id.clone().into(),
            serde_json::to_string(&certificate).unwrap().into(),
            certificate.keys.signing.to_base64url().into(),
        ],
    )
    .await;

    let mut newcomer = server.client(&karim.user).await.unwrap();
    let refused = newcomer.fetch_user_devices(&sophie.user.id).await;
    assert!(
        matches!(
            refused,
            Err(ClientError::KeyLog(KeyLogError::IdentityNotLogged(ref user))) if *user == sophie.user.id
        ),
        "{refused:?}"
    );
    assert!(
        newcomer.pinned_identity(&sophie.user.id).is_none(),
        "nothing pinned"
    );
    let refused = newcomer.refresh_roster(&channel.id).await.map(|_| ());
    assert!(
        matches!(refused, Err(ClientError::KeyLog(_))),
        "{refused:?}"
    );
}

/// The operator rewrites an entry of the log after a client saw its head: the head the
/// server signs next does not extend the one the client kept, across a restart of the
/// client too (the head is part of what an agent stores).
#[tokio::test]
async fn a_rewritten_log_is_refused_by_a_client_that_saw_it_before() {
    let server = TestServer::spawn().await.unwrap();
    let mut karim = Party::new(&server, "karim", Role::Coordinator, "Mairie").await;
    let sophie = Party::new(&server, "sophie", Role::Member, "Police").await;
    karim.client.logged_keys(&sophie.user.id).await.unwrap();
    let kept = karim.client.key_log_head().cloned();
    assert!(kept.is_some());

    // Sophie's first identity entry now names another key: same size, another root.
    let forged = IdentityKeyPair::generate().unwrap();
    let answer: UserKeyLog = karim
        .client
        .get(&format!("/keys/log/users/{}", sophie.user.id))
        .await
        .unwrap();
    let mut entry = answer.entries[0].entry.clone();
    entry.identity_key = forged.public_key().clone();
    tamper(
        &server,
        "UPDATE key_log SET entry = ? WHERE idx = ?",
        vec![
            serde_json::to_string(&entry).unwrap().into(),
            i64::try_from(answer.entries[0].index).unwrap().into(),
        ],
    )
    .await;

    let refused = karim.client.refresh_key_log().await;
    assert!(
        matches!(
            refused,
            Err(ClientError::KeyLog(KeyLogError::Inconsistent { .. }))
        ),
        "{refused:?}"
    );
    // A later run of the client, given the head it kept, refuses it the same way,
    // however much the log grew in between.
    Party::new(&server, "jean", Role::Member, "CCAS").await;
    let mut later = server.client(&karim.user).await.unwrap();
    later.restore_key_log_head(kept);
    let refused = later.logged_keys(&sophie.user.id).await;
    assert!(
        matches!(
            refused,
            Err(ClientError::KeyLog(KeyLogError::Inconsistent { .. }))
        ),
        "{refused:?}"
    );
}

/// Moves a key log row to another user in the table's `user_id` column only: the entry
/// itself (and so its leaf) is unchanged, but the per-user listing no longer shows it —
/// a server hiding an entry from one user's entries.
async fn hide_from_user_listing(server: &TestServer, index: u64, other_user: &str) {
    tamper(
        server,
        "UPDATE key_log SET user_id = ? WHERE idx = ?",
        vec![
            other_user.to_owned().into(),
            i64::try_from(index).unwrap().into(),
        ],
    )
    .await;
}

/// The index of the last entry of `kind` about `device_id`, read from the whole log.
async fn index_of(client: &Client, kind: KeyLogKind, device_id: &str) -> u64 {
    let head: KeyLogHeadBody = client.get("/keys/log/head").await.unwrap();
    let page: KeyLogEntries = client
        .get(&format!("/keys/log/entries?start=0&end={}", head.size))
        .await
        .unwrap();
    page.entries
        .iter()
        .rev()
        .find(|r| {
            r.entry.kind == kind
                && r.entry
                    .device
                    .as_ref()
                    .is_some_and(|d| d.device_id == device_id)
        })
        .unwrap()
        .index
}

/// The whole log is served in bounded pages, in order, to any signed-in account; a
/// range outside the log or too long is refused in French, logged, and changes nothing.
#[tokio::test]
async fn the_whole_log_is_served_in_bounded_pages_and_bad_ranges_are_refused() {
    let server = TestServer::spawn().await.unwrap();
    let sophie = Party::new(&server, "sophie", Role::Member, "Police").await;
    Party::new(&server, "karim", Role::Coordinator, "Mairie").await;
    let head: KeyLogHeadBody = sophie.client.get("/keys/log/head").await.unwrap();
    assert!(
        head.size >= 4,
        "two identities and two devices: {}",
        head.size
    );
    let page: KeyLogEntries = sophie
        .client
        .get(&format!("/keys/log/entries?start=1&end={}", head.size))
        .await
        .unwrap();
    assert_eq!((page.start, page.end), (1, head.size));
    let indexes: Vec<u64> = page.entries.iter().map(|r| r.index).collect();
    assert_eq!(indexes, (1..head.size).collect::<Vec<_>>());

    let denied_before = audit_actions(&server, None)
        .await
        .iter()
        .filter(|(a, o)| a == "key_log_read" && o == "denied")
        .count();
    let beyond = head.size + 1;
    for query in [
        "start=3&end=2".to_owned(),
        format!("start=0&end={beyond}"),
        format!("start=0&end={}", KEY_LOG_PAGE_MAX + 1),
    ] {
        let refused = sophie
            .client
            .request(Method::GET, &format!("/keys/log/entries?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            refused.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}"
        );
        let body: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_log_range");
        assert_eq!(
            body["error"]["message"],
            "Ces tailles ne désignent pas un état du journal des clés."
        );
    }
    let refused = sophie
        .client
        .request(Method::GET, "/keys/log/entries?start=x&end=1")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let denied_after = audit_actions(&server, None)
        .await
        .iter()
        .filter(|(a, o)| a == "key_log_read" && o == "denied")
        .count();
    assert_eq!(denied_after, denied_before + 3);
    let again: KeyLogHeadBody = sophie.client.get("/keys/log/head").await.unwrap();
    assert_eq!(again, head, "nothing changed");
}

/// The operator revokes a device in the log but serves it as live, and hides the
/// revocation from the user's own entries: a client that audits the whole log still
/// sees it and refuses — a first-time client as well as one that audited before.
#[tokio::test]
async fn a_revocation_hidden_from_the_users_entries_is_refused() {
    let server = TestServer::spawn().await.unwrap();
    let mut karim = Party::new(&server, "karim", Role::Coordinator, "Mairie").await;
    let sophie = Party::new(&server, "sophie", Role::Member, "Police").await;
    let jean = Party::new(&server, "jean", Role::Member, "CCAS").await;
    karim.client.refresh_key_log().await.unwrap();

    revoke(&sophie.client, &sophie.device.device_id).await;
    let revoked = index_of(
        &karim.client,
        KeyLogKind::DeviceRevoked,
        &sophie.device.device_id,
    )
    .await;
    hide_from_user_listing(&server, revoked, &jean.user.id).await;
    tamper(
        &server,
        "UPDATE devices SET revoked_at = NULL WHERE id = ?",
        vec![sophie.device.device_id.clone().into()],
    )
    .await;
    let listed: UserKeyLog = karim
        .client
        .get(&format!("/keys/log/users/{}", sophie.user.id))
        .await
        .unwrap();
    assert!(
        listed
            .entries
            .iter()
            .all(|e| e.entry.kind != KeyLogKind::DeviceRevoked),
        "the user's listing hides the revocation"
    );

    karim.client.refresh_key_log().await.unwrap();
    let refused = karim.client.fetch_user_devices(&sophie.user.id).await;
    assert!(
        matches!(
            refused,
            Err(ClientError::KeyLog(KeyLogError::RevocationHidden(ref d))) if *d == sophie.device.device_id
        ),
        "{refused:?}"
    );
    let mut newcomer = server.client(&jean.user).await.unwrap();
    let refused = newcomer.fetch_user_devices(&sophie.user.id).await;
    assert!(
        matches!(
            refused,
            Err(ClientError::KeyLog(KeyLogError::RevocationHidden(_)))
        ),
        "{refused:?}"
    );
}

/// The operator hides a live device of a colleague from the directory (so that no key
/// is wrapped for it, while her colleagues believe she reads) and from her entries: the
/// audited log shows it, and the client refuses the directory's answer.
#[tokio::test]
async fn a_device_hidden_from_the_directory_and_the_users_entries_is_refused() {
    let server = TestServer::spawn().await.unwrap();
    let mut karim = Party::new(&server, "karim", Role::Coordinator, "Mairie").await;
    let sophie = Party::new(&server, "sophie", Role::Member, "Police").await;
    let jean = Party::new(&server, "jean", Role::Member, "CCAS").await;
    karim.client.refresh_key_log().await.unwrap();
    let added = index_of(
        &karim.client,
        KeyLogKind::DeviceAdded,
        &sophie.device.device_id,
    )
    .await;
    hide_from_user_listing(&server, added, &jean.user.id).await;
    tamper(
        &server,
        "UPDATE devices SET user_id = ? WHERE id = ?",
        vec![
            jean.user.id.clone().into(),
            sophie.device.device_id.clone().into(),
        ],
    )
    .await;
    let refused = karim.client.fetch_user_devices(&sophie.user.id).await;
    assert!(
        matches!(
            refused,
            Err(ClientError::KeyLog(KeyLogError::DeviceHidden(ref d))) if *d == sophie.device.device_id
        ),
        "{refused:?}"
    );
}

/// Self-monitoring: each client watches its own account's entries. A device it
/// approved (linking), its own device after a restore or a reset, raise nothing; a
/// device added elsewhere is named with its date.
#[tokio::test]
async fn a_client_names_the_devices_added_to_its_account_elsewhere() {
    let server = TestServer::spawn().await.unwrap();
    let mut sophie = Party::new(&server, "sophie", Role::Member, "Police").await;
    let laptop = sophie.device.device_id.clone();
    assert_eq!(sophie.client.account_changes(&laptop).await.unwrap(), []);

    // Linking a phone from the laptop: neither is surprised.
    let mut phone = server.client(&sophie.user).await.unwrap();
    let pending = phone.request_link("Téléphone").await.unwrap();
    let request = sophie
        .client
        .link_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.id == pending.request.id)
        .unwrap();
    let code = sophie
        .client
        .link_code_of(&sophie.device, &request)
        .unwrap()
        .to_string();
    sophie
        .client
        .approve_link(&sophie.device, &request, &code)
        .await
        .unwrap();
    let phone_device = phone.finish_link(pending).await.unwrap();
    assert_eq!(sophie.client.account_changes(&laptop).await.unwrap(), []);
    assert_eq!(
        phone
            .account_changes(&phone_device.device_id)
            .await
            .unwrap(),
        []
    );

    // A tablet restored from the recovery code, elsewhere: the tablet is not surprised,
    // the laptop and the phone name it.
    let mut tablet = server.client(&sophie.user).await.unwrap();
    let tablet_device = tablet
        .restore_with_recovery_code(&sophie.recovery_code, "Tablette")
        .await
        .unwrap();
    assert_eq!(
        tablet
            .account_changes(&tablet_device.device_id)
            .await
            .unwrap(),
        []
    );
    let changes = sophie.client.account_changes(&laptop).await.unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        changes[0].device_id.as_deref(),
        Some(tablet_device.device_id.as_str())
    );
    assert!(changes[0].at > 0);
    assert_eq!(
        phone
            .account_changes(&phone_device.device_id)
            .await
            .unwrap()
            .len(),
        1
    );

    // All three lost, a reset from another computer: its new identity and device,
    // made there, do not surprise it.
    for device in [&laptop, &phone_device.device_id, &tablet_device.device_id] {
        revoke(&tablet, device).await;
    }
    let mut fresh = server.client(&sophie.user).await.unwrap();
    let reset = fresh.reset_keys("Nouveau poste").await.unwrap();
    assert_eq!(
        fresh
            .account_changes(&reset.device.device_id)
            .await
            .unwrap(),
        []
    );
}

/// Split views: the server shows Karim one log and Jean, who meets it for the first
/// time, a rewritten one of the same size. Jean's message carries his head under his
/// signature; Karim's client finds the disagreement — and an honest exchange, with
/// heads of different sizes, raises nothing.
#[tokio::test]
async fn a_head_gossiped_in_a_message_reveals_a_split_view() {
    let server = TestServer::spawn().await.unwrap();
    let mut karim = Party::new(&server, "karim", Role::Coordinator, "Mairie").await;
    let mut jean = Party::new(&server, "jean", Role::Member, "CCAS").await;
    let sophie = Party::new(&server, "sophie", Role::Member, "Police").await;
    let channel = working_group(&mut karim, &[&jean, &sophie]).await;
    let id = karim.send_text(&channel.id, "Bonjour à tous").await;
    karim.ack(&id).await;
    assert_eq!(jean.receive().await.1, "Bonjour à tous");
    // Honest: the log grows between the heads (newcomers); the proofs join them, with
    // the receiver's head larger, then smaller, than the sender's.
    let lea = Party::new(&server, "lea", Role::Member, "CCAS").await;
    jean.client.refresh_key_log().await.unwrap();
    let id = jean.send_text(&channel.id, "Bien reçu").await;
    jean.ack(&id).await;
    Party::new(&server, "marc", Role::Member, "CCAS").await;
    karim.client.refresh_key_log().await.unwrap();
    assert_eq!(karim.receive().await.1, "Bien reçu");
    assert!(karim.client.key_log_split_view().is_none());
    let id = karim.send_text(&channel.id, "Parfait").await;
    karim.ack(&id).await;
    assert_eq!(jean.receive().await.1, "Parfait");
    assert!(jean.client.key_log_split_view().is_none());

    // The fork: Léa's identity entry rewritten, and Jean's client, starting over, shown
    // that log (same size, another root).
    let forged = IdentityKeyPair::generate().unwrap();
    let answer: UserKeyLog = karim
        .client
        .get(&format!("/keys/log/users/{}", lea.user.id))
        .await
        .unwrap();
    let mut entry = answer.entries[0].entry.clone();
    entry.identity_key = forged.public_key().clone();
    tamper(
        &server,
        "UPDATE key_log SET entry = ? WHERE idx = ?",
        vec![
            serde_json::to_string(&entry).unwrap().into(),
            i64::try_from(answer.entries[0].index).unwrap().into(),
        ],
    )
    .await;
    jean.client.restore_key_log_head(None);
    jean.client.refresh_key_log().await.unwrap();
    let id = jean.send_text(&channel.id, "Vu").await;
    jean.ack(&id).await;
    let message = karim.next_message().await;
    let content = karim.client.open(&karim.device, &message).await.unwrap();
    assert_eq!(content.text, "Vu", "the message itself stays readable");
    assert!(
        matches!(
            karim.client.key_log_split_view(),
            Some(KeyLogError::SplitView { .. })
        ),
        "{:?}",
        karim.client.key_log_split_view()
    );
}

//! Rotating agreement keys and the deletion of fetched wraps (docs/PROTOCOL.md §23,
//! §12.2): what a copy of the database and of a device's keys still opens.
//!
//! The attacker here is passive: at some moment they copy the server's database (an
//! insider, a backup) and, at some moment, a device's private keys (its store); they
//! never act on the server. They are given everything the device held at that moment,
//! and try every wrap and every message of the copies.

use passerelle_shared::client::store::StoredDevice;
use passerelle_shared::client::Device;
use passerelle_shared::crypto::{
    AgreementKeyPair, DeviceCertificate, Envelope, EpochKey, SignedPrekey, WrappedEpochKey,
    PREKEY_GRACE_MS,
};
use passerelle_shared::protocol::v1::channels::{EpochState, KeysDelivered};
use passerelle_shared::protocol::v1::keys::{PublishPrekey, UserKeys};
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};

use crate::support::{audit_actions, long_sessions_server, working_group, Party};

/// What a copy of the database holds of a channel: the wraps still whole (each with its
/// recipient) and the envelopes.
struct DatabaseCopy {
    wraps: Vec<WrappedEpochKey>,
    envelopes: Vec<Envelope>,
}

async fn copy_database(server: &TestServer, channel_id: &str) -> DatabaseCopy {
    let db = &server.state.db;
    let backend = db.get_database_backend();
    let rows = |sql: &str| Statement::from_string(backend, sql.to_owned());
    let wraps = db
        .query_all(rows("SELECT wrapped FROM epoch_keys"))
        .await
        .unwrap()
        .iter()
        // A delivered wrap keeps its commitment only: it does not parse as a wrap.
        .filter_map(|row| serde_json::from_str(&row.try_get::<String>("", "wrapped").unwrap()).ok())
        .collect();
    let envelopes = db
        .query_all(rows("SELECT channel_id, envelope FROM messages"))
        .await
        .unwrap()
        .iter()
        .filter(|row| row.try_get::<String>("", "channel_id").unwrap() == channel_id)
        .map(|row| serde_json::from_str(&row.try_get::<String>("", "envelope").unwrap()).unwrap())
        .collect();
    DatabaseCopy { wraps, envelopes }
}

/// Everything the attacker opens with a copy of `stolen` (the device's keys at that
/// moment) and the database copy: the epochs whose key they recover, and the texts.
fn what_opens(
    stolen: &StoredDevice,
    copy: &DatabaseCopy,
    senders: &[&DeviceCertificate],
) -> (Vec<u64>, Vec<String>) {
    let device = Device::import(stolen).unwrap();
    let signing = |device_id: &str| {
        senders
            .iter()
            .find(|c| c.device_id == device_id)
            .map(|c| c.keys.signing.clone())
            .unwrap()
    };
    let mut keys: Vec<(u64, EpochKey)> = Vec::new();
    for wrap in copy
        .wraps
        .iter()
        .filter(|w| w.recipient_device == stolen.device_id)
    {
        if let Ok(key) = device.unwrap(wrap, &signing(&wrap.sender_device)) {
            keys.push((wrap.epoch, key));
        }
    }
    let mut texts = Vec::new();
    for envelope in &copy.envelopes {
        for (epoch, key) in &keys {
            if *epoch == envelope.epoch {
                if let Ok(content) = envelope.open(key, &signing(&envelope.sender_device)) {
                    texts.push(content.text.clone());
                }
            }
        }
    }
    let mut epochs: Vec<u64> = keys.into_iter().map(|(e, _)| e).collect();
    epochs.sort_unstable();
    (epochs, texts)
}

/// The channel moves on to a new epoch now (a client may always open the next one).
async fn next_epoch(party: &mut Party, channel_id: &str) -> u64 {
    let state: EpochState = party
        .client
        .get(&format!("/channels/{channel_id}/epoch"))
        .await
        .unwrap();
    party
        .client
        .publish_epoch(&mut party.device, channel_id, &state)
        .await
        .unwrap()
}

fn now(server: &TestServer) -> u64 {
    use passerelle_server::clock::Clock as _;
    u64::try_from(server.clock.now_ms()).unwrap()
}

#[tokio::test]
async fn a_copy_of_the_database_and_a_devices_keys_before_its_rotation_opens_nothing_sent_after() {
    let server = long_sessions_server(|_| {}).await;
    let mut alice = Party::new(&server, "alice.fs", Role::Coordinator, "Mairie").await;
    let mut bob = Party::new(&server, "bob.fs", Role::Member, "CCAS").await;
    let channel = working_group(&mut alice, &[&bob]).await;
    let t0 = now(&server);
    assert!(bob
        .client
        .rotate_prekey_if_due(&mut bob.device, t0)
        .await
        .unwrap());
    // Not due again within the week.
    assert!(!bob
        .client
        .rotate_prekey_if_due(&mut bob.device, t0 + 1000)
        .await
        .unwrap());

    let id = alice.send_text(&channel.id, "Avant la rotation.").await;
    alice.ack(&id).await;
    assert_eq!(bob.receive().await.1, "Avant la rotation.");

    // Time T: the database and Bob's keys are copied.
    let copy_at_t = copy_database(&server, &channel.id).await;
    let stolen_at_t = bob.device.export();

    // Bob rotates; the channel moves on two epochs, each wrapped to his new prekey.
    bob.client
        .rotate_prekey(&mut bob.device, t0 + 2000)
        .await
        .unwrap();
    let mut sent_after = Vec::new();
    for text in [
        "Après la rotation, première clé.",
        "Après la rotation, seconde clé.",
    ] {
        next_epoch(&mut alice, &channel.id).await;
        let id = alice.send_text(&channel.id, text).await;
        alice.ack(&id).await;
        sent_after.push(text);
        // Bob still reads everything, old and new.
        assert_eq!(bob.receive().await.1, text);
    }
    let later_copy = copy_database(&server, &channel.id).await;
    let senders = [&alice.device.certificate];

    // The copy taken at T opens what was sent before, and nothing else exists in it.
    let (epochs_at_t, texts_at_t) = what_opens(&stolen_at_t, &copy_at_t, &senders);
    assert_eq!(texts_at_t, vec!["Avant la rotation.".to_owned()]);
    // A later copy of the database, opened with the keys copied at T, still opens
    // nothing sent after the rotation: the new epochs went to a key made afterwards.
    let (epochs_later, texts_later) = what_opens(&stolen_at_t, &later_copy, &senders);
    assert_eq!(epochs_later, epochs_at_t);
    for text in &sent_after {
        assert!(
            !texts_later.contains(&text.to_string()),
            "{text} was opened"
        );
    }
    // The wraps of the new epochs for Bob are in that copy, and his keys of now open them.
    let (epochs_now, _) = what_opens(&bob.device.export(), &later_copy, &senders);
    assert_eq!(epochs_now.len(), epochs_at_t.len() + 2);

    // After the grace period the replaced prekey's private key is gone from the device.
    assert_eq!(bob.device.prekeys_held(), 2);
    bob.client
        .rotate_prekey_if_due(&mut bob.device, t0 + 2000 + PREKEY_GRACE_MS)
        .await
        .unwrap();
    assert_eq!(
        bob.device.prekeys_held(),
        2,
        "the expired one deleted, a new one made"
    );
    assert!(!bob
        .device
        .export()
        .prekeys
        .iter()
        .any(|p| p.record.serial == 1));
}

#[tokio::test]
async fn a_copy_of_the_database_taken_after_the_wraps_were_fetched_opens_nothing_with_a_device_key_stolen_later(
) {
    let server = long_sessions_server(|_| {}).await;
    let mut alice = Party::new(&server, "alice.wraps", Role::Coordinator, "Mairie").await;
    let mut bob = Party::new(&server, "bob.wraps", Role::Member, "CCAS").await;
    let mut carol = Party::new(&server, "carol.wraps", Role::Member, "CCAS").await;
    let channel = working_group(&mut alice, &[&bob, &carol]).await;
    for party in [&mut bob, &mut carol] {
        party
            .client
            .rotate_prekey_if_due(&mut party.device, now(&server))
            .await
            .unwrap();
    }
    let id = alice.send_text(&channel.id, "Réunion jeudi.").await;
    alice.ack(&id).await;
    let (message, text) = bob.receive().await;
    assert_eq!(text, "Réunion jeudi.");
    // Bob has stored the key: the server deletes his wrap; a replay changes nothing.
    bob.client.acknowledge_keys(&bob.device).await.unwrap();
    let copy = copy_database(&server, &channel.id).await;
    assert!(copy
        .wraps
        .iter()
        .all(|w| w.recipient_device != bob.device.device_id));
    assert!(!copy
        .wraps
        .iter()
        .filter(|w| w.recipient_device == carol.device.device_id)
        .collect::<Vec<_>>()
        .is_empty());
    // Bob's device keys stolen later open nothing of that copy.
    let stolen_later = bob.device.export();
    let (epochs, texts) = what_opens(&stolen_later, &copy, &[&alice.device.certificate]);
    assert!(epochs.is_empty() && texts.is_empty());
    // His keys page no longer serves the wrap; he reads from what he stored.
    let page: passerelle_shared::protocol::v1::channels::DeviceKeysPage = bob
        .client
        .get(&format!(
            "/channels/{}/keys?device_id={}",
            channel.id, bob.device.device_id
        ))
        .await
        .unwrap();
    assert!(page.keys.is_empty());
    let reopened = bob.client.open(&bob.device, &message).await.unwrap();
    assert_eq!(reopened.text, "Réunion jeudi.");

    // Carol never fetched hers: it is deleted after the configured bound.
    let days = i64::from(server.state.config.retention.wrap_retention_days);
    server.clock.advance_ms(days * 24 * 3600 * 1000 + 1);
    let report = passerelle_server::app::retention::run_once(&server.state)
        .await
        .unwrap();
    assert!(report.expired_wraps >= 1);
    let copy = copy_database(&server, &channel.id).await;
    let (epochs, _) = what_opens(&carol.device.export(), &copy, &[&alice.device.certificate]);
    assert!(epochs.is_empty());
    assert!(copy.wraps.is_empty(), "no wrap outlives the bound");
}

#[tokio::test]
async fn malformed_forged_replayed_and_foreign_prekeys_are_refused_and_logged() {
    let server = long_sessions_server(|_| {}).await;
    let mut alice = Party::new(&server, "alice.pk", Role::Coordinator, "Mairie").await;
    let mut bob = Party::new(&server, "bob.pk", Role::Member, "CCAS").await;
    let channel = working_group(&mut alice, &[&bob]).await;
    let t = now(&server);
    bob.client.rotate_prekey(&mut bob.device, t).await.unwrap();
    bob.client
        .rotate_prekey(&mut bob.device, t + 1)
        .await
        .unwrap();
    let current = bob.device.current_prekey().unwrap().clone();
    assert_eq!(current.serial, 2);
    let put = |party: &Party, device_id: &str, body: serde_json::Value| {
        let request = party
            .client
            .request(
                reqwest::Method::PUT,
                &format!("/keys/devices/{device_id}/prekey"),
            )
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    let bob_device = bob.device.device_id.clone();
    let signed = |serial: u64, by: &Device| {
        SignedPrekey::new(
            &bob.user.id,
            &bob_device,
            serial,
            t,
            &AgreementKeyPair::generate().unwrap(),
            by.keys(),
        )
        .unwrap()
    };
    let denials_before = audit_actions(&server, Some(&bob_device))
        .await
        .iter()
        .filter(|(a, o)| a == "prekey_publish" && o == "denied")
        .count();
    // Replayed: the stored serial 2 again, or an older one.
    let replay = put(
        &bob,
        &bob_device,
        serde_json::json!(PublishPrekey {
            prekey: current.clone()
        }),
    )
    .await;
    assert_eq!(replay.status(), StatusCode::CONFLICT);
    let older = put(
        &bob,
        &bob_device,
        serde_json::json!(PublishPrekey {
            prekey: signed(1, &bob.device)
        }),
    )
    .await;
    assert_eq!(older.status(), StatusCode::CONFLICT);
    // Signed by another device (Alice's), or unsigned, or malformed.
    let forged = put(
        &bob,
        &bob_device,
        serde_json::json!(PublishPrekey {
            prekey: signed(3, &alice.device)
        }),
    )
    .await;
    assert_eq!(forged.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let mut unsigned = serde_json::to_value(signed(3, &bob.device)).unwrap();
    unsigned["signature"] = serde_json::json!(passerelle_shared::crypto::to_base64url(&[0u8; 64]));
    let unsigned = put(&bob, &bob_device, serde_json::json!({ "prekey": unsigned })).await;
    assert_eq!(unsigned.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let malformed = put(
        &bob,
        &bob_device,
        serde_json::json!({ "prekey": { "serial": 9 } }),
    )
    .await;
    assert!(malformed.status().is_client_error());
    // Someone else's device.
    let foreign = put(
        &alice,
        &bob_device,
        serde_json::json!(PublishPrekey {
            prekey: signed(3, &bob.device)
        }),
    )
    .await;
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
    // Nothing changed: colleagues are served serial 2.
    let keys: UserKeys = alice
        .client
        .get(&format!("/keys/users/{}", bob.user.id))
        .await
        .unwrap();
    let served = keys
        .devices
        .iter()
        .find(|d| d.certificate.device_id == bob_device)
        .unwrap();
    assert_eq!(served.prekey.as_ref(), Some(&current));
    let denials = audit_actions(&server, Some(&bob_device))
        .await
        .iter()
        .filter(|(a, o)| a == "prekey_publish" && o == "denied")
        .count();
    assert_eq!(denials - denials_before, 5);

    // Acknowledgements: another user's device, or no epoch, are refused and logged.
    let ack = |device_id: &str, epochs: Vec<u64>| KeysDelivered {
        device_id: device_id.into(),
        epochs,
    };
    let err = alice
        .client
        .post_empty(
            &format!("/channels/{}/keys/delivered", channel.id),
            &ack(&bob_device, vec![1]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, passerelle_shared::client::ClientError::Api { status, .. } if status == StatusCode::NOT_FOUND)
    );
    let err = bob
        .client
        .post_empty(
            &format!("/channels/{}/keys/delivered", channel.id),
            &ack(&bob_device, vec![]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("invalid_epochs"));

    // A prekey that does not verify, served by a dishonest server, is refused by the
    // sender: the device is withheld, never wrapped for under another key.
    let db = &server.state.db;
    let backend = db.get_database_backend();
    let mut bad = serde_json::to_value(&current).unwrap();
    bad["agreement"] = serde_json::json!(AgreementKeyPair::generate().unwrap().public_key());
    let placeholder = |n: u8| {
        if backend == sea_orm::DbBackend::Postgres {
            format!("${n}")
        } else {
            "?".into()
        }
    };
    db.execute(Statement::from_sql_and_values(
        backend,
        format!(
            "UPDATE device_prekeys SET prekey = {} WHERE device_id = {}",
            placeholder(1),
            placeholder(2)
        ),
        [bad.to_string().into(), bob_device.clone().into()],
    ))
    .await
    .unwrap();
    let epoch = next_epoch(&mut alice, &channel.id).await;
    let page: passerelle_shared::protocol::v1::channels::DeviceKeysPage = bob
        .client
        .get(&format!(
            "/channels/{}/keys?device_id={bob_device}",
            channel.id
        ))
        .await
        .unwrap();
    assert!(page.keys.iter().all(|k| k.epoch != epoch));
    assert!(page.withheld.iter().any(|w| w.epoch == epoch));
}

#[tokio::test]
async fn the_sdk_rotates_after_a_removal_it_has_seen_even_when_the_server_does_not_ask() {
    let server = long_sessions_server(|_| {}).await;
    let mut alice = Party::new(&server, "alice.heal", Role::Coordinator, "Mairie").await;
    let bob = Party::new(&server, "bob.heal", Role::Member, "CCAS").await;
    let carol = Party::new(&server, "carol.heal", Role::Member, "CCAS").await;
    let channel = working_group(&mut alice, &[&bob, &carol]).await;
    let id = alice.send_text(&channel.id, "Avant le départ.").await;
    alice.ack(&id).await;
    let before: EpochState = alice
        .client
        .get(&format!("/channels/{}/epoch", channel.id))
        .await
        .unwrap();

    let removed = alice
        .client
        .request(
            reqwest::Method::DELETE,
            &format!("/channels/{}/members/{}", channel.id, carol.user.id),
        )
        .json(&passerelle_shared::protocol::v1::channels::RemoveMember {
            reason: "Fin de la prise en charge".into(),
            record: None,
        })
        .send()
        .await
        .unwrap();
    assert!(removed.status().is_success());
    // A server that hides the need to rotate.
    let db = &server.state.db;
    let backend = db.get_database_backend();
    db.execute(Statement::from_string(
        backend,
        "UPDATE channels SET rotation_required = false".to_owned(),
    ))
    .await
    .unwrap();
    let hidden: EpochState = alice
        .client
        .get(&format!("/channels/{}/epoch", channel.id))
        .await
        .unwrap();
    assert!(!hidden.rotation_required);
    assert_eq!(hidden.epoch, before.epoch);

    // Alice's client sees the removal in the member list it checks, and rotates itself.
    alice
        .client
        .refresh_channel_devices(&channel.id)
        .await
        .unwrap();
    assert!(alice
        .client
        .requires_rotation(&channel.id, before.epoch, now(&server)));
    let id = alice.send_text(&channel.id, "Après le départ.").await;
    alice.ack(&id).await;
    let after: EpochState = alice
        .client
        .get(&format!("/channels/{}/epoch", channel.id))
        .await
        .unwrap();
    assert_eq!(after.epoch, before.epoch + 1);
    let carol_wraps = db
        .query_all(Statement::from_string(
            backend,
            format!(
                "SELECT epoch FROM epoch_keys WHERE recipient_device = '{}' AND epoch = {}",
                carol.device.device_id, after.epoch
            ),
        ))
        .await
        .unwrap();
    assert!(carol_wraps.is_empty(), "the removed member got the new key");
}

/// docs/PROTOCOL.md §23.2: the highest prekey serial seen per colleague device survives a
/// restart of the SDK's agent. A server that serves an older prekey again after the
/// restart gets the device withheld (`unverified_device`), never a wrap to that key.
#[tokio::test]
async fn an_older_prekey_served_after_an_agents_restart_is_refused() {
    use passerelle_server::clock::Clock as _;
    use passerelle_shared::client::store::{MemoryStore, Store};
    use passerelle_shared::client::{Agent, AgentOptions, Login};
    use passerelle_shared::protocol::v1::channels::DeviceKeysPage;
    use std::sync::Arc;

    let server = long_sessions_server(|_| {}).await;
    let mut karim = Party::new(&server, "karim.serial", Role::Coordinator, "Mairie").await;
    let reader = server
        .create_user("veilleur.serial", Role::Member, "Police municipale")
        .await
        .unwrap();
    let channel: passerelle_shared::protocol::v1::channels::Channel = karim
        .client
        .post(
            "/channels",
            &passerelle_shared::protocol::v1::channels::CreateChannel {
                kind: passerelle_shared::protocol::v1::channels::ChannelKind::WorkingGroup,
                name: "Veille".into(),
                regime: passerelle_shared::protocol::v1::channels::LegalRegime::ClspdConfidential,
                institutions: vec![reader.institution_id.clone().into()],
                members: vec![reader.id.clone().into()],
            },
        )
        .await
        .unwrap();
    karim
        .publish_rules(&channel.id, "# Règlement\n\nRègles du groupe.")
        .await;
    karim.accept_rules(&channel.id).await;
    crate::support::start_log(&mut karim, &channel.id).await;
    // Karim's prekey 1, kept aside, then prekey 2.
    karim
        .client
        .rotate_prekey(&mut karim.device, now(&server))
        .await
        .unwrap();
    let old = karim.device.current_prekey().unwrap().clone();
    karim
        .client
        .rotate_prekey(&mut karim.device, now(&server) + 1)
        .await
        .unwrap();

    // The shared store outlives each agent (a restart).
    struct Shared(Arc<MemoryStore>);
    impl Store for Shared {
        fn load(
            &self,
        ) -> passerelle_shared::client::Result<Option<passerelle_shared::client::store::AgentState>>
        {
            self.0.load()
        }
        fn save(
            &self,
            state: &passerelle_shared::client::store::AgentState,
        ) -> passerelle_shared::client::Result<()> {
            self.0.save(state)
        }
    }
    let memory = Arc::new(MemoryStore::default());
    let clock = server.clock.clone();
    let options = || AgentOptions {
        now_ms: Arc::new({
            let clock = clock.clone();
            move || clock.now_ms()
        }),
        device_name: "Agent de test".into(),
        ..AgentOptions::default()
    };
    server.clock.advance_ms(30_000);
    let base = server.url("");
    let (mut agent, _) = Agent::login(
        Box::new(Shared(memory.clone())),
        Login {
            base_url: &base,
            login: &reader.login,
            password: &reader.password,
            totp_secret: None,
            recovery_code: None,
            new_password: None,
        },
        options(),
    )
    .await
    .unwrap();
    agent.accept_charter().await.unwrap();
    agent.accept_rules(&channel.id).await.unwrap();
    // The agent opens the first epoch: it sees Karim's prekey 2 and wraps to it.
    agent.send_text(&channel.id, "Premier.").await.unwrap();
    assert_eq!(karim.receive().await.1, "Premier.");
    agent.close().await.unwrap();

    // Between two runs, the server serves Karim's prekey 1 again and asks for a new epoch.
    let db = &server.state.db;
    let backend = db.get_database_backend();
    let placeholder = |n: u8| {
        if backend == sea_orm::DbBackend::Postgres {
            format!("${n}")
        } else {
            "?".into()
        }
    };
    db.execute(Statement::from_sql_and_values(
        backend,
        format!(
            "UPDATE device_prekeys SET prekey = {} WHERE device_id = {}",
            placeholder(1),
            placeholder(2)
        ),
        [
            serde_json::to_string(&old).unwrap().into(),
            karim.device.device_id.clone().into(),
        ],
    ))
    .await
    .unwrap();
    db.execute(Statement::from_string(
        backend,
        "UPDATE channels SET rotation_required = true".to_owned(),
    ))
    .await
    .unwrap();

    server.clock.advance_ms(30_000);
    let mut agent = Agent::open(Box::new(Shared(memory.clone())), options())
        .await
        .unwrap();
    agent.send_text(&channel.id, "Second.").await.unwrap();
    let page: DeviceKeysPage = karim
        .client
        .get(&format!(
            "/channels/{}/keys?device_id={}",
            channel.id, karim.device.device_id
        ))
        .await
        .unwrap();
    assert!(
        page.keys.iter().all(|k| k.epoch < 2),
        "wrapped to an older prekey after the restart"
    );
    assert!(
        page.withheld.iter().any(
            |w| w.epoch == 2 && serde_json::to_value(w.reason).unwrap() == "unverified_device"
        ),
        "{:?}",
        page.withheld
    );
}

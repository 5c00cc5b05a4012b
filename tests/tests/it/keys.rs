//! The key directory and the key backup (issue 3): the server verifies every signature,
//! revoked devices get no new key, and a device restored from the recovery code reads
//! the past.

use passerelle_shared::crypto::{
    DeviceCertificateRequest, DeviceKeys, IdentityKeyPair, MessageContent, Signature,
};
use passerelle_shared::protocol::v1::channels::{EpochState, HistoryPage, PublishEpoch};
use passerelle_shared::protocol::v1::keys::{RegisterDevice, UserKeys};
use passerelle_shared::protocol::v1::ws::ClientFrame;
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;
use reqwest::{Method, StatusCode};

use crate::support::{audit_actions, working_group, Party};

async fn register(party: &Party, request: &RegisterDevice) -> (StatusCode, String) {
    let response = party
        .client
        .request(Method::POST, "/keys/devices")
        .json(request)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn the_server_refuses_a_device_not_signed_by_its_users_identity() {
    let server = TestServer::spawn().await.unwrap();
    let party = Party::new(&server, "agent", Role::Member, "CCAS").await;
    let intruder_identity = IdentityKeyPair::generate().unwrap();
    let keys = DeviceKeys::generate().unwrap();
    let request = DeviceCertificateRequest::new(
        &party.user.id,
        "slipped-in-device",
        intruder_identity.public_key(),
        &keys,
    )
    .unwrap();
    let certificate = intruder_identity.certify(&request).unwrap();
    let (status, code) = register(
        &party,
        &RegisterDevice {
            certificate,
            name: "intrus".into(),
        },
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_certificate")
    );
    let listed: UserKeys = party
        .client
        .get(&format!("/keys/users/{}", party.user.id))
        .await
        .unwrap();
    assert_eq!(listed.devices.len(), 1, "only the genuine device is listed");
    let denials = audit_actions(&server, Some("slipped-in-device")).await;
    assert_eq!(
        denials,
        vec![("device_register".to_owned(), "denied".to_owned())]
    );
}

#[tokio::test]
async fn a_signature_by_another_key_is_refused() {
    let server = TestServer::spawn().await.unwrap();
    let party = Party::new(&server, "agent", Role::Member, "CCAS").await;
    // A certificate whose identity signature is replaced by one from the device's own key.
    let mut certificate = party.device.certificate.clone();
    certificate.device_id = "second-device".into();
    let (status, _) = register(
        &party,
        &RegisterDevice {
            certificate: certificate.clone(),
            name: "x".into(),
        },
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the signatures cover the device id"
    );
    certificate.identity_signature = Signature::from_bytes([7u8; 64]);
    let (status, _) = register(
        &party,
        &RegisterDevice {
            certificate,
            name: "x".into(),
        },
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_revoked_device_gets_no_new_epoch_key() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let member = Party::new(&server, "membre", Role::Member, "CCAS").await;
    let channel = working_group(&mut coord, &[&member]).await;
    let id = coord.send_text(&channel.id, "première clé").await;
    coord.ack(&id).await;

    // The member loses their laptop; they revoke it from another session.
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
    let state: EpochState = coord
        .client
        .get(&format!("/channels/{}/epoch", channel.id))
        .await
        .unwrap();
    assert!(state.rotation_required);
    assert!(state
        .devices
        .iter()
        .all(|d| d.device_id != member.device.device_id));

    // A wrap for the revoked device is refused as a whole.
    let key = passerelle_shared::crypto::EpochKey::generate().unwrap();
    let mut wraps = Vec::new();
    for certificate in [&coord.device.certificate, &member.device.certificate] {
        wraps.push(
            key.wrap(
                &channel.id,
                state.epoch + 1,
                &coord.device.device_id,
                coord.device.keys(),
                certificate,
            )
            .unwrap(),
        );
    }
    let err = coord
        .client
        .post_empty(
            &format!("/channels/{}/epochs", channel.id),
            &PublishEpoch {
                epoch: state.epoch + 1,
                keys: wraps,
                withheld: Vec::new(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("invalid_epoch_keys"));
    // The SDK's rotation covers exactly the live devices; the revoked one gets nothing.
    let id = coord.send_text(&channel.id, "après la révocation").await;
    coord.ack(&id).await;
    // The revoked device gets no key at all any more, not even the first one: its
    // session ended with it, and another session of the same person is refused.
    let other = server.client(&member.user).await.unwrap();
    let refused = other
        .get::<serde_json::Value>(&format!(
            "/channels/{}/keys?device_id={}",
            channel.id, member.device.device_id
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("device_revoked"));
    assert!(member.client.get::<serde_json::Value>("/me").await.is_err());
    // Its connection was closed and it cannot reconnect.
    let refused = member.client.connect(&member.device.device_id).await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn a_new_device_restored_from_the_recovery_code_reads_past_messages() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let member = Party::new(&server, "membre", Role::Member, "CCAS").await;
    let channel = working_group(&mut coord, &[&member]).await;
    for i in 0..3 {
        let id = coord
            .send_text(&channel.id, &format!("historique {i}"))
            .await;
        coord.ack(&id).await;
    }
    // The coordinator changes computers: a fresh client, nothing in memory but the code.
    let mut fresh = server.client(&coord.user).await.unwrap();
    let device = fresh
        .restore_with_recovery_code(&coord.recovery_code, "Nouveau poste")
        .await
        .unwrap();
    let page: HistoryPage = fresh
        .get(&format!("/channels/{}/messages", channel.id))
        .await
        .unwrap();
    let mut texts = Vec::new();
    for message in &page.messages {
        texts.push(fresh.open(&device, message).await.unwrap().text.clone());
    }
    assert_eq!(texts, vec!["historique 0", "historique 1", "historique 2"]);
    // A wrong code opens nothing.
    let mut other = server.client(&coord.user).await.unwrap();
    let wrong = passerelle_shared::crypto::RecoveryCode::generate()
        .unwrap()
        .to_display_string()
        .to_string();
    assert!(other.restore_with_recovery_code(&wrong, "x").await.is_err());
}

#[tokio::test]
async fn two_devices_cannot_overwrite_each_others_key_backup() {
    let server = TestServer::spawn().await.unwrap();
    let party = Party::new(&server, "agent", Role::Member, "CCAS").await;
    let response = party
        .client
        .request(Method::GET, "/keys/backup")
        .send()
        .await
        .unwrap();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let body = serde_json::json!({ "data": { "opaque": true } });
    let first = party
        .client
        .request(Method::PUT, "/keys/backup")
        .header("if-match", &etag)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::NO_CONTENT);
    let second = party
        .client
        .request(Method::PUT, "/keys/backup")
        .header("if-match", &etag)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::PRECONDITION_FAILED);
    let again = party
        .client
        .request(Method::PUT, "/keys/backup")
        .header("if-none-match", "*")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        StatusCode::PRECONDITION_FAILED,
        "a second first backup is refused"
    );
}

#[tokio::test]
async fn an_envelope_signed_by_another_device_is_refused() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut member = Party::new(&server, "membre", Role::Member, "CCAS").await;
    let channel = working_group(&mut coord, &[&member]).await;
    let id = coord.send_text(&channel.id, "ouverture").await;
    coord.ack(&id).await;
    // The member replays the coordinator's signature on an envelope claiming the member's device.
    let mut envelope = member
        .client
        .seal(
            &mut member.device,
            &channel.id,
            &MessageContent::text("usurpation"),
        )
        .await
        .unwrap();
    let genuine = coord
        .client
        .seal(
            &mut coord.device,
            &channel.id,
            &MessageContent::text("vrai"),
        )
        .await
        .unwrap();
    envelope.signature = genuine.signature;
    member
        .conn
        .send(&ClientFrame::Send {
            channel_id: channel.id.clone(),
            envelope,
        })
        .await
        .unwrap();
    let code = member
        .frame(|f| match f {
            passerelle_shared::protocol::v1::ws::ServerFrame::Error { code, .. } => {
                Some(code.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(code, "bad_signature");
}

#[tokio::test]
async fn a_device_the_sender_cannot_verify_is_withheld_and_told_why() {
    use passerelle_shared::crypto::{EpochKey, WithheldReason};
    use passerelle_shared::protocol::v1::channels::{DeviceKeysPage, WithheldKey};
    use passerelle_shared::protocol::v1::keys::PublishIdentity;
    use passerelle_shared::protocol::v1::ws::ServerFrame;

    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut member = Party::new(&server, "membre", Role::Member, "CCAS").await;
    let channel = working_group(&mut coord, &[&member]).await;
    let id = coord.send_text(&channel.id, "avant").await;
    coord.ack(&id).await;
    member.receive().await;

    // The member resets their identity: old device revoked, a new identity key, a new
    // device. The coordinator's client pinned the old key and cannot verify the new one.
    let fresh = server.client(&member.user).await.unwrap();
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
    let identity = IdentityKeyPair::generate().unwrap();
    fresh
        .request(Method::PUT, "/keys/identity")
        .json(&PublishIdentity {
            identity_key: identity.public_key().clone(),
        })
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let keys = DeviceKeys::generate().unwrap();
    let request = DeviceCertificateRequest::new(
        &member.user.id,
        "appareil-apres-reinitialisation",
        identity.public_key(),
        &keys,
    )
    .unwrap();
    fresh
        .post_empty(
            "/keys/devices",
            &RegisterDevice {
                certificate: identity.certify(&request).unwrap(),
                name: "Nouveau poste".into(),
            },
        )
        .await
        .unwrap();
    let mut new_conn = fresh
        .connect("appareil-apres-reinitialisation")
        .await
        .unwrap();

    // What the server refuses: a reason only it may give, a device both wrapped and
    // withheld, a sender that leaves itself out.
    let state: EpochState = coord
        .client
        .get(&format!("/channels/{}/epoch", channel.id))
        .await
        .unwrap();
    let epoch = state.epoch + 1;
    let key = EpochKey::generate().unwrap();
    let own = key
        .wrap(
            &channel.id,
            epoch,
            &coord.device.device_id,
            coord.device.keys(),
            &coord.device.certificate,
        )
        .unwrap();
    let withhold = |device: &str, reason| WithheldKey {
        device_id: device.into(),
        reason,
    };
    let refused = [
        (
            vec![own.clone()],
            vec![withhold(
                "appareil-apres-reinitialisation",
                WithheldReason::NotMemberAtEpoch,
            )],
        ),
        (
            vec![own.clone()],
            vec![
                withhold(
                    "appareil-apres-reinitialisation",
                    WithheldReason::UnverifiedDevice,
                ),
                withhold(&coord.device.device_id, WithheldReason::UnverifiedDevice),
            ],
        ),
        (
            Vec::new(),
            vec![
                withhold(
                    "appareil-apres-reinitialisation",
                    WithheldReason::UnverifiedDevice,
                ),
                withhold(&coord.device.device_id, WithheldReason::UnverifiedDevice),
            ],
        ),
    ];
    for (keys, withheld) in refused {
        let err = coord
            .client
            .post_empty(
                &format!("/channels/{}/epochs", channel.id),
                &PublishEpoch {
                    epoch,
                    keys,
                    withheld,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("invalid_epoch_keys"));
    }

    // The coordinator's SDK withholds the device it cannot verify and writes on.
    let id = coord.send_text(&channel.id, "après").await;
    coord.ack(&id).await;
    let told = loop {
        match new_conn.next_within(crate::support::GUARD).await {
            Some(ServerFrame::KeyWithheld {
                channel_id,
                epoch,
                reason,
            }) if channel_id == channel.id => break (epoch, reason),
            Some(_) => continue,
            None => panic!("no key_withheld frame: {:?}", new_conn.closed),
        }
    };
    assert_eq!(told, (epoch, WithheldReason::UnverifiedDevice));
    let page: DeviceKeysPage = fresh
        .get(&format!(
            "/channels/{}/keys?device_id=appareil-apres-reinitialisation",
            channel.id
        ))
        .await
        .unwrap();
    assert!(page.keys.is_empty());
    assert_eq!(page.withheld.len(), 1);
    assert_eq!(page.withheld[0].epoch, epoch);
    assert_eq!(page.withheld[0].reason, WithheldReason::UnverifiedDevice);
}

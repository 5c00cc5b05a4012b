//! Admitting a device from an existing device (issue 7, docs/PROTOCOL.md §5.5.1): the
//! server relays the request, registers only the certificate made from it, and accepts
//! re-wrapped past keys only for epochs the user is entitled to, with their commitment.

use passerelle_shared::crypto::{
    DeviceCertificateRequest, DeviceKeys, EpochKey, IdentityKeyPair, Signature, WrappedEpochKey,
};
use passerelle_shared::protocol::v1::channels::HistoryPage;
use passerelle_shared::protocol::v1::keys::{
    ApproveLink, CreateLinkRequest, LinkRequest, LinkStatus, UserKeys, LINK_REQUEST_TTL_SECONDS,
    MAX_REWRAPPED_KEYS,
};
use passerelle_shared::protocol::v1::ws::{ClientFrame, ServerFrame};
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;
use reqwest::{Method, StatusCode};
use serde::Serialize;

use crate::support::{audit_actions, audit_events, count_rows, working_group, Party};

/// Sends `body` and returns the status and the error code (empty on success).
async fn call(
    client: &passerelle_shared::client::Client,
    method: Method,
    path: &str,
    body: &impl Serialize,
) -> (StatusCode, String) {
    let response = client
        .request(method, path)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, code)
}

/// Waits on `party`'s connection for the relayed request `id` in `status`.
async fn relayed(party: &mut Party, id: &str, status: LinkStatus) -> LinkRequest {
    party
        .frame(|frame| match frame {
            ServerFrame::LinkRequest(request) if request.id == id && request.status == status => {
                Some(request.clone())
            }
            _ => None,
        })
        .await
}

#[tokio::test]
async fn a_device_linked_from_another_reads_the_past_and_joins_the_conversation() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut member = Party::new(&server, "educ", Role::Member, "Prévention spécialisée").await;
    let channel = working_group(&mut coord, &[&member]).await;
    for text in ["avant 1", "avant 2"] {
        let id = coord.send_text(&channel.id, text).await;
        coord.ack(&id).await;
        assert_eq!(member.receive().await.1, text);
    }

    // The educator opens Passerelle on a phone: logged in, no device yet.
    let mut phone = server.client(&member.user).await.unwrap();
    let pending = phone.request_link("Téléphone").await.unwrap();
    assert_eq!(pending.request.status, LinkStatus::Pending);

    // The laptop is told, and shows the same code as the phone.
    let request = relayed(&mut member, &pending.request.id, LinkStatus::Pending).await;
    assert_eq!(request.name, "Téléphone");
    let listed = member.client.link_requests().await.unwrap();
    assert_eq!(listed, vec![request.clone()]);
    let code_on_laptop = member
        .client
        .link_code_of(&member.device, &request)
        .expect("the enrolled device holds the identity key");
    assert_eq!(code_on_laptop, pending.link_code());

    // A wrong code typed on the laptop certifies nothing.
    assert!(member
        .client
        .approve_link(&member.device, &request, "00000 00000 00000 00000")
        .await
        .is_err());
    let rewrapped = member
        .client
        .approve_link(&member.device, &request, &code_on_laptop.to_string())
        .await
        .unwrap();
    assert_eq!(rewrapped, 1, "the one epoch the laptop holds");
    relayed(&mut member, &pending.request.id, LinkStatus::Linked).await;

    // The phone is a device of the account and reads the history at once.
    let mut phone_device = phone.finish_link(pending).await.unwrap();
    let page: HistoryPage = phone
        .get(&format!("/channels/{}/messages", channel.id))
        .await
        .unwrap();
    let mut texts = Vec::new();
    for message in &page.messages {
        texts.push(
            phone
                .open(&phone_device, message)
                .await
                .unwrap()
                .text
                .clone(),
        );
    }
    assert_eq!(texts, ["avant 1", "avant 2"]);

    // It writes too: the device set changed, so it opens a new epoch for everyone.
    let mut phone_conn = phone.connect(&phone_device.device_id).await.unwrap();
    let envelope = phone
        .seal(
            &mut phone_device,
            &channel.id,
            &passerelle_shared::crypto::MessageContent::text("depuis le téléphone"),
        )
        .await
        .unwrap();
    phone_conn
        .send(&ClientFrame::Send {
            channel_id: channel.id.clone(),
            envelope,
        })
        .await
        .unwrap();
    assert_eq!(coord.receive().await.1, "depuis le téléphone");
    assert_eq!(member.receive().await.1, "depuis le téléphone");

    // The access log tells the whole story.
    let device_id = phone_device.device_id.clone();
    let actions: Vec<String> = audit_actions(&server, Some(&device_id))
        .await
        .into_iter()
        .map(|(action, _)| action)
        .collect();
    for expected in [
        "device_link_requested",
        "device_registered",
        "device_linked",
        "epoch_keys_rewrapped",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} in {actions:?}"
        );
    }

    // Replays change nothing: the request is closed, the wraps are already held.
    let (status, code) = call(
        &member.client,
        Method::POST,
        &format!("/keys/link-requests/{}/approve", request.id),
        &ApproveLink {
            certificate: phone_device.certificate.clone(),
        },
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "link_closed")
    );
    let rows = count_rows(&server, "epoch_keys", "recipient_device", &device_id).await;
    let key = member
        .client
        .epoch_key(&member.device, &channel.id, 1)
        .await
        .unwrap();
    let again = key
        .wrap(
            &channel.id,
            1,
            &member.device.device_id,
            member.device.keys(),
            &phone_device.certificate,
        )
        .unwrap();
    let (status, _) = call(
        &member.client,
        Method::POST,
        &format!("/keys/devices/{device_id}/epoch-keys"),
        &serde_json::json!({ "keys": [again] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        count_rows(&server, "epoch_keys", "recipient_device", &device_id).await,
        rows
    );
}

#[tokio::test]
async fn the_server_registers_only_the_certificate_of_a_pending_request_of_the_caller() {
    let server = TestServer::spawn().await.unwrap();
    let member = Party::new(&server, "educ", Role::Member, "CCAS").await;
    let other = Party::new(&server, "autre", Role::Member, "Mairie").await;
    let new_device = server.client(&member.user).await.unwrap();
    let identity: UserKeys = new_device
        .get(&format!("/keys/users/{}", member.user.id))
        .await
        .unwrap();
    let identity = identity.identity_key.unwrap();
    let keys = DeviceKeys::generate().unwrap();

    // A request for another account, or self-signed against another identity key.
    let for_other =
        DeviceCertificateRequest::new(&other.user.id, "device-x", &identity, &keys).unwrap();
    let stranger = IdentityKeyPair::generate().unwrap();
    let wrong_identity =
        DeviceCertificateRequest::new(&member.user.id, "device-y", stranger.public_key(), &keys)
            .unwrap();
    for request in [for_other, wrong_identity] {
        let (status, code) = call(
            &new_device,
            Method::POST,
            "/keys/link-requests",
            &CreateLinkRequest {
                request,
                name: "x".into(),
            },
        )
        .await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_link_request")
        );
    }
    assert_eq!(
        count_rows(&server, "device_links", "user_id", &member.user.id).await,
        0
    );
    assert_eq!(
        audit_actions(&server, Some("device-y")).await,
        vec![("device_link_request".to_owned(), "denied".to_owned())]
    );

    // A valid request.
    let request =
        DeviceCertificateRequest::new(&member.user.id, "device-z", &identity, &keys).unwrap();
    let created: LinkRequest = new_device
        .post(
            "/keys/link-requests",
            &CreateLinkRequest {
                request: request.clone(),
                name: "Tablette".into(),
            },
        )
        .await
        .unwrap();

    // Another user can neither see nor approve it.
    let path = format!("/keys/link-requests/{}", created.id);
    let (status, _) = call(&other.client, Method::GET, &path, &()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&other.client, Method::DELETE, &path, &()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A certificate for the same device id with other keys than the request's (what a
    // server swapping keys would need), or with no valid identity signature.
    let swapped_keys = DeviceKeys::generate().unwrap();
    let swapped =
        DeviceCertificateRequest::new(&member.user.id, "device-z", &identity, &swapped_keys)
            .unwrap();
    let (status, code) = call(
        &member.client,
        Method::POST,
        &format!("{path}/approve"),
        &ApproveLink {
            certificate: forged_certificate(&swapped),
        },
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_certificate")
    );
    let forged = forged_certificate(&request);
    let (status, code) = call(
        &member.client,
        Method::POST,
        &format!("{path}/approve"),
        &ApproveLink {
            certificate: forged,
        },
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_certificate")
    );
    assert_eq!(count_rows(&server, "devices", "id", "device-z").await, 0);

    // Ten minutes later the request has expired: nothing can be approved any more.
    server
        .clock
        .advance_ms(i64::try_from(LINK_REQUEST_TTL_SECONDS).unwrap() * 1000 + 1);
    let status: LinkRequest = new_device.get(&path).await.unwrap();
    assert_eq!(status.status, LinkStatus::Expired);
    assert!(member.client.link_requests().await.unwrap().is_empty());
    let (status, code) = call(
        &member.client,
        Method::POST,
        &format!("{path}/approve"),
        &ApproveLink {
            certificate: forged_certificate(&request),
        },
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "link_closed")
    );
    assert_eq!(count_rows(&server, "devices", "id", "device-z").await, 0);
    let denials = audit_events(&server, &created.id, "device_link_approve").await;
    assert_eq!(
        denials.len(),
        2,
        "the refusals of the approval itself are logged"
    );
    assert!(denials.iter().all(|e| e.outcome == "denied"));
}

/// The request made into a certificate with an identity signature of nobody's: what a
/// server or a client without the identity key could forge.
fn forged_certificate(
    request: &DeviceCertificateRequest,
) -> passerelle_shared::crypto::DeviceCertificate {
    let mut json = serde_json::to_value(request).unwrap();
    json["identity_signature"] = serde_json::to_value(Signature::from_bytes([7u8; 64])).unwrap();
    serde_json::from_value(json).unwrap()
}

#[tokio::test]
async fn rewrapped_keys_are_accepted_only_for_entitled_epochs_with_their_commitment() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut member = Party::new(&server, "educ", Role::Member, "CCAS").await;
    let shared = working_group(&mut coord, &[&member]).await;
    let id = coord.send_text(&shared.id, "partagé").await;
    coord.ack(&id).await;
    member.receive().await;
    // A group the educator does not belong to.
    let private = working_group(&mut coord, &[]).await;
    let id = coord.send_text(&private.id, "réservé").await;
    coord.ack(&id).await;

    // The educator links a phone without re-wrapping anything yet.
    let mut phone = server.client(&member.user).await.unwrap();
    let pending = phone.request_link("Téléphone").await.unwrap();
    let request = pending.request.clone();
    let code = pending.link_code().to_string();
    let mut empty = server.client(&member.user).await.unwrap();
    let laptop_copy = member
        .client
        .link_code_of(&member.device, &request)
        .unwrap();
    assert_eq!(laptop_copy.to_string(), code);
    empty
        .approve_link(&member.device, &request, &code)
        .await
        .unwrap();
    let phone_device = phone.finish_link(pending).await.unwrap();
    let target = phone_device.device_id.clone();
    let path = format!("/keys/devices/{target}/epoch-keys");
    let held = || count_rows(&server, "epoch_keys", "recipient_device", &target);
    assert_eq!(held().await, 0);

    let wrap = |key: &EpochKey, channel: &str, epoch: u64, party: &Party| -> WrappedEpochKey {
        key.wrap(
            channel,
            epoch,
            &party.device.device_id,
            party.device.keys(),
            &phone_device.certificate,
        )
        .unwrap()
    };
    let genuine = member
        .client
        .epoch_key(&member.device, &shared.id, 1)
        .await
        .unwrap();
    let genuine = EpochKey::from_bytes(&genuine.to_bytes());
    let invented = EpochKey::generate().unwrap();
    let refused: [(&str, Vec<WrappedEpochKey>); 5] = [
        (
            "another key than the epoch's",
            vec![wrap(&invented, &shared.id, 1, &member)],
        ),
        (
            "a channel the user is not in",
            vec![wrap(&invented, &private.id, 1, &member)],
        ),
        (
            "an epoch that does not exist yet",
            vec![wrap(&genuine, &shared.id, 2, &member)],
        ),
        (
            "signed by a colleague's device",
            vec![wrap(&genuine, &shared.id, 1, &coord)],
        ),
        (
            "one bad wrap spoils the batch",
            vec![
                wrap(&genuine, &shared.id, 1, &member),
                wrap(&invented, &private.id, 1, &member),
            ],
        ),
    ];
    for (why, keys) in refused {
        let (status, code) = call(
            &member.client,
            Method::POST,
            &path,
            &serde_json::json!({ "keys": keys }),
        )
        .await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_epoch_keys"),
            "{why}"
        );
        assert_eq!(held().await, 0, "{why}: nothing stored");
    }
    assert_eq!(
        audit_events(&server, &target, "epoch_keys_rewrap")
            .await
            .len(),
        5,
        "every refusal is in the access log"
    );

    // Not for a colleague's device, and not by a colleague.
    let (status, _) = call(
        &coord.client,
        Method::POST,
        &path,
        &serde_json::json!({ "keys": [wrap(&genuine, &shared.id, 1, &coord)] }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Not an unbounded batch.
    let too_many = vec![wrap(&genuine, &shared.id, 1, &member); MAX_REWRAPPED_KEYS + 1];
    let (status, _) = call(
        &member.client,
        Method::POST,
        &path,
        &serde_json::json!({ "keys": too_many }),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(held().await, 0);

    // The genuine key is accepted, the connected phone is told in one frame per channel,
    // and it reads the past with it.
    let mut phone_conn = phone.connect(&target).await.unwrap();
    let stored: passerelle_shared::protocol::v1::keys::StoredKeys = member
        .client
        .post(
            &path,
            &passerelle_shared::protocol::v1::keys::RewrappedKeys {
                // Twice the same epoch in one batch: stored once.
                keys: vec![
                    wrap(&genuine, &shared.id, 1, &member),
                    wrap(&genuine, &shared.id, 1, &member),
                ],
            },
        )
        .await
        .unwrap();
    assert_eq!(stored.stored, 1);
    loop {
        match phone_conn.next_within(crate::support::GUARD).await {
            Some(ServerFrame::Keys {
                channel_id, keys, ..
            }) if channel_id == shared.id => {
                assert_eq!(keys.len(), 1);
                assert_eq!(keys[0].epoch, 1);
                break;
            }
            Some(_) => continue,
            None => panic!("no keys frame: {:?}", phone_conn.closed),
        }
    }
    let page: HistoryPage = phone
        .get(&format!("/channels/{}/messages", shared.id))
        .await
        .unwrap();
    let text = phone.open(&phone_device, &page.messages[0]).await.unwrap();
    assert_eq!(text.text, "partagé");
}

#[tokio::test]
async fn link_requests_are_bounded_per_account_and_old_ones_forgotten() {
    let server = TestServer::spawn().await.unwrap();
    let member = Party::new(&server, "educ", Role::Member, "CCAS").await;
    let mut new_device = server.client(&member.user).await.unwrap();
    for _ in 0..10 {
        new_device.request_link("Téléphone").await.unwrap();
    }
    let refused = new_device.request_link("Téléphone").await.err().unwrap();
    assert_eq!(refused.code(), Some("too_many_attempts"));
    assert_eq!(
        count_rows(&server, "device_links", "user_id", &member.user.id).await,
        10
    );
    let denied = audit_actions(&server, None)
        .await
        .into_iter()
        .filter(|(action, outcome)| action == "device_link_request" && outcome == "denied")
        .count();
    assert_eq!(denied, 1);

    // Twenty minutes later the old requests are gone and a new one is welcome.
    server
        .clock
        .advance_ms(2 * i64::try_from(LINK_REQUEST_TTL_SECONDS).unwrap() * 1000 + 1);
    let mut later = server.client(&member.user).await.unwrap();
    later.request_link("Téléphone").await.unwrap();
    assert_eq!(
        count_rows(&server, "device_links", "user_id", &member.user.id).await,
        1
    );
}

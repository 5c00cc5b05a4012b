//! A deliberately malicious server (issue 17, docs/PROTOCOL.md §12.1): a proxy in front
//! of a real server rewrites its answers — a ghost device in the list of devices a new
//! epoch key must reach, a keys page of another channel, a wrap made by a non-member —
//! and the SDK must refuse each with [`ClientError::Tampered`], publishing nothing.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use passerelle_shared::client::{Client, ClientError};
use passerelle_shared::crypto::{
    Envelope, EpochKey, MessageContent, MessageHeader, RosterError, WrappedEpochKey,
};
use passerelle_shared::protocol::v1::channels::{Channel, StoredMessage};
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;
use serde_json::Value;

use crate::support::{working_group, Party};

/// Rewrites a JSON answer of the real server: `(method, path, answer)` → what to serve.
pub(crate) type Tamper = Arc<dyn Fn(&Method, &str, Value) -> Value + Send + Sync>;

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    tamper: Tamper,
    /// Every non-GET request that reached the server through the proxy: (method, path).
    writes: Arc<Mutex<Vec<(String, String)>>>,
}

/// The malicious server: the real one behind a proxy that rewrites its answers.
pub(crate) struct Proxy {
    base: String,
    writes: Arc<Mutex<Vec<(String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub(crate) async fn spawn(server: &TestServer, tamper: Tamper) -> Proxy {
        let writes = Arc::new(Mutex::new(Vec::new()));
        let state = ProxyState {
            upstream: server.url(""),
            http: reqwest::Client::new(),
            tamper,
            writes: writes.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Proxy { base, writes, task }
    }

    /// The writes that reached the server under `path`.
    pub(crate) fn writes_to(&self, path: &str) -> Vec<(String, String)> {
        self.writes
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, p)| p.starts_with(path))
            .cloned()
            .collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    State(state): State<ProxyState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    if method != Method::GET {
        state
            .writes
            .lock()
            .unwrap()
            .push((method.to_string(), path.clone()));
    }
    let target = format!(
        "{}{}",
        state.upstream,
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut request = state
        .http
        .request(method.as_str().parse().unwrap(), target)
        .body(body.to_vec());
    for name in ["authorization", "content-type", "if-match", "if-none-match"] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value.as_bytes());
        }
    }
    let answer = request.send().await.unwrap();
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let bytes = answer.bytes().await.unwrap();
    let body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(value) if status.is_success() => {
            serde_json::to_vec(&(state.tamper)(&method, &path, value)).unwrap()
        }
        _ => bytes.to_vec(),
    };
    (status, [("content-type", "application/json")], body).into_response()
}

/// The coordinator's session, talking to the proxy instead of the server.
pub(crate) fn through(proxy: &Proxy, party: &Party) -> Client {
    Client::with_token(
        &proxy.base,
        party.client.bearer_token().to_owned(),
        party.client.me.clone(),
    )
}

/// A group of the coordinator and Sophie, plus Mallory: enrolled, not a member.
async fn cast(server: &TestServer) -> (Party, Party, Party, Channel) {
    let mut coordinator = Party::new(server, "karim", Role::Coordinator, "Mairie").await;
    let sophie = Party::new(server, "sophie", Role::Member, "Police").await;
    let mallory = Party::new(server, "mallory", Role::Member, "Police").await;
    let channel = working_group(&mut coordinator, &[&sophie]).await;
    (coordinator, sophie, mallory, channel)
}

#[tokio::test]
async fn a_ghost_device_of_a_non_member_gets_no_key_and_the_sdk_says_why() {
    let server = TestServer::spawn().await.unwrap();
    let (mut coordinator, sophie, mallory, channel) = cast(&server).await;
    let epoch_path = format!("/api/v1/channels/{}/epoch", channel.id);
    let ghost_user = mallory.user.id.clone();
    let ghost_device = mallory.device.device_id.clone();
    let tamper: Tamper = Arc::new(move |_, path, mut value| {
        if path == epoch_path {
            value["rotation_required"] = true.into();
            value["devices"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({ "user_id": ghost_user, "device_id": ghost_device }));
        }
        value
    });
    let proxy = Proxy::spawn(&server, tamper).await;
    let mut client = through(&proxy, &coordinator);

    let refused = client
        .ensure_epoch(&mut coordinator.device, &channel.id)
        .await
        .unwrap_err();
    match refused {
        ClientError::Tampered(RosterError::NotMember { user_id, device_id }) => {
            assert_eq!(user_id, mallory.user.id);
            assert_eq!(device_id, mallory.device.device_id);
        }
        other => panic!("expected a refusal of the ghost, got {other:?}"),
    }
    assert!(
        proxy
            .writes_to(&format!("/api/v1/channels/{}/epochs", channel.id))
            .is_empty(),
        "no key was published"
    );
    // Through the honest server the same device publishes for exactly the members.
    let epoch = coordinator
        .client
        .ensure_epoch(&mut coordinator.device, &channel.id)
        .await
        .unwrap();
    let sophie_key = sophie_reads(&sophie, &channel.id, epoch).await;
    assert!(sophie_key);
}

/// Whether Sophie's device finds a key for `epoch` (the honest path still works).
async fn sophie_reads(sophie: &Party, channel_id: &str, epoch: u64) -> bool {
    let mut client = Client::with_token(
        sophie.client.base(),
        sophie.client.bearer_token().to_owned(),
        sophie.client.me.clone(),
    );
    client
        .epoch_key(&sophie.device, channel_id, epoch)
        .await
        .is_ok()
}

#[tokio::test]
async fn an_extra_device_listed_for_a_member_is_refused() {
    let server = TestServer::spawn().await.unwrap();
    let (mut coordinator, sophie, _mallory, channel) = cast(&server).await;
    let epoch_path = format!("/api/v1/channels/{}/epoch", channel.id);
    let member = sophie.user.id.clone();
    let tamper: Tamper = Arc::new(move |_, path, mut value| {
        if path == epoch_path {
            value["rotation_required"] = true.into();
            value["devices"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({
                    "user_id": member,
                    "device_id": "5d0c1f7e-0000-4000-8000-00000000abcd",
                }));
        }
        value
    });
    let proxy = Proxy::spawn(&server, tamper).await;
    let mut client = through(&proxy, &coordinator);
    let refused = client
        .ensure_epoch(&mut coordinator.device, &channel.id)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &refused,
            ClientError::Tampered(RosterError::UnknownDevice(id)) if id == "5d0c1f7e-0000-4000-8000-00000000abcd"
        ),
        "{refused:?}"
    );
    assert!(proxy
        .writes_to(&format!("/api/v1/channels/{}/epochs", channel.id))
        .is_empty());
}

#[tokio::test]
async fn wraps_and_envelopes_of_another_channel_or_from_a_non_member_are_refused() {
    let server = TestServer::spawn().await.unwrap();
    let (mut coordinator, mut sophie, mut mallory, channel) = cast(&server).await;
    // A second channel of the same two people, with its own key.
    let other = working_group(&mut coordinator, &[&sophie]).await;
    let epoch = coordinator
        .client
        .ensure_epoch(&mut coordinator.device, &channel.id)
        .await
        .unwrap();
    let other_epoch = coordinator
        .client
        .ensure_epoch(&mut coordinator.device, &other.id)
        .await
        .unwrap();

    // The keys page of the other channel, served as this channel's: refused (§7.4).
    let keys_path = format!("/api/v1/channels/{}/keys", channel.id);
    let other_page: Value = sophie
        .client
        .get(&format!(
            "/channels/{}/keys?device_id={}",
            other.id, sophie.device.device_id
        ))
        .await
        .unwrap();
    let swapped = other_page.clone();
    let tamper: Tamper = Arc::new(move |_, path, value| {
        if path == keys_path {
            swapped.clone()
        } else {
            value
        }
    });
    let proxy = Proxy::spawn(&server, tamper).await;
    let mut client = Client::with_token(
        &proxy.base,
        sophie.client.bearer_token().to_owned(),
        sophie.client.me.clone(),
    );
    let refused = client
        .epoch_key(&sophie.device, &channel.id, other_epoch)
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            ClientError::Tampered(RosterError::WrongChannel { .. })
        ),
        "{refused:?}"
    );
    drop(proxy);

    // A message of the other channel, delivered as one of this channel: refused (§8.6).
    let sealed = coordinator
        .client
        .seal(
            &mut coordinator.device,
            &other.id,
            &MessageContent::text("Canal B"),
        )
        .await
        .unwrap();
    let moved = stored(&channel.id, &coordinator.user.id, sealed);
    let refused = sophie
        .client
        .open(&sophie.device, &moved)
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            ClientError::Tampered(RosterError::WrongChannel { .. })
        ),
        "{refused:?}"
    );

    // Mallory, not a member, signs a message naming this channel and its epoch, under a
    // key of her own: refused before any decryption.
    let forged = Envelope::seal(
        MessageHeader {
            channel_id: channel.id.to_string(),
            epoch,
            sender_device: mallory.device.device_id.clone(),
            client_msg_id: uuid::Uuid::new_v4().to_string(),
            order: None,
        },
        &MessageContent::text("Je lis tout"),
        &EpochKey::generate().unwrap(),
        mallory.device.keys(),
    )
    .unwrap();
    sophie
        .client
        .fetch_user_devices(&mallory.user.id)
        .await
        .unwrap();
    let refused = sophie
        .client
        .open(
            &sophie.device,
            &stored(&channel.id, &mallory.user.id, forged),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            ClientError::Tampered(RosterError::NotMember { .. })
        ),
        "{refused:?}"
    );

    // Mallory wraps a key of her own making for Sophie's device, as the next epoch of
    // this channel; the server slips it into Sophie's keys page: refused, never used.
    let sophie_certificate = sophie.device.certificate.clone();
    let ghost_wrap: WrappedEpochKey = EpochKey::generate()
        .unwrap()
        .wrap(
            &channel.id,
            epoch + 1,
            &mallory.device.device_id,
            mallory.device.keys(),
            &sophie_certificate,
        )
        .unwrap();
    let keys_path = format!("/api/v1/channels/{}/keys", channel.id);
    let injected = serde_json::to_value(&ghost_wrap).unwrap();
    let tamper: Tamper = Arc::new(move |_, path, mut value| {
        if path == keys_path {
            value["keys"].as_array_mut().unwrap().push(injected.clone());
        }
        value
    });
    let proxy = Proxy::spawn(&server, tamper).await;
    let mut client = Client::with_token(
        &proxy.base,
        sophie.client.bearer_token().to_owned(),
        sophie.client.me.clone(),
    );
    let refused = client
        .epoch_key(&sophie.device, &channel.id, epoch + 1)
        .await
        .unwrap_err();
    // Her device is no member's: the wrap names only a device, which no member has.
    assert!(
        matches!(
            refused,
            ClientError::Tampered(RosterError::UnknownDevice(ref id)) if *id == mallory.device.device_id
        ),
        "{refused:?}"
    );
    // The genuine key of the current epoch still comes through the same page.
    assert!(client
        .epoch_key(&sophie.device, &channel.id, epoch)
        .await
        .is_ok());
    let _ = (&mut mallory, &mut sophie);
}

fn stored(channel_id: &str, sender: &str, envelope: Envelope) -> StoredMessage {
    serde_json::from_value(serde_json::json!({
        "channel_id": channel_id,
        "seq": 1,
        "ts": 0,
        "sender": sender,
        "envelope": envelope,
    }))
    .unwrap()
}

/// Trust travels (issue 17 item 5): a device restored with the recovery code pins the
/// identity keys its owner's other device pinned, with their « vérifié » marks, instead
/// of trusting whatever the server serves on first use.
#[tokio::test]
async fn pins_and_verified_marks_travel_to_a_device_restored_with_the_recovery_code() {
    let server = TestServer::spawn().await.unwrap();
    let mut karim = Party::new(&server, "karim", Role::Coordinator, "Mairie").await;
    let sophie = Party::new(&server, "sophie", Role::Member, "Police").await;
    let jean = Party::new(&server, "jean", Role::Member, "Police").await;
    karim
        .client
        .fetch_user_devices(&sophie.user.id)
        .await
        .unwrap();
    karim
        .client
        .fetch_user_devices(&jean.user.id)
        .await
        .unwrap();
    assert!(karim.client.mark_verified(&sophie.user.id));
    karim.client.write_backup(&mut karim.device).await.unwrap();

    let mut restored = server.client(&karim.user).await.unwrap();
    let mut restored_device = restored
        .restore_with_recovery_code(&karim.recovery_code, "Portable")
        .await
        .unwrap();
    assert!(restored.is_verified(&sophie.user.id));
    assert!(!restored.is_verified(&jean.user.id));
    assert_eq!(
        restored.pinned_identity(&jean.user.id),
        karim.client.pinned_identity(&jean.user.id)
    );
    assert!(restored.pinned_identity(&sophie.user.id).is_some());

    // The restored device pins another colleague and writes the backup; the first
    // device, which has not seen that revision, writes after it: merged, not lost.
    let lea = Party::new(&server, "lea", Role::Member, "Police").await;
    restored.fetch_user_devices(&lea.user.id).await.unwrap();
    restored.write_backup(&mut restored_device).await.unwrap();
    karim.client.write_backup(&mut karim.device).await.unwrap();
    let mut third = server.client(&karim.user).await.unwrap();
    third
        .restore_with_recovery_code(&karim.recovery_code, "Tablette")
        .await
        .unwrap();
    assert!(third.is_verified(&sophie.user.id));
    assert_eq!(
        third.pinned_identity(&lea.user.id),
        restored.pinned_identity(&lea.user.id)
    );
}

/// Refusing senders outside the members does not cost the history: what a colleague
/// wrote before he left stays readable, on a device that had never seen it, once the
/// channel moved on to an epoch he does not hold. (The epoch's key comes from a member
/// here; a key wrapped by someone who has since left is refused, docs/PROTOCOL.md §12.1.)
#[tokio::test]
async fn a_former_members_earlier_messages_stay_readable() {
    let server = TestServer::spawn().await.unwrap();
    let mut karim = Party::new(&server, "karim", Role::Coordinator, "Mairie").await;
    let sophie = Party::new(&server, "sophie", Role::Member, "Police").await;
    let mut jean = Party::new(&server, "jean", Role::Member, "Police").await;
    let channel = working_group(&mut karim, &[&sophie, &jean]).await;
    let first = karim.send_text(&channel.id, "Ouverture du groupe").await;
    karim.ack(&first).await;
    let sent = jean.send_text(&channel.id, "Compte rendu de Jean").await;
    jean.ack(&sent).await;

    karim
        .client
        .request(
            reqwest::Method::DELETE,
            &format!("/channels/{}/members/{}", channel.id, jean.user.id),
        )
        .json(&serde_json::json!({ "reason": "fin de mission" }))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let after = karim
        .send_text(&channel.id, "Après le départ de Jean")
        .await;
    karim.ack(&after).await;

    // Sophie's history, read afresh by a client that holds nothing yet.
    let mut fresh = Client::with_token(
        sophie.client.base(),
        sophie.client.bearer_token().to_owned(),
        sophie.client.me.clone(),
    );
    let page: passerelle_shared::protocol::v1::channels::HistoryPage = fresh
        .get(&format!(
            "/channels/{}/messages?after_seq=0&limit=50",
            channel.id
        ))
        .await
        .unwrap();
    let mut texts = Vec::new();
    for message in &page.messages {
        texts.push(
            fresh
                .open(&sophie.device, message)
                .await
                .unwrap()
                .text
                .clone(),
        );
    }
    assert_eq!(
        texts,
        [
            "Ouverture du groupe",
            "Compte rendu de Jean",
            "Après le départ de Jean"
        ]
    );
}

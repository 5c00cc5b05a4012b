//! Exclusion (CHARTER.md C3, issue 14): every event that takes away someone's right to
//! read closes their live connections at once with the documented close code, and
//! nothing sent after it reaches them. When devices leave (account disabled, device
//! revoked, removal from a channel, regime lost) the sender's next message is on a new
//! epoch whose keys those devices do not get.

use passerelle_shared::client::Client;
use passerelle_shared::protocol::v1::auth::{ChangePasswordRequest, SessionInfo};
use passerelle_shared::protocol::v1::channels::{Channel, EpochState, RemoveMember};
use passerelle_shared::protocol::v1::ws::ServerFrame;
use passerelle_shared::protocol::v1::{Attributes, Role};
use passerelle_tests::TestServer;
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};

use crate::support::{admin_client, audit_actions, audit_events, working_group, Party, GUARD};

/// A coordinator, the member about to be excluded and a colleague who stays, in one
/// working group where everyone has read a first message.
struct Scene {
    server: TestServer,
    coord: Party,
    member: Party,
    stays: Party,
    channel: Channel,
}

async fn scene() -> Scene {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut member = Party::new(&server, "membre", Role::Member, "CCAS").await;
    let mut stays = Party::new(&server, "collegue", Role::Member, "Police municipale").await;
    let channel = working_group(&mut coord, &[&member, &stays]).await;
    let id = coord.send_text(&channel.id, "avant").await;
    coord.ack(&id).await;
    assert_eq!(member.receive().await.1, "avant");
    assert_eq!(stays.receive().await.1, "avant");
    Scene {
        server,
        coord,
        member,
        stays,
        channel,
    }
}

impl Scene {
    /// The coordinator sends `text` (rotating first if the server requires it) and the
    /// colleague who stays reads it: it really was sent.
    async fn colleague_sends(&mut self, text: &str) -> u64 {
        let id = self.coord.send_text(&self.channel.id, text).await;
        let seq = self.coord.ack(&id).await;
        assert_eq!(self.stays.receive().await.1, text);
        seq
    }

    /// The devices the channel's current epoch key was wrapped for.
    async fn current_recipients(&self) -> Vec<String> {
        let recipients = self.recipients_query().await;
        assert!(!recipients.is_empty(), "the current epoch has recipients");
        recipients
    }

    async fn recipients_query(&self) -> Vec<String> {
        let db = &self.server.state.db;
        let backend = db.get_database_backend();
        let p = if backend == sea_orm::DbBackend::Postgres {
            "$1"
        } else {
            "?1"
        };
        db.query_all(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT recipient_device FROM epoch_keys WHERE channel_id = {p} AND epoch = \
                 (SELECT epoch FROM channels WHERE id = {p})"
            ),
            [self.channel.id.to_string().into()],
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "recipient_device").unwrap())
        .collect()
    }

    async fn epoch(&self) -> EpochState {
        self.coord
            .client
            .get(&format!("/channels/{}/epoch", self.channel.id))
            .await
            .unwrap()
    }
}

/// Reads the member's connection until the server's close frame (no fixed delay):
/// returns the close code and reason, and the seqs of the messages received before it.
async fn close_of(party: &mut Party) -> ((u16, String), Vec<u64>) {
    let mut received = Vec::new();
    loop {
        match party.conn.next_within(GUARD).await {
            Some(ServerFrame::Message(message)) => received.push(message.seq),
            Some(_) => continue,
            None => {
                let closed = party
                    .conn
                    .closed
                    .clone()
                    .expect("the server closed the connection with a close frame");
                return (closed, received);
            }
        }
    }
}

/// Another logged-in client of the same person (their other computer).
async fn other_session(server: &TestServer, party: &Party) -> Client {
    server.client(&party.user).await.unwrap()
}

/// The session of `party.client`, seen from another session of the same person.
async fn session_of_party(other: &Client) -> String {
    let sessions: Vec<SessionInfo> = other.get("/auth/sessions").await.unwrap();
    let mut others = sessions.into_iter().filter(|s| !s.current);
    let session = others.next().expect("the party's session");
    assert!(others.next().is_none(), "one other session only");
    session.id
}

async fn post(client: &Client, path: &str) {
    client
        .request(Method::POST, path)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
}

/// The events that end sessions but leave the devices their owner's: the connections
/// opened with those sessions close with 4004 and the reason; the devices still receive
/// keys (a new epoch for the same devices would protect nothing).
#[tokio::test]
async fn ending_a_session_closes_its_connections_with_4004_and_the_reason() {
    for reason in [
        "session_revoked",
        "logged_out",
        "password_changed",
        "password_reset",
        "mfa_reset",
    ] {
        let mut scene = scene().await;
        let server = &scene.server;
        match reason {
            "session_revoked" => {
                let other = other_session(server, &scene.member).await;
                let id = session_of_party(&other).await;
                other
                    .request(Method::DELETE, &format!("/auth/sessions/{id}"))
                    .send()
                    .await
                    .unwrap()
                    .error_for_status()
                    .unwrap();
            }
            "logged_out" => post(&scene.member.client, "/auth/logout").await,
            "password_changed" => {
                let other = other_session(server, &scene.member).await;
                other
                    .post_empty(
                        "/me/password",
                        &ChangePasswordRequest {
                            current_password: scene.member.user.password.clone(),
                            new_password: "un nouveau mot de passe solide".into(),
                        },
                    )
                    .await
                    .unwrap();
            }
            "password_reset" | "mfa_reset" => {
                let admin = admin_client(server, "admin").await;
                let action = if reason == "password_reset" {
                    "reset-password"
                } else {
                    "reset-mfa"
                };
                post(
                    &admin,
                    &format!("/admin/users/{}/{action}", scene.member.user.id),
                )
                .await;
            }
            _ => unreachable!(),
        }
        let seq = scene.colleague_sends("après la fin de session").await;
        let ((code, why), received) = close_of(&mut scene.member).await;
        assert_eq!((code, why.as_str()), (4004, reason), "{reason}");
        assert!(!received.contains(&seq), "{reason}: received after the end");
        // The ended session cannot open another connection.
        assert!(
            scene
                .member
                .client
                .connect(&scene.member.device.device_id)
                .await
                .is_err(),
            "{reason}: reconnected with an ended session"
        );
        // The device is still its owner's: it still gets the channel's keys.
        let recipients = scene.current_recipients().await;
        assert!(
            recipients.contains(&scene.member.device.device_id),
            "{reason}: {recipients:?}"
        );
    }
}

#[tokio::test]
async fn disabling_an_account_cuts_it_off_at_once_and_rotates_without_its_devices() {
    let mut scene = scene().await;
    let admin = admin_client(&scene.server, "admin").await;
    let before = scene.epoch().await.epoch;
    post(
        &admin,
        &format!("/admin/users/{}/disable", scene.member.user.id),
    )
    .await;
    let state = scene.epoch().await;
    assert!(state.rotation_required, "rotation required at the commit");
    assert!(
        state
            .devices
            .iter()
            .all(|d| d.user_id != scene.member.user.id),
        "a disabled account's devices are not wrap targets"
    );

    let seq = scene.colleague_sends("après la désactivation").await;
    let ((code, why), received) = close_of(&mut scene.member).await;
    assert_eq!((code, why.as_str()), (4003, "account_disabled"));
    assert!(!received.contains(&seq), "the disabled person received it");
    assert_eq!(scene.epoch().await.epoch, before + 1, "sent on a new epoch");
    assert!(!scene
        .current_recipients()
        .await
        .contains(&scene.member.device.device_id));

    // Disabling again changes nothing and succeeds; the access log says so.
    post(
        &admin,
        &format!("/admin/users/{}/disable", scene.member.user.id),
    )
    .await;
    let actions = audit_actions(&scene.server, Some(&scene.member.user.id)).await;
    assert_eq!(
        actions
            .iter()
            .filter(|(action, _)| action == "admin_user_disabled")
            .count(),
        2
    );
    // Logging in again is refused.
    assert!(scene.server.client(&scene.member.user).await.is_err());
}

#[tokio::test]
async fn revoking_a_device_closes_it_with_4005_refuses_its_keys_and_rotates_without_it() {
    let mut scene = scene().await;
    let other = other_session(&scene.server, &scene.member).await;
    let device = scene.member.device.device_id.clone();
    other
        .request(Method::DELETE, &format!("/keys/devices/{device}"))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    assert!(scene.epoch().await.rotation_required);

    let seq = scene.colleague_sends("après la révocation").await;
    let ((code, why), received) = close_of(&mut scene.member).await;
    assert_eq!((code, why.as_str()), (4005, "device_revoked"));
    assert!(!received.contains(&seq));
    assert!(!scene.current_recipients().await.contains(&device));

    // The session bound to the device ended with it; another session of the same person
    // asking for the revoked device's keys is refused, and the refusal is logged.
    assert!(scene.member.client.connect(&device).await.is_err());
    let refused = other
        .get::<serde_json::Value>(&format!(
            "/channels/{}/keys?device_id={device}",
            scene.channel.id
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("device_revoked"));
    let denials = audit_events(&scene.server, &scene.channel.id, "keys_read").await;
    assert!(
        denials
            .iter()
            .any(|event| event.outcome == "denied" && event.details.contains("device_revoked")),
        "the refusal is not in the access log"
    );

    // Revoking again succeeds and changes nothing.
    other
        .request(Method::DELETE, &format!("/keys/devices/{device}"))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
}

#[tokio::test]
async fn a_member_who_loses_the_regimes_attribute_leaves_its_channels_and_they_rotate() {
    let server = TestServer::spawn().await.unwrap();
    let social = Attributes {
        bound_by_professional_secrecy: true,
        social_action_professional: true,
    };
    let mut coord =
        Party::with_attributes(&server, "coord", Role::Coordinator, "CCAS", social).await;
    let mut member =
        Party::with_attributes(&server, "assistante", Role::Member, "CCAS", social).await;
    let channel: Channel = coord
        .client
        .post(
            "/channels",
            &passerelle_shared::protocol::v1::channels::CreateChannel {
                kind: passerelle_shared::protocol::v1::channels::ChannelKind::WorkingGroup,
                name: "Secret partagé".into(),
                regime: passerelle_shared::protocol::v1::channels::LegalRegime::SharedSecretSocial,
                institutions: vec![coord.user.institution_id.clone().into()],
                members: vec![member.user.id.clone().into()],
            },
        )
        .await
        .unwrap();
    coord
        .publish_rules(&channel.id, "# Règlement\n\nConfidentiel.")
        .await;
    coord.accept_rules(&channel.id).await;
    member.accept_rules(&channel.id).await;
    let id = coord.send_text(&channel.id, "avant").await;
    coord.ack(&id).await;
    assert_eq!(member.receive().await.1, "avant");

    // The admin corrects the account: not a social-action professional after all.
    let admin = admin_client(&server, "admin").await;
    admin
        .request(Method::PATCH, &format!("/admin/users/{}", member.user.id))
        .json(&serde_json::json!({ "attributes": {
            "bound_by_professional_secrecy": true,
            "social_action_professional": false
        }}))
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
    assert!(state.devices.iter().all(|d| d.user_id != member.user.id));
    let id = coord.send_text(&channel.id, "après").await;
    coord.ack(&id).await;
    assert!(
        !member.received_a_message_before_pong().await,
        "a member no longer eligible still receives the channel"
    );
}

#[tokio::test]
async fn a_removed_member_gets_no_frame_and_no_key_of_the_next_epoch() {
    let mut scene = scene().await;
    scene
        .coord
        .client
        .request(
            Method::DELETE,
            &format!(
                "/channels/{}/members/{}",
                scene.channel.id, scene.member.user.id
            ),
        )
        .json(&RemoveMember {
            record: None,
            reason: "Fin de la prise en charge".into(),
        })
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    scene.colleague_sends("après le retrait").await;
    assert!(!scene.member.received_a_message_before_pong().await);
    assert!(!scene
        .current_recipients()
        .await
        .contains(&scene.member.device.device_id));
}

/// A node that dies right after the exclusion's commit publishes nothing: the access
/// feed still closes the connection, and after a restart reconnecting is refused and the
/// rotation is still required.
#[tokio::test]
async fn an_exclusion_whose_announcement_is_lost_still_closes_and_survives_a_restart() {
    let mut scene = scene().await;
    let (done, _unannounced) = passerelle_server::app::exclusion::commit(
        &scene.server.state,
        passerelle_server::app::exclusion::Exclusion::DisableAccount {
            user_id: scene.member.user.id.clone(),
        },
    )
    .await
    .unwrap();
    assert!(done.changed);
    // Nothing was published on the bus: the node's feed follower closes it.
    let ((code, why), _) = close_of(&mut scene.member).await;
    assert_eq!((code, why.as_str()), (4003, "account_disabled"));

    let Scene {
        server,
        coord,
        member,
        channel,
        ..
    } = scene;
    let server = server.restart().await.unwrap();
    let state: EpochState = coord
        .client
        .get(&format!("/channels/{}/epoch", channel.id))
        .await
        .unwrap();
    assert!(state.rotation_required);
    assert!(state.devices.iter().all(|d| d.user_id != member.user.id));
    assert!(member
        .client
        .connect(&member.device.device_id)
        .await
        .is_err());
    drop(server);
}

/// A node that cannot read the access feed (its database is gone) could not apply an
/// exclusion made elsewhere: after a short grace it closes its connections with 4011,
/// refuses new ones and stops being ready.
#[tokio::test]
async fn a_node_that_cannot_read_the_access_feed_stops_serving_its_connections() {
    let mut scene = scene().await;
    let ready = |server: &TestServer| {
        let url = server.url("/readyz");
        let http = server.http();
        async move { http.get(url).send().await.unwrap().status() }
    };
    assert_eq!(ready(&scene.server).await, reqwest::StatusCode::OK);
    scene.server.state.db.clone().close().await.unwrap();
    let ((code, why), _) = close_of(&mut scene.member).await;
    assert_eq!((code, why.as_str()), (4011, "access_unverifiable"));
    assert_eq!(
        ready(&scene.server).await,
        reqwest::StatusCode::SERVICE_UNAVAILABLE
    );
    let metrics = scene
        .server
        .http()
        .get(scene.server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics
        .lines()
        .any(|line| line == "passerelle_access_feed_ready 0"));
}

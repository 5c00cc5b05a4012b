//! Invitations by one-time link: the invited person chooses their password with the link,
//! once, within a week, and enrols their second factor at the first login; a used,
//! expired, replaced or unknown link is refused in French, logged, and changes nothing.

use passerelle_shared::client::Client;
use passerelle_shared::protocol::v1::admin::{AccountWithPassword, CreateAccount};
use passerelle_shared::protocol::v1::auth::{LoginChallenge, NextStep};
use passerelle_shared::protocol::v1::invitations::{AcceptInvitation, InvitationLink};
use passerelle_shared::protocol::v1::{Attributes, Role};
use passerelle_tests::TestServer;

use passerelle_shared::protocol::v1::channels::{Channel, ChannelKind, CreateChannel, LegalRegime};

use crate::support::{admin_client, audit_actions, count_rows, Party};

const DAY_MS: i64 = 24 * 3_600_000;
const CHOSEN: &str = "une phrase de passe choisie";

async fn new_account(server: &TestServer, admin: &Client, login: &str) -> AccountWithPassword {
    let institution_id = server.institution("CCAS").await.unwrap();
    admin
        .post(
            "/admin/users",
            &CreateAccount {
                login: login.into(),
                display_name: format!("Invitée {login}"),
                institution_id: institution_id.into(),
                role: Role::Member,
                attributes: Attributes::default(),
            },
        )
        .await
        .unwrap()
}

async fn invite(admin: &Client, user_id: &str) -> InvitationLink {
    admin
        .post_empty_answer(&format!("/admin/users/{user_id}/invitation"))
        .await
}

/// Uses the link as the browser does: the token is the link's fragment.
async fn accept(server: &TestServer, link: &str, password: &str) -> (u16, String) {
    let token = link.split_once('#').map(|(_, t)| t).unwrap_or_default();
    let response = server
        .http()
        .post(server.url("/api/v1/invitations/accept"))
        .json(&AcceptInvitation {
            token: token.into(),
            new_password: password.into(),
        })
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    (status, body)
}

trait PostEmpty {
    async fn post_empty_answer<T: serde::de::DeserializeOwned>(&self, path: &str) -> T;
}

impl PostEmpty for Client {
    async fn post_empty_answer<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let response = self
            .request(reqwest::Method::POST, path)
            .send()
            .await
            .unwrap();
        passerelle_shared::client::decode(response).await.unwrap()
    }
}

#[tokio::test]
async fn an_invited_person_chooses_their_password_once_then_enrols_their_second_factor() {
    let server = TestServer::spawn().await.unwrap();
    let admin = admin_client(&server, "admin").await;
    let created = new_account(&server, &admin, "invitee").await;
    let link = invite(&admin, &created.account.id).await;
    assert!(link
        .link
        .starts_with(&format!("{}/invitation#", server.origin())));
    let token = link.link.split_once('#').unwrap().1.to_owned();
    assert_eq!(
        count_rows(&server, "invitations", "token_hash", &token).await,
        0,
        "the token is stored only as its hash"
    );

    // Too short: refused, and the link still works.
    let (status, body) = accept(&server, &link.link, "court").await;
    assert_eq!(status, 422);
    assert!(body.contains("weak_password"), "{body}");

    let (status, _) = accept(&server, &link.link, CHOSEN).await;
    assert_eq!(status, 204);

    // The chosen password opens the login, which asks to enrol the second factor; the
    // provisional password the admin saw no longer works.
    let challenge: LoginChallenge = server
        .password_step("invitee", CHOSEN)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(challenge.next, NextStep::TotpEnrolment);
    assert_eq!(
        server
            .password_step("invitee", &created.password)
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );

    // Once: a replay is refused in French and logged.
    let (status, body) = accept(&server, &link.link, "une autre phrase de passe").await;
    assert_eq!(status, 422);
    assert!(
        body.contains("invitation_invalid") && body.contains("n'est plus valable"),
        "{body}"
    );
    let still: LoginChallenge = server
        .password_step("invitee", CHOSEN)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        still.next,
        NextStep::TotpEnrolment,
        "the replay changed nothing"
    );
    let actions = audit_actions(&server, Some(&created.account.id)).await;
    assert!(actions.contains(&("invitation_created".into(), "success".into())));
    assert!(actions.contains(&("invitation_accepted".into(), "success".into())));
    let denials = audit_actions(&server, None)
        .await
        .into_iter()
        .filter(|(action, outcome)| action == "invitation_accept" && outcome == "denied")
        .count();
    assert!(denials >= 1, "the replay is in the access log");
}

#[tokio::test]
async fn an_expired_replaced_or_unknown_link_changes_nothing() {
    let server = TestServer::spawn().await.unwrap();
    let admin = admin_client(&server, "admin").await;
    let created = new_account(&server, &admin, "tardive").await;

    let first = invite(&admin, &created.account.id).await;
    let second = invite(&admin, &created.account.id).await;
    let (status, body) = accept(&server, &first.link, CHOSEN).await;
    assert_eq!(
        (status, body.contains("invitation_invalid")),
        (422, true),
        "replaced"
    );

    let (status, _) = accept(&server, "https://x/invitation#inconnu", CHOSEN).await;
    assert_eq!(status, 422, "unknown");

    server.clock.advance_ms(8 * DAY_MS);
    let (status, _) = accept(&server, &second.link, CHOSEN).await;
    assert_eq!(status, 422, "expired after a week");

    // Nothing changed: the provisional password is still the one that works.
    assert_eq!(
        server
            .password_step("tardive", CHOSEN)
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    assert!(server
        .password_step("tardive", &created.password)
        .await
        .unwrap()
        .status()
        .is_success());
}

#[tokio::test]
async fn an_active_account_gets_no_invitation() {
    let server = TestServer::spawn().await.unwrap();
    let admin = admin_client(&server, "admin").await;
    let active = server
        .create_user("active", Role::Member, "CCAS")
        .await
        .unwrap();
    server.login(&active).await.unwrap();
    let response = admin
        .request(
            reqwest::Method::POST,
            &format!("/admin/users/{}/invitation", active.id),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    assert!(response.text().await.unwrap().contains("already_active"));
}

#[tokio::test]
async fn a_coordinator_invites_the_people_of_their_own_groups_only() {
    let server = TestServer::spawn().await.unwrap();
    let admin = admin_client(&server, "admin").await;
    let coordinator = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let in_group = new_account(&server, &admin, "partenaire").await;
    let elsewhere = new_account(&server, &admin, "inconnue").await;
    let _: Channel = coordinator
        .client
        .post(
            "/channels",
            &CreateChannel {
                kind: ChannelKind::WorkingGroup,
                name: "Cellule de veille".into(),
                regime: LegalRegime::ClspdConfidential,
                institutions: vec![in_group.account.institution_id.clone()],
                members: vec![in_group.account.id.clone()],
            },
        )
        .await
        .unwrap();

    let link = invite(&coordinator.client, &in_group.account.id).await;
    let (status, _) = accept(&server, &link.link, CHOSEN).await;
    assert_eq!(status, 204, "the coordinator's link works");

    let refused = coordinator
        .client
        .request(
            reqwest::Method::POST,
            &format!("/admin/users/{}/invitation", elsewhere.account.id),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    let denied = audit_actions(&server, Some(&elsewhere.account.id))
        .await
        .contains(&("invitation_create".into(), "denied".into()));
    assert!(denied, "the refusal is in the access log");
    coordinator.conn.close().await;
}

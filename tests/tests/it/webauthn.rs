//! Passkeys and security keys (issue 23, CHARTER.md C15): registration, the second step
//! after the password, passwordless sign-in, the policy that requires a key for admins
//! and auditors, and every way an answer must be refused (replayed, for another
//! challenge, expired, another account's key, made on a phishing site).
//!
//! The authenticator is [`passerelle_tests::webauthn::SoftKey`]: a P-256 key answering
//! as a browser would. WebAuthn binds credentials to a domain name, so the test server,
//! on 127.0.0.1, is its relying party under the name `localhost`.

use passerelle_server::audit::EventFilter;
use passerelle_server::clock::Clock;
use passerelle_shared::protocol::v1::auth::{LoginChallenge, Me, NextStep, SessionOpened};
use passerelle_shared::protocol::v1::error::ErrorBody;
use passerelle_shared::protocol::v1::webauthn::{SecurityKey, WebauthnCeremony};
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::webauthn::SoftKey;
use passerelle_tests::{TestServer, TestUser};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The origin a browser on the test server's port uses for WebAuthn.
fn origin(server: &TestServer) -> String {
    format!("http://localhost:{}", server.addr.port())
}

/// A server with the default policy: a key required for admins and auditors.
async fn server_requiring_keys() -> TestServer {
    TestServer::spawn_with(|config| {
        config.webauthn.required_roles = vec!["admin".into(), "auditor".into()];
    })
    .await
    .unwrap()
}

async fn error_code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: ErrorBody = response.json().await.unwrap();
    (status, body.error.code)
}

async fn post(server: &TestServer, token: &str, path: &str, body: Value) -> reqwest::Response {
    server
        .http()
        .post(server.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn get(server: &TestServer, token: &str, path: &str) -> reqwest::Response {
    server
        .http()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Begins a registration.
async fn begin_registration(
    server: &TestServer,
    token: &str,
    name: &str,
    passwordless: bool,
) -> WebauthnCeremony {
    let response = post(
        server,
        token,
        "/api/v1/me/security-keys/register",
        json!({ "name": name, "passwordless": passwordless }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Registers `key` for the session's account, answering on `origin`.
async fn register_on(
    server: &TestServer,
    token: &str,
    key: &mut SoftKey,
    name: &str,
    passwordless: bool,
    origin: &str,
) -> reqwest::Response {
    let ceremony = begin_registration(server, token, name, passwordless).await;
    let credential = key.register(&ceremony.options, origin).unwrap();
    post(
        server,
        token,
        "/api/v1/me/security-keys/register/finish",
        json!({ "ceremony_id": ceremony.ceremony_id, "credential": credential }),
    )
    .await
}

async fn register(
    server: &TestServer,
    token: &str,
    key: &mut SoftKey,
    name: &str,
    passwordless: bool,
) -> SecurityKey {
    let response = register_on(server, token, key, name, passwordless, &origin(server)).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// The password step of an account that has keys: its challenge and key ceremony.
async fn password_step(server: &TestServer, user: &TestUser) -> (String, WebauthnCeremony) {
    let challenge: LoginChallenge = server
        .password_step(&user.login, &user.password)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(challenge.next, NextStep::Webauthn);
    (challenge.challenge, challenge.webauthn.unwrap())
}

async fn key_step(
    server: &TestServer,
    challenge: &str,
    ceremony_id: &str,
    credential: Value,
) -> reqwest::Response {
    server
        .http()
        .post(server.url("/api/v1/auth/webauthn"))
        .json(&json!({
            "challenge": challenge,
            "ceremony_id": ceremony_id,
            "credential": credential,
            "bearer": true,
        }))
        .send()
        .await
        .unwrap()
}

/// Signs in with password then `key`; the opened session.
async fn sign_in_with_key(
    server: &TestServer,
    user: &TestUser,
    key: &mut SoftKey,
) -> SessionOpened {
    let (challenge, ceremony) = password_step(server, user).await;
    let credential = key.assert(&ceremony.options, &origin(server)).unwrap();
    let response = key_step(server, &challenge, &ceremony.ceremony_id, credential).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn keys_of(server: &TestServer, token: &str) -> Vec<SecurityKey> {
    get(server, token, "/api/v1/me/security-keys")
        .await
        .json()
        .await
        .unwrap()
}

/// The access-log events of `action`: (outcome, details).
async fn events(server: &TestServer, action: &str) -> Vec<(String, Value)> {
    let filter = EventFilter {
        action: Some(action.to_owned()),
        ..Default::default()
    };
    server
        .state
        .audit
        .query(&filter, 0, 1000)
        .await
        .unwrap()
        .events
        .into_iter()
        .map(|e| {
            (
                e.outcome,
                serde_json::from_str(&e.details).unwrap_or(Value::Null),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_registered_key_is_the_second_step_and_is_listed_with_its_last_use() {
    let server = TestServer::spawn().await.unwrap();
    let user = server
        .create_user("claire.martin", Role::Member, "CCAS")
        .await
        .unwrap();
    let session = server.login(&user).await.unwrap();
    let mut key = SoftKey::default();
    let registered = register(&server, &session.token, &mut key, "Clé bleue", false).await;
    assert_eq!(registered.name, "Clé bleue");
    assert_eq!(registered.id, key.id());
    assert_eq!(registered.last_used_at, None);
    assert_eq!(
        registered.aaguid,
        uuid::Uuid::from_bytes(key.aaguid).to_string()
    );

    let opened = sign_in_with_key(&server, &user, &mut key).await;
    assert_eq!(opened.me.login, "claire.martin");
    let token = opened.token.unwrap();
    let me: Me = get(&server, &token, "/api/v1/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me.id, user.id);
    let listed = keys_of(&server, &token).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_used_at, Some(server.clock.now_ms()));

    // A second key works too, and either signs in.
    let mut spare = SoftKey::default();
    register(&server, &token, &mut spare, "Clé de secours", false).await;
    assert_eq!(keys_of(&server, &token).await.len(), 2);
    sign_in_with_key(&server, &user, &mut spare).await;

    // A member is offered keys, not forced: the code still works instead.
    server.clock.advance_ms(30_000);
    let (challenge, _) = password_step(&server, &user).await;
    let code = server.current_code(&user).unwrap();
    let response = server.totp_step(&challenge, &code, true).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let registered = events(&server, "webauthn_registered").await;
    assert_eq!(registered.len(), 2);
    assert!(registered.iter().all(|(outcome, _)| outcome == "success"));
    assert_eq!(events(&server, "webauthn_used").await.len(), 2);
    let logins = events(&server, "login").await;
    assert!(logins
        .iter()
        .any(|(_, details)| details["method"] == "webauthn" && details["credential"] == key.id()));
}

#[tokio::test]
async fn a_replayed_answer_and_a_counter_that_does_not_move_forward_are_refused() {
    let server = TestServer::spawn().await.unwrap();
    let user = server
        .create_user("rejeu", Role::Member, "CCAS")
        .await
        .unwrap();
    let session = server.login(&user).await.unwrap();
    let mut key = SoftKey::default();
    register(&server, &session.token, &mut key, "Clé", false).await;

    let (challenge, ceremony) = password_step(&server, &user).await;
    let answer = key.assert(&ceremony.options, &origin(&server)).unwrap();
    let first = key_step(&server, &challenge, &ceremony.ceremony_id, answer.clone()).await;
    assert_eq!(first.status(), StatusCode::OK);
    // The same answer again: its ceremony served once.
    let again = key_step(&server, &challenge, &ceremony.ceremony_id, answer).await;
    assert_eq!(
        error_code(again).await,
        (StatusCode::UNAUTHORIZED, "webauthn_expired".into())
    );

    // A fresh ceremony signed with a counter that did not move (a cloned key).
    let (challenge, ceremony) = password_step(&server, &user).await;
    let cloned = key
        .assert_with_counter(&ceremony.options, &origin(&server), key.counter)
        .unwrap();
    let response = key_step(&server, &challenge, &ceremony.ceremony_id, cloned).await;
    assert_eq!(
        error_code(response).await,
        (StatusCode::UNAUTHORIZED, "webauthn_failed".into())
    );
    let failures = events(&server, "webauthn_failed").await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].0, "failure");

    // The genuine key, moving forward, still signs in.
    sign_in_with_key(&server, &user, &mut key).await;
}

#[tokio::test]
async fn an_answer_to_another_challenge_is_refused() {
    let server = TestServer::spawn().await.unwrap();
    let user = server
        .create_user("autre.defi", Role::Member, "CCAS")
        .await
        .unwrap();
    let session = server.login(&user).await.unwrap();
    let mut key = SoftKey::default();
    register(&server, &session.token, &mut key, "Clé", false).await;

    let (_, first) = password_step(&server, &user).await;
    let (challenge, second) = password_step(&server, &user).await;
    let answer_to_first = key.assert(&first.options, &origin(&server)).unwrap();
    let response = key_step(&server, &challenge, &second.ceremony_id, answer_to_first).await;
    assert_eq!(
        error_code(response).await,
        (StatusCode::UNAUTHORIZED, "webauthn_failed".into())
    );
    // Registration: an answer to another registration ceremony.
    let one = begin_registration(&server, &session.token, "Une", false).await;
    let other = begin_registration(&server, &session.token, "Autre", false).await;
    let mut new_key = SoftKey::default();
    let credential = new_key.register(&one.options, &origin(&server)).unwrap();
    let response = post(
        &server,
        &session.token,
        "/api/v1/me/security-keys/register/finish",
        json!({ "ceremony_id": other.ceremony_id, "credential": credential }),
    )
    .await;
    assert_eq!(
        error_code(response).await,
        (StatusCode::UNAUTHORIZED, "webauthn_failed".into())
    );
    assert_eq!(keys_of(&server, &session.token).await.len(), 1);
}

#[tokio::test]
async fn an_expired_ceremony_is_refused() {
    let server = TestServer::spawn_with(|config| config.webauthn.challenge_ttl_secs = 60)
        .await
        .unwrap();
    let user = server
        .create_user("lent", Role::Member, "CCAS")
        .await
        .unwrap();
    let session = server.login(&user).await.unwrap();

    let ceremony = begin_registration(&server, &session.token, "Clé", false).await;
    server.clock.advance_ms(61_000);
    let mut key = SoftKey::default();
    let credential = key.register(&ceremony.options, &origin(&server)).unwrap();
    let response = post(
        &server,
        &session.token,
        "/api/v1/me/security-keys/register/finish",
        json!({ "ceremony_id": ceremony.ceremony_id, "credential": credential }),
    )
    .await;
    assert_eq!(
        error_code(response).await,
        (StatusCode::UNAUTHORIZED, "webauthn_expired".into())
    );
    assert!(keys_of(&server, &session.token).await.is_empty());

    register(&server, &session.token, &mut key, "Clé", false).await;
    let (challenge, ceremony) = password_step(&server, &user).await;
    server.clock.advance_ms(61_000);
    let answer = key.assert(&ceremony.options, &origin(&server)).unwrap();
    let response = key_step(&server, &challenge, &ceremony.ceremony_id, answer).await;
    assert_eq!(
        error_code(response).await,
        (StatusCode::UNAUTHORIZED, "webauthn_expired".into())
    );
}

#[tokio::test]
async fn another_accounts_key_does_not_sign_in() {
    let server = TestServer::spawn().await.unwrap();
    let alice = server
        .create_user("alice", Role::Member, "CCAS")
        .await
        .unwrap();
    let bob = server
        .create_user("bob", Role::Member, "CCAS")
        .await
        .unwrap();
    let alice_session = server.login(&alice).await.unwrap();
    let bob_session = server.login(&bob).await.unwrap();
    let mut alice_key = SoftKey::default();
    let mut bob_key = SoftKey::default();
    register(
        &server,
        &alice_session.token,
        &mut alice_key,
        "Clé d'Alice",
        false,
    )
    .await;
    register(
        &server,
        &bob_session.token,
        &mut bob_key,
        "Clé de Bob",
        false,
    )
    .await;

    // Alice's key answers Bob's sign-in.
    let (challenge, ceremony) = password_step(&server, &bob).await;
    let answer = alice_key
        .assert(&ceremony.options, &origin(&server))
        .unwrap();
    let response = key_step(&server, &challenge, &ceremony.ceremony_id, answer).await;
    assert_eq!(
        error_code(response).await,
        (
            StatusCode::UNAUTHORIZED,
            "webauthn_unknown_credential".into()
        )
    );
    let failures = events(&server, "webauthn_failed").await;
    assert!(failures
        .iter()
        .any(|(_, details)| details["reason"] == "another_accounts_credential"));

    // Nor can Bob rename or remove Alice's key.
    let path = format!("/api/v1/me/security-keys/{}", alice_key.id());
    let response = server
        .http()
        .delete(server.url(&path))
        .bearer_auth(&bob_session.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(keys_of(&server, &alice_session.token).await.len(), 1);
}

#[tokio::test]
async fn an_answer_made_on_another_site_is_refused() {
    let server = TestServer::spawn().await.unwrap();
    let user = server
        .create_user("hameconne", Role::Member, "CCAS")
        .await
        .unwrap();
    let session = server.login(&user).await.unwrap();
    let phishing = format!(
        "http://passerelle-connexion.localhost:{}",
        server.addr.port()
    );
    let mut key = SoftKey::default();
    let response = register_on(&server, &session.token, &mut key, "Clé", false, &phishing).await;
    assert_eq!(
        error_code(response).await,
        (StatusCode::UNAUTHORIZED, "webauthn_wrong_origin".into())
    );

    register(&server, &session.token, &mut key, "Clé", false).await;
    // A phishing page relays the real options and the user touches their key there.
    let (challenge, ceremony) = password_step(&server, &user).await;
    let answer = key.assert(&ceremony.options, &phishing).unwrap();
    let response = key_step(&server, &challenge, &ceremony.ceremony_id, answer).await;
    assert_eq!(
        error_code(response).await,
        (StatusCode::UNAUTHORIZED, "webauthn_wrong_origin".into())
    );
    assert!(events(&server, "webauthn_failed")
        .await
        .iter()
        .any(|(outcome, _)| outcome == "failure"));
}

#[tokio::test]
async fn a_passkey_signs_in_without_the_password() {
    let server = TestServer::spawn().await.unwrap();
    let user = server
        .create_user("sans.mot.de.passe", Role::Member, "CCAS")
        .await
        .unwrap();
    let session = server.login(&user).await.unwrap();
    let mut passkey = SoftKey::default();
    let registered = register(&server, &session.token, &mut passkey, "Téléphone", true).await;
    assert!(registered.passwordless);
    let mut plain = SoftKey::default();
    register(&server, &session.token, &mut plain, "Clé simple", false).await;

    let passwordless = |credential: Value, ceremony_id: String| {
        let server = &server;
        async move {
            server
                .http()
                .post(server.url("/api/v1/auth/passwordless/finish"))
                .json(&json!({
                    "ceremony_id": ceremony_id,
                    "credential": credential,
                    "bearer": true,
                }))
                .send()
                .await
                .unwrap()
        }
    };
    let begin = |server: &TestServer| {
        let request = server
            .http()
            .post(server.url("/api/v1/auth/passwordless"))
            .send();
        async move {
            let ceremony: WebauthnCeremony = request.await.unwrap().json().await.unwrap();
            ceremony
        }
    };
    let ceremony = begin(&server).await;
    let answer = passkey.assert(&ceremony.options, &origin(&server)).unwrap();
    let response = passwordless(answer, ceremony.ceremony_id).await;
    assert_eq!(response.status(), StatusCode::OK);
    let opened: SessionOpened = response.json().await.unwrap();
    assert_eq!(opened.me.id, user.id);

    // A key registered as a second factor only does not sign in alone.
    let ceremony = begin(&server).await;
    let answer = plain.assert(&ceremony.options, &origin(&server)).unwrap();
    let response = passwordless(answer, ceremony.ceremony_id).await;
    assert_eq!(
        error_code(response).await,
        (
            StatusCode::UNAUTHORIZED,
            "webauthn_unknown_credential".into()
        )
    );
    let logins = events(&server, "login").await;
    assert!(logins
        .iter()
        .any(|(_, details)| details["method"] == "passwordless"));
}

#[tokio::test]
async fn keys_are_renamed_and_removed_by_their_owner() {
    let server = TestServer::spawn().await.unwrap();
    let user = server
        .create_user("range", Role::Member, "CCAS")
        .await
        .unwrap();
    let session = server.login(&user).await.unwrap();
    let mut key = SoftKey::default();
    register(&server, &session.token, &mut key, "Clé", false).await;
    let path = format!("/api/v1/me/security-keys/{}", key.id());
    let response = server
        .http()
        .patch(server.url(&path))
        .bearer_auth(&session.token)
        .json(&json!({ "name": "Clé du bureau" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        keys_of(&server, &session.token).await[0].name,
        "Clé du bureau"
    );
    let response = server
        .http()
        .patch(server.url(&path))
        .bearer_auth(&session.token)
        .json(&json!({ "name": "" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let response = server
        .http()
        .delete(server.url(&path))
        .bearer_auth(&session.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(keys_of(&server, &session.token).await.is_empty());
    assert_eq!(events(&server, "webauthn_removed").await.len(), 1);
    // Without a key, the password step asks for the code again.
    let challenge: LoginChallenge = server
        .password_step(&user.login, &user.password)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(challenge.next, NextStep::Totp);
}

#[tokio::test]
async fn an_admin_must_use_a_key_and_a_code_alone_no_longer_signs_in() {
    let server = server_requiring_keys().await;
    let admin = server
        .create_user("admin.cle", Role::Admin, "Mairie")
        .await
        .unwrap();
    // First login with password and code: the session can only register a key.
    let session = server.login(&admin).await.unwrap();
    let me: Me = get(&server, &session.token, "/api/v1/me")
        .await
        .json()
        .await
        .unwrap();
    assert!(me.must_register_security_key);
    let response = get(&server, &session.token, "/api/v1/admin/users").await;
    assert_eq!(
        error_code(response).await,
        (
            StatusCode::FORBIDDEN,
            "webauthn_registration_required".into()
        )
    );
    let mut key = SoftKey::default();
    register(&server, &session.token, &mut key, "Clé de l'admin", false).await;
    let response = get(&server, &session.token, "/api/v1/admin/users").await;
    assert_eq!(response.status(), StatusCode::OK);

    // From now on, the code alone is refused; the key signs in.
    server.clock.advance_ms(30_000);
    let (challenge, _) = password_step(&server, &admin).await;
    let code = server.current_code(&admin).unwrap();
    let response = server.totp_step(&challenge, &code, true).await.unwrap();
    assert_eq!(
        error_code(response).await,
        (StatusCode::FORBIDDEN, "webauthn_required".into())
    );
    let opened = sign_in_with_key(&server, &admin, &mut key).await;
    assert!(!opened.me.must_register_security_key);
    let token = opened.token.unwrap();

    // The last key of a role that requires one stays.
    let response = server
        .http()
        .delete(server.url(&format!("/api/v1/me/security-keys/{}", key.id())))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "webauthn_last_required".into()
        )
    );

    // An auditor who lost their key: the admin's MFA reset removes every key and ends
    // every session; the next login registers a new key first.
    let auditor = server
        .create_user("auditeur.cle", Role::Auditor, "Mairie")
        .await
        .unwrap();
    let auditor_session = server.login(&auditor).await.unwrap();
    let mut lost = SoftKey::default();
    register(
        &server,
        &auditor_session.token,
        &mut lost,
        "Clé perdue",
        false,
    )
    .await;
    let response = post(
        &server,
        &token,
        &format!("/api/v1/admin/users/{}/reset-mfa", auditor.id),
        json!({}),
    )
    .await;
    assert!(response.status().is_success(), "{}", response.status());
    let response = get(&server, &auditor_session.token, "/api/v1/me").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let resets = events(&server, "admin_mfa_reset").await;
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0].1["security_keys_removed"], 1);
    let fresh = server.login(&auditor).await.unwrap();
    let me: Me = get(&server, &fresh.token, "/api/v1/me")
        .await
        .json()
        .await
        .unwrap();
    assert!(me.must_register_security_key);

    // The annual report counts it all in its security section.
    let year = time::OffsetDateTime::from_unix_timestamp(server.clock.now_ms() / 1000)
        .unwrap()
        .year();
    let report: Value = get(
        &server,
        &token,
        &format!("/api/v1/reports/annual?year={year}"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(report["security"]["security_keys_registered"], 2);
    assert_eq!(report["security"]["mfa_resets"], 1);
    assert_eq!(report["security"]["security_key_sign_ins"], 1);
    assert_eq!(report["security"]["security_key_failures"], 0);
}

#[tokio::test]
async fn admins_register_only_the_authenticator_models_on_the_allow_list() {
    let allowed = [0x11u8; 16];
    let server = TestServer::spawn_with(|config| {
        config.webauthn.admin_aaguids = vec![uuid::Uuid::from_bytes(allowed).to_string()];
    })
    .await
    .unwrap();
    let admin = server
        .create_user("admin.modele", Role::Admin, "Mairie")
        .await
        .unwrap();
    let session = server.login(&admin).await.unwrap();
    let mut other = SoftKey::new([0x22; 16]);
    let response = register_on(
        &server,
        &session.token,
        &mut other,
        "Clé inconnue",
        false,
        &origin(&server),
    )
    .await;
    assert_eq!(
        error_code(response).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "webauthn_model_not_allowed".into()
        )
    );
    let mut listed = SoftKey::new(allowed);
    register(&server, &session.token, &mut listed, "Clé agréée", false).await;

    // The allow-list is the admin role's: a member registers any model.
    let member = server
        .create_user("membre.modele", Role::Member, "CCAS")
        .await
        .unwrap();
    let member_session = server.login(&member).await.unwrap();
    register(
        &server,
        &member_session.token,
        &mut SoftKey::new([0x22; 16]),
        "Clé",
        false,
    )
    .await;
}

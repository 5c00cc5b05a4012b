//! Login hardening (issue 16, item 6): the same persisted lock-out for unknown logins and
//! wrong passwords, expiring and growing instead of permanent; wrong current passwords on
//! `/me/password` count; unknown login strings are logged as keyed hashes; and
//! `X-Forwarded-For` is believed from configured proxies only.

use passerelle_server::audit::EventFilter;
use passerelle_shared::protocol::v1::auth::ChangePasswordRequest;
use passerelle_shared::protocol::v1::error::ErrorBody;
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;
use reqwest::StatusCode;

async fn answer(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: ErrorBody = response.json().await.unwrap();
    (status, body.error.code)
}

async fn attempt(server: &TestServer, login: &str, password: &str) -> (StatusCode, String) {
    let response = server.password_step(login, password).await.unwrap();
    if response.status().is_success() {
        return (response.status(), String::new());
    }
    answer(response).await
}

fn locked() -> (StatusCode, String) {
    (StatusCode::FORBIDDEN, "account_locked".into())
}

fn refused() -> (StatusCode, String) {
    (StatusCode::UNAUTHORIZED, "invalid_credentials".into())
}

/// Three failures lock for a minute, doubling with each lock-out in a row.
async fn hardened() -> TestServer {
    TestServer::spawn_with(|c| {
        c.lockout_threshold = 3;
        c.lockout_base_secs = 60;
        c.lockout_max_secs = 3600;
        c.ip_attempts_per_window = 1000;
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn an_unknown_login_and_an_account_lock_alike_for_a_growing_time_that_expires() {
    let server = hardened().await;
    let user = server
        .create_user("cible", Role::Member, "CCAS")
        .await
        .unwrap();
    for login in ["cible", "fantome"] {
        for _ in 0..3 {
            assert_eq!(
                attempt(&server, login, "mauvais").await,
                refused(),
                "{login}"
            );
        }
        assert_eq!(
            attempt(&server, login, &user.password).await,
            locked(),
            "{login}"
        );
    }
    // Persisted: a restart does not lift it.
    let server = server.restart().await.unwrap();
    assert_eq!(attempt(&server, "cible", &user.password).await, locked());
    assert_eq!(attempt(&server, "fantome", "mauvais").await, locked());

    // It expires on its own after a minute…
    server.clock.advance_ms(61_000);
    assert_eq!(attempt(&server, "fantome", "mauvais").await, refused());
    assert_eq!(
        attempt(&server, "cible", &user.password).await.0,
        StatusCode::OK
    );
    // …and the next lock-out in a row lasts twice as long (the refusal above was the
    // first failure of the next round).
    for _ in 0..2 {
        assert_eq!(attempt(&server, "fantome", "mauvais").await, refused());
    }
    assert_eq!(attempt(&server, "fantome", "mauvais").await, locked());
    server.clock.advance_ms(61_000);
    assert_eq!(
        attempt(&server, "fantome", "mauvais").await,
        locked(),
        "2 min now"
    );
    server.clock.advance_ms(60_000);
    assert_eq!(attempt(&server, "fantome", "mauvais").await, refused());

    // A full login starts the account afresh: its next lock-out lasts a minute again.
    server.login(&user).await.unwrap();
    for _ in 0..3 {
        assert_eq!(attempt(&server, "cible", "mauvais").await, refused());
    }
    assert_eq!(attempt(&server, "cible", &user.password).await, locked());
    server.clock.advance_ms(61_000);
    assert_eq!(
        attempt(&server, "cible", &user.password).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn wrong_current_passwords_count_towards_the_lock_out() {
    let server = hardened().await;
    let user = server
        .create_user("agent", Role::Member, "CCAS")
        .await
        .unwrap();
    let session = server.login(&user).await.unwrap();
    let change = |current: &str| {
        server
            .http()
            .post(server.url("/api/v1/me/password"))
            .bearer_auth(&session.token)
            .json(&ChangePasswordRequest {
                current_password: current.into(),
                new_password: "un nouveau mot de passe".into(),
            })
            .send()
    };
    for _ in 0..3 {
        assert_eq!(answer(change("devine").await.unwrap()).await, refused());
    }
    // The login is locked, and so is changing the password with the right one.
    assert_eq!(attempt(&server, "agent", &user.password).await, locked());
    assert_eq!(
        answer(change(&user.password).await.unwrap()).await,
        locked()
    );
    let locks = server
        .state
        .audit
        .query(
            &EventFilter {
                action: Some("account_locked".into()),
                target: Some(user.id.clone()),
                ..EventFilter::default()
            },
            0,
            10,
        )
        .await
        .unwrap();
    assert_eq!(locks.events.len(), 1);
}

#[tokio::test]
async fn an_unknown_login_string_is_logged_as_a_keyed_hash() {
    let server = TestServer::spawn().await.unwrap();
    // A password typed in the login field.
    let typed = "Soleil-d-hiver-2026";
    assert_eq!(attempt(&server, typed, "x").await, refused());
    assert_eq!(attempt(&server, typed, "y").await, refused());
    let page = server
        .state
        .audit
        .query(
            &EventFilter {
                action: Some("login".into()),
                ..EventFilter::default()
            },
            0,
            100,
        )
        .await
        .unwrap();
    let logins: Vec<String> = page.events.iter().filter_map(|e| e.login.clone()).collect();
    assert_eq!(logins.len(), 2);
    assert!(logins[0].starts_with("hmac:") && logins[0].len() == 5 + 32);
    assert_eq!(logins[0], logins[1], "the same string, the same hash");
    // Nowhere in the log, in any form.
    let lowered = typed.to_lowercase();
    let everything = server
        .state
        .audit
        .query(&EventFilter::default(), 0, 1000)
        .await
        .unwrap();
    for event in &everything.events {
        let text = format!("{event:?}").to_lowercase();
        assert!(!text.contains(&lowered), "{text}");
    }
    // An account's login is shown as it is.
    let user = server
        .create_user("marie", Role::Member, "CCAS")
        .await
        .unwrap();
    assert_eq!(attempt(&server, &user.login, "faux").await, refused());
    let page = server
        .state
        .audit
        .query(
            &EventFilter {
                action: Some("login".into()),
                user: Some(user.id.clone()),
                ..EventFilter::default()
            },
            0,
            10,
        )
        .await
        .unwrap();
    assert_eq!(page.events[0].login.as_deref(), Some("marie"));
}

/// The address the access log shows for a failed login sent with `X-Forwarded-For`.
async fn logged_address(server: &TestServer) -> Option<String> {
    let response = server
        .http()
        .post(server.url("/api/v1/auth/login"))
        .header("x-forwarded-for", "203.0.113.9")
        .json(&serde_json::json!({ "login": "quelqu.un", "password": "faux" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let page = server
        .state
        .audit
        .query(
            &EventFilter {
                action: Some("login".into()),
                ..EventFilter::default()
            },
            0,
            10,
        )
        .await
        .unwrap();
    page.events.last().and_then(|e| e.ip.clone())
}

#[tokio::test]
async fn x_forwarded_for_is_believed_from_configured_proxies_only() {
    // Not behind a proxy: the header is anyone's to send.
    let server = TestServer::spawn().await.unwrap();
    assert_eq!(logged_address(&server).await.as_deref(), Some("127.0.0.1"));
    // Behind a proxy elsewhere: a client reaching the server directly is not believed.
    let server = TestServer::spawn_with(|c| {
        c.behind_proxy = true;
        c.trusted_proxies = vec!["10.0.0.1".into()];
    })
    .await
    .unwrap();
    assert_eq!(logged_address(&server).await.as_deref(), Some("127.0.0.1"));
    // From the configured proxy (loopback here), its header is the client's address.
    let server = TestServer::spawn_with(|c| {
        c.behind_proxy = true;
        c.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await
    .unwrap();
    assert_eq!(
        logged_address(&server).await.as_deref(),
        Some("203.0.113.9")
    );
}

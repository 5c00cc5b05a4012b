//! Logging in, lock-out, sessions (CHARTER.md C15).

use passerelle_server::clock::Clock;
use passerelle_shared::protocol::v1::auth::{
    LoginChallenge, Me, NextStep, SessionInfo, SessionOpened,
};
use passerelle_shared::protocol::v1::error::ErrorBody;
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::{base32_decode, totp_code, TestServer};
use reqwest::StatusCode;

async fn error_code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: ErrorBody = response.json().await.unwrap();
    (status, body.error.code)
}

#[tokio::test]
async fn a_good_password_and_totp_open_a_session() {
    let server = TestServer::spawn().await.unwrap();
    let user = server
        .create_user("marie.dupont", Role::Member, "CCAS")
        .await
        .unwrap();

    let response = server
        .password_step("Marie.Dupont", &user.password)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let challenge: LoginChallenge = response.json().await.unwrap();
    assert_eq!(
        challenge.next,
        NextStep::TotpEnrolment,
        "first login enrols TOTP"
    );
    let enrolment = challenge.enrolment.unwrap();
    assert!(enrolment
        .otpauth_uri
        .starts_with("otpauth://totp/Passerelle:marie.dupont"));
    assert!(enrolment.qr_svg.contains("<svg"));

    let secret = base32_decode(&enrolment.secret_base32).unwrap();
    let code = totp_code(&secret, "marie.dupont", server.clock.now_ms()).unwrap();
    let response = server
        .totp_step(&challenge.challenge, &code, true)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let opened: SessionOpened = response.json().await.unwrap();
    let token = opened.token.unwrap();

    let me: Me = server
        .http()
        .get(server.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me.login, "marie.dupont");
    assert_eq!(me.institution.name, "CCAS");

    // The second login asks for the code, not for a new enrolment.
    server.clock.advance_ms(30_000);
    let challenge: LoginChallenge = server
        .password_step("marie.dupont", &user.password)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(challenge.next, NextStep::Totp);
    assert!(challenge.enrolment.is_none());
}

#[tokio::test]
async fn a_wrong_password_is_refused() {
    let server = TestServer::spawn().await.unwrap();
    server
        .create_user("karim", Role::Member, "PJJ")
        .await
        .unwrap();
    let response = server
        .password_step("karim", "not the password")
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await,
        (StatusCode::UNAUTHORIZED, "invalid_credentials".into())
    );
}

#[tokio::test]
async fn a_wrong_totp_code_is_refused() {
    let server = TestServer::spawn().await.unwrap();
    let user = server
        .create_user("karim", Role::Member, "PJJ")
        .await
        .unwrap();
    server.login(&user).await.unwrap();
    server.clock.advance_ms(30_000);
    let challenge: LoginChallenge = server
        .password_step("karim", &user.password)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let good = server.current_code(&user).unwrap();
    let wrong = format!("{:06}", (good.parse::<u32>().unwrap() + 1) % 1_000_000);
    let response = server
        .totp_step(&challenge.challenge, &wrong, true)
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await,
        (StatusCode::UNAUTHORIZED, "invalid_totp".into())
    );
    let response = server
        .totp_step("forged.challenge", &good, true)
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await,
        (StatusCode::UNAUTHORIZED, "invalid_challenge".into())
    );
}

#[tokio::test]
async fn a_totp_code_cannot_be_used_twice() {
    let server = TestServer::spawn().await.unwrap();
    let user = server
        .create_user("karim", Role::Member, "PJJ")
        .await
        .unwrap();
    server.login(&user).await.unwrap();
    server.clock.advance_ms(30_000);
    let code = server.current_code(&user).unwrap();
    let first: LoginChallenge = server
        .password_step("karim", &user.password)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        server
            .totp_step(&first.challenge, &code, true)
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    // Same code, fresh challenge, same 30-second window: an eavesdropper's replay.
    let second: LoginChallenge = server
        .password_step("karim", &user.password)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = server
        .totp_step(&second.challenge, &code, true)
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await,
        (StatusCode::UNAUTHORIZED, "invalid_totp".into())
    );
}

#[tokio::test]
async fn repeated_failures_lock_the_account_until_an_admin_unlocks_it() {
    let server = TestServer::spawn().await.unwrap();
    let user = server
        .create_user("karim", Role::Member, "PJJ")
        .await
        .unwrap();
    let admin = server
        .create_user("admin", Role::Admin, "Mairie")
        .await
        .unwrap();
    let admin_session = server.login(&admin).await.unwrap();
    for _ in 0..5 {
        let response = server
            .password_step("karim", "wrong password")
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // Locked: even the right password is refused now.
    let response = server.password_step("karim", &user.password).await.unwrap();
    assert_eq!(
        error_code(response).await,
        (StatusCode::FORBIDDEN, "account_locked".into())
    );

    let response = server
        .http()
        .post(server.url(&format!("/api/v1/admin/users/{}/unlock", user.id)))
        .bearer_auth(&admin_session.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    server.login(&user).await.unwrap();
}

#[tokio::test]
async fn an_unknown_login_answers_exactly_like_a_wrong_password() {
    let server = TestServer::spawn().await.unwrap();
    server
        .create_user("karim", Role::Member, "PJJ")
        .await
        .unwrap();
    for attempt in 0..6 {
        let known = server
            .password_step("karim", "wrong password")
            .await
            .unwrap();
        let unknown = server
            .password_step("nobody", "wrong password")
            .await
            .unwrap();
        assert_eq!(known.status(), unknown.status(), "attempt {attempt}");
        let known: serde_json::Value = known.json().await.unwrap();
        let unknown: serde_json::Value = unknown.json().await.unwrap();
        assert_eq!(known, unknown, "attempt {attempt}: the bodies differ");
    }
}

#[tokio::test]
async fn sessions_expire_when_idle_and_at_their_absolute_limit() {
    let server = TestServer::spawn().await.unwrap();
    let user = server
        .create_user("karim", Role::Member, "PJJ")
        .await
        .unwrap();
    let me = |token: String| {
        let request = server
            .http()
            .get(server.url("/api/v1/me"))
            .bearer_auth(token);
        async move { request.send().await.unwrap().status() }
    };

    let session = server.login(&user).await.unwrap();
    server.clock.advance_ms(29 * 60_000);
    assert_eq!(
        me(session.token.clone()).await,
        StatusCode::OK,
        "used within the idle limit"
    );
    server.clock.advance_ms(31 * 60_000);
    assert_eq!(
        me(session.token.clone()).await,
        StatusCode::UNAUTHORIZED,
        "idle for 31 minutes"
    );

    let session = server.login(&user).await.unwrap();
    for _ in 0..25 {
        server.clock.advance_ms(29 * 60_000);
        let _ = me(session.token.clone()).await;
    }
    assert_eq!(
        me(session.token.clone()).await,
        StatusCode::UNAUTHORIZED,
        "past 12 hours"
    );
}

#[tokio::test]
async fn logout_and_revocation_end_sessions() {
    let server = TestServer::spawn().await.unwrap();
    let user = server
        .create_user("karim", Role::Member, "PJJ")
        .await
        .unwrap();
    let laptop = server.login(&user).await.unwrap();
    let desktop = server.login(&user).await.unwrap();

    let sessions: Vec<SessionInfo> = server
        .http()
        .get(server.url("/api/v1/auth/sessions"))
        .bearer_auth(&laptop.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s.current).count(), 1);

    let response = server
        .http()
        .delete(server.url(&format!("/api/v1/auth/sessions/{}", desktop.session_id)))
        .bearer_auth(&laptop.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let status = server
        .http()
        .get(server.url("/api/v1/me"))
        .bearer_auth(&desktop.token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let response = server
        .http()
        .post(server.url("/api/v1/auth/logout"))
        .bearer_auth(&laptop.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let status = server
        .http()
        .get(server.url("/api/v1/me"))
        .bearer_auth(&laptop.token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_browser_session_uses_a_strict_cookie_and_refuses_foreign_origins() {
    let server = TestServer::spawn().await.unwrap();
    let user = server
        .create_user("karim", Role::Member, "PJJ")
        .await
        .unwrap();
    server.login(&user).await.unwrap();
    server.clock.advance_ms(30_000);
    let challenge: LoginChallenge = server
        .password_step("karim", &user.password)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = server.current_code(&user).unwrap();
    let response = server
        .totp_step(&challenge.challenge, &code, false)
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(
            cookie.contains(attribute),
            "{attribute} missing from {cookie}"
        );
    }
    let opened: SessionOpened = response.json().await.unwrap();
    assert!(opened.token.is_none(), "a browser never sees its token");
    let pair = cookie.split(';').next().unwrap().to_owned();

    let status = server
        .http()
        .get(server.url("/api/v1/me"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::OK);
    let response = server
        .http()
        .post(server.url("/api/v1/auth/logout"))
        .header("cookie", &pair)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await,
        (StatusCode::FORBIDDEN, "bad_origin".into())
    );
    let response = server
        .http()
        .post(server.url("/api/v1/auth/logout"))
        .header("cookie", &pair)
        .header("origin", server.origin())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_disabled_account_loses_its_sessions_at_once() {
    let server = TestServer::spawn().await.unwrap();
    let user = server
        .create_user("karim", Role::Member, "PJJ")
        .await
        .unwrap();
    let admin = server
        .create_user("admin", Role::Admin, "Mairie")
        .await
        .unwrap();
    let admin_session = server.login(&admin).await.unwrap();
    let session = server.login(&user).await.unwrap();
    let response = server
        .http()
        .post(server.url(&format!("/api/v1/admin/users/{}/disable", user.id)))
        .bearer_auth(&admin_session.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let status = server
        .http()
        .get(server.url("/api/v1/me"))
        .bearer_auth(&session.token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let response = server.password_step("karim", &user.password).await.unwrap();
    assert_eq!(
        error_code(response).await,
        (StatusCode::FORBIDDEN, "account_disabled".into())
    );
}

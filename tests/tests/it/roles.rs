//! Each role is refused where it must not go (docs/ARCHITECTURE.md).

use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;
use reqwest::{Method, StatusCode};

/// Every admin endpoint, with a body where one is needed.
fn admin_endpoints(user_id: &str) -> Vec<(Method, String, Option<serde_json::Value>)> {
    vec![
        (Method::GET, "/api/v1/admin/institutions".into(), None),
        (
            Method::POST,
            "/api/v1/admin/institutions".into(),
            Some(serde_json::json!({ "name": "Nouvelle", "kind": "ccas" })),
        ),
        (Method::GET, "/api/v1/admin/users".into(), None),
        (
            Method::POST,
            "/api/v1/admin/users".into(),
            Some(
                serde_json::json!({ "login": "x.y", "display_name": "X", "institution_id": "none", "role": "member" }),
            ),
        ),
        (
            Method::PATCH,
            format!("/api/v1/admin/users/{user_id}"),
            Some(serde_json::json!({ "role": "admin" })),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/users/{user_id}/reset-password"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/admin/users/{user_id}/reset-mfa"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/admin/users/{user_id}/disable"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/admin/users/{user_id}/enable"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/admin/users/{user_id}/unlock"),
            None,
        ),
    ]
}

#[tokio::test]
async fn only_the_admin_reaches_the_admin_api() {
    let server = TestServer::spawn().await.unwrap();
    let target = server
        .create_user("cible", Role::Member, "CCAS")
        .await
        .unwrap();
    for role in [
        Role::Member,
        Role::Coordinator,
        Role::Auditor,
        Role::External,
    ] {
        let user = server
            .create_user(&format!("user.{}", role.as_str()), role, "Mairie")
            .await
            .unwrap();
        let session = server.login(&user).await.unwrap();
        for (method, path, body) in admin_endpoints(&target.id) {
            let mut request = server
                .http()
                .request(method.clone(), server.url(&path))
                .bearer_auth(&session.token);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{role:?} {method} {path}"
            );
        }
    }
    // Nothing changed: the target is still a member, enabled, with its password.
    let account = passerelle_server::app::accounts::find_account(&server.state, "cible")
        .await
        .unwrap();
    assert_eq!(account.role, Role::Member);
    assert!(!account.disabled);
    server.login(&target).await.unwrap();
}

#[tokio::test]
async fn without_a_session_every_api_endpoint_answers_401() {
    let server = TestServer::spawn().await.unwrap();
    for (method, path, _) in admin_endpoints("x").into_iter().chain([
        (Method::GET, "/api/v1/me".to_owned(), None),
        (Method::GET, "/api/v1/auth/sessions".to_owned(), None),
    ]) {
        let response = server
            .http()
            .request(method.clone(), server.url(&path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn the_admin_manages_institutions_and_accounts() {
    let server = TestServer::spawn().await.unwrap();
    let admin = server
        .create_user("admin", Role::Admin, "Mairie")
        .await
        .unwrap();
    let session = server.login(&admin).await.unwrap();
    let http = server.http();
    let institution: serde_json::Value = http
        .post(server.url("/api/v1/admin/institutions"))
        .bearer_auth(&session.token)
        .json(&serde_json::json!({ "name": "Mission locale", "kind": "mission_locale" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = http
        .post(server.url("/api/v1/admin/institutions"))
        .bearer_auth(&session.token)
        .json(&serde_json::json!({ "name": "Mission locale", "kind": "mission_locale" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);

    let created: serde_json::Value = http
        .post(server.url("/api/v1/admin/users"))
        .bearer_auth(&session.token)
        .json(&serde_json::json!({
            "login": "Lea.Petit",
            "display_name": "Léa Petit",
            "institution_id": institution["id"],
            "role": "member",
            "attributes": { "social_action_professional": true }
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["account"]["login"], "lea.petit");
    assert_eq!(
        created["account"]["attributes"]["social_action_professional"],
        true
    );
    let password = created["password"].as_str().unwrap();
    assert!(password.len() >= 20);
    let response = server.password_step("lea.petit", password).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let response = http
        .post(server.url("/api/v1/admin/users"))
        .bearer_auth(&session.token)
        .json(&serde_json::json!({ "login": "x", "display_name": "X", "institution_id": institution["id"], "role": "member" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a one-letter login"
    );

    // The last admin cannot disable themselves out of the system.
    let response = http
        .post(server.url(&format!("/api/v1/admin/users/{}/disable", admin.id)))
        .bearer_auth(&session.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

//! HTTP hygiene: headers, limits, errors, health, metrics, OpenAPI.

use passerelle_shared::protocol::v1::error::ErrorBody;
use passerelle_tests::TestServer;
use reqwest::StatusCode;

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let server = TestServer::spawn().await.unwrap();
    for path in ["/", "/api/v1/me", "/healthz"] {
        let response = server.http().get(server.url(path)).send().await.unwrap();
        let headers = response.headers();
        let csp = headers
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(
            headers.get("x-content-type-options").unwrap(),
            "nosniff",
            "{path}"
        );
        assert_eq!(
            headers.get("referrer-policy").unwrap(),
            "no-referrer",
            "{path}"
        );
        assert!(
            headers.get("strict-transport-security").is_none(),
            "no HSTS over plain HTTP"
        );
    }
    let page = server
        .http()
        .get(server.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Passerelle") && page.contains("tracés"));
}

#[tokio::test]
async fn malformed_and_oversized_bodies_get_clear_errors() {
    let server = TestServer::spawn().await.unwrap();
    let response = server
        .http()
        .post(server.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: ErrorBody = response.json().await.unwrap();
    assert_eq!(body.error.code, "bad_request");

    let response = server
        .http()
        .post(server.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(format!(
            "{{\"login\":\"a\",\"password\":\"{}\"}}",
            "x".repeat(2 * 1024 * 1024)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let response = server
        .http()
        .post(server.url("/api/v1/auth/login"))
        .json(&serde_json::json!({ "login": 12 }))
        .send()
        .await
        .unwrap();
    let body: ErrorBody = response.json().await.unwrap();
    assert_eq!(body.error.code, "bad_request");
    assert!(
        !body.error.message.contains("12"),
        "the value is not echoed"
    );
}

#[tokio::test]
async fn malformed_query_strings_get_clear_errors_and_are_logged() {
    let server = TestServer::spawn().await.unwrap();
    let user = server
        .create_user(
            "agent",
            passerelle_shared::protocol::v1::Role::Coordinator,
            "CCAS",
        )
        .await
        .unwrap();
    let client = server.client(&user).await.unwrap();
    for path in [
        "/channels/any/messages?after_seq=hier",
        "/channels/any/messages?limit=-1",
        "/reports/annual?year=deux-mille",
        "/ws",
    ] {
        let response = client
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let body: ErrorBody = response.json().await.unwrap();
        assert_eq!(body.error.code, "bad_request", "{path}");
        assert!(body.error.message.starts_with("Requête invalide"), "{path}");
    }
    let logged = passerelle_tests::audit_actions(&server, None)
        .await
        .into_iter()
        .filter(|(action, outcome)| action == "request_malformed" && outcome == "denied")
        .count();
    assert_eq!(logged, 4, "every malformed query is in the access log");
}

#[tokio::test]
async fn health_readiness_metrics_and_openapi_answer() {
    let server = TestServer::spawn().await.unwrap();
    assert_eq!(
        server
            .http()
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
    assert_eq!(
        server
            .http()
            .get(server.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let metrics = server
        .http()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("passerelle_http_requests"), "{metrics}");
    // Relayed by a reverse proxy: refused, even though the proxy connects from loopback.
    let relayed = server
        .http()
        .get(server.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(relayed.status(), StatusCode::FORBIDDEN);
    let openapi: serde_json::Value = server
        .http()
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(openapi["paths"]["/api/v1/auth/login"]["post"].is_object());
    assert!(openapi["paths"]["/api/v1/admin/users"]["post"].is_object());
}

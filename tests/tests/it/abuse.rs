//! Abuse (issue 10): brute force, slow clients, too many connections — each bounded and
//! answered clearly, and honest users keep being served.

use passerelle_shared::protocol::v1::error::ErrorBody;
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{audit_actions, Party, GUARD};

#[tokio::test]
async fn a_brute_force_from_one_address_is_throttled_across_logins() {
    let server = TestServer::spawn_with(|c| c.ip_attempts_per_window = 10)
        .await
        .unwrap();
    let user = server
        .create_user("cible", Role::Member, "CCAS")
        .await
        .unwrap();
    for i in 0..10 {
        let response = server
            .password_step(&format!("essai{i}"), "mauvais")
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused from this address until the window passes.
    let response = server.password_step("cible", &user.password).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: ErrorBody = response.json().await.unwrap();
    assert_eq!(body.error.code, "too_many_attempts");
    server.clock.advance_ms(15 * 60_000);
    server.login(&user).await.unwrap();
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let server = TestServer::spawn_with(|c| c.header_read_timeout_secs = 1)
        .await
        .unwrap();
    let mut slow = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    // An honest client is served meanwhile.
    let body = server
        .http()
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "ok");
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(GUARD, slow.read_to_end(&mut buffer)).await;
    assert!(read.is_ok(), "the slow connection is still open");
    let answer = String::from_utf8_lossy(&buffer);
    assert!(
        buffer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

#[tokio::test]
async fn an_account_cannot_hold_more_than_sixteen_connections() {
    let server = TestServer::spawn().await.unwrap();
    let party = Party::new(&server, "agent", Role::Member, "CCAS").await;
    let mut open = Vec::new();
    for _ in 1..passerelle_server::ws::MAX_CONNECTIONS_PER_USER {
        open.push(party.client.connect(&party.device.device_id).await.unwrap());
    }
    let refused = party.client.connect(&party.device.device_id).await;
    match refused {
        Err(passerelle_shared::client::ClientError::Api { status, .. }) => {
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS)
        }
        other => panic!("a 17th connection: {:?}", other.map(|_| ())),
    }
    let denied = audit_actions(&server, None).await;
    assert!(denied.contains(&("ws_connect".into(), "denied".into())));
    // The others are still served.
    let mut first = open.remove(0);
    first
        .send(&passerelle_shared::protocol::v1::ws::ClientFrame::Ping)
        .await
        .unwrap();
    loop {
        match first.next_within(GUARD).await {
            Some(passerelle_shared::protocol::v1::ws::ServerFrame::Pong) => break,
            Some(_) => continue,
            None => panic!("an open connection was dropped"),
        }
    }
}

#[tokio::test]
async fn a_websocket_flood_is_answered_once_then_cut_and_others_are_still_served() {
    use passerelle_shared::protocol::v1::ws::{ClientFrame, ServerFrame};
    let server = TestServer::spawn().await.unwrap();
    let flooder = Party::new(&server, "flood", Role::Member, "CCAS").await;
    let mut honest = Party::new(&server, "honnete", Role::Member, "CCAS").await;
    let Party { mut conn, .. } = flooder;
    for _ in 0..3000 {
        if conn.send(&ClientFrame::Ping).await.is_err() {
            break;
        }
    }
    // The server answers the first frame over the limit, then closes with 1008; since the
    // flooder's unread frames are still in the server's buffers, the close may arrive as a
    // reset instead. Either way the connection ends, well before the guard.
    let cut = tokio::time::timeout(GUARD, async {
        while let Some(frame) = conn.next().await {
            if let ServerFrame::Error { code, .. } = frame {
                assert_eq!(code, "rate_limited");
            }
        }
    })
    .await;
    assert!(cut.is_ok(), "the flooding connection was not cut");
    assert!(
        matches!(conn.closed, None | Some((1008, _))),
        "{:?}",
        conn.closed
    );
    assert_eq!(
        server
            .state
            .hub
            .connections_of(&server_user_id(&server, "flood").await),
        0
    );
    let logged = audit_actions(&server, None)
        .await
        .into_iter()
        .filter(|(action, outcome)| action == "ws_frame" && outcome == "denied")
        .count();
    assert_eq!(
        logged, 1,
        "one access-log entry per burst, not one per frame"
    );
    honest.conn.send(&ClientFrame::Ping).await.unwrap();
    let pong = honest
        .frame(|f| matches!(f, ServerFrame::Pong).then_some(()))
        .await;
    assert_eq!(pong, ());
}

async fn server_user_id(server: &TestServer, login: &str) -> String {
    passerelle_server::app::accounts::find_account(&server.state, login)
        .await
        .unwrap()
        .id
        .into_string()
}

#[tokio::test]
async fn a_closed_connection_releases_its_session_task() {
    let server = TestServer::spawn().await.unwrap();
    let party = Party::new(&server, "agent", Role::Member, "CCAS").await;
    assert_eq!(server.state.metrics.ws_connections.get(), 1);
    party.conn.close().await;
    // The session task ends on its own once the client is gone; wait for it, bounded.
    let released = tokio::time::timeout(GUARD, async {
        while server.state.metrics.ws_connections.get() != 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(
        released.is_ok(),
        "the session task of a closed connection is still running"
    );
}

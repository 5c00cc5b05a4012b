//! Bounded logging without losing counts (issue 16, item 5): what anyone can provoke at
//! will is counted rather than written row by row, one request or frame writes a bounded
//! number of access-log events, and every refusal — the ones the framework used to answer
//! in plain text too — is a French JSON error and is in the log.

use futures_util::{SinkExt, StreamExt};
use passerelle_server::audit::{EventFilter, StoredEvent};
use passerelle_shared::protocol::v1::error::ErrorBody;
use passerelle_shared::protocol::v1::ws::{ClientFrame, ServerFrame, MAX_CLIENT_FRAME_BYTES};
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;
use reqwest::StatusCode;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{working_group, Party, GUARD};

/// Every event of `action`, after the pending counts are written.
async fn events_of(server: &TestServer, action: &str) -> Vec<StoredEvent> {
    server.state.audit.write_refusal_counts(true).await.unwrap();
    let filter = EventFilter {
        action: Some(action.to_owned()),
        ..EventFilter::default()
    };
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let page = server
            .state
            .audit
            .query(&filter, after, 1000)
            .await
            .unwrap();
        events.extend(page.events);
        match page.next_after_seq {
            Some(next) => after = next,
            None => return events,
        }
    }
}

/// How many refusals the events stand for: an event with a `count` for that many.
fn refusals(events: &[StoredEvent]) -> u64 {
    events
        .iter()
        .map(|e| {
            let details: serde_json::Value = serde_json::from_str(&e.details).unwrap();
            details["count"].as_u64().unwrap_or(1)
        })
        .sum()
}

fn details(event: &StoredEvent) -> serde_json::Value {
    serde_json::from_str(&event.details).unwrap()
}

/// The French JSON error of a response.
async fn french_error(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: ErrorBody = response.json().await.expect("a JSON error body");
    // A sentence for people, not a code or a framework's English text.
    let message = &body.error.message;
    assert!(
        message.ends_with('.') && !message.contains('_') && message.contains(' '),
        "{message}"
    );
    (status, body.error.code)
}

#[tokio::test]
async fn a_flood_of_anonymous_requests_adds_a_few_events_whose_counts_add_up() {
    let server = TestServer::spawn().await.unwrap();
    let before = events_of(&server, "request_unauthenticated").await.len();
    let http = server.http();
    let url = server.url("/api/v1/me");
    const FLOOD: usize = 10_000;
    let statuses: Vec<StatusCode> = futures_util::stream::iter(0..FLOOD)
        .map(|_| {
            let request = http.get(&url);
            async move { request.send().await.unwrap().status() }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED));

    // Counted, not yet written: the metrics show it.
    let pending = server.state.audit.pending_refusals();
    assert!(pending >= 9_000, "{pending} refusals counted");
    let metrics = server
        .http()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "passerelle_audit_refusals_counted_total {pending}"
        )),
        "{metrics}"
    );
    assert!(metrics.contains(&format!("passerelle_audit_refusals_pending {pending}")));

    let events = events_of(&server, "request_unauthenticated").await;
    let added = &events[before..];
    assert!(added.len() <= 10, "{} events for one flood", added.len());
    assert_eq!(refusals(added), FLOOD as u64, "every refusal is counted");
    let counted = added.iter().find(|e| details(e)["count"].is_u64()).unwrap();
    // The path as the API router sees it (under /api/v1).
    assert_eq!(details(counted)["path"], "/me");
    assert_eq!(details(counted)["reason"], "unauthenticated");
    assert_eq!(counted.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(server.state.audit.pending_refusals(), 0);
    // The counts are part of the chain like any event.
    assert!(server.state.audit.verify().await.unwrap().intact);
}

#[tokio::test]
async fn a_sync_frame_naming_six_thousand_unknown_channels_writes_one_event() {
    let server = TestServer::spawn().await.unwrap();
    let mut party = Party::new(&server, "curieux", Role::Member, "CCAS").await;
    let before = events_of(&server, "ws_frame").await.len();
    let cursors = (0..6_000)
        .map(|i| (format!("inconnu-{i}").into(), 0))
        .collect();
    party
        .conn
        .send(&ClientFrame::Sync { cursors })
        .await
        .unwrap();
    let mut refused = 0;
    loop {
        match party.conn.next_within(GUARD).await {
            Some(ServerFrame::Error { code, .. }) => {
                assert_eq!(code, "not_member");
                refused += 1;
            }
            Some(ServerFrame::Synced { .. }) => break,
            Some(_) => {}
            None => panic!("the connection ended"),
        }
    }
    assert_eq!(refused, 6_000, "each channel is answered");
    let events = events_of(&server, "ws_frame").await;
    let added = &events[before..];
    assert_eq!(added.len(), 1, "one event for the frame");
    assert_eq!(refusals(added), 6_000);
    assert_eq!(details(&added[0])["reason"], "not_member");
    assert_eq!(details(&added[0])["channels"].as_array().unwrap().len(), 16);
}

#[tokio::test]
async fn refusals_the_framework_answered_in_plain_text_are_french_json_and_logged() {
    let server = TestServer::spawn().await.unwrap();
    let http = server.http();

    // A path that is not UTF-8 once decoded.
    let response = http
        .get(server.url("/api/v1/channels/%FF%FE/messages"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        french_error(response).await,
        (StatusCode::BAD_REQUEST, "bad_request".into())
    );

    // No such API route (not the web client's page), and a method a route does not take.
    let response = http
        .get(server.url("/api/v1/nulle-part"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        french_error(response).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    let response = http
        .delete(server.url("/api/v1/auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        french_error(response).await,
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed".into())
    );

    // Too many header fields (431).
    let mut request = http.get(server.url("/api/v1/me"));
    for i in 0..150 {
        request = request.header(format!("x-remplissage-{i}"), "x");
    }
    let response = request.send().await.unwrap();
    assert_eq!(
        french_error(response).await,
        (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large".into()
        )
    );
    // Header fields too large (431).
    let response = http
        .get(server.url("/api/v1/me"))
        .header("x-gros", "y".repeat(100 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(
        french_error(response).await,
        (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large".into()
        )
    );

    // Attachments: empty, and over the limit.
    let mut owner = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let group = working_group(&mut owner, &[]).await;
    let upload = |body: Vec<u8>| {
        http.post(server.url(&format!("/api/v1/channels/{}/attachments", group.id)))
            .bearer_auth(owner.client.bearer_token())
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
    };
    let response = upload(Vec::new()).await.unwrap();
    assert_eq!(
        french_error(response).await,
        (StatusCode::BAD_REQUEST, "bad_request".into())
    );
    let response = upload(vec![
        0u8;
        passerelle_server::app::attachments::MAX_ATTACHMENT_BYTES
            + 1
    ])
    .await
    .unwrap();
    assert_eq!(
        french_error(response).await,
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".into())
    );

    let malformed: Vec<String> = events_of(&server, "request_malformed")
        .await
        .iter()
        .map(|e| details(e)["reason"].as_str().unwrap().to_owned())
        .collect();
    for reason in [
        "path_encoding",
        "headers_too_large",
        "too_large",
        "unknown_route",
        "method_not_allowed",
    ] {
        assert!(
            malformed.iter().any(|r| r == reason),
            "{reason}: {malformed:?}"
        );
    }
    let uploads = events_of(&server, "attachment_upload").await;
    assert!(uploads
        .iter()
        .any(|e| e.outcome == "denied" && details(e)["reason"] == "empty"));
    assert_eq!(
        events_of(&server, "request_malformed")
            .await
            .iter()
            .filter(|e| details(e)["reason"] == "headers_too_large")
            .count(),
        2
    );
}

/// A raw WebSocket of `party`'s session and device, to send what the SDK never would.
async fn raw_socket(
    server: &TestServer,
    party: &Party,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = format!(
        "ws://{}/api/v1/ws?device_id={}",
        server.addr, party.device.device_id
    );
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", party.client.bearer_token())
            .parse()
            .unwrap(),
    );
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// What the server answered before closing: its error frames' codes and the close code.
async fn answers(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> (Vec<(String, String)>, Option<CloseCode>) {
    let mut errors = Vec::new();
    let ended = tokio::time::timeout(GUARD, async {
        while let Some(Ok(message)) = socket.next().await {
            match message {
                Message::Text(text) => {
                    if let Ok(ServerFrame::Error { code, message, .. }) =
                        serde_json::from_str::<ServerFrame>(&text)
                    {
                        errors.push((code, message));
                    }
                }
                Message::Close(frame) => return frame.map(|f| f.code),
                _ => {}
            }
        }
        None
    })
    .await;
    (errors, ended.expect("the server closes the connection"))
}

#[tokio::test]
async fn websocket_frames_refused_by_the_protocol_layer_are_answered_and_logged() {
    let server = TestServer::spawn().await.unwrap();
    let party = Party::new(&server, "agent", Role::Member, "CCAS").await;

    // A text frame that is not UTF-8.
    let mut socket = raw_socket(&server, &party).await;
    socket
        .send(Message::Frame(Frame::message(
            vec![b'{', 0xff, 0xfe, b'}'],
            OpCode::Data(Data::Text),
            true,
        )))
        .await
        .unwrap();
    let (errors, close) = answers(&mut socket).await;
    assert_eq!(close, Some(CloseCode::Invalid), "1007");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "invalid_utf8");
    assert!(errors[0].1.contains("UTF-8"));

    // A frame over the size limit. The server stops reading at its header, so the close
    // may reach the client as a reset (its unread bytes); the log shows it either way.
    let mut socket = raw_socket(&server, &party).await;
    let _ = socket
        .send(Message::text("x".repeat(MAX_CLIENT_FRAME_BYTES + 1)))
        .await;
    let ended = tokio::time::timeout(GUARD, async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Close(Some(frame)) = message {
                assert_eq!(frame.code, CloseCode::Size, "1009");
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the connection is closed");

    let reasons: Vec<String> = events_of(&server, "ws_frame")
        .await
        .iter()
        .filter(|e| e.outcome == "denied")
        .map(|e| details(e)["reason"].as_str().unwrap().to_owned())
        .collect();
    assert!(reasons.contains(&"invalid_utf8".to_owned()), "{reasons:?}");
    assert!(
        reasons.contains(&"frame_too_large".to_owned()),
        "{reasons:?}"
    );
}

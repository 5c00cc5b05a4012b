//! Offline notices against a real SMTP server (mailin-embedded, on a loopback port): who
//! gets the e-mail, that it says nothing of the messages, that it comes once, and that a
//! relay that refuses is logged and tried again without holding up messages. The notice
//! pass is called directly and the clock moved, as for the retention job.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use mailin::{response, Action, Handler, Response, SessionBuilder};
use passerelle_server::app::notices;
use passerelle_server::clock::Clock;
use passerelle_shared::client::{decode, expect_ok, Client, ClientError, Connection};
use passerelle_shared::protocol::v1::auth::Me;
use passerelle_shared::protocol::v1::notices::{NoticeSettings, SetEmail, UpdateNoticeSettings};
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::{Backend, TestServer};
use sea_orm::{ConnectionTrait, Statement};

use crate::support::{admin_client, audit_events, working_group, Party, GUARD};

const MINUTE_MS: i64 = 60_000;
const SECRET_TEXT: &str = "Situation de M. Martin : signalement à examiner";

/// One e-mail the sink accepted.
#[derive(Clone, Debug)]
struct Mail {
    to: Vec<String>,
    /// Headers and body, transfer encoding undone.
    text: String,
}

/// The SMTP server of the tests: accepts everything, or refuses every recipient while
/// `refuse` is set (a permanent 550, as a relay that rejects the address would).
#[derive(Clone)]
struct Sink {
    mails: Arc<Mutex<Vec<Mail>>>,
    refuse: Arc<AtomicBool>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Sink {
    fn mail(&mut self, _ip: std::net::IpAddr, _domain: &str, _from: &str) -> Response {
        self.to.clear();
        self.data.clear();
        response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        if self.refuse.load(Ordering::SeqCst) {
            return response::NO_MAILBOX;
        }
        self.to.push(to.to_owned());
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let raw = String::from_utf8_lossy(&self.data).into_owned();
        self.mails
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Mail {
                to: self.to.clone(),
                text: decoded(&raw),
            });
        response::OK
    }
}

/// The message with its body's transfer encoding (quoted-printable or base64) undone, so
/// that the test reads what the recipient reads.
fn decoded(raw: &str) -> String {
    let Some((head, body)) = raw.split_once("\r\n\r\n") else {
        return raw.to_owned();
    };
    let lower = head.to_ascii_lowercase();
    let body = if lower.contains("content-transfer-encoding: base64") {
        let joined: String = body.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(joined)
            .unwrap();
        String::from_utf8(bytes).unwrap()
    } else if lower.contains("content-transfer-encoding: quoted-printable") {
        let unfolded = body.replace("=\r\n", "");
        let mut bytes = Vec::new();
        let mut chars = unfolded.as_bytes().iter();
        while let Some(&b) = chars.next() {
            if b == b'=' {
                let hex: Vec<u8> = chars.by_ref().take(2).copied().collect();
                bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).unwrap(), 16).unwrap());
            } else {
                bytes.push(b);
            }
        }
        String::from_utf8(bytes).unwrap()
    } else {
        body.to_owned()
    };
    format!("{head}\r\n\r\n{body}")
}

/// One SMTP conversation, until the client quits or hangs up.
fn converse(stream: TcpStream, handler: Sink) {
    let Ok(peer) = stream.peer_addr() else { return };
    let mut session = SessionBuilder::new("smtp.test").build(peer.ip(), handler);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    if session.greeting().write_to(&mut writer).is_err() {
        return;
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let answer = session.process(&line);
        match answer.action {
            Action::NoReply => {}
            Action::Reply | Action::UpgradeTls => {
                if answer
                    .write_to(&mut writer)
                    .and_then(|_| writer.flush())
                    .is_err()
                {
                    return;
                }
            }
            Action::Close => {
                let _ = answer.write_to(&mut writer).and_then(|_| writer.flush());
                return;
            }
        }
    }
}

struct SmtpSink {
    port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    refuse: Arc<AtomicBool>,
}

impl SmtpSink {
    /// Starts an SMTP server on a free loopback port: mailin's protocol state machine on
    /// a real socket, one thread per connection (the threads end with the tests).
    fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let sink = Sink {
            mails: Arc::default(),
            refuse: Arc::default(),
            to: Vec::new(),
            data: Vec::new(),
        };
        let (mails, refuse) = (sink.mails.clone(), sink.refuse.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let handler = sink.clone();
                std::thread::spawn(move || converse(stream, handler));
            }
        });
        SmtpSink {
            port,
            mails,
            refuse,
        }
    }

    fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A server whose notices go to `sink`: 30 minutes away, at most one per 4 hours.
async fn server_on(sink: &SmtpSink, enabled: bool, backend: Backend) -> TestServer {
    let port = sink.port;
    TestServer::spawn_on(backend, |config| {
        // The members stay logged in while the clock moves by hours.
        config.session_idle_minutes = 24 * 60;
        config.session_absolute_hours = 48;
        let notices = &mut config.notices;
        notices.enabled = enabled;
        notices.smtp_host = "127.0.0.1".into();
        notices.smtp_port = Some(port);
        notices.smtp_tls = passerelle_server::config::SmtpTls::None;
        notices.from = "Passerelle <ne-pas-repondre@ville.example.fr>".into();
        notices.offline_minutes = 30;
        notices.period_minutes = 240;
    })
    .await
    .unwrap()
}

/// A group: a coordinator who writes, and members.
struct Scene {
    server: TestServer,
    coordinator: Party,
    channel_id: String,
}

async fn scene(sink: &SmtpSink, enabled: bool, logins: &[&str]) -> (Scene, Vec<Party>) {
    scene_on(sink, enabled, logins, Backend::from_env().unwrap()).await
}

async fn scene_on(
    sink: &SmtpSink,
    enabled: bool,
    logins: &[&str],
    backend: Backend,
) -> (Scene, Vec<Party>) {
    let server = server_on(sink, enabled, backend).await;
    let mut coordinator = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut members = Vec::new();
    for login in logins {
        members.push(Party::new(&server, login, Role::Member, "CCAS").await);
    }
    let refs: Vec<&Party> = members.iter().collect();
    let channel = working_group(&mut coordinator, &refs).await;
    let admin = admin_client(&server, "admin").await;
    for party in members.iter().chain([&coordinator]) {
        put_empty(
            &admin,
            &format!("/admin/users/{}/email", party.user.id),
            &SetEmail {
                email: Some(format!("{}@ville.example.fr", party.user.login)),
            },
        )
        .await
        .unwrap();
    }
    (
        Scene {
            server,
            coordinator,
            channel_id: channel.id.to_string(),
        },
        members,
    )
}

/// When the notice job last saw a connection of `user_id` open.
async fn last_online(server: &TestServer, user_id: &str) -> Option<i64> {
    let db = &server.state.db;
    let backend = db.get_database_backend();
    let placeholder = if backend == sea_orm::DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let row = db
        .query_one(Statement::from_sql_and_values(
            backend,
            format!("SELECT last_online_at FROM offline_notices WHERE user_id = {placeholder}"),
            [user_id.into()],
        ))
        .await
        .unwrap()?;
    row.try_get::<Option<i64>>("", "last_online_at").unwrap()
}

/// Closes the member's connection and waits (bounded) until the server has recorded
/// the moment they left.
async fn leave(server: &TestServer, user_id: &str, conn: Connection) {
    server.clock.advance_ms(1000);
    let left_at = server.clock.now_ms();
    conn.close().await;
    let recorded = tokio::time::timeout(GUARD, async {
        while server.state.hub.connections_of(user_id) != 0
            || last_online(server, user_id).await != Some(left_at)
        {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(recorded.is_ok(), "the server never saw the member leave");
}

/// The coordinator writes, a second after whatever happened before.
async fn send(scene: &mut Scene, text: &str) {
    scene.server.clock.advance_ms(1000);
    let channel_id = scene.channel_id.clone();
    let id = scene.coordinator.send_text(&channel_id, text).await;
    scene.coordinator.ack(&id).await;
}

/// `PUT` with a JSON answer.
async fn put<T: serde::de::DeserializeOwned>(
    client: &Client,
    path: &str,
    body: &impl serde::Serialize,
) -> Result<T, ClientError> {
    let response = client
        .request(reqwest::Method::PUT, path)
        .json(body)
        .send()
        .await;
    decode(response.map_err(|err| ClientError::Protocol(err.to_string()))?).await
}

/// `PUT` answered without a body.
async fn put_empty(
    client: &Client,
    path: &str,
    body: &impl serde::Serialize,
) -> Result<(), ClientError> {
    let response = client
        .request(reqwest::Method::PUT, path)
        .json(body)
        .send()
        .await;
    expect_ok(response.map_err(|err| ClientError::Protocol(err.to_string()))?).await
}

fn split(party: Party) -> (String, Client, Connection) {
    (party.user.id, party.client, party.conn)
}

#[tokio::test]
async fn an_away_member_with_unread_messages_gets_exactly_one_email_that_says_nothing_of_them() {
    let sink = SmtpSink::start();
    let (mut scene, mut members) = scene(&sink, true, &["absente", "presente"]).await;
    let present = members.pop().unwrap();
    let (away_id, _away_client, away_conn) = split(members.pop().unwrap());
    leave(&scene.server, &away_id, away_conn).await;
    send(&mut scene, SECRET_TEXT).await;

    // Just left: not yet.
    let report = notices::run_once(&scene.server.state).await.unwrap();
    assert!(report.sent.is_empty(), "{report:?}");

    scene.server.clock.advance_ms(31 * MINUTE_MS);
    let report = notices::run_once(&scene.server.state).await.unwrap();
    assert_eq!(report.sent, vec![away_id.clone()], "only the away member");
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.to, vec!["absente@ville.example.fr".to_owned()]);
    assert!(mail
        .text
        .contains("Subject: Vous avez de nouveaux messages sur Passerelle"));
    assert!(mail.text.contains(&scene.server.origin()), "{}", mail.text);
    for secret in [
        SECRET_TEXT,
        "Martin",
        "Groupe jeunesse",
        "coord",
        scene.channel_id.as_str(),
    ] {
        assert!(!mail.text.contains(secret), "the e-mail reveals {secret:?}");
    }

    // Once: not at the next pass, nor later in the period, nor after it for the same
    // unread message.
    for minutes in [0, 60, 300] {
        scene.server.clock.advance_ms(minutes * MINUTE_MS);
        let report = notices::run_once(&scene.server.state).await.unwrap();
        assert!(report.sent.is_empty(), "after {minutes} min: {report:?}");
    }
    assert_eq!(sink.mails().len(), 1);

    // A new message after the period: a new notice.
    send(&mut scene, "Point suivant").await;
    scene.server.clock.advance_ms(MINUTE_MS);
    let report = notices::run_once(&scene.server.state).await.unwrap();
    assert_eq!(report.sent, vec![away_id.clone()]);
    assert_eq!(sink.mails().len(), 2);

    // In the access log, the account and never the address; counted.
    let events = audit_events(&scene.server, &away_id, "offline_notice_sent").await;
    assert_eq!(events.len(), 2);
    assert!(!format!("{events:?}").contains("@ville.example.fr"));
    assert_eq!(scene.server.state.metrics.notices_sent.get(), 2);
    // The connected member, who had the same unread messages, got nothing.
    assert!(
        audit_events(&scene.server, &present.user.id, "offline_notice_sent")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn passes_of_several_nodes_at_once_send_one_notice() {
    let sink = SmtpSink::start();
    let (mut scene, mut members) = scene(&sink, true, &["absente"]).await;
    let (away_id, _client, conn) = split(members.pop().unwrap());
    leave(&scene.server, &away_id, conn).await;
    send(&mut scene, SECRET_TEXT).await;
    scene.server.clock.advance_ms(31 * MINUTE_MS);
    // The claim is in the database, which every node shares: concurrent passes race for
    // it and one wins.
    let state = &scene.server.state;
    let (a, b, c) = tokio::join!(
        notices::run_once(state),
        notices::run_once(state),
        notices::run_once(state)
    );
    let sent: usize = [a, b, c].into_iter().map(|r| r.unwrap().sent.len()).sum();
    assert_eq!(sent, 1);
    assert_eq!(sink.mails().len(), 1);
}

#[tokio::test]
async fn a_member_who_opted_out_gets_no_email() {
    let sink = SmtpSink::start();
    let (mut scene, mut members) = scene(&sink, true, &["discrete"]).await;
    let (away_id, client, conn) = split(members.pop().unwrap());
    let shown: NoticeSettings = client.get("/me/notices").await.unwrap();
    assert_eq!(
        shown,
        NoticeSettings {
            available: true,
            email: Some("discrete@ville.example.fr".into()),
            enabled: true,
        }
    );
    let changed: NoticeSettings = put(
        &client,
        "/me/notices",
        &UpdateNoticeSettings { enabled: false },
    )
    .await
    .unwrap();
    assert!(!changed.enabled);
    assert_eq!(
        audit_events(&scene.server, &away_id, "offline_notices_changed")
            .await
            .len(),
        1
    );
    leave(&scene.server, &away_id, conn).await;
    send(&mut scene, SECRET_TEXT).await;
    scene.server.clock.advance_ms(31 * MINUTE_MS);
    let report = notices::run_once(&scene.server.state).await.unwrap();
    assert!(report.sent.is_empty() && report.failed.is_empty());
    assert!(sink.mails().is_empty());
}

#[tokio::test]
async fn with_notices_off_nothing_is_sent() {
    let sink = SmtpSink::start();
    let (mut scene, mut members) = scene(&sink, false, &["absente"]).await;
    let (away_id, client, conn) = split(members.pop().unwrap());
    let shown: NoticeSettings = client.get("/me/notices").await.unwrap();
    assert!(!shown.available);
    conn.close().await;
    send(&mut scene, SECRET_TEXT).await;
    scene.server.clock.advance_ms(24 * 60 * MINUTE_MS);
    let report = notices::run_once(&scene.server.state).await.unwrap();
    assert_eq!(report, notices::PassReport::default());
    assert!(sink.mails().is_empty());
    assert!(audit_events(&scene.server, &away_id, "offline_notice_sent")
        .await
        .is_empty());
}

#[tokio::test]
async fn a_refusing_relay_is_logged_and_the_notice_retried_later_while_messages_flow() {
    let sink = SmtpSink::start();
    sink.refuse.store(true, Ordering::SeqCst);
    let (mut scene, mut members) = scene(&sink, true, &["absente"]).await;
    let (away_id, _client, conn) = split(members.pop().unwrap());
    leave(&scene.server, &away_id, conn).await;
    send(&mut scene, SECRET_TEXT).await;
    scene.server.clock.advance_ms(31 * MINUTE_MS);

    let report = notices::run_once(&scene.server.state).await.unwrap();
    assert_eq!(report.failed, vec![away_id.clone()]);
    assert!(sink.mails().is_empty());
    let failed = audit_events(&scene.server, &away_id, "offline_notice_failed").await;
    assert_eq!(failed.len(), 1);
    let logged = format!("{failed:?}");
    assert!(
        logged.contains("refused") && logged.contains("550"),
        "{logged}"
    );
    assert!(!logged.contains("@ville.example.fr"));
    assert_eq!(scene.server.state.metrics.notices_failed.get(), 1);

    // Messages are still written and acknowledged while the relay refuses.
    send(&mut scene, "Message suivant").await;

    // The relay accepts again: the next pass sends the notice it owes.
    sink.refuse.store(false, Ordering::SeqCst);
    scene.server.clock.advance_ms(MINUTE_MS);
    let report = notices::run_once(&scene.server.state).await.unwrap();
    assert_eq!(report.sent, vec![away_id.clone()]);
    assert_eq!(sink.mails().len(), 1);
}

#[tokio::test]
async fn only_an_admin_sets_an_address_and_a_malformed_one_changes_nothing() {
    let sink = SmtpSink::start();
    let (scene, members) = scene(&sink, true, &["membre"]).await;
    let member = &members[0];
    let admin = admin_client(&scene.server, "admin2").await;
    let err = put_empty(
        &admin,
        &format!("/admin/users/{}/email", member.user.id),
        &SetEmail {
            email: Some("membre@ville.example.fr\r\nBcc: x@y.fr".into()),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Some("invalid_email"));
    let err = put_empty(
        &member.client,
        &format!("/admin/users/{}/email", member.user.id),
        &SetEmail {
            email: Some("autre@ville.example.fr".into()),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Some("forbidden"));
    let shown: NoticeSettings = member.client.get("/me/notices").await.unwrap();
    assert_eq!(shown.email.as_deref(), Some("membre@ville.example.fr"));
    let denied = audit_events(&scene.server, &member.user.id, "admin_user_email_change").await;
    assert_eq!(
        denied.len(),
        1,
        "the malformed address is refused in the access log"
    );
    assert!(!format!("{denied:?}").contains("x@y.fr"));
    let refusals = crate::support::audit_actions(&scene.server, None)
        .await
        .into_iter()
        .filter(|(action, outcome)| action == "admin_user_email_change" && outcome == "denied")
        .count();
    assert_eq!(refusals, 2, "the member's attempt too");

    // Removing the address stops the notices.
    put_empty(
        &admin,
        &format!("/admin/users/{}/email", member.user.id),
        &SetEmail { email: None },
    )
    .await
    .unwrap();
    let shown: NoticeSettings = member.client.get("/me/notices").await.unwrap();
    assert_eq!(shown.email, None);
}

/// A second node of the cluster: its own hub and job, the same PostgreSQL database (and
/// access log) and the same clock, serving on its own port.
async fn second_node(server: &TestServer) -> (passerelle_server::AppState, std::net::SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = (*server.state.config).clone();
    config.listen = addr;
    let state = passerelle_server::AppState::build(config, server.clock.clone())
        .await
        .unwrap();
    tokio::spawn(passerelle_server::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    (state, addr)
}

#[tokio::test]
async fn in_a_cluster_a_member_connected_to_another_node_gets_nothing_and_each_notice_goes_once() {
    let sink = SmtpSink::start();
    let (mut scene, mut members) =
        scene_on(&sink, true, &["presente", "absente"], Backend::Postgres).await;
    let (away_id, _away_client, away_conn) = split(members.pop().unwrap());
    let present = members.pop().unwrap();
    let (node_b, addr_b) = second_node(&scene.server).await;

    // The present member moves to node B: connected there, gone from node A.
    let me: Me = present.client.get("/me").await.unwrap();
    let on_b = Client::with_token(
        &format!("http://{addr_b}"),
        present.client.bearer_token().to_owned(),
        me,
    );
    let _kept = on_b.connect(&present.device.device_id).await.unwrap();
    let registered = tokio::time::timeout(GUARD, async {
        while node_b.hub.connections_of(&present.user.id) != 1 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(registered.is_ok(), "node B never registered the connection");
    leave(&scene.server, &present.user.id, present.conn).await;
    leave(&scene.server, &away_id, away_conn).await;
    send(&mut scene, SECRET_TEXT).await;

    // Half an hour later. Node B's job ran meanwhile (it does every minute): it saw its
    // connection; then both nodes' passes run at once.
    scene.server.clock.advance_ms(31 * MINUTE_MS);
    let first = notices::run_once(&node_b).await.unwrap();
    let (a, b) = tokio::join!(
        notices::run_once(&scene.server.state),
        notices::run_once(&node_b)
    );
    let mut sent: Vec<String> = [first, a.unwrap(), b.unwrap()]
        .into_iter()
        .flat_map(|report| report.sent)
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        vec![away_id.clone()],
        "one notice, to the away member only"
    );
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec!["absente@ville.example.fr".to_owned()]);
}

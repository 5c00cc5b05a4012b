//! The SDK's [`Agent`] over a long run (issue 24): rotation under concurrent senders,
//! a device kept across restarts in its store, catching up after the server restarts, an
//! idle connection kept up, a session that expires, events streamed to another task.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;

use passerelle_server::clock::Clock as _;
use passerelle_shared::client::store::{EncryptedFileStore, MemoryStore, SecretString, StoreKey};
use passerelle_shared::client::{Agent, AgentOptions, Event, Login, Store};
use passerelle_shared::protocol::v1::channels::{Channel, ChannelKind, CreateChannel, LegalRegime};
use passerelle_shared::protocol::v1::keys::UserKeys;
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::{TestServer, TestUser};

use crate::support::{count_rows, ensure_charter, Party, GUARD};

/// Options whose TOTP codes follow the server's manual clock.
fn options(server: &TestServer) -> AgentOptions {
    let clock = server.clock.clone();
    AgentOptions {
        now_ms: Arc::new(move || clock.now_ms()),
        device_name: "Agent de test".into(),
        ..AgentOptions::default()
    }
}

/// A first login with this store; the clock moves to the next TOTP step first (a code is
/// accepted once).
pub(crate) async fn login(server: &TestServer, user: &TestUser, store: Box<dyn Store>) -> Agent {
    server.clock.advance_ms(30_000);
    let base = server.url("");
    let (agent, first) = Agent::login(
        store,
        Login {
            base_url: &base,
            login: &user.login,
            password: &user.password,
            totp_secret: None,
            recovery_code: None,
            new_password: None,
        },
        options(server),
    )
    .await
    .unwrap();
    assert!(
        first.totp_secret.is_some(),
        "a first login hands out the TOTP secret"
    );
    assert!(first.recovery_code.is_some());
    agent.accept_charter().await.unwrap();
    agent
}

/// A working group of the coordinator and `members`, with rules the coordinator accepted
/// and its signed membership log, which the coordinator's client starts as it would on
/// listing the group (docs/PROTOCOL.md §22.4): the members' agents write there.
async fn group(coordinator: &mut Party, members: &[&TestUser]) -> Channel {
    let channel = group_without_log(coordinator, members).await;
    crate::support::start_log(coordinator, &channel.id).await;
    channel
}

/// A working group of the coordinator and `members`, with rules the coordinator accepted,
/// made through the REST API alone: no log yet, as a channel the server made.
async fn group_without_log(coordinator: &mut Party, members: &[&TestUser]) -> Channel {
    let channel: Channel = coordinator
        .client
        .post(
            "/channels",
            &CreateChannel {
                kind: ChannelKind::WorkingGroup,
                name: "Veille".into(),
                regime: LegalRegime::ClspdConfidential,
                institutions: members
                    .iter()
                    .map(|m| m.institution_id.as_str().into())
                    .collect(),
                members: members.iter().map(|m| m.id.as_str().into()).collect(),
            },
        )
        .await
        .unwrap();
    coordinator
        .publish_rules(&channel.id, "# Règlement\n\nRègles du groupe.")
        .await;
    coordinator.accept_rules(&channel.id).await;
    channel
}

/// Reads `n` message events and returns their (seq, text), in the order handed out. An
/// honest server's messages, through rotations, reconnections and restarts, show no
/// anomaly of their senders' order (docs/PROTOCOL.md §8.8).
async fn messages(agent: &mut Agent, n: usize) -> Vec<(u64, String)> {
    let mut seen = Vec::new();
    while seen.len() < n {
        match agent.next_event_within(GUARD).await.unwrap() {
            Some(Event::Message {
                message,
                content,
                order,
                ..
            }) => {
                assert!(order.is_empty(), "seq {}: {order:?}", message.seq);
                seen.push((message.seq, content.text.clone()))
            }
            Some(Event::Unreadable { message, reason }) => {
                panic!("seq {} unreadable: {reason}", message.seq)
            }
            Some(_) => {}
            None => panic!("only {} message(s) of {n}", seen.len()),
        }
    }
    seen
}

#[tokio::test]
async fn two_agents_sending_at_once_cross_the_rotation_without_hanging_or_losing() {
    let server = TestServer::spawn().await.unwrap();
    ensure_charter(&server).await;
    let mut coordinator = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let alice = server
        .create_user("alice", Role::Member, "Police municipale")
        .await
        .unwrap();
    let bruno = server
        .create_user("bruno", Role::Member, "Collège")
        .await
        .unwrap();
    let mut a = login(&server, &alice, Box::new(MemoryStore::default())).await;
    let mut b = login(&server, &bruno, Box::new(MemoryStore::default())).await;
    let channel = group(&mut coordinator, &[&alice, &bruno]).await;
    a.accept_rules(&channel.id).await.unwrap();
    b.accept_rules(&channel.id).await.unwrap();

    // 2 × 60 messages: the 100-message rotation falls while both are sending.
    const EACH: usize = 60;
    let id = channel.id.clone();
    let (sent_a, sent_b) = tokio::join!(
        async {
            let mut seqs = Vec::new();
            for i in 0..EACH {
                seqs.push(a.send_text(&id, &format!("a{i}")).await.unwrap());
            }
            seqs
        },
        async {
            let mut seqs = Vec::new();
            for i in 0..EACH {
                seqs.push(b.send_text(&id, &format!("b{i}")).await.unwrap());
            }
            seqs
        }
    );
    let all: BTreeSet<u64> = sent_a.iter().chain(&sent_b).copied().collect();
    assert_eq!(all.len(), 2 * EACH, "every acknowledged seq is distinct");
    assert_eq!(
        count_rows(&server, "messages", "channel_id", &channel.id).await,
        i64::try_from(2 * EACH).unwrap()
    );
    let epoch: passerelle_shared::protocol::v1::channels::EpochState = coordinator
        .client
        .get(&format!("/channels/{}/epoch", channel.id))
        .await
        .unwrap();
    assert!(
        epoch.epoch >= 2,
        "the channel rotated: epoch {}",
        epoch.epoch
    );

    // Each agent hands out all of them, once, in order, decrypted across both epochs.
    for agent in [&mut a, &mut b] {
        let got = messages(agent, 2 * EACH).await;
        let seqs: Vec<u64> = got.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(seqs, (1..=(2 * EACH) as u64).collect::<Vec<_>>());
        let texts: BTreeSet<String> = got.into_iter().map(|(_, text)| text).collect();
        assert_eq!(texts.len(), 2 * EACH);
    }
}

#[tokio::test]
async fn an_agent_restarted_with_its_store_reuses_its_device_and_cursors() {
    let server = TestServer::spawn().await.unwrap();
    ensure_charter(&server).await;
    let mut coordinator = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let user = server
        .create_user("relais", Role::Member, "Police municipale")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relais.store");
    let key = || StoreKey::Passphrase(SecretString::new("phrase de test"));
    let store = || Box::new(EncryptedFileStore::open(&path, key()).unwrap());

    let mut agent = login(&server, &user, store()).await;
    let device_id = agent.device().device_id.clone();
    let channel = group(&mut coordinator, &[&user]).await;
    agent.accept_rules(&channel.id).await.unwrap();
    agent.send_text(&channel.id, "premier").await.unwrap();
    let first = messages(&mut agent, 1).await;
    assert_eq!(first, vec![(1, "premier".to_owned())]);
    agent.close().await.unwrap();

    // A second run: the stored TOTP secret logs in, the stored device connects (no
    // `identity_in_use`), and what was handed out is not handed out again.
    server.clock.advance_ms(30_000);
    let mut agent = Agent::open(store(), options(&server)).await.unwrap();
    assert_eq!(agent.device().device_id, device_id);
    agent.send_text(&channel.id, "second").await.unwrap();
    let next = messages(&mut agent, 1).await;
    assert_eq!(next, vec![(2, "second".to_owned())]);
    let keys: UserKeys = agent
        .client()
        .get(&format!("/keys/users/{}", user.id))
        .await
        .unwrap();
    assert_eq!(keys.devices.len(), 1, "one device across both runs");
    agent.close().await.unwrap();

    // The wrong passphrase opens nothing.
    let wrong =
        EncryptedFileStore::open(&path, StoreKey::Passphrase(SecretString::new("non"))).unwrap();
    assert!(wrong.load().is_err());
}

#[tokio::test]
async fn an_agent_catches_up_by_itself_after_the_server_restarts() {
    let server = TestServer::spawn().await.unwrap();
    ensure_charter(&server).await;
    let mut coordinator = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let user = server
        .create_user("veilleur", Role::Member, "Police municipale")
        .await
        .unwrap();
    let mut agent = login(&server, &user, Box::new(MemoryStore::default())).await;
    let channel = group(&mut coordinator, &[&user]).await;
    agent.accept_rules(&channel.id).await.unwrap();
    agent.send_text(&channel.id, "avant").await.unwrap();
    assert_eq!(messages(&mut agent, 1).await, vec![(1, "avant".to_owned())]);

    let server = server.restart().await.unwrap();
    // Sent while the agent's connection is gone: it reconnects, catches up from its
    // cursor and hands the message out once.
    let mut coordinator = coordinator;
    coordinator.conn = coordinator
        .client
        .connect(&coordinator.device.device_id)
        .await
        .unwrap();
    let id = coordinator.send_text(&channel.id, "pendant").await;
    coordinator.ack(&id).await;
    agent.send_text(&channel.id, "après").await.unwrap();
    assert_eq!(
        messages(&mut agent, 2).await,
        vec![(2, "pendant".to_owned()), (3, "après".to_owned())]
    );
    drop(server);
}

/// Runs `passerelle-sdk-cli` with the store's passphrase and the password in its
/// environment; returns its standard output, one JSON value per line.
async fn cli(store: &std::path::Path, args: &[&str]) -> Vec<serde_json::Value> {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_passerelle-sdk-cli"));
    command
        .arg(args[0])
        .arg("--store")
        .arg(store)
        .args(&args[1..])
        .env("PASSERELLE_SDK_PASSPHRASE", "phrase de test")
        .env(
            "PASSERELLE_SDK_PASSWORD",
            PASSWORD.with(|p| p.borrow().clone()),
        );
    let output = tokio::time::timeout(GUARD * 3, command.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

thread_local! {
    static PASSWORD: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

#[tokio::test]
async fn the_sdk_cli_works_across_runs_with_one_device() {
    let server = TestServer::spawn().await.unwrap();
    ensure_charter(&server).await;
    let user = server
        .create_user("cli", Role::Member, "Police municipale")
        .await
        .unwrap();
    PASSWORD.with(|p| *p.borrow_mut() = user.password.clone());
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("cli.store");
    let base = server.url("");

    // The first login, before the server's manual clock moves: the CLI's TOTP code comes
    // from the real clock. It prints the TOTP secret and the recovery code once.
    let lines = cli(
        &store,
        &[
            "login",
            "--url",
            &base,
            "--login",
            "cli",
            "--accept-charter",
        ],
    )
    .await;
    assert!(lines.iter().any(|l| l["totp_secret"].is_string()));
    assert!(lines.iter().any(|l| l["recovery_code"].is_string()));
    let device_id = lines
        .iter()
        .find_map(|l| l["device_id"].as_str().map(str::to_owned))
        .unwrap();

    let mut coordinator = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let channel = group(&mut coordinator, &[&user]).await;
    cli(&store, &["accept-rules", &channel.id]).await;
    let first = cli(&store, &["send", &channel.id, "un"]).await;
    let second = cli(&store, &["send", &channel.id, "deux"]).await;
    assert_eq!(first[0]["sent"], 1);
    assert_eq!(second[0]["sent"], 2);
    let read = cli(&store, &["read", "2"]).await;
    let texts: Vec<&str> = read.iter().filter_map(|l| l["text"].as_str()).collect();
    assert_eq!(texts, ["un", "deux"]);
    // Handed out already: a catch-up brings nothing new.
    assert!(cli(&store, &["sync"]).await.is_empty());

    let keys: UserKeys = coordinator
        .client
        .get(&format!("/keys/users/{}", user.id))
        .await
        .unwrap();
    assert_eq!(keys.devices.len(), 1, "every run used the same device");
    assert_eq!(keys.devices[0].certificate.device_id, device_id);
}

#[tokio::test]
async fn the_operator_publishes_the_charter_from_a_file_and_reads_refusals_in_french() {
    use passerelle_server::cli::admin::{run, AdminCommand, CreateUserArgs};
    let server = TestServer::spawn().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("charte.md");
    std::fs::write(
        &file,
        "# Charte du CLSPD\n\nLes échanges sont confidentiels.",
    )
    .unwrap();
    run(&server.state, AdminCommand::PublishCharter { file })
        .await
        .unwrap();
    let version = passerelle_server::app::charter::current_charter_version(&server.state)
        .await
        .unwrap();
    assert_eq!(version, Some(1));

    run(
        &server.state,
        AdminCommand::CreateInstitution {
            name: "Mairie".into(),
            kind: "collectivite".into(),
        },
    )
    .await
    .unwrap();
    let refused = run(
        &server.state,
        AdminCommand::CreateUser(CreateUserArgs {
            login: "s1".into(),
            name: "Sophie".into(),
            institution: "Mairie".into(),
            role: "member".into(),
            secrecy: false,
            social_action: false,
        }),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        refused.contains("3 à 64 caractères") && refused.contains("invalid_login"),
        "{refused}"
    );
}

#[tokio::test]
async fn an_agent_whose_device_is_revoked_stops_instead_of_reconnecting() {
    let server = TestServer::spawn().await.unwrap();
    ensure_charter(&server).await;
    let mut coordinator = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let user = server
        .create_user("revoque", Role::Member, "Police municipale")
        .await
        .unwrap();
    let mut agent = login(&server, &user, Box::new(MemoryStore::default())).await;
    let channel = group(&mut coordinator, &[&user]).await;
    agent.accept_rules(&channel.id).await.unwrap();
    agent.send_text(&channel.id, "en ligne").await.unwrap();

    let device = agent.device().device_id.clone();
    agent
        .client()
        .request(reqwest::Method::DELETE, &format!("/keys/devices/{device}"))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let ended = loop {
        match tokio::time::timeout(GUARD, agent.next_event())
            .await
            .unwrap()
        {
            Ok(_) => continue,
            Err(err) => break err,
        }
    };
    let passerelle_shared::client::ClientError::Ended { code, reason } = ended else {
        panic!("expected the end of access, got {ended}");
    };
    assert!(matches!(code, 4004 | 4005), "{code} {reason}");
    // Final: no reconnection, the same answer at once.
    assert!(matches!(
        agent.send_text(&channel.id, "encore").await,
        Err(passerelle_shared::client::ClientError::Ended { .. })
    ));
}

/// Waits until `done` holds (checked every few milliseconds), at most [`GUARD`].
async fn until(what: &str, done: impl Fn() -> bool) {
    let waited = tokio::time::timeout(GUARD, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "never happened: {what}");
}

// Several threads: the test's own work (key derivations in a debug build) must not stall
// the server's and the agent's tasks past the shortened limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_agent_keeps_its_connection_through_many_idle_limits() {
    // The server's limits shortened a hundred times: 750 ms of silence closes a
    // connection (75 s in production), and the server pings every 250 ms.
    let server = TestServer::spawn_with(|config| {
        config.ws_idle_timeout_ms = 750;
        config.ws_ping_interval_ms = 250;
    })
    .await
    .unwrap();
    ensure_charter(&server).await;
    let mut coordinator = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    // A witness whose connection nobody reads (enrolled first: its key derivations are
    // done before the agent connects).
    let mut witness = Party::bare(&server, "temoin", Role::Member, "Mairie").await;
    let user = server
        .create_user("veille", Role::Member, "Police municipale")
        .await
        .unwrap();
    let mut agent = Agent::login(
        Box::new(MemoryStore::default()),
        Login {
            base_url: &server.url(""),
            login: &user.login,
            password: &user.password,
            totp_secret: None,
            recovery_code: None,
            new_password: None,
        },
        AgentOptions {
            // The agent's own pings are out of the picture: only answering the server's
            // pings, which needs the socket read while the application does nothing,
            // keeps the connection up.
            ping_every: Duration::from_secs(3600),
            ..options(&server)
        },
    )
    .await
    .unwrap()
    .0;
    server.clock.advance_ms(30_000);
    agent.accept_charter().await.unwrap();
    let channel = group(&mut coordinator, &[&user]).await;
    agent.accept_rules(&channel.id).await.unwrap();
    agent
        .send_text(&channel.id, "début de veille")
        .await
        .unwrap();
    assert_eq!(messages(&mut agent, 1).await[0].1, "début de veille");
    assert_eq!(server.state.hub.connections_of(&user.id), 1);

    // A witness connection that nobody reads is closed for silence; eight times in a
    // row (ten minutes' worth of 75-second limits) while the agent is left alone.
    for round in 0..8 {
        until(
            "the unread witness connection is closed for silence",
            || server.state.hub.connections_of(&witness.user.id) == 0,
        )
        .await;
        assert_eq!(
            server.state.hub.connections_of(&user.id),
            1,
            "round {round}: the idle agent lost its connection"
        );
        witness.conn = witness
            .client
            .connect(&witness.device.device_id)
            .await
            .unwrap();
    }

    // Still the first connection: no reconnection, and a message goes and comes back.
    agent.send_text(&channel.id, "toujours là").await.unwrap();
    loop {
        match agent.next_event_within(GUARD).await.unwrap() {
            Some(Event::Message { content, .. }) => {
                assert_eq!(content.text, "toujours là");
                break;
            }
            Some(Event::Reconnected) => panic!("the idle connection was dropped"),
            Some(_) => {}
            None => panic!("the message did not come back"),
        }
    }
}

#[tokio::test]
async fn an_agent_logs_in_again_when_its_session_expires_and_keeps_its_device() {
    let server = TestServer::spawn_with(|config| config.ws_session_check_ms = 50)
        .await
        .unwrap();
    ensure_charter(&server).await;
    let mut coordinator = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let user = server
        .create_user("nocturne", Role::Member, "Police municipale")
        .await
        .unwrap();
    let mut agent = login(&server, &user, Box::new(MemoryStore::default())).await;
    let device_id = agent.device().device_id.clone();
    let channel = group(&mut coordinator, &[&user]).await;
    agent.accept_rules(&channel.id).await.unwrap();
    agent.send_text(&channel.id, "avant").await.unwrap();
    assert_eq!(messages(&mut agent, 1).await, vec![(1, "avant".to_owned())]);

    // Half a day later, the session's absolute limit (12 h) has passed: the server
    // closes the connection (4004 session_expired) at its next check.
    server
        .clock
        .advance_ms(i64::from(server.state.config.session_absolute_hours) * 3_600_000 + 60_000);
    until("the expired session's connection is closed", || {
        server.state.hub.connections_of(&user.id) == 0
    })
    .await;

    // The agent logs in again with what its store holds, with the same device.
    let seq = agent.send_text(&channel.id, "après").await.unwrap();
    assert_eq!(seq, 2);
    let mut reconnected = false;
    loop {
        match agent.next_event_within(GUARD).await.unwrap() {
            Some(Event::Reconnected) => reconnected = true,
            Some(Event::Message {
                message, content, ..
            }) => {
                assert_eq!((message.seq, content.text.as_str()), (2, "après"));
                break;
            }
            Some(_) => {}
            None => panic!("the message sent after the expiry did not come back"),
        }
    }
    assert!(reconnected);
    assert_eq!(agent.device().device_id, device_id);
    let keys: UserKeys = agent
        .client()
        .get(&format!("/keys/users/{}", user.id))
        .await
        .unwrap();
    assert_eq!(
        keys.devices.len(),
        1,
        "no new device after logging in again"
    );
}

#[tokio::test]
async fn an_agent_streams_its_events_to_another_task() {
    fn send_and_sync<T: Send + Sync>(_: &T) {}
    let server = TestServer::spawn().await.unwrap();
    ensure_charter(&server).await;
    let mut coordinator = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let alice = server
        .create_user("alice", Role::Member, "Police municipale")
        .await
        .unwrap();
    let bruno = server
        .create_user("bruno", Role::Member, "Collège")
        .await
        .unwrap();
    let carla = Party::new(&server, "carla", Role::Member, "Mairie").await;
    let mut sender = login(&server, &alice, Box::new(MemoryStore::default())).await;
    let reader = login(&server, &bruno, Box::new(MemoryStore::default())).await;
    send_and_sync(&reader);
    let channel = group(&mut coordinator, &[&alice, &bruno]).await;
    sender.accept_rules(&channel.id).await.unwrap();
    reader.accept_rules(&channel.id).await.unwrap();

    // The reader's events, decrypted, in a task of their own.
    let watched = channel.id.clone();
    let carla_id = carla.user.id.clone();
    let reading = tokio::spawn(async move {
        let mut events = Box::pin(reader.into_events());
        let mut texts = Vec::new();
        let mut joined = false;
        while texts.len() < 2 || !joined {
            match events.next().await {
                Some(Ok(Event::Message {
                    message, content, ..
                })) if message.channel_id == watched => texts.push(content.text.clone()),
                Some(Ok(Event::Member {
                    user_id, change, ..
                })) => {
                    joined |= user_id == carla_id && change == "added";
                }
                Some(Ok(_)) => {}
                other => panic!("the stream ended: {:?}", other.map(|e| e.map(|_| ()))),
            }
        }
        texts
    });
    sender.send_text(&channel.id, "un").await.unwrap();
    sender.send_text(&channel.id, "deux").await.unwrap();
    coordinator
        .client
        .add_member(&coordinator.device, &channel.id, &carla.user.id, false)
        .await
        .unwrap();
    let texts = tokio::time::timeout(GUARD, reading).await.unwrap().unwrap();
    assert_eq!(texts, ["un", "deux"]);
}

/// A channel the server made, or one created before the signed log, has none (§22.4):
/// an agent whose account coordinates it starts it, with a genesis its device signs,
/// as a coordinator's browser does when it opens the channel; a member's agent does not.
#[tokio::test]
async fn a_coordinators_agent_starts_the_log_of_a_channel_without_one() {
    let server = TestServer::spawn().await.unwrap();
    ensure_charter(&server).await;
    let mut creator = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let lea = server
        .create_user("lea", Role::Coordinator, "Mairie")
        .await
        .unwrap();
    let bruno = server
        .create_user("bruno", Role::Member, "Collège")
        .await
        .unwrap();
    let mut member = login(&server, &bruno, Box::new(MemoryStore::default())).await;
    let mut coordinator = login(&server, &lea, Box::new(MemoryStore::default())).await;
    let channel = group_without_log(&mut creator, &[&lea, &bruno]).await;
    member.accept_rules(&channel.id).await.unwrap();
    coordinator.accept_rules(&channel.id).await.unwrap();

    // The member's agent may not send: the channel stays without a log, nothing is wrapped.
    assert!(matches!(
        member.send_text(&channel.id, "bonjour").await,
        Err(passerelle_shared::client::ClientError::MembershipLogMissing(_))
    ));
    assert_eq!(
        count_rows(&server, "membership_log", "channel_id", &channel.id).await,
        0
    );
    assert_eq!(
        count_rows(&server, "epoch_keys", "channel_id", &channel.id).await,
        0
    );
    assert!(creator
        .client
        .verified_membership(&channel.id)
        .await
        .unwrap()
        .is_none());

    // The coordinator's agent sends: it starts the log first, signed by its device.
    coordinator
        .send_text(&channel.id, "bonjour à tous")
        .await
        .unwrap();
    let log: passerelle_shared::protocol::v1::channels::MembershipLog = creator
        .client
        .get(&format!("/channels/{}/membership-log", channel.id))
        .await
        .unwrap();
    let genesis = log.records.first().expect("a genesis");
    assert_eq!(genesis.kind, "genesis");
    assert_eq!(genesis.actor, lea.id);
    assert_eq!(genesis.actor_device, coordinator.device().device_id);
    let state = creator
        .client
        .verified_membership(&channel.id)
        .await
        .unwrap()
        .expect("every member verifies it");
    let mut want = vec![creator.user.id.clone(), lea.id.clone(), bruno.id.clone()];
    want.sort();
    assert_eq!(state.members.iter().cloned().collect::<Vec<_>>(), want);
    assert!(state.coordinators.contains(&lea.id) && !state.coordinators.contains(&bruno.id));

    // Once: sending again signs nothing more.
    coordinator.send_text(&channel.id, "suite").await.unwrap();
    assert_eq!(
        count_rows(&server, "membership_log", "channel_id", &channel.id).await,
        1
    );
    // The member now writes, for the members the log vouches for.
    member.send_text(&channel.id, "bonjour").await.unwrap();
}

//! A withheld or rolled-back tail, as the SDK's agent sees it (issue 17 item 3, docs/
//! PROTOCOL.md §8.8): the agent read a colleague's messages and stored their order marks;
//! between two runs the operator deletes the newest message and moves the channel's end
//! back. The catch-up cannot tell (the server answers from the cursors the agent gives),
//! but the channel's end now lies before a message the agent saw: it says so.

use std::sync::Arc;
use std::time::Duration;

use passerelle_server::clock::Clock;
use passerelle_shared::client::store::{EncryptedFileStore, SecretString, StoreKey};
use passerelle_shared::client::{Agent, AgentOptions, Event, Login};
use passerelle_shared::crypto::OrderAnomaly;
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;
use sea_orm::{ConnectionTrait, Statement};

use passerelle_shared::protocol::v1::channels::{Channel, ChannelKind, CreateChannel, LegalRegime};

use crate::support::{ensure_charter, Party};

const GUARD: Duration = Duration::from_secs(20);

fn options(server: &TestServer) -> AgentOptions {
    let clock = server.clock.clone();
    AgentOptions {
        now_ms: Arc::new(move || clock.now_ms()),
        device_name: "Agent de test".into(),
        ..AgentOptions::default()
    }
}

async fn exec(server: &TestServer, sql: &str, channel_id: &str) {
    let db = &server.state.db;
    let backend = db.get_database_backend();
    let sql = if backend == sea_orm::DbBackend::Postgres {
        sql.replace('?', "$1")
    } else {
        sql.to_owned()
    };
    db.execute(Statement::from_sql_and_values(
        backend,
        sql,
        [channel_id.into()],
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn an_agent_reports_the_tail_a_server_rolled_back_between_two_runs() {
    let server = TestServer::spawn().await.unwrap();
    ensure_charter(&server).await;
    let mut karim = Party::new(&server, "karim", Role::Coordinator, "Mairie").await;
    let reader = server
        .create_user("veilleur", Role::Member, "Police municipale")
        .await
        .unwrap();
    let channel: Channel = karim
        .client
        .post(
            "/channels",
            &CreateChannel {
                kind: ChannelKind::WorkingGroup,
                name: "Veille".into(),
                regime: LegalRegime::ClspdConfidential,
                institutions: vec![reader.institution_id.clone().into()],
                members: vec![reader.id.clone().into()],
            },
        )
        .await
        .unwrap();
    karim
        .publish_rules(&channel.id, "# Règlement\n\nRègles du groupe.")
        .await;
    karim.accept_rules(&channel.id).await;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.store");
    let store = || {
        Box::new(
            EncryptedFileStore::open(&path, StoreKey::Passphrase(SecretString::new("phrase")))
                .unwrap(),
        )
    };
    server.clock.advance_ms(30_000);
    let base = server.url("");
    let (mut agent, _) = Agent::login(
        store(),
        Login {
            base_url: &base,
            login: &reader.login,
            password: &reader.password,
            totp_secret: None,
            recovery_code: None,
            new_password: None,
        },
        options(&server),
    )
    .await
    .unwrap();
    agent.accept_charter().await.unwrap();
    agent.accept_rules(&channel.id).await.unwrap();
    for text in ["un", "deux"] {
        let id = karim.send_text(&channel.id, text).await;
        karim.ack(&id).await;
    }
    let mut read = 0;
    while read < 2 {
        match agent.next_event_within(GUARD).await.unwrap() {
            Some(Event::Message { order, .. }) => {
                assert!(order.is_empty(), "{order:?}");
                read += 1;
            }
            Some(Event::TailMissing { .. }) => panic!("no tail is missing yet"),
            Some(_) => {}
            None => panic!("only {read} message(s)"),
        }
    }
    agent.commit().unwrap();
    agent.close().await.unwrap();

    // The operator drops the newest message and moves the channel's end back.
    exec(
        &server,
        "DELETE FROM messages WHERE channel_id = ? AND seq = (SELECT MAX(seq) FROM messages m2 WHERE m2.channel_id = messages.channel_id)",
        &channel.id,
    )
    .await;
    exec(
        &server,
        "UPDATE channels SET last_seq = last_seq - 1 WHERE id = ?",
        &channel.id,
    )
    .await;

    server.clock.advance_ms(30_000);
    let mut agent = Agent::open(store(), options(&server)).await.unwrap();
    agent.sync().await.unwrap();
    let mut found = None;
    while let Some(event) = agent
        .next_event_within(Duration::from_secs(2))
        .await
        .unwrap()
    {
        if let Event::TailMissing {
            channel_id,
            notices,
        } = event
        {
            found = Some((channel_id, notices));
            break;
        }
    }
    let (channel_id, notices) = found.expect("the missing tail is reported");
    assert_eq!(channel_id, channel.id);
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].sender_device, karim.device.device_id);
    assert!(matches!(notices[0].anomaly, OrderAnomaly::Missing { .. }));

    // Reported once per run, not at every catch-up.
    agent.sync().await.unwrap();
    while let Some(event) = agent
        .next_event_within(Duration::from_secs(1))
        .await
        .unwrap()
    {
        assert!(
            !matches!(event, Event::TailMissing { .. }),
            "reported twice"
        );
    }
}

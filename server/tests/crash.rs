//! Crash consistency (issue 10): a real `passerelle serve` process is killed with SIGKILL
//! at random moments while a client sends; after each restart every acknowledged
//! message is present exactly once, in a dense order, clients resume from their cursors,
//! and the access log still verifies. On SQLite, and on PostgreSQL when reachable.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use passerelle_shared::client::{Client, Connection};
use passerelle_shared::crypto::MessageContent;
use passerelle_shared::protocol::v1::channels::{
    Channel, ChannelKind, CreateChannel, HistoryPage, LegalRegime,
};
use passerelle_shared::protocol::v1::ws::{ClientFrame, ServerFrame};
use ring::rand::SecureRandom;

/// A node of the test, restarted on the same data and port after each kill.
struct Node {
    dir: PathBuf,
    port: u16,
    database_url: Option<String>,
    child: Option<Child>,
}

impl Node {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_passerelle"));
        command
            .args(args)
            .env("PASSERELLE_DATA_DIR", self.dir.join("data"))
            .env("PASSERELLE_TLS", "false")
            .env("PASSERELLE_LISTEN", format!("127.0.0.1:{}", self.port))
            .env(
                "PASSERELLE_AUDIT__LOG_KEY_FILE",
                self.dir.join("keys").join("audit-log.key"),
            )
            .env("PASSERELLE_AUDIT__GENERATE_LOG_KEY", "true")
            // The admin here publishes the charter with TOTP; passkeys have their own tests.
            .env("PASSERELLE_WEBAUTHN__REQUIRED_ROLES", "[]")
            .current_dir(&self.dir);
        if let Some(url) = &self.database_url {
            command.env("PASSERELLE_DATABASE_URL", url);
        }
        command
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = self.command(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts the server and returns once it logged that it is serving.
    fn start(&mut self) {
        let mut child = self
            .command(&["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        loop {
            let line = lines
                .next()
                .expect("the server exited before serving")
                .unwrap();
            if line.contains("Passerelle is serving") {
                break;
            }
        }
        // Keep draining the logs so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap(); // SIGKILL: no shutdown, no flush.
            child.wait().unwrap();
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn password_of(output: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix("One-time password (hand it over in person): "))
        .unwrap()
        .trim()
        .to_owned()
}

async fn login(url: &str, login: &str, password: &str) -> Client {
    let mut client = Client::login(url, login, password, |challenge| {
        let secret = challenge.enrolment.as_ref().unwrap().secret_base32.clone();
        let secret = totp_rs::Secret::Encoded(secret).to_bytes().unwrap();
        totp_rs::TOTP::new(
            totp_rs::Algorithm::SHA1,
            6,
            1,
            30,
            secret,
            None,
            String::new(),
        )
        .unwrap()
        .generate_current()
        .unwrap()
    })
    .await
    .unwrap();
    // Accounts created on the command line have a provisional password: replaced first.
    if client.me.password_change_required {
        client
            .change_password(password, &format!("{password} choisi"))
            .await
            .unwrap();
    }
    client
}

fn random_below(bound: u32) -> u32 {
    let mut bytes = [0u8; 4];
    ring::rand::SystemRandom::new().fill(&mut bytes).unwrap();
    u32::from_le_bytes(bytes) % bound
}

/// Waits for the answer to `client_msg_id`: `Some(seq)`, or `None` if the connection died.
async fn answer(conn: &mut Connection, client_msg_id: &str) -> Option<u64> {
    loop {
        match conn.next().await? {
            ServerFrame::Ack {
                client_msg_id: id,
                seq,
                ..
            } if id == client_msg_id => return Some(seq),
            ServerFrame::Error {
                reference, code, ..
            } if reference.as_deref() == Some(client_msg_id) => {
                panic!("send refused: {code}")
            }
            _ => {}
        }
    }
}

async fn crash_run(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node {
        dir: dir.path().to_path_buf(),
        port: free_port(),
        database_url,
        child: None,
    };
    node.cli(&[
        "admin",
        "create-institution",
        "Mairie",
        "--kind",
        "collectivite",
    ]);
    node.cli(&["admin", "create-institution", "CCAS", "--kind", "ccas"]);
    let coord_pw = password_of(&node.cli(&[
        "admin",
        "create-user",
        "--login",
        "coord",
        "--name",
        "C",
        "--institution",
        "Mairie",
        "--role",
        "coordinator",
    ]));
    let member_pw = password_of(&node.cli(&[
        "admin",
        "create-user",
        "--login",
        "membre",
        "--name",
        "M",
        "--institution",
        "CCAS",
        "--role",
        "member",
    ]));
    let admin_pw = password_of(&node.cli(&[
        "admin",
        "create-user",
        "--login",
        "admin",
        "--name",
        "A",
        "--institution",
        "Mairie",
        "--role",
        "admin",
    ]));
    node.start();
    let url = node.url();
    let mut sender = login(&url, "coord", &coord_pw).await;
    let mut receiver = login(&url, "membre", &member_pw).await;
    // The charter gate: published by the admin, accepted by both (a direct conversation
    // needs no group rules).
    let admin = login(&url, "admin", &admin_pw).await;
    let charter: serde_json::Value = admin
        .post(
            "/admin/charters",
            &serde_json::json!({ "text": "# Charte\n\nConfidentialité." }),
        )
        .await
        .unwrap();
    for client in [&sender, &receiver] {
        client
            .post_empty(
                "/charter/accept",
                &serde_json::json!({ "version": charter["version"] }),
            )
            .await
            .unwrap();
    }
    let mut sender_device = sender.enrol_first_device("poste").await.unwrap().device;
    let receiver_device = receiver.enrol_first_device("poste").await.unwrap().device;
    let channel: Channel = sender
        .post(
            "/channels",
            &CreateChannel {
                kind: ChannelKind::Direct,
                name: String::new(),
                regime: LegalRegime::ClspdConfidential,
                institutions: Vec::new(),
                members: vec![receiver.me.id.clone()],
            },
        )
        .await
        .unwrap();

    let kills = 4;
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    let mut conn = sender.connect(&sender_device.device_id).await.unwrap();
    for kill in 0..=kills {
        let kill_after = if kill < kills {
            5 + random_below(60)
        } else {
            40
        };
        let mut sent = 0;
        while sent < kill_after {
            let envelope = sender
                .seal(
                    &mut sender_device,
                    &channel.id,
                    &MessageContent::text(format!("k{kill} m{sent}")),
                )
                .await
                .unwrap();
            let id = envelope.client_msg_id.clone();
            let frame = ClientFrame::Send {
                channel_id: channel.id.clone(),
                envelope,
            };
            conn.send(&frame).await.unwrap();
            let crash_now = kill < kills && sent + 1 == kill_after;
            if crash_now {
                // Killed with the send in flight: committed or not, never acked twice.
                node.kill();
                node.start();
                conn = sender.connect(&sender_device.device_id).await.unwrap();
                conn.send(&frame).await.unwrap();
            }
            let seq = match answer(&mut conn, &id).await {
                Some(seq) => seq,
                None => panic!("connection lost without a kill"),
            };
            if let Some(previous) = acked.insert(seq, id.clone()) {
                panic!("seq {seq} acked for {previous} and {id}");
            }
            sent += 1;
        }
    }

    // Every acked message exactly once, dense, in the acked order.
    let mut stored = Vec::new();
    let mut after = 0;
    loop {
        let page: HistoryPage = sender
            .get(&format!(
                "/channels/{}/messages?after_seq={after}&limit=500",
                channel.id
            ))
            .await
            .unwrap();
        after = page.messages.last().map_or(after, |m| m.seq);
        stored.extend(page.messages);
        if !page.has_more {
            break;
        }
    }
    let seqs: Vec<u64> = stored.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=stored.len() as u64).collect::<Vec<_>>(), "dense");
    let ids: HashSet<_> = stored
        .iter()
        .map(|m| m.envelope.client_msg_id.clone())
        .collect();
    assert_eq!(ids.len(), stored.len(), "no duplicate");
    for (seq, id) in &acked {
        assert_eq!(
            &stored[(*seq - 1) as usize].envelope.client_msg_id,
            id,
            "acked seq {seq}"
        );
    }
    assert_eq!(
        stored.len(),
        acked.len(),
        "nothing stored that was not acked in the end"
    );

    // The receiver resumes from its cursor (half-way) and gets the rest exactly once.
    let mut rconn = receiver.connect(&receiver_device.device_id).await.unwrap();
    let half = stored.len() as u64 / 2;
    rconn.cursors.insert(channel.id.clone(), half);
    rconn.sync().await.unwrap();
    let mut delivered = Vec::new();
    loop {
        match rconn.next().await.unwrap() {
            ServerFrame::Message(m) => delivered.extend(rconn.accept(m)),
            ServerFrame::Synced { .. } => break,
            _ => {}
        }
    }
    assert_eq!(
        delivered.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (half + 1..=stored.len() as u64).collect::<Vec<_>>()
    );
    let last = delivered.last().unwrap();
    assert!(receiver
        .open(&receiver_device, last)
        .await
        .unwrap()
        .text
        .starts_with(&format!("k{kills} ")));

    node.kill();
    let verify = node.command(&["audit", "verify"]).output().unwrap();
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[tokio::test]
async fn sigkill_under_load_loses_and_duplicates_nothing_on_sqlite() {
    crash_run(None).await;
}

#[tokio::test]
async fn sigkill_under_load_loses_and_duplicates_nothing_on_postgresql() {
    use sea_orm::ConnectionTrait;
    let admin = std::env::var("PASSERELLE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("passerelle_crash_{}", std::process::id());
    let db = sea_orm::Database::connect(&admin)
        .await
        .expect("PostgreSQL must be reachable");
    db.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
    db.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    crash_run(Some(url)).await;
    db.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
}

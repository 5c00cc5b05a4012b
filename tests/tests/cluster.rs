//! Cluster mode (issue 9, docs/ARCHITECTURE.md): three real `passerelle serve` processes on one
//! PostgreSQL database and one Redis, with a key prefix of their own, sharing the server
//! secret and the audit signing key as a deployment's nodes do.
//!
//! Members are connected to different nodes on purpose. Clients behave as the SDK's
//! users should: they deliver messages in `seq` order through `Connection::accept`, and
//! repair a gap that stays open for a moment — a notification Redis lost, or a node that
//! died before publishing — with `sync` from their cursors; when their node dies they
//! reconnect to another one and resume from the same cursors.
//!
//! The server binary is the one cargo builds beside this test (`cargo test --workspace`
//! builds it; so does `cargo build -p passerelle-server --bin passerelle`), or the one
//! `PASSERELLE_BIN` names.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use passerelle_server::audit::Actor;
use passerelle_server::clock::SystemClock;
use passerelle_server::config::Config;
use passerelle_server::AppState;
use passerelle_shared::client::{Client, Connection, Device};
use passerelle_shared::crypto::{Envelope, MessageContent};
use passerelle_shared::protocol::v1::admin::CreateAccount;
use passerelle_shared::protocol::v1::auth::{
    LoginChallenge, LoginRequest, Me, SessionOpened, TotpRequest,
};
use passerelle_shared::protocol::v1::channels::{
    Channel, ChannelKind, CreateChannel, HistoryPage, LegalRegime, RemoveMember, StoredMessage,
};
use passerelle_shared::protocol::v1::charter::{
    Accept, CharterStatus, PublishText, RulesStatus, RulesVersion,
};
use passerelle_shared::protocol::v1::ws::{ClientFrame, ServerFrame};
use passerelle_shared::protocol::v1::{Attributes, Role};
use passerelle_tests::pg::TestDatabase;
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// How long a test waits for something that should happen, before failing.
const GUARD: Duration = Duration::from_secs(30);
/// How long a client lets a gap in the sequence stay open before it syncs.
const GAP_PATIENCE: Duration = Duration::from_millis(400);

fn redis_url() -> String {
    std::env::var("PASSERELLE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The `passerelle` binary cargo built next to this test, or `PASSERELLE_BIN`.
fn server_binary() -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var("PASSERELLE_BIN") {
        return Ok(PathBuf::from(path));
    }
    // This test runs from <target>/<profile>/deps/; the binary is in <target>/<profile>/.
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("unexpected test binary location")?;
    let binary = profile_dir.join(format!("passerelle{}", std::env::consts::EXE_SUFFIX));
    if !binary.exists() {
        bail!(
            "{} is missing: build it with `cargo build -p passerelle-server --bin passerelle` \
             (or set PASSERELLE_BIN)",
            binary.display()
        );
    }
    Ok(binary)
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// One `passerelle serve` process.
struct Node {
    child: Child,
    url: String,
    log: PathBuf,
}

/// Three nodes, their database and their Redis prefix; everything is removed on drop.
struct Cluster {
    nodes: Vec<Option<Node>>,
    dir: tempfile::TempDir,
    prefix: String,
    /// The application on the same database, in this process and without Redis: only
    /// for what an administrator does (institutions, accounts).
    admin: AppState,
    db: TestDatabase,
    /// The Redis the nodes use.
    redis: String,
    /// Extra environment of every node.
    env: Vec<(String, String)>,
}

impl Cluster {
    async fn start(size: usize) -> anyhow::Result<Cluster> {
        Cluster::start_on(size, redis_url(), Vec::new()).await
    }

    async fn start_on(
        size: usize,
        redis: String,
        env: Vec<(String, String)>,
    ) -> anyhow::Result<Cluster> {
        let db = TestDatabase::create().await?;
        let dir = tempfile::tempdir()?;
        let prefix = format!("passerelle-test-{}:", uuid::Uuid::new_v4().simple());
        // Creates the schema, the server secret and the audit signing key once, before
        // the nodes start: all of them must use the same.
        let admin = AppState::build(
            Config {
                data_dir: dir.path().join("admin"),
                database_url: Some(db.url.clone()),
                secret_key_file: Some(dir.path().join("server.key")),
                tls: false,
                audit: passerelle_server::config::AuditConfig {
                    signing_key_file: Some(dir.path().join("audit-signing.p8")),
                    // The access log's checkpoint key, shared by every node, created once.
                    log_key_file: Some(dir.path().join("audit-log.key")),
                    generate_log_key: true,
                    ..Default::default()
                },
                ..Config::default()
            },
            Arc::new(SystemClock),
        )
        .await?;
        // The charter gate (CHARTER.md C2): a charter in force, which every member accepts.
        passerelle_server::app::charter::publish_charter(
            &admin,
            Actor::default(),
            "test-admin",
            "# Charte de test\n\nLes échanges du groupe sont confidentiels.",
        )
        .await?;
        let mut cluster = Cluster {
            nodes: Vec::new(),
            dir,
            prefix,
            admin,
            db,
            redis,
            env,
        };
        for index in 0..size {
            let node = cluster.spawn_node(index)?;
            cluster.nodes.push(Some(node));
        }
        for index in 0..size {
            cluster.wait_ready(index).await?;
        }
        Ok(cluster)
    }

    fn spawn_node(&self, index: usize) -> anyhow::Result<Node> {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let data_dir = self.dir.path().join(format!("node{index}"));
        std::fs::create_dir_all(&data_dir)?;
        let log = self.dir.path().join(format!("node{index}.log"));
        let mut command = Command::new(server_binary()?);
        // The suites sign admins in with TOTP; the WebAuthn test sets its own policy.
        command.env("PASSERELLE_WEBAUTHN__REQUIRED_ROLES", "[]");
        command.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let child = command
            .arg("serve")
            // A configuration file that does not exist: only the environment counts.
            .env("PASSERELLE_CONFIG", self.dir.path().join("none.toml"))
            .env("PASSERELLE_LISTEN", addr.to_string())
            .env("PASSERELLE_DATA_DIR", &data_dir)
            .env("PASSERELLE_TLS", "false")
            // Behind a load balancer: the tests set X-Forwarded-For to act as several
            // client addresses.
            .env("PASSERELLE_BEHIND_PROXY", "true")
            .env("PASSERELLE_DATABASE_URL", &self.db.url)
            .env("PASSERELLE_REDIS_URL", &self.redis)
            .env("PASSERELLE_REDIS_PREFIX", &self.prefix)
            .env(
                "PASSERELLE_SECRET_KEY_FILE",
                self.dir.path().join("server.key"),
            )
            .env(
                "PASSERELLE_AUDIT__LOG_KEY_FILE",
                self.dir.path().join("audit-log.key"),
            )
            .env(
                "PASSERELLE_AUDIT__SIGNING_KEY_FILE",
                self.dir.path().join("audit-signing.p8"),
            )
            .env("PASSERELLE_IP_ATTEMPTS_PER_WINDOW", "6")
            .env("PASSERELLE_LOCKOUT_THRESHOLD", "5")
            .env("PASSERELLE_LOG", "info,sqlx=warn,sea_orm=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true)
            .spawn()
            .context("cannot start passerelle serve")?;
        Ok(Node {
            child,
            url: format!("http://{addr}"),
            log,
        })
    }

    async fn wait_ready(&mut self, index: usize) -> anyhow::Result<()> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let started = Instant::now();
        let node = self.nodes[index].as_mut().context("node stopped")?;
        loop {
            if let Ok(response) = http.get(format!("{}/readyz", node.url)).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            if let Some(status) = node.child.try_wait()? {
                bail!("node {index} exited ({status}):\n{}", tail(&node.log, 40));
            }
            if started.elapsed() > GUARD {
                bail!(
                    "node {index} did not become ready:\n{}",
                    tail(&node.log, 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn url(&self, index: usize) -> String {
        self.nodes[index]
            .as_ref()
            .map(|node| node.url.clone())
            .unwrap_or_default()
    }

    /// Kills a node with SIGKILL: no graceful shutdown, no last words.
    async fn kill(&mut self, index: usize) -> anyhow::Result<()> {
        if let Some(mut node) = self.nodes[index].take() {
            node.child.start_kill()?;
            node.child.wait().await?;
        }
        Ok(())
    }

    async fn institution(&self, name: &str) -> anyhow::Result<String> {
        let existing = passerelle_server::app::accounts::list_institutions(&self.admin).await?;
        if let Some(found) = existing.into_iter().find(|i| i.name == name) {
            return Ok(found.id.into_string());
        }
        Ok(passerelle_server::app::accounts::create_institution(
            &self.admin,
            Actor::default(),
            name,
            passerelle_shared::protocol::v1::InstitutionKind::ActionSocialeDepartement,
        )
        .await?
        .id
        .into_string())
    }

    /// Creates an account and returns its login and one-time password.
    async fn account(
        &self,
        login: &str,
        role: Role,
        institution: &str,
    ) -> anyhow::Result<(String, String)> {
        let institution_id = self.institution(institution).await?;
        let (account, password) = passerelle_server::app::accounts::create_account(
            &self.admin,
            Actor::default(),
            CreateAccount {
                login: login.into(),
                display_name: format!("Test {login}"),
                institution_id: institution_id.into(),
                role,
                attributes: Attributes::default(),
            },
        )
        .await?;
        Ok((account.login, password.to_string()))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for node in self.nodes.iter().flatten() {
                eprintln!("--- {} ---\n{}", node.log.display(), tail(&node.log, 30));
            }
        }
        for node in self.nodes.iter_mut().flatten() {
            let _ = node.child.start_kill();
        }
        delete_redis_keys(&self.redis, &self.prefix);
    }
}

/// The last lines of a log file.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Deletes the keys a test cluster left in Redis (its throttle counters), with one `EVAL`
/// in the Redis protocol; best effort.
fn delete_redis_keys(url: &str, prefix: &str) {
    let host = url
        .trim_start_matches("redis://")
        .split(['/', '?'])
        .next()
        .unwrap_or("127.0.0.1:6379")
        .to_owned();
    let script =
        "for _, key in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', key) end return 1";
    let pattern = format!("{prefix}*");
    let mut command = String::from("*4\r\n");
    for arg in ["EVAL", script, "0", &pattern] {
        command.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    if let Ok(mut stream) = std::net::TcpStream::connect(host) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        if stream.write_all(command.as_bytes()).is_ok() {
            let _ = stream.read(&mut [0u8; 64]);
        }
    }
}

/// Logs in on `url` with password and TOTP (enrolling the authenticator), as the web
/// client would; returns the bearer token and the account.
async fn login(url: &str, login: &str, password: &str) -> anyhow::Result<(String, Me)> {
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{url}/api/v1/auth/login"))
        .json(&LoginRequest {
            login: login.into(),
            password: password.into(),
        })
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "password step: {}",
        response.status()
    );
    let challenge: LoginChallenge = response.json().await?;
    let enrolment = challenge.enrolment.context("a first login enrols TOTP")?;
    let secret = passerelle_tests::base32_decode(&enrolment.secret_base32)?;
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis(),
    )?;
    let code = passerelle_tests::totp_code(&secret, login, now_ms)?;
    let response = http
        .post(format!("{url}/api/v1/auth/totp"))
        .json(&TotpRequest {
            challenge: challenge.challenge,
            code,
            bearer: true,
        })
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "TOTP step: {}",
        response.status()
    );
    let opened: SessionOpened = response.json().await?;
    Ok((opened.token.context("no bearer token")?, opened.me))
}

/// A person with an enrolled device, connected to one node.
struct Member {
    token: String,
    me: Me,
    client: Client,
    device: Device,
    conn: Connection,
}

impl Member {
    async fn new(
        cluster: &Cluster,
        login_name: &str,
        role: Role,
        institution: &str,
        node: usize,
    ) -> Member {
        let (login_name, password) = cluster
            .account(login_name, role, institution)
            .await
            .unwrap();
        let url = cluster.url(node);
        let (token, me) = login(&url, &login_name, &password).await.unwrap();
        let mut client = Client::with_token(&url, token.clone(), me.clone());
        let enrolment = client.enrol_first_device("Poste de test").await.unwrap();
        let status: CharterStatus = client.get("/charter").await.unwrap();
        let version = status.current.expect("a charter is published").version;
        client
            .post_empty("/charter/accept", &Accept { version })
            .await
            .unwrap();
        let conn = client.connect(&enrolment.device.device_id).await.unwrap();
        Member {
            token,
            me,
            client,
            device: enrolment.device,
            conn,
        }
    }

    fn id(&self) -> String {
        self.me.id.to_string()
    }

    fn institution(&self) -> String {
        self.me.institution.id.to_string()
    }

    /// A second connection of the same device and session, on another node.
    async fn also_on(&self, url: &str) -> Connection {
        Client::with_token(url, self.token.clone(), self.me.clone())
            .connect(&self.device.device_id)
            .await
            .unwrap()
    }

    /// Moves to the node at `url` (its own died): same session, same device, same
    /// cursors; asks for everything after them.
    async fn fail_over(&mut self, url: &str) {
        let cursors = self.conn.cursors.clone();
        self.client = Client::with_token(url, self.token.clone(), self.me.clone());
        let started = Instant::now();
        self.conn = loop {
            match self.client.connect(&self.device.device_id).await {
                Ok(conn) => break conn,
                Err(err) if started.elapsed() < GUARD => {
                    eprintln!("reconnecting: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(err) => panic!("cannot fail over to {url}: {err}"),
            }
        };
        self.conn.cursors = cursors;
        self.conn.sync().await.unwrap();
    }

    async fn seal(&mut self, channel_id: &str, text: &str) -> Envelope {
        self.client
            .seal(&mut self.device, channel_id, &MessageContent::text(text))
            .await
            .unwrap()
    }

    async fn send(&mut self, channel_id: &str, envelope: Envelope) {
        self.conn
            .send(&ClientFrame::Send {
                channel_id: channel_id.into(),
                envelope,
            })
            .await
            .unwrap();
    }

    /// Waits for the ack of `client_msg_id`; returns its seq.
    async fn ack(&mut self, client_msg_id: &str) -> u64 {
        loop {
            match self.next().await {
                Some(ServerFrame::Ack {
                    client_msg_id: id,
                    seq,
                    ..
                }) if id == client_msg_id => return seq,
                Some(ServerFrame::Error {
                    reference, code, ..
                }) if reference.as_deref() == Some(client_msg_id) => panic!("send refused: {code}"),
                Some(ServerFrame::Message(message)) => {
                    self.conn.accept(message);
                }
                Some(_) => {}
                None => panic!("no ack for {client_msg_id}: {:?}", self.conn.closed),
            }
        }
    }

    async fn next(&mut self) -> Option<ServerFrame> {
        self.conn.next_within(GUARD).await
    }

    /// Receives until `count` more messages are delivered in order. With `repair`, a gap
    /// still open after [`GAP_PATIENCE`] is filled with `sync`; without, every message
    /// must arrive live.
    async fn receive(&mut self, count: usize, repair: bool) -> Vec<StoredMessage> {
        self.collect(count, repair, None, None).await
    }

    /// [`Member::receive`], moving to `fallback` if the connection ends, and telling
    /// `progress` how many messages were delivered so far.
    async fn collect(
        &mut self,
        count: usize,
        repair: bool,
        fallback: Option<&str>,
        progress: Option<&watch::Sender<usize>>,
    ) -> Vec<StoredMessage> {
        let mut delivered = Vec::new();
        let mut highest: BTreeMap<String, u64> = BTreeMap::new();
        let mut gap_since: Option<Instant> = None;
        let started = Instant::now();
        while delivered.len() < count {
            assert!(
                started.elapsed() < GUARD * 2,
                "received {} of {count} messages",
                delivered.len()
            );
            match tokio::time::timeout(GAP_PATIENCE, self.conn.next()).await {
                Ok(Some(ServerFrame::Message(message))) => {
                    let seen = highest.entry(message.channel_id.to_string()).or_default();
                    *seen = (*seen).max(message.seq);
                    delivered.extend(self.conn.accept(message));
                    if let Some(progress) = progress {
                        let _ = progress.send(delivered.len());
                    }
                }
                Ok(Some(_)) | Err(_) => {}
                Ok(None) => match fallback {
                    Some(url) => self.fail_over(url).await,
                    None => panic!("connection ended: {:?}", self.conn.closed),
                },
            }
            let gap = highest.iter().any(|(channel, seq)| {
                self.conn
                    .cursors
                    .get(channel.as_str())
                    .copied()
                    .unwrap_or(0)
                    < *seq
            });
            if !gap {
                gap_since = None;
            } else if gap_since.get_or_insert_with(Instant::now).elapsed() >= GAP_PATIENCE && repair
            {
                self.conn.sync().await.unwrap();
                gap_since = None;
            }
        }
        delivered
    }

    /// The channel's whole history, from the node this member uses.
    async fn history(&self, channel_id: &str) -> Vec<StoredMessage> {
        let mut messages: Vec<StoredMessage> = Vec::new();
        loop {
            let after = messages.last().map_or(0, |m| m.seq);
            let page: HistoryPage = self
                .client
                .get(&format!(
                    "/channels/{channel_id}/messages?after_seq={after}&limit=500"
                ))
                .await
                .unwrap();
            messages.extend(page.messages);
            if !page.has_more {
                return messages;
            }
        }
    }
}

/// A working group created by `coordinator` with `members`, whose internal rules the
/// coordinator publishes and everyone accepts.
async fn working_group(coordinator: &Member, members: &[&Member]) -> Channel {
    let channel: Channel = coordinator
        .client
        .post(
            "/channels",
            &CreateChannel {
                kind: ChannelKind::WorkingGroup,
                name: "Groupe intercommunal".into(),
                regime: LegalRegime::ClspdConfidential,
                institutions: members.iter().map(|m| m.institution().into()).collect(),
                members: members.iter().map(|m| m.id().into()).collect(),
            },
        )
        .await
        .unwrap();
    let _: RulesVersion = coordinator
        .client
        .post(
            &format!("/channels/{}/rules", channel.id),
            &PublishText {
                text: "# Règlement intérieur\n\nRègles du groupe.".into(),
            },
        )
        .await
        .unwrap();
    for member in std::iter::once(coordinator).chain(members.iter().copied()) {
        let status: RulesStatus = member
            .client
            .get(&format!("/channels/{}/rules", channel.id))
            .await
            .unwrap();
        let version = status.current.expect("rules are published").version;
        member
            .client
            .post_empty(
                &format!("/channels/{}/rules/accept", channel.id),
                &Accept { version },
            )
            .await
            .unwrap();
    }
    channel
}

fn ids(messages: &[StoredMessage]) -> Vec<(u64, String)> {
    messages
        .iter()
        .map(|m| (m.seq, m.envelope.client_msg_id.clone()))
        .collect()
}

#[tokio::test]
async fn a_message_sent_to_one_node_reaches_members_connected_to_the_others() {
    let cluster = Cluster::start(3).await.unwrap();
    let mut police = Member::new(
        &cluster,
        "coord.police",
        Role::Coordinator,
        "Police nationale",
        0,
    )
    .await;
    let mut school = Member::new(
        &cluster,
        "cpe.college",
        Role::Member,
        "Éducation nationale",
        1,
    )
    .await;
    let mut social = Member::new(&cluster, "as.ccas", Role::Member, "CCAS", 2).await;
    let channel = working_group(&police, &[&school, &social]).await;

    let envelope = police
        .seal(&channel.id, "Réunion jeudi, situation du quartier nord")
        .await;
    let id = envelope.client_msg_id.clone();
    police.send(&channel.id, envelope).await;
    assert_eq!(police.ack(&id).await, 1);
    for member in [&mut school, &mut social] {
        // Live, through Redis: no sync allowed.
        let message = member.receive(1, false).await.remove(0);
        let content = member.client.open(&member.device, &message).await.unwrap();
        assert_eq!(
            (message.seq, content.text.as_str()),
            (1, "Réunion jeudi, situation du quartier nord")
        );
        assert_eq!(message.sender, police.id());
    }

    let envelope = social.seal(&channel.id, "Je serai là.").await;
    let id = envelope.client_msg_id.clone();
    social.send(&channel.id, envelope).await;
    assert_eq!(social.ack(&id).await, 2);
    for member in [&mut police, &mut school] {
        let message = member.receive(1, false).await.remove(0);
        let content = member.client.open(&member.device, &message).await.unwrap();
        assert_eq!((message.seq, content.text.as_str()), (2, "Je serai là."));
    }
}

#[tokio::test]
async fn concurrent_senders_on_different_nodes_get_one_dense_order() {
    let cluster = Cluster::start(3).await.unwrap();
    let mut a = Member::new(&cluster, "coord", Role::Coordinator, "Mairie", 0).await;
    let mut b = Member::new(&cluster, "membre.b", Role::Member, "CCAS", 1).await;
    let mut c = Member::new(&cluster, "membre.c", Role::Member, "PJJ", 2).await;
    let channel = working_group(&a, &[&b, &c]).await;
    // One epoch for all, so that the sends below race for sequence numbers only.
    let opening = a.seal(&channel.id, "ouverture").await;
    let id = opening.client_msg_id.clone();
    a.send(&channel.id, opening).await;
    a.ack(&id).await;

    let per_sender = 30;
    let mut batches = Vec::new();
    for (member, name) in [(&mut a, "a"), (&mut b, "b"), (&mut c, "c")] {
        let mut batch = Vec::new();
        for i in 0..per_sender {
            batch.push(member.seal(&channel.id, &format!("{name} {i}")).await);
        }
        batches.push(batch);
    }
    let sends = [&mut a, &mut b, &mut c]
        .into_iter()
        .zip(batches)
        .map(|(member, batch)| {
            let channel_id = channel.id.clone();
            async move {
                for envelope in batch {
                    member.send(&channel_id, envelope).await;
                }
                member
            }
        });
    let members = futures_util::future::join_all(sends).await;

    let total = 1 + 3 * per_sender;
    let mut orders = Vec::new();
    for member in members {
        // The first sender already took the opening message in its ack loop.
        let already = usize::from(member.me.login == "coord");
        let received = member.receive(total - already, true).await;
        orders.push(ids(&received));
    }
    let history = ids(&c.history(&channel.id).await);
    assert_eq!(
        history.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        (1..=total as u64).collect::<Vec<_>>(),
        "dense"
    );
    let unique: BTreeSet<&String> = history.iter().map(|(_, id)| id).collect();
    assert_eq!(unique.len(), total, "each message stored once");
    let reference: BTreeMap<u64, String> = history.into_iter().collect();
    for order in &orders {
        for (seq, id) in order {
            assert_eq!(reference.get(seq), Some(id), "one order on every node");
        }
    }
}

/// The sender's side of the stream: paced sends, acks collected, and on its node's
/// death a move to `fallback` where every unacknowledged envelope is sent again.
async fn stream(
    mut sender: Member,
    channel_id: String,
    envelopes: Vec<Envelope>,
    fallback: String,
) -> (Member, BTreeMap<String, u64>, usize) {
    let mut acked = BTreeMap::new();
    let mut next = 0;
    let mut acked_before_failover = None;
    let mut pace = tokio::time::interval(Duration::from_millis(15));
    let started = Instant::now();
    while acked.len() < envelopes.len() {
        assert!(
            started.elapsed() < GUARD * 2,
            "stream stuck at {} acks",
            acked.len()
        );
        let mut lost = false;
        tokio::select! {
            _ = pace.tick(), if next < envelopes.len() => {
                let frame = ClientFrame::Send {
                    channel_id: channel_id.clone().into(),
                    envelope: envelopes[next].clone(),
                };
                next += 1;
                lost = sender.conn.send(&frame).await.is_err();
            }
            frame = tokio::time::timeout(GUARD, sender.conn.next()) => match frame {
                Ok(Some(ServerFrame::Ack { client_msg_id, seq, .. })) => {
                    if let Some(previous) = acked.insert(client_msg_id, seq) {
                        assert_eq!(previous, seq, "an ack repeated with another seq");
                    }
                }
                Ok(Some(ServerFrame::Error { code, reference, .. })) => {
                    panic!("send {reference:?} refused: {code}")
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => lost = true,
            }
        }
        if lost {
            assert!(acked_before_failover.is_none(), "a second failover");
            acked_before_failover = Some(acked.len());
            sender.fail_over(&fallback).await;
            // Whatever was sent without an ack may or may not have been stored: send it
            // again; the server answers a stored one with its seq and stores it once.
            for envelope in &envelopes[..next] {
                if !acked.contains_key(&envelope.client_msg_id) {
                    sender.send(&channel_id, envelope.clone()).await;
                }
            }
        }
    }
    (
        sender,
        acked,
        acked_before_failover.unwrap_or(envelopes.len()),
    )
}

/// A receiver that follows the stream, moves to `fallback` if its node dies, and reports
/// its progress.
async fn follow(
    mut member: Member,
    count: usize,
    fallback: Option<String>,
    progress: watch::Sender<usize>,
) -> Vec<StoredMessage> {
    member
        .collect(count, true, fallback.as_deref(), Some(&progress))
        .await
}

#[tokio::test]
async fn killing_a_node_mid_stream_loses_and_duplicates_nothing_for_clients_that_fail_over() {
    let mut cluster = Cluster::start(3).await.unwrap();
    // The sender and one receiver are on node 2, which will die; the others stay.
    let mut sender = Member::new(&cluster, "coord", Role::Coordinator, "Mairie", 2).await;
    let on_doomed = Member::new(&cluster, "membre.b", Role::Member, "CCAS", 2).await;
    let on_first = Member::new(&cluster, "membre.c", Role::Member, "PJJ", 0).await;
    let on_second = Member::new(&cluster, "membre.d", Role::Member, "Mission locale", 1).await;
    let channel = working_group(&sender, &[&on_doomed, &on_first, &on_second]).await;
    let opening = sender.seal(&channel.id, "ouverture").await;
    let id = opening.client_msg_id.clone();
    sender.send(&channel.id, opening).await;
    sender.ack(&id).await;

    // Within one epoch (at most 100 messages), so that envelopes can be sealed upfront.
    let count = 90;
    let mut envelopes = Vec::new();
    for i in 0..count {
        envelopes.push(sender.seal(&channel.id, &format!("message {i}")).await);
    }
    let sent: Vec<String> = envelopes.iter().map(|e| e.client_msg_id.clone()).collect();

    let (progress_tx, mut progress) = watch::channel(0);
    let receivers = vec![
        tokio::spawn(follow(
            on_doomed,
            count + 1,
            Some(cluster.url(0)),
            watch::channel(0).0,
        )),
        tokio::spawn(follow(on_first, count + 1, None, progress_tx)),
        tokio::spawn(follow(on_second, count + 1, None, watch::channel(0).0)),
    ];
    let streaming = tokio::spawn(stream(
        sender,
        channel.id.to_string(),
        envelopes,
        cluster.url(1),
    ));
    // Mid-stream: once a third of the messages have reached a member on another node.
    tokio::time::timeout(GUARD, progress.wait_for(|received| *received > count / 3))
        .await
        .unwrap()
        .unwrap();
    cluster.kill(2).await.unwrap();

    let (sender, acked, acked_before_failover) = streaming.await.unwrap();
    assert!(
        acked_before_failover < count,
        "the node died after the stream ended"
    );
    let history = ids(&sender.history(&channel.id).await);
    assert_eq!(
        history.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        (1..=count as u64 + 1).collect::<Vec<_>>(),
        "dense, nothing lost"
    );
    let stored: Vec<&String> = history[1..].iter().map(|(_, id)| id).collect();
    let mut expected: Vec<&String> = sent.iter().collect();
    let mut in_order = stored.clone();
    in_order.sort();
    expected.sort();
    assert_eq!(in_order, expected, "every message stored exactly once");
    for (seq, id) in &history[1..] {
        assert_eq!(
            acked.get(id),
            Some(seq),
            "acked with the seq it was stored at"
        );
    }
    for receiver in receivers {
        let delivered = ids(&receiver.await.unwrap());
        assert_eq!(
            delivered, history,
            "every member got each message once, in order"
        );
    }
}

#[tokio::test]
async fn a_removal_on_one_node_cuts_the_removed_member_off_on_all_nodes() {
    let cluster = Cluster::start(3).await.unwrap();
    let mut coord = Member::new(&cluster, "coord", Role::Coordinator, "Mairie", 0).await;
    let mut stays = Member::new(&cluster, "reste", Role::Member, "CCAS", 1).await;
    let mut leaves = Member::new(&cluster, "exclu", Role::Member, "PJJ", 2).await;
    // The excluded member is connected to the two other nodes, not the one that removes.
    let mut leaves_elsewhere = leaves.also_on(&cluster.url(1)).await;
    let channel = working_group(&coord, &[&stays, &leaves]).await;
    // A second channel the excluded member stays in, to know when the bus has passed.
    let other = working_group(&coord, &[&leaves]).await;

    let envelope = coord.seal(&channel.id, "avant le retrait").await;
    let id = envelope.client_msg_id.clone();
    coord.send(&channel.id, envelope).await;
    coord.ack(&id).await;
    leaves.receive(1, false).await;
    stays.receive(1, false).await;
    let pending = leaves.seal(&channel.id, "trop tard").await;

    coord
        .client
        .request(
            reqwest::Method::DELETE,
            &format!("/channels/{}/members/{}", channel.id, leaves.id()),
        )
        .json(&RemoveMember {
            record: None,
            reason: "Changement d'affectation".into(),
        })
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();

    let envelope = coord.seal(&channel.id, "après le retrait").await;
    let id = envelope.client_msg_id.clone();
    coord.send(&channel.id, envelope).await;
    coord.ack(&id).await;
    let marker = coord.seal(&other.id, "repère").await;
    let marker_id = marker.client_msg_id.clone();
    coord.send(&other.id, marker).await;
    coord.ack(&marker_id).await;

    let message = stays.receive(1, false).await.remove(0);
    let content = stays.client.open(&stays.device, &message).await.unwrap();
    assert_eq!(content.text, "après le retrait");
    // Both connections of the excluded member: told of the removal, then nothing of the
    // channel before the marker that was published after it.
    for conn in [&mut leaves.conn, &mut leaves_elsewhere] {
        let mut told = false;
        loop {
            match conn.next_within(GUARD).await {
                Some(ServerFrame::Member {
                    change, user_id, ..
                }) if change == "removed" && user_id == leaves.me.id => told = true,
                Some(ServerFrame::Message(m)) if m.channel_id == other.id => break,
                Some(ServerFrame::Message(m)) if m.seq > 1 => {
                    panic!("received seq {} after removal", m.seq)
                }
                Some(_) => {}
                None => panic!("connection ended: {:?}", conn.closed),
            }
        }
        assert!(told, "the removal was announced on every node");
    }

    // Refused on every node it is connected to.
    let pending_id = pending.client_msg_id.clone();
    for conn in [&mut leaves.conn, &mut leaves_elsewhere] {
        conn.send(&ClientFrame::Send {
            channel_id: channel.id.clone(),
            envelope: pending.clone(),
        })
        .await
        .unwrap();
        let code = loop {
            match conn.next_within(GUARD).await {
                Some(ServerFrame::Error {
                    reference, code, ..
                }) if reference.as_deref() == Some(pending_id.as_str()) => break code,
                Some(ServerFrame::Message(m)) if m.channel_id == channel.id && m.seq > 1 => {
                    panic!("received seq {} after removal", m.seq)
                }
                Some(_) => {}
                None => panic!("connection ended: {:?}", conn.closed),
            }
        };
        assert_eq!(code, "not_member");
    }
    for node in 0..3 {
        let client =
            Client::with_token(&cluster.url(node), leaves.token.clone(), leaves.me.clone());
        let err = client
            .get::<HistoryPage>(&format!("/channels/{}/messages", channel.id))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("not_found"), "node {node}");
    }
}

/// One password attempt on `url`, as from `ip`; returns the status and error code.
async fn attempt(url: &str, ip: &str, login: &str, password: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{url}/api/v1/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&LoginRequest {
            login: login.into(),
            password: password.into(),
        })
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let code = body["error"]["code"].as_str().unwrap_or("").to_owned();
    (status, code)
}

#[tokio::test]
async fn login_throttling_and_lock_out_are_shared_by_every_node() {
    let cluster = Cluster::start(3).await.unwrap();
    let (login_name, password) = cluster
        .account("agent.pm", Role::Member, "Police municipale")
        .await
        .unwrap();
    let urls: Vec<String> = (0..3).map(|node| cluster.url(node)).collect();

    // An address: its failures on nodes 0 and 1 use up its attempts on node 2 too, which
    // has seen none. The right password tells whether the address is blocked without
    // counting as a failure.
    let ip = "203.0.113.7";
    assert_eq!(attempt(&urls[2], ip, &login_name, &password).await.0, 200);
    for i in 0..6 {
        let (status, _) = attempt(&urls[i % 2], ip, &format!("inconnu{i}"), "mauvais").await;
        assert_eq!(status, 401);
    }
    let started = Instant::now();
    loop {
        let (status, code) = attempt(&urls[2], ip, &login_name, &password).await;
        if status == 429 {
            assert_eq!(code, "too_many_attempts");
            break;
        }
        assert!(
            started.elapsed() < GUARD,
            "node 2 never blocked the address"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A login that does not exist locks after the same number of failures as a real
    // account, whichever nodes they hit, and answers as a locked real account does.
    let ip = "203.0.113.8";
    for i in 0..5 {
        let (status, _) = attempt(&urls[i % 2], ip, "fantome", "mauvais").await;
        assert_eq!(status, 401);
    }
    // Node 2 has seen none of them: a lock within 4 attempts there cannot be its own
    // (each from its own address, so that the address limit does not answer instead).
    let mut phantom = None;
    for k in 0..4 {
        let answer = attempt(
            &urls[2],
            &format!("203.0.113.{}", 20 + k),
            "fantome",
            "mauvais",
        )
        .await;
        if answer.0 != 401 {
            phantom = Some(answer);
            break;
        }
    }
    let phantom = phantom.expect("node 2 never locked the unknown login");
    let ip = "203.0.113.9";
    for i in 0..5 {
        let (status, _) = attempt(&urls[i % 2], ip, &login_name, "mauvais").await;
        assert_eq!(status, 401);
    }
    let real = attempt(&urls[2], ip, &login_name, &password).await;
    assert_eq!(real.1, "account_locked");
    assert_eq!(
        phantom, real,
        "an unknown login is indistinguishable from a real one"
    );
}

/// An administrator logged in on one node (no device: admins read no message).
async fn admin_on(cluster: &Cluster, node: usize) -> Client {
    let (login_name, password) = cluster
        .account("admin.cluster", Role::Admin, "Mairie")
        .await
        .unwrap();
    let url = cluster.url(node);
    let (token, me) = login(&url, &login_name, &password).await.unwrap();
    Client::with_token(&url, token, me)
}

/// Reads a connection until the server's close frame (not a delay); returns its code and
/// reason, and the messages received before it.
async fn close_of(conn: &mut Connection) -> ((u16, String), Vec<StoredMessage>) {
    let mut received = Vec::new();
    loop {
        match conn.next_within(GUARD).await {
            Some(ServerFrame::Message(message)) => received.push(message),
            Some(_) => {}
            None => {
                let closed = conn.closed.clone().expect("closed with a close frame");
                return (closed, received);
            }
        }
    }
}

/// The devices a new epoch of `channel_id` must cover, as the coordinator sees them.
async fn key_recipients(coord: &Member, channel_id: &str) -> Vec<String> {
    let state: passerelle_shared::protocol::v1::channels::EpochState = coord
        .client
        .get(&format!("/channels/{channel_id}/epoch"))
        .await
        .unwrap();
    state
        .devices
        .into_iter()
        .map(|d| d.user_id.into_string())
        .collect()
}

#[tokio::test]
async fn disabling_an_account_on_one_node_closes_its_connections_on_every_node() {
    let cluster = Cluster::start(3).await.unwrap();
    let mut coord = Member::new(&cluster, "coord", Role::Coordinator, "Mairie", 0).await;
    let mut stays = Member::new(&cluster, "reste", Role::Member, "CCAS", 0).await;
    let mut disabled = Member::new(&cluster, "desactive", Role::Member, "PJJ", 2).await;
    // The person has a tab open on node 2 and another on node 0; the admin acts on node 1.
    let mut elsewhere = disabled.also_on(&cluster.url(0)).await;
    let channel = working_group(&coord, &[&stays, &disabled]).await;
    let envelope = coord.seal(&channel.id, "avant").await;
    let id = envelope.client_msg_id.clone();
    coord.send(&channel.id, envelope).await;
    coord.ack(&id).await;
    stays.receive(1, false).await;
    disabled.receive(1, false).await;

    let admin = admin_on(&cluster, 1).await;
    admin
        .request(
            reqwest::Method::POST,
            &format!("/admin/users/{}/disable", disabled.id()),
        )
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    assert!(!key_recipients(&coord, &channel.id)
        .await
        .contains(&disabled.id()));

    let envelope = coord.seal(&channel.id, "après la désactivation").await;
    let id = envelope.client_msg_id.clone();
    coord.send(&channel.id, envelope).await;
    let seq = coord.ack(&id).await;
    let message = stays.receive(1, false).await.remove(0);
    assert_eq!(message.seq, seq);
    for conn in [&mut disabled.conn, &mut elsewhere] {
        let ((code, reason), received) = close_of(conn).await;
        assert_eq!((code, reason.as_str()), (4003, "account_disabled"));
        assert!(
            received.iter().all(|m| m.seq < seq),
            "received after the disable"
        );
    }
}

/// A Redis server of this test's own, on its own port, that the test can stop and start.
struct PrivateRedis {
    port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    fn start() -> anyhow::Result<PrivateRedis> {
        let mut redis = PrivateRedis {
            port: free_port()?,
            child: None,
        };
        redis.restart()?;
        Ok(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again, on the same port) and waits until it answers.
    fn restart(&mut self) -> anyhow::Result<()> {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("redis-server must be installed (apt-get install redis-server)")?;
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
                let mut answer = [0u8; 5];
                if stream.write_all(b"PING\r\n").is_ok()
                    && stream.read_exact(&mut answer).is_ok()
                    && &answer == b"+PONG"
                {
                    return Ok(());
                }
            }
            anyhow::ensure!(started.elapsed() < GUARD, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it: an outage.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until every node reports its bus subscription up again (`/metrics`).
async fn wait_bus_connected(cluster: &Cluster, nodes: usize) {
    let http = reqwest::Client::new();
    let started = Instant::now();
    for node in 0..nodes {
        loop {
            let text = match http
                .get(format!("{}/metrics", cluster.url(node)))
                .send()
                .await
            {
                Ok(response) => response.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text
                .lines()
                .any(|line| line == "passerelle_bus_connected 1")
            {
                break;
            }
            assert!(started.elapsed() < GUARD, "node {node} never resubscribed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn exclusions_during_a_redis_outage_longer_than_the_replay_window_reach_every_node() {
    let mut redis = PrivateRedis::start().unwrap();
    let cluster = Cluster::start_on(
        3,
        redis.url(),
        vec![("PASSERELLE_BUS_REPLAY_WINDOW_SECS".into(), "1".into())],
    )
    .await
    .unwrap();
    let mut coord = Member::new(&cluster, "coord", Role::Coordinator, "Mairie", 0).await;
    let mut stays = Member::new(&cluster, "reste", Role::Member, "CCAS", 0).await;
    let mut removed = Member::new(&cluster, "retire", Role::Member, "PJJ", 2).await;
    let mut disabled = Member::new(&cluster, "desactive", Role::Member, "CCAS", 2).await;
    let channel = working_group(&coord, &[&stays, &removed, &disabled]).await;
    // A channel the removed member stays in, to know when live frames flow again.
    let other = working_group(&coord, &[&removed]).await;
    let admin = admin_on(&cluster, 1).await;
    let envelope = coord.seal(&channel.id, "avant").await;
    let id = envelope.client_msg_id.clone();
    coord.send(&channel.id, envelope).await;
    coord.ack(&id).await;
    for member in [&mut stays, &mut removed, &mut disabled] {
        member.receive(1, false).await;
    }

    // Redis goes down; the coordinator removes a member on node 0, the admin disables an
    // account on node 1; both people are connected to node 2.
    redis.stop();
    coord
        .client
        .request(
            reqwest::Method::DELETE,
            &format!("/channels/{}/members/{}", channel.id, removed.id()),
        )
        .json(&RemoveMember {
            record: None,
            reason: "Changement d'affectation".into(),
        })
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    admin
        .request(
            reqwest::Method::POST,
            &format!("/admin/users/{}/disable", disabled.id()),
        )
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    // Node 2 learns it from the database's access feed, with no bus at all.
    let ((code, reason), _) = close_of(&mut disabled.conn).await;
    assert_eq!((code, reason.as_str()), (4003, "account_disabled"));
    // The outage outlasts the bus's replay window (1 s here): what was published during
    // it is too old to be applied when Redis returns. The duration is the scenario, not
    // a synchronisation.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    redis.restart().unwrap();
    wait_bus_connected(&cluster, 3).await;

    let recipients = key_recipients(&coord, &channel.id).await;
    assert!(!recipients.contains(&removed.id()) && !recipients.contains(&disabled.id()));
    let envelope = coord.seal(&channel.id, "après la panne").await;
    let id = envelope.client_msg_id.clone();
    coord.send(&channel.id, envelope).await;
    let seq = coord.ack(&id).await;
    let marker = coord.seal(&other.id, "repère").await;
    let marker_id = marker.client_msg_id.clone();
    coord.send(&other.id, marker).await;
    coord.ack(&marker_id).await;
    assert_eq!(stays.receive(1, false).await.remove(0).seq, seq);
    // The removed member, on node 2, gets the marker published after the message, and
    // not the message.
    loop {
        match removed.conn.next_within(GUARD).await {
            Some(ServerFrame::Message(m)) if m.channel_id == other.id => break,
            Some(ServerFrame::Message(m)) if m.channel_id == channel.id && m.seq >= seq => {
                panic!("the removed member received seq {} after the outage", m.seq)
            }
            Some(_) => {}
            None => panic!("connection ended: {:?}", removed.conn.closed),
        }
    }
}

#[tokio::test]
async fn the_per_account_connection_limit_counts_every_node() {
    let cluster = Cluster::start(3).await.unwrap();
    let person = Member::new(&cluster, "onglets", Role::Member, "CCAS", 0).await;
    let limit = passerelle_server::ws::MAX_CONNECTIONS_PER_USER;
    // The limit is reached across two nodes (the member's first connection included)…
    let mut open = Vec::new();
    for index in 1..limit {
        open.push(person.also_on(&cluster.url(index % 2)).await);
    }
    // …so the third node refuses one more.
    let third = Client::with_token(&cluster.url(2), person.token.clone(), person.me.clone());
    assert!(third.connect(&person.device.device_id).await.is_err());
    // A tab closes on node 1: its place is given back, and node 2 admits one.
    let closing = open.pop().expect("connections");
    closing.close().await;
    let started = Instant::now();
    loop {
        match third.connect(&person.device.device_id).await {
            Ok(_) => break,
            Err(err) => {
                assert!(started.elapsed() < GUARD, "never admitted again: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// The public origin the WebAuthn test's nodes share, as behind one load balancer: a
/// relying party is a domain name, and every node must accept the same origin.
const SHARED_ORIGIN: &str = "https://passerelle.test";

async fn post_json(
    url: &str,
    path: &str,
    token: Option<&str>,
    body: serde_json::Value,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{url}/api/v1{path}"))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_security_key_ceremony_begun_on_one_node_finishes_on_another_once() {
    let cluster = Cluster::start_on(
        2,
        redis_url(),
        vec![
            ("PASSERELLE_PUBLIC_ORIGIN".into(), SHARED_ORIGIN.into()),
            (
                "PASSERELLE_WEBAUTHN__REQUIRED_ROLES".into(),
                "[\"admin\", \"auditor\"]".into(),
            ),
        ],
    )
    .await
    .unwrap();
    let (login_name, password) = cluster
        .account("auditrice.cluster", Role::Auditor, "Mairie")
        .await
        .unwrap();
    let (node_a, node_b) = (cluster.url(0), cluster.url(1));
    // First login with a code: the session may only register the key the role requires.
    let (token, me) = login(&node_a, &login_name, &password).await.unwrap();
    assert!(me.must_register_security_key);

    // Registration: begun on node A, finished on node B.
    let mut key = passerelle_tests::webauthn::SoftKey::default();
    let ceremony: serde_json::Value = post_json(
        &node_a,
        "/me/security-keys/register",
        Some(&token),
        serde_json::json!({ "name": "Clé" }),
    )
    .await
    .json()
    .await
    .unwrap();
    let credential = key.register(&ceremony["options"], SHARED_ORIGIN).unwrap();
    let response = post_json(
        &node_b,
        "/me/security-keys/register/finish",
        Some(&token),
        serde_json::json!({ "ceremony_id": ceremony["ceremony_id"], "credential": credential }),
    )
    .await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);

    // Sign-in: the password step on node A issues the challenge, node B checks the answer.
    let challenge: LoginChallenge = post_json(
        &node_a,
        "/auth/login",
        None,
        serde_json::json!({ "login": login_name, "password": password }),
    )
    .await
    .json()
    .await
    .unwrap();
    let ceremony = challenge.webauthn.expect("a key ceremony");
    let answer = key.assert(&ceremony.options, SHARED_ORIGIN).unwrap();
    let body = serde_json::json!({
        "challenge": challenge.challenge,
        "ceremony_id": ceremony.ceremony_id,
        "credential": answer,
        "bearer": true,
    });
    let response = post_json(&node_b, "/auth/webauthn", None, body.clone()).await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let opened: SessionOpened = response.json().await.unwrap();
    assert!(!opened.me.must_register_security_key);
    // The same answer replayed on node A: the ceremony served once, cluster-wide.
    let replayed = post_json(&node_a, "/auth/webauthn", None, body).await;
    assert_eq!(replayed.status(), reqwest::StatusCode::UNAUTHORIZED);
    let error: serde_json::Value = replayed.json().await.unwrap();
    assert_eq!(error["error"]["code"], "webauthn_expired");
}

/// The load balancer in front of the nodes, as small as can be: each TCP connection goes
/// to the first node of `live` that accepts it. The test takes a node out before killing
/// it, as a health check would.
struct Balancer {
    url: String,
    live: Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Balancer {
    async fn start(nodes: Vec<String>) -> Balancer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let live = Arc::new(std::sync::Mutex::new(nodes));
        let targets = live.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let candidates = targets.lock().map(|t| t.clone()).unwrap_or_default();
                tokio::spawn(async move {
                    for candidate in candidates {
                        let address = candidate.trim_start_matches("http://");
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(address).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            return;
                        }
                    }
                });
            }
        });
        Balancer { url, live, task }
    }

    fn take_out(&self, node_url: &str) {
        self.live.lock().unwrap().retain(|url| url != node_url);
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn an_sdk_agent_survives_the_kill_of_its_node_and_a_redis_restart_with_every_acked_message_once_in_order(
) {
    use passerelle_shared::client::store::MemoryStore;
    use passerelle_shared::client::{Agent, AgentOptions, Event, Login};

    let mut redis = PrivateRedis::start().unwrap();
    let mut cluster = Cluster::start_on(2, redis.url(), Vec::new()).await.unwrap();
    // The agent reaches the cluster through the balancer, node 1 first.
    let balancer = Balancer::start(vec![cluster.url(1), cluster.url(0)]).await;
    let mut coordinator = Member::new(&cluster, "coord-sdk", Role::Coordinator, "Mairie", 0).await;
    let (login, password) = cluster
        .account("relais-sdk", Role::Member, "Police municipale")
        .await
        .unwrap();
    let options = AgentOptions {
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        answer_within: Duration::from_secs(5),
        ..AgentOptions::default()
    };
    let (mut agent, _) = Agent::login(
        Box::new(MemoryStore::default()),
        Login {
            base_url: &balancer.url,
            login: &login,
            password: &password,
            totp_secret: None,
            recovery_code: None,
            new_password: None,
        },
        options,
    )
    .await
    .unwrap();
    agent.accept_charter().await.unwrap();

    let channel: Channel = coordinator
        .client
        .post(
            "/channels",
            &CreateChannel {
                kind: ChannelKind::WorkingGroup,
                name: "Relais".into(),
                regime: LegalRegime::ClspdConfidential,
                institutions: vec![agent.client().me.institution.id.clone()],
                members: vec![agent.client().me.id.clone()],
            },
        )
        .await
        .unwrap();
    let rules: RulesVersion = coordinator
        .client
        .post(
            &format!("/channels/{}/rules", channel.id),
            &PublishText {
                text: "# Règlement\n\nRègles du relais.".into(),
            },
        )
        .await
        .unwrap();
    coordinator
        .client
        .post_empty(
            &format!("/channels/{}/rules/accept", channel.id),
            &Accept {
                version: rules.version,
            },
        )
        .await
        .unwrap();
    agent.accept_rules(&channel.id).await.unwrap();
    // The coordinator's client signs the member list, without which no member writes.
    coordinator
        .client
        .ensure_membership_log(&coordinator.device, &channel.id)
        .await
        .unwrap()
        .expect("a coordinator's client starts the log");

    // What the server acknowledged, by seq.
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    send_texts(&mut agent, &channel.id, "avant", 10, &mut acked).await;

    // SIGKILL of the agent's node: the balancer sends it to node 0.
    balancer.take_out(&cluster.url(1));
    cluster.kill(1).await.unwrap();
    send_texts(&mut agent, &channel.id, "après l'arrêt", 10, &mut acked).await;

    // Redis goes away and comes back: notifications are lost, nothing stored is.
    redis.stop();
    send_texts(&mut agent, &channel.id, "sans redis", 5, &mut acked).await;
    redis.restart().unwrap();
    wait_bus_connected(&cluster, 1).await;
    send_texts(&mut agent, &channel.id, "redis revenu", 5, &mut acked).await;
    assert_eq!(acked.len(), 30, "every acknowledgement has its own seq");

    // A catch-up, then everything handed out: each acknowledged message once, in order.
    agent.sync().await.unwrap();
    let mut handed_out: Vec<(u64, String)> = Vec::new();
    let last = *acked.keys().last().unwrap();
    while handed_out.last().is_none_or(|(seq, _)| *seq < last) {
        match tokio::time::timeout(GUARD, agent.next_event())
            .await
            .expect("the agent stalled")
            .unwrap()
        {
            Event::Message {
                message, content, ..
            } => handed_out.push((message.seq, content.text.clone())),
            Event::Unreadable { message, reason } => {
                panic!("seq {} unreadable: {reason}", message.seq)
            }
            _ => {}
        }
    }
    let seqs: Vec<u64> = handed_out.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "once each, in order");
    for (seq, text) in &acked {
        assert_eq!(&handed_out[usize::try_from(*seq).unwrap() - 1].1, text);
    }
}

/// Sends `count` texts through the agent, recording each acknowledged seq.
async fn send_texts(
    agent: &mut passerelle_shared::client::Agent,
    channel_id: &str,
    prefix: &str,
    count: usize,
    acked: &mut BTreeMap<u64, String>,
) {
    for i in 0..count {
        let text = format!("{prefix} {i}");
        let seq = agent.send_text(channel_id, &text).await.unwrap();
        assert!(
            acked.insert(seq, text).is_none(),
            "seq {seq} acknowledged twice"
        );
    }
}

/// Runs a command line to completion; its standard output, or the test fails with its
/// standard error.
async fn command_line(mut command: Command, what: &str) -> String {
    let output = tokio::time::timeout(GUARD * 2, command.stdin(Stdio::null()).output())
        .await
        .unwrap_or_else(|_| panic!("{what}: timed out"))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn a_first_deployment_from_the_operations_commands_alone() {
    let cluster = Cluster::start(2).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // `passerelle admin …` on a node's configuration (docs/OPERATIONS.md §2.1.1).
    let admin = |args: &[&str]| {
        let mut command = Command::new(server_binary().unwrap());
        command
            .arg("admin")
            .args(args)
            .env("PASSERELLE_CONFIG", cluster.dir.path().join("none.toml"))
            .env("PASSERELLE_DATA_DIR", dir.path().join("operator"))
            .env("PASSERELLE_TLS", "false")
            .env("PASSERELLE_DATABASE_URL", &cluster.db.url)
            .env(
                "PASSERELLE_SECRET_KEY_FILE",
                cluster.dir.path().join("server.key"),
            )
            .env(
                "PASSERELLE_AUDIT__LOG_KEY_FILE",
                cluster.dir.path().join("audit-log.key"),
            )
            .env(
                "PASSERELLE_AUDIT__SIGNING_KEY_FILE",
                cluster.dir.path().join("audit-signing.p8"),
            )
            .env("PASSERELLE_LOG", "warn");
        command
    };
    for (institution, kind) in [
        ("Mairie (coordination CLSPD)", "collectivite"),
        ("Police municipale", "police_municipale"),
    ] {
        command_line(
            admin(&["create-institution", institution, "--kind", kind]),
            "create-institution",
        )
        .await;
    }
    let csv = dir.path().join("comptes.csv");
    std::fs::write(
        &csv,
        "login,name,institution,role,secrecy,social_action\n\
         coord.clspd,Coordinatrice CLSPD,Mairie (coordination CLSPD),coordinator,non,non\n\
         j.martin,Julie Martin,Police municipale,member,non,non\n",
    )
    .unwrap();
    let printed = command_line(
        admin(&["import-users", csv.to_str().unwrap()]),
        "import-users",
    )
    .await;
    let password = |login: &str| {
        printed
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{login},")))
            .unwrap_or_else(|| panic!("no password printed for {login}: {printed}"))
            .to_owned()
    };
    let charter = dir.path().join("charte.md");
    std::fs::write(
        &charter,
        "# Charte du CLSPD\n\nLes échanges sont confidentiels.",
    )
    .unwrap();
    command_line(
        admin(&["publish-charter", charter.to_str().unwrap()]),
        "publish-charter",
    )
    .await;

    // Each person's program logs in through a node and accepts the charter
    // (`passerelle-sdk-cli`, docs/OPERATIONS.md §2.1.1 and docs/SDK.md).
    let sdk = |login: &str, args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_passerelle-sdk-cli"));
        command
            .arg(args[0])
            .arg("--store")
            .arg(dir.path().join(format!("{login}.store")))
            .args(&args[1..])
            .env("PASSERELLE_SDK_PASSPHRASE", "phrase de mise en service")
            .env("PASSERELLE_SDK_PASSWORD", password(login))
            // Imported passwords are provisional: replaced at the first login.
            .env(
                "PASSERELLE_SDK_NEW_PASSWORD",
                format!("Mot de passe choisi par {login}"),
            );
        command
    };
    let url = cluster.url(0);
    for login in ["coord.clspd", "j.martin"] {
        let out = command_line(
            sdk(
                login,
                &["login", "--url", &url, "--login", login, "--accept-charter"],
            ),
            "login",
        )
        .await;
        assert!(
            out.contains("recovery_code") && out.contains("charter_accepted"),
            "{out}"
        );
    }
    let rules = dir.path().join("reglement.md");
    std::fs::write(
        &rules,
        "# Règlement intérieur\n\nUn message par intervention.",
    )
    .unwrap();
    let created = command_line(
        sdk(
            "coord.clspd",
            &["create-group", "--name", "Veille", "Julie Martin"],
        ),
        "create-group",
    )
    .await;
    let created: serde_json::Value = serde_json::from_str(created.trim()).unwrap();
    let channel = created["channel_id"].as_str().unwrap().to_owned();
    command_line(
        sdk(
            "coord.clspd",
            &["publish-rules", &channel, rules.to_str().unwrap()],
        ),
        "publish-rules",
    )
    .await;
    for login in ["coord.clspd", "j.martin"] {
        command_line(sdk(login, &["accept-rules", &channel]), "accept-rules").await;
    }
    let sent = command_line(
        sdk("j.martin", &["send", &channel, "Mise en service"]),
        "send",
    )
    .await;
    assert!(sent.contains("\"sent\":1"), "{sent}");
    let read = command_line(sdk("coord.clspd", &["read", "1"]), "read").await;
    assert!(read.contains("\"text\":\"Mise en service\""), "{read}");
}

//! Shared set-up of the messaging suites: people with enrolled devices and open
//! connections, and helpers to wait for frames (with a generous guard, never a sleep).
//!
//! The charter gate (CHARTER.md C2) closes every channel until the charter and the group's
//! internal rules are accepted: [`Party::new`] publishes a test charter when there is none
//! and accepts it, and [`working_group`] publishes the group's rules and has every party
//! accept them. Tests of the gate itself use [`Party::bare`].

use std::time::Duration;

use passerelle_shared::client::{Client, Connection, Device};
use passerelle_shared::crypto::MessageContent;
use passerelle_shared::crypto::{Envelope, EpochKey, MessageHeader};
use passerelle_shared::protocol::v1::channels::{
    Channel, ChannelKind, CreateChannel, LegalRegime, StoredMessage,
};
use passerelle_shared::protocol::v1::charter::{Accept, CharterStatus, PublishText, RulesVersion};
use passerelle_shared::protocol::v1::ws::{ClientFrame, ServerFrame};
use passerelle_shared::protocol::v1::{Attributes, Role};
use passerelle_tests::{TestServer, TestUser};
use sea_orm::{ConnectionTrait, Statement};

/// How long a test waits for a frame before failing.
pub const GUARD: Duration = Duration::from_secs(20);

/// A person with an enrolled device and an open connection.
pub struct Party {
    pub user: TestUser,
    pub client: Client,
    pub device: Device,
    pub conn: Connection,
    pub recovery_code: String,
}

impl Party {
    /// A person who has accepted the charter in force (published first if there is none).
    pub async fn new(server: &TestServer, login: &str, role: Role, institution: &str) -> Party {
        ensure_charter(server).await;
        let party = Party::bare(server, login, role, institution).await;
        party.accept_charter().await;
        party
    }

    /// A person with attributes (CHARTER.md C5) who has accepted the charter.
    pub async fn with_attributes(
        server: &TestServer,
        login: &str,
        role: Role,
        institution: &str,
        attributes: Attributes,
    ) -> Party {
        ensure_charter(server).await;
        let user = server
            .create_user_with(login, role, institution, attributes)
            .await
            .unwrap();
        let party = Party::enrol(server, user).await;
        party.accept_charter().await;
        party
    }

    /// A person who has accepted nothing yet.
    pub async fn bare(server: &TestServer, login: &str, role: Role, institution: &str) -> Party {
        let user = server.create_user(login, role, institution).await.unwrap();
        Party::enrol(server, user).await
    }

    async fn enrol(server: &TestServer, user: TestUser) -> Party {
        let (client, device, recovery_code) = server.enrolled(&user).await.unwrap();
        let conn = client.connect(&device.device_id).await.unwrap();
        Party {
            user,
            client,
            device,
            conn,
            recovery_code,
        }
    }

    /// Accepts the charter version in force.
    pub async fn accept_charter(&self) {
        let status: CharterStatus = self.client.get("/charter").await.unwrap();
        let version = status.current.expect("a charter is published").version;
        self.client
            .post_empty("/charter/accept", &Accept { version })
            .await
            .unwrap();
    }

    /// Accepts the internal rules in force for a channel.
    pub async fn accept_rules(&self, channel_id: &str) {
        let status: passerelle_shared::protocol::v1::charter::RulesStatus = self
            .client
            .get(&format!("/channels/{channel_id}/rules"))
            .await
            .unwrap();
        let version = status.current.expect("rules are published").version;
        self.client
            .post_empty(
                &format!("/channels/{channel_id}/rules/accept"),
                &Accept { version },
            )
            .await
            .unwrap();
    }

    /// Publishes (as a coordinator of the group) a new version of its internal rules.
    pub async fn publish_rules(&self, channel_id: &str, text: &str) -> u64 {
        let published: RulesVersion = self
            .client
            .post(
                &format!("/channels/{channel_id}/rules"),
                &PublishText { text: text.into() },
            )
            .await
            .unwrap();
        published.version
    }

    /// An envelope correctly signed by this device for a key the server never saw: it
    /// passes the signature check, so that what refuses it is the rule under test.
    pub fn forged_envelope(&self, channel_id: &str) -> Envelope {
        let header = MessageHeader {
            channel_id: channel_id.into(),
            epoch: 1,
            sender_device: self.device.device_id.clone(),
            client_msg_id: uuid::Uuid::new_v4().to_string(),
            order: None,
        };
        Envelope::seal(
            header,
            &MessageContent::text("refusé"),
            &EpochKey::generate().unwrap(),
            self.device.keys(),
        )
        .unwrap()
    }

    /// Sends a frame and returns the code of the `error` frame that answers it (skipping
    /// other frames).
    pub async fn error_for(&mut self, frame: &ClientFrame) -> String {
        self.conn.send(frame).await.unwrap();
        self.frame(|f| match f {
            ServerFrame::Error { code, .. } => Some(code.clone()),
            ServerFrame::Message(m) => panic!("received seq {} instead of an error", m.seq),
            _ => None,
        })
        .await
    }

    /// Whether any message frame reaches this connection before the answer to a ping
    /// (frames are queued in order, so a message already published would come first).
    pub async fn received_a_message_before_pong(&mut self) -> bool {
        self.conn.send(&ClientFrame::Ping).await.unwrap();
        self.frame(|f| match f {
            ServerFrame::Pong => Some(false),
            ServerFrame::Message(_) => Some(true),
            _ => None,
        })
        .await
    }

    /// Seals `text` for the channel (creating an epoch when needed) and sends it.
    pub async fn send_text(&mut self, channel_id: &str, text: &str) -> String {
        let envelope = self
            .client
            .seal(&mut self.device, channel_id, &MessageContent::text(text))
            .await
            .unwrap();
        let id = envelope.client_msg_id.clone();
        self.conn
            .send(&ClientFrame::Send {
                channel_id: channel_id.into(),
                envelope,
            })
            .await
            .unwrap();
        id
    }

    /// Waits for the ack of `client_msg_id` and returns its seq.
    pub async fn ack(&mut self, client_msg_id: &str) -> u64 {
        loop {
            match self.conn.next_within(GUARD).await {
                Some(ServerFrame::Ack {
                    client_msg_id: id,
                    seq,
                    ..
                }) if id == client_msg_id => return seq,
                Some(ServerFrame::Error {
                    reference, code, ..
                }) if reference.as_deref() == Some(client_msg_id) => {
                    panic!("send refused: {code}")
                }
                Some(ServerFrame::Message(message)) => {
                    self.conn.accept(message);
                }
                Some(_) => continue,
                None => panic!("no ack for {client_msg_id}: {:?}", self.conn.closed),
            }
        }
    }

    /// Waits for the next in-order message and decrypts it.
    pub async fn receive(&mut self) -> (StoredMessage, String) {
        let message = self.next_message().await;
        let content = self.client.open(&self.device, &message).await.unwrap();
        (message, content.text.clone())
    }

    /// Waits for the next in-order message (without decrypting).
    pub async fn next_message(&mut self) -> StoredMessage {
        loop {
            match self.conn.next_within(GUARD).await {
                Some(ServerFrame::Message(message)) => {
                    if let Some(first) = self.conn.accept(message).into_iter().next() {
                        return first;
                    }
                }
                Some(_) => continue,
                None => panic!("no message: {:?}", self.conn.closed),
            }
        }
    }

    /// Waits for a frame matching `pick`.
    pub async fn frame<T>(&mut self, mut pick: impl FnMut(&ServerFrame) -> Option<T>) -> T {
        loop {
            match self.conn.next_within(GUARD).await {
                Some(frame) => {
                    if let Some(found) = pick(&frame) {
                        return found;
                    }
                }
                None => panic!("connection ended: {:?}", self.conn.closed),
            }
        }
    }
}

/// The charter the suites publish.
pub const TEST_CHARTER: &str = "# Charte de test\n\nLes échanges du groupe sont confidentiels.";

/// Publishes a charter (as the admin would) unless one is in force; returns its version.
pub async fn ensure_charter(server: &TestServer) -> u64 {
    if let Some(version) = passerelle_server::app::charter::current_charter_version(&server.state)
        .await
        .unwrap()
    {
        return version;
    }
    publish_charter(server, TEST_CHARTER).await
}

/// Publishes a new charter version, as the admin would.
pub async fn publish_charter(server: &TestServer, text: &str) -> u64 {
    passerelle_server::app::charter::publish_charter(
        &server.state,
        passerelle_server::audit::Actor::default(),
        "test-admin",
        text,
    )
    .await
    .unwrap()
    .version
}

/// A working group created by `coordinator` with `members`, open to their institutions,
/// whose internal rules the coordinator publishes and everyone accepts.
pub async fn working_group(coordinator: &mut Party, members: &[&Party]) -> Channel {
    let channel = working_group_without_rules(coordinator, members).await;
    coordinator
        .publish_rules(&channel.id, "# Règlement intérieur\n\nRègles du groupe.")
        .await;
    coordinator.accept_rules(&channel.id).await;
    for member in members {
        member.accept_rules(&channel.id).await;
    }
    channel
}

/// A working group created by `coordinator` with `members`, without internal rules yet.
pub async fn working_group_without_rules(coordinator: &mut Party, members: &[&Party]) -> Channel {
    let channel: Channel = coordinator
        .client
        .post(
            "/channels",
            &CreateChannel {
                kind: ChannelKind::WorkingGroup,
                name: "Groupe jeunesse".into(),
                regime: LegalRegime::ClspdConfidential,
                institutions: members
                    .iter()
                    .map(|m| m.user.institution_id.as_str().into())
                    .collect(),
                members: members.iter().map(|m| m.user.id.as_str().into()).collect(),
            },
        )
        .await
        .unwrap();
    channel
}

/// Has `coordinator`'s client start the channel's signed membership log, as a
/// coordinator's browser or agent does as soon as it lists a channel that has none
/// (docs/PROTOCOL.md §22.4): until then the other members' clients wrap no key and send
/// nothing there. For channels made through the REST API alone, as the server makes some.
pub async fn start_log(coordinator: &mut Party, channel_id: &str) {
    coordinator
        .client
        .ensure_membership_log(&coordinator.device, channel_id)
        .await
        .unwrap()
        .expect("a coordinator's client starts the log");
}

/// The access-log actions recorded for `target`, with their outcome.
pub async fn audit_actions(server: &TestServer, target: Option<&str>) -> Vec<(String, String)> {
    passerelle_tests::audit_actions(server, target).await
}

/// A server whose login sessions outlive the months the retention tests move the clock by.
pub async fn long_sessions_server(
    adjust: impl FnOnce(&mut passerelle_server::config::Config),
) -> TestServer {
    TestServer::spawn_with(|config| {
        config.session_absolute_hours = 24 * 366 * 5;
        config.session_idle_minutes = 60 * 24 * 366 * 5;
        adjust(config);
    })
    .await
    .unwrap()
}

/// Rows of `table` whose `column` is `value`, counted in the server's database.
pub async fn count_rows(server: &TestServer, table: &str, column: &str, value: &str) -> i64 {
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
            format!("SELECT COUNT(*) AS n FROM {table} WHERE {column} = {placeholder}"),
            [value.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// A text column of a channel's row.
pub async fn channel_column(server: &TestServer, channel_id: &str, column: &str) -> String {
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
            format!("SELECT {column} AS v FROM channels WHERE id = {placeholder}"),
            [channel_id.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<String>("", "v").unwrap()
}

/// The access-log events of one action on one target, with their details.
pub async fn audit_events(
    server: &TestServer,
    target: &str,
    action: &str,
) -> Vec<passerelle_server::audit::StoredEvent> {
    let filter = passerelle_server::audit::EventFilter {
        target: Some(target.to_owned()),
        action: Some(action.to_owned()),
        ..Default::default()
    };
    server
        .state
        .audit
        .query(&filter, 0, 1000)
        .await
        .unwrap()
        .events
}

/// A logged-in client of an admin account (no device: admins read no message).
pub async fn admin_client(server: &TestServer, login: &str) -> Client {
    let admin = server
        .create_user(login, Role::Admin, "Mairie")
        .await
        .unwrap();
    server.client(&admin).await.unwrap()
}

/// The account's key backup as the server holds it, opened with the recovery code `code`:
/// a paged backup's head with the keys of every page it names, each fetched and checked
/// against its hash (docs/PROTOCOL.md §10.8), or a blob of the first format. A page the
/// server dropped or altered is the `Err`.
pub async fn open_key_backup(
    client: &Client,
    user_id: &str,
    code: &str,
) -> Result<passerelle_shared::crypto::BackupContents, passerelle_shared::crypto::BackupError> {
    use passerelle_shared::crypto::{BackupError, RecoveryCode, StoredBackup};
    use passerelle_shared::protocol::v1::keys::{KeyBackupBody, KeyBackupPageBody};
    let key = RecoveryCode::parse(code).unwrap().backup_key(user_id);
    let body: KeyBackupBody = client.get("/keys/backup").await.unwrap();
    match serde_json::from_value::<StoredBackup>(body.data).unwrap() {
        StoredBackup::Single(sealed) => {
            assert_eq!(sealed.user_id, user_id);
            sealed.open(&key)
        }
        StoredBackup::Head(head) => {
            assert_eq!(head.user_id, user_id);
            let mut contents = head.open(&key)?;
            for reference in &head.pages {
                let response = client
                    .request(
                        reqwest::Method::GET,
                        &format!("/keys/backup/pages/{}", reference.hash),
                    )
                    .send()
                    .await
                    .unwrap();
                if response.status() == reqwest::StatusCode::NOT_FOUND {
                    return Err(BackupError::PageMissing);
                }
                let page: KeyBackupPageBody = response.json().await.unwrap();
                for ((channel, epoch), key) in page.page.open(&key, user_id, reference)? {
                    contents.insert_epoch_key(&channel, epoch, key);
                }
            }
            Ok(contents)
        }
    }
}

/// The hashes of the backup pages the server stores for `user_id`, in order.
pub async fn stored_backup_pages(server: &TestServer, user_id: &str) -> Vec<String> {
    let db = &server.state.db;
    db.query_all(Statement::from_sql_and_values(
        db.get_database_backend(),
        match db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                "SELECT hash FROM key_backup_pages WHERE user_id = $1 ORDER BY hash"
            }
            _ => "SELECT hash FROM key_backup_pages WHERE user_id = ? ORDER BY hash",
        },
        [user_id.into()],
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|row| row.try_get::<String>("", "hash").unwrap())
    .collect()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Files of the data directory (databases, WAL, audit log) holding `needle`'s bytes.
pub fn files_holding(server: &TestServer, needle: &str) -> Vec<String> {
    let mut files = Vec::new();
    files_under(server.data_dir.path(), &mut files);
    assert!(!files.is_empty());
    files
        .into_iter()
        .filter(|path| {
            std::fs::read(path)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .map(|path| path.display().to_string())
        .collect()
}

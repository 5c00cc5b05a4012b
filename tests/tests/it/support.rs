//! Shared set-up of the messaging suites: people with enrolled devices and open
//! connections, and helpers to wait for frames (with a generous guard, never a sleep).

use std::time::Duration;

use passerelle_shared::client::{Client, Connection, Device};
use passerelle_shared::crypto::MessageContent;
use passerelle_shared::protocol::v1::channels::{
    Channel, ChannelKind, CreateChannel, LegalRegime, StoredMessage,
};
use passerelle_shared::protocol::v1::ws::{ClientFrame, ServerFrame};
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::{TestServer, TestUser};

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
    pub async fn new(server: &TestServer, login: &str, role: Role, institution: &str) -> Party {
        let user = server.create_user(login, role, institution).await.unwrap();
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

/// A working group created by `coordinator` with `members`, open to their institutions.
pub async fn working_group(coordinator: &mut Party, members: &[&Party]) -> Channel {
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
                    .map(|m| m.user.institution_id.clone())
                    .collect(),
                members: members.iter().map(|m| m.user.id.clone()).collect(),
            },
        )
        .await
        .unwrap();
    channel
}

/// The access-log actions recorded for `target`, with their outcome.
pub async fn audit_actions(server: &TestServer, target: Option<&str>) -> Vec<(String, String)> {
    passerelle_tests::audit_actions(server, target).await
}

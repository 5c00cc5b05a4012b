//! The SDK's WebSocket connection: typed frames both ways, and cursors that deliver
//! each message once and in order.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{Client, ClientError, Result};
use crate::protocol::v1::channels::{Cursors, StoredMessage};
use crate::protocol::v1::routes::{self, API_BASE};
use crate::protocol::v1::ws::{ClientFrame, ServerFrame};

/// One WebSocket connection of a device.
pub struct Connection {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The last sequence number delivered, per channel.
    pub cursors: Cursors,
    /// Messages received ahead of a gap, waiting for the missing ones.
    pending: Pending,
    /// Set when the server closed the connection: its close code and reason.
    pub closed: Option<(u16, String)>,
}

impl Client {
    /// Opens the WebSocket for `device_id`.
    pub async fn connect(&self, device_id: &str) -> Result<Connection> {
        let url = format!(
            "{}{API_BASE}{}?device_id={}",
            self.base().replacen("http", "ws", 1),
            routes::WEBSOCKET.fill([]),
            routes::encode_component(device_id),
        );
        let mut request = url
            .into_client_request()
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let bearer = format!("Bearer {}", self.token());
        request.headers_mut().insert(
            "authorization",
            bearer
                .parse()
                .map_err(|_| ClientError::Transport("bad token".into()))?,
        );
        let (socket, _) =
            tokio_tungstenite::connect_async(request)
                .await
                .map_err(|err| match err {
                    tokio_tungstenite::tungstenite::Error::Http(response) => ClientError::Api {
                        status: response.status(),
                        code: String::from_utf8_lossy(
                            response.body().as_deref().unwrap_or_default(),
                        )
                        .into_owned(),
                    },
                    other => ClientError::Transport(other.to_string()),
                })?;
        Ok(Connection {
            socket,
            cursors: Cursors::new(),
            pending: BTreeMap::new(),
            closed: None,
        })
    }
}

impl Connection {
    /// Sends a frame.
    pub async fn send(&mut self, frame: &ClientFrame) -> Result<()> {
        let text =
            serde_json::to_string(frame).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.send_raw(&text).await
    }

    /// Sends raw text (tests use it for malformed frames).
    pub async fn send_raw(&mut self, text: &str) -> Result<()> {
        self.socket
            .send(Message::text(text))
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))
    }

    /// The next frame from the server, or `None` once the connection is closed.
    pub async fn next(&mut self) -> Option<ServerFrame> {
        loop {
            match self.socket.next().await? {
                Ok(Message::Text(text)) => match serde_json::from_str(&text) {
                    Ok(frame) => return Some(frame),
                    Err(_) => continue,
                },
                Ok(Message::Close(frame)) => {
                    self.closed = Some(match frame {
                        Some(frame) => (u16::from(frame.code), frame.reason.to_string()),
                        None => (u16::from(CloseCode::Normal), String::new()),
                    });
                    return None;
                }
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// The next frame within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<ServerFrame> {
        tokio::time::timeout(wait, self.next()).await.ok().flatten()
    }

    /// Feeds a received message to the cursors: returns the messages now deliverable in
    /// order (none for a duplicate; the held-back ones once a gap is filled).
    pub fn accept(&mut self, message: StoredMessage) -> Vec<StoredMessage> {
        accept_in(&mut self.cursors, &mut self.pending, message)
    }

    /// The catch-up is complete up to `reached`: a channel whose cursor is behind (the
    /// messages before one joined are not served) moves there, and what was held back
    /// waiting for the skipped stretch is released, in order.
    pub fn synced(&mut self, reached: &Cursors) -> Vec<StoredMessage> {
        synced_in(&mut self.cursors, &mut self.pending, reached)
    }

    /// Starts a catch-up from the cursors held.
    pub async fn sync(&mut self) -> Result<()> {
        let cursors = self.cursors.clone();
        self.send(&ClientFrame::Sync { cursors }).await
    }

    /// Closes the connection.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// Messages received ahead of a gap, by channel and seq.
pub(crate) type Pending = BTreeMap<(crate::ids::ChannelId, u64), StoredMessage>;

/// [`Connection::accept`] over cursors and held-back messages kept elsewhere (the agent
/// keeps them itself: its socket is read by a task of its own).
pub(crate) fn accept_in(
    cursors: &mut Cursors,
    pending: &mut Pending,
    message: StoredMessage,
) -> Vec<StoredMessage> {
    let cursor = cursors.get(&message.channel_id).copied().unwrap_or(0);
    if message.seq <= cursor {
        return Vec::new();
    }
    let channel = message.channel_id.clone();
    pending.insert((channel.clone(), message.seq), message);
    let mut delivered = Vec::new();
    let mut next = cursor + 1;
    while let Some(message) = pending.remove(&(channel.clone(), next)) {
        delivered.push(message);
        next += 1;
    }
    if !delivered.is_empty() {
        cursors.insert(channel, next - 1);
    }
    delivered
}

/// [`Connection::synced`] over cursors and held-back messages kept elsewhere.
pub(crate) fn synced_in(
    cursors: &mut Cursors,
    pending: &mut Pending,
    reached: &Cursors,
) -> Vec<StoredMessage> {
    let mut delivered = Vec::new();
    for (channel, seq) in reached {
        let cursor = cursors.entry(channel.clone()).or_insert(0);
        if *cursor >= *seq {
            continue;
        }
        *cursor = *seq;
        let mut next = *seq + 1;
        pending.retain(|(c, s), _| c != channel || *s >= next);
        while let Some(message) = pending.remove(&(channel.clone(), next)) {
            delivered.push(message);
            next += 1;
        }
        cursors.insert(channel.clone(), next - 1);
    }
    delivered
}

//! The bare hub: a minimal tokio-tungstenite broadcast server, the baseline every
//! Passerelle figure is divided by (docs/ARCHITECTURE.md).
//!
//! No authentication, no storage, no verification, no parsing beyond finding two
//! fields by substring. A connection names its rooms in the URL (`/?rooms=a,b`); a text
//! frame carrying `"channel_id":"x"` is sent as is to every connection of room `x`
//! (the sender included, as Passerelle does) and answered with an `ack` naming its
//! `client_msg_id`. Anything else is answered with a `pong`. Each connection has a
//! bounded queue drained by its own writer task, a 4 KiB read buffer, and TCP_NODELAY;
//! the room map's lock is never held while writing to a socket.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use anyhow::Result;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Frames queued per connection before further frames to it are dropped.
const QUEUE: usize = 1024;

type Member = (u64, mpsc::Sender<Message>);

#[derive(Default)]
struct Hub {
    rooms: RwLock<HashMap<String, Vec<Member>>>,
    next_id: AtomicU64,
    dropped: AtomicU64,
}

/// Serves until the process is killed.
pub(crate) async fn serve(listen: SocketAddr) -> Result<()> {
    let listener = TcpListener::bind(listen).await?;
    let hub = Arc::new(Hub::default());
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(connection(hub.clone(), stream));
    }
}

/// The value of `"name":"` in `text`, up to the next quote.
pub(crate) fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = text.find(name)? + name.len();
    let rest = &text[start..];
    let end = rest.find('"')?;
    Some(&rest[..end])
}

async fn connection(hub: Arc<Hub>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut rooms: Vec<String> = Vec::new();
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(4096);
    // tungstenite's callback signature returns its (large) error response by value.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, response: Response| {
        if let Some(query) = request.uri().query() {
            for pair in query.split('&') {
                if let Some(list) = pair.strip_prefix("rooms=") {
                    rooms.extend(list.split(',').filter(|r| !r.is_empty()).map(str::to_owned));
                }
            }
        }
        Ok(response)
    };
    let Ok(socket) =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)).await
    else {
        return;
    };
    let id = hub.next_id.fetch_add(1, Ordering::Relaxed);
    let (queue, mut frames) = mpsc::channel::<Message>(QUEUE);
    {
        let mut map = hub.rooms.write().unwrap_or_else(|p| p.into_inner());
        for room in &rooms {
            map.entry(room.clone())
                .or_default()
                .push((id, queue.clone()));
        }
    }
    let (mut sink, mut incoming) = socket.split();
    let writer = tokio::spawn(async move {
        while let Some(frame) = frames.recv().await {
            if sink.feed(frame).await.is_err() {
                return;
            }
            while let Ok(frame) = frames.try_recv() {
                if sink.feed(frame).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    while let Some(Ok(message)) = incoming.next().await {
        match message {
            Message::Text(text) => {
                let answer = match field(text.as_str(), "\"channel_id\":\"") {
                    Some(room) => {
                        let client_msg_id =
                            field(text.as_str(), "\"client_msg_id\":\"").unwrap_or_default();
                        let ack =
                            format!("{{\"type\":\"ack\",\"client_msg_id\":\"{client_msg_id}\"}}");
                        broadcast(&hub, room, &text);
                        ack
                    }
                    None => "{\"type\":\"pong\"}".to_owned(),
                };
                if queue.try_send(Message::Text(answer.into())).is_err() {
                    hub.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    {
        let mut map = hub.rooms.write().unwrap_or_else(|p| p.into_inner());
        for room in &rooms {
            if let Some(members) = map.get_mut(room) {
                members.retain(|(member, _)| *member != id);
                if members.is_empty() {
                    map.remove(room);
                }
            }
        }
    }
    drop(queue);
    let _ = writer.await;
}

fn broadcast(hub: &Hub, room: &str, text: &Utf8Bytes) {
    let map = hub.rooms.read().unwrap_or_else(|p| p.into_inner());
    let Some(members) = map.get(room) else {
        return;
    };
    for (_, member) in members {
        // Shares the bytes: a frame is never copied per recipient.
        if member.try_send(Message::Text(text.clone())).is_err() {
            hub.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn a_field_is_found_by_its_name() {
        let text = r#"{"type":"send","channel_id":"c-1","envelope":{"client_msg_id":"m"}}"#;
        assert_eq!(field(text, "\"channel_id\":\""), Some("c-1"));
        assert_eq!(field(text, "\"client_msg_id\":\""), Some("m"));
        assert_eq!(field(text, "\"nope\":\""), None);
    }
}

//! The agent's connection task: it owns one WebSocket and keeps reading it whether or not
//! the application is asking for anything, so that the server's pings are answered (the
//! pong is written while reading) and the connection stays up through hours of silence.
//! It also pings when nothing was sent for a while, for proxies that close quiet
//! connections, and buffers what arrives until the agent asks for it.
//!
//! Without it, a program busy elsewhere (or simply waiting for something to post) lost
//! its connection after the server's idle limit and found out only at its next call.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Connection;
use crate::protocol::v1::ws::{ClientFrame, ServerFrame};

/// Frames buffered for the agent before the task stops reading: beyond, the server's own
/// queue for this connection fills and it closes the connection (4001), and the agent
/// catches up from its cursors when it comes back. Memory stays bounded.
const BUFFERED_FRAMES: usize = 4096;

/// What the task hands to the agent.
pub(crate) enum Incoming {
    /// A frame, in the order received (boxed: a buffered close is not as large as a frame).
    Frame(Box<ServerFrame>),
    /// The connection is gone: the server's close code and reason, if it sent one.
    Closed(Option<(u16, String)>),
}

/// The agent's side of a running connection. Dropping it ends the task, which closes
/// the WebSocket (its `out.recv()` or its `incoming.send()` fails).
pub(crate) struct Link {
    out: mpsc::UnboundedSender<ClientFrame>,
    incoming: mpsc::Receiver<Incoming>,
}

impl Link {
    /// Starts the task over an open connection.
    pub(crate) fn start(conn: Connection, ping_every: Duration) -> Link {
        let (out, out_rx) = mpsc::unbounded_channel();
        let (incoming_tx, incoming) = mpsc::channel(BUFFERED_FRAMES);
        tokio::spawn(run(conn, out_rx, incoming_tx, ping_every));
        Link { out, incoming }
    }

    /// Queues a frame for sending; `false` when the connection is already gone.
    pub(crate) fn send(&self, frame: ClientFrame) -> bool {
        self.out.send(frame).is_ok()
    }

    /// What the task received and the agent did not take yet, without waiting.
    pub(crate) fn try_next(&mut self) -> Option<Incoming> {
        self.incoming.try_recv().ok()
    }

    /// The next thing the task received (`Closed` once, then `None`).
    pub(crate) async fn next(&mut self) -> Option<Incoming> {
        self.incoming.recv().await
    }
}

async fn run(
    mut conn: Connection,
    mut out: mpsc::UnboundedReceiver<ClientFrame>,
    incoming: mpsc::Sender<Incoming>,
    ping_every: Duration,
) {
    let mut last_sent = Instant::now();
    loop {
        tokio::select! {
            // `Connection::next` awaits only the socket's next message: cancel-safe.
            frame = conn.next() => match frame {
                Some(frame) => {
                    if incoming.send(Incoming::Frame(Box::new(frame))).await.is_err() {
                        break;
                    }
                }
                None => {
                    let _ = incoming.send(Incoming::Closed(conn.closed.take())).await;
                    return;
                }
            },
            frame = out.recv() => {
                let Some(frame) = frame else { break };
                if conn.send(&frame).await.is_err() {
                    let _ = incoming.send(Incoming::Closed(None)).await;
                    return;
                }
                last_sent = Instant::now();
            },
            () = tokio::time::sleep_until(last_sent + ping_every) => {
                if conn.send(&ClientFrame::Ping).await.is_err() {
                    let _ = incoming.send(Incoming::Closed(None)).await;
                    return;
                }
                last_sent = Instant::now();
            },
        }
    }
    // The agent let go of the connection: say goodbye to the server.
    conn.close().await;
}

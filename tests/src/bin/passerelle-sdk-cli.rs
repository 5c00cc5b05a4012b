//! A small driver of the Rust SDK for the browser cross test (issue 7): a message sent by
//! the SDK is read in the browser, and the reverse.
//!
//! `passerelle-sdk-cli exchange <base_url> <login> <password> <totp_base32> <channel_id>`
//! logs in, enrols a first device, accepts the charter and the channel's rules, connects,
//! prints `{"ready": true}`, then reads commands on stdin, one per line:
//! - `send <text>`: seals and sends the text, waits for its ack, prints `{"sent": seq}`;
//! - `read <n>`: waits (30 s at most) for n decrypted messages from others, prints
//!   `{"messages": [...]}`.
//!
//! Errors go to stderr with a non-zero exit status.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use passerelle_shared::client::{Client, Connection, Device};
use passerelle_shared::crypto::MessageContent;
use passerelle_shared::protocol::v1::channels::StoredMessage;
use passerelle_shared::protocol::v1::charter::{Accept, CharterStatus, RulesStatus};
use passerelle_shared::protocol::v1::ws::{ClientFrame, ServerFrame};
use tokio::io::{AsyncBufReadExt, BufReader};

/// How long `send` waits for its ack and `read` for its messages.
const WAIT: Duration = Duration::from_secs(30);

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("passerelle-sdk-cli: {error:#}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [command, base, login, password, totp_base32, channel_id] = args.as_slice() else {
        bail!("usage: passerelle-sdk-cli exchange <base_url> <login> <password> <totp_base32> <channel_id>");
    };
    if command != "exchange" {
        bail!("unknown command {command:?}");
    }
    let mut session = Session::open(base, login, password, totp_base32, channel_id).await?;
    println!("{}", serde_json::json!({ "ready": true }));

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await.context("reading stdin")? {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            continue;
        }
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        match verb {
            "send" => {
                let seq = session.send(rest).await?;
                println!("{}", serde_json::json!({ "sent": seq }));
            }
            "read" => {
                let n: usize = rest.trim().parse().context("read <n>: n is not a number")?;
                let texts = session.read(n).await?;
                println!("{}", serde_json::json!({ "messages": texts }));
            }
            "quit" => break,
            other => bail!("unknown command {other:?}"),
        }
    }
    session.conn.close().await;
    Ok(())
}

/// A logged-in SDK client with its device and connection.
struct Session {
    client: Client,
    device: Device,
    conn: Connection,
    channel_id: String,
    /// Messages from others, in order, not yet handed out by `read`.
    inbox: VecDeque<StoredMessage>,
}

impl Session {
    async fn open(
        base: &str,
        login: &str,
        password: &str,
        totp_base32: &str,
        channel_id: &str,
    ) -> Result<Session> {
        let mut code_error = None;
        let mut client = Client::login(base, login, password, |challenge| {
            let secret = challenge
                .enrolment
                .as_ref()
                .map(|e| e.secret_base32.clone())
                .unwrap_or_else(|| totp_base32.to_owned());
            match totp_code(&secret) {
                Ok(code) => code,
                Err(error) => {
                    code_error = Some(error);
                    String::new()
                }
            }
        })
        .await
        .map_err(|error| match code_error.take() {
            Some(code) => code.context(format!("login: {error}")),
            None => anyhow!("login: {error}"),
        })?;
        let enrolment = client
            .enrol_first_device("passerelle-sdk-cli")
            .await
            .map_err(|e| anyhow!("enrolling the device: {e}"))?;
        let device = enrolment.device;

        let charter: CharterStatus = client
            .get("/charter")
            .await
            .map_err(|e| anyhow!("GET /charter: {e}"))?;
        let version = charter
            .current
            .ok_or_else(|| anyhow!("no charter is published"))?
            .version;
        client
            .post_empty("/charter/accept", &Accept { version })
            .await
            .map_err(|e| anyhow!("accepting the charter: {e}"))?;

        let rules: RulesStatus = client
            .get(&format!("/channels/{channel_id}/rules"))
            .await
            .map_err(|e| anyhow!("GET rules: {e}"))?;
        if rules.required {
            let version = rules
                .current
                .ok_or_else(|| anyhow!("the channel's rules are not published"))?
                .version;
            client
                .post_empty(
                    &format!("/channels/{channel_id}/rules/accept"),
                    &Accept { version },
                )
                .await
                .map_err(|e| anyhow!("accepting the rules: {e}"))?;
        }

        let conn = client
            .connect(&device.device_id)
            .await
            .map_err(|e| anyhow!("connecting the WebSocket: {e}"))?;
        Ok(Session {
            client,
            device,
            conn,
            channel_id: channel_id.to_owned(),
            inbox: VecDeque::new(),
        })
    }

    /// Seals and sends `text`; returns its seq once acknowledged.
    async fn send(&mut self, text: &str) -> Result<u64> {
        let envelope = self
            .client
            .seal(
                &mut self.device,
                &self.channel_id,
                &MessageContent::text(text),
            )
            .await
            .map_err(|e| anyhow!("sealing: {e}"))?;
        let client_msg_id = envelope.client_msg_id.clone();
        self.conn
            .send(&ClientFrame::Send {
                channel_id: self.channel_id.clone(),
                envelope,
            })
            .await
            .map_err(|e| anyhow!("sending: {e}"))?;
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.conn.next_within(left).await {
                Some(ServerFrame::Ack {
                    client_msg_id: id,
                    seq,
                    ..
                }) if id == client_msg_id => return Ok(seq),
                Some(ServerFrame::Error {
                    reference, code, ..
                }) if reference.as_deref() == Some(client_msg_id.as_str()) => {
                    bail!("send refused: {code}")
                }
                Some(ServerFrame::Message(message)) => self.take(message),
                Some(_) => continue,
                None => bail!("no ack for {client_msg_id}: {:?}", self.conn.closed),
            }
        }
    }

    /// Feeds a message to the cursors; keeps the deliverable ones from others.
    fn take(&mut self, message: StoredMessage) {
        let me = self.client.me.id.clone();
        for delivered in self.conn.accept(message) {
            if delivered.channel_id == self.channel_id && delivered.sender != me {
                self.inbox.push_back(delivered);
            }
        }
    }

    /// Waits for `n` messages from others and decrypts them.
    async fn read(&mut self, n: usize) -> Result<Vec<String>> {
        let deadline = Instant::now() + WAIT;
        while self.inbox.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(
                    "only {} message(s) of {n} within {WAIT:?}",
                    self.inbox.len()
                );
            }
            match self.conn.next_within(left).await {
                Some(ServerFrame::Message(message)) => self.take(message),
                Some(_) => continue,
                None if Instant::now() >= deadline => {
                    bail!(
                        "only {} message(s) of {n} within {WAIT:?}",
                        self.inbox.len()
                    )
                }
                None => bail!("connection ended: {:?}", self.conn.closed),
            }
        }
        let mut texts = Vec::with_capacity(n);
        for message in self.inbox.drain(..n).collect::<Vec<_>>() {
            let content = self
                .client
                .open(&self.device, &message)
                .await
                .map_err(|e| anyhow!("decrypting seq {}: {e}", message.seq))?;
            texts.push(content.text.clone());
        }
        Ok(texts)
    }
}

/// The current TOTP code (SHA1, 6 digits, 30 s) for a base32 secret.
fn totp_code(secret_base32: &str) -> Result<String> {
    let secret = totp_rs::Secret::Encoded(secret_base32.to_owned())
        .to_bytes()
        .map_err(|e| anyhow!("TOTP secret: {e:?}"))?;
    let totp = totp_rs::TOTP::new_unchecked(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        secret,
        Some("Passerelle".into()),
        String::new(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("clock before 1970")?;
    Ok(totp.generate(now.as_secs()))
}

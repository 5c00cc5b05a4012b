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
//!
//! The other commands run on the SDK's `Agent`, with its device and cursors in an
//! encrypted store (`--store`, default `passerelle-sdk.store`; passphrase in
//! `PASSERELLE_SDK_PASSPHRASE` or key in `PASSERELLE_SDK_KEY`), so that one device serves
//! every run:
//! - `login --url U --login L [--totp-secret S] [--recovery-code C] [--accept-charter]`
//!   (password in `PASSERELLE_SDK_PASSWORD`): prints, once, the TOTP secret of a first
//!   login and the recovery code of a new identity; both matter to the person, not only
//!   to this program;
//! - for a coordinator, so that a council is set up from the command line:
//!   `create-group --name NAME [--regime clspd_confidential|shared_secret_social|child_protection]
//!   MEMBER…` (members by account id or exact name as the directory shows it; prints
//!   `{"channel_id": …}`) and `publish-rules CHANNEL FILE` (prints `{"rules_version": v}`);
//! - `accept-rules CHANNEL`, `send CHANNEL TEXT` (prints `{"sent": seq}`),
//!   `read [--channel C] N` (N messages, one JSON line each), `sync` (what is new),
//!   `follow` (every event, until interrupted or access ends).

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
    if args.first().map(String::as_str) != Some("exchange") {
        return agent_cli::run(&args).await;
    }
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
                channel_id: self.channel_id.clone().into(),
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

/// The commands on the SDK's `Agent`, across runs with the same store.
mod agent_cli {
    use std::path::PathBuf;
    use std::time::Duration;

    use anyhow::{anyhow, bail, Context, Result};
    use passerelle_shared::client::store::{EncryptedFileStore, SecretString, StoreKey};
    use passerelle_shared::client::{Agent, AgentOptions, Event, Login};
    use passerelle_shared::protocol::v1::channels::{
        Channel, ChannelKind, CreateChannel, DirectoryEntry, LegalRegime,
    };
    use passerelle_shared::protocol::v1::charter::{PublishText, RulesVersion};
    use serde_json::json;

    /// How long `read` waits for its messages.
    const READ_WAIT: Duration = Duration::from_secs(30);

    /// Splits `--name value` options from positional arguments.
    struct Args {
        options: Vec<(String, Option<String>)>,
        positional: Vec<String>,
    }

    impl Args {
        fn parse(args: &[String]) -> Args {
            let mut options = Vec::new();
            let mut positional = Vec::new();
            let mut rest = args.iter().peekable();
            while let Some(arg) = rest.next() {
                if let Some(name) = arg.strip_prefix("--") {
                    let value = match name {
                        "accept-charter" => None,
                        _ => rest.next().cloned(),
                    };
                    options.push((name.to_owned(), value));
                } else {
                    positional.push(arg.clone());
                }
            }
            Args {
                options,
                positional,
            }
        }

        fn get(&self, name: &str) -> Option<&str> {
            self.options
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| v.as_deref())
        }

        fn flag(&self, name: &str) -> bool {
            self.options.iter().any(|(n, _)| n == name)
        }
    }

    fn store(args: &Args) -> Result<Box<EncryptedFileStore>> {
        let path = PathBuf::from(args.get("store").unwrap_or("passerelle-sdk.store"));
        let key = StoreKey::from_env().map_err(|e| anyhow!("{e}"))?;
        Ok(Box::new(
            EncryptedFileStore::open(&path, key).map_err(|e| anyhow!("{e}"))?,
        ))
    }

    fn options() -> AgentOptions {
        AgentOptions {
            device_name: "passerelle-sdk-cli".into(),
            ..AgentOptions::default()
        }
    }

    pub(super) async fn run(raw: &[String]) -> Result<()> {
        let Some((command, rest)) = raw.split_first() else {
            bail!("usage: passerelle-sdk-cli login|create-group|publish-rules|accept-rules|send|read|sync|follow|exchange …");
        };
        let args = Args::parse(rest);
        if command == "login" {
            return login(&args).await;
        }
        let mut agent = Agent::open(store(&args)?, options())
            .await
            .map_err(|e| anyhow!("opening the stored device: {e}"))?;
        match (command.as_str(), args.positional.as_slice()) {
            ("create-group", members) => {
                let channel_id = create_group(&agent, &args, members).await?;
                println!("{}", json!({ "channel_id": channel_id }));
            }
            ("publish-rules", [channel, file]) => {
                let text =
                    std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
                let rules: RulesVersion = agent
                    .client()
                    .post(&format!("/channels/{channel}/rules"), &PublishText { text })
                    .await
                    .map_err(|e| anyhow!("publishing the rules: {e}"))?;
                println!("{}", json!({ "rules_version": rules.version }));
            }
            ("accept-rules", [channel]) => {
                let version = agent
                    .accept_rules(channel)
                    .await
                    .map_err(|e| anyhow!("accepting the rules: {e}"))?;
                // A coordinator's program signs the member list as soon as it may, so
                // that the members can write (docs/PROTOCOL.md §22.4).
                agent
                    .start_log(channel)
                    .await
                    .map_err(|e| anyhow!("signing the member list: {e}"))?;
                println!("{}", json!({ "accepted": version }));
            }
            ("send", [channel, text]) => {
                let seq = agent
                    .send_text(channel, text)
                    .await
                    .map_err(|e| anyhow!("sending: {e}"))?;
                println!("{}", json!({ "sent": seq }));
            }
            ("read", [n]) => {
                let n: usize = n.parse().context("read <n>: n is not a number")?;
                let channel = args.get("channel");
                let mut read = 0;
                while read < n {
                    let event = agent
                        .next_event_within(READ_WAIT)
                        .await
                        .map_err(|e| anyhow!("reading: {e}"))?
                        .ok_or_else(|| {
                            anyhow!("only {read} message(s) of {n} within {READ_WAIT:?}")
                        })?;
                    if let Some(line) = message_line(&event, channel) {
                        println!("{line}");
                        read += 1;
                    }
                }
            }
            ("sync", []) => {
                agent.sync().await.map_err(|e| anyhow!("syncing: {e}"))?;
                // What the catch-up queued, up to its end marker.
                loop {
                    let event = agent
                        .next_event()
                        .await
                        .map_err(|e| anyhow!("syncing: {e}"))?;
                    if matches!(event, Event::Synced) {
                        break;
                    }
                    if let Some(line) = message_line(&event, None) {
                        println!("{line}");
                    }
                }
            }
            ("follow", []) => loop {
                let event = agent
                    .next_event()
                    .await
                    .map_err(|e| anyhow!("following: {e}"))?;
                if let Some(line) = event_line(&event) {
                    println!("{line}");
                }
            },
            (other, _) => bail!("unknown command or arguments: {other}"),
        }
        agent.close().await.map_err(|e| anyhow!("{e}"))?;
        Ok(())
    }

    /// A working group of this coordinator and `members` (ids or exact names from the
    /// directory), open to their institutions and the coordinator's.
    async fn create_group(agent: &Agent, args: &Args, members: &[String]) -> Result<String> {
        let name = args.get("name").context("create-group needs --name")?;
        let regime = match args.get("regime") {
            Some(regime) => LegalRegime::parse(regime).with_context(|| {
                format!("unknown regime {regime:?}: clspd_confidential, shared_secret_social or child_protection")
            })?,
            None => LegalRegime::ClspdConfidential,
        };
        let directory: Vec<DirectoryEntry> = agent
            .client()
            .get("/directory")
            .await
            .map_err(|e| anyhow!("reading the directory: {e}"))?;
        let mut ids = Vec::new();
        let mut institutions = vec![agent.client().me.institution.id.clone()];
        for wanted in members {
            let found: Vec<&DirectoryEntry> = directory
                .iter()
                .filter(|e| e.user_id == *wanted || e.display_name == *wanted)
                .collect();
            let [entry] = found.as_slice() else {
                bail!(
                    "{wanted:?} names {} accounts of the directory, not one",
                    found.len()
                );
            };
            ids.push(entry.user_id.clone());
            if !institutions.contains(&entry.institution.id) {
                institutions.push(entry.institution.id.clone());
            }
        }
        let channel: Channel = agent
            .client()
            .post(
                "/channels",
                &CreateChannel {
                    kind: ChannelKind::WorkingGroup,
                    name: name.to_owned(),
                    regime,
                    institutions,
                    members: ids,
                },
            )
            .await
            .map_err(|e| anyhow!("creating the group: {e}"))?;
        Ok(channel.id.to_string())
    }

    async fn login(args: &Args) -> Result<()> {
        let url = args.get("url").context("login needs --url")?;
        let login = args.get("login").context("login needs --login")?;
        let password = SecretString::new(
            std::env::var("PASSERELLE_SDK_PASSWORD")
                .context("set PASSERELLE_SDK_PASSWORD to the account's password")?,
        );
        // An account an administrator created has a provisional password: the program
        // replaces it at its first login with this one.
        let new_password = std::env::var("PASSERELLE_SDK_NEW_PASSWORD")
            .ok()
            .map(|p| SecretString::new(&p));
        let (agent, first) = Agent::login(
            store(args)?,
            Login {
                base_url: url,
                login,
                password: password.expose(),
                totp_secret: args.get("totp-secret"),
                recovery_code: args.get("recovery-code"),
                new_password: new_password.as_ref().map(|p| p.expose()),
            },
            options(),
        )
        .await
        .map_err(|e| anyhow!("login: {e}"))?;
        // Shown once: the person needs them beyond this program.
        if let Some(secret) = &first.totp_secret {
            println!(
                "{}",
                json!({ "totp_secret": secret.expose(), "note": "à ajouter à une application d'authentification" })
            );
        }
        if let Some(code) = &first.recovery_code {
            println!(
                "{}",
                json!({ "recovery_code": code.expose(), "note": "à noter et conserver hors ligne ; il ne sera plus affiché" })
            );
        }
        if args.flag("accept-charter") {
            let version = agent
                .accept_charter()
                .await
                .map_err(|e| anyhow!("accepting the charter: {e}"))?;
            println!("{}", json!({ "charter_accepted": version }));
        }
        println!("{}", json!({ "device_id": agent.device().device_id }));
        agent.close().await.map_err(|e| anyhow!("{e}"))?;
        Ok(())
    }

    fn message_line(event: &Event, channel: Option<&str>) -> Option<serde_json::Value> {
        match event {
            Event::Message {
                message,
                content,
                order,
                old_key,
                ..
            } if channel.is_none_or(|c| c == message.channel_id) => {
                let mut line = json!({
                    "channel_id": message.channel_id,
                    "seq": message.seq,
                    "sender": message.sender,
                    "ts": message.ts,
                    "text": content.text,
                });
                // What is wrong with its sender's order (PROTOCOL.md §8.8), by code.
                if !order.is_empty() {
                    line["order"] = order.iter().map(|n| n.anomaly.code()).collect();
                }
                // Signed under a previous identity of its sender (PROTOCOL.md §25).
                if *old_key {
                    line["old_key"] = json!(true);
                }
                Some(line)
            }
            Event::Unreadable { message, reason }
                if channel.is_none_or(|c| c == message.channel_id) =>
            {
                Some(json!({
                    "channel_id": message.channel_id,
                    "seq": message.seq,
                    "sender": message.sender,
                    "unreadable": reason,
                }))
            }
            _ => None,
        }
    }

    fn event_line(event: &Event) -> Option<serde_json::Value> {
        if let Some(line) = message_line(event, None) {
            return Some(line);
        }
        Some(match event {
            Event::Member {
                channel_id,
                user_id,
                change,
                event,
            } => {
                json!({ "member": change, "channel_id": channel_id, "user_id": user_id, "event": event })
            }
            Event::Receipt {
                channel_id,
                user_id,
                seq,
            } => json!({ "receipt": seq, "channel_id": channel_id, "user_id": user_id }),
            Event::AcceptanceRequired {
                channel_id,
                version,
            } => json!({ "acceptance_required": version, "channel_id": channel_id }),
            Event::Reconnected => json!({ "reconnected": true }),
            Event::Synced => json!({ "synced": true }),
            Event::TailMissing {
                channel_id,
                notices,
            } => json!({
                "channel_id": channel_id,
                "tail_missing": notices.iter().map(|n| n.sender_device.clone()).collect::<Vec<_>>(),
            }),
            Event::MembershipLogRefused {
                channel_id,
                refusal,
            } => json!({ "channel_id": channel_id, "membership_log_refused": refusal.code() }),
            // The server shows another key log to this message's sender (PROTOCOL.md §27).
            Event::KeyLogSplitView { message, .. } => json!({
                "channel_id": message.channel_id,
                "seq": message.seq,
                "key_log_split_view": true,
            }),
            _ => return None,
        })
    }
}

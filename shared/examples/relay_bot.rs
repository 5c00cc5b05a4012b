//! A bot that relays a mediator's field reports: every message posted in one channel is
//! re-posted, with its author's name, in another (say, from the mediators' group to the
//! council's watch group). It runs for days: the agent keeps its device and cursors in
//! its store, reconnects and catches up by itself after a node restart, answers the
//! server's pings while nothing happens, and re-seals through key rotations.
//!
//! Prepare the store once with `passerelle-sdk-cli login` (and `accept-rules` for both
//! channels), then:
//!
//! ```text
//! PASSERELLE_SDK_PASSPHRASE=… cargo run -p passerelle-shared --features client \
//!     --example relay_bot -- relais.store FROM_CHANNEL_ID TO_CHANNEL_ID
//! ```
//!
//! A message is relayed at least once: the cursor of a message is stored once the next
//! event is asked for, so a crash between the relay and that moment relays it again.

use std::collections::HashMap;
use std::process::ExitCode;

use passerelle_shared::client::store::{EncryptedFileStore, StoreKey};
use passerelle_shared::client::{Agent, AgentOptions, ClientError, Event};
use passerelle_shared::protocol::v1::channels::ChannelDetail;
use passerelle_shared::protocol::v1::routes;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("relay_bot: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), ClientError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, from, to] = args.as_slice() else {
        return Err(ClientError::Protocol(
            "usage: relay_bot STORE FROM_CHANNEL_ID TO_CHANNEL_ID".into(),
        ));
    };
    let store = Box::new(EncryptedFileStore::open(store, StoreKey::from_env()?)?);
    let mut agent = Agent::open(store, AgentOptions::default()).await?;
    let mut names = display_names(&agent, from).await?;
    loop {
        match agent.next_event().await? {
            Event::Message {
                message,
                content,
                from_me: false,
                ..
            } if message.channel_id == *from => {
                let author = names
                    .get(message.sender.as_str())
                    .cloned()
                    .unwrap_or_else(|| "un membre".to_owned());
                let relayed = format!("[relais de {author}] {}", content.text);
                let seq = agent.send_text(to, &relayed).await?;
                eprintln!(
                    "relayed {}#{} as {to}#{seq}",
                    message.channel_id, message.seq
                );
            }
            Event::Unreadable { message, reason } if message.channel_id == *from => {
                eprintln!(
                    "{}#{} unreadable: {reason}",
                    message.channel_id, message.seq
                );
            }
            Event::Member { channel_id, .. } if channel_id == *from => {
                names = display_names(&agent, from).await?;
            }
            Event::AcceptanceRequired {
                channel_id,
                version,
            } => {
                // Accepting is an act of the account's holder: the bot waits for it.
                eprintln!(
                    "version {version} of {} must be accepted (passerelle-sdk-cli accept-…)",
                    channel_id.as_deref().unwrap_or("the charter")
                );
            }
            Event::Reconnected => eprintln!("reconnected; catching up"),
            _ => {}
        }
    }
}

/// The names of a channel's members, to sign relayed messages.
async fn display_names(
    agent: &Agent,
    channel: &str,
) -> Result<HashMap<String, String>, ClientError> {
    let detail: ChannelDetail = agent.client().call(routes::CHANNEL, [channel]).await?;
    Ok(detail
        .members
        .into_iter()
        .map(|m| (m.user_id.into_string(), m.display_name))
        .collect())
}

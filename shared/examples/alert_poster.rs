//! An alert poster: a police or social-services application pipes one alert per line
//! into it, and each is posted to a channel, end-to-end encrypted, and acknowledged. The
//! poster may stay silent for hours between two alerts: the agent's connection task
//! answers the server's pings meanwhile, and an expired session is opened again with
//! the stored credentials.
//!
//! Prepare the store once with `passerelle-sdk-cli login` and `accept-rules CHANNEL_ID`
//! (accepting a group's rules is an act of the account's holder), then:
//!
//! ```text
//! tail -F /var/log/alertes.txt | PASSERELLE_SDK_PASSPHRASE=… cargo run -p passerelle-shared \
//!     --features client --example alert_poster -- alertes.store CHANNEL_ID
//! ```
//!
//! Prints `{"line":N,"seq":S}` per alert once the server has stored it. An alert whose
//! send failed is reported and the poster stops: sending it again might post it twice.

use std::process::ExitCode;

use passerelle_shared::client::store::{EncryptedFileStore, StoreKey};
use passerelle_shared::client::{Agent, AgentOptions, ClientError};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("alert_poster: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), ClientError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, channel] = args.as_slice() else {
        return Err(ClientError::Protocol(
            "usage: alert_poster STORE CHANNEL_ID".into(),
        ));
    };
    let store = Box::new(EncryptedFileStore::open(store, StoreKey::from_env()?)?);
    let mut agent = Agent::open(store, AgentOptions::default()).await?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut number = 0u64;
    while let Some(line) = lines
        .next_line()
        .await
        .map_err(|e| ClientError::Transport(e.to_string()))?
    {
        number += 1;
        let alert = line.trim();
        if alert.is_empty() {
            continue;
        }
        let seq = agent.send_text(channel, alert).await?;
        println!("{{\"line\":{number},\"seq\":{seq}}}");
    }
    agent.close().await
}

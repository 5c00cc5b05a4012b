//! The people of a benchmark and what they prepare before a timed phase.
//!
//! Accounts are created the way an administrator creates them: the first admin with
//! `passerelle admin create-user` on the server's terminal, everyone else through
//! `POST /api/v1/admin/users`. Each person then logs in as a user does (password, then
//! the TOTP code of the enrolment secret the first login returns) and enrols a device
//! with the SDK (identity key, certified device, key backup). Channels are created by
//! a coordinator member through `POST /api/v1/channels`.
//!
//! Before each timed phase, [`build_plan`] creates the epoch keys the channels will
//! need, wraps each for every member device and signs the wraps (what
//! `Client::publish_epoch` does), and seals and signs every message with the sender
//! device's key (`Envelope::seal`, what `Client::seal` does): the server receives real
//! envelopes and verifies them, but the generator spends no CPU on cryptography while
//! the server is measured.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::StreamExt;
use passerelle_shared::client::{decode, Client, Device};
use passerelle_shared::crypto::{
    Envelope, EpochKey, MessageContent, MessageHeader, MessageOrder, MAX_MESSAGES_PER_EPOCH,
};
use passerelle_shared::protocol::v1::auth::{LoginChallenge, Me, SessionOpened};
use passerelle_shared::protocol::v1::channels::StoredMessage;
use passerelle_shared::protocol::v1::ws::{ClientFrame, ServerFrame};
use serde_json::{json, Value};

use super::bare::field;
use super::load::{message_id, ChannelPlan, Cycle, Msg, Plan, Publish};

/// Messages per epoch: the server refuses the next one until a new epoch is published.
pub(crate) const PER_EPOCH: usize = MAX_MESSAGES_PER_EPOCH as usize;

/// A logged-in person with an enrolled device.
pub(crate) struct Person {
    /// Account id.
    pub(crate) user_id: String,
    /// Bearer token of their session.
    pub(crate) token: String,
    /// Their SDK client.
    pub(crate) client: Client,
    /// Their device (keys and certificate).
    pub(crate) device: Device,
}

fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Creates the institution and the first admin with the server's CLI (before the server
/// starts); returns the institution id and the admin's one-time password.
pub(crate) async fn bootstrap(
    bin: &std::path::Path,
    backend: &super::procs::Backend,
    admin_login: &str,
) -> Result<(String, String)> {
    let out = backend
        .admin(
            bin,
            &[
                "create-institution",
                "Banc d'essai",
                "--kind",
                "collectivite",
            ],
        )
        .await?;
    let institution = out
        .rsplit_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(id, _)| id.to_owned())
        .context("no institution id in the CLI's answer")?;
    let out = backend
        .admin(
            bin,
            &[
                "create-user",
                "--login",
                admin_login,
                "--name",
                "Administration du banc",
                "--institution",
                &institution,
                "--role",
                "admin",
            ],
        )
        .await?;
    let password = out
        .lines()
        .find_map(|line| line.split_once("One-time password").map(|(_, rest)| rest))
        .and_then(|rest| rest.rsplit_once(": "))
        .map(|(_, password)| password.trim().to_owned())
        .context("no password in the CLI's answer")?;
    Ok((institution, password))
}

/// Logs in for the first time: password step, then the TOTP code computed from the
/// enrolment secret, as an authenticator app would. Returns the bearer token and `Me`.
pub(crate) async fn first_login(base: &str, login: &str, password: &str) -> Result<(String, Me)> {
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "login": login, "password": password }))
        .send()
        .await?;
    let challenge: LoginChallenge = decode(response).await?;
    let enrolment = challenge
        .enrolment
        .context("not a first login: no TOTP enrolment secret")?;
    let secret = passerelle_tests::base32_decode(&enrolment.secret_base32)?;
    let code = passerelle_tests::totp_code(&secret, login, now_ms())?;
    let response = http
        .post(format!("{base}/api/v1/auth/totp"))
        .json(&json!({ "challenge": challenge.challenge, "code": code, "bearer": true }))
        .send()
        .await?;
    let opened: SessionOpened = decode(response).await?;
    let token = opened.token.context("no bearer token")?;
    let mut me = opened.me;
    // An administrator generated the password: it is replaced first, as a person would.
    if me.password_change_required {
        let response = http
            .post(format!("{base}/api/v1/me/password"))
            .bearer_auth(&token)
            .json(&json!({ "current_password": password, "new_password": format!("{password} choisi") }))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "password change refused: {}",
            response.status()
        );
        me.password_change_required = false;
    }
    Ok((token, me))
}

/// Logs in the admin created by [`bootstrap`].
pub(crate) async fn admin_client(base: &str, login: &str, password: &str) -> Result<Client> {
    let (token, me) = first_login(base, login, password).await?;
    Ok(Client::with_token(base, token, me))
}

/// The charter the admin publishes: the gate (CHARTER.md C2) keeps every channel
/// closed until it is published and accepted.
const CHARTER: &str =
    "# Charte du banc d'essai\n\nLes échanges sont confidentiels (CSI, art. L132-5).";

/// The internal rules each working group's coordinator publishes.
const RULES: &str = "# Règlement intérieur\n\nRègles du groupe de travail.";

/// Publishes the charter as the admin; returns its version.
pub(crate) async fn publish_charter(admin: &Client) -> Result<u64> {
    let published: Value = admin
        .post("/admin/charters", &json!({ "text": CHARTER }))
        .await
        .context("publishing the charter")?;
    published["version"].as_u64().context("no charter version")
}

async fn create_person(
    base: String,
    admin: Arc<Client>,
    institution: String,
    login: String,
    charter: u64,
) -> Result<Person> {
    let created: Value = admin
        .post(
            "/admin/users",
            &json!({
                "login": login,
                "display_name": format!("Personne {login}"),
                "institution_id": institution,
                "role": "coordinator",
            }),
        )
        .await
        .context("creating an account")?;
    let password = created["password"]
        .as_str()
        .context("no password for the new account")?
        .to_owned();
    let (token, me) = first_login(&base, &login, &password)
        .await
        .context("first login")?;
    let mut client = Client::with_token(&base, token.clone(), me);
    let enrolment = client
        .enrol_first_device("Poste du banc d'essai")
        .await
        .context("enrolling a device")?;
    client
        .post_empty("/charter/accept", &json!({ "version": charter }))
        .await
        .context("accepting the charter")?;
    Ok(Person {
        user_id: client.me.id.to_string(),
        token,
        client,
        device: enrolment.device,
    })
}

/// Creates `count` coordinators named `prefix00000…`, logs each in and enrols a device,
/// a few at a time (argon2 costs the server about 50 ms per hash, the key backup's
/// PBKDF2 the client about as much).
pub(crate) async fn create_people(
    base: &str,
    admin: Arc<Client>,
    institution: &str,
    prefix: &str,
    count: usize,
    charter: u64,
) -> Result<Vec<Person>> {
    let mut done = 0usize;
    let mut people = Vec::with_capacity(count);
    let mut pending = futures_util::stream::iter(0..count)
        .map(|i| {
            tokio::spawn(create_person(
                base.to_owned(),
                admin.clone(),
                institution.to_owned(),
                format!("{prefix}{i:05}"),
                charter,
            ))
        })
        .buffered(6);
    while let Some(person) = pending.next().await {
        people.push(person??);
        done += 1;
        if done.is_multiple_of(100) {
            eprintln!("    {done}/{count} accounts ready");
        }
    }
    Ok(people)
}

/// A channel of the benchmark, with the epoch the bench last published.
#[derive(Clone, Debug)]
pub(crate) struct BenchChannel {
    /// Channel id.
    pub(crate) id: String,
    /// Members, as indexes of the people; the first created it.
    pub(crate) members: Vec<usize>,
    /// Its current epoch.
    pub(crate) epoch: u64,
}

/// Creates working groups: each list of members is one channel, created by its first
/// member (a coordinator), who publishes its internal rules; every member accepts them.
pub(crate) async fn create_channels(
    people: &[Person],
    institution: &str,
    name: &str,
    member_lists: Vec<Vec<usize>>,
) -> Result<Vec<BenchChannel>> {
    let results: Vec<Result<BenchChannel>> = futures_util::stream::iter(member_lists)
        .enumerate()
        .map(|(number, members)| async move {
            let creator = &people[members[0]];
            let others: Vec<&str> = members[1..]
                .iter()
                .map(|m| people[*m].user_id.as_str())
                .collect();
            let created: Value = creator
                .client
                .post(
                    "/channels",
                    &json!({
                        "kind": "working_group",
                        "name": format!("{name} {number}"),
                        "regime": "clspd_confidential",
                        "institutions": [institution],
                        "members": others,
                    }),
                )
                .await
                .context("creating a channel")?;
            let id = created["id"].as_str().context("no channel id")?.to_owned();
            let rules: Value = creator
                .client
                .post(&format!("/channels/{id}/rules"), &json!({ "text": RULES }))
                .await
                .context("publishing internal rules")?;
            let version = rules["version"].as_u64().context("no rules version")?;
            for member in &members {
                people[*member]
                    .client
                    .post_empty(
                        &format!("/channels/{id}/rules/accept"),
                        &json!({ "version": version }),
                    )
                    .await
                    .context("accepting internal rules")?;
            }
            Ok(BenchChannel {
                id,
                members,
                epoch: created["epoch"].as_u64().unwrap_or(0),
            })
        })
        .buffered(8)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Reads the channels' current epochs back from the server (after a failed phase).
pub(crate) async fn resync_epochs(people: &[Person], channels: &mut [BenchChannel]) -> Result<()> {
    for channel in channels {
        let state: Value = people[channel.members[0]]
            .client
            .get(&format!("/channels/{}/epoch", channel.id))
            .await?;
        channel.epoch = state["epoch"].as_u64().context("no epoch")?;
    }
    Ok(())
}

fn text_of(index: u32) -> String {
    format!(
        "Point de situation n° {index} : la famille a été reçue ce matin au CCAS ; \
         un rendez-vous est fixé avec l'assistante sociale la semaine prochaine."
    )
}

/// What one channel contributes to a plan.
struct ChannelPart {
    messages: Vec<Msg>,
    plan: ChannelPlan,
}

#[allow(clippy::too_many_arguments)]
fn prepare_channel(
    people: &[Person],
    channel: &BenchChannel,
    number: u32,
    cycles: usize,
    tag: u32,
    first_index: u32,
    first_slot: u32,
    link_of: &(dyn Fn(usize) -> u32 + Sync),
) -> Result<ChannelPart> {
    let mut messages = Vec::with_capacity(cycles * PER_EPOCH);
    let mut plan = ChannelPlan {
        channel: number,
        cycles: Vec::with_capacity(cycles),
    };
    let count = channel.members.len();
    // Each sender's place in its own order in the channel (PROTOCOL.md §8.7): the
    // bench sends version-2 envelopes, as the clients do.
    let mut tips: std::collections::HashMap<usize, (u64, [u8; 32])> =
        std::collections::HashMap::new();
    for cycle in 0..cycles {
        let epoch = channel.epoch + 1 + cycle as u64;
        let key = EpochKey::generate().map_err(|e| anyhow!("epoch key: {e}"))?;
        let publisher = &people[channel.members[cycle % count]];
        let keys = channel
            .members
            .iter()
            .map(|member| {
                key.wrap(
                    &channel.id,
                    epoch,
                    &publisher.device.device_id,
                    publisher.device.keys(),
                    &people[*member].device.certificate,
                )
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow!("wrapping an epoch key: {e}"))?;
        let body = serde_json::to_string(&json!({ "epoch": epoch, "keys": keys }))?;
        let slot = first_slot + u32::try_from(cycle)?;
        let start = first_index + u32::try_from(cycle * PER_EPOCH)?;
        for offset in 0..PER_EPOCH {
            let index = start + u32::try_from(offset)?;
            // The publisher sends first, then the others in turn.
            let sender = channel.members[(cycle + offset) % count];
            let person = &people[sender];
            let header = MessageHeader {
                channel_id: channel.id.clone(),
                epoch,
                sender_device: person.device.device_id.clone(),
                client_msg_id: message_id(tag, index),
                order: Some({
                    let (counter, prev) = tips.get(&sender).copied().unwrap_or((0, [0; 32]));
                    MessageOrder {
                        counter: counter + 1,
                        prev,
                        sent_at: u64::try_from(now_ms()).unwrap_or_default(),
                    }
                }),
            };
            let envelope = Envelope::seal(
                header,
                &MessageContent::text(text_of(index)),
                &key,
                person.device.keys(),
            )
            .map_err(|e| anyhow!("sealing: {e}"))?;
            if let Some(order) = envelope.order {
                tips.insert(sender, (order.counter, envelope.order_hash()));
            }
            let frame = serde_json::to_string(&ClientFrame::Send {
                channel_id: channel.id.clone().into(),
                envelope,
            })?;
            messages.push(Msg {
                link: link_of(sender),
                channel: number,
                slot,
                recipients: u32::try_from(count)?,
                frame: frame.into(),
            });
        }
        plan.cycles.push(Cycle {
            publish: Some(Publish {
                path: format!("/api/v1/channels/{}/epochs", channel.id),
                token: publisher.token.clone(),
                body,
            }),
            messages: start..start + u32::try_from(PER_EPOCH)?,
            slot,
        });
    }
    Ok(ChannelPart { messages, plan })
}

/// Prepares `cycles` epochs of [`PER_EPOCH`] messages for each channel (on every core),
/// numbered for run `tag`; person `p` sends on connection `link_of(p)`. Each message is
/// delivered to one connection per member. On success the channels' epochs are
/// advanced as if the plan had run (the caller resyncs them if it fails).
pub(crate) fn build_plan(
    people: &[Person],
    channels: &mut [BenchChannel],
    cycles: usize,
    tag: u32,
    link_of: &(dyn Fn(usize) -> u32 + Sync),
) -> Result<Plan> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = channels.len().div_ceil(threads).max(1);
    let per_channel = cycles * PER_EPOCH;
    let parts: Vec<Result<Vec<ChannelPart>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = channels
            .chunks(chunk)
            .enumerate()
            .map(|(chunk_number, group)| {
                scope.spawn(move || {
                    group
                        .iter()
                        .enumerate()
                        .map(|(offset, channel)| {
                            let number = chunk_number * chunk + offset;
                            prepare_channel(
                                people,
                                channel,
                                u32::try_from(number)?,
                                cycles,
                                tag,
                                u32::try_from(number * per_channel)?,
                                u32::try_from(number * cycles)?,
                                link_of,
                            )
                        })
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(anyhow!("a preparation thread panicked")))
            })
            .collect()
    });
    let mut messages = Vec::with_capacity(channels.len() * per_channel);
    let mut plans = Vec::with_capacity(channels.len());
    for part in parts {
        for channel in part? {
            messages.extend(channel.messages);
            plans.push(channel.plan);
        }
    }
    let expected_deliveries = channels
        .iter()
        .map(|c| (per_channel * c.members.len()) as u64)
        .sum();
    for channel in channels.iter_mut() {
        channel.epoch += cycles as u64;
    }
    if messages.len() != channels.len() * per_channel {
        bail!("plan has {} messages", messages.len());
    }
    Ok(Plan {
        tag,
        messages: Arc::new(messages),
        channels: Arc::new(plans),
        slots: channels.len() * cycles,
        expected_deliveries,
    })
}

/// The `last_seq` of every channel of a person.
pub(crate) async fn last_seqs(person: &Person) -> Result<Vec<(String, u64)>> {
    let channels: Value = person.client.get("/channels").await?;
    let list = channels.as_array().context("channel list")?;
    Ok(list
        .iter()
        .filter_map(|c| Some((c["id"].as_str()?.to_owned(), c["last_seq"].as_u64()?)))
        .collect())
}

/// The size of the frames the bare hub relays.
#[derive(Clone, Copy, Debug)]
pub(crate) enum BareSize {
    /// The size of the `message` frame Passerelle delivers for the same message, so that
    /// both servers move the same bytes per delivery.
    AsDelivered,
    /// A fixed size (300 bytes: the reference figure of docs/DESIGN.md §10).
    Bytes(usize),
}

/// The size of the `message` frame Passerelle delivers for a `send` frame: the same
/// envelope, with a six-digit sequence number, an account id and a timestamp.
fn delivered_size(send: &str) -> Result<usize> {
    let ClientFrame::Send {
        channel_id,
        envelope,
    } = serde_json::from_str(send)?
    else {
        bail!("not a send frame");
    };
    let delivered = ServerFrame::Message(StoredMessage {
        channel_id,
        seq: 100_000,
        sender: "00000000-0000-4000-8000-000000000000".into(),
        envelope,
        ts: 1_800_000_000_000,
    });
    Ok(serde_json::to_string(&delivered)?.len())
}

/// `plan` for the bare hub: each frame names the same channel and `client_msg_id` (all the
/// bare hub and the generator look at) and is padded to `size`, so that the bare hub
/// relays frames as large as Passerelle's rather than its smaller `send` frames.
pub(crate) fn bare_plan(plan: &Plan, size: BareSize) -> Result<Plan> {
    let messages = plan
        .messages
        .iter()
        .map(|message| {
            let text = message.frame.as_str();
            let channel = field(text, "\"channel_id\":\"").context("no channel_id")?;
            let id = field(text, "\"client_msg_id\":\"").context("no client_msg_id")?;
            let target = match size {
                BareSize::AsDelivered => delivered_size(text)?,
                BareSize::Bytes(bytes) => bytes,
            };
            let head = format!(
                "{{\"type\":\"send\",\"channel_id\":\"{channel}\",\"client_msg_id\":\"{id}\",\"pad\":\""
            );
            let pad = target.saturating_sub(head.len() + 2);
            let frame = format!("{head}{}\"}}", "x".repeat(pad));
            Ok(Msg {
                link: message.link,
                channel: message.channel,
                slot: message.slot,
                recipients: message.recipients,
                frame: frame.into(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Plan {
        tag: plan.tag,
        messages: Arc::new(messages),
        channels: plan.channels.clone(),
        slots: plan.slots,
        expected_deliveries: plan.expected_deliveries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::load::{classify, Incoming};

    #[test]
    fn a_bare_frame_keeps_its_channel_and_id_at_the_size_asked() {
        let original =
            r#"{"type":"send","channel_id":"c-1","envelope":{"v":1,"client_msg_id":"m-7"}}"#;
        let plan = Plan {
            tag: 1,
            messages: Arc::new(vec![Msg {
                link: 3,
                channel: 0,
                slot: 0,
                recipients: 5,
                frame: original.into(),
            }]),
            channels: Arc::new(Vec::new()),
            slots: 1,
            expected_deliveries: 5,
        };
        let bare = bare_plan(&plan, BareSize::Bytes(300)).unwrap();
        let frame = bare.messages[0].frame.as_str();
        assert_eq!(frame.len(), 300);
        assert_eq!(field(frame, "\"channel_id\":\""), Some("c-1"));
        assert_eq!(classify(frame), Incoming::Delivery("m-7"));
        assert_eq!(bare.messages[0].link, 3);
        assert!(serde_json::from_str::<Value>(frame).is_ok(), "{frame}");
    }
}

//! The real-time hub (issue 5): delivery, order, idempotency, catch-up, backpressure,
//! removal, refusals and durability, with the Rust SDK on a real server.

use std::collections::BTreeMap;

use futures_util::{SinkExt, StreamExt};
use passerelle_shared::crypto::MessageContent;
use passerelle_shared::protocol::v1::channels::{HistoryPage, RemoveMember};
use passerelle_shared::protocol::v1::ws::{ClientFrame, ServerFrame};
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{audit_actions, working_group, Party, GUARD};

#[tokio::test]
async fn two_members_of_different_institutions_exchange_messages_in_real_time() {
    let server = TestServer::spawn().await.unwrap();
    let mut police = Party::new(
        &server,
        "coord.police",
        Role::Coordinator,
        "Police municipale",
    )
    .await;
    let mut social = Party::new(&server, "as.cd", Role::Member, "Conseil départemental").await;
    let channel = working_group(&mut police, &[&social]).await;

    let id = police
        .send_text(&channel.id, "Bonjour, point sur la situation ?")
        .await;
    assert_eq!(police.ack(&id).await, 1);
    let (message, text) = social.receive().await;
    assert_eq!(
        (message.seq, text.as_str()),
        (1, "Bonjour, point sur la situation ?")
    );
    assert_eq!(message.sender, police.user.id);

    let id = social
        .send_text(&channel.id, "Oui, la famille est suivie.")
        .await;
    assert_eq!(social.ack(&id).await, 2);
    let (_, text) = police.receive().await;
    assert_eq!(text, "Oui, la famille est suivie.");
}

#[tokio::test]
async fn concurrent_senders_get_one_dense_order_on_every_receiver() {
    let server = TestServer::spawn().await.unwrap();
    let mut a = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut b = Party::new(&server, "membre.b", Role::Member, "CCAS").await;
    let mut c = Party::new(&server, "membre.c", Role::Member, "PJJ").await;
    let channel = working_group(&mut a, &[&b, &c]).await;
    // One epoch for all, so that the concurrent sends below race only for sequence numbers.
    let id = a.send_text(&channel.id, "ouverture").await;
    a.ack(&id).await;

    let per_sender = 30;
    let mut envelopes = Vec::new();
    for party in [&mut a, &mut b, &mut c] {
        let mut batch = Vec::new();
        for i in 0..per_sender {
            let content = MessageContent::text(format!("{} {i}", party.user.login));
            batch.push(
                party
                    .client
                    .seal(&mut party.device, &channel.id, &content)
                    .await
                    .unwrap(),
            );
        }
        envelopes.push(batch);
    }
    let channel_id = channel.id.clone();
    let sends = [&mut a, &mut b, &mut c]
        .into_iter()
        .zip(envelopes)
        .map(|(party, batch)| {
            let channel_id = channel_id.clone();
            async move {
                for envelope in batch {
                    party
                        .conn
                        .send(&ClientFrame::Send {
                            channel_id: channel_id.clone(),
                            envelope,
                        })
                        .await
                        .unwrap();
                }
            }
        });
    futures_util::future::join_all(sends).await;

    let total = 1 + 3 * per_sender;
    let mut orders = Vec::new();
    for party in [&mut a, &mut b, &mut c] {
        let mut order = Vec::new();
        while order.len() < total - usize::from(party.user.login == "coord") {
            let message = party.next_message().await;
            order.push((message.seq, message.envelope.client_msg_id.clone()));
        }
        orders.push(order);
    }
    // Receivers other than the first sender saw the opening message too.
    let reference: BTreeMap<u64, String> = orders[1].iter().cloned().collect();
    assert_eq!(
        reference.keys().copied().collect::<Vec<_>>(),
        (1..=total as u64).collect::<Vec<_>>(),
        "dense"
    );
    for order in &orders {
        for (seq, id) in order {
            assert_eq!(reference.get(seq), Some(id), "same order everywhere");
        }
    }
}

#[tokio::test]
async fn a_resent_client_msg_id_is_stored_once_and_acked_with_the_same_seq() {
    let server = TestServer::spawn().await.unwrap();
    let mut a = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let b = Party::new(&server, "membre.b", Role::Member, "CCAS").await;
    let channel = working_group(&mut a, &[&b]).await;
    let envelope = a
        .client
        .seal(
            &mut a.device,
            &channel.id,
            &MessageContent::text("une fois"),
        )
        .await
        .unwrap();
    let id = envelope.client_msg_id.clone();
    let frame = ClientFrame::Send {
        channel_id: channel.id.clone(),
        envelope,
    };
    a.conn.send(&frame).await.unwrap();
    let first = a.ack(&id).await;
    a.conn.send(&frame).await.unwrap();
    let second = a.ack(&id).await;
    assert_eq!(first, second);
    let page: HistoryPage = a
        .client
        .get(&format!("/channels/{}/messages?after_seq=0", channel.id))
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 1);
}

#[tokio::test]
async fn a_client_offline_during_1000_messages_catches_up_exactly() {
    // Acked one by one, a release build sends faster than the flood limit allows; the
    // limit is not what this test is about (abuse.rs tests it).
    let server = TestServer::spawn_with(|config| config.ws_frames_per_second = 100_000)
        .await
        .unwrap();
    let mut a = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut b = Party::new(&server, "membre.b", Role::Member, "CCAS").await;
    let channel = working_group(&mut a, &[&b]).await;
    let id = a.send_text(&channel.id, "avant").await;
    a.ack(&id).await;
    b.receive().await;
    // b goes offline.
    let offline = std::mem::replace(
        &mut b.conn,
        a.client.connect(&a.device.device_id).await.unwrap(),
    );
    let cursors = offline.cursors.clone();
    offline.close().await;

    let mut ids = Vec::new();
    for i in 0..1000 {
        // Epochs rotate every 100 messages: seal() creates the next one when needed.
        let envelope = a
            .client
            .seal(
                &mut a.device,
                &channel.id,
                &MessageContent::text(format!("m{i}")),
            )
            .await
            .unwrap();
        ids.push(envelope.client_msg_id.clone());
        a.conn
            .send(&ClientFrame::Send {
                channel_id: channel.id.clone(),
                envelope,
            })
            .await
            .unwrap();
        // Acked one by one: the sender then knows when the epoch is used up.
        a.ack(&ids[i]).await;
    }

    let mut back = b.client.connect(&b.device.device_id).await.unwrap();
    back.cursors = cursors;
    back.sync().await.unwrap();
    b.conn = back;
    let mut received = Vec::new();
    loop {
        match b.conn.next_within(GUARD).await.unwrap() {
            ServerFrame::Message(message) => received.extend(b.conn.accept(message)),
            ServerFrame::Synced { cursors } => {
                assert_eq!(cursors.get(&channel.id), Some(&1001));
                break;
            }
            _ => {}
        }
    }
    assert_eq!(received.len(), 1000);
    assert!(received.iter().zip(2u64..).all(|(m, seq)| m.seq == seq));
    let ids_received: Vec<_> = received
        .iter()
        .map(|m| m.envelope.client_msg_id.clone())
        .collect();
    assert_eq!(ids_received, ids);
    let last = received.last().unwrap().clone();
    let content = b.client.open(&b.device, &last).await.unwrap();
    assert_eq!(content.text, "m999");
}

type RawSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A second connection of `party`'s device that reads the frames as the server wrote them,
/// returned once the server serves it (it answered a ping after subscribing it).
async fn raw_connection(server: &TestServer, party: &Party) -> RawSocket {
    let url = format!(
        "{}/api/v1/ws?device_id={}",
        server.url("").replacen("http", "ws", 1),
        party.device.device_id
    );
    let mut request = url.into_client_request().unwrap();
    let session = server.login(&party.user).await.unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", session.token).parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
        .send(Message::text(r#"{"type":"ping"}"#))
        .await
        .unwrap();
    loop {
        let text = next_text(&mut socket).await;
        if text.starts_with(r#"{"type":"pong""#) {
            return socket;
        }
    }
}

async fn next_text(socket: &mut RawSocket) -> String {
    loop {
        match tokio::time::timeout(GUARD, socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return text.to_string(),
            Ok(Some(Ok(_))) => continue,
            other => panic!("no frame: {other:?}"),
        }
    }
}

#[tokio::test]
async fn every_member_gets_the_same_message_bytes_and_nobody_gets_anothers_ack_or_keys() {
    let server = TestServer::spawn().await.unwrap();
    let mut a = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let b = Party::new(&server, "membre.b", Role::Member, "CCAS").await;
    let c = Party::new(&server, "membre.c", Role::Member, "PJJ").await;
    let channel = working_group(&mut a, &[&b, &c]).await;
    // Connections opened before the first send: its epoch key is published while they
    // listen (one `keys` frame per device), then the message is delivered to all three,
    // the sender's other connection included.
    let mut raws = Vec::new();
    for party in [&a, &b, &c] {
        let socket = raw_connection(&server, party).await;
        raws.push((party.device.device_id.clone(), socket));
    }
    let id = a.send_text(&channel.id, "les mêmes octets pour tous").await;
    a.ack(&id).await;

    let mut delivered = Vec::new();
    for (device_id, socket) in &mut raws {
        let mut keys_frames = 0;
        let message = loop {
            let text = next_text(socket).await;
            let frame: ServerFrame = serde_json::from_str(&text).unwrap();
            match frame {
                ServerFrame::Message(message) if message.envelope.client_msg_id == id => {
                    break text;
                }
                ServerFrame::Keys { keys, .. } => {
                    keys_frames += 1;
                    for key in keys {
                        assert_eq!(&key.recipient_device, device_id, "another device's key");
                    }
                }
                ServerFrame::Ack { .. } => panic!("an ack reached a connection that did not send"),
                _ => {}
            }
        };
        assert!(keys_frames > 0, "{device_id} got no key for the new epoch");
        delivered.push(message);
    }
    assert!(
        delivered.iter().all(|text| text == &delivered[0]),
        "{delivered:?}"
    );
    // Nothing meant for one connection only was queued behind the message either.
    for (_, socket) in &mut raws {
        socket
            .send(Message::text(r#"{"type":"ping"}"#))
            .await
            .unwrap();
        loop {
            let text = next_text(socket).await;
            assert!(!text.starts_with(r#"{"type":"ack""#), "{text}");
            assert!(!text.starts_with(r#"{"type":"keys""#), "{text}");
            if text.starts_with(r#"{"type":"pong""#) {
                break;
            }
        }
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_while_the_others_keep_their_pace() {
    // A short queue, so that the socket buffers, not the queue, decide how long it takes.
    let server = TestServer::spawn_with(|config| config.ws_queue_frames = 16)
        .await
        .unwrap();
    let mut a = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut reader = Party::new(&server, "lecteur", Role::Member, "CCAS").await;
    let sleeper = Party::new(&server, "dormeur", Role::Member, "PJJ").await;
    let channel = working_group(&mut a, &[&reader, &sleeper]).await;
    // The sleeper's own socket: opened, then never read.
    let url = format!(
        "{}/api/v1/ws?device_id={}",
        server.url("").replacen("http", "ws", 1),
        sleeper.device.device_id
    );
    let mut request = url.into_client_request().unwrap();
    let session = server.login(&sleeper.user).await.unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", session.token).parse().unwrap(),
    );
    let (mut stalled, _) = tokio_tungstenite::connect_async(request).await.unwrap();

    // Large messages fill the stalled connection's queue and socket buffers quickly.
    let big = "x".repeat(60_000);
    let count = 300;
    let sending = async {
        for _ in 0..count {
            let id = a.send_text(&channel.id, &big).await;
            a.ack(&id).await;
        }
    };
    let reading = async {
        for _ in 0..count {
            reader.next_message().await;
        }
    };
    tokio::join!(sending, reading);
    // The stalled client, reading at last, finds the close frame after what was buffered.
    let mut close_code = None;
    while let Ok(Some(frame)) = tokio::time::timeout(GUARD, stalled.next()).await {
        if let Ok(tokio_tungstenite::tungstenite::Message::Close(Some(close))) = frame {
            close_code = Some((u16::from(close.code), close.reason.to_string()));
            break;
        }
    }
    assert_eq!(close_code, Some((4001, "slow_consumer".to_owned())));
}

#[tokio::test]
async fn a_removed_member_receives_nothing_after_removal_and_cannot_send() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut stays = Party::new(&server, "reste", Role::Member, "CCAS").await;
    let mut leaves = Party::new(&server, "exclu", Role::Member, "PJJ").await;
    let channel = working_group(&mut coord, &[&stays, &leaves]).await;
    let id = coord.send_text(&channel.id, "avant le retrait").await;
    coord.ack(&id).await;
    leaves.receive().await;
    // The excluded member seals a message while still a member, to send it afterwards.
    let pending = leaves
        .client
        .seal(
            &mut leaves.device,
            &channel.id,
            &MessageContent::text("trop tard"),
        )
        .await
        .unwrap();

    coord
        .client
        .request(
            reqwest::Method::DELETE,
            &format!("/channels/{}/members/{}", channel.id, leaves.user.id),
        )
        .json(&RemoveMember {
            record: None,
            reason: "Manquement à la confidentialité".into(),
        })
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let removed = leaves
        .frame(|f| match f {
            ServerFrame::Member {
                user_id, change, ..
            } if change == "removed" => Some(user_id.clone()),
            _ => None,
        })
        .await;
    assert_eq!(removed, leaves.user.id);

    let id = coord.send_text(&channel.id, "après le retrait").await;
    coord.ack(&id).await;
    let (_, text) = stays.receive().await;
    assert_eq!(text, "avant le retrait");
    let (_, text) = stays.receive().await;
    assert_eq!(text, "après le retrait");

    let pending_id = pending.client_msg_id.clone();
    leaves
        .conn
        .send(&ClientFrame::Send {
            channel_id: channel.id.clone(),
            envelope: pending,
        })
        .await
        .unwrap();
    let code = leaves
        .frame(|f| match f {
            ServerFrame::Message(m) => panic!("received seq {} after removal", m.seq),
            ServerFrame::Error {
                reference, code, ..
            } if reference.as_deref() == Some(&pending_id) => Some(code.clone()),
            _ => None,
        })
        .await;
    assert_eq!(code, "not_member");
    // The next epoch's key was not wrapped for the removed member's device.
    let keys = leaves
        .client
        .get::<serde_json::Value>(&format!(
            "/channels/{}/keys?device_id={}",
            channel.id, leaves.device.device_id
        ))
        .await;
    assert!(keys.is_err(), "a removed member reads no key");
    let actions = audit_actions(&server, Some(&channel.id)).await;
    assert!(actions.contains(&("member_removed".into(), "success".into())));
}

#[tokio::test]
async fn a_non_members_send_sync_and_history_read_are_refused_and_logged() {
    let server = TestServer::spawn().await.unwrap();
    let mut coord = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let member = Party::new(&server, "membre", Role::Member, "CCAS").await;
    let mut outsider = Party::new(&server, "dehors", Role::Member, "CCAS").await;
    let channel = working_group(&mut coord, &[&member]).await;
    let id = coord.send_text(&channel.id, "confidentiel").await;
    coord.ack(&id).await;
    let stolen = coord
        .client
        .seal(&mut coord.device, &channel.id, &MessageContent::text("x"))
        .await
        .unwrap();

    // History over REST.
    let err = outsider
        .client
        .get::<HistoryPage>(&format!("/channels/{}/messages", channel.id))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("not_found"));
    // Sync over the WebSocket.
    let mut cursors = BTreeMap::new();
    cursors.insert(channel.id.clone(), 0);
    outsider
        .conn
        .send(&ClientFrame::Sync { cursors })
        .await
        .unwrap();
    let code = outsider
        .frame(|f| match f {
            ServerFrame::Message(_) => panic!("an outsider received a message"),
            ServerFrame::Error { code, .. } => Some(code.clone()),
            _ => None,
        })
        .await;
    assert_eq!(code, "not_member");
    // A send, even with an envelope the outsider could not have signed for its device.
    outsider
        .conn
        .send(&ClientFrame::Send {
            channel_id: channel.id.clone(),
            envelope: stolen,
        })
        .await
        .unwrap();
    let code = outsider
        .frame(|f| match f {
            ServerFrame::Error { code, .. } => Some(code.clone()),
            _ => None,
        })
        .await;
    assert_eq!(code, "invalid_envelope");
    let denied: Vec<_> = audit_actions(&server, Some(&channel.id))
        .await
        .into_iter()
        .filter(|(_, o)| o == "denied")
        .collect();
    assert!(
        denied.iter().any(|(a, _)| a == "history_read"),
        "{denied:?}"
    );
    assert!(denied.iter().any(|(a, _)| a == "ws_frame"), "{denied:?}");
}

#[tokio::test]
async fn malformed_oversized_unsigned_and_wrongly_signed_frames_get_errors_and_change_nothing() {
    let server = TestServer::spawn().await.unwrap();
    let mut a = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let b = Party::new(&server, "membre", Role::Member, "CCAS").await;
    let channel = working_group(&mut a, &[&b]).await;
    let id = a.send_text(&channel.id, "seul message").await;
    a.ack(&id).await;

    a.conn.send_raw("{ pas du json").await.unwrap();
    assert_eq!(next_error(&mut a).await, "malformed_frame");
    a.conn
        .send_raw(r#"{"type":"send","channel_id":"x"}"#)
        .await
        .unwrap();
    assert_eq!(next_error(&mut a).await, "malformed_frame");

    // A wrong signature: the envelope's ciphertext altered after signing.
    let mut forged = a
        .client
        .seal(
            &mut a.device,
            &channel.id,
            &MessageContent::text("falsifié"),
        )
        .await
        .unwrap();
    forged.ciphertext[0] ^= 1;
    a.conn
        .send(&ClientFrame::Send {
            channel_id: channel.id.clone(),
            envelope: forged,
        })
        .await
        .unwrap();
    assert_eq!(next_error(&mut a).await, "bad_signature");
    // Unsigned: a zero signature.
    let mut unsigned = a
        .client
        .seal(
            &mut a.device,
            &channel.id,
            &MessageContent::text("non signé"),
        )
        .await
        .unwrap();
    unsigned.signature = passerelle_shared::crypto::Signature::from_bytes([0u8; 64]);
    a.conn
        .send(&ClientFrame::Send {
            channel_id: channel.id.clone(),
            envelope: unsigned,
        })
        .await
        .unwrap();
    assert_eq!(next_error(&mut a).await, "bad_signature");

    // Oversized: beyond the frame limit the server closes the connection.
    let huge = format!(
        r#"{{"type":"typing","channel_id":"{}"}}"#,
        "x".repeat(600 * 1024)
    );
    let _ = a.conn.send_raw(&huge).await;
    while a.conn.next_within(GUARD).await.is_some() {}

    let page: HistoryPage = b
        .client
        .get(&format!("/channels/{}/messages", channel.id))
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 1, "nothing was stored");
}

#[tokio::test]
async fn after_a_server_restart_every_acked_message_is_still_there() {
    let server = TestServer::spawn().await.unwrap();
    let mut a = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let b = Party::new(&server, "membre", Role::Member, "CCAS").await;
    let channel = working_group(&mut a, &[&b]).await;
    let mut acked = Vec::new();
    for i in 0..50 {
        let id = a.send_text(&channel.id, &format!("durable {i}")).await;
        acked.push((a.ack(&id).await, id));
    }
    let Party {
        mut client, device, ..
    } = b;
    let server = server.restart().await.unwrap();
    let page: HistoryPage = client
        .get(&format!("/channels/{}/messages?limit=500", channel.id))
        .await
        .unwrap();
    let stored: Vec<_> = page
        .messages
        .iter()
        .map(|m| (m.seq, m.envelope.client_msg_id.clone()))
        .collect();
    assert_eq!(stored, acked);
    let content = client.open(&device, &page.messages[49]).await.unwrap();
    assert_eq!(content.text, "durable 49");
    drop(server);
}

#[tokio::test]
async fn receipts_and_typing_reach_members_only() {
    let server = TestServer::spawn().await.unwrap();
    let mut a = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut b = Party::new(&server, "membre", Role::Member, "CCAS").await;
    let mut outsider = Party::new(&server, "dehors", Role::Member, "CCAS").await;
    let channel = working_group(&mut a, &[&b]).await;
    let id = a.send_text(&channel.id, "lu ?").await;
    let seq = a.ack(&id).await;
    b.receive().await;
    b.conn
        .send(&ClientFrame::Read {
            channel_id: channel.id.clone(),
            seq,
        })
        .await
        .unwrap();
    let receipt = a
        .frame(|f| match f {
            ServerFrame::Receipt { user_id, seq, .. } => Some((user_id.to_string(), *seq)),
            _ => None,
        })
        .await;
    assert_eq!(receipt, (b.user.id.clone(), seq));
    // Opened later, the conversation still shows who read what.
    let detail: passerelle_shared::protocol::v1::channels::ChannelDetail = a
        .client
        .get(&format!("/channels/{}", channel.id))
        .await
        .unwrap();
    let read: Vec<(String, u64)> = detail
        .members
        .iter()
        .map(|m| (m.user_id.to_string(), m.read_seq))
        .collect();
    assert!(read.contains(&(b.user.id.clone(), seq)), "{read:?}");
    b.conn
        .send(&ClientFrame::Typing {
            channel_id: channel.id.clone(),
        })
        .await
        .unwrap();
    let typing = a
        .frame(|f| match f {
            ServerFrame::Typing { user_id, .. } => Some(user_id.clone()),
            _ => None,
        })
        .await;
    assert_eq!(typing, b.user.id);
    outsider
        .conn
        .send(&ClientFrame::Typing {
            channel_id: channel.id.clone(),
        })
        .await
        .unwrap();
    let code = outsider
        .frame(|f| match f {
            ServerFrame::Error { code, .. } => Some(code.clone()),
            _ => None,
        })
        .await;
    assert_eq!(code, "not_member");
    // The outsider's connection saw nothing of the channel meanwhile.
    outsider.conn.send(&ClientFrame::Ping).await.unwrap();
    let saw = outsider
        .frame(|f| match f {
            ServerFrame::Pong => Some(None),
            ServerFrame::Receipt { .. } | ServerFrame::Typing { .. } | ServerFrame::Message(_) => {
                Some(Some(format!("{f:?}")))
            }
            _ => None,
        })
        .await;
    assert_eq!(saw, None);
}

#[tokio::test]
async fn an_attachment_round_trips_for_members_and_is_refused_to_others() {
    let server = TestServer::spawn().await.unwrap();
    let mut a = Party::new(&server, "coord", Role::Coordinator, "Mairie").await;
    let mut b = Party::new(&server, "membre", Role::Member, "CCAS").await;
    let outsider = Party::new(&server, "dehors", Role::Member, "CCAS").await;
    let channel = working_group(&mut a, &[&b]).await;
    let file: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let attachment = a
        .client
        .upload_attachment(&channel.id, "compte-rendu.pdf", "application/pdf", &file)
        .await
        .unwrap();
    let content = MessageContent {
        text: "Le compte rendu".into(),
        reply_to: None,
        attachments: vec![attachment],
        membership_head: None,
        key_log_head: None,
    };
    let envelope = a
        .client
        .seal(&mut a.device, &channel.id, &content)
        .await
        .unwrap();
    let id = envelope.client_msg_id.clone();
    a.conn
        .send(&ClientFrame::Send {
            channel_id: channel.id.clone(),
            envelope,
        })
        .await
        .unwrap();
    a.ack(&id).await;

    let message = b.next_message().await;
    let opened = b.client.open(&b.device, &message).await.unwrap();
    let bytes = b
        .client
        .download_attachment(&opened.attachments[0])
        .await
        .unwrap();
    assert_eq!(bytes.as_slice(), file.as_slice());
    let err = outsider
        .client
        .download_attachment(&opened.attachments[0])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("not_found"));
    // The blob on disk is ciphertext.
    let blob = std::fs::read(
        server
            .data_dir
            .path()
            .join("attachments")
            .join(channel.id.as_str())
            .join(&opened.attachments[0].id),
    )
    .unwrap();
    assert!(!blob.windows(64).any(|w| w == &file[..64]));
}

async fn next_error(party: &mut Party) -> String {
    party
        .frame(|f| match f {
            ServerFrame::Error { code, .. } => Some(code.clone()),
            _ => None,
        })
        .await
}

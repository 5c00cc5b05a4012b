//! Authenticated message order in the SDK (issue 17 item 3, docs/PROTOCOL.md §8.7–8.8).
//! Karim's SDK seals version-2 envelopes: its own counter, the hash of its previous
//! envelope and its clock under the signature. Sophie's SDK reads the channel as a
//! malicious server serves it — the real server's history, rewritten: a message dropped,
//! two swapped, an old one served again, a version-1 envelope after version 2, and after a
//! restart an old one again — and [`Client::check_arrival`] names each anomaly.

use passerelle_shared::client::Client;
use passerelle_shared::crypto::{
    Envelope, MessageContent, MessageHeader, OrderAnomaly, OrderNotice,
};
use passerelle_shared::protocol::v1::channels::{HistoryPage, StoredMessage};
use passerelle_shared::protocol::v1::ws::ClientFrame;
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;

use crate::support::{working_group, Party};

/// Reads `served` in order as Sophie's SDK does (verify, decrypt, check the order) and
/// returns the anomalies by seq.
async fn read(sophie: &mut Party, served: &[StoredMessage]) -> Vec<(u64, OrderAnomaly)> {
    let mut found = Vec::new();
    for message in served {
        sophie.client.open(&sophie.device, message).await.unwrap();
        found.extend(
            sophie
                .client
                .check_arrival(message)
                .into_iter()
                .map(|OrderNotice { seq, anomaly, .. }| (seq, anomaly)),
        );
    }
    found
}

async fn history(client: &Client, channel_id: &str) -> Vec<StoredMessage> {
    let page: HistoryPage = client
        .get(&format!(
            "/channels/{channel_id}/messages?after_seq=0&limit=50"
        ))
        .await
        .unwrap();
    page.messages
}

/// The same message at another place in the server's numbering.
fn at(message: &StoredMessage, seq: u64) -> StoredMessage {
    StoredMessage {
        seq,
        ..message.clone()
    }
}

#[tokio::test]
async fn the_sdk_names_each_message_a_malicious_server_drops_swaps_replays_or_downgrades() {
    let server = TestServer::spawn().await.unwrap();
    let mut karim = Party::new(&server, "karim", Role::Coordinator, "Mairie").await;
    let mut sophie = Party::new(&server, "sophie", Role::Member, "Police").await;
    let channel = working_group(&mut karim, &[&sophie]).await;
    for text in ["un", "deux", "trois", "quatre"] {
        let id = karim.send_text(&channel.id, text).await;
        karim.ack(&id).await;
    }
    let real = history(&sophie.client, &channel.id).await;
    let counters: Vec<_> = real
        .iter()
        .map(|m| (m.envelope.version(), m.envelope.order.map(|o| o.counter)))
        .collect();
    assert_eq!(
        counters,
        [(2, Some(1)), (2, Some(2)), (2, Some(3)), (2, Some(4))]
    );
    let (one, two, three, four) = (&real[0], &real[1], &real[2], &real[3]);

    // The malicious server: the third before the second, then the first again.
    let served = [
        at(one, 1),
        at(three, 2),
        at(two, 3),
        at(four, 4),
        at(one, 5),
    ];
    assert_eq!(
        read(&mut sophie, &served).await,
        [
            (2, OrderAnomaly::Missing { count: 1 }),
            (3, OrderAnomaly::Reordered),
            (5, OrderAnomaly::Replayed),
        ]
    );

    // Karim's device, which sent version 2, sends a version-1 envelope (as a server
    // replaying an old-format message, or a downgraded client, would present it): the
    // server still accepts version 1; Sophie's SDK says it is a downgrade.
    let epoch = four.envelope.epoch;
    let key = karim
        .client
        .epoch_key(&karim.device, &channel.id, epoch)
        .await
        .unwrap();
    let old = Envelope::seal(
        MessageHeader {
            channel_id: channel.id.to_string(),
            epoch,
            sender_device: karim.device.device_id.clone(),
            client_msg_id: uuid::Uuid::new_v4().to_string(),
            order: None,
        },
        &MessageContent::text("ancien format"),
        key,
        karim.device.keys(),
    )
    .unwrap();
    let id = old.client_msg_id.clone();
    karim
        .conn
        .send(&ClientFrame::Send {
            channel_id: channel.id.clone(),
            envelope: old,
        })
        .await
        .unwrap();
    let seq = karim.ack(&id).await;
    let downgraded = history(&sophie.client, &channel.id).await;
    let v1 = downgraded.iter().find(|m| m.seq == seq).unwrap();
    assert_eq!(v1.envelope.version(), 1);
    assert_eq!(
        read(&mut sophie, &[at(v1, 6)]).await,
        [(6, OrderAnomaly::Downgraded)]
    );

    // A restart: the marks kept are put back into a new client; the server serves an
    // old message as if it were new.
    let kept = sophie.client.order_marks().clone();
    sophie.client = Client::with_token(
        &server.url(""),
        sophie.client.bearer_token().to_owned(),
        sophie.client.me.clone(),
    );
    sophie.client.restore_order_marks(kept);
    assert_eq!(
        read(&mut sophie, &[at(two, 7)]).await,
        [(7, OrderAnomaly::Replayed)]
    );
}

#[tokio::test]
async fn a_refused_or_resealed_message_leaves_no_gap_in_the_senders_order() {
    let server = TestServer::spawn().await.unwrap();
    let mut karim = Party::new(&server, "karim", Role::Coordinator, "Mairie").await;
    let sophie = Party::new(&server, "sophie", Role::Member, "Police").await;
    let channel = working_group(&mut karim, &[&sophie]).await;
    let first = karim.send_text(&channel.id, "un").await;
    karim.ack(&first).await;
    let epoch = karim
        .client
        .ensure_epoch(&mut karim.device, &channel.id)
        .await
        .unwrap();
    let text = MessageContent::text("deux");
    let sealed = karim
        .client
        .seal_with_id(&karim.device, &channel.id, epoch, &text, "deux-1")
        .await
        .unwrap();
    // Sealed again under the same id (for a new epoch, say): the same place.
    let again = karim
        .client
        .seal_with_id(&karim.device, &channel.id, epoch, &text, "deux-1")
        .await
        .unwrap();
    assert_eq!(sealed.order.unwrap().counter, 2);
    assert_eq!(again.order.unwrap().counter, 2);
    assert_eq!(again.order.unwrap().prev, sealed.order.unwrap().prev);
    // Refused for good: the next message takes its place, after the first.
    karim.client.refused(&channel.id, "deux-1");
    let next = karim
        .client
        .seal_with_id(&karim.device, &channel.id, epoch, &text, "deux-2")
        .await
        .unwrap();
    assert_eq!(next.order.unwrap().counter, 2);
    assert_eq!(next.order.unwrap().prev, sealed.order.unwrap().prev);
    karim
        .conn
        .send(&ClientFrame::Send {
            channel_id: channel.id.clone(),
            envelope: next,
        })
        .await
        .unwrap();
    karim.ack("deux-2").await;

    // Sophie reads both in order: no anomaly.
    let mut sophie = sophie;
    let real = history(&sophie.client, &channel.id).await;
    assert_eq!(real.len(), 2);
    assert_eq!(read(&mut sophie, &real).await, []);
}

//! The sealed-title vector (docs/PROTOCOL.md §24, `shared/vectors/sealed_title.json`): a
//! channel's title sealed under its scope with the channel's epoch key, reproduced byte
//! for byte (the keys are those of `message_envelope.json`). The browser checks the same
//! file (`tests/browser/lib/vector-checks.mjs`).

use serde_json::Value;

use super::envelope::message_key;
use super::test_support::{device_from_hex, hex, scalar_from_hex};
use super::{padding, EpochKey};
use crate::crypto::Envelope;
use crate::protocol::v1::sealed_meta::{title_scope, TitleRecord};

#[test]
fn the_sealed_title_vector_is_reproduced() {
    let v: Value = serde_json::from_str(include_str!("../../vectors/sealed_title.json")).unwrap();
    let sender = device_from_hex(
        v["sender_signing_private_key_hex"].as_str().unwrap(),
        v["sender_agreement_private_key_hex"].as_str().unwrap(),
    );
    let epoch_key = EpochKey::from_bytes(&scalar_from_hex(v["epoch_key_hex"].as_str().unwrap()));
    let nonce: [u8; 12] = hex(v["nonce_hex"].as_str().unwrap()).try_into().unwrap();
    let expected: Envelope = serde_json::from_value(v["envelope"].clone()).unwrap();
    assert_eq!(
        expected.channel_id,
        title_scope(v["channel_id"].as_str().unwrap())
    );
    let record = TitleRecord {
        title: v["title"].as_str().unwrap().to_owned(),
    };
    let json = record.to_content().to_json().unwrap();
    assert_eq!(
        json.as_slice(),
        v["content_json"].as_str().unwrap().as_bytes()
    );
    let ad = expected.additional_data();
    assert_eq!(ad, hex(v["additional_data_hex"].as_str().unwrap()));
    assert_eq!(
        message_key(&epoch_key, &ad).unwrap().to_vec(),
        hex(v["message_key_hex"].as_str().unwrap())
    );
    let padded = padding::pad(&json).unwrap();
    let ours =
        Envelope::seal_with(expected.header(), &padded, &epoch_key, &sender, &nonce).unwrap();
    assert_eq!(ours.ciphertext, expected.ciphertext);
    assert_eq!(
        expected.signed_bytes(),
        hex(v["signed_bytes_hex"].as_str().unwrap())
    );
    let content = expected
        .open(&epoch_key, &sender.public_keys().signing)
        .unwrap();
    assert_eq!(TitleRecord::from_content(&content), Some(record));
    // The same bytes under the channel's own id are not a message of the channel.
    let mut as_message = expected.clone();
    as_message.channel_id = v["channel_id"].as_str().unwrap().to_owned();
    assert!(as_message.decrypt(&epoch_key).is_err());
}

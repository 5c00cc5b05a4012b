//! Message envelopes ([PROTOCOL.md §8]).
//!
//! ```text
//! ad (v1)     = canonical("passerelle/v1/message", channel_id, u64be(epoch), sender_device, client_msg_id)
//! ad (v2)     = canonical₂("passerelle/v2/message", channel_id, u64be(epoch), sender_device, client_msg_id,
//!                          u64be(counter), prev, u64be(sent_at))
//! message_key = HKDF-SHA-256(salt = empty, ikm = epoch key, info = ad)
//! ciphertext  = AES-256-GCM(message_key, nonce (random 12 bytes), ad, pad(content JSON))
//! signature   = ECDSA-P256-SHA256(sender device signing key, ad ‖ nonce ‖ ciphertext)
//! ```
//!
//! Version 2 ([PROTOCOL.md §8.7]) adds the sender's [`MessageOrder`] to the additional
//! data, so that receivers can check the order, completeness and time of each sender's
//! messages themselves ([`super::check_order`]); version 1 envelopes stay readable.
//!
//! The server checks the signature with the sender device's registered key
//! ([`Envelope::verify_signature`]) before storing; recipients check it again and
//! decrypt ([`Envelope::open`]). A message key is used for a single message, so a nonce
//! collision across messages cannot hurt.
//!
//! [PROTOCOL.md §8]: ../../../docs/PROTOCOL.md#8-messages
//! [PROTOCOL.md §8.7]: ../../../docs/PROTOCOL.md#87-authenticated-order-envelope-version-2

use serde::{Deserialize, Serialize};

use super::content::MessageContent;
use super::encoding::{self, b64_array, b64_vec, check_epoch, check_id, label, CanonicalBytes};
use super::epoch::EpochKey;
use super::keys::{DeviceKeys, DeviceSigningPublicKey, Signature, SignatureError};
use super::padding::{self, is_bucket, PaddingError};
use super::primitives::{
    aes_gcm_open, aes_gcm_seal, hkdf_sha256, random_array, sha256, BackendError, NONCE_LEN, TAG_LEN,
};

/// The `v` of an envelope that carries its sender's order ([`MessageOrder`]).
pub const ENVELOPE_VERSION_ORDERED: u8 = 2;

/// A sender's place for one message in its own sequence in a channel
/// ([PROTOCOL.md §8.7]): what a version-2 envelope's additional data adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageOrder {
    /// 1 for the sending device's first message in the channel, then 2, 3, …
    pub counter: u64,
    /// [`Envelope::order_hash`] of the sending device's previous message in the channel,
    /// 32 zero bytes for its first.
    pub prev: [u8; 32],
    /// The sending device's clock when it sealed the message, in ms since the Unix epoch.
    pub sent_at: u64,
}

/// Where a message belongs and who sent it: what its additional data binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHeader {
    /// The channel.
    pub channel_id: String,
    /// The channel's current epoch, whose key encrypts the message.
    pub epoch: u64,
    /// The sending device.
    pub sender_device: String,
    /// The sender's id for this message, unique per sending device (a UUID): the server
    /// stores `(sender_device, client_msg_id)` once, whatever the retries.
    pub client_msg_id: String,
    /// The sender's order: `Some` seals a version-2 envelope (channel messages), `None` a
    /// version-1 envelope (objects sealed outside a channel's message sequence, such as
    /// field reports, and envelopes of earlier releases).
    pub order: Option<MessageOrder>,
}

impl MessageHeader {
    fn check(&self) -> Result<(), SealError> {
        check_id(&self.channel_id).map_err(|_| SealError::InvalidInput)?;
        check_id(&self.sender_device).map_err(|_| SealError::InvalidInput)?;
        check_id(&self.client_msg_id).map_err(|_| SealError::InvalidInput)?;
        check_epoch(self.epoch).map_err(|_| SealError::InvalidInput)?;
        if let Some(order) = &self.order {
            if order.counter == 0 {
                return Err(SealError::InvalidInput);
            }
            check_epoch(order.counter).map_err(|_| SealError::InvalidInput)?;
            check_epoch(order.sent_at).map_err(|_| SealError::InvalidInput)?;
        }
        Ok(())
    }

    fn additional_data(&self) -> Vec<u8> {
        match &self.order {
            None => CanonicalBytes::new(label::MESSAGE)
                .field(self.channel_id.as_bytes())
                .u64_field(self.epoch)
                .field(self.sender_device.as_bytes())
                .field(self.client_msg_id.as_bytes())
                .finish(),
            Some(order) => {
                CanonicalBytes::with_version(label::MESSAGE_V2, ENVELOPE_VERSION_ORDERED)
                    .field(self.channel_id.as_bytes())
                    .u64_field(self.epoch)
                    .field(self.sender_device.as_bytes())
                    .field(self.client_msg_id.as_bytes())
                    .u64_field(order.counter)
                    .field(&order.prev)
                    .u64_field(order.sent_at)
                    .finish()
            }
        }
    }
}

/// Why a message could not be sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// An identifier is empty or longer than [`MAX_ID_LEN`](super::MAX_ID_LEN) bytes, or
    /// the epoch is above [`MAX_EPOCH`](super::MAX_EPOCH).
    #[error("invalid channel, device or message identifier, or epoch")]
    InvalidInput,
    /// The content's JSON is longer than [`MAX_CONTENT_LEN`](super::MAX_CONTENT_LEN)
    /// bytes: shorten the text or send fewer attachments per message.
    #[error("message content too long")]
    TooLong,
    /// The system's random number generator or an internal library call failed.
    #[error("cryptographic backend failure")]
    Backend,
}

impl From<BackendError> for SealError {
    fn from(_: BackendError) -> Self {
        SealError::Backend
    }
}

/// Why a received envelope could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The signature does not verify under the sender device's key: the envelope was
    /// altered, or it was not sent by the device it names.
    #[error("message signature does not verify")]
    BadSignature,
    /// Decryption failed: wrong epoch key, or ciphertext, nonce or additional data
    /// altered.
    #[error("message does not decrypt")]
    Decrypt,
    /// The decrypted plaintext's padding is malformed (a buggy or dishonest sender).
    #[error("malformed message padding")]
    Padding,
    /// The decrypted content is not valid message JSON (a buggy or dishonest sender).
    #[error("malformed message content")]
    Content,
    /// An internal library call failed.
    #[error("cryptographic backend failure")]
    Backend,
}

impl From<BackendError> for OpenError {
    fn from(_: BackendError) -> Self {
        OpenError::Backend
    }
}

/// An encrypted, signed message, as sent in a `send` frame and stored by the server.
///
/// Its JSON form is `{"v": 1, …}` ([PROTOCOL.md §8.5]) or, with the sender's order,
/// `{"v": 2, …, "counter", "prev", "sent_at"}` (§8.7); decoding refuses any other
/// version, unknown fields, and order fields missing from version 2 or present in
/// version 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WireEnvelope", into = "WireEnvelope")]
pub struct Envelope {
    /// The channel.
    pub channel_id: String,
    /// The epoch whose key encrypts the message.
    pub epoch: u64,
    /// The sending device.
    pub sender_device: String,
    /// The sender's id for this message.
    pub client_msg_id: String,
    /// The sender's order (version 2), or `None` for a version-1 envelope.
    pub order: Option<MessageOrder>,
    /// The AES-GCM nonce.
    pub nonce: [u8; NONCE_LEN],
    /// The padded content, encrypted, followed by the GCM tag. Its length is always a
    /// padding bucket plus 16, which deserialisation checks.
    pub ciphertext: Vec<u8>,
    /// The sender device's signature over [`Envelope::signed_bytes`].
    pub signature: Signature,
}

/// The JSON form of both envelope versions, checked field by field on the way in.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEnvelope {
    v: u8,
    #[serde(with = "encoding::id")]
    channel_id: String,
    #[serde(with = "encoding::safe_int")]
    epoch: u64,
    #[serde(with = "encoding::id")]
    sender_device: String,
    #[serde(with = "encoding::id")]
    client_msg_id: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_safe_int"
    )]
    counter: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_b64_32")]
    prev: Option<[u8; 32]>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_safe_int"
    )]
    sent_at: Option<u64>,
    #[serde(with = "b64_array")]
    nonce: [u8; NONCE_LEN],
    #[serde(with = "b64_vec")]
    ciphertext: Vec<u8>,
    signature: Signature,
}

impl TryFrom<WireEnvelope> for Envelope {
    type Error = String;

    fn try_from(wire: WireEnvelope) -> Result<Self, String> {
        let order =
            match (wire.v, wire.counter, wire.prev, wire.sent_at) {
                (1, None, None, None) => None,
                (ENVELOPE_VERSION_ORDERED, Some(counter), Some(prev), Some(sent_at)) => {
                    if counter == 0 {
                        return Err("the counter of a version-2 envelope starts at 1".into());
                    }
                    Some(MessageOrder {
                        counter,
                        prev,
                        sent_at,
                    })
                }
                (1 | ENVELOPE_VERSION_ORDERED, ..) => return Err(
                    "order fields missing from a version-2 envelope or present in a version-1 one"
                        .into(),
                ),
                _ => return Err(encoding::DecodeError::UnsupportedVersion.to_string()),
            };
        if !is_bucket(wire.ciphertext.len().saturating_sub(TAG_LEN)) {
            return Err("ciphertext length is not a padding bucket plus a tag".into());
        }
        Ok(Self {
            channel_id: wire.channel_id,
            epoch: wire.epoch,
            sender_device: wire.sender_device,
            client_msg_id: wire.client_msg_id,
            order,
            nonce: wire.nonce,
            ciphertext: wire.ciphertext,
            signature: wire.signature,
        })
    }
}

impl From<Envelope> for WireEnvelope {
    fn from(envelope: Envelope) -> Self {
        Self {
            v: envelope.version(),
            channel_id: envelope.channel_id,
            epoch: envelope.epoch,
            sender_device: envelope.sender_device,
            client_msg_id: envelope.client_msg_id,
            counter: envelope.order.map(|o| o.counter),
            prev: envelope.order.map(|o| o.prev),
            sent_at: envelope.order.map(|o| o.sent_at),
            nonce: envelope.nonce,
            ciphertext: envelope.ciphertext,
            signature: envelope.signature,
        }
    }
}

/// Serde adapter for an optional integer below 2^53 (absent when `None`).
mod opt_safe_int {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.serialize_u64(*v),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let value = u64::deserialize(d)?;
        super::check_epoch(value).map_err(serde::de::Error::custom)?;
        Ok(Some(value))
    }
}

/// Serde adapter for an optional 32-byte hash in base64url (absent when `None`).
mod opt_b64_32 {
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Option<[u8; 32]>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => super::b64_array::serialize(v, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<[u8; 32]>, D::Error> {
        super::b64_array::deserialize(d).map(Some)
    }
}

impl Envelope {
    /// Encrypts and signs a message with the channel's current epoch key.
    pub fn seal(
        header: MessageHeader,
        content: &MessageContent,
        epoch_key: &EpochKey,
        sender: &DeviceKeys,
    ) -> Result<Self, SealError> {
        // Serialising our own wire types into a Vec cannot fail.
        let json = content.to_json().map_err(|_| SealError::Backend)?;
        Self::seal_json(header, &json, epoch_key, sender)
    }

    /// [`Envelope::seal`] of a content already encoded as JSON (the SDK stamps its
    /// membership head on the application's content, §22.6).
    pub(crate) fn seal_json(
        header: MessageHeader,
        json: &[u8],
        epoch_key: &EpochKey,
        sender: &DeviceKeys,
    ) -> Result<Self, SealError> {
        header.check()?;
        let padded = padding::pad(json).map_err(|_| SealError::TooLong)?;
        Self::seal_with(header, &padded, epoch_key, sender, &random_array()?)
    }

    /// The deterministic core of [`Envelope::seal`], taking the padded plaintext and the
    /// nonce, so that test vectors are byte-exact.
    pub(crate) fn seal_with(
        header: MessageHeader,
        padded: &[u8],
        epoch_key: &EpochKey,
        sender: &DeviceKeys,
        nonce: &[u8; NONCE_LEN],
    ) -> Result<Self, SealError> {
        header.check()?;
        let ad = header.additional_data();
        let key = message_key(epoch_key, &ad)?;
        let ciphertext = aes_gcm_seal(&key, nonce, &ad, padded)?;
        let mut envelope = Self {
            channel_id: header.channel_id,
            epoch: header.epoch,
            sender_device: header.sender_device,
            client_msg_id: header.client_msg_id,
            order: header.order,
            nonce: *nonce,
            ciphertext,
            signature: Signature::from_bytes([0; 64]),
        };
        envelope.signature = sender.sign(&envelope.signed_bytes())?;
        Ok(envelope)
    }

    /// The header fields of this envelope.
    pub fn header(&self) -> MessageHeader {
        MessageHeader {
            channel_id: self.channel_id.clone(),
            epoch: self.epoch,
            sender_device: self.sender_device.clone(),
            client_msg_id: self.client_msg_id.clone(),
            order: self.order,
        }
    }

    /// The `v` of the JSON form: 1, or 2 when the envelope carries its sender's order.
    pub fn version(&self) -> u8 {
        if self.order.is_some() {
            ENVELOPE_VERSION_ORDERED
        } else {
            1
        }
    }

    /// The AEAD additional data (also the message key's HKDF info).
    pub fn additional_data(&self) -> Vec<u8> {
        self.header().additional_data()
    }

    /// What the sender's next envelope names as `prev` ([PROTOCOL.md §8.7]):
    /// SHA-256 of [`Envelope::signed_bytes`]. The signature is left out because ECDSA
    /// signatures are malleable (§3.3): the hash must name the message, not one of its
    /// many valid signatures.
    pub fn order_hash(&self) -> [u8; 32] {
        sha256(&self.signed_bytes())
    }

    /// The bytes the sender device signs: `additional data ‖ nonce ‖ ciphertext`.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut bytes = self.additional_data();
        bytes.extend_from_slice(&self.nonce);
        bytes.extend_from_slice(&self.ciphertext);
        bytes
    }

    /// Checks the sender device's signature. Needs no secret: the server calls it with
    /// the signing key of the registered device named by `sender_device`, after checking
    /// that this device is the authenticated sender and `channel_id` the frame's channel.
    pub fn verify_signature(&self, sender: &DeviceSigningPublicKey) -> Result<(), SignatureError> {
        sender.verify(&self.signed_bytes(), &self.signature)
    }

    /// Verifies the signature with the sender device's signing key (from its verified
    /// certificate), then decrypts with the epoch key of `(channel_id, epoch)`.
    pub fn open(
        &self,
        epoch_key: &EpochKey,
        sender: &DeviceSigningPublicKey,
    ) -> Result<MessageContent, OpenError> {
        self.verify_signature(sender)
            .map_err(|_| OpenError::BadSignature)?;
        self.decrypt(epoch_key)
    }

    /// Decryption alone, without the signature check; tests use it to show that the AEAD
    /// binds every header field on its own.
    pub(crate) fn decrypt(&self, epoch_key: &EpochKey) -> Result<MessageContent, OpenError> {
        let ad = self.additional_data();
        let key = message_key(epoch_key, &ad)?;
        let padded = aes_gcm_open(&key, &self.nonce, &ad, &self.ciphertext)
            .map_err(|_| OpenError::Decrypt)?;
        let json = padding::unpad(&padded).map_err(|_: PaddingError| OpenError::Padding)?;
        MessageContent::from_json(json).map_err(|_| OpenError::Content)
    }
}

/// The per-message key: HKDF-SHA-256 of the epoch key with the additional data as info.
pub(crate) fn message_key(
    epoch_key: &EpochKey,
    ad: &[u8],
) -> Result<zeroize::Zeroizing<[u8; 32]>, BackendError> {
    hkdf_sha256(&[], epoch_key.expose(), ad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test_support::{device_from_hex, hex, scalar_from_hex};
    use crate::crypto::{AttachmentKey, AttachmentRef, MessageRef};
    use serde_json::Value;

    fn header(sender_device: &str, client_msg_id: &str) -> MessageHeader {
        MessageHeader {
            channel_id: "channel".into(),
            epoch: 3,
            sender_device: sender_device.into(),
            client_msg_id: client_msg_id.into(),
            order: None,
        }
    }

    fn sealed() -> (EpochKey, DeviceKeys, Envelope) {
        let key = EpochKey::generate().unwrap();
        let sender = DeviceKeys::generate().unwrap();
        let envelope = Envelope::seal(
            header("dev-a", "msg-1"),
            &MessageContent::text("bonjour"),
            &key,
            &sender,
        )
        .unwrap();
        (key, sender, envelope)
    }

    #[test]
    fn the_message_envelope_vector_is_reproduced() {
        let v: Value =
            serde_json::from_str(include_str!("../../vectors/message_envelope.json")).unwrap();
        let sender = device_from_hex(
            v["sender_signing_private_key_hex"].as_str().unwrap(),
            v["sender_agreement_private_key_hex"].as_str().unwrap(),
        );
        let epoch_key =
            EpochKey::from_bytes(&scalar_from_hex(v["epoch_key_hex"].as_str().unwrap()));
        let nonce: [u8; NONCE_LEN] = hex(v["nonce_hex"].as_str().unwrap()).try_into().unwrap();
        let expected: Envelope = serde_json::from_value(v["envelope"].clone()).unwrap();
        let content_json = hex(v["content_json_hex"].as_str().unwrap());
        let padded = hex(v["padded_plaintext_hex"].as_str().unwrap());

        assert_eq!(
            padding::pad(&content_json).unwrap().as_slice(),
            padded.as_slice()
        );
        let ad = expected.additional_data();
        assert_eq!(ad, hex(v["additional_data_hex"].as_str().unwrap()));
        assert_eq!(
            message_key(&epoch_key, &ad).unwrap().to_vec(),
            hex(v["message_key_hex"].as_str().unwrap())
        );
        let ours =
            Envelope::seal_with(expected.header(), &padded, &epoch_key, &sender, &nonce).unwrap();
        assert_eq!(ours.ciphertext, expected.ciphertext);
        assert_eq!(ours.signed_bytes(), expected.signed_bytes());
        assert_eq!(
            expected.signed_bytes(),
            hex(v["signed_bytes_hex"].as_str().unwrap())
        );

        expected
            .verify_signature(&sender.public_keys().signing)
            .unwrap();
        let content = expected
            .open(&epoch_key, &sender.public_keys().signing)
            .unwrap();
        assert_eq!(
            content.to_json().unwrap().as_slice(),
            content_json.as_slice()
        );
        assert_eq!(content.text, v["content"]["text"].as_str().unwrap());
        assert_eq!(serde_json::to_value(&expected).unwrap(), v["envelope"]);
    }

    #[test]
    fn a_sealed_message_opens_with_the_epoch_key() {
        let key = EpochKey::generate().unwrap();
        let sender = DeviceKeys::generate().unwrap();
        let content = MessageContent {
            text: "Réunion du groupe jeudi à 14 h.".into(),
            reply_to: Some(MessageRef {
                sender_device: "dev-b".into(),
                client_msg_id: "msg-0".into(),
            }),
            attachments: vec![AttachmentRef {
                id: "att".into(),
                key: AttachmentKey::generate().unwrap(),
                sha256: [9; 32],
                size: 10,
                name: "ordre-du-jour.pdf".into(),
                mime: "application/pdf".into(),
            }],
            membership_head: None,
            key_log_head: None,
        };
        let envelope = Envelope::seal(header("dev-a", "msg-1"), &content, &key, &sender).unwrap();
        let opened = envelope.open(&key, &sender.public_keys().signing).unwrap();
        assert_eq!(opened.text, content.text);
        assert_eq!(opened.reply_to, content.reply_to);
        assert_eq!(
            *opened.attachments[0].key.to_bytes(),
            *content.attachments[0].key.to_bytes()
        );
    }

    #[test]
    fn short_messages_of_different_lengths_have_the_same_ciphertext_length() {
        let (key, sender, one) = sealed();
        let long = MessageContent::text("x".repeat(200));
        let two = Envelope::seal(header("dev-a", "msg-2"), &long, &key, &sender).unwrap();
        assert_eq!(one.ciphertext.len(), two.ciphertext.len());
        assert_eq!(one.ciphertext.len(), 256 + TAG_LEN);
    }

    #[test]
    fn a_flipped_ciphertext_bit_is_rejected() {
        let (key, sender, envelope) = sealed();
        for bit in (0..envelope.ciphertext.len() * 8).step_by(37) {
            let mut bad = envelope.clone();
            bad.ciphertext[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                bad.open(&key, &sender.public_keys().signing).unwrap_err(),
                OpenError::BadSignature
            );
            assert_eq!(bad.decrypt(&key).unwrap_err(), OpenError::Decrypt);
        }
    }

    #[test]
    fn a_flipped_nonce_bit_is_rejected() {
        let (key, sender, envelope) = sealed();
        for bit in 0..NONCE_LEN * 8 {
            let mut bad = envelope.clone();
            bad.nonce[bit / 8] ^= 1 << (bit % 8);
            assert!(bad.verify_signature(&sender.public_keys().signing).is_err());
            assert_eq!(bad.decrypt(&key).unwrap_err(), OpenError::Decrypt);
        }
    }

    #[test]
    fn a_flipped_signature_bit_is_rejected() {
        let (key, sender, envelope) = sealed();
        for bit in (0..512).step_by(7) {
            let mut bytes = *envelope.signature.as_bytes();
            bytes[bit / 8] ^= 1 << (bit % 8);
            let mut bad = envelope.clone();
            bad.signature = Signature::from_bytes(bytes);
            assert_eq!(
                bad.open(&key, &sender.public_keys().signing).unwrap_err(),
                OpenError::BadSignature
            );
        }
    }

    #[test]
    fn a_message_moved_to_another_channel_epoch_sender_or_id_is_rejected() {
        let (key, sender, envelope) = sealed();
        let alterations: Vec<fn(&mut Envelope)> = vec![
            |e| e.channel_id = "other-channel".into(),
            |e| e.epoch = 4,
            |e| e.sender_device = "dev-b".into(),
            |e| e.client_msg_id = "msg-2".into(),
        ];
        for alter in alterations {
            let mut bad = envelope.clone();
            alter(&mut bad);
            assert!(bad.verify_signature(&sender.public_keys().signing).is_err());
            // Even with the signature set aside, the additional data refuses the move.
            assert_eq!(bad.decrypt(&key).unwrap_err(), OpenError::Decrypt);
        }
    }

    #[test]
    fn the_wrong_epoch_key_is_rejected() {
        let (_, sender, envelope) = sealed();
        let other = EpochKey::generate().unwrap();
        assert_eq!(
            envelope
                .open(&other, &sender.public_keys().signing)
                .unwrap_err(),
            OpenError::Decrypt
        );
    }

    #[test]
    fn a_signature_by_another_device_replayed_onto_another_envelope_is_rejected() {
        let key = EpochKey::generate().unwrap();
        let alice = DeviceKeys::generate().unwrap();
        let mallory = DeviceKeys::generate().unwrap();
        let from_alice = Envelope::seal(
            header("alice", "m1"),
            &MessageContent::text("vrai"),
            &key,
            &alice,
        )
        .unwrap();
        let from_mallory = Envelope::seal(
            header("mallory", "m1"),
            &MessageContent::text("faux"),
            &key,
            &mallory,
        )
        .unwrap();

        // Mallory's envelope presented as Alice's, with Mallory's signature: fails under
        // Alice's key.
        let mut forged = from_mallory.clone();
        forged.sender_device = "alice".into();
        assert!(forged
            .verify_signature(&alice.public_keys().signing)
            .is_err());
        // Alice's signature moved onto Mallory's ciphertext: fails too.
        let mut forged = from_mallory.clone();
        forged.sender_device = "alice".into();
        forged.signature = from_alice.signature.clone();
        assert!(forged
            .verify_signature(&alice.public_keys().signing)
            .is_err());
        // Mallory's signature on Alice's envelope: fails under both keys.
        let mut forged = from_alice.clone();
        forged.signature = from_mallory.signature.clone();
        assert!(forged
            .verify_signature(&alice.public_keys().signing)
            .is_err());
        assert!(forged
            .verify_signature(&mallory.public_keys().signing)
            .is_err());
    }

    #[test]
    fn envelopes_round_trip_through_json() {
        let (key, sender, envelope) = sealed();
        let json = serde_json::to_string(&envelope).unwrap();
        let back: Envelope = serde_json::from_str(&json).unwrap();
        assert_eq!(back, envelope);
        back.open(&key, &sender.public_keys().signing).unwrap();
    }

    #[test]
    fn an_envelope_whose_ciphertext_is_not_a_padding_bucket_does_not_parse() {
        let (_, _, envelope) = sealed();
        let mut json = serde_json::to_value(&envelope).unwrap();
        json["ciphertext"] = crate::crypto::to_base64url(&[0u8; 100]).into();
        assert!(serde_json::from_value::<Envelope>(json).is_err());
    }

    #[test]
    fn an_envelope_with_unknown_fields_or_version_does_not_parse() {
        let (_, _, envelope) = sealed();
        let mut json = serde_json::to_value(&envelope).unwrap();
        json["extra"] = 1.into();
        assert!(serde_json::from_value::<Envelope>(json).is_err());
        let mut json = serde_json::to_value(&envelope).unwrap();
        json["v"] = 3.into();
        assert!(serde_json::from_value::<Envelope>(json).is_err());
    }

    #[test]
    fn a_version_2_envelope_binds_its_order_and_round_trips() {
        let key = EpochKey::generate().unwrap();
        let sender = DeviceKeys::generate().unwrap();
        let mut h = header("dev-a", "msg-1");
        h.order = Some(MessageOrder {
            counter: 3,
            prev: [7; 32],
            sent_at: 1_765_000_000_000,
        });
        let envelope = Envelope::seal(h, &MessageContent::text("x"), &key, &sender).unwrap();
        let json = serde_json::to_value(&envelope).unwrap();
        assert_eq!(json["v"], 2);
        assert_eq!(json["counter"], 3);
        let back: Envelope = serde_json::from_value(json.clone()).unwrap();
        back.open(&key, &sender.public_keys().signing).unwrap();
        let alterations: Vec<fn(&mut MessageOrder)> =
            vec![|o| o.counter = 4, |o| o.prev[0] = 0, |o| o.sent_at += 1];
        for alter in alterations {
            let mut bad = envelope.clone();
            alter(bad.order.as_mut().unwrap());
            assert!(bad.verify_signature(&sender.public_keys().signing).is_err());
            assert_eq!(bad.decrypt(&key).unwrap_err(), OpenError::Decrypt);
        }
        // Dropping the order (a downgrade to version 1) breaks the signature too.
        let mut bad = envelope.clone();
        bad.order = None;
        assert!(bad.verify_signature(&sender.public_keys().signing).is_err());
        // Order fields in a version-1 envelope, or missing from version 2, do not parse.
        let mut v1 = json.clone();
        v1["v"] = 1.into();
        assert!(serde_json::from_value::<Envelope>(v1).is_err());
        let mut partial = json.clone();
        partial.as_object_mut().unwrap().remove("prev");
        assert!(serde_json::from_value::<Envelope>(partial).is_err());
        let mut zero = json;
        zero["counter"] = 0.into();
        assert!(serde_json::from_value::<Envelope>(zero).is_err());
    }

    #[test]
    fn an_overlong_message_is_refused() {
        let key = EpochKey::generate().unwrap();
        let sender = DeviceKeys::generate().unwrap();
        let content = MessageContent::text("a".repeat(crate::crypto::MAX_CONTENT_LEN));
        assert_eq!(
            Envelope::seal(header("dev", "m"), &content, &key, &sender).unwrap_err(),
            SealError::TooLong
        );
    }

    #[test]
    fn an_empty_identifier_is_refused() {
        let key = EpochKey::generate().unwrap();
        let sender = DeviceKeys::generate().unwrap();
        assert_eq!(
            Envelope::seal(header("dev", ""), &MessageContent::text("x"), &key, &sender)
                .unwrap_err(),
            SealError::InvalidInput
        );
    }
}

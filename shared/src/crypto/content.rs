//! The plaintext of a message ([PROTOCOL.md §8.2]): JSON
//! `{"text", "reply_to", "attachments": [{"id", "key", "sha256", "size", "name", "mime"}]}`.
//!
//! The content holds attachment keys and confidential text, so its types are zeroized on
//! drop, print no content in `Debug`, and are (de)serialised only here, into zeroizing
//! buffers, through private wire types: the public types do not implement `Serialize`.
//!
//! [PROTOCOL.md §8.2]: ../../../docs/PROTOCOL.md#82-content

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::attachment::{AttachmentKey, ATTACHMENT_KEY_LEN};
use super::encoding::{b64_array, to_base64url, ArrayVisitor, SecretBase64};
use super::membership_log::LogHead;

/// A reference to another message of the same channel, by the pair that identifies it
/// and that its signature covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize)]
pub struct MessageRef {
    /// The device that sent the referenced message.
    pub sender_device: String,
    /// The referenced message's `client_msg_id`.
    pub client_msg_id: String,
}

/// An attachment as the message describes it: where the blob is, the key that decrypts
/// it and the hash that authenticates it.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct AttachmentRef {
    /// The server's id of the encrypted blob.
    pub id: String,
    /// The attachment's own random key.
    pub key: AttachmentKey,
    /// SHA-256 of the whole encrypted blob.
    pub sha256: [u8; 32],
    /// Size of the plaintext file in bytes.
    pub size: u64,
    /// File name, as the sender's user chose it.
    pub name: String,
    /// Media type, e.g. `application/pdf`.
    pub mime: String,
}

impl fmt::Debug for AttachmentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The name may identify a person (C7): only its length is shown.
        f.debug_struct("AttachmentRef")
            .field("id", &self.id)
            .field("sha256", &to_base64url(&self.sha256))
            .field("size", &self.size)
            .field("name_len", &self.name.len())
            .field("mime", &self.mime)
            .finish_non_exhaustive()
    }
}

/// The decrypted content of a message.
#[derive(Default, Zeroize, ZeroizeOnDrop)]
pub struct MessageContent {
    /// The message text (may be empty when the message only carries attachments).
    pub text: String,
    /// The message this one answers, if any.
    pub reply_to: Option<MessageRef>,
    /// Attached files.
    pub attachments: Vec<AttachmentRef>,
    /// The sender's verified head of the channel's membership log (§22.6), under the
    /// sender's signature: a receiver whose served log does not contain it is being shown
    /// another log than the sender's. Not secret.
    #[zeroize(skip)]
    pub membership_head: Option<LogHead>,
    /// The key log head its sender had accepted (docs/PROTOCOL.md §27): receivers
    /// compare it with theirs to see whether the server shows everyone the same log.
    /// Filled in by the SDK when sealing; `None` from senders that do not gossip.
    pub key_log_head: Option<super::keylog::GossipedHead>,
}

impl fmt::Debug for MessageContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageContent")
            .field("text_len", &self.text.len())
            .field("reply_to", &self.reply_to)
            .field("attachments", &self.attachments)
            .field("membership_head", &self.membership_head)
            .finish()
    }
}

#[derive(Serialize)]
struct ContentOut<'a> {
    text: &'a str,
    reply_to: &'a Option<MessageRef>,
    attachments: Vec<AttachmentOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    membership_head: Option<&'a LogHead>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_log_head: &'a Option<super::keylog::GossipedHead>,
}

#[derive(Serialize)]
struct AttachmentOut<'a> {
    id: &'a str,
    key: SecretBase64<'a>,
    sha256: String,
    size: u64,
    name: &'a str,
    mime: &'a str,
}

/// Unknown fields are ignored so that later versions can add some.
#[derive(Deserialize)]
struct ContentIn {
    text: String,
    #[serde(default)]
    reply_to: Option<MessageRef>,
    #[serde(default)]
    attachments: Vec<AttachmentIn>,
    #[serde(default)]
    membership_head: Option<LogHead>,
    /// Read leniently: a head that does not parse is dropped, the message stays readable.
    #[serde(default)]
    key_log_head: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct AttachmentIn {
    id: String,
    key: KeyIn,
    #[serde(with = "b64_array")]
    sha256: [u8; 32],
    size: u64,
    name: String,
    mime: String,
}

struct KeyIn(AttachmentKey);

impl<'de> Deserialize<'de> for KeyIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut bytes = deserializer.deserialize_str(ArrayVisitor::<ATTACHMENT_KEY_LEN>)?;
        let key = AttachmentKey::from_bytes(&bytes);
        bytes.zeroize();
        Ok(KeyIn(key))
    }
}

impl MessageContent {
    /// A text-only message.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            reply_to: None,
            attachments: Vec::new(),
            membership_head: None,
            key_log_head: None,
        }
    }

    /// A copy carrying `head` as its sender's key log head (§27).
    pub(crate) fn with_key_log_head(&self, head: super::keylog::GossipedHead) -> Self {
        Self {
            text: self.text.clone(),
            reply_to: self.reply_to.clone(),
            attachments: self
                .attachments
                .iter()
                .map(|a| AttachmentRef {
                    id: a.id.clone(),
                    key: AttachmentKey::from_bytes(a.key.expose()),
                    sha256: a.sha256,
                    size: a.size,
                    name: a.name.clone(),
                    mime: a.mime.clone(),
                })
                .collect(),
            key_log_head: Some(head),
            membership_head: self.membership_head,
        }
    }

    /// The JSON bytes, in zeroizing memory.
    pub(crate) fn to_json(&self) -> Result<Zeroizing<Vec<u8>>, serde_json::Error> {
        self.to_json_with_head(self.membership_head.as_ref())
    }

    /// The JSON bytes with `membership_head` in place of the content's own: the SDK
    /// stamps its verified head on whatever the application sends.
    pub(crate) fn to_json_with_head(
        &self,
        membership_head: Option<&LogHead>,
    ) -> Result<Zeroizing<Vec<u8>>, serde_json::Error> {
        let out = ContentOut {
            membership_head,
            text: &self.text,
            reply_to: &self.reply_to,
            attachments: self
                .attachments
                .iter()
                .map(|a| AttachmentOut {
                    id: &a.id,
                    key: SecretBase64(a.key.expose()),
                    sha256: to_base64url(&a.sha256),
                    size: a.size,
                    name: &a.name,
                    mime: &a.mime,
                })
                .collect(),
            key_log_head: &self.key_log_head,
        };
        // Reserve generously so the buffer is not reallocated, which would leave an
        // unzeroized copy behind.
        let mut json = Zeroizing::new(Vec::with_capacity(
            self.text.len() + 256 * (self.attachments.len() + 1),
        ));
        serde_json::to_writer(&mut *json, &out)?;
        Ok(json)
    }

    /// Parses the JSON bytes.
    pub(crate) fn from_json(json: &[u8]) -> Result<Self, serde_json::Error> {
        let parsed: ContentIn = serde_json::from_slice(json)?;
        if parsed.membership_head.is_some_and(|head| head.seq == 0) {
            return Err(serde::de::Error::custom("membership_head.seq"));
        }
        Ok(Self {
            text: parsed.text,
            reply_to: parsed.reply_to,
            attachments: parsed
                .attachments
                .into_iter()
                .map(|a| AttachmentRef {
                    id: a.id,
                    key: a.key.0,
                    sha256: a.sha256,
                    size: a.size,
                    name: a.name,
                    mime: a.mime,
                })
                .collect(),
            membership_head: parsed.membership_head,
            key_log_head: parsed
                .key_log_head
                .and_then(|head| serde_json::from_value(head).ok()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MessageContent {
        MessageContent {
            text: "Point de situation : famille reçue mardi.".into(),
            reply_to: Some(MessageRef {
                sender_device: "dev-a".into(),
                client_msg_id: "m-1".into(),
            }),
            attachments: vec![AttachmentRef {
                id: "att-1".into(),
                key: AttachmentKey::from_bytes(&[0x11; 32]),
                sha256: [0x22; 32],
                size: 1234,
                name: "compte-rendu.pdf".into(),
                mime: "application/pdf".into(),
            }],
            membership_head: None,
            key_log_head: None,
        }
    }

    #[test]
    fn content_round_trips_through_json() {
        let content = sample();
        let json = content.to_json().unwrap();
        let back = MessageContent::from_json(&json).unwrap();
        assert_eq!(back.text, content.text);
        assert_eq!(back.reply_to, content.reply_to);
        assert_eq!(back.attachments.len(), 1);
        assert_eq!(*back.attachments[0].key.to_bytes(), [0x11; 32]);
        assert_eq!(back.attachments[0].sha256, [0x22; 32]);
        assert_eq!(back.attachments[0].name, "compte-rendu.pdf");
    }

    #[test]
    fn unknown_fields_and_missing_optional_fields_are_accepted() {
        let content = MessageContent::from_json(br#"{"text":"hi","future":true}"#).unwrap();
        assert_eq!(content.text, "hi");
        assert!(content.reply_to.is_none());
        assert!(content.attachments.is_empty());
    }

    /// The sender's key log head (§27) travels in the content; one that does not parse
    /// is dropped without making the message unreadable, and an absent one is not
    /// encoded (a plain message encodes as before).
    #[test]
    fn the_key_log_head_round_trips_and_a_malformed_one_is_dropped() {
        let head = crate::crypto::GossipedHead {
            size: 7,
            root: [0x33; 32],
        };
        let json = MessageContent::text("hi")
            .with_key_log_head(head.clone())
            .to_json()
            .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value["key_log_head"]["size"], 7);
        assert_eq!(
            value["key_log_head"]["root"],
            crate::crypto::encoding::to_base64url(&[0x33; 32])
        );
        let back = MessageContent::from_json(&json).unwrap();
        assert_eq!(back.key_log_head, Some(head));
        let odd =
            MessageContent::from_json(br#"{"text":"hi","key_log_head":{"size":"x"}}"#).unwrap();
        assert_eq!(odd.text, "hi");
        assert!(odd.key_log_head.is_none());
        let plain = MessageContent::text("hi").to_json().unwrap();
        assert!(!String::from_utf8_lossy(&plain).contains("key_log_head"));
    }

    #[test]
    fn the_membership_head_travels_in_the_content_and_is_checked() {
        let plain = MessageContent::text("Bonjour");
        let json = plain.to_json().unwrap();
        assert!(!String::from_utf8_lossy(&json).contains("membership_head"));
        let head = LogHead {
            seq: 4,
            hash: [7; 32],
        };
        let json = plain.to_json_with_head(Some(&head)).unwrap();
        let text = String::from_utf8_lossy(&json).into_owned();
        assert!(text.ends_with(
            r#","membership_head":{"seq":4,"hash":"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc"}}"#
        ));
        let back = MessageContent::from_json(&json).unwrap();
        assert_eq!(back.membership_head, Some(head));
        // A malformed head makes the content malformed.
        for bad in [
            br#"{"text":"","membership_head":{"seq":1,"hash":"AAAA"}}"#.as_slice(),
            br#"{"text":"","membership_head":{"seq":0,"hash":"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc"}}"#,
            br#"{"text":"","membership_head":{"seq":-1,"hash":"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc"}}"#,
        ] {
            assert!(MessageContent::from_json(bad).is_err());
        }
    }

    #[test]
    fn a_malformed_attachment_key_is_rejected() {
        let json = br#"{"text":"","attachments":[{"id":"a","key":"AAAA","sha256":"","size":1,"name":"n","mime":"m"}]}"#;
        assert!(MessageContent::from_json(json).is_err());
    }

    #[test]
    fn the_debug_output_of_content_shows_no_text_name_or_key() {
        let debug = format!("{:?}", sample());
        assert_eq!(
            debug,
            "MessageContent { text_len: 42, reply_to: Some(MessageRef { sender_device: \"dev-a\", \
             client_msg_id: \"m-1\" }), attachments: [AttachmentRef { id: \"att-1\", sha256: \
             \"IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI\", size: 1234, name_len: 16, mime: \
             \"application/pdf\", .. }], membership_head: None }"
        );
        assert!(!debug.contains("famille"));
        assert!(!debug.contains("compte-rendu"));
        crate::crypto::test_support::assert_no_secret_in(&debug, &[0x11; 32]);
    }
}

//! The paged key backup ([PROTOCOL.md §10.8]).
//!
//! A backup of one blob is rewritten whole at every new key and needs a cap the server
//! can hold in one request. The paged backup splits the epoch keys into **pages** of at
//! most [`PAGE_CAPACITY`] keys, each sealed under the backup key and stored by the
//! server under the SHA-256 of its ciphertext, and a **head** that names the pages (id
//! and hash, in clear so that the server can check it holds them, and bound into the
//! head's associated data) and carries everything else of the backup (identity key,
//! pinned colleagues, tombstones). The head is the commit point: a writer uploads the
//! pages it changed, then swaps the head over the version it read (`If-Match`). A new
//! key re-uploads the one page not yet full, not the whole backup.
//!
//! A reader checks every page it fetches against the hash the head names, so a server
//! that drops, swaps or rolls back one page is caught ([`BackupError::PageMissing`],
//! [`BackupError::PageAltered`]) instead of silently losing keys.
//!
//! [PROTOCOL.md §10.8]: ../../../docs/PROTOCOL.md#108-paged-backup

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use super::backup::{epoch_keys_out, BackupContents, BackupError, BackupKey, EpochKeyIn};
use super::encoding::{
    self, b64_array, b64_vec, check_epoch, check_id, label, CanonicalBytes, Version1,
};
use super::epoch::EpochKey;
use super::primitives::{aes_gcm_open, aes_gcm_seal, random_array, sha256, NONCE_LEN};

/// Most epoch keys in one page: about 220 KB of JSON once encrypted for channel ids of
/// 36 characters, 600 KB at worst (ids of 128 bytes), under the server's page limit of
/// 1 MiB. A heavy user (about 15,000 keys a year, PROTOCOL.md §12.2) fills eight a year.
pub const PAGE_CAPACITY: usize = 2_000;

/// Bytes of a page id: random, drawn anew each time a page is sealed.
pub const PAGE_ID_LEN: usize = 16;

/// The SHA-256 of a page's `nonce ‖ ciphertext`: the name the server stores it under
/// and the head refers to it by. Written as 64 lowercase hexadecimal digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageHash(pub [u8; 32]);

impl PageHash {
    /// Parses 64 lowercase hexadecimal digits; anything else is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = (digit(bytes[2 * i])? << 4) | digit(bytes[2 * i + 1])?;
        }
        Some(Self(out))
    }
}

impl fmt::Display for PageHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PageHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PageHash({self})")
    }
}

impl Serialize for PageHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PageHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).ok_or_else(|| {
            serde::de::Error::custom("a page hash is 64 lowercase hexadecimal digits")
        })
    }
}

/// One page of a paged backup, as the server stores it. Public: it is ciphertext. Its
/// id is not in it: the head gives it, and the associated data binds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyBackupPage {
    /// Protocol version, always 1.
    pub v: Version1,
    /// The user whose keys these are.
    #[serde(with = "encoding::id")]
    pub user_id: String,
    /// The AES-GCM nonce.
    #[serde(with = "b64_array")]
    pub nonce: [u8; NONCE_LEN],
    /// The encrypted JSON `{"v":1,"epoch_keys":[…]}` followed by the GCM tag.
    #[serde(with = "b64_vec")]
    pub ciphertext: Vec<u8>,
}

impl KeyBackupPage {
    /// The name the page is stored and referred to under: SHA-256(nonce ‖ ciphertext).
    pub fn hash(&self) -> PageHash {
        let mut bytes = Vec::with_capacity(NONCE_LEN + self.ciphertext.len());
        bytes.extend_from_slice(&self.nonce);
        bytes.extend_from_slice(&self.ciphertext);
        PageHash(sha256(&bytes))
    }

    /// The AEAD additional data: the user id and the page id.
    pub fn additional_data(user_id: &str, page_id: &[u8; PAGE_ID_LEN]) -> Vec<u8> {
        CanonicalBytes::new(label::KEY_BACKUP_PAGE)
            .field(user_id.as_bytes())
            .field(page_id)
            .finish()
    }

    /// The deterministic core of sealing, for the test vectors.
    pub(crate) fn seal_json(
        json: &[u8],
        key: &BackupKey,
        user_id: &str,
        page_id: &[u8; PAGE_ID_LEN],
        nonce: &[u8; NONCE_LEN],
    ) -> Result<Self, BackupError> {
        check_id(user_id).map_err(|_| BackupError::InvalidInput)?;
        let ad = Self::additional_data(user_id, page_id);
        Ok(Self {
            v: Version1,
            user_id: user_id.to_owned(),
            nonce: *nonce,
            ciphertext: aes_gcm_seal(key.expose(), nonce, &ad, json)?,
        })
    }

    /// Decrypts the page the head names `reference`: checks first that it is that page
    /// (its hash), then opens it under that page id. Keys a tombstone of `tombstones`
    /// covers are dropped, as on opening any backup (§10.6).
    pub fn open(
        &self,
        key: &BackupKey,
        user_id: &str,
        reference: &PageRef,
    ) -> Result<BTreeMap<(String, u64), EpochKey>, BackupError> {
        if self.hash() != reference.hash || self.user_id != user_id {
            return Err(BackupError::PageAltered);
        }
        let json = aes_gcm_open(
            key.expose(),
            &self.nonce,
            &Self::additional_data(user_id, &reference.id),
            &self.ciphertext,
        )
        .map_err(|_| BackupError::Decrypt)?;
        page_from_json(&json)
    }
}

#[derive(Serialize)]
struct PageOut<'a> {
    v: Version1,
    epoch_keys: Vec<super::backup::EpochKeyOut<'a>>,
}

/// Unknown fields are ignored so that later versions can add some, as in the contents.
#[derive(Deserialize)]
struct PageIn {
    #[allow(dead_code)] // checked by its type
    v: Version1,
    epoch_keys: Vec<EpochKeyIn>,
}

pub(crate) fn page_to_json(
    keys: &BTreeMap<(String, u64), EpochKey>,
) -> Result<Zeroizing<Vec<u8>>, BackupError> {
    let out = PageOut {
        v: Version1,
        epoch_keys: epoch_keys_out(keys)?,
    };
    let mut json = Zeroizing::new(Vec::with_capacity(64 + 128 * keys.len()));
    serde_json::to_writer(&mut *json, &out).map_err(|_| BackupError::Backend)?;
    Ok(json)
}

fn page_from_json(json: &[u8]) -> Result<BTreeMap<(String, u64), EpochKey>, BackupError> {
    let parsed: PageIn = serde_json::from_slice(json).map_err(|_| BackupError::Malformed)?;
    Ok(parsed
        .epoch_keys
        .into_iter()
        .map(|entry| {
            (
                (entry.channel_id.clone(), entry.epoch),
                EpochKey::from_bytes(&entry.key.0),
            )
        })
        .collect())
}

/// A page as the head names it: its id (bound into the page's associated data) and
/// the hash of its ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageRef {
    /// Random, drawn when the page was sealed.
    #[serde(with = "b64_array")]
    pub id: [u8; PAGE_ID_LEN],
    /// SHA-256 of the page's `nonce ‖ ciphertext`.
    pub hash: PageHash,
}

/// The head of a paged backup, as the server stores it (in place of the single blob of
/// §10.4). The page list is in clear so that the server refuses a head naming a page
/// it does not hold, and bound into the associated data so that it cannot be changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyBackupHead {
    /// Protocol version, always 1.
    pub v: Version1,
    /// The user whose keys these are.
    #[serde(with = "encoding::id")]
    pub user_id: String,
    /// Increases with every upload; a client refuses a head older than one it has seen.
    #[serde(with = "encoding::safe_int")]
    pub revision: u64,
    /// The pages holding the epoch keys.
    pub pages: Vec<PageRef>,
    /// The AES-GCM nonce.
    #[serde(with = "b64_array")]
    pub nonce: [u8; NONCE_LEN],
    /// The encrypted contents (§10.3) with an empty `epoch_keys`, then the GCM tag.
    #[serde(with = "b64_vec")]
    pub ciphertext: Vec<u8>,
}

impl KeyBackupHead {
    /// Seals the head: everything of `contents` but its epoch keys, which are in `pages`.
    pub fn seal(
        contents: &BackupContents,
        pages: Vec<PageRef>,
        key: &BackupKey,
        user_id: &str,
        revision: u64,
    ) -> Result<Self, BackupError> {
        Self::seal_json(
            &contents.to_head_json()?,
            pages,
            key,
            user_id,
            revision,
            &random_array()?,
        )
    }

    /// The deterministic core of [`KeyBackupHead::seal`], for the test vectors.
    pub(crate) fn seal_json(
        json: &[u8],
        pages: Vec<PageRef>,
        key: &BackupKey,
        user_id: &str,
        revision: u64,
        nonce: &[u8; NONCE_LEN],
    ) -> Result<Self, BackupError> {
        check_id(user_id).map_err(|_| BackupError::InvalidInput)?;
        check_epoch(revision).map_err(|_| BackupError::InvalidInput)?;
        let mut head = Self {
            v: Version1,
            user_id: user_id.to_owned(),
            revision,
            pages,
            nonce: *nonce,
            ciphertext: Vec::new(),
        };
        head.ciphertext = aes_gcm_seal(key.expose(), nonce, &head.additional_data(), json)?;
        Ok(head)
    }

    /// The AEAD additional data: the user id, the revision, the number of pages, then
    /// each page's id and hash in order.
    pub fn additional_data(&self) -> Vec<u8> {
        let mut bytes = CanonicalBytes::new(label::KEY_BACKUP_HEAD)
            .field(self.user_id.as_bytes())
            .u64_field(self.revision)
            .u64_field(self.pages.len() as u64);
        for page in &self.pages {
            bytes = bytes.field(&page.id).field(&page.hash.0);
        }
        bytes.finish()
    }

    /// Decrypts the head: the identity key, the pinned colleagues and the tombstones. The
    /// keys are in the pages ([`KeyBackupPage::open`]). The caller checks `user_id` and
    /// that `revision` is not older than one it saw.
    pub fn open(&self, key: &BackupKey) -> Result<BackupContents, BackupError> {
        let json = aes_gcm_open(
            key.expose(),
            &self.nonce,
            &self.additional_data(),
            &self.ciphertext,
        )
        .map_err(|_| BackupError::Decrypt)?;
        let contents = BackupContents::from_json(&json)?;
        if contents.listed_keys() {
            // Keys live in pages only: a head listing some is not one this library wrote.
            return Err(BackupError::Malformed);
        }
        Ok(contents)
    }
}

/// What the server serves at `GET /keys/backup`: the head of a paged backup, or the
/// single blob of a backup not converted yet (§10.4), told apart by the head's `pages`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum StoredBackup {
    /// A paged backup's head.
    Head(KeyBackupHead),
    /// A backup of the first format, converted by the next write.
    Single(super::backup::KeyBackup),
}

/// One page as a writer holds it: its keys, and the reference it is stored under
/// (`None` once changed here and until sealed again).
struct HeldPage {
    reference: Option<PageRef>,
    keys: BTreeMap<(String, u64), EpochKey>,
}

/// The epoch keys of a paged backup, page by page, as a device holds them between
/// writes: a write then fetches only the pages whose hash changed, and uploads only
/// the pages it changed ([`BackupPages::update`], [`BackupPages::seal_changed`]).
#[derive(Default)]
pub struct BackupPages {
    pages: Vec<HeldPage>,
}

impl fmt::Debug for BackupPages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupPages")
            .field("pages", &self.pages.len())
            .field("keys", &self.len())
            .finish()
    }
}

impl BackupPages {
    /// No page yet (a first backup, or one of the first format being converted).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a page opened from the server, in the head's order.
    pub fn push_opened(&mut self, reference: PageRef, keys: BTreeMap<(String, u64), EpochKey>) {
        self.pages.push(HeldPage {
            reference: Some(reference),
            keys,
        });
    }

    /// Takes out the keys of the page stored under `hash`, if held (a page unchanged since
    /// the last write need not be fetched again).
    pub fn take(&mut self, hash: &PageHash) -> Option<BTreeMap<(String, u64), EpochKey>> {
        let index = self
            .pages
            .iter()
            .position(|p| p.reference.as_ref().is_some_and(|r| &r.hash == hash))?;
        Some(self.pages.remove(index).keys)
    }

    /// Whether a page holds the key of this channel epoch.
    pub fn contains(&self, channel_id: &str, epoch: u64) -> bool {
        let key = (channel_id.to_owned(), epoch);
        self.pages.iter().any(|p| p.keys.contains_key(&key))
    }

    /// Every key held, page by page.
    pub fn epoch_keys(&self) -> impl Iterator<Item = (&str, u64, &EpochKey)> {
        self.pages.iter().flat_map(|p| {
            p.keys
                .iter()
                .map(|((channel, epoch), key)| (channel.as_str(), *epoch, key))
        })
    }

    /// The number of keys held.
    pub fn len(&self) -> usize {
        self.pages.iter().map(|p| p.keys.len()).sum()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of pages.
    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// Brings the pages up to date ([PROTOCOL.md §10.8], compaction): drops the keys the
    /// tombstones of `contents` cover (a page left empty disappears, a page left with
    /// some is rewritten), then places the keys of `new_keys` no page holds. The keys
    /// to place, the rewritten pages, the page not yet full and every page under half
    /// full are pooled and cut again into full pages and one last: so a new key
    /// rewrites one page, and a mostly shredded page is merged at the next write.
    /// Returns whether anything changed.
    pub fn update<'a>(
        &mut self,
        contents: &BackupContents,
        new_keys: impl IntoIterator<Item = (&'a str, u64, &'a EpochKey)>,
    ) -> bool {
        let mut pool: BTreeMap<(String, u64), EpochKey> = BTreeMap::new();
        for (channel, epoch, key) in new_keys {
            if !contents.is_shredded(channel, epoch) && !self.contains(channel, epoch) {
                pool.insert(
                    (channel.to_owned(), epoch),
                    EpochKey::from_bytes(&key.to_bytes()),
                );
            }
        }
        let mut changed = false;
        let mut kept = Vec::with_capacity(self.pages.len());
        for mut page in std::mem::take(&mut self.pages) {
            let before = page.keys.len();
            page.keys
                .retain(|(channel, epoch), _| !contents.is_shredded(channel, *epoch));
            if page.keys.len() != before {
                changed = true;
                pool.append(&mut page.keys);
            } else if !page.keys.is_empty() {
                kept.push(page);
            }
        }
        if !pool.is_empty() {
            changed = true;
            // The page not yet full and the pages under half full join the pool.
            let last_open = kept.iter().rposition(|p| p.keys.len() < PAGE_CAPACITY);
            let mut index = 0;
            kept.retain_mut(|page| {
                let join = Some(index) == last_open || page.keys.len() < PAGE_CAPACITY / 2;
                index += 1;
                if join {
                    pool.append(&mut page.keys);
                }
                !join
            });
        }
        self.pages = kept;
        while !pool.is_empty() {
            let rest = match pool.iter().nth(PAGE_CAPACITY) {
                Some((first, _)) => {
                    let first = first.clone();
                    pool.split_off(&first)
                }
                None => BTreeMap::new(),
            };
            self.pages.push(HeldPage {
                reference: None,
                keys: std::mem::replace(&mut pool, rest),
            });
        }
        changed
    }

    /// Seals every page changed since it was read (a fresh page id and nonce each) and
    /// returns them, to upload before the head that names them.
    pub fn seal_changed(
        &mut self,
        key: &BackupKey,
        user_id: &str,
    ) -> Result<Vec<KeyBackupPage>, BackupError> {
        let mut sealed = Vec::new();
        for page in self.pages.iter_mut().filter(|p| p.reference.is_none()) {
            let id: [u8; PAGE_ID_LEN] = random_array()?;
            let out = KeyBackupPage::seal_json(
                &page_to_json(&page.keys)?,
                key,
                user_id,
                &id,
                &random_array()?,
            )?;
            page.reference = Some(PageRef {
                id,
                hash: out.hash(),
            });
            sealed.push(out);
        }
        Ok(sealed)
    }

    /// The references of every page, in order, for the head. `None` while a page is
    /// changed and not sealed yet ([`BackupPages::seal_changed`]).
    pub fn references(&self) -> Option<Vec<PageRef>> {
        self.pages.iter().map(|p| p.reference).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::IdentityKeyPair;

    fn key_of(n: u64) -> EpochKey {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&n.to_be_bytes());
        EpochKey::from_bytes(&bytes)
    }

    fn keys(channel: &str, epochs: std::ops::Range<u64>) -> Vec<(String, u64, EpochKey)> {
        epochs.map(|e| (channel.to_owned(), e, key_of(e))).collect()
    }

    fn refs(list: &[(String, u64, EpochKey)]) -> impl Iterator<Item = (&str, u64, &EpochKey)> {
        list.iter().map(|(c, e, k)| (c.as_str(), *e, k))
    }

    fn contents() -> BackupContents {
        BackupContents::new(IdentityKeyPair::generate().unwrap())
    }

    #[test]
    fn a_new_key_rewrites_the_one_page_not_yet_full() {
        let backup_key = BackupKey::from_bytes(&[7; 32]);
        let mut pages = BackupPages::new();
        let first = keys("c", 0..5_500);
        assert!(pages.update(&contents(), refs(&first)));
        assert_eq!(pages.seal_changed(&backup_key, "u").unwrap().len(), 3);
        let before = pages.references().unwrap();
        let one = keys("c", 5_500..5_501);
        assert!(pages.update(&contents(), refs(&one)));
        let sealed = pages.seal_changed(&backup_key, "u").unwrap();
        assert_eq!(sealed.len(), 1);
        let after = pages.references().unwrap();
        assert_eq!(
            after[..2],
            before[..2],
            "the full pages are kept as they were"
        );
        assert_ne!(after[2], before[2]);
        assert_eq!(pages.len(), 5_501);
        // Nothing new: nothing rewritten.
        assert!(!pages.update(&contents(), refs(&one)));
        assert!(pages.seal_changed(&backup_key, "u").unwrap().is_empty());
    }

    #[test]
    fn shredded_pages_are_dropped_and_mostly_shredded_ones_merged() {
        let backup_key = BackupKey::from_bytes(&[7; 32]);
        let mut pages = BackupPages::new();
        let mut all = keys("a", 0..2_000);
        all.extend(keys("b", 0..1_900));
        all.extend(keys("c", 0..2_000));
        pages.update(&contents(), refs(&all));
        pages.seal_changed(&backup_key, "u").unwrap();
        assert_eq!(pages.page_count(), 3);
        let mut tombstones = contents();
        // Channel a (the whole first page) destroyed; most of b's history purged (the
        // second page holds b's 1,900 keys and c's first 100).
        tombstones.shred("a", Shredded::Channel);
        tombstones.shred("b", Shredded::Below(1_850));
        assert!(pages.update(&tombstones, std::iter::empty()));
        assert!(pages
            .epoch_keys()
            .all(|(c, e, _)| !tombstones.is_shredded(c, e)));
        assert_eq!(pages.len(), 50 + 2_000);
        assert_eq!(pages.page_count(), 2, "a's page dropped, b's rest merged");
        let sealed = pages.seal_changed(&backup_key, "u").unwrap();
        assert!(!sealed.is_empty());
    }

    #[test]
    fn a_page_is_refused_under_another_hash_id_or_user() {
        let key = BackupKey::from_bytes(&[7; 32]);
        let mut pages = BackupPages::new();
        pages.update(&contents(), refs(&keys("c", 0..3)));
        let sealed = pages.seal_changed(&key, "u").unwrap();
        let reference = pages.references().unwrap()[0];
        assert_eq!(sealed[0].open(&key, "u", &reference).unwrap().len(), 3);
        let mut other = reference;
        other.hash.0[0] ^= 1;
        assert_eq!(
            sealed[0].open(&key, "u", &other).unwrap_err(),
            BackupError::PageAltered
        );
        let mut moved = reference;
        moved.id[0] ^= 1;
        assert_eq!(
            sealed[0].open(&key, "u", &moved).unwrap_err(),
            BackupError::Decrypt
        );
        assert_eq!(
            sealed[0].open(&key, "v", &reference).unwrap_err(),
            BackupError::PageAltered
        );
    }

    #[test]
    fn a_head_binds_its_page_list_and_carries_no_key() {
        let key = BackupKey::from_bytes(&[7; 32]);
        let mut contents = contents();
        contents.shred("gone", Shredded::Channel);
        contents.insert_epoch_key("kept", 1, key_of(1));
        let reference = PageRef {
            id: [1; PAGE_ID_LEN],
            hash: PageHash([2; 32]),
        };
        let head = KeyBackupHead::seal(&contents, vec![reference], &key, "u", 3).unwrap();
        let opened = head.open(&key).unwrap();
        assert_eq!(opened.epoch_keys().count(), 0, "keys are in the pages only");
        assert!(opened.is_shredded("gone", 1));
        let mut dropped = head.clone();
        dropped.pages.clear();
        assert_eq!(dropped.open(&key).unwrap_err(), BackupError::Decrypt);
        let mut swapped = head.clone();
        swapped.pages[0].hash.0[0] ^= 1;
        assert_eq!(swapped.open(&key).unwrap_err(), BackupError::Decrypt);
        let mut rolled = head;
        rolled.revision = 2;
        assert_eq!(rolled.open(&key).unwrap_err(), BackupError::Decrypt);
    }

    #[test]
    fn page_hashes_are_64_lowercase_hex_digits() {
        let hash = PageHash([0xab; 32]);
        assert_eq!(PageHash::parse(&hash.to_string()), Some(hash));
        assert_eq!(PageHash::parse(&hash.to_string().to_uppercase()), None);
        assert_eq!(PageHash::parse("ab"), None);
        assert_eq!(PageHash::parse(&"zz".repeat(32)), None);
    }

    use super::super::backup::Shredded;

    #[test]
    fn the_paged_backup_vector_is_reproduced() {
        use crate::crypto::test_support::hex;
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../../vectors/key_backup_pages.json")).unwrap();
        let key = BackupKey::from_bytes(
            &hex(v["backup_key_hex"].as_str().unwrap())
                .try_into()
                .unwrap(),
        );
        let user = v["user_id"].as_str().unwrap();
        let page: KeyBackupPage = serde_json::from_value(v["page"].clone()).unwrap();
        assert_eq!(page.hash().to_string(), v["page_hash"].as_str().unwrap());
        let page_id: [u8; PAGE_ID_LEN] =
            hex(v["page_id_hex"].as_str().unwrap()).try_into().unwrap();
        assert_eq!(
            KeyBackupPage::additional_data(user, &page_id),
            hex(v["page_additional_data_hex"].as_str().unwrap())
        );
        let page_json = hex(v["page_plaintext_json_hex"].as_str().unwrap());
        let nonce: [u8; NONCE_LEN] = hex(v["page_nonce_hex"].as_str().unwrap())
            .try_into()
            .unwrap();
        assert_eq!(
            KeyBackupPage::seal_json(&page_json, &key, user, &page_id, &nonce).unwrap(),
            page
        );
        let head: KeyBackupHead = serde_json::from_value(v["head"].clone()).unwrap();
        assert_eq!(
            head.additional_data(),
            hex(v["head_additional_data_hex"].as_str().unwrap())
        );
        let head_json = hex(v["head_plaintext_json_hex"].as_str().unwrap());
        let head_nonce: [u8; NONCE_LEN] = hex(v["head_nonce_hex"].as_str().unwrap())
            .try_into()
            .unwrap();
        assert_eq!(
            KeyBackupHead::seal_json(
                &head_json,
                head.pages.clone(),
                &key,
                user,
                head.revision,
                &head_nonce
            )
            .unwrap(),
            head
        );
        let contents = head.open(&key).unwrap();
        assert_eq!(
            contents.to_head_json().unwrap().as_slice(),
            head_json.as_slice()
        );
        let keys = page.open(&key, user, &head.pages[0]).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(
            page_to_json(&keys).unwrap().as_slice(),
            page_json.as_slice()
        );
        // The stored form tells a head from a blob of the first format.
        let stored: StoredBackup = serde_json::from_value(v["head"].clone()).unwrap();
        assert!(matches!(stored, StoredBackup::Head(_)));
    }
}

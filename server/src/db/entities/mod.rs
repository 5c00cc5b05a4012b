//! sea-orm entities of the main database. Tables are created by `passerelle-migrations`.

#![allow(unreachable_pub)] // sea-orm derives public items; the module itself is crate-private.

pub(crate) mod attachment;
pub(crate) mod channel;
pub(crate) mod channel_institution;
pub(crate) mod channel_member;
pub(crate) mod device;
pub(crate) mod epoch_key;
pub(crate) mod identity_key;
pub(crate) mod institution;
pub(crate) mod key_backup;
pub(crate) mod message;
pub(crate) mod session;
pub(crate) mod user;

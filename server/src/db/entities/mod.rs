//! sea-orm entities of the main database. Tables are created by `passerelle-migrations`.

#![allow(unreachable_pub)] // sea-orm derives public items; the module itself is crate-private.

pub(crate) mod institution;
pub(crate) mod session;
pub(crate) mod user;

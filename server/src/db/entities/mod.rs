//! sea-orm entities of the main database. Tables are created by `passerelle-migrations`.

pub(crate) mod institution;
pub(crate) mod session;
pub(crate) mod user;

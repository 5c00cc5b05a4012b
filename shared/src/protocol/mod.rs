//! The wire protocol of Passerelle (docs/PROTOCOL.md), grouped by version.

pub mod v1;

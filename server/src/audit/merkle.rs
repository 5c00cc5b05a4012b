//! RFC 6962 Merkle trees: the pure code lives in `passerelle_shared::crypto::merkle`, so
//! that clients verify the key transparency log's proofs (docs/PROTOCOL.md §25) with the
//! same functions the access log uses.

pub use passerelle_shared::crypto::merkle::*;

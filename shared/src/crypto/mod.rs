//! End-to-end encryption (docs/PROTOCOL.md). Being written.

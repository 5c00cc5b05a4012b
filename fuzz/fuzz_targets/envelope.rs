//! Fuzzes `passerelle_shared::fuzzing::envelope`: arbitrary bytes must never panic it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| passerelle_shared::fuzzing::envelope(data));

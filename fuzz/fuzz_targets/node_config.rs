//! Fuzzes `nightjar_node::NodeConfig::from_toml` (the operator's `node.toml`).
//! The body, and what it checks, is `nightjar_fuzzing::node_config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nightjar_fuzzing::node_config(data));

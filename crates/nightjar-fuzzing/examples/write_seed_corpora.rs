//! Writes the committed seed corpora, `fuzz/corpus/TARGET/NAME`, with the
//! real encoders: valid frames, envelopes, files and texts (named `valid-…`),
//! plus a few interesting invalid ones (`bad-…`), so that fuzzing starts past
//! checksums, length prefixes and AEAD tags, and so that
//! `tests/replay_corpora.rs` replays every decoder's accepting path in CI.
//!
//! ```sh
//! cargo run -p nightjar-fuzzing --example write_seed_corpora
//! ```
//!
//! It replaces every file in each target's corpus directory. Everything is
//! deterministic except the two `valid-history-*.sqlite` databases (the
//! profile seals records and key files under random nonces).

#![allow(clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use nightjar_chain::contact::encode_contact;
use nightjar_chain::{
    Address, B256, BlockRef, ChainLog, ContractEvent, LogPosition, SavedState, U256,
};
use nightjar_client::paths::GuardRecord;
use nightjar_client::{Direction, GuardState, HistoryRecord, Profile};
use nightjar_crypto::SeededRandom;
use nightjar_crypto::at_rest::seal_seed_with;
use nightjar_crypto::envelope::{self, Content};
use nightjar_crypto::hash::message_hash;
use nightjar_crypto::identity::{Identity, PublicKey, Seed};
use nightjar_crypto::link::{self, LinkSecret};
use nightjar_crypto::registration::RegistrationClaim;
use nightjar_devices::{DeviceId, DeviceList, OneTimePrekey, PrekeyBundle};
use nightjar_fuzzing::{
    ENVELOPE_RECIPIENT_SEED, PROFILE_SEED, PROFILE_STATE_KEYS, TARGETS,
    profile_history_record_blob, profile_identity,
};
use nightjar_node::NodeConfig;
use nightjar_registry::{NetworkFile, NodeEntry, NodeId, Registry, RegistryEvent};
use nightjar_types::{AccountKey, MailboxKey, MessageHash, NodeKey};
use nightjar_wire::{
    ClaimRequest, Claimant, DeleteRequest, ErrorCode, FullMessage, LABEL_DELETE,
    LABEL_RECEIPT_BATCH, LABEL_RETRIEVE, MessageKey, Receipt, ReplicateRequest, Request, Response,
    ResponseBody, RetrieveRequest, StoreRequest, StoredMessage, SwarmInfo, SyncCursor, SyncEntry,
    namespace, receipt_batch_signed_data,
};

type Corpus = BTreeMap<String, Vec<u8>>;

fn identity(byte: u8) -> Identity {
    Identity::from_seed(Seed::from_bytes([byte; 32]))
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

const T0: u64 = 1_764_150_000_000;

/// An envelope from identity 8 to the fuzz recipient.
fn sample_envelope(text: &str) -> Vec<u8> {
    let recipient = Identity::from_seed(Seed::from_bytes(ENVELOPE_RECIPIENT_SEED));
    envelope::seal_with_ephemeral(
        &identity(8),
        &recipient.public_key(),
        &Content {
            text: text.to_owned(),
            sent_at_ms: T0,
        },
        &[9; 32],
    )
    .expect("seal a sample envelope")
}

fn request_frames() -> Corpus {
    let alice = identity(1);
    let account = AccountKey::new(alice.public_key().to_bytes());
    let env = sample_envelope("hello");
    let hash = MessageHash::new(message_hash(&alice.public_key(), 0, &env));

    let mut retrieve = RetrieveRequest {
        account,
        namespace: 0,
        after_seq: 41,
        wait_ms: 5_000,
        timestamp_ms: T0,
        signature: [0; 64],
    };
    retrieve.signature = alice.sign_labelled(LABEL_RETRIEVE, &retrieve.signed_data());
    let mut delete = DeleteRequest {
        account,
        namespace: 0,
        hashes: vec![hash, MessageHash::new([0xab; 32])],
        timestamp_ms: T0,
        signature: [0; 64],
    };
    delete.signature = alice.sign_labelled(LABEL_DELETE, &delete.signed_data());
    let store = Request::Store(StoreRequest {
        account,
        namespace: 0,
        ttl_ms: 3_600_000,
        data: env.clone(),
    });
    let key = MessageKey {
        account,
        namespace: 0,
        hash,
    };

    let mut c = Corpus::new();
    c.insert("valid-store".into(), store.to_frame());
    c.insert(
        "valid-retrieve".into(),
        Request::Retrieve(retrieve).to_frame(),
    );
    c.insert("valid-delete".into(), Request::Delete(delete).to_frame());
    c.insert("valid-info".into(), Request::Info.to_frame());
    c.insert(
        "valid-replicate".into(),
        Request::Replicate(ReplicateRequest {
            account,
            namespace: 3,
            data: env.clone(),
            expiry_ms: T0 + 3_600_000,
        })
        .to_frame(),
    );
    c.insert(
        "valid-sync-digest".into(),
        Request::SyncDigest {
            start: u64::MAX - 5,
            end: 1 << 40,
            buckets: 16,
        }
        .to_frame(),
    );
    c.insert(
        "valid-sync-list".into(),
        Request::SyncList {
            start: 7,
            end: 7,
            after: None,
        }
        .to_frame(),
    );
    c.insert(
        "valid-sync-list-after".into(),
        Request::SyncList {
            start: 7,
            end: 7,
            after: Some(SyncCursor {
                position: 1 << 63,
                key,
                tombstone: true,
            }),
        }
        .to_frame(),
    );
    c.insert(
        "valid-sync-fetch".into(),
        Request::SyncFetch(vec![
            key,
            MessageKey {
                namespace: 9,
                ..key
            },
        ])
        .to_frame(),
    );
    c.insert(
        "valid-get-swarm".into(),
        Request::GetSwarm { account }.to_frame(),
    );
    // Published records and claims (docs/PROTOCOL.md §5.12, §5.13).
    let record = nightjar_crypto::published::sign(&alice, namespace::ONE_TIME_PREKEYS, b"prekey");
    let record_hash = MessageHash::new(message_hash(
        &alice.public_key(),
        namespace::ONE_TIME_PREKEYS,
        &record,
    ));
    c.insert(
        "valid-store-published".into(),
        Request::Store(StoreRequest {
            account,
            namespace: namespace::ONE_TIME_PREKEYS,
            ttl_ms: 3_600_000,
            data: record,
        })
        .to_frame(),
    );
    c.insert(
        "valid-retrieve-public".into(),
        Request::Retrieve(RetrieveRequest::public(
            account,
            namespace::PREKEY_BUNDLE,
            3,
            1_000,
        ))
        .to_frame(),
    );
    let claim = ClaimRequest {
        account,
        namespace: namespace::ONE_TIME_PREKEYS,
        hash: record_hash,
        claimant: Claimant::new([0x5a; 16]),
    };
    c.insert(
        "valid-claim".into(),
        Request::Claim(claim.clone()).to_frame(),
    );

    // Invalid ones: the encoder does not validate, the decoder must.
    let store_frame = store.to_frame();
    c.insert(
        "bad-truncated-store".into(),
        store_frame[..store_frame.len() - 10].to_vec(),
    );
    let mut trailing = Request::Info.to_frame();
    trailing.push(0);
    c.insert("bad-trailing-byte".into(), trailing);
    c.insert(
        "bad-length-prefix-4gib".into(),
        vec![0xff, 0xff, 0xff, 0xff, 0x08, 0x01, 0x6a, 0x00],
    );
    let mut version = Request::Info.to_frame();
    // version is field 1, a varint: 0x08 0x01 right after the prefix.
    assert_eq!(&version[4..6], &[0x08, 0x01], "info frame layout changed");
    version[5] = 0x02;
    c.insert("bad-version-2".into(), version);
    c.insert(
        "bad-store-ttl-zero".into(),
        Request::Store(StoreRequest {
            account,
            namespace: 0,
            ttl_ms: 0,
            data: env,
        })
        .to_frame(),
    );
    c.insert(
        "bad-sync-fetch-empty".into(),
        Request::SyncFetch(vec![]).to_frame(),
    );
    c.insert(
        "bad-claim-not-claimable".into(),
        Request::Claim(ClaimRequest {
            namespace: namespace::PREKEY_BUNDLE,
            ..claim
        })
        .to_frame(),
    );
    c
}

/// `node`'s receipts for `messages`, signed as one batch (one tree).
fn batch_receipts(node: &Identity, messages: &[(MessageHash, u64)]) -> Vec<Receipt> {
    use nightjar_crypto::receipt_tree::{ReceiptTree, leaf_hash};
    let tree = ReceiptTree::new(
        messages
            .iter()
            .map(|(h, e)| leaf_hash(h.as_bytes(), *e))
            .collect(),
    )
    .expect("a batch of 1 ..= 65,536");
    let size = u32::try_from(tree.size()).expect("small");
    let signature = node.sign_labelled(
        LABEL_RECEIPT_BATCH,
        &receipt_batch_signed_data(&tree.root(), size),
    );
    messages
        .iter()
        .enumerate()
        .map(|(i, (_, expiry))| Receipt {
            node_key: NodeKey::new(node.public_key().to_bytes()),
            expiry_ms: *expiry,
            signature,
            leaf_index: u32::try_from(i).expect("small"),
            tree_size: size,
            path: tree.path(i).expect("a leaf of the tree"),
        })
        .collect()
}

/// `Stored` answers with batched receipts by the node of
/// `RECEIPT_NODE_SEED`: leaves of trees of 1, 5 and 33, receipts of
/// another node beside them, and bad ones (another message, a path
/// changed, a leaf moved).
fn store_receipts() -> Corpus {
    let node = Identity::from_seed(Seed::from_bytes(nightjar_fuzzing::RECEIPT_NODE_SEED));
    let other = identity(21);
    let alice = identity(1);
    let expiry = T0 + 3_600_000;
    let hashes: Vec<MessageHash> = (0..33u8)
        .map(|i| MessageHash::new(message_hash(&alice.public_key(), 0, &[i])))
        .collect();
    let stored = |hash: MessageHash, receipts: Vec<Receipt>| {
        Response {
            node_time_ms: T0,
            body: ResponseBody::Stored {
                hash,
                expiry_ms: expiry,
                already_stored: false,
                receipts,
            },
        }
        .to_frame()
    };
    let mut c = Corpus::new();
    for n in [1usize, 5, 33] {
        let batch: Vec<(MessageHash, u64)> = hashes[..n].iter().map(|h| (*h, expiry)).collect();
        let ours = batch_receipts(&node, &batch);
        let theirs = batch_receipts(&other, &batch);
        let last = n - 1;
        c.insert(
            format!("valid-tree-of-{n}-first"),
            stored(hashes[0], vec![ours[0].clone(), theirs[0].clone()]),
        );
        c.insert(
            format!("valid-tree-of-{n}-last"),
            stored(hashes[last], vec![ours[last].clone()]),
        );
        if n > 1 {
            c.insert(
                format!("bad-tree-of-{n}-another-message"),
                stored(hashes[1], vec![ours[0].clone()]),
            );
            let mut changed = ours[1].clone();
            changed.path[0][7] ^= 0x40;
            c.insert(
                format!("bad-tree-of-{n}-path-changed"),
                stored(hashes[1], vec![changed]),
            );
            let mut moved = ours[1].clone();
            moved.leaf_index = 0;
            c.insert(
                format!("bad-tree-of-{n}-leaf-moved"),
                stored(hashes[1], vec![moved]),
            );
        }
    }
    c
}

fn response_frames() -> Corpus {
    let node = identity(20);
    let alice = identity(1);
    let account = AccountKey::new(alice.public_key().to_bytes());
    let env = sample_envelope("hi there");
    let hash = MessageHash::new(message_hash(&alice.public_key(), 0, &env));
    let expiry = T0 + 3_600_000;
    let receipt = batch_receipts(&node, &[(hash, expiry)]).remove(0);
    let swarm = SwarmInfo {
        swarm_id: 0x1234_5678_9abc_def0,
        nodes: vec![
            (NodeKey::new(node.public_key().to_bytes()), addr(40001)),
            (
                NodeKey::new(identity(21).public_key().to_bytes()),
                "[::1]:40003".parse().expect("an IPv6 address"),
            ),
        ],
    };
    let key = MessageKey {
        account,
        namespace: 0,
        hash,
    };
    let bodies = [
        (
            "valid-stored",
            ResponseBody::Stored {
                hash,
                expiry_ms: expiry,
                already_stored: false,
                receipts: vec![receipt],
            },
        ),
        (
            "valid-messages",
            ResponseBody::Messages {
                messages: vec![
                    StoredMessage {
                        seq: 1,
                        hash,
                        data: env.clone(),
                        stored_at_ms: T0,
                        expiry_ms: expiry,
                    },
                    StoredMessage {
                        seq: 2,
                        hash: MessageHash::new([0xcd; 32]),
                        data: vec![1, 2, 3],
                        stored_at_ms: T0 + 1,
                        expiry_ms: expiry + 1,
                    },
                ],
                cursor: 2,
                more: true,
            },
        ),
        ("valid-deleted", ResponseBody::Deleted { count: 2 }),
        (
            "valid-info",
            ResponseBody::Info {
                software_version: "0.1.0".into(),
                protocol_version: 1,
                node_key: NodeKey::new(node.public_key().to_bytes()),
            },
        ),
        (
            "valid-error",
            ResponseBody::Error {
                code: ErrorCode::from_u32(7),
                message: "quota exceeded".into(),
            },
        ),
        ("valid-wrong-swarm", ResponseBody::WrongSwarm(swarm.clone())),
        ("valid-swarm", ResponseBody::Swarm(swarm)),
        (
            "valid-digest",
            ResponseBody::Digest(vec![[0; 32], [0x11; 32], [0xff; 32]]),
        ),
        (
            "valid-entries",
            ResponseBody::Entries {
                entries: vec![
                    SyncEntry {
                        key,
                        expiry_ms: expiry,
                        tombstone: false,
                    },
                    SyncEntry {
                        key: MessageKey {
                            hash: MessageHash::new([0xee; 32]),
                            ..key
                        },
                        expiry_ms: expiry,
                        tombstone: true,
                    },
                ],
                truncated: false,
                next: None,
            },
        ),
        (
            "valid-entries-next",
            ResponseBody::Entries {
                entries: vec![SyncEntry {
                    key,
                    expiry_ms: expiry,
                    tombstone: false,
                }],
                truncated: true,
                next: Some(SyncCursor {
                    position: u64::MAX,
                    key,
                    tombstone: false,
                }),
            },
        ),
        (
            "valid-claimed",
            ResponseBody::Claimed {
                data: nightjar_crypto::published::sign(
                    &alice,
                    namespace::ONE_TIME_PREKEYS,
                    b"prekey",
                ),
            },
        ),
        (
            "valid-claimed-vote-without-copy",
            ResponseBody::Claimed { data: Vec::new() },
        ),
        (
            "valid-error-already-claimed",
            ResponseBody::Error {
                code: ErrorCode::AlreadyClaimed,
                message: "another claimant holds this record".into(),
            },
        ),
        (
            "valid-full",
            ResponseBody::Full(vec![FullMessage {
                mailbox: MailboxKey {
                    account,
                    namespace: 0,
                },
                data: env,
                expiry_ms: expiry,
            }]),
        ),
    ];
    let mut c = Corpus::new();
    for (name, body) in bodies {
        let frame = Response {
            node_time_ms: T0,
            body,
        }
        .to_frame();
        c.insert(name.into(), frame);
    }
    let messages = c["valid-messages"].clone();
    c.insert(
        "bad-truncated-messages".into(),
        messages[..messages.len() / 2].to_vec(),
    );
    c.insert(
        "bad-length-prefix-4gib".into(),
        vec![0xff, 0xff, 0xff, 0xff, 0x08, 0x01],
    );
    c
}

fn envelopes() -> Corpus {
    let mut c = Corpus::new();
    let short = sample_envelope("hello");
    c.insert("valid-short".into(), short.clone());
    c.insert("valid-1000-chars".into(), sample_envelope(&"é".repeat(500)));
    c.insert("valid-empty-text".into(), sample_envelope(""));
    c.insert(
        "bad-other-recipient".into(),
        envelope::seal_with_ephemeral(
            &identity(8),
            &identity(30).public_key(),
            &Content {
                text: "not for you".into(),
                sent_at_ms: T0,
            },
            &[9; 32],
        )
        .expect("seal"),
    );
    let mut version = short.clone();
    version[0] = 0x02;
    c.insert("bad-version-2".into(), version);
    c.insert("bad-truncated".into(), short[..short.len() - 1].to_vec());
    // As a mask over the reference envelope: all zero opens it, one bit does not.
    c.insert("mask-zero".into(), vec![0; 64]);
    let mut one_bit = vec![0; 200];
    one_bit[150] = 0x01;
    c.insert("mask-one-bit".into(), one_bit);
    c
}

fn node_id(byte: u8) -> NodeId {
    NodeId(identity(byte).public_key())
}

fn registry_files() -> Corpus {
    let nodes: Vec<NodeEntry> = (0..4)
        .map(|i| NodeEntry {
            id: node_id(40 + i),
            addr: addr(41000 + u16::from(i)),
        })
        .collect();
    let mut registry = Registry::genesis("devnet", nodes.clone());
    let mut c = Corpus::new();
    c.insert(
        "valid-registry-genesis".into(),
        registry.to_toml().into_bytes(),
    );
    registry
        .append(RegistryEvent::Join {
            node: NodeEntry {
                id: node_id(50),
                addr: "[::1]:41010".parse().expect("an IPv6 address"),
            },
        })
        .expect("join");
    registry
        .append(RegistryEvent::Exit { id: node_id(41) })
        .expect("exit");
    c.insert(
        "valid-registry-events".into(),
        registry.to_toml().into_bytes(),
    );
    // A registry derived from the chain: two joins, one exiting later.
    let staked = |node: &NodeEntry, state| nightjar_registry::StakedNode {
        node: node.clone(),
        operator: [0xf3; 20],
        stake: "25000000000000000000000".into(),
        state,
    };
    let mut on_chain = vec![
        staked(&nodes[0], nightjar_registry::StakedState::Active),
        staked(&nodes[1], nightjar_registry::StakedState::Exiting),
    ];
    on_chain.sort_by_key(|n| n.node.id);
    let chain_registry = Registry {
        network: "nightjar-devnet".into(),
        nodes: Vec::new(),
        events: vec![
            RegistryEvent::Join {
                node: nodes[0].clone(),
            },
            RegistryEvent::Join {
                node: nodes[1].clone(),
            },
            RegistryEvent::Exit { id: nodes[1].id },
        ],
        chain: Some(nightjar_registry::ChainOrigin {
            chain_id: 31337,
            contract: [0x5f; 20],
            block: 118,
            block_hash: [0x9a; 32],
            nodes: on_chain,
        }),
    };
    let text = chain_registry.to_toml();
    c.insert("valid-registry-chain".into(), text.clone().into_bytes());
    c.insert(
        "bad-registry-chain-exiting-node-active".into(),
        text.replace("state = \"exiting\"", "state = \"active\"")
            .into_bytes(),
    );
    let network = NetworkFile {
        network: "devnet".into(),
        registry: Some(PathBuf::from("registry.toml")),
        seeds: nodes[..2].to_vec(),
    };
    c.insert(
        "valid-network".into(),
        network.to_toml(Some("registry.toml")).into_bytes(),
    );
    c.insert(
        "valid-network-no-registry".into(),
        network.to_toml(None).into_bytes(),
    );

    let genesis = Registry::genesis("devnet", nodes.clone()).to_toml();
    c.insert(
        "bad-registry-version-2".into(),
        genesis.replace("version = 1", "version = 2").into_bytes(),
    );
    c.insert(
        "bad-registry-exit-unknown".into(),
        format!(
            "{genesis}\n[[events]]\nkind = \"exit\"\nnode_id = \"{}\"\n",
            node_id(99)
        )
        .into_bytes(),
    );
    c.insert(
        "bad-registry-join-twice".into(),
        format!(
            "{genesis}\n[[events]]\nkind = \"join\"\nnode_id = \"{}\"\naddr = \"127.0.0.1:1\"\n",
            nodes[0].id
        )
        .into_bytes(),
    );
    c.insert(
        "bad-deep-nesting".into(),
        format!("version = 1\nnetwork = {}", "[".repeat(5000)).into_bytes(),
    );
    c
}

fn keyfiles() -> Corpus {
    let seed = Seed::from_bytes([0x33; 32]);
    let plain = seal_seed_with(&seed, None, &[1; 16], &[2; 24]).expect("seal");
    let argon = seal_seed_with(&seed, Some(b"pass"), &[1; 16], &[2; 24]).expect("seal");
    let mut c = Corpus::new();
    c.insert("valid-no-passphrase".into(), plain.clone());
    c.insert("valid-argon2id".into(), argon.clone());
    // The real file with cheap Argon2id parameters (m = 8 KiB, t = 1): the
    // fuzzer runs the KDF on it (then the tag fails).
    let mut cheap = argon.clone();
    cheap[18..22].copy_from_slice(&8u32.to_be_bytes());
    cheap[22..26].copy_from_slice(&1u32.to_be_bytes());
    c.insert("bad-argon2id-cheap-params".into(), cheap);
    let mut greedy = argon;
    greedy[18..22].copy_from_slice(&u32::MAX.to_be_bytes());
    c.insert("bad-argon2id-4tib".into(), greedy);
    let mut version = plain.clone();
    version[0] = 0x02;
    c.insert("bad-version-2".into(), version);
    let mut kdf = plain.clone();
    kdf[1] = 0x07;
    c.insert("bad-kdf-7".into(), kdf);
    let mut flipped = plain.clone();
    flipped[80] ^= 0x01;
    c.insert("bad-flipped-body".into(), flipped);
    c.insert("bad-truncated".into(), plain[..60].to_vec());
    c
}

fn account_texts() -> Corpus {
    let alice = identity(1);
    let phrase = alice.mnemonic().as_str().to_owned();
    let id = alice.account_id().to_string();
    let words: Vec<&str> = phrase.split_whitespace().collect();
    let mut c = Corpus::new();
    c.insert("valid-account-id".into(), id.clone().into_bytes());
    c.insert("valid-phrase".into(), phrase.clone().into_bytes());
    c.insert(
        "valid-phrase-extra-spaces".into(),
        format!("  {}\n", words.join("   ")).into_bytes(),
    );
    let mut swapped = words.clone();
    swapped.swap(0, 1);
    c.insert("bad-phrase-checksum".into(), swapped.join(" ").into_bytes());
    c.insert(
        "bad-phrase-23-words".into(),
        words[..23].join(" ").into_bytes(),
    );
    let mut bad_id = id.clone().into_bytes();
    let last = bad_id.len() - 1;
    bad_id[last] = if bad_id[last] == b'q' { b'p' } else { b'q' };
    c.insert("bad-account-id-checksum".into(), bad_id);
    c.insert(
        "valid-account-id-upper".into(),
        id.to_uppercase().into_bytes(),
    );
    let mut mixed = id.to_uppercase();
    mixed.replace_range(0..3, "nj1");
    c.insert("bad-account-id-mixed-case".into(), mixed.into_bytes());
    c
}

fn node_configs(root: &Path) -> Corpus {
    let mut c = Corpus::new();
    let example = std::fs::read(root.join("contrib/node.toml")).expect("read contrib/node.toml");
    c.insert("valid-contrib-example".into(), example);
    let minimal = NodeConfig::new(addr(22020), PathBuf::from("/var/lib/nightjar"));
    c.insert("valid-defaults".into(), minimal.to_toml().into_bytes());
    let mut full = minimal.clone();
    full.listen = "[::]:22020".parse().expect("an IPv6 address");
    full.admin = Some(addr(9120));
    full.key_file = Some(PathBuf::from("keys/node.key"));
    full.registry = Some(PathBuf::from("/etc/nightjar/registry.toml"));
    full.write_quorum = Some(3);
    full.log = "nightjar_node=debug,info".into();
    c.insert("valid-every-key".into(), full.to_toml().into_bytes());
    let mut chain = minimal.clone();
    chain.chain = Some(nightjar_node::ChainConfig {
        network: "nightjar-devnet".into(),
        rpc: vec!["http://127.0.0.1:8545".into(), "https://rpc.example".into()],
        chain_id: 31337,
        contract: "0x5fbdb2315678afecb367f032d93f642f64180aa3".into(),
        start_block: 7,
        confirmations: 1,
        poll_interval_ms: 500,
        stale_after_secs: 10,
        initial_sync_secs: 60,
        state_file: Some(PathBuf::from("chain-state.json")),
    });
    c.insert("valid-chain".into(), chain.to_toml().into_bytes());
    let mut both = chain.clone();
    both.registry = Some(PathBuf::from("registry.toml"));
    // Parses, but `validate` refuses a registry file beside a chain.
    c.insert("bad-chain-and-registry".into(), both.to_toml().into_bytes());

    c.insert(
        "bad-unknown-key".into(),
        b"listen = \"127.0.0.1:1\"\ndata_dir = \"d\"\nlisten_typo = 1\n".to_vec(),
    );
    // Parses, but `validate` refuses it.
    c.insert(
        "bad-public-admin".into(),
        b"listen = \"127.0.0.1:1\"\ndata_dir = \"d\"\nadmin = \"0.0.0.0:9120\"\nmax_batch = 0\n"
            .to_vec(),
    );
    c.insert(
        "bad-negative-quota".into(),
        b"listen = \"127.0.0.1:1\"\ndata_dir = \"d\"\nmax_messages_per_account = -1\n".to_vec(),
    );
    c.insert(
        "bad-listen-not-an-address".into(),
        b"listen = \"localhost\"\ndata_dir = \"d\"\n".to_vec(),
    );
    c
}

/// A profile of [`PROFILE_SEED`] with `records` (sent ones and received
/// ones, one of them shown) and one rejected envelope; its history database.
fn history_database(records: usize) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let profile_dir = dir.path().join("profile");
    let mut profile =
        Profile::create(&profile_dir, profile_identity(), None).expect("create a profile");
    assert_eq!(profile.identity().seed().as_bytes(), &PROFILE_SEED);
    let peer = identity(2).account_id().to_string();
    let mut received = Vec::new();
    for i in 0..records {
        let hash = MessageHash::new([u8::try_from(i).expect("few records"); 32]);
        let record = HistoryRecord {
            message_id: hex::encode(hash.as_bytes()),
            direction: if i % 2 == 0 {
                Direction::In
            } else {
                Direction::Out
            },
            peer: peer.clone(),
            text: format!("message {i}"),
            sent_at_ms: T0 + i as u64,
            version: 1,
            timer: None,
            expires_at_ms: None,
        };
        if i % 2 == 0 {
            received.push((hash, record));
        } else {
            profile.record_sent(&hash, &record).expect("record sent");
        }
    }
    profile
        .record_incoming(
            &NodeKey::new([0x77; 32]),
            0,
            12,
            &received,
            &[MessageHash::new([0xfe; 32])],
        )
        .expect("record incoming");
    if records > 0 {
        // The client's saved state, as `Client::connect` writes it.
        let guards = GuardState {
            guards: vec![
                GuardRecord {
                    id: node_id(40),
                    failures: 0,
                },
                GuardRecord {
                    id: node_id(41),
                    failures: 3,
                },
            ],
        };
        let registry = Registry::genesis(
            "devnet",
            (0..4)
                .map(|i| NodeEntry {
                    id: node_id(40 + i),
                    addr: addr(41000 + u16::from(i)),
                })
                .collect(),
        );
        let seeds: Vec<u8> = [40, 41]
            .iter()
            .flat_map(|&i| node_id(i).0.to_bytes())
            .collect();
        for (key, value) in PROFILE_STATE_KEYS.iter().zip([
            guards.to_bytes(),
            registry.to_toml().into_bytes(),
            seeds,
        ]) {
            profile.save_state(key, &value).expect("save state");
        }
    }
    if let Some((_, first)) = received.first() {
        profile
            .mark_shown(std::slice::from_ref(&first.message_id))
            .expect("mark shown");
    }
    drop(profile);
    std::fs::read(profile_dir.join("history.sqlite")).expect("read history.sqlite")
}

fn profile_files() -> Corpus {
    let record = HistoryRecord {
        message_id: hex::encode([0x4a; 32]),
        direction: Direction::Out,
        peer: identity(2).account_id().to_string(),
        text: "see you at 8".into(),
        sent_at_ms: T0,
        version: 1,
        timer: None,
        expires_at_ms: None,
    };
    let mut c = Corpus::new();
    c.insert(
        "valid-sealed-record".into(),
        profile_history_record_blob(&record, &[5; 24]),
    );
    c.insert(
        "valid-record-json".into(),
        serde_json::to_vec(&record).expect("encode a record"),
    );
    c.insert("mask-zero".into(), vec![0; 48]);
    c.insert(
        "valid-guard-state".into(),
        GuardState {
            guards: vec![GuardRecord {
                id: node_id(40),
                failures: 255,
            }],
        }
        .to_bytes(),
    );
    c.insert(
        "bad-record-json-direction".into(),
        br#"{"message_id":"00","direction":"sideways","peer":"p","text":"t","sent_at_ms":1}"#
            .to_vec(),
    );
    let full = history_database(4);
    let small = small_pages(&full);
    let empty = small_pages(&history_database(0));
    c.insert("valid-history-empty-512b-pages.sqlite".into(), empty);
    // The schema version is the header's user_version, bytes 60..64.
    let mut future = small.clone();
    future[60..64].copy_from_slice(&1000u32.to_be_bytes());
    c.insert("bad-history-version-1000.sqlite".into(), future);
    c.insert(
        "bad-history-first-page-only.sqlite".into(),
        full[..4096.min(full.len())].to_vec(),
    );
    c.insert("valid-history-4-records.sqlite".into(), full);
    c.insert("valid-history-4-records-512b-pages.sqlite".into(), small);
    c
}

/// The same database with 512-byte pages (the default is 4096): a valid
/// history the client opens as well, eight times smaller, so the fuzzer's
/// mutations land on records and schema rather than on empty page space.
fn small_pages(db: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("history.sqlite");
    std::fs::write(&path, db).expect("write a database copy");
    let conn = rusqlite::Connection::open(&path).expect("open the copy");
    conn.pragma_update(None, "journal_mode", "DELETE")
        .expect("leave WAL mode");
    conn.pragma_update(None, "page_size", 512)
        .expect("set the page size");
    conn.execute_batch("VACUUM").expect("vacuum");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("back to WAL mode");
    drop(conn);
    std::fs::read(&path).expect("read the copy")
}

/// Onion packets as a relay gets them (ephemeral key ‖ layer), for the
/// reference relay `ONION_NODE_SEEDS[0]`, and masks over the reference packet.
fn onion_layers() -> Corpus {
    use nightjar_crypto::onion;
    let mut c = Corpus::new();
    let reference = nightjar_fuzzing::onion_reference_packet();
    c.insert("valid-reference-2-hops".into(), reference.clone());
    let relay = identity_of(nightjar_fuzzing::ONION_NODE_SEEDS[0]);
    let dest = identity_of(nightjar_fuzzing::ONION_NODE_SEEDS[1]);
    let packet = |hops: &[(PublicKey, u32)], frame: &[u8], first: u8| {
        let ephemerals: Vec<[u8; 32]> = (0..hops.len())
            .map(|i| [first.wrapping_add(i as u8); 32])
            .collect();
        let (p, _) = onion::build_with_ephemerals(hops, frame, &ephemerals).expect("build");
        let mut bytes = p.ephemeral_key.to_vec();
        bytes.extend_from_slice(&p.layer);
        bytes
    };
    let info = nightjar_wire::Request::Info.to_frame();
    c.insert(
        "valid-deliver-info".into(),
        packet(&[(relay.public_key(), 0)], &info, 40),
    );
    c.insert(
        "valid-4-hops-4096-bucket".into(),
        packet(
            &[
                (relay.public_key(), 9_000),
                (dest.public_key(), 8_000),
                (identity(23).public_key(), 7_000),
                (identity(24).public_key(), 0),
            ],
            &vec![0x42; 2_000],
            50,
        ),
    );
    let mut truncated = reference.clone();
    truncated.truncate(reference.len() - 1);
    c.insert("bad-truncated".into(), truncated);
    c.insert("bad-key-only".into(), reference[..32].to_vec());
    c.insert("mask-zero".into(), vec![0; 64]);
    let mut one_bit = vec![0; 120];
    one_bit[100] = 0x80;
    c.insert("mask-one-bit-in-layer".into(), one_bit);
    let mut key_bit = vec![0; 8];
    key_bit[3] = 0x01;
    c.insert("mask-one-bit-in-key".into(), key_bit);
    c
}

fn identity_of(seed: [u8; 32]) -> Identity {
    Identity::from_seed(Seed::from_bytes(seed))
}

/// Registry events of anvil's chain and the vectors' registry: a valid
/// registration of identity 60 by operator 0x11…, a junk one of identity
/// 61, a contact change, an exit, a withdrawal and a slash.
fn chain_events() -> Vec<ContractEvent> {
    let contract = nightjar_fuzzing::CHAIN_LOG_CONTRACT;
    let operator = Address::repeat_byte(0x11);
    let node = identity(60);
    let claim = RegistrationClaim::new(
        nightjar_fuzzing::CHAIN_LOG_CHAIN_ID,
        contract,
        operator.into_array(),
        &node.public_key(),
        0,
    );
    let key = B256::from(node.public_key().to_bytes());
    let junk_key = B256::from(identity(61).public_key().to_bytes());
    let stake = U256::from(25_000u64) * U256::from(10u64).pow(U256::from(18u64));
    vec![
        ContractEvent::Registered {
            key,
            operator,
            contact: encode_contact(&addr(40001)),
            signature: claim.sign(&node).expect("sign").to_vec(),
            nonce: U256::ZERO,
            stake,
        },
        ContractEvent::Registered {
            key: junk_key,
            operator,
            contact: encode_contact(&"[2001:db8::1]:443".parse().expect("an address")),
            signature: vec![0x5a; 64],
            nonce: U256::from(1),
            stake,
        },
        ContractEvent::ContactUpdated {
            key,
            operator,
            contact: encode_contact(&addr(40002)),
        },
        ContractEvent::ExitRequested {
            key,
            operator,
            withdrawable_at: U256::from(1_800_000_000u64),
        },
        ContractEvent::Withdrawn {
            key,
            operator,
            stake,
        },
        ContractEvent::Slashed {
            key: junk_key,
            operator,
            stake,
            treasury: Address::repeat_byte(0xde),
            reason: B256::repeat_byte(1),
        },
    ]
}

fn chain_logs() -> Corpus {
    use nightjar_fuzzing::chain_log_input;
    let mut c = Corpus::new();
    let names = [
        "registered",
        "registered-junk-proof",
        "contact-updated",
        "exit-requested",
        "withdrawn",
        "slashed",
    ];
    for (name, event) in names.iter().zip(chain_events()) {
        let (topics, data) = event.encode();
        c.insert(format!("valid-{name}"), chain_log_input(&topics, &data));
    }
    let (topics, data) = chain_events()[0].encode();
    c.insert(
        "bad-registered-truncated".into(),
        chain_log_input(&topics, &data[..data.len() - 1]),
    );
    let mut padded = data.clone();
    padded[5 * 32 + 31] = 1; // the contact's padding
    c.insert(
        "bad-registered-dirty-padding".into(),
        chain_log_input(&topics, &padded),
    );
    let mut operator = topics.clone();
    operator[2].0[0] = 1;
    c.insert(
        "bad-registered-dirty-address-topic".into(),
        chain_log_input(&operator, &data),
    );
    c.insert(
        "bad-registered-four-topics".into(),
        chain_log_input(&[&topics[..], &[B256::ZERO]].concat(), &data),
    );
    // Another event of the contract: not a registry event (neither valid nor bad).
    c.insert(
        "other-role-granted".into(),
        chain_log_input(&[B256::repeat_byte(0x2f), B256::ZERO, B256::ZERO], &[]),
    );
    c
}

fn chain_states() -> Corpus {
    let block = |n: u64| B256::repeat_byte(u8::try_from(n).unwrap_or(0xff));
    let logs: Vec<ChainLog> = chain_events()
        .into_iter()
        .enumerate()
        .map(|(i, event)| {
            let (topics, data) = event.encode();
            let number = 10 + 2 * i as u64;
            ChainLog {
                position: LogPosition {
                    block: number,
                    index: 0,
                },
                block_hash: block(number),
                topics,
                data,
                event,
            }
        })
        .collect();
    let state = SavedState {
        chain_id: nightjar_fuzzing::CHAIN_LOG_CHAIN_ID,
        contract: Address::from(nightjar_fuzzing::CHAIN_LOG_CONTRACT),
        start_block: 5,
        processed: Some(BlockRef {
            number: 30,
            hash: block(30),
        }),
        checkpoints: vec![
            BlockRef {
                number: 20,
                hash: block(20),
            },
            BlockRef {
                number: 30,
                hash: block(30),
            },
        ],
        logs,
    };
    let empty = SavedState {
        processed: None,
        checkpoints: Vec::new(),
        logs: Vec::new(),
        ..state.clone()
    };
    let text = String::from_utf8(state.encode()).expect("JSON");
    let mut c = Corpus::new();
    c.insert("valid-state".into(), state.encode());
    c.insert("valid-state-empty".into(), empty.encode());
    c.insert(
        "bad-state-version-2".into(),
        text.replacen("\"version\":1", "\"version\":2", 1)
            .into_bytes(),
    );
    c.insert(
        "bad-state-truncated".into(),
        text.as_bytes()[..text.len() / 2].to_vec(),
    );
    let mut unsorted = state.clone();
    unsorted.logs.swap(0, 1);
    c.insert("bad-state-logs-out-of-order".into(), unsorted.encode());
    let mut past = state;
    past.processed = Some(BlockRef {
        number: 19,
        hash: block(19),
    });
    c.insert("bad-state-logs-past-processed".into(), past.encode());
    c
}

/// Seeds of `device_records`: the first byte picks the decoder.
fn device_records() -> Corpus {
    use nightjar_crypto::SeededRandom;
    use nightjar_crypto::dh::DhSecret;
    use nightjar_crypto::kem::MlKemKeyPair;
    let rng = &mut SeededRandom::from_seed([0x44; 32]);
    let mut dh = || DhSecret::generate_with(rng).expect("seeded").public();
    let (a, b) = (DeviceId::new([1; 16]), DeviceId::new([2; 16]));
    let v1 = DeviceList::first(a, dh(), "phone", 1_700_000_000_000).expect("list");
    let v2 = v1
        .with_device(b, dh(), "laptop", 1_700_000_001_000)
        .expect("list");
    let v3 = v2.without_device(&a, 1_700_000_002_000).expect("list");
    let kem = MlKemKeyPair::from_seed(&[0x45; 64]).public_key().clone();
    let bundle = PrekeyBundle {
        device_id: b,
        signed_prekey_id: 1,
        signed_prekey: dh(),
        kem_prekey_id: 2,
        kem_prekey: kem.clone(),
        created_at_ms: 1_700_000_000_000,
    };
    let otk = OneTimePrekey {
        device_id: b,
        prekey_id: 3,
        x25519: dh(),
        kem,
    };
    let tagged = |tag: u8, body: Vec<u8>| [vec![tag], body].concat();
    let mut c = Corpus::new();
    c.insert("valid-list-one-device".into(), tagged(0, v1.encode()));
    c.insert("valid-list-with-tombstone".into(), tagged(0, v3.encode()));
    c.insert("valid-prekey-bundle".into(), tagged(1, bundle.encode()));
    c.insert("valid-one-time-prekey".into(), tagged(2, otk.encode()));
    let mut dup = v2.encode();
    dup.extend_from_slice(&[0x10, 0x07]);
    c.insert("bad-list-not-canonical".into(), tagged(0, dup));
    let mut bad_kem = bundle.encode();
    if let Some(at) = bad_kem.len().checked_sub(1_000) {
        bad_kem[at] = 0xFF;
        bad_kem[at + 1] = 0xFF;
    }
    c.insert("bad-bundle-kem-key".into(), tagged(1, bad_kem));
    c.insert("any-decoder-otk".into(), tagged(9, otk.encode()));
    let mut own = nightjar_devices::OwnDevice::generate_with(rng, "phone", 1_700_000_000_000)
        .expect("device");
    own.replenish_with(rng).expect("one-time prekeys");
    let state = own.encode().to_vec();
    c.insert("valid-own-device-state".into(), tagged(3, state.clone()));
    let mut cut = state;
    cut.truncate(cut.len() - 40);
    c.insert("bad-own-device-state-cut".into(), tagged(3, cut));
    c
}

/// Initial messages of messages v2: the fixture's two (one-time and
/// last-resort prekeys), and refusals.
fn ratchet_initials() -> Corpus {
    let f = nightjar_fuzzing::ratchet_fixture();
    let mut c = Corpus::new();
    c.insert("valid-one-time-prekeys".into(), f.initial_one_time.clone());
    c.insert(
        "valid-last-resort-prekeys".into(),
        f.initial_last_resort.clone(),
    );
    let cut = f.initial_one_time.len() - 1;
    c.insert("bad-truncated".into(), f.initial_one_time[..cut].to_vec());
    let mut flags = f.initial_one_time.clone();
    flags[1 + 32 + 32 + 4] |= 0x80;
    c.insert("bad-unknown-flag".into(), flags);
    let mut ratchet_kind = f.initial_one_time.clone();
    ratchet_kind[0] = 0x02;
    c.insert("bad-kind-ratchet".into(), ratchet_kind);
    c.insert("mask-zero".into(), vec![0; 64]);
    let mut one_bit = vec![0u8; 1200];
    one_bit[1190] = 1;
    c.insert("mask-one-bit-in-ciphertext".into(), one_bit);
    c
}

/// Ratchet messages: the fixture's three to the initiator, and refusals.
fn ratchet_messages() -> Corpus {
    let f = nightjar_fuzzing::ratchet_fixture();
    let mut c = Corpus::new();
    for (name, m) in ["valid-new-chain", "valid-same-chain", "valid-empty-text"]
        .iter()
        .zip(&f.to_initiator)
    {
        c.insert((*name).into(), m.clone());
    }
    let m = &f.to_initiator[0];
    c.insert("bad-truncated".into(), m[..m.len() - 1].to_vec());
    let mut header = m.clone();
    header[30] ^= 1;
    c.insert("bad-altered-header".into(), header);
    c.insert(
        "bad-initial-at-initiator".into(),
        f.initial_one_time.clone(),
    );
    c.insert("mask-zero".into(), vec![0; 32]);
    let mut one_bit = vec![0u8; 2400];
    one_bit[2390] = 0x10;
    c.insert("mask-one-bit-in-body".into(), one_bit);
    c
}

/// Saved sessions: both ends of the fixture, and refusals.
fn ratchet_states() -> Corpus {
    let f = nightjar_fuzzing::ratchet_fixture();
    let mut c = Corpus::new();
    let initiator = f.initiator.to_bytes().to_vec();
    c.insert("valid-initiator".into(), initiator.clone());
    c.insert("valid-responder".into(), f.responder.to_bytes().to_vec());
    c.insert(
        "bad-truncated".into(),
        initiator[..initiator.len() - 1].to_vec(),
    );
    let mut version = initiator.clone();
    version[0] = 9;
    c.insert("bad-version-9".into(), version);
    let mut role = initiator.clone();
    role[1] = 7;
    c.insert("bad-unknown-role".into(), role);
    let mut longer = initiator;
    longer.push(0);
    c.insert("bad-trailing-byte".into(), longer);
    c
}

/// Device links: the reference code's text (both cases), request, hello
/// and answers, and refusals.
fn link_codes_and_records() -> Corpus {
    let f = nightjar_fuzzing::link_fixture();
    let mut c = Corpus::new();
    let text = f.code.to_text();
    c.insert("valid-code-text".into(), text.as_bytes().to_vec());
    let upper = f.code.to_text_upper();
    c.insert(
        "valid-code-text-upper-wrapped".into(),
        format!("  {}\n{}\n", &upper[..60], &upper[60..]).into_bytes(),
    );
    c.insert("valid-request".into(), f.request.clone());
    c.insert("valid-hello".into(), f.hello.clone());
    c.insert("valid-answer-0".into(), f.answers[0].clone());
    c.insert("valid-answer-1-empty".into(), f.answers[1].clone());
    let mut checksum = text.as_bytes().to_vec();
    checksum[60] = if checksum[60] == b'q' { b'p' } else { b'q' };
    c.insert("bad-code-checksum".into(), checksum);
    let account_id = f.code.account.account_id().to_string();
    c.insert("bad-code-account-id".into(), account_id.into_bytes());
    c.insert(
        "bad-request-truncated".into(),
        f.request[..link::REQUEST_OVERHEAD - 1].to_vec(),
    );
    let mut other_code = nightjar_fuzzing::LINK_CODE_SECRET;
    other_code[0] ^= 1;
    let (_, other_request) = link::seal_request_with(
        &mut SeededRandom::from_seed([0x2c; 32]),
        &LinkSecret::from_bytes(other_code),
        b"fuzz: another code",
    )
    .expect("seal a request");
    c.insert("bad-request-other-code".into(), other_request);
    let mut tag = f.hello.clone();
    tag[48] ^= 0x01;
    c.insert("bad-hello-altered-tag".into(), tag);
    c.insert(
        "bad-answer-cut-to-a-hello".into(),
        f.answers[0][..link::HELLO_LEN].to_vec(),
    );
    let (other_linker, _, _) = link::answer_hello_with(
        &mut SeededRandom::from_seed([0x3c; 32]),
        &f.code.secret,
        f.joiner.public(),
    )
    .expect("answer the request again");
    c.insert(
        "bad-answer-other-session".into(),
        other_linker
            .seal_answer(0, b"fuzz: another session")
            .expect("seal an answer"),
    );
    let mut index = f.answers[0].clone();
    index[36] ^= 0x01;
    c.insert("bad-answer-moved-index".into(), index);
    c.insert("mask-zero".into(), vec![0; 64]);
    let mut one_bit = vec![0u8; 60];
    one_bit[50] = 0x04;
    c.insert("mask-one-bit-in-ciphertext".into(), one_bit);
    c
}

/// v2 envelopes to the fixture's recipient device: its two first messages,
/// and refusals at each step of reading one (the sealed layer, the
/// recipient check, the certificate, the ratchet message).
fn envelopes_v2() -> Corpus {
    use nightjar_crypto::dh::DhSecret;
    use nightjar_crypto::sealed_sender::{Sealed, seal_v2_with_ephemeral, sign_device_certificate};
    let f = nightjar_fuzzing::envelope_v2_fixture();
    let to_device = f.device.identity_public();
    let seal = |sealed: &Sealed| {
        seal_v2_with_ephemeral(&to_device, sealed, &DhSecret::from_bytes([0x75; 32]))
            .expect("seal a v2 envelope")
    };
    let reference = f.first_sealed.clone();
    let mut c = Corpus::new();
    c.insert(
        "valid-first-message-one-time-prekey".into(),
        f.first_one_time.clone(),
    );
    c.insert(
        "valid-first-message-last-resort".into(),
        f.first_last_resort.clone(),
    );
    let first = &f.first_one_time;
    c.insert("bad-truncated".into(), first[..first.len() - 1].to_vec());
    c.insert(
        "bad-other-recipient-key".into(),
        seal_v2_with_ephemeral(
            &DhSecret::from_bytes([0x76; 32]).public(),
            &reference,
            &DhSecret::from_bytes([0x75; 32]),
        )
        .expect("seal a v2 envelope"),
    );
    c.insert(
        "bad-empty-message".into(),
        seal(&Sealed {
            message: Vec::new(),
            ..reference.clone()
        }),
    );
    c.insert(
        "bad-other-device".into(),
        seal(&Sealed {
            recipient_device: [0x77; 16],
            ..reference.clone()
        }),
    );
    c.insert(
        "bad-from-this-device".into(),
        seal(&Sealed {
            sender_account: f.recipient.public_key(),
            sender_device: *f.device.id().as_bytes(),
            ..reference.clone()
        }),
    );
    c.insert(
        "bad-no-certificate".into(),
        seal(&Sealed {
            device_certificate: None,
            ..reference.clone()
        }),
    );
    c.insert(
        "bad-certificate-of-another-device".into(),
        seal(&Sealed {
            device_certificate: Some(sign_device_certificate(
                &f.sender,
                &[0x78; 16],
                &f.sender_device.identity_public(),
            )),
            ..reference.clone()
        }),
    );
    c.insert(
        "bad-certificate-of-another-account".into(),
        seal(&Sealed {
            device_certificate: Some(sign_device_certificate(
                &identity(0x79),
                f.sender_device.id().as_bytes(),
                &f.sender_device.identity_public(),
            )),
            ..reference.clone()
        }),
    );
    c.insert(
        "bad-not-a-ratchet-message".into(),
        seal(&Sealed {
            message: b"fuzz: not a ratchet message".to_vec(),
            ..reference.clone()
        }),
    );
    let mut cut = reference.message.clone();
    cut.truncate(cut.len() - 1);
    c.insert(
        "bad-ratchet-message-cut".into(),
        seal(&Sealed {
            message: cut,
            ..reference
        }),
    );
    // As a mask over the reference first message.
    c.insert("mask-zero".into(), vec![0; 64]);
    let mut one_bit = vec![0u8; 3000];
    one_bit[2990] = 0x02;
    c.insert("mask-one-bit-in-ciphertext".into(), one_bit);
    c
}

/// Seeds of `client_v2_records`: the first byte picks the decoder.
fn client_v2_records() -> Corpus {
    use nightjar_client::device_state::encode_known_devices;
    use nightjar_client::messaging::content::MAX_TIMER_MS;
    use nightjar_client::messaging::link::{
        JoinInfo, MAX_HISTORY_CHUNKS, encode_first_answer, history_chunks,
    };
    use nightjar_client::messaging::{ContentV2, SessionSet, Timer, TimerMode};
    use nightjar_crypto::dh::DhSecret;
    use nightjar_devices::KnownDevices;
    let tagged = |tag: u8, body: &[u8]| [&[tag][..], body].concat();
    let mut c = Corpus::new();

    // 0: contents.
    let plain = ContentV2 {
        message_id: [0x31; 32],
        text: "see you at 8".into(),
        sent_at_ms: T0,
        timer: None,
        sent_to: None,
    };
    let synced = ContentV2 {
        text: "disappearing, as sent from another device".into(),
        timer: Some(Timer {
            after_ms: MAX_TIMER_MS,
            mode: TimerMode::Send,
        }),
        sent_to: Some(identity(2).public_key().to_bytes()),
        ..plain.clone()
    };
    let encoded = |content: &ContentV2| content.encode().expect("encode a content").to_vec();
    c.insert("valid-content".into(), tagged(0, &encoded(&plain)));
    c.insert(
        "valid-content-timer-and-sync".into(),
        tagged(0, &encoded(&synced)),
    );
    // message_id only: every other field at its default.
    let mut id_only = vec![0x0a, 0x20];
    id_only.extend_from_slice(&[0x31; 32]);
    c.insert("valid-content-id-only".into(), tagged(0, &id_only));
    c.insert("bad-content-empty".into(), tagged(0, &[]));
    let mut short_id = vec![0x0a, 0x1f];
    short_id.extend_from_slice(&[0x31; 31]);
    c.insert("bad-content-id-31-bytes".into(), tagged(0, &short_id));
    // Field 4, the timer: after_ms (field 1) 5 ms, under the 10 s minimum.
    let mut short_timer = id_only.clone();
    short_timer.extend_from_slice(&[0x22, 0x02, 0x08, 0x05]);
    c.insert("bad-content-timer-5-ms".into(), tagged(0, &short_timer));
    // The timer's mode (field 2) 2: neither send nor read.
    let mut mode = id_only.clone();
    mode.extend_from_slice(&[0x22, 0x06, 0x08, 0xe0, 0xd4, 0x03, 0x10, 0x02]);
    c.insert("bad-content-timer-mode-2".into(), tagged(0, &mode));
    let mut not_utf8 = id_only.clone();
    not_utf8.extend_from_slice(&[0x12, 0x02, 0xc3, 0x28]);
    c.insert("bad-content-text-not-utf8".into(), tagged(0, &not_utf8));
    let mut sent_to = id_only;
    sent_to.extend_from_slice(&[0x2a, 0x01, 0x00]);
    c.insert("bad-content-sent-to-1-byte".into(), tagged(0, &sent_to));

    // 1: stored sessions.
    let f = nightjar_fuzzing::ratchet_fixture();
    let mut one = SessionSet::new();
    one.push_active(f.initiator.clone());
    c.insert("valid-sessions-one".into(), tagged(1, &one.encode()));
    c.insert(
        "valid-sessions-none".into(),
        tagged(1, &SessionSet::new().encode()),
    );
    let mut two = SessionSet::new();
    two.push_active(f.responder.clone());
    two.push_active(f.initiator.clone());
    let two = two.encode().to_vec();
    c.insert("valid-sessions-two".into(), tagged(1, &two));
    c.insert("bad-sessions-six".into(), tagged(1, &[1, 6]));
    c.insert("bad-sessions-format-2".into(), tagged(1, &[2, 0]));
    c.insert("bad-sessions-count-past-end".into(), tagged(1, &[1, 1]));
    let one = one.encode().to_vec();
    c.insert("bad-sessions-cut".into(), tagged(1, &one[..one.len() - 1]));
    let mut trailing = one;
    trailing.push(0);
    c.insert("bad-sessions-trailing-byte".into(), tagged(1, &trailing));

    // 2: a joining device's description.
    let key = DhSecret::from_bytes([0x32; 32]).public();
    let info = JoinInfo {
        device_id: DeviceId::new([0x33; 16]),
        identity_key: key,
        name: "new laptop".into(),
    };
    c.insert("valid-join-info".into(), tagged(2, &info.encode()));
    let unnamed = JoinInfo {
        name: String::new(),
        ..info.clone()
    };
    c.insert(
        "valid-join-info-no-name".into(),
        tagged(2, &unnamed.encode()),
    );
    let longest = JoinInfo {
        name: "é".repeat(32),
        ..info.clone()
    };
    c.insert(
        "valid-join-info-64-byte-name".into(),
        tagged(2, &longest.encode()),
    );
    let long = JoinInfo {
        name: "x".repeat(65),
        ..info.clone()
    };
    c.insert(
        "bad-join-info-65-byte-name".into(),
        tagged(2, &long.encode()),
    );
    let control = JoinInfo {
        name: "new\nlaptop".into(),
        ..info.clone()
    };
    c.insert(
        "bad-join-info-control-character".into(),
        tagged(2, &control.encode()),
    );
    let mut not_utf8 = unnamed.encode();
    not_utf8.push(0xff);
    c.insert("bad-join-info-name-not-utf8".into(), tagged(2, &not_utf8));
    c.insert(
        "bad-join-info-short".into(),
        tagged(2, &unnamed.encode()[..47]),
    );

    // 3: the first answer (the seed and how many history records follow).
    let seed = Seed::from_bytes([0x34; 32]);
    c.insert(
        "valid-first-answer".into(),
        tagged(3, &encode_first_answer(&seed, 3)),
    );
    c.insert(
        "valid-first-answer-most-history".into(),
        tagged(3, &encode_first_answer(&seed, MAX_HISTORY_CHUNKS)),
    );
    c.insert(
        "bad-first-answer-too-much-history".into(),
        tagged(3, &encode_first_answer(&seed, MAX_HISTORY_CHUNKS + 1)),
    );
    let mut longer = encode_first_answer(&seed, 0).to_vec();
    longer.push(0);
    c.insert("bad-first-answer-trailing-byte".into(), tagged(3, &longer));
    c.insert(
        "bad-first-answer-seed-only".into(),
        tagged(3, seed.as_bytes()),
    );

    // 4: history answers.
    let peer = identity(2).account_id().to_string();
    let records: Vec<HistoryRecord> = (0u8..3)
        .map(|i| HistoryRecord {
            message_id: hex::encode([0x40 + i; 32]),
            direction: if i == 1 {
                Direction::Out
            } else {
                Direction::In
            },
            peer: peer.clone(),
            text: format!("history {i}: \"quoted\", tab\t, ünïcödé"),
            sent_at_ms: T0 + u64::from(i),
            version: 1 + i % 2,
            timer: (i == 2).then_some(Timer {
                after_ms: 60_000,
                mode: TimerMode::Read,
            }),
            expires_at_ms: (i == 2).then_some(T0 + 60_002),
        })
        .collect();
    let chunks = history_chunks(&records).expect("chunk the history");
    assert_eq!(chunks.len(), 1, "three short records are one chunk");
    c.insert("valid-history".into(), tagged(4, &chunks[0]));
    c.insert("valid-history-empty".into(), tagged(4, b"[]"));
    c.insert(
        "bad-history-not-an-array".into(),
        tagged(4, &serde_json::to_vec(&records[0]).expect("JSON")),
    );
    let text = String::from_utf8(chunks[0].to_vec()).expect("JSON is UTF-8");
    c.insert(
        "bad-history-no-direction".into(),
        tagged(4, text.replacen("\"direction\":\"in\",", "", 1).as_bytes()),
    );
    c.insert(
        "bad-history-cut".into(),
        tagged(4, &chunks[0][..chunks[0].len() - 1]),
    );

    // 5: the stored device-list cache.
    let rng = &mut SeededRandom::from_seed([0x35; 32]);
    let mut dh = || DhSecret::generate_with(rng).expect("seeded").public();
    let (a, b) = (DeviceId::new([1; 16]), DeviceId::new([2; 16]));
    let v1 = DeviceList::first(a, dh(), "phone", T0).expect("list");
    let v2 = v1.with_device(b, dh(), "laptop", T0 + 1).expect("list");
    let v3 = v2.without_device(&a, T0 + 2).expect("list");
    let known = KnownDevices::from_parts(
        Some(v3),
        std::collections::BTreeSet::from([DeviceId::new([9; 16])]),
    );
    let cache = encode_known_devices(&known).expect("encode");
    c.insert("valid-known-devices".into(), tagged(5, &cache));
    c.insert(
        "valid-known-devices-none".into(),
        tagged(
            5,
            &encode_known_devices(&KnownDevices::new()).expect("encode"),
        ),
    );
    let removed_only = KnownDevices::from_parts(None, std::collections::BTreeSet::from([a, b]));
    c.insert(
        "valid-known-devices-removed-only".into(),
        tagged(5, &encode_known_devices(&removed_only).expect("encode")),
    );
    c.insert(
        "bad-known-devices-id-cut".into(),
        tagged(5, &cache[..cache.len() - 1]),
    );
    let mut past_end = cache.clone();
    past_end[..4].copy_from_slice(&u32::MAX.to_be_bytes());
    c.insert("bad-known-devices-length-4gib".into(), tagged(5, &past_end));
    let mut damaged = cache;
    damaged[4] ^= 0xff;
    c.insert("bad-known-devices-list-damaged".into(), tagged(5, &damaged));

    // 6: the stored contact book.
    let id = |seed: u8| {
        nightjar_crypto::identity::Identity::from_seed(nightjar_crypto::identity::Seed::from_bytes(
            [seed; 32],
        ))
        .account_id()
    };
    let mut book = nightjar_client::contacts::ContactBook::default();
    book.add("Bob", &id(1)).expect("add");
    book.add("Ève à Paris", &id(2)).expect("add");
    c.insert("valid-contact-book".into(), tagged(6, &book.encode()));
    c.insert("valid-contact-book-empty".into(), tagged(6, b"[]"));
    let twice = format!(
        r#"[{{"name":"a","account_id":"{0}"}},{{"name":"b","account_id":"{0}"}}]"#,
        id(1)
    );
    c.insert(
        "bad-contact-book-account-twice".into(),
        tagged(6, twice.as_bytes()),
    );
    let prefixed = format!(r#"[{{"name":"nj1x","account_id":"{}"}}]"#, id(1));
    c.insert(
        "bad-contact-book-name-nj1".into(),
        tagged(6, prefixed.as_bytes()),
    );

    // Any other first byte: every decoder.
    c.insert("any-decoder-join-info".into(), tagged(9, &info.encode()));
    c
}

/// The daemon's JSON-RPC request lines (the seeds first written by hand with
/// the `rpc_request` target; kept byte for byte here so regenerating every
/// corpus reproduces them).
fn circuit_cells() -> Corpus {
    use nightjar_crypto::circuit::{CircuitId, DestroyReason, destroy_cell};
    let mut c = Corpus::new();
    c.insert(
        "valid-create-2-hops".into(),
        nightjar_fuzzing::circuit_reference_create(),
    );
    c.insert(
        "valid-destroy".into(),
        destroy_cell(CircuitId(7), DestroyReason::Unknown).to_vec(),
    );
    let mut forward = vec![0x02];
    forward.extend_from_slice(&7u64.to_be_bytes());
    forward.extend_from_slice(&0u64.to_be_bytes());
    forward.extend_from_slice(&[0x5a; 1215]);
    c.insert("valid-forward-garbage-layer".into(), forward.clone());
    let mut backward = forward.clone();
    backward[0] = 0x03;
    c.insert("valid-backward-garbage-layer".into(), backward);
    c.insert("bad-empty".into(), Vec::new());
    c.insert("bad-quic-long-header".into(), vec![0xc0; 1200]);
    c.insert("bad-too-long".into(), vec![0x02; 1233]);
    c.insert("bad-short-destroy".into(), vec![0x04; 9]);
    c
}

/// Received batches for `cell_demux`: a flag byte, then entries of a
/// 5-byte header (length, stride, flags) and their bytes.
fn demux_batches() -> Corpus {
    fn entry(len: u16, stride: u16, flags: u8, bytes: &[u8]) -> Vec<u8> {
        let mut e = len.to_be_bytes().to_vec();
        e.extend_from_slice(&stride.to_be_bytes());
        e.push(flags);
        e.extend_from_slice(bytes);
        e
    }
    let mut cell = vec![0x02u8];
    cell.extend_from_slice(&[0x5a; 63]);
    let mut quic = vec![0x41u8];
    quic.extend_from_slice(&[0x57; 63]);
    let gro: Vec<u8> = [&cell[..], &quic, &cell, &quic[..20]].concat();
    let mut c = Corpus::new();
    c.insert(
        "valid-one-cell".into(),
        [&[0u8][..], &entry(64, 0, 0, &cell)].concat(),
    );
    c.insert(
        "valid-gro-mixed-mapped-sender".into(),
        [&[0u8][..], &entry(gro.len() as u16, 64, 1, &gro)].concat(),
    );
    c.insert(
        "valid-three-entries-claiming-four".into(),
        [
            &[1u8][..],
            &entry(64, 0, 0, &quic),
            &entry(64, 0, 0b100, &cell),
            &entry(40, 0, 1, &quic[..40]),
        ]
        .concat(),
    );
    c.insert(
        "valid-length-beyond-the-buffer".into(),
        [&[0u8][..], &entry(300, 32, 0, &cell)].concat(),
    );
    c.insert(
        "bad-quic-only".into(),
        [
            &[0u8][..],
            &entry(64, 0, 0, &quic),
            &entry(64, 16, 1, &quic),
        ]
        .concat(),
    );
    c.insert("bad-empty".into(), Vec::new());
    c
}

fn rpc_requests() -> Corpus {
    let seeds: [(&str, &[u8]); 10] = [
        ("bad-batch", br#"[{"jsonrpc":"2.0","id":1,"method":"status"}]"#),
        ("bad-fractional-id", br#"{"jsonrpc":"2.0","id":1.5,"method":"status"}"#),
        ("bad-garbage", b"garbage"),
        (
            "bad-params-string",
            br#"{"jsonrpc":"2.0","id":3,"method":"send","params":"text"}"#,
        ),
        ("bad-version", br#"{"jsonrpc":"1.0","id":3,"method":"status"}"#),
        (
            "valid-account-string-id",
            br#"{"jsonrpc":"2.0","id":"a","method":"account"}"#,
        ),
        (
            "valid-history",
            br#"{"jsonrpc":"2.0","id":2,"method":"history","params":{"peer":"nj1x","limit":5}}"#,
        ),
        (
            "valid-notification-no-id",
            b"{\"jsonrpc\":\"2.0\",\"method\":\"subscribe\",\"params\":{}}\n",
        ),
        (
            "valid-send",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"send\",\"params\":{\"to\":\"bob\",\"text\":\"hi\",\"ttl\":60}}\n",
        ),
        (
            "valid-send-escapes-crlf",
            b"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"send\",\"params\":{\"to\":\"b\",\"text\":\"\\u00e9\\n\\ud83d\\ude00\"}}\r\n",
        ),
    ];
    seeds
        .iter()
        .map(|(name, bytes)| ((*name).to_owned(), bytes.to_vec()))
        .collect()
}

fn main() {
    // With target names as arguments, only those corpora are rewritten.
    let only: Vec<String> = std::env::args().skip(1).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut corpora: BTreeMap<&str, Corpus> = BTreeMap::new();
    corpora.insert("request_frame", request_frames());
    corpora.insert("response_frame", response_frames());
    corpora.insert("envelope_open", envelopes());
    corpora.insert("registry_files", registry_files());
    corpora.insert("keyfile", keyfiles());
    corpora.insert("account_text", account_texts());
    corpora.insert("node_config", node_configs(&root));
    corpora.insert("profile_files", profile_files());
    corpora.insert("onion_layer", onion_layers());
    corpora.insert("chain_log", chain_logs());
    corpora.insert("chain_state", chain_states());
    corpora.insert("device_records", device_records());
    corpora.insert("ratchet_initial", ratchet_initials());
    corpora.insert("ratchet_message", ratchet_messages());
    corpora.insert("ratchet_state", ratchet_states());
    corpora.insert("link_records", link_codes_and_records());
    corpora.insert("envelope_v2_open", envelopes_v2());
    corpora.insert("client_v2_records", client_v2_records());
    corpora.insert("store_receipt", store_receipts());
    corpora.insert("cell_demux", demux_batches());
    corpora.insert("rpc_request", rpc_requests());
    corpora.insert("circuit_cell", circuit_cells());

    let mut total = 0;
    for (target, function) in TARGETS {
        let corpus = corpora
            .remove(target)
            .unwrap_or_else(|| panic!("no seeds for target {target}"));
        if !only.is_empty() && !only.iter().any(|t| t == target) {
            continue;
        }
        let dir = root.join("fuzz/corpus").join(target);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).expect("clear the old seed corpus");
        }
        std::fs::create_dir_all(&dir).expect("create the corpus directory");
        for (name, bytes) in &corpus {
            function(bytes);
            std::fs::write(dir.join(name), bytes).expect("write a seed");
            total += bytes.len();
        }
        println!("{target}: {} seeds", corpus.len());
    }
    assert!(
        corpora.is_empty(),
        "seeds for unknown targets: {:?}",
        corpora.keys()
    );
    println!("{total} bytes in all");
}

//! `nightjar demo`: the whole story on a throwaway network.
//!
//! Starts a local chain (Foundry's anvil, installed by
//! `contrib/chain-tools.sh` on first use) with the staking contract, six real
//! nodes inside this process (QUIC on loopback, SQLite in a temporary
//! directory) that follow it, registers each node on it with its stake, then
//! creates Alice's and Bob's profiles, and exchanges
//! messages both ways. Every request travels through an onion path (guard →
//! relay → relay → swarm member). Bob and Alice each hold a waiting retrieve
//! open through their paths, so a message arrives as soon as it is stored (no
//! polling). Prints each step with its timing, then stops everything and
//! deletes the directory.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use nightjar_client::{Client, HistoryRecord, Profile};
use nightjar_crypto::identity::Identity;
use nightjar_node::NodeConfig;
use nightjar_registry::{NetworkFile, NodeEntry, NodeId};

use crate::devnet::chain::{self, DevnetChain};

/// Stops the demo's anvil when the demo ends, also on an error.
struct ChainGuard<'a> {
    dir: &'a std::path::Path,
    chain: DevnetChain,
}

impl Drop for ChainGuard<'_> {
    fn drop(&mut self) {
        self.chain.stop(self.dir);
    }
}

/// Enough for onion paths (three relays plus a destination) and one swarm.
const NODES: usize = 6;
const TTL: Duration = Duration::from_secs(3600);

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Send `text` from `from` to `to` while `to` waits for it; returns the
/// received record and the send→receive time.
async fn exchange(
    from: &mut Client,
    to: Client,
    text: &str,
) -> anyhow::Result<(Client, HistoryRecord, Duration, Duration)> {
    let to_id = to.profile().account_id();
    let mut to = to;
    let waiting = tokio::spawn(async move {
        let got = to.inbox(Some(Duration::from_secs(10))).await;
        (to, got, Instant::now())
    });
    // Give the waiting retrieve a head start so this shows push delivery
    // rather than a read of an already-stored message (either would work).
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    from.send(&to_id, text, TTL).await?;
    let acked = started.elapsed();
    let (mut to, got, arrived) = waiting.await.context("receiver task failed")?;
    let mut got = got?;
    let record = got.pop().context("the message did not arrive")?;
    to.profile_mut()
        .mark_shown(std::slice::from_ref(&record.message_id))?;
    Ok((to, record, acked, arrived.duration_since(started)))
}

/// Run the demo.
pub async fn run() -> anyhow::Result<()> {
    let total = Instant::now();
    let tmp = tempfile::Builder::new()
        .prefix("nightjar-demo-")
        .tempdir()?;
    println!(
        "Nightjar demo (everything runs on loopback in {})",
        tmp.path().display()
    );

    let started = Instant::now();
    let anvil = chain::find_or_install_anvil()?;
    let mut guard = ChainGuard {
        dir: tmp.path(),
        chain: chain::create(tmp.path(), &anvil).await?,
    };
    println!(
        "  started a local chain (anvil) and deployed the staking contract {} in {}",
        guard.chain.contract,
        ms(started.elapsed())
    );

    // The nodes bind port 0 (the OS picks free ports as they bind) and
    // follow the contract, which lists no node yet; then each is registered
    // with the port it bound, and every node is waited for until it serves
    // the registry with all of them.
    let started = Instant::now();
    let mut nodes = Vec::with_capacity(NODES);
    let mut entries = Vec::with_capacity(NODES);
    let mut pending = Vec::with_capacity(NODES);
    for i in 0..NODES {
        let mut config = NodeConfig::new(
            SocketAddr::new(nightjar_launch::LOOPBACK, 0),
            tmp.path().join(format!("node-{i}")),
        );
        config.chain = Some(chain::node_config(
            &guard.chain,
            crate::devnet::NETWORK_NAME,
        ));
        let identity = Identity::generate()?;
        let node = nightjar_node::start(config, identity.clone()).await?;
        entries.push(NodeEntry {
            id: NodeId(node.node_key),
            addr: node.listen,
        });
        pending.push((i, identity, node.listen));
        nodes.push(node);
    }
    println!(
        "  started {NODES} service nodes following the chain in {}",
        ms(started.elapsed())
    );
    let started = Instant::now();
    let last_block = guard
        .chain
        .register_all(pending)
        .await?
        .context("no registration landed")?;
    let targets: Vec<_> = entries.iter().map(|e| (e.addr, e.id.0)).collect();
    nightjar_launch::wait_for_registry(&targets, last_block, Duration::from_secs(30)).await?;
    println!(
        "  registered each node on chain with its stake ({} test tokens) and proof of key; \
         every node follows the contract and serves the same registry, in {}",
        nightjar_chain_tx::deploy::DEVNET_STAKE_TOKENS,
        ms(started.elapsed())
    );
    let network_path = tmp.path().join("network.toml");
    let network = NetworkFile {
        network: crate::devnet::NETWORK_NAME.to_string(),
        registry: None,
        seeds: entries,
    };
    std::fs::write(&network_path, network.to_toml(None))?;
    let network = NetworkFile::load(&network_path)?;

    let started = Instant::now();
    let alice_id = Identity::generate()?;
    let bob_id = Identity::generate()?;
    let alice = Profile::create(&tmp.path().join("alice"), alice_id, None)?;
    let bob = Profile::create(&tmp.path().join("bob"), bob_id, None)?;
    println!("  created two accounts in {}", ms(started.elapsed()));
    println!("    alice  {}", alice.account_id());
    println!("    bob    {}", bob.account_id());

    let bind = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut alice = Client::connect(alice, &network, bind).await?;
    let mut bob = Client::connect(bob, &network, bind).await?;
    let (_, members) = alice.swarm_for(&alice.profile().account_id())?;
    println!(
        "  a swarm of {} nodes holds alice's mailbox; a message is acknowledged once a majority holds it",
        members.len()
    );
    println!("  every request goes through an onion path: guard → relay → relay → swarm member");
    println!(
        "  alice reads from node {}",
        short(&alice.node_for(&alice.profile().account_id())?)
    );
    println!(
        "  bob reads from node   {}",
        short(&bob.node_for(&bob.profile().account_id())?)
    );
    println!();
    println!(
        "Conversation (ack = durable on a majority of the swarm; delivered = arrived at the waiting recipient):"
    );

    let script = [
        (true, "Hi Bob! No phone number needed."),
        (false, "Hi Alice. Only we can read this."),
        (
            true,
            "The node stores ciphertext and never learns who sent it.",
        ),
        (false, "And it pushed this to you without polling."),
    ];
    for (alice_speaks, text) in script {
        let (sender_name, receiver_name) = if alice_speaks {
            ("alice", "bob")
        } else {
            ("bob", "alice")
        };
        let (record, acked, delivered) = if alice_speaks {
            let (b, record, acked, delivered) = exchange(&mut alice, bob, text).await?;
            bob = b;
            (record, acked, delivered)
        } else {
            let (a, record, acked, delivered) = exchange(&mut bob, alice, text).await?;
            alice = a;
            (record, acked, delivered)
        };
        println!("  {sender_name:>5} → {receiver_name:<5} {:?}", record.text);
        println!(
            "                ack {}, delivered {}",
            ms(acked),
            ms(delivered)
        );
    }
    println!();
    println!("Bob's local history (decrypted from his encrypted store):");
    for r in bob.profile().history()? {
        let who = match r.direction {
            nightjar_client::Direction::In => "alice",
            nightjar_client::Direction::Out => "bob",
        };
        println!("  {who:>5}: {}", r.text);
    }

    alice.close().await;
    bob.close().await;
    for node in nodes {
        node.shutdown().await;
    }
    drop(guard);
    println!();
    println!(
        "Stopped the network and the chain; demo took {}.",
        ms(total.elapsed())
    );
    Ok(())
}

fn short(node: &NodeEntry) -> String {
    let id = node.id.to_string();
    format!("{}… at {}", id.get(..12).unwrap_or(&id), node.addr)
}

//! `envelope_open`: the envelope decoder.

use std::sync::OnceLock;

use nightjar_crypto::envelope::{self, Content};
use nightjar_crypto::identity::{Identity, Seed};

use crate::mask::masked;

/// The seed of the identity [`envelope_open`] opens every input as.
pub const ENVELOPE_RECIPIENT_SEED: [u8; 32] = [7; 32];

/// The recipient every input is opened as.
fn recipient() -> &'static Identity {
    static RECIPIENT: OnceLock<Identity> = OnceLock::new();
    RECIPIENT.get_or_init(|| Identity::from_seed(Seed::from_bytes(ENVELOPE_RECIPIENT_SEED)))
}

/// The sender of the reference envelope.
fn sender() -> &'static Identity {
    static SENDER: OnceLock<Identity> = OnceLock::new();
    SENDER.get_or_init(|| Identity::from_seed(Seed::from_bytes([8; 32])))
}

fn content() -> Content {
    Content {
        text: "fuzz reference message".to_owned(),
        sent_at_ms: 1_700_000_000_000,
    }
}

/// One valid envelope from `sender()` to `recipient()`, sealed on first use.
fn reference_envelope() -> &'static [u8] {
    static ENVELOPE: OnceLock<Vec<u8>> = OnceLock::new();
    ENVELOPE.get_or_init(|| {
        match envelope::seal_with_ephemeral(
            sender(),
            &recipient().public_key(),
            &content(),
            &[9; 32],
        ) {
            Ok(env) => env,
            Err(e) => panic!("cannot seal the reference envelope: {e}"),
        }
    })
}

/// Fuzzes `nightjar_crypto::envelope::open`, which a client runs on every
/// message fetched from a node (attacker-controlled bytes).
///
/// Checks, for each input:
/// 1. `open(recipient, input)` never panics (any bytes, any length). The
///    recipient's seed is [`ENVELOPE_RECIPIENT_SEED`], so envelopes sealed to
///    it (the seed corpus has some) get past decryption and into the
///    signature and content decoders.
/// 2. Structured: a valid envelope (sealed once with constant keys) XORed
///    with the input (over its first bytes; extra input bytes are ignored)
///    opens to the original content when the mask is all zero, and returns
///    `Err` for every other mask: no alteration of any byte is accepted.
pub fn envelope_open(data: &[u8]) {
    let recipient = recipient();

    // 1. Raw bytes: must return, never panic.
    let _ = envelope::open(recipient, data);

    // 2. Bit flips over a valid envelope.
    let (env, altered) = masked(reference_envelope(), data);
    match envelope::open(recipient, &env) {
        Ok(opened) if altered => panic!("an altered envelope opened: {opened:?}"),
        Ok(opened) => {
            assert_eq!(opened.content, content(), "content changed");
            assert_eq!(opened.sender, sender().account_id(), "sender changed");
        }
        Err(e) if !altered => panic!("the unaltered reference envelope failed to open: {e}"),
        Err(_) => {}
    }
}

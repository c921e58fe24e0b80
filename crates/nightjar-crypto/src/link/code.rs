//! The link code: what the existing device shows and the new one enters.
//!
//! `bech32m("njlink", [0x01] ‖ account Ed25519 key (32) ‖ L (32))`, 117
//! characters (`docs/PROTOCOL.md` §17.1).

use core::fmt;
use core::str::FromStr;

use bech32::primitives::decode::{ChecksumError, UncheckedHrpstring};
use bech32::{Bech32m, Hrp};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::error::LinkError;
use crate::identity::PublicKey;
use crate::random::RandomSource;

/// Human-readable part of a link code.
pub const LINK_CODE_HRP: &str = "njlink";

/// The version byte a link code's data starts with.
pub const LINK_CODE_VERSION: u8 = 0x01;

/// Length of a [`LinkSecret`].
pub const LINK_SECRET_LEN: usize = 32;

/// Bytes a link code carries: version, account key, secret.
const CODE_DATA_LEN: usize = 1 + 32 + LINK_SECRET_LEN;

/// Length of a link code's text: `njlink` (6) ‖ `1` ‖ 104 data characters
/// (65 bytes, 520 bits, no padding) ‖ 6 checksum characters.
pub const LINK_CODE_LEN: usize = 6 + 1 + 104 + 6;

const HRP: Hrp = Hrp::parse_unchecked(LINK_CODE_HRP);

/// The link code's secret `L`: 32 random bytes drawn by the existing device,
/// used once. Whoever holds it can read the joining device's request and
/// answer it; the short authentication string ([`super::Sas`]) is what shows
/// the user that nobody else did.
///
/// Zeroized on drop; `Debug` prints `[redacted]`; equality is constant-time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct LinkSecret([u8; LINK_SECRET_LEN]);

impl LinkSecret {
    /// A fresh secret: 32 bytes drawn from `rng`.
    pub fn generate_with(rng: &mut dyn RandomSource) -> Result<LinkSecret, LinkError> {
        let mut secret = LinkSecret([0u8; LINK_SECRET_LEN]);
        rng.fill(&mut secret.0).map_err(LinkError::from_random)?;
        Ok(secret)
    }

    /// Wraps 32 secret bytes (a saved state, a test vector).
    pub fn from_bytes(bytes: [u8; LINK_SECRET_LEN]) -> LinkSecret {
        LinkSecret(bytes)
    }

    /// The 32 secret bytes.
    pub fn as_bytes(&self) -> &[u8; LINK_SECRET_LEN] {
        &self.0
    }
}

impl PartialEq for LinkSecret {
    fn eq(&self, other: &LinkSecret) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for LinkSecret {}

impl fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkSecret([redacted])")
    }
}

/// A one-time link code: the account the new device joins and the secret
/// `L` both devices derive every key of the link from.
///
/// It has no `Display` (its text is a secret; see [`LinkCode::to_text`]),
/// and its `Debug` prints the account but not the secret.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LinkCode {
    /// The account's Ed25519 public key: the joining device checks the
    /// account's published records (the hello, the answers) against it.
    pub account: PublicKey,
    /// The secret `L`.
    pub secret: LinkSecret,
}

impl LinkCode {
    /// A fresh code for `account`: draws the 32 bytes of `L` from `rng`.
    pub fn generate_with(
        rng: &mut dyn RandomSource,
        account: PublicKey,
    ) -> Result<LinkCode, LinkError> {
        Ok(LinkCode {
            account,
            secret: LinkSecret::generate_with(rng)?,
        })
    }

    fn data(&self) -> Zeroizing<[u8; CODE_DATA_LEN]> {
        let mut data = Zeroizing::new([0u8; CODE_DATA_LEN]);
        let (version, rest) = data.split_at_mut(1);
        let (account, secret) = rest.split_at_mut(32);
        version.copy_from_slice(&[LINK_CODE_VERSION]);
        account.copy_from_slice(self.account.as_bytes());
        secret.copy_from_slice(self.secret.as_bytes());
        data
    }

    fn encode(&self, upper: bool) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::with_capacity(LINK_CODE_LEN));
        let data = self.data();
        let written = if upper {
            bech32::encode_upper_to_fmt::<Bech32m, _>(&mut *text, HRP, &data[..])
        } else {
            bech32::encode_lower_to_fmt::<Bech32m, _>(&mut *text, HRP, &data[..])
        };
        match written {
            Ok(()) => text,
            // 65 bytes are far below bech32m's 1,023-character limit, and
            // writing to a String cannot fail.
            Err(_) => unreachable!("a 65-byte link code always encodes"),
        }
    }

    /// The code's text, `njlink1…`, lowercase, 117 characters. It is a
    /// secret until the link is done: show it, never log it.
    pub fn to_text(&self) -> Zeroizing<String> {
        self.encode(false)
    }

    /// The same text in uppercase, `NJLINK1…`, for a QR code (uppercase
    /// bech32 fits QR's compact alphanumeric mode); it parses the same.
    pub fn to_text_upper(&self) -> Zeroizing<String> {
        self.encode(true)
    }

    /// Parses a code's text. Whitespace anywhere is ignored (a code wrapped
    /// across lines still parses); the text must be all lowercase or all
    /// uppercase. Checks, in this order: bech32 characters, the `njlink`
    /// prefix, the length (117 characters), the bech32m checksum, the
    /// version (1) and that the account key is a valid Ed25519 key.
    pub fn parse(text: &str) -> Result<LinkCode, LinkError> {
        let compact: Zeroizing<String> =
            Zeroizing::new(text.chars().filter(|c| !c.is_whitespace()).collect());
        let unchecked = UncheckedHrpstring::new(&compact).map_err(|_| LinkError::CodeMalformed)?;
        if unchecked.hrp() != HRP {
            return Err(LinkError::CodeWrongPrefix(unchecked.hrp().to_lowercase()));
        }
        if compact.len() != LINK_CODE_LEN {
            return Err(LinkError::CodeLength {
                chars: compact.chars().count(),
            });
        }
        let checked = unchecked
            .validate_and_remove_checksum::<Bech32m>()
            .map_err(|e| match e {
                ChecksumError::InvalidResidue(_) => LinkError::CodeChecksum,
                _ => LinkError::CodeLength {
                    chars: compact.chars().count(),
                },
            })?;
        let mut data = Zeroizing::new([0u8; CODE_DATA_LEN]);
        let mut bytes = checked.byte_iter();
        for slot in data.iter_mut() {
            *slot = bytes.next().ok_or(LinkError::CodeLength {
                chars: compact.chars().count(),
            })?;
        }
        let (version, rest) = data.split_at(1);
        match version {
            [LINK_CODE_VERSION] => {}
            [other] => return Err(LinkError::CodeUnknownVersion(*other)),
            _ => return Err(LinkError::CodeMalformed),
        }
        let (account, secret) = rest.split_at(32);
        let account = PublicKey::from_slice(account).map_err(|_| LinkError::CodeInvalidAccount)?;
        let mut l = [0u8; LINK_SECRET_LEN];
        l.copy_from_slice(secret);
        let secret = LinkSecret(l);
        l.zeroize();
        Ok(LinkCode { account, secret })
    }
}

impl FromStr for LinkCode {
    type Err = LinkError;

    /// [`LinkCode::parse`].
    fn from_str(text: &str) -> Result<LinkCode, LinkError> {
        LinkCode::parse(text)
    }
}

//! `account_text`: Account IDs and recovery phrases typed or pasted by users.

use nightjar_crypto::identity::{AccountId, Identity};

/// Fuzzes the text decoders of identities: `AccountId::from_str` (`nj1…`
/// strings users paste) and `Identity::from_mnemonic` (24-word recovery
/// phrases users type).
///
/// Checks: neither panics on any text (lossy UTF-8); an Account ID that
/// parses prints (`to_string`) to a string that parses back to the same ID; a
/// phrase that parses gives an identity whose own phrase restores the same
/// seed.
pub fn account_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);

    if let Ok(id) = text.parse::<AccountId>() {
        let printed = id.to_string();
        match printed.parse::<AccountId>() {
            Ok(again) => assert_eq!(again, id, "account id changed across {printed}"),
            Err(e) => panic!("printed account id {printed} does not parse: {e}"),
        }
    }

    if let Ok(identity) = Identity::from_mnemonic(&text) {
        match Identity::from_mnemonic(identity.mnemonic().as_str()) {
            Ok(again) => assert_eq!(
                again.seed().as_bytes(),
                identity.seed().as_bytes(),
                "seed changed across its own recovery phrase"
            ),
            Err(e) => panic!("an identity's own recovery phrase does not parse: {e}"),
        }
    }
}

//! Contacts: names this profile gives to Account IDs, so people are shown
//! and addressed by name (`nightjar contact add NAME ACCOUNT_ID`, the TUI,
//! the daemon's `contact.*` methods).
//!
//! The book is local only: it is never sent, published or synced to the
//! account's other devices, and it is kept encrypted in the profile's
//! `state` table (under the key [`STATE_KEY`]) like every other state value.
//!
//! Names and Account IDs are kept disjoint, so one word on a command line
//! means one thing: a name never starts with `nj1` (the Account ID prefix).
//! Names are unique ignoring case, and an account has at most one name.
//!
//! Not here: how a peer's device list or sessions are kept (see
//! [`crate::device_state`]).

use std::str::FromStr;

use nightjar_crypto::identity::AccountId;
use serde::{Deserialize, Serialize};

use crate::{ClientError, Profile};

/// The `state` key the contact book is saved under.
pub const STATE_KEY: &str = "contacts";
/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// The most contacts a profile keeps.
pub const MAX_CONTACTS: usize = 10_000;
/// What an Account ID looks like, for error messages (a test checks it
/// against a generated ID).
pub const ACCOUNT_ID_FORM: &str = concat!(
    "an Account ID is `nj1` followed by 58 letters and digits ",
    "(61 characters in all), as `nightjar account show` prints it"
);
/// The largest saved book a profile reads (far above [`MAX_CONTACTS`] entries
/// of the longest names).
pub const MAX_BOOK_BYTES: usize = 4 << 20;

/// One contact: a name for an Account ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// The name, as the user wrote it (trimmed).
    pub name: String,
    /// The account it names.
    pub account_id: AccountId,
}

/// A contact as the saved book holds it (the Account ID as text).
#[derive(Serialize, Deserialize)]
struct Saved {
    name: String,
    account_id: String,
}

/// Why a contact could not be added, removed or found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContactError {
    /// The name breaks a rule (empty, too long, control characters, looks
    /// like an Account ID).
    #[error("invalid contact name {name:?}: {why}")]
    InvalidName {
        /// The name given.
        name: String,
        /// Which rule it breaks.
        why: &'static str,
    },
    /// Another contact already has this name (ignoring case).
    #[error("there is already a contact named {existing:?} ({account})")]
    NameTaken {
        /// The existing contact's name.
        existing: String,
        /// The account it names (its Account ID).
        account: String,
    },
    /// The account already has a name.
    #[error("{account} is already a contact, named {existing:?}; remove it first to rename it")]
    AlreadyContact {
        /// The account (its Account ID).
        account: String,
        /// Its current name.
        existing: String,
    },
    /// No contact has this name or Account ID.
    #[error("no contact named {0:?}")]
    NotFound(String),
    /// A word given as an Account ID that is not one.
    #[error("{text:?} is not a valid Account ID: {why}; {ACCOUNT_ID_FORM}")]
    InvalidAccountId {
        /// The word.
        text: String,
        /// Why it does not decode.
        why: String,
    },
    /// The book is full.
    #[error("the contact book is full ({MAX_CONTACTS} contacts)")]
    Full,
    /// The saved book does not decode.
    #[error("saved contact book is damaged: {0}")]
    Damaged(String),
}

/// Reads `text` (trimmed) as an Account ID; the error says what is wrong
/// with it and what an Account ID looks like.
pub fn parse_account_id(text: &str) -> Result<AccountId, ContactError> {
    let text = text.trim();
    AccountId::from_str(text).map_err(|e| ContactError::InvalidAccountId {
        text: text.to_owned(),
        why: e.to_string(),
    })
}

/// Check a name against the rules; returns it trimmed.
pub fn check_name(name: &str) -> Result<String, ContactError> {
    let trimmed = name.trim();
    let invalid = |why| ContactError::InvalidName {
        name: name.to_owned(),
        why,
    };
    if trimmed.is_empty() {
        return Err(invalid("it is empty"));
    }
    if trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(invalid("it is longer than 64 characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(invalid("it contains control characters"));
    }
    if trimmed.to_ascii_lowercase().starts_with("nj1") {
        return Err(invalid(
            "names may not start with nj1, the Account ID prefix",
        ));
    }
    Ok(trimmed.to_owned())
}

/// A contact book: the rules over a list of contacts, no storage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactBook {
    contacts: Vec<Contact>,
}

impl ContactBook {
    /// Decode a saved book (JSON array of contacts), checking every rule, so
    /// a damaged or hostile file cannot put an invalid book in memory.
    pub fn decode(bytes: &[u8]) -> Result<ContactBook, ContactError> {
        if bytes.len() > MAX_BOOK_BYTES {
            return Err(ContactError::Damaged(format!(
                "{} bytes, more than {MAX_BOOK_BYTES}",
                bytes.len()
            )));
        }
        let saved: Vec<Saved> =
            serde_json::from_slice(bytes).map_err(|e| ContactError::Damaged(e.to_string()))?;
        let mut book = ContactBook::default();
        for c in saved {
            let account = AccountId::from_str(&c.account_id)
                .map_err(|e| ContactError::Damaged(format!("{:?}: {e}", c.account_id)))?;
            book.add(&c.name, &account)
                .map_err(|e| ContactError::Damaged(e.to_string()))?;
        }
        Ok(book)
    }

    /// The book as saved: a JSON array sorted by name.
    pub fn encode(&self) -> Vec<u8> {
        let saved: Vec<Saved> = self
            .contacts
            .iter()
            .map(|c| Saved {
                name: c.name.clone(),
                account_id: c.account_id.to_string(),
            })
            .collect();
        // Plain strings always serialize.
        serde_json::to_vec(&saved).unwrap_or_default()
    }

    /// Every contact, sorted by name (ignoring case).
    pub fn contacts(&self) -> &[Contact] {
        &self.contacts
    }

    /// Add `name` for `account`.
    pub fn add(&mut self, name: &str, account: &AccountId) -> Result<Contact, ContactError> {
        let name = check_name(name)?;
        let key = name.to_lowercase();
        if let Some(c) = self.contacts.iter().find(|c| c.name.to_lowercase() == key) {
            return Err(ContactError::NameTaken {
                existing: c.name.clone(),
                account: c.account_id.to_string(),
            });
        }
        if let Some(c) = self.contacts.iter().find(|c| &c.account_id == account) {
            return Err(ContactError::AlreadyContact {
                account: account.to_string(),
                existing: c.name.clone(),
            });
        }
        if self.contacts.len() >= MAX_CONTACTS {
            return Err(ContactError::Full);
        }
        let contact = Contact {
            name,
            account_id: *account,
        };
        let at = self
            .contacts
            .partition_point(|c| c.name.to_lowercase() < key);
        self.contacts.insert(at, contact.clone());
        Ok(contact)
    }

    /// Remove the contact named `name_or_id` (a name, ignoring case, or an
    /// Account ID); returns it.
    pub fn remove(&mut self, name_or_id: &str) -> Result<Contact, ContactError> {
        let at = self
            .position(name_or_id)
            .ok_or_else(|| ContactError::NotFound(name_or_id.trim().to_owned()))?;
        Ok(self.contacts.remove(at))
    }

    /// The contact `name_or_id` names, if any.
    pub fn find(&self, name_or_id: &str) -> Option<&Contact> {
        self.position(name_or_id).and_then(|i| self.contacts.get(i))
    }

    /// The name of `account`, if it is a contact.
    pub fn name_of(&self, account: &AccountId) -> Option<&str> {
        self.contacts
            .iter()
            .find(|c| &c.account_id == account)
            .map(|c| c.name.as_str())
    }

    fn position(&self, name_or_id: &str) -> Option<usize> {
        let query = name_or_id.trim();
        if let Ok(id) = AccountId::from_str(query) {
            return self.contacts.iter().position(|c| c.account_id == id);
        }
        let key = query.to_lowercase();
        self.contacts
            .iter()
            .position(|c| c.name.to_lowercase() == key)
    }
}

impl Profile {
    /// The contact book (empty if none was saved).
    pub fn contact_book(&self) -> Result<ContactBook, ClientError> {
        match self.load_state(STATE_KEY)? {
            None => Ok(ContactBook::default()),
            Some(bytes) => Ok(ContactBook::decode(&bytes)?),
        }
    }

    /// Every contact, sorted by name.
    pub fn contacts(&self) -> Result<Vec<Contact>, ClientError> {
        Ok(self.contact_book()?.contacts().to_vec())
    }

    /// Name `account` `name`; refuses a name already used (ignoring case) and
    /// an account that already has a name.
    pub fn add_contact(&mut self, name: &str, account: &AccountId) -> Result<Contact, ClientError> {
        let mut book = self.contact_book()?;
        let added = book.add(name, account)?;
        self.save_state(STATE_KEY, &book.encode())?;
        Ok(added)
    }

    /// Remove the contact `name_or_id` names (a name or an Account ID).
    pub fn remove_contact(&mut self, name_or_id: &str) -> Result<Contact, ClientError> {
        let mut book = self.contact_book()?;
        let removed = book.remove(name_or_id)?;
        self.save_state(STATE_KEY, &book.encode())?;
        Ok(removed)
    }

    /// The account `name_or_id` means: an Account ID as written, or the
    /// account of the contact with that name. A word starting with `nj1` is
    /// read as an Account ID (and its error says why it is not one).
    pub fn resolve_peer(&self, name_or_id: &str) -> Result<AccountId, ClientError> {
        let query = name_or_id.trim();
        if query.to_ascii_lowercase().starts_with("nj1") {
            return parse_account_id(query).map_err(ClientError::Contact);
        }
        self.contact_book()?
            .find(query)
            .map(|c| c.account_id)
            .ok_or_else(|| ClientError::Contact(ContactError::NotFound(query.to_owned())))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use nightjar_crypto::identity::Identity;

    use super::*;

    fn account() -> AccountId {
        Identity::generate().unwrap().account_id()
    }

    #[test]
    fn names_are_unique_ignoring_case_and_each_account_has_one() {
        let (bob, carol) = (account(), account());
        let mut book = ContactBook::default();
        book.add(" Bob ", &bob).unwrap();
        assert!(matches!(
            book.add("bob", &carol),
            Err(ContactError::NameTaken { .. })
        ));
        assert!(matches!(
            book.add("Robert", &bob),
            Err(ContactError::AlreadyContact { .. })
        ));
        assert_eq!(book.find("BOB").unwrap().name, "Bob");
        assert_eq!(book.find(&bob.to_string()).unwrap().name, "Bob");
        assert_eq!(book.name_of(&bob), Some("Bob"));
    }

    #[test]
    fn names_that_break_a_rule_are_refused() {
        let mut book = ContactBook::default();
        let id = account();
        for bad in [
            "",
            "   ",
            "a\nb",
            "nj1alice",
            "NJ1x",
            &"x".repeat(65),
            &id.to_string(),
        ] {
            assert!(
                matches!(book.add(bad, &id), Err(ContactError::InvalidName { .. })),
                "{bad:?} accepted"
            );
        }
        book.add(&"é".repeat(64), &id).unwrap();
    }

    #[test]
    fn the_book_stays_sorted_and_round_trips() {
        let mut book = ContactBook::default();
        for name in ["carol", "Alice", "bob"] {
            book.add(name, &account()).unwrap();
        }
        let names: Vec<&str> = book.contacts().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Alice", "bob", "carol"]);
        assert_eq!(ContactBook::decode(&book.encode()).unwrap(), book);
        let removed = book.remove("ALICE").unwrap();
        assert_eq!(removed.name, "Alice");
        assert!(matches!(
            book.remove("alice"),
            Err(ContactError::NotFound(_))
        ));
    }

    #[test]
    fn a_saved_book_that_breaks_the_rules_is_refused() {
        let id = account().to_string();
        let twice =
            format!(r#"[{{"name":"a","account_id":"{id}"}},{{"name":"b","account_id":"{id}"}}]"#);
        assert!(matches!(
            ContactBook::decode(twice.as_bytes()),
            Err(ContactError::Damaged(_))
        ));
        assert!(ContactBook::decode(b"{").is_err());
        assert!(ContactBook::decode(&vec![b' '; MAX_BOOK_BYTES + 1]).is_err());
        assert!(ContactBook::decode(br#"[{"name":"a","account_id":"nj1bad"}]"#).is_err());
    }

    #[test]
    fn a_profile_keeps_contacts_encrypted_and_resolves_names() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Profile::create(dir.path(), Identity::generate().unwrap(), None).unwrap();
        let bob = account();
        p.add_contact("Zebulon-Marker", &bob).unwrap();
        assert_eq!(p.resolve_peer("zebulon-marker").unwrap(), bob);
        assert_eq!(p.resolve_peer(&bob.to_string()).unwrap(), bob);
        assert!(p.resolve_peer("nobody").is_err());
        assert!(p.resolve_peer("nj1notanid").is_err());
        drop(p);
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(e.unwrap().path()).unwrap();
            assert!(!bytes.windows(14).any(|w| w == b"Zebulon-Marker"));
        }
        let mut p = Profile::open(dir.path(), None).unwrap();
        assert_eq!(p.contacts().unwrap().len(), 1);
        p.remove_contact(&bob.to_string()).unwrap();
        assert!(p.contacts().unwrap().is_empty());
    }

    #[test]
    fn a_bad_account_id_is_explained_with_what_one_looks_like() {
        // The description of the form is true of a real ID.
        let id = account().to_string();
        assert!(id.starts_with("nj1"), "{id}");
        assert_eq!(id.len(), 61, "{id}");
        assert_eq!(id.len() - 3, 58);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "{id}"
        );
        assert_eq!(
            parse_account_id(&format!(" {id} ")).unwrap().to_string(),
            id
        );

        for (text, why) in [
            ("nj1nope", "not a well-formed Account ID"),
            ("bob", "not a well-formed Account ID"),
            (&id[..id.len() - 1], "checksum does not match"),
        ] {
            let e = parse_account_id(text).unwrap_err();
            let msg = e.to_string();
            assert!(matches!(e, ContactError::InvalidAccountId { .. }), "{msg}");
            assert!(
                msg.contains(&format!("{text:?} is not a valid Account ID")),
                "{msg}"
            );
            assert!(msg.contains(why), "{msg}");
            assert!(msg.contains(ACCOUNT_ID_FORM), "{msg}");
        }
    }
}

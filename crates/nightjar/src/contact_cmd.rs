//! `nightjar contact …`: names for Account IDs, kept in the profile
//! (encrypted, local to this device). A name can stand for an Account ID in
//! `send` and `timer`, and the TUI shows names instead of IDs.

use clap::Subcommand;
use nightjar_client::Profile;
use nightjar_client::contacts::Contact;
use serde_json::json;

use crate::print_json;

/// `nightjar contact …`.
#[derive(Debug, Subcommand)]
pub enum ContactCmd {
    /// Name an account (names are unique ignoring case, up to 64 characters,
    /// and may not start with `nj1`).
    Add {
        /// The name.
        name: String,
        /// The Account ID (nj1…).
        account_id: String,
        /// Print JSON: `{"name", "account_id"}`.
        #[arg(long)]
        json: bool,
    },
    /// List contacts, sorted by name.
    List {
        /// Print JSON: `[{"name", "account_id"}]`.
        #[arg(long)]
        json: bool,
    },
    /// Remove a contact, by name or Account ID.
    Remove {
        /// The name or Account ID.
        name: String,
        /// Print JSON: `{"name", "account_id"}` of the removed contact.
        #[arg(long)]
        json: bool,
    },
}

/// A contact as `contact … --json` prints it.
pub fn contact_json(c: &Contact) -> serde_json::Value {
    json!({ "name": c.name, "account_id": c.account_id.to_string() })
}

/// Run a contact command on an open profile.
pub fn run(profile: &mut Profile, action: &ContactCmd) -> anyhow::Result<()> {
    match action {
        ContactCmd::Add {
            name,
            account_id,
            json,
        } => {
            let account = nightjar_client::contacts::parse_account_id(account_id)?;
            let added = profile.add_contact(name, &account)?;
            if *json {
                print_json(&contact_json(&added))
            } else {
                println!("added {} ({})", added.name, added.account_id);
                Ok(())
            }
        }
        ContactCmd::List { json } => {
            let contacts = profile.contacts()?;
            if *json {
                print_json(&serde_json::Value::Array(
                    contacts.iter().map(contact_json).collect(),
                ))
            } else {
                if contacts.is_empty() {
                    eprintln!("no contacts; add one with `nightjar contact add NAME ACCOUNT_ID`");
                }
                for c in &contacts {
                    println!("{}\t{}", c.name, c.account_id);
                }
                Ok(())
            }
        }
        ContactCmd::Remove { name, json } => {
            let removed = profile.remove_contact(name)?;
            if *json {
                print_json(&contact_json(&removed))
            } else {
                println!("removed {} ({})", removed.name, removed.account_id);
                Ok(())
            }
        }
    }
}

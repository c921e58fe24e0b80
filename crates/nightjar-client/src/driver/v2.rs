//! Messages v2 in the driver: publishing this device (device list, prekey
//! bundle, one-time prekeys), reading others' device lists and prekeys,
//! sending to every device of both accounts, and reading this device's
//! mailbox. The decisions are [`crate::messaging`]'s and
//! `nightjar-devices`'; this moves the records and saves the state.

use std::time::Duration;

use nightjar_crypto::identity::{AccountId, PublicKey};
use nightjar_crypto::{OsRandom, RandomSource};
use nightjar_devices::{
    DeviceEntry, DeviceError, DeviceList, KnownDevices, OneTimePrekey, OwnDevice, PrekeyBundle,
};
use nightjar_types::namespace::{DEVICE_LIST, ONE_TIME_PREKEYS, PREKEY_BUNDLE};
use nightjar_types::{MessageHash, NodeKey, StoredMessage};
use serde::{Deserialize, Serialize};

use super::Client;
use crate::device_state::Received;
use crate::messaging::incoming::open_sealed;
use crate::messaging::outgoing::FetchedPrekeys;
use crate::messaging::{ContentV2, Recipient, TimerMode, open_envelope, seal_for_device};
use crate::profile::{Direction, HistoryRecord};
use crate::{ClientError, clock};

/// How long a published record lives in the swarm: the longest TTL.
const PUBLISHED_TTL: Duration = Duration::from_millis(1_209_600_000);
/// A device re-publishes its list entry and bundle when they are this old,
/// so they never expire while it is in use.
const REPUBLISH_AFTER_MS: u64 = 7 * 24 * 3_600_000;
/// How often a device checks that the swarm still lists it and its
/// one-time prekeys.
const RECHECK_AFTER_MS: u64 = 3_600_000;
/// One-time prekeys a sender tries to claim before it does without.
const CLAIM_ATTEMPTS: usize = 3;
/// Profile state key of what this device last published.
const STATE_PUBLISHED: &str = "device_published";

/// What this device last published, and when.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct PublishedState {
    /// When the swarm was last checked, Unix ms.
    checked_at_ms: u64,
    /// When the device list entry was last published or seen, Unix ms.
    list_at_ms: u64,
    /// The signed prekey ID of the bundle last published.
    bundle_prekey_id: u32,
    /// When that bundle was published, Unix ms.
    bundle_at_ms: u64,
}

/// Why a message went as v1 rather than v2.
pub const FALLBACK_NO_PREKEYS: &str = "the recipient has published no device keys (an older Nightjar), so this message was sealed to the account (v1): no forward secrecy";

/// A v2 send: the devices written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentV2 {
    /// The message ID (hex).
    pub message_id: String,
    /// The recipient's devices that hold it.
    pub devices: usize,
    /// This account's other devices that got a copy.
    pub own_devices: usize,
    /// When it disappears, if the conversation has a timer.
    pub expires_at_ms: Option<u64>,
}

fn device_error(e: DeviceError) -> ClientError {
    ClientError::Protocol(e.to_string())
}

impl Client {
    /// This device, made (and saved) if the profile has none yet.
    pub fn device(&mut self) -> Result<OwnDevice, ClientError> {
        if let Some(device) = self.profile.own_device()? {
            return Ok(device);
        }
        let name = default_device_name();
        let device = OwnDevice::generate_with(&mut OsRandom, &name, clock::unix_now_ms())
            .map_err(device_error)?;
        self.profile.save_own_device(&device)?;
        Ok(device)
    }

    /// Reads `account`'s device lists from its swarm and adopts the newest
    /// valid one into what the profile knows (saved).
    pub async fn refresh_devices(
        &mut self,
        account: &AccountId,
    ) -> Result<KnownDevices, ClientError> {
        let key = account.public_key();
        let records = self.published(account, DEVICE_LIST).await?;
        let mut known = self.profile.known_devices(key)?;
        let mut lists: Vec<DeviceList> = records
            .iter()
            .filter_map(|r| DeviceList::decode(&r.body).ok())
            .collect();
        lists.sort_by_key(DeviceList::version);
        for list in lists {
            // Older and losing lists are refused; that is expected.
            let _ = known.adopt(list);
        }
        self.profile.save_known_devices(key, &known)?;
        self.device_lists_read
            .insert(account.to_string(), tokio::time::Instant::now());
        Ok(known)
    }

    /// Lets `send` use a device list read from a swarm less than `max_age`
    /// ago instead of reading it again (`None`, the default: every send
    /// reads the recipient's and this account's lists). For a long-running
    /// client (the daemon), where it saves two onion round trips per send:
    /// a device added to (or removed from) a list in the meantime is
    /// noticed at most `max_age` later. A list without live devices, and
    /// the lists of a send that failed to reach a device, are read again.
    pub fn set_device_list_max_age(&mut self, max_age: Option<Duration>) {
        self.device_list_max_age = max_age;
    }

    /// `account`'s device list for a send: the saved one when it was read
    /// from the swarm within the max age and lists a live device, else read
    /// now.
    async fn devices_for_send(&mut self, account: &AccountId) -> Result<KnownDevices, ClientError> {
        if let Some(max_age) = self.device_list_max_age
            && self
                .device_lists_read
                .get(&account.to_string())
                .is_some_and(|at| at.elapsed() < max_age)
        {
            let known = self.profile.known_devices(account.public_key())?;
            if known.live().next().is_some() {
                return Ok(known);
            }
        }
        self.refresh_devices(account).await
    }

    /// Makes sure the swarm lists this device and holds its prekeys:
    /// adds it to the account's device list if it is missing, publishes its
    /// bundle when it changed or grows old, and publishes one-time prekeys
    /// when few are left. Checks the swarm at most hourly unless `force`.
    pub async fn publish_device(&mut self, force: bool) -> Result<OwnDevice, ClientError> {
        let mut device = self.device()?;
        let now = self.now_ms();
        let mut state: PublishedState = self
            .profile
            .load_state(STATE_PUBLISHED)?
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let rotated = device
            .rotate_if_due_with(&mut OsRandom, now)
            .map_err(device_error)?;
        if rotated {
            self.profile.save_own_device(&device)?;
        }
        let due = force
            || rotated
            || now.saturating_sub(state.checked_at_ms) >= RECHECK_AFTER_MS
            || now.saturating_sub(state.list_at_ms) >= REPUBLISH_AFTER_MS;
        if !due {
            return Ok(device);
        }
        let me = self.profile.account_id();
        // The device list.
        let mut listed = false;
        for _ in 0..3 {
            let known = self.refresh_devices(&me).await?;
            if known.removed().contains(&device.id()) {
                return Err(ClientError::DeviceRemoved);
            }
            let current = known.list().and_then(|l| l.entry(&device.id()));
            let stale = now.saturating_sub(state.list_at_ms) >= REPUBLISH_AFTER_MS;
            if current.is_some() && !stale {
                listed = true;
                break;
            }
            let next = match known.list() {
                // Listed but old: the same list as a new version, so it does
                // not expire from the swarm.
                Some(list) if current.is_some() => list.bumped().map_err(device_error)?,
                Some(list) => list
                    .with_device(device.id(), device.identity_public(), device.name(), now)
                    .map_err(device_error)?,
                None => {
                    DeviceList::first(device.id(), device.identity_public(), device.name(), now)
                        .map_err(device_error)?
                }
            };
            self.publish(DEVICE_LIST, &next.encode(), PUBLISHED_TTL)
                .await?;
            state.list_at_ms = now;
            // Read it back: another device may have published the same
            // version at once, and the readers' rule picks one.
        }
        if !listed {
            return Err(ClientError::Protocol(
                "could not get this device into its account's device list (other devices kept changing it); try again".into(),
            ));
        }
        // The bundle.
        let bundle = device.bundle().map_err(device_error)?;
        if bundle.signed_prekey_id != state.bundle_prekey_id
            || now.saturating_sub(state.bundle_at_ms) >= REPUBLISH_AFTER_MS
        {
            self.publish(PREKEY_BUNDLE, &bundle.encode(), PUBLISHED_TTL)
                .await?;
            state.bundle_prekey_id = bundle.signed_prekey_id;
            state.bundle_at_ms = now;
        }
        // One-time prekeys: count this device's that the swarm still offers.
        let offered = self
            .published(&me, ONE_TIME_PREKEYS)
            .await?
            .iter()
            .filter_map(|r| OneTimePrekey::decode(&r.body).ok())
            .filter(|p| p.device_id == device.id())
            .count();
        let fresh = device
            .replenish_offered_with(&mut OsRandom, offered)
            .map_err(device_error)?;
        // Save the secrets before their public halves can be used.
        self.profile.save_own_device(&device)?;
        for prekey in fresh {
            self.publish(ONE_TIME_PREKEYS, &prekey.encode(), PUBLISHED_TTL)
                .await?;
        }
        state.checked_at_ms = now;
        let bytes = serde_json::to_vec(&state).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.profile.save_state(STATE_PUBLISHED, &bytes)?;
        Ok(device)
    }

    /// What a sender needs to start a session with `device` of `account`:
    /// its bundle and, if one can be claimed, a one-time prekey.
    async fn fetch_prekeys(
        &mut self,
        account: &AccountId,
        device: &DeviceEntry,
    ) -> Result<FetchedPrekeys, ClientError> {
        let bundle = self
            .published(account, PREKEY_BUNDLE)
            .await?
            .iter()
            .filter_map(|r| PrekeyBundle::decode(&r.body).ok())
            .filter(|b| b.device_id == device.id)
            .max_by_key(|b| b.created_at_ms)
            .ok_or_else(|| {
                ClientError::Protocol(format!(
                    "device {} of {account} has published no prekey bundle",
                    device.id
                ))
            })?;
        let mut offered: Vec<(MessageHash, OneTimePrekey)> = self
            .published(account, ONE_TIME_PREKEYS)
            .await?
            .into_iter()
            .filter_map(|r| Some((r.hash, OneTimePrekey::decode(&r.body).ok()?)))
            .filter(|(_, p)| p.device_id == device.id)
            .collect();
        let mut one_time = None;
        for _ in 0..CLAIM_ATTEMPTS {
            if offered.is_empty() {
                break;
            }
            let i = nightjar_crypto::random_index(offered.len()).unwrap_or(0);
            let (hash, prekey) = offered.swap_remove(i);
            match self.claim(account, ONE_TIME_PREKEYS, hash).await {
                Ok(Some(record)) => {
                    // The claimed record must be the one listed.
                    if OneTimePrekey::decode(&record.body).ok().as_ref() == Some(&prekey) {
                        one_time = Some(prekey);
                        break;
                    }
                }
                Ok(None) => continue,
                Err(e) => {
                    tracing::debug!(error = %e, "claiming a one-time prekey failed");
                }
            }
        }
        Ok(FetchedPrekeys { bundle, one_time })
    }

    /// Sends `text` to `to` as v2: to every live device of `to` and, as a
    /// copy, to this account's other live devices. `Ok(None)` if `to` has
    /// published no devices (the caller falls back to v1).
    pub async fn send_v2(
        &mut self,
        to: &AccountId,
        text: &str,
        ttl: Duration,
    ) -> Result<Option<SentV2>, ClientError> {
        if text.is_empty() {
            return Err(ClientError::InvalidMessage("the text is empty".into()));
        }
        let recipients = self.devices_for_send(to).await?;
        let their_devices: Vec<DeviceEntry> = recipients.live().cloned().collect();
        if their_devices.is_empty() {
            return Ok(None);
        }
        let own = self.publish_device(false).await?;
        let me = self.profile.account_id();
        // This account's list as it is now: a device removed from it may
        // not send as the account, and the others get a copy.
        let own_known = self.devices_for_send(&me).await?;
        if own_known.removed().contains(&own.id()) {
            return Err(ClientError::DeviceRemoved);
        }
        let own_devices: Vec<DeviceEntry> = if me == *to {
            Vec::new()
        } else {
            own_known
                .live()
                .filter(|d| d.id != own.id())
                .cloned()
                .collect()
        };
        let now = self.now_ms();
        let timer = self.profile.timer(to.public_key())?;
        let mut message_id = [0u8; 32];
        OsRandom.fill(&mut message_id)?;
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let ttl_ms = match timer {
            Some(t) if t.mode == TimerMode::Send => {
                ttl_ms.min(t.after_ms.max(crate::messaging::content::MIN_TIMER_MS))
            }
            _ => ttl_ms,
        };
        let expires_at_ms = timer
            .filter(|t| t.mode == TimerMode::Send)
            .map(|t| now.saturating_add(t.after_ms));
        let content = ContentV2 {
            message_id,
            text: text.to_owned(),
            sent_at_ms: now,
            timer,
            sent_to: None,
        };
        let for_them = content.encode()?;
        let copy = ContentV2 {
            sent_to: Some(to.public_key().to_bytes()),
            ..content.clone()
        }
        .encode()?;

        let mut delivered = 0;
        let mut last_error = None;
        // Sessions to keep once their copies ahead are saved with the record.
        let mut ahead = Vec::new();
        for device in &their_devices {
            match self
                .send_to_device(&own, to, device, &for_them, ttl_ms)
                .await
            {
                Ok(a) => {
                    delivered += 1;
                    ahead.extend(a);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a recipient device could not be written to");
                    // Its list may have changed: the next send reads it again.
                    self.device_lists_read.remove(&to.to_string());
                    last_error = Some(e);
                }
            }
        }
        if delivered == 0 {
            return Err(last_error.unwrap_or(ClientError::DestinationUnreachable));
        }
        let mut own_delivered = 0;
        for device in &own_devices {
            match self.send_to_device(&own, &me, device, &copy, ttl_ms).await {
                Ok(a) => {
                    own_delivered += 1;
                    ahead.extend(a);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a copy for another device of this account failed");
                    self.device_lists_read.remove(&me.to_string());
                }
            }
        }
        let record = HistoryRecord {
            message_id: hex::encode(message_id),
            direction: Direction::Out,
            peer: to.to_string(),
            text: text.to_owned(),
            sent_at_ms: now,
            version: 2,
            timer,
            expires_at_ms,
        };
        let copies: Vec<_> = ahead
            .iter()
            .map(|a| (&a.account, &a.device, &a.copy))
            .collect();
        self.profile.record_sent_v2(&record, &copies)?;
        self.keep_sessions(ahead);
        Ok(Some(SentV2 {
            message_id: record.message_id,
            devices: delivered,
            own_devices: own_delivered,
            expires_at_ms,
        }))
    }

    /// Encrypts `content` for one device (starting a session if there is
    /// none), saves the session unless its saved copy is ahead, then stores
    /// the envelope in the device's mailbox. Returns the session to keep
    /// with its copy ahead, when this client sends ahead.
    async fn send_to_device(
        &mut self,
        own: &OwnDevice,
        account: &AccountId,
        device: &DeviceEntry,
        content: &[u8],
        ttl_ms: u64,
    ) -> Result<Option<super::sessions_ahead::Ahead>, ClientError> {
        let key = account.public_key();
        // A kept session's saved copy is already past the key this message
        // uses: no save before it leaves (see `sessions_ahead`).
        let kept = self.take_kept_session(key, device.id);
        let saved_ahead = kept.is_some();
        let mut sessions = match kept {
            Some(s) => s,
            None => self.profile.sessions(key, &device.id)?,
        };
        let prekeys = if sessions.is_empty() {
            Some(self.fetch_prekeys(account, device).await?)
        } else {
            None
        };
        let envelope = seal_for_device(
            &mut OsRandom,
            self.profile.identity(),
            own,
            &mut sessions,
            Recipient {
                account: key,
                device,
            },
            prekeys.as_ref(),
            content,
        )?;
        // Otherwise the session must be saved before the envelope leaves:
        // sending two messages with one message key would be worse than
        // losing one.
        if !saved_ahead {
            self.profile.save_sessions(key, &device.id, &sessions)?;
        }
        self.store_in(account, device.mailbox, envelope, ttl_ms)
            .await?;
        self.ahead_of(key, device.id, sessions)
    }

    /// Opens the envelopes one retrieve of this device's mailbox brought and
    /// saves what each changed (one transaction each, the last one with the
    /// retrieve's `cursor` at `node`); marks those that do not open as read.
    /// Returns the envelopes to delete from the swarm now (messages with a
    /// timer that runs from reading: the history holds them until it runs
    /// out) and whether the cursor was saved (if not, the caller saves it).
    pub(crate) fn process_v2(
        &mut self,
        device: &mut OwnDevice,
        messages: &[StoredMessage],
        mailbox: u16,
        (node, cursor): (&NodeKey, u64),
    ) -> Result<(Vec<MessageHash>, bool), ClientError> {
        let me_key = self.profile.identity().public_key();
        let now = self.now_ms();
        let mut refused = Vec::new();
        let mut delete = Vec::new();
        let mut cursor_saved = false;
        for (i, m) in messages.iter().enumerate() {
            let hash = MessageHash::new(nightjar_crypto::hash::message_hash(
                &me_key, mailbox, &m.data,
            ));
            if hash != m.hash {
                tracing::warn!("ignoring a message whose hash the node misreported");
                continue;
            }
            if self.profile.knows_envelope(&hash)? {
                continue;
            }
            let last = (i + 1 == messages.len()).then_some((node, mailbox, cursor));
            match self.open_one(device, &m.data, hash, now, last) {
                Ok(read_timer) => {
                    cursor_saved |= last.is_some();
                    if read_timer {
                        delete.push(hash);
                    }
                }
                Err(e) => {
                    tracing::warn!(reason = %e, "ignoring a message that does not open");
                    refused.push(hash);
                }
            }
        }
        self.profile.record_refused_envelopes(&refused)?;
        Ok((delete, cursor_saved))
    }

    fn open_one(
        &mut self,
        device: &mut OwnDevice,
        data: &[u8],
        envelope: MessageHash,
        now: u64,
        cursor: Option<(&NodeKey, u16, u64)>,
    ) -> Result<bool, ClientError> {
        let identity = self.profile.identity().clone();
        let (sealed, sender_device) = open_sealed(&identity, device, data)?;
        let sender = sealed.sender_account;
        let removed = self
            .profile
            .known_devices(&sender)?
            .removed()
            .contains(&sender_device);
        // A session kept ahead is read from as it is in memory (its saved
        // copy is one key ahead); it stays kept if this message fails.
        let mut sessions = match self.kept_session(&sender, sender_device) {
            Some(s) => s,
            None => self.profile.sessions(&sender, &sender_device)?,
        };
        // Work on a copy of the device: a message that fails must not
        // consume a one-time prekey.
        let mut trial = OwnDevice::decode(&device.encode()).map_err(device_error)?;
        let profile = &self.profile;
        let incoming = open_envelope(
            &identity,
            &mut trial,
            &sealed,
            sender_device,
            &mut sessions,
            removed,
            |id| profile.handshake_answered(id).unwrap_or(true),
        )?;
        let content = &incoming.content;
        let me = identity.public_key();
        let (direction, peer) = match content.sent_to {
            Some(to) if sender == me => {
                let to = PublicKey::from_bytes(&to).map_err(|_| {
                    ClientError::InvalidMessage("a copy names an invalid recipient".into())
                })?;
                (Direction::Out, to)
            }
            Some(_) => {
                return Err(ClientError::InvalidMessage(
                    "another account sent a copy meant for this account's own devices".into(),
                ));
            }
            None => (Direction::In, sender),
        };
        let expires_at_ms = content
            .timer
            .filter(|t| t.mode == TimerMode::Send)
            .map(|t| content.sent_at_ms.saturating_add(t.after_ms));
        let record = HistoryRecord {
            message_id: hex::encode(content.message_id),
            direction,
            peer: peer.account_id().to_string(),
            text: content.text.clone(),
            sent_at_ms: content.sent_at_ms,
            version: 2,
            timer: content.timer,
            expires_at_ms,
        };
        self.profile.record_received_v2(&Received {
            envelope,
            record: &record,
            sessions: (&sender, &sender_device, &sessions),
            // Only a first message (a handshake answered) can consume a
            // prekey: the device is written again only then.
            device: incoming.new_handshake.is_some().then_some(&trial),
            handshake: incoming.new_handshake,
            now_ms: now,
            cursor,
        })?;
        self.forget_kept_session(&sender, sender_device);
        // The conversation follows the timer of the last message in it, on
        // every device of both sides.
        self.profile.set_timer(&peer, content.timer)?;
        *device = trial;
        Ok(content.timer.is_some_and(|t| t.mode == TimerMode::Read))
    }
}

/// A name for this device: the host's name, or "device".
fn default_device_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| {
            s.trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(32)
                .collect::<String>()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "device".to_owned())
}

impl Client {
    /// This account's live devices as its device list has them (this device
    /// published first if it is not listed yet), and this device's ID.
    pub async fn devices(
        &mut self,
    ) -> Result<(Vec<DeviceEntry>, nightjar_devices::DeviceId), ClientError> {
        let own = self.publish_device(false).await?;
        let me = self.profile.account_id();
        let known = self.refresh_devices(&me).await?;
        Ok((known.live().cloned().collect(), own.id()))
    }

    /// Removes a device from this account: publishes the next device list
    /// with the device's tombstone. Senders that read the new list send it
    /// nothing more. Removing this device itself is refused (restore the
    /// account on a new device instead, or remove this one from another).
    pub async fn remove_device(
        &mut self,
        id: &nightjar_devices::DeviceId,
    ) -> Result<(), ClientError> {
        let own = self.publish_device(false).await?;
        if own.id() == *id {
            return Err(ClientError::InvalidMessage(
                "this is the device you are using; remove it from another device of the account"
                    .into(),
            ));
        }
        let me = self.profile.account_id();
        for _ in 0..3 {
            let known = self.refresh_devices(&me).await?;
            let list = known
                .list()
                .ok_or_else(|| ClientError::Protocol("this account has no device list".into()))?;
            if known.removed().contains(id) {
                return Ok(());
            }
            let next = list
                .without_device(id, self.now_ms())
                .map_err(device_error)?;
            self.publish(DEVICE_LIST, &next.encode(), PUBLISHED_TTL)
                .await?;
        }
        let known = self.refresh_devices(&me).await?;
        if known.removed().contains(id) {
            Ok(())
        } else {
            Err(ClientError::Protocol(
                "the device list kept changing under the removal; try again".into(),
            ))
        }
    }
}

impl Client {
    /// Every unexpired envelope this account's swarm holds in one of its own
    /// mailboxes, as one member holds them, from the start (a diagnostic:
    /// the history is what [`Client::inbox`] fills; nothing is opened or
    /// recorded here).
    pub async fn mailbox_envelopes(
        &mut self,
        namespace: u16,
    ) -> Result<Vec<StoredMessage>, ClientError> {
        let me = self.profile.account_id();
        let node = self
            .members_for(&me)?
            .into_iter()
            .next()
            .ok_or(ClientError::Registry(
                nightjar_registry::RegistryError::Empty,
            ))?;
        self.sync_clock(&node).await?;
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let request = crate::logic::retrieve_request(
                self.profile.identity(),
                namespace,
                after,
                0,
                self.now_ms(),
            );
            let resp = self.call(&node, &request, crate::REQUEST_TIMEOUT).await?;
            match crate::failover::retrieve_answer(resp)? {
                crate::failover::RetrieveAnswer::Messages {
                    messages,
                    cursor,
                    more,
                } => {
                    all.extend(messages);
                    if !more || cursor <= after {
                        return Ok(all);
                    }
                    after = cursor;
                }
                crate::failover::RetrieveAnswer::WrongSwarm(_) => {
                    return Err(ClientError::Protocol(
                        "node is not in this account's swarm".into(),
                    ));
                }
            }
        }
    }
}

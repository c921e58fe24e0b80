//! Linking a device (docs/PROTOCOL.md §17): the existing device shows a
//! link code and answers the joining device's request; the joining device
//! enters the code, checks the short authentication string, and receives the
//! account seed and the history, end to end encrypted.

use std::time::Duration;

use nightjar_crypto::OsRandom;
use nightjar_crypto::identity::{AccountId, Identity};
use nightjar_crypto::link::{
    JoinerState, LinkCode, LinkError, Sas, answer_hello_with, open_request, seal_request_with,
};
use nightjar_devices::{DeviceId, OwnDevice};
use nightjar_registry::NetworkFile;
use nightjar_types::MessageHash;
use nightjar_types::namespace::{DEVICE_LIST, LINK_ANSWER, LINK_REQUESTS};

use super::Client;
use crate::messaging::link::{
    HISTORY_CHUNK_BYTES, JoinInfo, MAX_HISTORY_CHUNKS, decode_first_answer, decode_history_chunk,
    encode_first_answer, history_chunks,
};
use crate::{ClientError, Profile, clock};

/// How long link records live in the swarm: an hour (they are deleted as
/// soon as the link is done).
const LINK_TTL: Duration = Duration::from_secs(3_600);
/// How often a waiting side looks for the other side's next record.
const POLL: Duration = Duration::from_millis(500);

fn leaked() -> ClientError {
    ClientError::InvalidMessage(
        "more than one device used this link code, so it has leaked: nothing was sent; start again with a new code".into(),
    )
}

fn link_error(e: LinkError) -> ClientError {
    ClientError::InvalidMessage(e.to_string())
}

fn device_error(e: nightjar_devices::DeviceError) -> ClientError {
    ClientError::Protocol(e.to_string())
}

/// A device this device linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linked {
    /// The new device's ID.
    pub device_id: DeviceId,
    /// Its name.
    pub name: String,
    /// History records sent to it.
    pub history: usize,
}

/// Where and how a joining device makes its profile.
#[derive(Debug, Clone, Copy)]
pub struct JoinOptions<'a> {
    /// The new profile's directory (must not hold an account).
    pub dir: &'a std::path::Path,
    /// The passphrase for its key file, if any.
    pub passphrase: Option<&'a [u8]>,
    /// The network.
    pub network: &'a NetworkFile,
    /// The local address to send from.
    pub bind: std::net::SocketAddr,
    /// The new device's name.
    pub name: &'a str,
    /// How long to wait for the existing device.
    pub timeout: Duration,
}

/// A device that joined an account.
pub struct Joined {
    /// The account.
    pub account: AccountId,
    /// This (new) device's ID.
    pub device_id: DeviceId,
    /// History records received.
    pub history: usize,
    /// The connected client of the new profile.
    pub client: Client,
}

impl std::fmt::Debug for Joined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Joined")
            .field("account", &self.account)
            .field("device_id", &self.device_id)
            .field("history", &self.history)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A fresh link code for this account (show it to the user; it is
    /// secret until used).
    pub fn new_link_code(&self) -> Result<LinkCode, ClientError> {
        LinkCode::generate_with(&mut OsRandom, self.profile.identity().public_key())
            .map_err(link_error)
    }

    /// The existing device's side: waits (up to `timeout`) for a request
    /// made with `code`, publishes the hello, asks `confirm` whether the user
    /// sees the same short authentication string on the new device, and
    /// only then adds the device to the account and sends it the account
    /// seed and this profile's history. `on_sas` is told the string first.
    pub async fn link_device(
        &mut self,
        code: &LinkCode,
        timeout: Duration,
        confirm: &mut dyn FnMut(&Sas) -> bool,
    ) -> Result<Linked, ClientError> {
        self.publish_device(false).await?;
        let me = self.profile.account_id();
        let deadline = tokio::time::Instant::now() + timeout;
        // The request: exactly one per code (§17.7).
        let (request_hash, joiner, info) = loop {
            let mut found = self.requests_for(code).await?;
            if found.len() > 1 {
                return Err(leaked());
            }
            if let Some(found) = found.pop() {
                break found;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClientError::InvalidMessage(
                    "no device entered the link code in time".into(),
                ));
            }
            tokio::time::sleep(POLL).await;
        };
        // The history goes in answers of at most HISTORY_CHUNK_BYTES each,
        // at most MAX_HISTORY_CHUNKS of them: a record too long for one
        // answer stays behind, and beyond the limit the oldest do. Decided
        // before anything is sent, so a link never stops halfway.
        let all = self.profile.history()?;
        let total = all.len();
        let fits: Vec<crate::HistoryRecord> = all
            .into_iter()
            .filter(|r| serde_json::to_vec(r).is_ok_and(|j| j.len() + 2 <= HISTORY_CHUNK_BYTES))
            .collect();
        let mut chunks = history_chunks(&fits)?;
        let max = usize::try_from(MAX_HISTORY_CHUNKS).unwrap_or(usize::MAX);
        if chunks.len() > max {
            let extra = chunks.len() - max;
            chunks.drain(..extra);
        }
        let history_sent: usize = chunks
            .iter()
            .map(|c| decode_history_chunk(c).map(|v| v.len()).unwrap_or(0))
            .sum();
        if history_sent < total {
            tracing::warn!(
                left_out = total - history_sent,
                "messages too long (or too many) to carry over to the new device stay on this one"
            );
        }
        // The hello and the string both sides show.
        let (state, hello, sas) =
            answer_hello_with(&mut OsRandom, &code.secret, &joiner).map_err(link_error)?;
        self.publish(LINK_ANSWER, &hello, LINK_TTL).await?;
        if !confirm(&sas) {
            self.delete_own(LINK_REQUESTS, vec![request_hash]).await?;
            return Err(ClientError::InvalidMessage(
                "the codes did not match; nothing was sent to the other device".into(),
            ));
        }
        // A second request under the same code means the code leaked.
        if self.requests_for(code).await?.len() > 1 {
            return Err(leaked());
        }
        // The account's device list gains the device…
        for _ in 0..3 {
            let known = self.refresh_devices(&me).await?;
            if known.live_device(&info.device_id).is_some() {
                break;
            }
            let list = known
                .list()
                .ok_or_else(|| ClientError::Protocol("this account has no device list".into()))?;
            let next = list
                .with_device(info.device_id, info.identity_key, &info.name, self.now_ms())
                .map_err(device_error)?;
            self.publish(
                DEVICE_LIST,
                &next.encode(),
                Duration::from_millis(1_209_600_000),
            )
            .await?;
        }
        if self
            .refresh_devices(&me)
            .await?
            .live_device(&info.device_id)
            .is_none()
        {
            return Err(ClientError::Protocol(
                "could not add the device to the account's device list; try again".into(),
            ));
        }
        // …and the new device gets the seed, then the history.
        let count = u32::try_from(chunks.len())
            .map_err(|_| ClientError::InvalidMessage("history too large to link".into()))?;
        let first = encode_first_answer(self.profile.identity().seed(), count);
        let record = state.seal_answer(0, &first).map_err(link_error)?;
        self.publish(LINK_ANSWER, &record, LINK_TTL).await?;
        for (i, chunk) in chunks.iter().enumerate() {
            let index = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let record = state.seal_answer(index, chunk).map_err(link_error)?;
            self.publish(LINK_ANSWER, &record, LINK_TTL).await?;
        }
        self.delete_own(LINK_REQUESTS, vec![request_hash]).await?;
        Ok(Linked {
            device_id: info.device_id,
            name: info.name,
            history: history_sent,
        })
    }

    /// The requests in this account's link mailbox that open under `code`,
    /// one per joining key.
    async fn requests_for(
        &mut self,
        code: &LinkCode,
    ) -> Result<Vec<(MessageHash, nightjar_crypto::dh::DhPublic, JoinInfo)>, ClientError> {
        let mut found: Vec<(MessageHash, nightjar_crypto::dh::DhPublic, JoinInfo)> = Vec::new();
        for m in self.mailbox_envelopes(LINK_REQUESTS).await? {
            let Ok((joiner, payload)) = open_request(&code.secret, &m.data) else {
                continue;
            };
            let Ok(info) = JoinInfo::decode(&payload) else {
                continue;
            };
            if found.iter().all(|(_, j, _)| *j != joiner) {
                found.push((m.hash, joiner, info));
            }
        }
        Ok(found)
    }

    /// The joining device's side: with the link `code` the existing device
    /// shows, sends a request for a new device named `name`, waits for the
    /// hello, asks `confirm` whether the strings match, receives the seed
    /// and the history, and makes the profile in `dir` (which must not hold
    /// an account). Returns the new profile's client.
    pub async fn join_device(
        options: &JoinOptions<'_>,
        code: &LinkCode,
        confirm: &mut dyn FnMut(&Sas) -> bool,
    ) -> Result<Joined, ClientError> {
        let JoinOptions {
            dir,
            passphrase,
            network,
            bind,
            name,
            timeout,
        } = *options;
        if Profile::exists(dir) {
            return Err(ClientError::ProfileExists(dir.to_path_buf()));
        }
        let account = code.account.account_id();
        let device = OwnDevice::generate_with(&mut OsRandom, name, clock::unix_now_ms())
            .map_err(device_error)?;
        // A throwaway profile reaches the network until the seed arrives.
        let scratch = tempfile::tempdir().map_err(|source| ClientError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
        let guest = Profile::create(scratch.path(), Identity::generate()?, None)?;
        let mut client = Client::connect(guest, network, bind).await?;
        let info = JoinInfo {
            device_id: device.id(),
            identity_key: device.identity_public(),
            name: name.to_owned(),
        };
        let (joiner, request): (JoinerState, Vec<u8>) =
            seal_request_with(&mut OsRandom, &code.secret, &info.encode()).map_err(link_error)?;
        client
            .store_in(&account, LINK_REQUESTS, request, 3_600_000)
            .await?;
        let deadline = tokio::time::Instant::now() + timeout;
        let late = || {
            ClientError::InvalidMessage(
                "the existing device did not answer in time (is `nightjar device link` still running?)".into(),
            )
        };
        // The hello (only from a record the account signed: `published`
        // checks every record's signature).
        let mut hashes: Vec<MessageHash> = Vec::new();
        let session = loop {
            let records = client.published(&account, LINK_ANSWER).await?;
            if let Some((hash, found)) = records
                .iter()
                .find_map(|r| Some((r.hash, joiner.open_hello(&code.secret, &r.body).ok()?)))
            {
                hashes.push(hash);
                break found;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(late());
            }
            tokio::time::sleep(POLL).await;
        };
        let (session, sas) = session;
        if !confirm(&sas) {
            return Err(ClientError::InvalidMessage(
                "the codes did not match; this device stays unlinked".into(),
            ));
        }
        // The seed, then the history.
        let (seed, count) = loop {
            let records = client.published(&account, LINK_ANSWER).await?;
            if let Some((hash, plain)) = records.iter().find_map(|r| {
                let (index, plain) = session.open_answer(&r.body).ok()?;
                (index == 0).then_some((r.hash, plain))
            }) {
                hashes.push(hash);
                break decode_first_answer(&plain)?;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(late());
            }
            tokio::time::sleep(POLL).await;
        };
        let mut chunks: Vec<Option<Vec<crate::HistoryRecord>>> =
            vec![None; usize::try_from(count).unwrap_or(0)];
        while chunks.iter().any(Option::is_none) {
            for r in client.published(&account, LINK_ANSWER).await? {
                if let Ok((index, plain)) = session.open_answer(&r.body)
                    && let Some(slot) = index
                        .checked_sub(1)
                        .and_then(|i| chunks.get_mut(usize::try_from(i).ok()?))
                    && slot.is_none()
                {
                    *slot = Some(decode_history_chunk(&plain)?);
                    hashes.push(r.hash);
                }
            }
            if chunks.iter().any(Option::is_none) {
                if tokio::time::Instant::now() >= deadline {
                    return Err(late());
                }
                tokio::time::sleep(POLL).await;
            }
        }
        client.close().await;
        let identity = Identity::from_seed(seed);
        if identity.public_key() != code.account {
            return Err(ClientError::InvalidMessage(
                "the seed received is not the account's".into(),
            ));
        }
        let mut profile = Profile::create(dir, identity, passphrase)?;
        profile.save_own_device(&device)?;
        let history: Vec<crate::HistoryRecord> = chunks.into_iter().flatten().flatten().collect();
        profile.import_history(&history)?;
        let mut client = Client::connect(profile, network, bind).await?;
        client.publish_device(true).await?;
        // The answers carry the seed: gone from the swarm now.
        if let Err(e) = client.delete_own(LINK_ANSWER, hashes).await {
            tracing::warn!(error = %e, "could not delete the link answers from the swarm (they expire within an hour)");
        }
        Ok(Joined {
            account,
            device_id: device.id(),
            history: history.len(),
            client,
        })
    }
}

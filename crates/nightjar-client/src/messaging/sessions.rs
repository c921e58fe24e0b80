//! [`SessionSet`]: the sessions this device keeps with one peer device.

use nightjar_ratchet::{MAX_STATE_LEN, RatchetError, Session};
use zeroize::Zeroizing;

use crate::ClientError;

/// Most sessions kept with one peer device.
pub const MAX_SESSIONS_PER_DEVICE: usize = 5;
/// The format byte of [`SessionSet::encode`].
const FORMAT: u8 = 1;

/// The sessions with one peer device, the active one first.
///
/// Two devices that each start a session with the other before reading the
/// other's first message end up with two sessions each. Every session is
/// kept (up to [`MAX_SESSIONS_PER_DEVICE`], the least recently used dropped
/// first) and tried on an incoming message; the one that decrypts becomes
/// the active one, which sending uses — so both sides settle on the same
/// session after one round trip.
#[derive(Clone, Default)]
pub struct SessionSet {
    sessions: Vec<Session>,
}

impl std::fmt::Debug for SessionSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionSet")
            .field("sessions", &self.sessions.len())
            .finish()
    }
}

impl SessionSet {
    /// No session.
    #[must_use]
    pub fn new() -> SessionSet {
        SessionSet::default()
    }

    /// Whether there is no session.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// How many sessions there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// The active session (the one sending uses).
    #[must_use]
    pub fn active(&self) -> Option<&Session> {
        self.sessions.first()
    }

    /// The active session, to change.
    pub fn active_mut(&mut self) -> Option<&mut Session> {
        self.sessions.first_mut()
    }

    /// Passes over the active session's next sending key
    /// ([`Session::skip_send_key`]); `Ok(false)`, with nothing changed,
    /// when there is no active session or its next message starts a new
    /// chain.
    pub fn skip_send_key(&mut self) -> Result<bool, ClientError> {
        match self.sessions.first_mut() {
            Some(s) => s
                .skip_send_key()
                .map_err(|e| ClientError::Protocol(format!("session: {e}"))),
            None => Ok(false),
        }
    }

    /// Makes `session` the active one, dropping the least recently used
    /// beyond [`MAX_SESSIONS_PER_DEVICE`].
    pub fn push_active(&mut self, session: Session) {
        self.sessions.insert(0, session);
        self.sessions.truncate(MAX_SESSIONS_PER_DEVICE);
    }

    /// Whether one of the sessions answered the handshake `message` starts
    /// (an initial message the peer repeats until it reads a reply).
    #[must_use]
    pub fn answered(&self, message: &[u8]) -> bool {
        self.sessions.iter().any(|s| s.matches_initial(message))
    }

    /// Whether one of the sessions came from handshake `id`.
    #[must_use]
    pub fn has_handshake(&self, id: &[u8; 32]) -> bool {
        self.sessions.iter().any(|s| s.handshake_id() == id)
    }

    /// Decrypts with the first session that can (the active one first) and
    /// makes that one active. Sessions that fail are unchanged; the error is
    /// the active session's.
    pub fn decrypt(&mut self, message: &[u8]) -> Result<Zeroizing<Vec<u8>>, RatchetError> {
        let mut first_error = None;
        for i in 0..self.sessions.len() {
            let Some(session) = self.sessions.get_mut(i) else {
                break;
            };
            match session.decrypt(message) {
                Ok(plain) => {
                    let used = self.sessions.remove(i);
                    self.sessions.insert(0, used);
                    return Ok(plain);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or(RatchetError::UnknownHeader))
    }

    /// The sessions' bytes, to store encrypted at rest:
    /// `[1] ‖ count (1) ‖ (u32be length ‖ session state)*`.
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(vec![FORMAT, self.sessions.len() as u8]);
        for s in &self.sessions {
            let state = s.to_bytes();
            out.extend_from_slice(&(state.len() as u32).to_be_bytes());
            out.extend_from_slice(&state);
        }
        out
    }

    /// Reads stored sessions, refusing more than [`MAX_SESSIONS_PER_DEVICE`],
    /// states over the ratchet's limit, or trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<SessionSet, ClientError> {
        let bad = |why: &str| ClientError::Protocol(format!("stored sessions: {why}"));
        let [format, count, rest @ ..] = bytes else {
            return Err(bad("truncated"));
        };
        if *format != FORMAT {
            return Err(bad("unknown format"));
        }
        if usize::from(*count) > MAX_SESSIONS_PER_DEVICE {
            return Err(bad("too many sessions"));
        }
        let mut rest = rest;
        let mut sessions = Vec::with_capacity(usize::from(*count));
        for _ in 0..*count {
            let (len, tail) = rest
                .split_first_chunk::<4>()
                .ok_or_else(|| bad("truncated"))?;
            let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| bad("length"))?;
            if len > MAX_STATE_LEN {
                return Err(bad("state too large"));
            }
            let (state, tail) = tail.split_at_checked(len).ok_or_else(|| bad("truncated"))?;
            sessions.push(
                Session::from_bytes(state)
                    .map_err(|e| ClientError::Protocol(format!("stored session: {e}")))?,
            );
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok(SessionSet { sessions })
    }
}

//! [`ContentV2`]: the plaintext inside a v2 message.

use prost::Message;

use crate::ClientError;

/// Longest encoded content: what fits a v2 envelope's largest bucket with
/// the ratchet's and the sealed layer's overhead (a first message carries
/// about 4.6 KB of keys and ciphertexts).
pub const MAX_CONTENT_V2_LEN: usize = 57_344;
/// A message ID's length (random, the same in every device's copy).
pub const MESSAGE_ID_LEN: usize = 32;
/// Shortest disappearing timer, in ms (the swarm keeps a message at least
/// 10 s).
pub const MIN_TIMER_MS: u64 = 10_000;
/// Longest disappearing timer, in ms: the swarm's 14 days.
pub const MAX_TIMER_MS: u64 = 1_209_600_000;

/// When a disappearing message's timer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimerMode {
    /// When it was sent.
    Send,
    /// When this device first showed it.
    Read,
}

/// A conversation's disappearing-message timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Timer {
    /// How long a message lives, in ms ([`MIN_TIMER_MS`]..=[`MAX_TIMER_MS`]).
    pub after_ms: u64,
    /// When the time starts.
    pub mode: TimerMode,
}

/// The plaintext of one v2 message.
#[derive(Clone, PartialEq, Eq)]
pub struct ContentV2 {
    /// The message ID: random, the same in the copy for every device.
    pub message_id: [u8; MESSAGE_ID_LEN],
    /// The text.
    pub text: String,
    /// The sender's (clock-corrected) time of sending, Unix ms.
    pub sent_at_ms: u64,
    /// The conversation's disappearing timer when it was sent, if on.
    pub timer: Option<Timer>,
    /// On a copy for the sender's own other devices: the account it was
    /// sent to (so they file it under that conversation, as sent).
    pub sent_to: Option<[u8; 32]>,
}

/// Shows the ID and sizes, never the text.
impl std::fmt::Debug for ContentV2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentV2")
            .field("message_id", &hex::encode(&self.message_id[..4]))
            .field("text_len", &self.text.len())
            .field("timer", &self.timer)
            .field("sync", &self.sent_to.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, prost::Message)]
struct ContentProto {
    #[prost(bytes = "vec", tag = "1")]
    message_id: Vec<u8>,
    #[prost(string, tag = "2")]
    text: String,
    #[prost(uint64, tag = "3")]
    sent_at_ms: u64,
    #[prost(message, optional, tag = "4")]
    timer: Option<TimerProto>,
    #[prost(bytes = "vec", tag = "5")]
    sent_to: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TimerProto {
    #[prost(uint64, tag = "1")]
    after_ms: u64,
    #[prost(uint32, tag = "2")]
    mode: u32,
}

fn bad(why: impl Into<String>) -> ClientError {
    ClientError::InvalidMessage(why.into())
}

impl Timer {
    /// Checks the range.
    pub fn check(&self) -> Result<(), ClientError> {
        if !(MIN_TIMER_MS..=MAX_TIMER_MS).contains(&self.after_ms) {
            return Err(bad(format!(
                "a disappearing timer is 10 seconds to 14 days, not {} ms",
                self.after_ms
            )));
        }
        Ok(())
    }
}

impl ContentV2 {
    /// The encoding (protobuf, fields in tag order, defaults omitted).
    pub fn encode(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, ClientError> {
        if let Some(t) = &self.timer {
            t.check()?;
        }
        let bytes = zeroize::Zeroizing::new(
            ContentProto {
                message_id: self.message_id.to_vec(),
                text: self.text.clone(),
                sent_at_ms: self.sent_at_ms,
                timer: self.timer.map(|t| TimerProto {
                    after_ms: t.after_ms,
                    mode: match t.mode {
                        TimerMode::Send => 0,
                        TimerMode::Read => 1,
                    },
                }),
                sent_to: self.sent_to.map(|a| a.to_vec()).unwrap_or_default(),
            }
            .encode_to_vec(),
        );
        if bytes.len() > MAX_CONTENT_V2_LEN {
            return Err(bad(format!(
                "the message is {} bytes encoded, more than the {MAX_CONTENT_V2_LEN} a v2 message carries",
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    /// Reads a content, refusing one over [`MAX_CONTENT_V2_LEN`] bytes, with
    /// a message ID or `sent_to` of the wrong length, or a timer out of range.
    pub fn decode(bytes: &[u8]) -> Result<ContentV2, ClientError> {
        if bytes.len() > MAX_CONTENT_V2_LEN {
            return Err(bad("content too large"));
        }
        let raw = ContentProto::decode(bytes).map_err(|e| bad(format!("content: {e}")))?;
        let message_id = <[u8; MESSAGE_ID_LEN]>::try_from(raw.message_id.as_slice())
            .map_err(|_| bad("content: message ID is not 32 bytes"))?;
        let sent_to = match raw.sent_to.len() {
            0 => None,
            _ => Some(
                <[u8; 32]>::try_from(raw.sent_to.as_slice())
                    .map_err(|_| bad("content: sent_to is not 32 bytes"))?,
            ),
        };
        let timer = match raw.timer {
            None => None,
            Some(t) => {
                let mode = match t.mode {
                    0 => TimerMode::Send,
                    1 => TimerMode::Read,
                    other => return Err(bad(format!("content: unknown timer mode {other}"))),
                };
                let timer = Timer {
                    after_ms: t.after_ms,
                    mode,
                };
                timer.check()?;
                Some(timer)
            }
        };
        Ok(ContentV2 {
            message_id,
            text: raw.text,
            sent_at_ms: raw.sent_at_ms,
            timer,
            sent_to,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn content_round_trips_and_refuses_bad_fields() {
        let c = ContentV2 {
            message_id: [1; 32],
            text: "hello".into(),
            sent_at_ms: 5,
            timer: Some(Timer {
                after_ms: 60_000,
                mode: TimerMode::Read,
            }),
            sent_to: Some([2; 32]),
        };
        assert_eq!(ContentV2::decode(&c.encode().unwrap()).unwrap(), c);
        let mut short = c.clone();
        short.timer = Some(Timer {
            after_ms: 5,
            mode: TimerMode::Send,
        });
        assert!(short.encode().is_err());
        let long = ContentV2 {
            text: "x".repeat(MAX_CONTENT_V2_LEN),
            ..c.clone()
        };
        assert!(long.encode().is_err());
        let mut raw = ContentProto::decode(c.encode().unwrap().as_slice()).unwrap();
        raw.message_id.pop();
        assert!(ContentV2::decode(&raw.encode_to_vec()).is_err());
        assert!(!format!("{c:?}").contains("hello"));
    }
}

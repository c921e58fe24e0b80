//! The delivery state of each message in the open chat, and how answers
//! and notifications move it: an own message is "sending" from Enter until
//! `send` answers, then "stored" (the swarm acknowledged it) or "failed"
//! with the reason.

use crate::model::{Direction, Message, Sent};

/// Where a message stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Received from the peer.
    Received,
    /// Handed to the daemon; no answer yet.
    Sending,
    /// The recipient's swarm stored it (a write quorum acknowledged it).
    Stored,
    /// Sending failed; the reason.
    Failed(String),
}

impl Delivery {
    /// The short label drawn next to an own message.
    pub fn label(&self) -> String {
        match self {
            Delivery::Received => String::new(),
            Delivery::Sending => "sending…".to_owned(),
            Delivery::Stored => "✓ stored".to_owned(),
            Delivery::Failed(why) => format!("✗ failed: {why}"),
        }
    }
}

/// One message of the open chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// Its ID, once known (a message being sent has none yet).
    pub message_id: Option<String>,
    /// The [`crate::Action::Send`] token of a message sent from here.
    pub token: Option<u64>,
    /// In or out.
    pub direction: Direction,
    /// The text.
    pub text: String,
    /// When it was sent (Unix ms).
    pub sent_at: u64,
    /// When it disappears, if known.
    pub expires_at: Option<u64>,
    /// Its delivery state.
    pub delivery: Delivery,
}

impl ChatMessage {
    /// A message from history or a notification. Own messages there were
    /// accepted by the swarm (the daemon records them after the store).
    pub fn from_message(m: &Message) -> ChatMessage {
        ChatMessage {
            message_id: Some(m.message_id.clone()),
            token: None,
            direction: m.direction,
            text: m.text.clone(),
            sent_at: m.sent_at,
            expires_at: m.expires_at,
            delivery: match m.direction {
                Direction::In => Delivery::Received,
                Direction::Out => Delivery::Stored,
            },
        }
    }
}

/// The messages of one chat, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Thread {
    /// The messages.
    pub messages: Vec<ChatMessage>,
}

impl Thread {
    /// Adds a message being sent (state "sending").
    pub fn push_sending(&mut self, token: u64, text: String, now_ms: u64) {
        self.messages.push(ChatMessage {
            message_id: None,
            token: Some(token),
            direction: Direction::Out,
            text,
            sent_at: now_ms,
            expires_at: None,
            delivery: Delivery::Sending,
        });
    }

    /// `send` answered for `token`. A notification for the same message may
    /// have come first: then that copy goes and this one takes its ID.
    /// Returns whether the token was in this thread.
    pub fn sent(&mut self, token: u64, result: &Result<Sent, String>) -> bool {
        let Some(pos) = self.messages.iter().position(|m| m.token == Some(token)) else {
            return false;
        };
        match result {
            Ok(sent) => {
                self.messages
                    .retain(|m| m.message_id.as_deref() != Some(sent.message_id.as_str()));
                if let Some(m) = self.messages.iter_mut().find(|m| m.token == Some(token)) {
                    m.message_id = Some(sent.message_id.clone());
                    m.sent_at = sent.sent_at;
                    m.expires_at = sent.expires_at;
                    m.delivery = Delivery::Stored;
                }
            }
            Err(why) => {
                if let Some(m) = self.messages.get_mut(pos) {
                    m.delivery = Delivery::Failed(why.clone());
                }
            }
        }
        true
    }

    /// A message arrived (or was sent, by this or another client): added
    /// unless it is already here.
    pub fn notified(&mut self, m: &Message) {
        if self
            .messages
            .iter()
            .any(|c| c.message_id.as_deref() == Some(m.message_id.as_str()))
        {
            return;
        }
        self.messages.push(ChatMessage::from_message(m));
    }

    /// History answered: it replaces what is here, except messages still
    /// sending or failed (not in the daemon's history) and any that came in
    /// by notification after the history was read.
    pub fn history(&mut self, history: &[Message]) {
        let mut merged: Vec<ChatMessage> = history.iter().map(ChatMessage::from_message).collect();
        for m in self.messages.drain(..) {
            let known = m
                .message_id
                .as_deref()
                .is_some_and(|id| history.iter().any(|h| h.message_id == id));
            if !known && (m.message_id.is_some() || m.delivery != Delivery::Stored) {
                merged.push(m);
            }
        }
        // Keep time order stable for those merged in.
        merged.sort_by_key(|m| m.sent_at);
        self.messages = merged;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str, dir: Direction, at: u64) -> Message {
        Message {
            message_id: id.into(),
            direction: dir,
            peer: "nj1peer".into(),
            name: None,
            from: "nj1peer".into(),
            to: None,
            text: format!("text {id}"),
            sent_at: at,
            version: 2,
            expires_at: None,
            read: false,
        }
    }

    fn sent(id: &str) -> Sent {
        Sent {
            message_id: id.into(),
            sent_at: 50,
            version: 2,
            fallback: None,
            expires_at: None,
            to: "nj1peer".into(),
        }
    }

    #[test]
    fn sending_then_stored_or_failed() {
        let mut t = Thread::default();
        t.push_sending(1, "a".into(), 10);
        t.push_sending(2, "b".into(), 11);
        assert_eq!(t.messages[0].delivery, Delivery::Sending);
        assert!(t.sent(1, &Ok(sent("m1"))));
        assert!(t.sent(2, &Err("no paths".into())));
        assert!(!t.sent(3, &Err("x".into())));
        assert_eq!(t.messages[0].delivery, Delivery::Stored);
        assert_eq!(t.messages[0].message_id.as_deref(), Some("m1"));
        assert_eq!(t.messages[1].delivery, Delivery::Failed("no paths".into()));
        assert_eq!(t.messages[1].delivery.label(), "✗ failed: no paths");
    }

    #[test]
    fn a_notification_before_or_after_the_answer_shows_the_message_once() {
        // Notification first.
        let mut t = Thread::default();
        t.push_sending(1, "a".into(), 10);
        t.notified(&msg("m1", Direction::Out, 50));
        assert_eq!(t.messages.len(), 2);
        t.sent(1, &Ok(sent("m1")));
        assert_eq!(t.messages.len(), 1);
        assert_eq!(t.messages[0].delivery, Delivery::Stored);
        // Answer first.
        let mut t = Thread::default();
        t.push_sending(1, "a".into(), 10);
        t.sent(1, &Ok(sent("m1")));
        t.notified(&msg("m1", Direction::Out, 50));
        assert_eq!(t.messages.len(), 1);
    }

    #[test]
    fn history_keeps_pending_and_failed_messages() {
        let mut t = Thread::default();
        t.push_sending(1, "pending".into(), 100);
        t.push_sending(2, "failed".into(), 101);
        t.sent(2, &Err("boom".into()));
        t.notified(&msg("late", Direction::In, 102));
        t.history(&[msg("h1", Direction::In, 1), msg("h2", Direction::Out, 2)]);
        let states: Vec<_> = t.messages.iter().map(|m| m.delivery.clone()).collect();
        assert_eq!(
            states,
            vec![
                Delivery::Received,
                Delivery::Stored,
                Delivery::Sending,
                Delivery::Failed("boom".into()),
                Delivery::Received
            ]
        );
        // A second history that includes the late one does not duplicate it.
        t.history(&[msg("h1", Direction::In, 1), msg("late", Direction::In, 102)]);
        assert_eq!(
            t.messages
                .iter()
                .filter(|m| m.message_id.as_deref() == Some("late"))
                .count(),
            1
        );
    }
}

//! [`OwnPrekeys`]: this device's prekey secrets as the handshake's responder
//! reads and consumes them.

use nightjar_crypto::dh::DhSecret;
use nightjar_crypto::kem::MlKemSecretKey;
use nightjar_devices::OwnDevice;
use nightjar_ratchet::PrekeyStore;

/// The prekey secrets of [`OwnDevice`], for [`nightjar_ratchet::Session::respond`].
///
/// A one-time prekey pair shares one ID for its X25519 and ML-KEM halves;
/// consuming either half removes the pair (the driver then saves the device
/// state, which makes the removal final).
#[derive(Debug)]
pub struct OwnPrekeys<'a>(pub &'a mut OwnDevice);

impl PrekeyStore for OwnPrekeys<'_> {
    fn signed_prekey(&self, id: u32) -> Option<DhSecret> {
        self.0.signed_prekey(id).cloned()
    }

    fn one_time_prekey(&self, id: u32) -> Option<DhSecret> {
        self.0.peek_one_time(id).map(|s| s.x25519)
    }

    fn kem_prekey(&self, id: u32, one_time: bool) -> Option<MlKemSecretKey> {
        if one_time {
            self.0.peek_one_time(id).map(|s| s.kem.secret_key().clone())
        } else {
            self.0.kem_prekey(id).map(|k| k.secret_key().clone())
        }
    }

    fn consume_one_time_prekey(&mut self, id: u32) {
        self.0.take_one_time(id);
    }

    fn consume_kem_one_time_prekey(&mut self, id: u32) {
        self.0.take_one_time(id);
    }
}

#!/usr/bin/env python3
"""Independent check of Nightjar's messages-v2 vectors (docs/PROTOCOL.md §14-§15).

Recomputes test-vectors/pqxdh.json and test-vectors/ratchet.json from their
inputs and recorded randomness with libsodium (PyNaCl: crypto_scalarmult,
crypto_generichash with a key, XChaCha20-Poly1305-IETF) and kyber-py's
ML-KEM-768 (KeyGen_internal / Encaps_internal from the vector's randomness),
including a receiver written here from the specification (header trial
decryption, skipped keys, ratchet steps), and runs the NIST ML-KEM-768
known-answer tests (mlkem768_nistkats.json) and NIST's ACVP ML-KEM-768
vectors (mlkem768_acvp.json, with the FIPS 203 key checks written here)
through kyber-py.

    pip install pynacl kyber-py==1.2.0
    python3 test-vectors/check_v2.py

Exits non-zero on any mismatch; ends with 'N passed, M failed'.
"""

import copy
import hashlib
import sys

try:
    import nacl.bindings as sodium
except ImportError:  # pragma: no cover
    sys.exit("PyNaCl is required: pip install pynacl")
try:
    from kyber_py.ml_kem import ML_KEM_768
except ImportError:  # pragma: no cover
    sys.exit("kyber-py is required: pip install kyber-py")

from vectors_common import check, crashed, finish, load_json, open_, seal, unhex, x25519
from vectors_common import blake2b as keyed_blake2b

MAX_SKIP = 1000
MAX_SKIPPED_KEYS = 2000
HEADER_LEN = 32 + 4 + 4 + 1184 + 1088
ENC_HEADER_LEN = HEADER_LEN + 16


# --- primitives ---------------------------------------------------------------

def blake2b(data, outlen, label):
    """crypto_generichash(out, outlen, data, key = label)."""
    return keyed_blake2b(data, outlen, label.encode("ascii"))


def x25519_base(secret):
    return sodium.crypto_scalarmult_base(secret)


def kem_keygen(seed):
    """ML-KEM-768 KeyGen_internal(d, z), seed = d || z -> (ek, dk)."""
    return ML_KEM_768._keygen_internal(seed[:32], seed[32:])


def kem_encaps(ek, m):
    """ML-KEM-768 Encaps_internal(ek, m) -> (ciphertext, shared secret)."""
    k, c = ML_KEM_768._encaps_internal(ek, m)
    return c, k


def kem_decaps(dk, c):
    return ML_KEM_768.decaps(dk, c)


# --- the key schedule (§14.3, §15.2) -------------------------------------------

def root_kdf(rk, dh_out, ss):
    data = rk + dh_out + ss
    out = blake2b(data, 64, "nightjar/v2/ratchet-root")
    return out[:32], out[32:], blake2b(data, 32, "nightjar/v2/ratchet-next-header")


def chain_kdf(ck):
    return (blake2b(ck, 32, "nightjar/v2/ratchet-chain"),
            blake2b(ck, 32, "nightjar/v2/ratchet-message"))


def message_key_nonce(mk):
    h = blake2b(mk, 56, "nightjar/v2/message-key")
    return h[:32], h[32:]


def u32(n):
    return n.to_bytes(4, "big")


# --- the handshake --------------------------------------------------------------

def handshake(tag, c):
    """Recomputes a handshake; returns (AD, RK0, HK_I, NHK_R, handshake bytes, keys)."""
    ik_i, ik_r = unhex(c["initiator_identity_secret"]), unhex(c["responder_identity_secret"])
    spk, ek = unhex(c["signed_prekey_secret"]), unhex(c["ephemeral_secret"])
    check(f"{tag} IK_I", x25519_base(ik_i), unhex(c["initiator_identity_public"]))
    check(f"{tag} IK_R", x25519_base(ik_r), unhex(c["responder_identity_public"]))
    check(f"{tag} SPK_R", x25519_base(spk), unhex(c["signed_prekey_public"]))
    check(f"{tag} EK_I", x25519_base(ek), unhex(c["ephemeral_public"]))
    ik_i_pub, ik_r_pub = x25519_base(ik_i), x25519_base(ik_r)
    spk_pub, ek_pub = x25519_base(spk), x25519_base(ek)
    opk = unhex(c["one_time_prekey_secret"]) if c["one_time_prekey_secret"] else None
    opk_pub = x25519_base(opk) if opk else None
    if opk:
        check(f"{tag} OPK_R", opk_pub, unhex(c["one_time_prekey_public"]))
    pq_ek, pq_dk = kem_keygen(unhex(c["kem_prekey_seed"]))
    check(f"{tag} PQPK_R", pq_ek, unhex(c["kem_prekey_public"]))
    ct, ss = kem_encaps(pq_ek, unhex(c["kem_randomness"]))
    check(f"{tag} KEM ciphertext", ct, unhex(c["kem_ciphertext"]))
    check(f"{tag} KEM shared secret", ss, unhex(c["kem_shared_secret"]))
    check(f"{tag} KEM decapsulation", kem_decaps(pq_dk, ct), ss)

    dh1, dh2, dh3 = x25519(ik_i, spk_pub), x25519(ek, ik_r_pub), x25519(ek, spk_pub)
    dh4 = x25519(ek, opk_pub) if opk else None
    # The responder's side of each agreement.
    check(f"{tag} DH1", dh1, x25519(spk, ik_i_pub))
    check(f"{tag} DH2", dh2, x25519(ik_r, ek_pub))
    check(f"{tag} DH3", dh3, x25519(spk, ek_pub))
    for name, value in [("dh1", dh1), ("dh2", dh2), ("dh3", dh3)]:
        check(f"{tag} {name}", value, unhex(c[name]))
    if opk:
        check(f"{tag} DH4", dh4, x25519(opk, ek_pub))
        check(f"{tag} dh4", dh4, unhex(c["dh4"]))
    else:
        check(f"{tag} dh4 absent", c["dh4"], None)

    context = unhex(c["context"])
    ad = ik_i_pub + ik_r_pub + len(context).to_bytes(2, "big") + context
    check(f"{tag} AD", ad, unhex(c["associated_data"]))
    flags = (1 if opk else 0) | (2 if c["kem_prekey_one_time"] else 0)
    check(f"{tag} flags", flags, c["flags"])
    t = ad + ek_pub + u32(c["signed_prekey_id"]) + spk_pub + bytes([flags])
    if opk:
        t += u32(c["one_time_prekey_id"]) + opk_pub
    t += u32(c["kem_prekey_id"]) + pq_ek + ct
    check(f"{tag} transcript", t, unhex(c["transcript"]))
    th = blake2b(t, 32, "nightjar/v2/pqxdh-transcript")
    check(f"{tag} TH", th, unhex(c["transcript_hash"]))
    sk = blake2b(th + dh1 + dh2 + dh3 + (dh4 or b"") + ss, 32, "nightjar/v2/pqxdh-secret")
    check(f"{tag} SK", sk, unhex(c["secret"]))
    rk0 = blake2b(sk, 32, "nightjar/v2/pqxdh-root")
    hk_i = blake2b(sk, 32, "nightjar/v2/pqxdh-initiator-header")
    nhk_r = blake2b(sk, 32, "nightjar/v2/pqxdh-responder-header")
    check(f"{tag} RK0", rk0, unhex(c["root_key"]))
    check(f"{tag} HK_I", hk_i, unhex(c["initiator_header_key"]))
    check(f"{tag} NHK_R", nhk_r, unhex(c["responder_next_header_key"]))
    hs = bytes([0x01]) + ik_i_pub + ek_pub + u32(c["signed_prekey_id"]) + bytes([flags])
    if opk:
        hs += u32(c["one_time_prekey_id"])
    hs += u32(c["kem_prekey_id"]) + ct
    check(f"{tag} handshake bytes", hs, unhex(c["handshake_bytes"]))

    initiator = Side(rk0, ad, nhks=hk_i, nhkr=nhk_r)
    initiator.peer_dh, initiator.peer_kem, initiator.pending = spk_pub, pq_ek, True
    responder = Side(rk0, ad, nhks=nhk_r, nhkr=hk_i)
    responder.dh_sk, responder.dh_pk = spk, spk_pub
    responder.kem_ek, responder.kem_dk = pq_ek, pq_dk
    responder.acknowledged = True
    return hs, initiator, responder


# --- the ratchet, written from §15 ----------------------------------------------

class Refused(Exception):
    """A message the receiver must refuse; the reason is the message."""


class Side:
    def __init__(self, root, ad, nhks, nhkr):
        self.root, self.ad = root, ad
        self.dh_sk = self.dh_pk = self.kem_ek = self.kem_dk = None
        self.peer_dh = self.peer_kem = None
        self.send = None          # [ck, hk, n, kem ciphertext]
        self.recv = None          # [ck, hk, n]
        self.nhks, self.nhkr = nhks, nhkr
        self.pn = 0
        self.pending = False
        self.skipped = []         # [(hk, n, mk)], oldest first
        self.acknowledged = False

    # sending -----------------------------------------------------------------
    def encrypt(self, tag, plaintext, ev):
        if self.pending != ("step" in ev):
            check(f"{tag} a step is due exactly when the vector has one", "step" in ev, self.pending)
        if "step" in ev:
            st = ev["step"]
            dh_sk = unhex(st["dh_secret"])
            dh_pk = x25519_base(dh_sk)
            kem_ek, kem_dk = kem_keygen(unhex(st["kem_seed"]))
            ct, ss = kem_encaps(self.peer_kem, unhex(st["kem_randomness"]))
            dh_out = x25519(dh_sk, self.peer_dh)
            rk, ck, nhk = root_kdf(self.root, dh_out, ss)
            for name, value in [("dh_public", dh_pk), ("peer_dh_public", self.peer_dh),
                                ("dh_output", dh_out), ("kem_public", kem_ek),
                                ("peer_kem_public", self.peer_kem), ("kem_ciphertext", ct),
                                ("kem_shared_secret", ss), ("root_key_before", self.root),
                                ("root_key", rk), ("chain_key", ck), ("header_key", self.nhks),
                                ("next_header_key", nhk)]:
                check(f"{tag} step {name}", value, unhex(st[name]))
            self.pn = self.send[2] if self.send else 0
            self.send = [ck, self.nhks, 0, ct]
            self.nhks, self.root = nhk, rk
            self.dh_sk, self.dh_pk, self.kem_ek, self.kem_dk = dh_sk, dh_pk, kem_ek, kem_dk
            self.pending = False
        ck, hk, n, ct = self.send
        next_ck, mk = chain_kdf(ck)
        header = self.dh_pk + u32(self.pn) + u32(n) + self.kem_ek + ct
        nonce = unhex(ev["header_nonce"])
        enc_header = seal(hk, nonce, self.ad, header)
        wire = bytes([0x02]) + nonce + enc_header
        key, body_nonce = message_key_nonce(mk)
        body = seal(key, body_nonce, self.ad + wire, plaintext)
        for name, value in [("n", n), ("previous_chain_len", self.pn)]:
            check(f"{tag} {name}", value, ev[name])
        for name, value in [("chain_key", ck), ("next_chain_key", next_ck), ("header_key", hk),
                            ("message_key", mk), ("aead_key", key), ("aead_nonce", body_nonce),
                            ("header", header), ("encrypted_header", enc_header), ("body", body)]:
            check(f"{tag} {name}", value, unhex(ev[name]))
        self.send = [next_ck, hk, n + 1, ct]
        return wire + body

    # receiving ---------------------------------------------------------------
    def decrypt(self, ratchet_message):
        """Returns (plaintext, message key) and updates the state, or raises
        Refused and leaves it as it was."""
        trial = copy.deepcopy(self)
        mk = trial._message_key(ratchet_message)
        nonce_and_header = ratchet_message[:1 + 24 + ENC_HEADER_LEN]
        key, body_nonce = message_key_nonce(mk)
        plain = open_(key, body_nonce, self.ad + nonce_and_header,
                      ratchet_message[len(nonce_and_header):])
        if plain is None:
            raise Refused("body does not authenticate")
        self.__dict__.update(trial.__dict__)
        self.acknowledged = True
        return plain, mk

    def _open_header(self, hk, m):
        plain = open_(hk, m[1:25], self.ad, m[25:25 + ENC_HEADER_LEN])
        if plain is None:
            return None
        return {"dh": plain[:32], "pn": int.from_bytes(plain[32:36], "big"),
                "n": int.from_bytes(plain[36:40], "big"), "kem_ek": plain[40:40 + 1184],
                "kem_ct": plain[40 + 1184:]}

    def _take_skipped(self, hk, n):
        for i, (k, m_n, mk) in enumerate(self.skipped):
            if k == hk and m_n == n:
                del self.skipped[i]
                return mk
        raise Refused("duplicate_or_expired")

    def _skip_to(self, until):
        if self.recv is None or until <= self.recv[2]:
            return
        if until - self.recv[2] > MAX_SKIP:
            raise Refused("too many skipped")
        while self.recv[2] < until:
            next_ck, mk = chain_kdf(self.recv[0])
            self.skipped.append((self.recv[1], self.recv[2], mk))
            self.recv = [next_ck, self.recv[1], self.recv[2] + 1]
        del self.skipped[:max(0, len(self.skipped) - MAX_SKIPPED_KEYS)]

    def _next_in_chain(self, n):
        self._skip_to(n)
        next_ck, mk = chain_kdf(self.recv[0])
        self.recv = [next_ck, self.recv[1], self.recv[2] + 1]
        return mk

    def _message_key(self, m):
        if m[0] != 0x02 or len(m) < 1 + 24 + ENC_HEADER_LEN + 16:
            raise Refused("malformed")
        if self.recv is not None:
            h = self._open_header(self.recv[1], m)
            if h is not None:
                if h["n"] < self.recv[2]:
                    return self._take_skipped(self.recv[1], h["n"])
                return self._next_in_chain(h["n"])
        seen = []
        for hk, _, _ in self.skipped:
            if hk in seen:
                continue
            seen.append(hk)
            h = self._open_header(hk, m)
            if h is not None:
                return self._take_skipped(hk, h["n"])
        h = self._open_header(self.nhkr, m)
        if h is None:
            raise Refused("no header key opens it")
        self._skip_to(h["pn"])
        ss = kem_decaps(self.kem_dk, h["kem_ct"])
        rk, ck, nhk = root_kdf(self.root, x25519(self.dh_sk, h["dh"]), ss)
        self.recv = [ck, self.nhkr, 0]
        self.nhkr, self.root = nhk, rk
        self.peer_dh, self.peer_kem = h["dh"], h["kem_ek"]
        self.pending = True
        return self._next_in_chain(h["n"])


def strip_handshake(wire, hs):
    """The ratchet message of a wire message (an initial message's handshake
    part must be this session's)."""
    if wire[0] == 0x01:
        check("initial message carries the session's handshake part", wire[:len(hs)], hs)
        return wire[len(hs):]
    return wire


# --- the files ------------------------------------------------------------------

def check_pqxdh():
    cases = load_json("pqxdh.json")["cases"]
    check("pqxdh.json has cases", len(cases) >= 2, True)
    for i, c in enumerate(cases):
        tag = f"pqxdh.json[{i}] ({c['name']})"
        hs, initiator, responder = handshake(tag, c)
        plain = unhex(c["first_message"]["plaintext"])
        wire = hs + initiator.encrypt(f"{tag} first message", plain, c["first_message"]["send"])
        check(f"{tag} initial message", wire, unhex(c["initial_message"]))
        opened, mk = responder.decrypt(strip_handshake(wire, hs))
        check(f"{tag} responder reads the first message", opened, plain)
        check(f"{tag} responder's message key", mk,
              unhex(c["first_message"]["send"]["message_key"]))


def check_ratchet():
    v = load_json("ratchet.json")
    hs, initiator, responder = handshake("ratchet.json handshake", v["handshake"])
    sides = {"initiator": initiator, "responder": responder}
    sent = {}
    for ev in v["events"]:
        tag = f"ratchet.json event {ev['event']} {ev['id']}"
        if ev["event"] == "send":
            side = sides[ev["from"]]
            prefix = b"" if side.acknowledged else hs
            check(f"{tag} initial form", not side.acknowledged, ev["initial"])
            wire = prefix + side.encrypt(tag, unhex(ev["plaintext"]), ev["send"])
            check(f"{tag} message", wire, unhex(ev["message"]))
            sent[ev["id"]] = (wire, ev)
        else:
            side = sides[ev["to"]]
            wire, sent_ev = sent[ev["id"]]
            try:
                plain, mk = side.decrypt(strip_handshake(wire, hs))
                check(f"{tag} result", "ok", ev["result"])
                check(f"{tag} plaintext", plain, unhex(ev["plaintext"]))
                check(f"{tag} message key", mk, unhex(sent_ev["send"]["message_key"]))
            except Refused as e:
                check(f"{tag} result", str(e), ev["result"])
            check(f"{tag} skipped keys", len(side.skipped), ev["skipped_keys_after"])
    # Steps in both directions, out of order, skipped and refused messages.
    check("ratchet.json covers replays",
          any(e.get("result") == "duplicate_or_expired" for e in v["events"]), True)
    check("ratchet.json covers skipped keys",
          any(e.get("skipped_keys_after", 0) > 0 for e in v["events"]), True)


def check_nist_kats():
    kats = load_json("mlkem768_nistkats.json")
    check("NIST KAT count", len(kats), 100)
    for i, k in enumerate(kats):
        ek, dk = kem_keygen(unhex(k["key_generation_seed"]))
        check(f"NIST KAT {i} pk", hashlib.sha3_256(ek).hexdigest(), k["sha3_256_hash_of_public_key"])
        check(f"NIST KAT {i} sk", hashlib.sha3_256(dk).hexdigest(), k["sha3_256_hash_of_secret_key"])
        ct, ss = kem_encaps(ek, unhex(k["encapsulation_seed"]))
        check(f"NIST KAT {i} ct", hashlib.sha3_256(ct).hexdigest(), k["sha3_256_hash_of_ciphertext"])
        check(f"NIST KAT {i} ss", ss.hex(), k["shared_secret"])
        check(f"NIST KAT {i} decaps", kem_decaps(dk, ct).hex(), k["shared_secret"])


def ek_modulus_check(ek):
    """FIPS 203 section 7.2, written here: 1,184 bytes whose 768 12-bit
    coefficients (before the 32-byte seed) are all below q = 3329."""
    if len(ek) != 1184:
        return False
    t = ek[:1152]
    for i in range(0, len(t), 3):
        b0, b1, b2 = t[i], t[i + 1], t[i + 2]
        if (b0 | (b1 & 0x0F) << 8) >= 3329 or ((b1 >> 4) | b2 << 4) >= 3329:
            return False
    return True


def dk_hash_check(dk):
    """FIPS 203 section 7.3, written here: 2,400 bytes whose embedded H(ek)
    is SHA3-256 of the embedded ek."""
    return len(dk) == 2400 and hashlib.sha3_256(dk[1152:2336]).digest() == dk[2336:2368]


def check_acvp():
    v = load_json("mlkem768_acvp.json")
    for t in v["keygen"]:
        ek, dk = kem_keygen(unhex(t["d"]) + unhex(t["z"]))
        check(f"ACVP keyGen {t['tcId']} ek", ek.hex(), t["ek"])
        check(f"ACVP keyGen {t['tcId']} dk", dk.hex(), t["dk"])
    for t in v["encapsulation"]:
        c, k = kem_encaps(unhex(t["ek"]), unhex(t["m"]))
        check(f"ACVP encapsulation {t['tcId']} c", c.hex(), t["c"])
        check(f"ACVP encapsulation {t['tcId']} k", k.hex(), t["k"])
    for t in v["decapsulation"]:
        check(f"ACVP decapsulation {t['tcId']} k",
              kem_decaps(unhex(t["dk"]), unhex(t["c"])).hex(), t["k"])
    for t in v["encapsulation_key_check"]:
        check(f"ACVP encapsulation key check {t['tcId']}",
              ek_modulus_check(unhex(t["ek"])), t["valid"])
    for t in v["decapsulation_key_check"]:
        check(f"ACVP decapsulation key check {t['tcId']}",
              dk_hash_check(unhex(t["dk"])), t["valid"])


def main():
    for name, fn in [("pqxdh.json", check_pqxdh), ("ratchet.json", check_ratchet),
                     ("mlkem768_nistkats.json", check_nist_kats),
                     ("mlkem768_acvp.json", check_acvp)]:
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - any crash is a failed check
            crashed(name, e)
    sys.exit(finish())


if __name__ == "__main__":
    main()

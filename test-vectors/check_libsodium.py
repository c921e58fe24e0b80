#!/usr/bin/env python3
"""Independent check of Nightjar's test vectors with libsodium (via PyNaCl).

Recomputes every value in test-vectors/*.json from its inputs using only
libsodium primitives (plus hashlib for the BIP39 checksum and a small BIP-350
bech32m decoder written here), and byte-compares with the file.

    pip install pynacl
    python3 test-vectors/check_libsodium.py

Exits non-zero on any mismatch; ends with 'N passed, M failed'.
"""

import hashlib
import json
import os
import sys

try:
    import nacl
    import nacl.bindings as sodium
    import nacl.exceptions
    import nacl.pwhash
except ImportError:  # pragma: no cover
    sys.exit("PyNaCl is required: pip install pynacl")

from vectors_common import (BECH32M_CONST, CHARSET, HERE, bech32_polymod, blake2b, check,
                            crashed, fail, finish, hrp_expand, labelled, load_json, read_varint,
                            unhex, varint)


def load(name):
    """Yields (index, case); an exception while checking a case counts as a failure."""
    cases = load_json(name)["cases"]
    if not cases:
        fail(name, "no cases")
    for i, case in enumerate(cases):
        yield i, case


def guarded(fn):
    """Runs fn(index, case) for each case of a vector file, counting crashes as failures."""
    def run(name, *args):
        for i, case in load(name):
            try:
                fn(i, case, *args)
            except Exception as e:  # noqa: BLE001 - any error is a failed vector
                crashed(f"{name}[{i}]", e)
    return run


def keypair(seed):
    """crypto_sign_seed_keypair -> (pk, sk64)."""
    return sodium.crypto_sign_seed_keypair(seed)


def sign_detached(msg, sk):
    return sodium.crypto_sign(msg, sk)[:64]


# --- BIP39 (English), from the word list written next to the vectors -------

def load_words():
    path = os.path.join(HERE, "bip39-english.txt")
    with open(path, encoding="utf-8") as f:
        words = f.read().split()
    # Well-known SHA-256 of the official english.txt (one word per line).
    digest = hashlib.sha256(("\n".join(words) + "\n").encode()).hexdigest()
    check("bip39-english.txt sha256", digest,
          "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda")
    return words


def mnemonic_from_entropy(entropy, words):
    cs_bits = len(entropy) * 8 // 32
    checksum = hashlib.sha256(entropy).digest()[0] >> (8 - cs_bits)
    n = (int.from_bytes(entropy, "big") << cs_bits) | checksum
    total = len(entropy) * 8 + cs_bits
    return " ".join(words[(n >> (total - 11 * (i + 1))) & 0x7FF] for i in range(total // 11))


# --- bech32m (BIP-350) decoder (the checksum: vectors_common) -------------

def bech32m_decode(s):
    """Returns (hrp, data bytes) or raises ValueError."""
    if s.lower() != s and s.upper() != s:
        raise ValueError("mixed case")
    s = s.lower()
    pos = s.rfind("1")
    if pos < 1 or pos + 7 > len(s):
        raise ValueError("bad separator position")
    hrp, data = s[:pos], s[pos + 1:]
    if any(c not in CHARSET for c in data):
        raise ValueError("bad character")
    values = [CHARSET.find(c) for c in data]
    if bech32_polymod(hrp_expand(hrp) + values) != BECH32M_CONST:
        raise ValueError("bad bech32m checksum")
    acc, bits, out = 0, 0, []
    for v in values[:-6]:
        acc = (acc << 5) | v
        bits += 5
        while bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    if bits >= 5 or (acc & ((1 << bits) - 1)):
        raise ValueError("bad padding")
    return hrp, bytes(out)


# --- minimal protobuf encoder for Content {string text = 1; uint64 sent_at_ms = 2;}

def encode_content(text, sent_at_ms):
    out = b""
    t = text.encode("utf-8")
    if t:  # proto3 omits default values
        out += b"\x0a" + varint(len(t)) + t
    if sent_at_ms:
        out += b"\x10" + varint(sent_at_ms)
    return out


def pad(c):
    assert len(c) <= 65535
    size = 256
    while size < len(c) + 1:
        size *= 2
    return c + b"\x80" + b"\x00" * (size - len(c) - 1)


def xchacha_encrypt(key, nonce, msg, aad):
    return sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(msg, aad, nonce, key)


def xchacha_decrypt(key, nonce, ct, aad):
    return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ct, aad, nonce, key)


# --- checks -------------------------------------------------------------------

PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")


@guarded
def check_identity(_i, c, words):
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        serialization = None
    seed = unhex(c["seed"])
    tag = f"identity[{c['seed'][:8]}]"
    pk, sk = keypair(seed)
    check(f"{tag} ed25519_public", pk, unhex(c["ed25519_public"]))
    xs = sodium.crypto_sign_ed25519_sk_to_curve25519(sk)
    check(f"{tag} x25519_secret", xs, unhex(c["x25519_secret"]))
    xp = sodium.crypto_sign_ed25519_pk_to_curve25519(pk)
    check(f"{tag} x25519_public (pk_to_curve25519)", xp, unhex(c["x25519_public"]))
    check(f"{tag} x25519_public (scalarmult_base)",
          sodium.crypto_scalarmult_base(xs), unhex(c["x25519_public"]))
    check(f"{tag} mnemonic", mnemonic_from_entropy(seed, words), c["mnemonic"])
    try:
        hrp, data = bech32m_decode(c["account_id"])
    except ValueError as e:
        hrp, data = f"error: {e}", b""
    check(f"{tag} account_id hrp", hrp, "nj")
    check(f"{tag} account_id payload", data, pk)
    check(f"{tag} account_id lowercase", c["account_id"], c["account_id"].lower())
    der = unhex(c["pkcs8_der"])
    check(f"{tag} pkcs8_der", der, PKCS8_PREFIX + seed)
    if serialization is not None:
        key = serialization.load_der_private_key(der, password=None)
        raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
        check(f"{tag} pkcs8_der public key (cryptography)", raw, pk)


@guarded
def check_labelled(i, c):
    tag = f"labelled_signature[{i}]"
    pk, sk = keypair(unhex(c["seed"]))
    check(f"{tag} ed25519_public", pk, unhex(c["ed25519_public"]))
    msg = labelled(c["label"], unhex(c["data"]))
    check(f"{tag} signed_message", msg, unhex(c["signed_message"]))
    sig = unhex(c["signature"])
    check(f"{tag} signature", sign_detached(msg, sk), sig)
    check(f"{tag} crypto_sign_open", sodium.crypto_sign_open(sig + msg, pk), msg)


@guarded
def check_message_hash(i, c):
    data = unhex(c["account"]) + c["namespace"].to_bytes(2, "big") + unhex(c["data"])
    check(f"message_hash[{i}]", blake2b(data, 32, b"nightjar/v1/message-hash"),
          unhex(c["hash"]))


@guarded
def check_envelope(_i, c):
    tag = f"envelope[{c['name']}]"
    a, a_sk = keypair(unhex(c["sender_seed"]))
    r, r_sk = keypair(unhex(c["recipient_seed"]))
    check(f"{tag} sender key", a, unhex(c["sender_ed25519_public"]))
    check(f"{tag} recipient key", r, unhex(c["recipient_ed25519_public"]))
    content = encode_content(c["text"], c["sent_at_ms"])
    check(f"{tag} content_protobuf", content, unhex(c["content_protobuf"]))
    m = pad(content)
    check(f"{tag} padded", m, unhex(c["padded"]))
    msg = labelled("nightjar/v1/envelope-sig", m + a + r)
    check(f"{tag} signed_message", msg, unhex(c["signed_message"]))
    sig = sign_detached(msg, a_sk)
    check(f"{tag} signature", sig, unhex(c["signature"]))
    p = a + sig + m

    e = unhex(c["ephemeral_secret"])
    big_e = sodium.crypto_scalarmult_base(e)
    check(f"{tag} ephemeral_public", big_e, unhex(c["ephemeral_public"]))
    y = sodium.crypto_sign_ed25519_pk_to_curve25519(r)
    check(f"{tag} recipient_x25519_public", y, unhex(c["recipient_x25519_public"]))
    s = sodium.crypto_scalarmult(e, y)
    check(f"{tag} shared_secret", s, unhex(c["shared_secret"]))
    h = blake2b(s + big_e + y, 56, b"nightjar/v1/envelope-key")
    key, nonce = h[:32], h[32:]
    check(f"{tag} aead_key", key, unhex(c["aead_key"]))
    check(f"{tag} aead_nonce", nonce, unhex(c["aead_nonce"]))
    aad = b"\x01" + big_e
    env = b"\x01" + big_e + xchacha_encrypt(key, nonce, p, aad)
    check(f"{tag} envelope", env, unhex(c["envelope"]))
    check(f"{tag} overhead", len(env) - len(m), 145)

    # Recipient side: open the vector's envelope with libsodium.
    blob = unhex(c["envelope"])
    rx = sodium.crypto_sign_ed25519_sk_to_curve25519(r_sk)
    s2 = sodium.crypto_scalarmult(rx, blob[1:33])
    h2 = blake2b(s2 + blob[1:33] + sodium.crypto_scalarmult_base(rx), 56,
                 b"nightjar/v1/envelope-key")
    p2 = xchacha_decrypt(h2[:32], h2[32:], blob[33:], blob[:33])
    a2, sig2, m2 = p2[:32], p2[32:96], p2[96:]
    signed = labelled("nightjar/v1/envelope-sig", m2 + a2 + r)
    check(f"{tag} open: signature verifies",
          sodium.crypto_sign_open(sig2 + signed, a2), signed)
    check(f"{tag} open: content", m2[:m2.rstrip(b'\x00').rfind(b'\x80')], content)
    check(f"{tag} open (PROTOCOL.md \u00a73.4)", open_envelope(blob, r_sk, r)[:2],
          ("ok", (c["text"], c["sent_at_ms"])))


@guarded
def check_keyfile(i, c):
    tag = f"keyfile[{i}, kdf {c['kdf']}]"
    salt, nonce, seed = unhex(c["salt"]), unhex(c["nonce"]), unhex(c["seed"])
    if c["kdf"] == 0:
        check(f"{tag} params", (c["m_kib"], c["t"], c["p"]), (0, 0, 0))
        key = blake2b(salt, 32, b"nightjar/v1/keyfile-nopass")
    else:
        check(f"{tag} params", (c["m_kib"], c["t"], c["p"]), (19456, 2, 1))
        key = nacl.pwhash.argon2id.kdf(
            32, c["passphrase"].encode("utf-8"), salt,
            opslimit=c["t"], memlimit=c["m_kib"] * 1024)
    check(f"{tag} key", key, unhex(c["key"]))
    header = (bytes([1, c["kdf"]]) + salt + c["m_kib"].to_bytes(4, "big")
              + c["t"].to_bytes(4, "big") + c["p"].to_bytes(4, "big") + nonce)
    blob = header + xchacha_encrypt(key, nonce, seed, header)
    check(f"{tag} keyfile", blob, unhex(c["keyfile"]))
    check(f"{tag} length", len(blob), 102)


@guarded
def check_local_store(i, c):
    tag = f"local_store[{i}]"
    key = blake2b(unhex(c["seed"]), 32, b"nightjar/v1/local-store")
    check(f"{tag} key", key, unhex(c["key"]))
    nonce = unhex(c["nonce"])
    blob = nonce + xchacha_encrypt(key, nonce, unhex(c["plaintext"]), unhex(c["aad"]))
    check(f"{tag} blob", blob, unhex(c["blob"]))


# --- onion layers (v1) -------------------------------------------------------

REQUEST_BUCKETS = [1024, 4096, 16384, 65536, 98304]
RESPONSE_BUCKETS = [1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 8454144]
HOP_ERROR_PAD = 1024


def bucket_pad(frame, buckets):
    """u32be(|frame|) || frame || zeros, to the smallest bucket >= 4 + |frame|."""
    size = next(b for b in buckets if b >= 4 + len(frame))
    return len(frame).to_bytes(4, "big") + frame + b"\x00" * (size - 4 - len(frame))


def bucket_unpad(d, buckets):
    """Inverse of bucket_pad, with every check a reader makes."""
    if len(d) not in buckets:
        raise ValueError("not a bucket")
    n = int.from_bytes(d[:4], "big")
    if n > len(d) - 4 or any(d[4 + n:]):
        raise ValueError("bad padding")
    return d[4:4 + n]


def onion_hop_keys(s, big_e, y):
    """(request key, request nonce, response key, response nonce)."""
    q = blake2b(s + big_e + y, 56, b"nightjar/v1/onion-request")
    r = blake2b(s + big_e + y, 56, b"nightjar/v1/onion-response")
    return q[:32], q[32:], r[:32], r[32:]


@guarded
def check_onion(_i, c):
    name = c["name"]
    hops = c["hops"]
    n = len(hops)
    check(f"onion[{name}] 1..=8 hops", 1 <= n <= 8, True)
    f = unhex(c["request_frame"])
    g = unhex(c["response_frame"])
    d = bucket_pad(f, REQUEST_BUCKETS)
    check(f"onion[{name}] padded_request", d, unhex(c["padded_request"]))
    d_resp = bucket_pad(g, RESPONSE_BUCKETS)
    check(f"onion[{name}] padded_response", d_resp, unhex(c["padded_response"]))

    # Client side: per-hop keys from the node keys and ephemeral secrets.
    keys = []
    for i, hop in enumerate(hops):
        tag = f"onion[{name}] hop {i}"
        pk, _ = keypair(unhex(hop["node_seed"]))
        check(f"{tag} node_ed25519_public", pk, unhex(hop["node_ed25519_public"]))
        y = sodium.crypto_sign_ed25519_pk_to_curve25519(pk)
        check(f"{tag} node_x25519_public", y, unhex(hop["node_x25519_public"]))
        e = unhex(hop["ephemeral_secret"])
        big_e = sodium.crypto_scalarmult_base(e)
        check(f"{tag} ephemeral_public", big_e, unhex(hop["ephemeral_public"]))
        s = sodium.crypto_scalarmult(e, y)
        check(f"{tag} shared_secret", s, unhex(hop["shared_secret"]))
        check(f"{tag} shared secret not all zero", any(s), True)
        rk, rn, sk_, sn = onion_hop_keys(s, big_e, y)
        check(f"{tag} request_key", rk, unhex(hop["request_key"]))
        check(f"{tag} request_nonce", rn, unhex(hop["request_nonce"]))
        check(f"{tag} response_key", sk_, unhex(hop["response_key"]))
        check(f"{tag} response_nonce", sn, unhex(hop["response_nonce"]))
        keys.append((pk, big_e, rk, rn, sk_, sn))

    # Layers, destination first.
    inner = None
    for i in reversed(range(n)):
        tag = f"onion[{name}] hop {i}"
        _, big_e, rk, rn, _, _ = keys[i]
        if i == n - 1:
            p = b"\x01\x02" + d
        else:
            p = (b"\x01\x01" + keys[i + 1][0] + keys[i + 1][1]
                 + hops[i]["timeout_ms"].to_bytes(4, "big") + inner)
        check(f"{tag} layer_plaintext", p, unhex(hops[i]["layer_plaintext"]))
        inner = xchacha_encrypt(rk, rn, p, b"\x01" + big_e)
        check(f"{tag} layer", inner, unhex(hops[i]["layer"]))
    check(f"onion[{name}] layer sizes",
          len(inner), 2 + len(d) + 16 + (n - 1) * 86)

    # Node side: each node peels the vector's layer with its own secret.
    big_e, layer = unhex(hops[0]["ephemeral_public"]), unhex(hops[0]["layer"])
    for i, hop in enumerate(hops):
        tag = f"onion[{name}] peel {i}"
        _, sk = keypair(unhex(hop["node_seed"]))
        x = sodium.crypto_sign_ed25519_sk_to_curve25519(sk)
        s = sodium.crypto_scalarmult(x, big_e)
        rk, rn, _, _ = onion_hop_keys(s, big_e, sodium.crypto_scalarmult_base(x))
        p = xchacha_decrypt(rk, rn, layer, b"\x01" + big_e)
        check(f"{tag} version", p[0], 1)
        if i < n - 1:
            check(f"{tag} kind", p[1], 1)
            check(f"{tag} next", p[2:34], unhex(hops[i + 1]["node_ed25519_public"]))
            check(f"{tag} timeout_ms", int.from_bytes(p[66:70], "big"), hop["timeout_ms"])
            big_e, layer = p[34:66], p[70:]
        else:
            check(f"{tag} kind", p[1], 2)
            check(f"{tag} request_frame", bucket_unpad(p[2:], REQUEST_BUCKETS), f)

    # The answer, destination first, and the client opening it.
    blob = None
    for i in reversed(range(n)):
        tag = f"onion[{name}] answer {i}"
        _, big_e, _, _, sk_, sn = keys[i]
        r = b"\x01\x02" + d_resp if i == n - 1 else b"\x01\x01" + blob
        check(f"{tag} response_plaintext", r, unhex(hops[i]["response_plaintext"]))
        blob = xchacha_encrypt(sk_, sn, r, b"\x01" + big_e)
        check(f"{tag} response", blob, unhex(hops[i]["response"]))
    blob = unhex(hops[0]["response"])
    for i in range(n):
        _, big_e, _, _, sk_, sn = keys[i]
        r = xchacha_decrypt(sk_, sn, blob, b"\x01" + big_e)
        check(f"onion[{name}] open {i} kind", r[:2], b"\x01\x02" if i == n - 1 else b"\x01\x01")
        blob = r[2:]
    check(f"onion[{name}] open: response_frame", bucket_unpad(blob, RESPONSE_BUCKETS), g)

    # The hop-error answer: hop k reports that hop k + 1 failed.
    k = c.get("hop_error_hop")
    if k is None:
        check(f"onion[{name}] no hop-error answers",
              [h.get("hop_error_response") for h in hops], [None] * n)
        return
    code = c["hop_error_code"]
    check(f"onion[{name}] hop error code known", 1 <= code <= 5, True)
    check(f"onion[{name}] hop error from a relay", k < n - 1, True)
    blob = None
    for i in reversed(range(k + 1)):
        tag = f"onion[{name}] hop error {i}"
        _, big_e, _, _, sk_, sn = keys[i]
        if i == k:
            r = b"\x01\x03" + bytes([code]) + b"\x00" * (HOP_ERROR_PAD - 1)
        else:
            r = b"\x01\x01" + blob
        check(f"{tag} plaintext", r, unhex(hops[i]["hop_error_plaintext"]))
        blob = xchacha_encrypt(sk_, sn, r, b"\x01" + big_e)
        check(f"{tag} response", blob, unhex(hops[i]["hop_error_response"]))
    check(f"onion[{name}] hop error size", len(blob) - 18 * k, 2 + HOP_ERROR_PAD + 16)
    check(f"onion[{name}] no hop-error answers after hop {k}",
          [h.get("hop_error_response") for h in hops[k + 1:]], [None] * (n - k - 1))
    blob = unhex(hops[0]["hop_error_response"])
    for i in range(k + 1):
        _, big_e, _, _, sk_, sn = keys[i]
        r = xchacha_decrypt(sk_, sn, blob, b"\x01" + big_e)
        blob = r[2:]
    check(f"onion[{name}] open hop error", (r[:3], i), (b"\x01\x03" + bytes([code]), k))


@guarded
def check_registry_snapshot(i, c):
    check(f"registry_snapshot[{i}]",
          blake2b(c["text"].encode("utf-8"), 32, b"nightjar/v1/registry-snapshot"),
          unhex(c["hash"]))


@guarded
def check_registration(i, c):
    """Node registration proof of possession (PROTOCOL.md §13.2)."""
    tag = f"registration[{i}: {c['name']}]"
    lengths = {"chain_id": 32, "contract": 20, "operator": 20, "node_key": 32, "nonce": 32}
    fields = {k: unhex(c[k]) for k in lengths}
    check(f"{tag} field lengths", {k: len(v) for k, v in fields.items()}, lengths)
    data = b"".join(fields[k] for k in ("chain_id", "contract", "operator", "node_key", "nonce"))
    check(f"{tag} data", data, unhex(c["data"]))
    msg = labelled("nightjar/v1/node-registration", data)
    check(f"{tag} signed_message", msg, unhex(c["signed_message"]))
    check(f"{tag} signed_message length", len(msg), 166)
    sig = unhex(c["signature"])
    pk, sk = keypair(unhex(c["seed"]))
    if c["valid"]:
        check(f"{tag} node_key is the signer's", pk, fields["node_key"])
        check(f"{tag} signature", sign_detached(msg, sk), sig)
        check(f"{tag} crypto_sign_open", sodium.crypto_sign_open(sig + msg, fields["node_key"]), msg)
    else:
        try:
            sodium.crypto_sign_open(sig + msg, fields["node_key"])
            verdict = "verifies"
        except nacl.exceptions.BadSignatureError:
            verdict = "rejected"
        check(f"{tag} replayed proof does not verify", verdict, "rejected")


# --- negative vectors: keys, strict signatures, envelopes, PKCS#8 -----------
#
# libsodium decides key validity (crypto_core_ed25519_is_valid_point,
# crypto_sign_ed25519_pk_to_curve25519) and signatures
# (crypto_sign_verify_detached, through crypto_sign_open). The verification
# equations are recomputed with the small Edwards-curve arithmetic below, to
# show that each refused signature is refused by a strict rule, not for being
# noise.

ED_P = 2**255 - 19
ED_L = 2**252 + 27742317777372353535851937790883648493
ED_D = -121665 * pow(121666, ED_P - 2, ED_P) % ED_P
ED_SQRT_M1 = pow(2, (ED_P - 1) // 4, ED_P)


def ed_decode(b):
    """Decodes 32 bytes as an Edwards point, reducing y mod p (as a reader
    that checks canonicity separately does); None if not on the curve."""
    n = int.from_bytes(b, "little")
    y = (n & ((1 << 255) - 1)) % ED_P
    x2 = (y * y - 1) * pow(ED_D * y * y + 1, ED_P - 2, ED_P) % ED_P
    x = pow(x2, (ED_P + 3) // 8, ED_P)
    if (x * x - x2) % ED_P:
        x = x * ED_SQRT_M1 % ED_P
    if (x * x - x2) % ED_P:
        return None
    if (x & 1) != (n >> 255):
        x = (ED_P - x) % ED_P
    return (x, y)


def ed_add(p1, p2):
    (x1, y1), (x2, y2) = p1, p2
    t = ED_D * x1 * x2 * y1 * y2 % ED_P
    return ((x1 * y2 + x2 * y1) * pow(1 + t, ED_P - 2, ED_P) % ED_P,
            (y1 * y2 + x1 * x2) * pow(1 - t, ED_P - 2, ED_P) % ED_P)


def ed_mul(k, pt):
    out = (0, 1)
    while k:
        if k & 1:
            out = ed_add(out, pt)
        pt = ed_add(pt, pt)
        k >>= 1
    return out


ED_B = ed_decode(bytes.fromhex("5866666666666666666666666666666666666666666666666666666666666666"))


def equations(key, msg, sig):
    """(cofactorless, cofactored) verification equations of the decoded points."""
    r, a = ed_decode(sig[:32]), ed_decode(key)
    if r is None or a is None:
        return (False, False)
    k = int.from_bytes(hashlib.sha512(sig[:32] + key + msg).digest(), "little") % ED_L
    lhs = ed_mul(int.from_bytes(sig[32:], "little") % ED_L, ED_B)
    rhs = ed_add(r, ed_mul(k, a))
    return (lhs == rhs, ed_mul(8, lhs) == ed_mul(8, rhs))


def key_valid(key):
    """Nightjar's key validity (PROTOCOL.md §2), as libsodium decides it."""
    return len(key) == 32 and sodium.crypto_core_ed25519_is_valid_point(key)


def verify_detached(sig, msg, key):
    try:
        sodium.crypto_sign_open(sig + msg, key)
        return True
    except nacl.exceptions.BadSignatureError:
        return False


@guarded
def check_public_keys(i, c):
    tag = f"public_keys[{i}: {c['name']}]"
    key = unhex(c["key"])
    check(f"{tag} crypto_core_ed25519_is_valid_point", key_valid(key), c["valid"])
    try:
        sodium.crypto_sign_ed25519_pk_to_curve25519(key)
        converts = True
    except nacl.exceptions.RuntimeError:
        converts = False
    check(f"{tag} crypto_sign_ed25519_pk_to_curve25519 succeeds", converts, c["valid"])
    check(f"{tag} account_id", bech32m_decode(c["account_id"]), ("nj", key))


@guarded
def check_strict_signatures(i, c):
    tag = f"strict_signatures[{i}: {c['name']}]"
    key, sig = unhex(c["public_key"]), unhex(c["signature"])
    msg = labelled(c["label"], unhex(c["data"]))
    check(f"{tag} signed_message", msg, unhex(c["signed_message"]))
    detached = verify_detached(sig, msg, key)
    check(f"{tag} crypto_sign_verify_detached alone", detached, c["verify_detached_accepts"])
    if not key_valid(key):
        verdict = "invalid_public_key"
    else:
        verdict = "ok" if detached else "bad_signature"
    check(f"{tag} verdict", verdict, c["expected"])
    check(f"{tag} equations", equations(key, msg, sig),
          (c["cofactorless_equation"], c["cofactored_equation"]))


ENVELOPE_BUCKETS = [256 << k for k in range(9)]


def decode_content(c):
    """Content { string text = 1; uint64 sent_at_ms = 2; } with a strict
    UTF-8 check; unknown fields are skipped. Raises ValueError if malformed."""
    text, sent, i = "", 0, 0
    while i < len(c):
        key, i = read_varint(c, i)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise ValueError("field 0")
        if wire == 0:
            value, i = read_varint(c, i)
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            if i + n > len(c):
                raise ValueError("truncated fixed field")
            value, i = c[i:i + n], i + n
        elif wire == 2:
            n, i = read_varint(c, i)
            if i + n > len(c):
                raise ValueError("truncated field")
            value, i = c[i:i + n], i + n
        else:
            raise ValueError(f"wire type {wire}")
        if field == 1:
            if wire != 2:
                raise ValueError("text is not length-delimited")
            text = value.decode("utf-8")  # strict: raises UnicodeDecodeError
        elif field == 2:
            if wire != 0:
                raise ValueError("sent_at_ms is not a varint")
            sent = value & (2**64 - 1)
    return text, sent


def open_envelope(blob, r_sk, r_pk):
    """PROTOCOL.md §3.4 with libsodium: ('ok', (text, sent_at_ms), P) or (error, None, P)."""
    if len(blob) > 76800:
        return "too_large", None, None
    if not blob:
        return "truncated", None, None
    if blob[0] != 0x01:
        return "unsupported_version", None, None
    if len(blob) < 401:
        return "truncated", None, None
    x = sodium.crypto_sign_ed25519_sk_to_curve25519(r_sk)
    big_e = blob[1:33]
    try:
        s = sodium.crypto_scalarmult(x, big_e)  # libsodium refuses an all-zero result
    except nacl.exceptions.RuntimeError:
        return "low_order_point", None, None
    if not any(s):
        return "low_order_point", None, None
    h = blake2b(s + big_e + sodium.crypto_scalarmult_base(x), 56, b"nightjar/v1/envelope-key")
    try:
        p = xchacha_decrypt(h[:32], h[32:], blob[33:], blob[:33])
    except nacl.exceptions.CryptoError:
        return "decrypt_failed", None, None
    a, sig, m = p[:32], p[32:96], p[96:]
    if not key_valid(a):
        return "invalid_sender_key", None, p
    if not verify_detached(sig, labelled("nightjar/v1/envelope-sig", m + a + r_pk), a):
        return "bad_signature", None, p
    stripped = m.rstrip(b"\x00")
    if len(m) not in ENVELOPE_BUCKETS or not stripped or stripped[-1] != 0x80:
        return "bad_padding", None, p
    try:
        return "ok", decode_content(stripped[:-1]), p
    except ValueError:  # UnicodeDecodeError included
        return "bad_content", None, p


@guarded
def check_envelope_invalid(i, c):
    tag = f"envelope_invalid[{i}: {c['name']}]"
    r_pk, r_sk = keypair(unhex(c["recipient_seed"]))
    error, _, p = open_envelope(unhex(c["envelope"]), r_sk, r_pk)
    check(f"{tag} error", error, c["error"])
    if c["payload"] is not None:
        check(f"{tag} payload", p, unhex(c["payload"]))
    if error == "invalid_sender_key":
        # crypto_sign_verify_detached alone: the key check is what refuses it.
        a, sig, m = p[:32], p[32:96], p[96:]
        msg = labelled("nightjar/v1/envelope-sig", m + a + r_pk)
        check(f"{tag} equations hold", equations(a, msg, sig), (True, True))


@guarded
def check_pkcs8(i, c):
    tag = f"pkcs8[{i}: {c['name']}]"
    seed, der = unhex(c["seed"]), unhex(c["der"])
    check(f"{tag} valid = what Nightjar writes", der == PKCS8_PREFIX + seed, c["valid"])
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        return
    try:
        key = serialization.load_der_private_key(der, password=None)
    except ValueError:
        key = None
    public = None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        public = key.public_key().public_bytes(serialization.Encoding.Raw,
                                               serialization.PublicFormat.Raw).hex()
    check(f"{tag} public key (cryptography)", public, c["public_key"])


# --- frames (no cryptography: the checker's own reading of §5.2–§5.3) --------

REQUEST_MEMBERS = {10: "store", 11: "retrieve", 12: "delete", 13: "info", 14: "replicate",
                   15: "sync_digest", 16: "sync_list", 17: "sync_fetch", 18: "get_swarm",
                   19: "onion", 20: "get_registry"}
RESPONSE_MEMBERS = {10: "stored", 11: "messages", 12: "deleted", 13: "info", 15: "error",
                    16: "wrong_swarm", 17: "swarm", 18: "digest", 19: "entries", 20: "full",
                    21: "onion", 22: "registry"}


def read_frame(kind, frame):
    """('ok', member, fields) or (error code name, None, None); the body's
    members must be empty-or-skippable for this reader (as in wire.json)."""
    if len(frame) < 4 or int.from_bytes(frame[:4], "big") != len(frame) - 4:
        return "bad_request", None, None
    body, i, fields, member = frame[4:], 0, {}, None
    members = REQUEST_MEMBERS if kind == "request" else RESPONSE_MEMBERS
    try:
        while i < len(body):
            key, i = read_varint(body, i)
            field, wire = key >> 3, key & 7
            if wire == 0:
                fields[field], i = read_varint(body, i)
            elif wire == 2:
                n, i = read_varint(body, i)
                if i + n > len(body):
                    raise ValueError("truncated")
                i += n
                if field in members:
                    member = members[field]  # the last member of a oneof wins
            else:
                raise ValueError(f"wire type {wire}")
    except ValueError:
        return "bad_request", None, None
    if fields.get(1, 0) != 1:
        return "unsupported_version", None, None
    if member is None:
        return "bad_request", None, None
    return "ok", member, fields


@guarded
def check_wire(i, c):
    tag = f"wire[{i}: {c['name']}]"
    frame = unhex(c["frame"])
    verdict, member, fields = read_frame(c["kind"], frame)
    if c["error"] is not None:
        check(f"{tag} refused", verdict, c["error"])
        return
    check(f"{tag} decodes", (verdict, member), ("ok", c["decodes"]))
    # What an encoder writes for it: fields in tag order, defaults omitted,
    # the oneof member always (the members of wire.json are empty: tag,
    # length 0). `encodes` says whether that is the vector's frame.
    members = REQUEST_MEMBERS if c["kind"] == "request" else RESPONSE_MEMBERS
    number = next(n for n, m in members.items() if m == member)
    body = b"\x08\x01"
    if c["kind"] == "response" and fields.get(2):
        body += b"\x10" + varint(fields[2])
    body += varint(number << 3 | 2) + b"\x00"
    check(f"{tag} encoding", frame == len(body).to_bytes(4, "big") + body, c["encodes"])


# --- history records (§9.2) ---------------------------------------------------

HISTORY_MEMBERS = ("message_id", "direction", "peer", "text", "sent_at_ms")


def decode_history_record(plaintext):
    """The record a reader takes from the JSON plaintext; ValueError if it is not one
    (not UTF-8, not JSON, a member missing or of the wrong type or value).
    Unknown members are ignored."""
    obj = json.loads(plaintext.decode("utf-8"))
    if not isinstance(obj, dict) or any(m not in obj for m in HISTORY_MEMBERS):
        raise ValueError("not a record")
    if not all(isinstance(obj[m], str) for m in ("message_id", "direction", "peer", "text")):
        raise ValueError("a string member is not a string")
    if obj["direction"] not in ("in", "out"):
        raise ValueError("direction")
    n = obj["sent_at_ms"]
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < 2**64:
        raise ValueError("sent_at_ms")
    return {m: obj[m] for m in HISTORY_MEMBERS}


@guarded
def check_history_record(i, c):
    tag = f"history_record[{i}: {c['name']}]"
    def history_key(seed):
        return blake2b(seed, 32, b"nightjar/v1/local-store")

    key = history_key(unhex(c["seed"]))
    aad = b"nightjar/history/v1" + unhex(c["message_hash"])
    check(f"{tag} aad", aad, unhex(c["aad"]))
    check(f"{tag} aad length", len(aad), 51)
    nonce, plaintext = unhex(c["nonce"]), unhex(c["plaintext"])
    sealed = xchacha_encrypt(history_key(unhex(c["sealed_with_seed"])), nonce, plaintext,
                             unhex(c["sealed_with_aad"]))
    check(f"{tag} blob", nonce + sealed, unhex(c["blob"]))
    if c["record"] is not None:
        # What the client writes: compact JSON, members in this order, only
        # the escapes JSON requires, numbers as integers.
        written = json.dumps({m: c["record"][m] for m in HISTORY_MEMBERS},
                             separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        check(f"{tag} canonical", written == plaintext, c["canonical"])
    # The reader: decrypt with the profile's key and the record's own AAD.
    blob = unhex(c["blob"])
    try:
        opened = xchacha_decrypt(key, blob[:24], blob[24:], aad)
    except nacl.exceptions.CryptoError:
        check(f"{tag} error", "decrypt_failed", c["error"])
        return
    try:
        record = decode_history_record(opened)
    except ValueError:  # json.JSONDecodeError and UnicodeDecodeError included
        check(f"{tag} error", "does_not_decode", c["error"])
        return
    check(f"{tag} error", None, c["error"])
    check(f"{tag} record", record, c["record"])


def check_published():
    """published.json (PROTOCOL.md §5.12): signed data, message, signature and
    record from the seed; every refused record fails crypto_sign_verify_detached
    (or is shorter than a signature)."""
    name = "published.json"
    try:
        data = load_json(name)
        check(f"{name} has records", len(data["cases"]) >= 4, True)
        check(f"{name} has refused records", len(data["refused"]) >= 10, True)
        for c in data["cases"]:
            tag = f"published[{c['name']}]"
            pk, sk = keypair(unhex(c["seed"]))
            check(f"{tag} account", pk, unhex(c["account"]))
            body = unhex(c["body"])
            signed = pk + c["namespace"].to_bytes(2, "big") + body
            check(f"{tag} signed_data", signed, unhex(c["signed_data"]))
            msg = labelled("nightjar/v1/published", signed)
            check(f"{tag} signed_message", msg, unhex(c["signed_message"]))
            check(f"{tag} label length byte", msg[0], 21)
            sig = sign_detached(msg, sk)
            check(f"{tag} signature", sig, unhex(c["signature"]))
            check(f"{tag} record", sig + body, unhex(c["record"]))
            check(f"{tag} verifies", published_verify(pk, c["namespace"], unhex(c["record"])),
                  body)
        for r in data["refused"]:
            tag = f"published refused[{r['name']}]"
            record = unhex(r["record"])
            check(f"{tag} refused",
                  published_verify(unhex(r["account"]), r["namespace"], record), None)
            if len(record) >= 64 and r["name"].startswith("S + L"):
                s = int.from_bytes(record[32:64], "little")
                check(f"{tag} S >= L", s >= ED_L, True)
    except Exception as e:  # noqa: BLE001 - any crash is a failed check
        crashed(name, e)


def published_verify(account, namespace, record):
    """The body of account's published record in namespace, or None (§5.12)."""
    if len(record) < 64 or not key_valid(account):
        return None
    sig, body = record[:64], record[64:]
    msg = labelled("nightjar/v1/published", account + namespace.to_bytes(2, "big") + body)
    return body if verify_detached(sig, msg, account) else None


def self_test_bech32m():
    """BIP-350 examples: valid bech32m strings decode, a bech32 string does not."""
    for valid in ("A1LQFN3A", "a1lqfn3a"):
        check(f"bech32m self-test {valid}", bech32m_decode(valid), ("a", b""))
    try:
        bech32m_decode("a12uel5l")  # valid bech32 (BIP-173), invalid bech32m
        check("bech32m self-test rejects bech32", "accepted", "rejected")
    except ValueError:
        check("bech32m self-test rejects bech32", "rejected", "rejected")



# --- batched store receipts (PROTOCOL.md 5.4) --------------------------------

def receipt_leaf(msg_hash, expiry_ms):
    return blake2b(msg_hash + expiry_ms.to_bytes(8, "big"), 32, b"nightjar/v2/receipt-leaf")


def receipt_node(left, right):
    return blake2b(left + right, 32, b"nightjar/v2/receipt-node")


def largest_power_of_two_below(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves):
    """RFC 6962 Merkle tree hash (leaves already hashed)."""
    if len(leaves) == 1:
        return leaves[0]
    k = largest_power_of_two_below(len(leaves))
    return receipt_node(mth(leaves[:k]), mth(leaves[k:]))


def audit_path(m, leaves):
    """RFC 6962 PATH(m, D[n]), bottom up."""
    if len(leaves) == 1:
        return []
    k = largest_power_of_two_below(len(leaves))
    if m < k:
        return audit_path(m, leaves[:k]) + [mth(leaves[k:])]
    return audit_path(m - k, leaves[k:]) + [mth(leaves[:k])]


def root_from_path(leaf, index, size, path):
    """RFC 9162 2.1.3.2; None where the path cannot belong to such a tree."""
    if index >= size or size == 0 or size > 1 << 16 or len(path) > 16:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = receipt_node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = receipt_node(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def receipt_verifies(node_key, msg_hash, expiry_ms, index, size, path, sig):
    root = root_from_path(receipt_leaf(msg_hash, expiry_ms), index, size, path)
    if root is None:
        return False
    msg = labelled("nightjar/v2/receipt-batch", root + size.to_bytes(4, "big"))
    try:
        sodium.crypto_sign_open(sig + msg, node_key)
        return True
    except nacl.exceptions.BadSignatureError:
        return False


def check_receipt_batch():
    """receipt_batch.json: leaves, root, paths and signature from the seed and
    the batch's (hash, expiry) pairs; every receipt verifies; every refused one
    does not."""
    name = "receipt_batch.json"
    try:
        data = load_json(name)
        check(f"{name} has batches", len(data["cases"]) >= 5, True)
        check(f"{name} has refused receipts", len(data["refused"]) >= 10, True)
        for c in data["cases"]:
            tag = f"receipt_batch[{c['name']}]"
            pk, sk = keypair(unhex(c["seed"]))
            check(f"{tag} node_key", pk, unhex(c["node_key"]))
            leaves = [receipt_leaf(unhex(m["hash"]), m["expiry_ms"]) for m in c["messages"]]
            for i, m in enumerate(c["messages"]):
                check(f"{tag} leaf {i}", leaves[i], unhex(m["leaf"]))
            size = len(leaves)
            check(f"{tag} tree_size", size, c["tree_size"])
            root = mth(leaves)
            check(f"{tag} root", root, unhex(c["root"]))
            signed = root + size.to_bytes(4, "big")
            check(f"{tag} signed_data", signed, unhex(c["signed_data"]))
            msg = labelled("nightjar/v2/receipt-batch", signed)
            check(f"{tag} signed_message", msg, unhex(c["signed_message"]))
            sig = sign_detached(msg, sk)
            check(f"{tag} signature", sig, unhex(c["signature"]))
            for i, m in enumerate(c["messages"]):
                path = [unhex(p) for p in m["path"]]
                check(f"{tag} path {i}", path, audit_path(i, leaves))
                check(f"{tag} receipt {i} verifies",
                      receipt_verifies(pk, unhex(m["hash"]), m["expiry_ms"], i, size, path, sig),
                      True)
        for r in data["refused"]:
            tag = f"receipt_batch refused[{r['name']}]"
            check(f"{tag} refused",
                  receipt_verifies(unhex(r["node_key"]), unhex(r["hash"]), r["expiry_ms"],
                                   r["leaf_index"], r["tree_size"],
                                   [unhex(p) for p in r["path"]], unhex(r["signature"])),
                  False)
    except Exception as e:  # noqa: BLE001 - any error is a failed vector
        crashed(name, e)


def main():
    self_test_bech32m()
    words = load_words()
    check_identity("identity.json", words)
    check_labelled("labelled_signature.json")
    check_message_hash("message_hash.json")
    check_envelope("envelope.json")
    check_keyfile("keyfile.json")
    check_local_store("local_store.json")
    check_onion("onion.json")
    check_registry_snapshot("registry_snapshot.json")
    check_registration("registration.json")
    check_public_keys("public_keys.json")
    check_strict_signatures("strict_signatures.json")
    check_envelope_invalid("envelope_invalid.json")
    check_pkcs8("pkcs8.json")
    check_wire("wire.json")
    check_history_record("history_record.json")
    check_published()
    check_receipt_batch()
    print(f"checked with libsodium bundled in PyNaCl {nacl.__version__}")
    return finish()


if __name__ == "__main__":
    sys.exit(main())

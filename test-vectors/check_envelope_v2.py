#!/usr/bin/env python3
"""Independent check of Nightjar's envelope-v2 vectors (docs/PROTOCOL.md §16.4).

Recomputes test-vectors/envelope_v2.json from its inputs with libsodium
(PyNaCl: crypto_scalarmult(_base), keyed BLAKE2b through nacl.hashlib.blake2b,
XChaCha20-Poly1305-IETF, Ed25519 through nacl.signing and
crypto_core_ed25519_is_valid_point), a protobuf encoder and decoder of
`Sealed` and the padding written here, and opens every envelope with an
opener written here from §16.4: the cases and the accepted envelopes must
open to their fields, and each refused one must fail with its recorded error.

    pip install pynacl
    python3 test-vectors/check_envelope_v2.py [DIR]

DIR (default: this script's folder) holds envelope_v2.json. Exits non-zero
on any mismatch; ends with 'N passed, M failed'.
"""

import hashlib
import os
import sys

try:
    import nacl.bindings as sodium
    import nacl.exceptions
    import nacl.signing
except ImportError:  # pragma: no cover
    sys.exit("PyNaCl is required: pip install pynacl")

from vectors_common import (blake2b, check, crashed, finish, labelled, load_json, read_varint,
                            unhex, varint)
from vectors_common import x25519_or_none as x25519

LABEL_KEY = b"nightjar/v2/envelope-key"
LABEL_CERT = "nightjar/v2/device-cert"
BUCKETS = [1024 << k for k in range(7)]
MAX_ENVELOPE_LEN = 1 + 32 + BUCKETS[-1] + 16  # 65,585
HEX_LIMIT = 8192


def hex_if_short(b):
    """What the file holds for a value: its hex, or null when over 8,192 bytes."""
    return b if len(b) <= HEX_LIMIT else None


# --- primitives -------------------------------------------------------------------

def key_valid(key):
    """A valid Ed25519 public key (§2), as libsodium decides it."""
    return len(key) == 32 and sodium.crypto_core_ed25519_is_valid_point(key)


def verify(account, msg, sig):
    """crypto_sign_verify_detached under a valid key."""
    if not key_valid(account):
        return False
    try:
        nacl.signing.VerifyKey(account).verify(msg, sig)
        return True
    except nacl.exceptions.BadSignatureError:
        return False


def sha256(b):
    return hashlib.sha256(b).hexdigest()


# --- Sealed, padding: from §16.4 ---------------------------------------------------

FIELDS = ("sender_account", "sender_device", "recipient_device", "device_certificate",
          "message")


def encode_sealed(fields):
    """Sealed, fields in tag order, empty (default) ones left out."""
    out = b""
    for tag, name in enumerate(FIELDS, 1):
        value = fields.get(name) or b""
        if value:
            out += bytes([tag << 3 | 2]) + varint(len(value)) + value
    return out


def decode_sealed(b):
    """Any valid proto3 encoding of Sealed; unknown fields are skipped, a field
    given twice keeps its last value. Raises ValueError if malformed."""
    out = {name: b"" for name in FIELDS}
    i = 0
    while i < len(b):
        key, i = read_varint(b, i)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise ValueError("field 0")
        if wire == 0:
            _, i = read_varint(b, i)
            value = None
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            if i + n > len(b):
                raise ValueError("truncated fixed field")
            value, i = b[i:i + n], i + n
        elif wire == 2:
            n, i = read_varint(b, i)
            if i + n > len(b):
                raise ValueError("truncated field")
            value, i = b[i:i + n], i + n
        else:
            raise ValueError(f"wire type {wire}")
        if 1 <= field <= len(FIELDS):
            if wire != 2:
                raise ValueError(f"field {field} is not length-delimited")
            out[FIELDS[field - 1]] = value
    return out


def pad(inner):
    """P = I ‖ 0x80 ‖ 0x00… up to the smallest bucket longer than I."""
    bucket = next(b for b in BUCKETS if b > len(inner))
    return inner + b"\x80" + bytes(bucket - len(inner) - 1)


def seal_padded(y, e, p):
    """Steps 3-4 of §16.4: (E, S, h, aad, envelope)."""
    big_e = sodium.crypto_scalarmult_base(e)
    s = x25519(e, y)
    h = blake2b(s + big_e + y, 56, LABEL_KEY)
    aad = b"\x02" + big_e
    ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(p, aad, h[32:], h[:32])
    return big_e, s, h, aad, aad + ct


class Refused(Exception):
    pass


def open_v2(secret, env):
    """The opener of §16.4: (fields, P), or raises Refused(error)."""
    if len(env) > MAX_ENVELOPE_LEN:
        raise Refused("too_large")
    if not env:
        raise Refused("truncated")
    if env[0] != 0x02:
        raise Refused("unsupported_version")
    if len(env) - 49 not in BUCKETS:
        raise Refused("truncated")
    big_e = env[1:33]
    s = x25519(secret, big_e)
    if s is None or not any(s):
        raise Refused("low_order_point")
    y = sodium.crypto_scalarmult_base(secret)
    h = blake2b(s + big_e + y, 56, LABEL_KEY)
    try:
        p = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(env[33:], env[:33], h[32:],
                                                               h[:32])
    except nacl.exceptions.CryptoError:
        raise Refused("decrypt_failed") from None
    stripped = p.rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80:
        raise Refused("bad_padding", p)
    try:
        fields = decode_sealed(stripped[:-1])
    except ValueError:
        raise Refused("bad_content", p) from None
    lengths = {"sender_account": (32,), "sender_device": (16,), "recipient_device": (16,),
               "device_certificate": (0, 64)}
    if any(len(fields[name]) not in ok for name, ok in lengths.items()):
        raise Refused("bad_content", p)
    if not fields["message"]:
        raise Refused("bad_content", p)
    if not key_valid(fields["sender_account"]):
        raise Refused("invalid_sender_key", p)
    return fields, p


def attempt(secret, env):
    """('ok', fields, P) or (error, None, P or None)."""
    try:
        fields, p = open_v2(secret, env)
        return "ok", fields, p
    except Refused as r:
        return r.args[0], None, (r.args[1] if len(r.args) > 1 else None)


def trimmed(p):
    return p.rstrip(b"\x00")


# --- the vectors -------------------------------------------------------------------

def message(length, start):
    return bytes((31 * i + start) % 251 for i in range(length))


def check_case(c):
    name = c["name"]
    seed = unhex(c["sender_account_seed"])
    signer = nacl.signing.SigningKey(seed)
    account = bytes(signer.verify_key)
    check(f"{name}: account", account, unhex(c["sender_account"]))
    sender_device = unhex(c["sender_device"])

    cert = b""
    if c["sender_identity_secret"] is not None:
        ik = sodium.crypto_scalarmult_base(unhex(c["sender_identity_secret"]))
        check(f"{name}: sender identity key", ik, unhex(c["sender_identity_key"]))
        msg = labelled(LABEL_CERT, sender_device + ik)
        check(f"{name}: certificate signed message", msg, unhex(c["certificate_signed_message"]))
        check(f"{name}: certificate length byte", msg[0], 23)
        cert = signer.sign(msg).signature
        check(f"{name}: device certificate", cert, unhex(c["device_certificate"]))
        check(f"{name}: certificate verifies", verify(account, msg, cert), True)
    else:
        check(f"{name}: no certificate", (c["sender_identity_key"], c["device_certificate"],
                                          c["certificate_signed_message"]), (None, None, None))

    msg = message(c["message_len"], c["message_pattern"])
    check(f"{name}: message", hex_if_short(msg), unhex(c["message"]))
    fields = {"sender_account": account, "sender_device": sender_device,
              "recipient_device": unhex(c["recipient_device"]), "device_certificate": cert,
              "message": msg}
    inner = encode_sealed(fields)
    check(f"{name}: I", hex_if_short(inner), unhex(c["sealed"]))
    check(f"{name}: |I|", len(inner), c["sealed_len"])
    check(f"{name}: SHA-256(I)", sha256(inner), c["sealed_sha256"])
    p = pad(inner)
    check(f"{name}: P", hex_if_short(p), unhex(c["padded"]))
    check(f"{name}: |P|", len(p), c["padded_len"])
    check(f"{name}: SHA-256(P)", sha256(p), c["padded_sha256"])

    secret = unhex(c["recipient_identity_secret"])
    y = sodium.crypto_scalarmult_base(secret)
    check(f"{name}: Y", y, unhex(c["recipient_identity_key"]))
    big_e, s, h, aad, env = seal_padded(y, unhex(c["ephemeral_secret"]), p)
    check(f"{name}: E", big_e, unhex(c["ephemeral_public"]))
    check(f"{name}: S", s, unhex(c["shared_secret"]))
    check(f"{name}: h", h, unhex(c["h"]))
    check(f"{name}: key", h[:32], unhex(c["key"]))
    check(f"{name}: nonce", h[32:], unhex(c["nonce"]))
    check(f"{name}: aad", aad, unhex(c["aad"]))
    check(f"{name}: envelope", hex_if_short(env), unhex(c["envelope"]))
    check(f"{name}: |envelope|", len(env), c["envelope_len"])
    check(f"{name}: SHA-256(envelope)", sha256(env), c["envelope_sha256"])

    # The recorded envelope opens (the recomputed one when only its hash is given).
    recorded = unhex(c["envelope"]) if c["envelope"] is not None else env
    check(f"{name}: opens", attempt(secret, recorded), ("ok", fields, p))


def check_certificate(c):
    name = f"certificate '{c['name']}'"
    account = unhex(c["account"])
    msg = labelled(LABEL_CERT, unhex(c["device_id"]) + unhex(c["identity_key"]))
    check(f"{name}: signed message", msg, unhex(c["signed_message"]))
    check(f"{name}: verifies", verify(account, msg, unhex(c["certificate"])), c["valid"])


def check_refused(r):
    name = f"refused '{r['name']}'"
    error, _, p = attempt(unhex(r["recipient_identity_secret"]), unhex(r["envelope"]))
    check(f"{name}: error", error, r["error"])
    if r["padded_trimmed"] is not None:
        check(f"{name}: P (the AEAD layer is sound)",
              (p is not None and trimmed(p), p is not None and len(p)),
              (unhex(r["padded_trimmed"]), r["padded_len"]))


def check_accepted(a):
    name = f"accepted '{a['name']}'"
    status, fields, p = attempt(unhex(a["recipient_identity_secret"]), unhex(a["envelope"]))
    check(f"{name}: opens", status, "ok")
    check(f"{name}: P", (p is not None and trimmed(p), p is not None and len(p)),
          (unhex(a["padded_trimmed"]), a["padded_len"]))
    expected = {f: unhex(a[f]) for f in FIELDS}
    expected["device_certificate"] = expected["device_certificate"] or b""
    check(f"{name}: fields", fields, expected)


def self_test():
    """The opener's own edges that the file cannot hold cheaply."""
    check("self-test: 65,586 bytes are too large",
          attempt(bytes(32), b"\x02" * (MAX_ENVELOPE_LEN + 1))[0], "too_large")
    check("self-test: buckets", BUCKETS[0] == 1024 and BUCKETS[-1] == 65536, True)
    check("self-test: |I| = 65,535 pads to 65,536", len(pad(bytes(65535))), 65536)


def main():
    here = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    self_test()
    try:
        data = load_json("envelope_v2.json", here)
        groups = [("cases", check_case, 5), ("certificates", check_certificate, 5),
                  ("refused", check_refused, 20), ("accepted", check_accepted, 3)]
        for key, fn, at_least in groups:
            check(f"envelope_v2.json has {at_least}+ {key}", len(data[key]) >= at_least, True)
            for item in data[key]:
                try:
                    fn(item)
                except Exception as e:  # noqa: BLE001 - any crash is a failed check
                    crashed(f"{key} '{item.get('name')}'", e)
        errors = {r["error"] for r in data["refused"]}
        check("every opening error is covered (but too_large)", errors,
              {"truncated", "unsupported_version", "low_order_point", "decrypt_failed",
               "bad_padding", "bad_content", "invalid_sender_key"})
        check("the cases span the first bucket edge and the largest bucket",
              {1024, 2048, 65536} <= {c["padded_len"] for c in data["cases"]}, True)
    except Exception as e:  # noqa: BLE001 - any crash is a failed check
        crashed("envelope_v2.json", e)
    sys.exit(finish())


if __name__ == "__main__":
    main()

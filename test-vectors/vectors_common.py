"""Helpers shared by the independent vector checkers of this folder
(check_libsodium.py, check_v2.py, check_link.py, check_envelope_v2.py,
check_circuit.py).

What is here: the pass/fail counters and how a comparison or a crash is
recorded and reported, reading a vector file, hex, and the libsodium
primitives (through PyNaCl) and encodings that more than one checker
computes the same way: keyed BLAKE2b, X25519, XChaCha20-Poly1305-IETF,
labelled-signature messages, protobuf varints, the bech32m checksum.

Not here: anything one checker alone needs, or that a checker computes its
own way on purpose (each decoder of the specification stays in the checker
that tests it). Only PyNaCl and the standard library are imported, so every
checker keeps its one-command setup (`pip install pynacl`, plus kyber-py for
check_v2.py).
"""

import json
import os
import sys

try:
    import nacl.bindings as sodium
    import nacl.exceptions
    import nacl.hashlib
except ImportError:  # pragma: no cover
    sys.exit("PyNaCl is required: pip install pynacl")

HERE = os.path.dirname(os.path.abspath(__file__))

PASSED = 0
FAILED = 0


# --- counting and reporting -------------------------------------------------------

def check(what, got, expected):
    """Record one comparison; a mismatch is printed to stderr."""
    global PASSED, FAILED
    if got == expected:
        PASSED += 1
        return
    FAILED += 1
    print(f"MISMATCH {what}:\n  recomputed: {show(got)}\n  vector:     {show(expected)}",
          file=sys.stderr)
    if isinstance(got, bytes) and isinstance(expected, bytes):
        at = next((i for i, (x, y) in enumerate(zip(got, expected)) if x != y),
                  min(len(got), len(expected)))
        print(f"  first difference at byte {at}", file=sys.stderr)


def fail(what, why):
    """Record a failure that is not a comparison (no cases, a crash)."""
    global FAILED
    FAILED += 1
    print(f"MISMATCH {what}: {why}", file=sys.stderr)


def crashed(what, e):
    """Record an exception raised while checking `what` as a failure."""
    fail(what, f"{type(e).__name__}: {e}")


def finish():
    """Print 'N passed, M failed'; the exit status (1 on any failure)."""
    print(f"{PASSED} passed, {FAILED} failed")
    return 1 if FAILED else 0


def show(value):
    """Short printable form of a compared value."""
    if isinstance(value, (bytes, bytearray)):
        text = value.hex()
        if len(text) > 96:
            text = f"{text[:48]}…{text[-48:]} ({len(value)} bytes)"
        return text
    return repr(value)


# --- files -----------------------------------------------------------------------

def load_json(name, folder=HERE):
    """The parsed vector file `name` of `folder` (default: this folder)."""
    with open(os.path.join(folder, name), encoding="utf-8") as f:
        return json.load(f)


def unhex(s):
    """Bytes of a hex string; None stays None (a value the file leaves out)."""
    return None if s is None else bytes.fromhex(s)


# --- primitives ------------------------------------------------------------------

def blake2b(data, outlen, key):
    """crypto_generichash(out, outlen, data, key): keyed BLAKE2b, raw bytes."""
    return nacl.hashlib.blake2b(data, digest_size=outlen, key=key).digest()


def x25519(secret, public):
    """crypto_scalarmult; libsodium refuses an all-zero result (raises)."""
    return sodium.crypto_scalarmult(secret, public)


def x25519_or_none(secret, public):
    """crypto_scalarmult, or None for the all-zero result libsodium refuses."""
    try:
        return sodium.crypto_scalarmult(secret, public)
    except nacl.exceptions.CryptoError:
        return None


def seal(key, nonce, aad, plain):
    """XChaCha20-Poly1305-IETF encryption: ciphertext ‖ tag."""
    return sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plain, aad, nonce, key)


def open_(key, nonce, aad, sealed):
    """XChaCha20-Poly1305-IETF: the plaintext, or None if it does not authenticate."""
    try:
        return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(sealed, aad, nonce, key)
    except nacl.exceptions.CryptoError:
        return None


def labelled(label, data):
    """The message of a labelled signature (PROTOCOL.md §2): [len(label)] ‖ label ‖ data."""
    lb = label.encode("ascii")
    assert 1 <= len(lb) <= 64
    return bytes([len(lb)]) + lb + data


# --- encodings -------------------------------------------------------------------

def varint(n):
    """A protobuf (LEB128) varint."""
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def read_varint(b, i):
    """(value, next index) of the varint at b[i]; ValueError if truncated or too long."""
    value, shift = 0, 0
    while True:
        if i >= len(b) or shift >= 70:
            raise ValueError("truncated varint")
        value |= (b[i] & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if not b[i - 1] & 0x80:
            return value, i


# bech32m (BIP-350): the checksum. Each checker decodes (and encodes) itself.
CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
BECH32M_CONST = 0x2BC830A3


def bech32_polymod(values):
    """BIP-173's checksum polynomial over 5-bit values."""
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def hrp_expand(hrp):
    """The human-readable part as the checksum reads it."""
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]

#!/usr/bin/env python3
"""Independent check of Nightjar's device-linking vectors (docs/PROTOCOL.md §17).

Recomputes test-vectors/link.json from its inputs with libsodium (PyNaCl:
crypto_sign_seed_keypair, crypto_scalarmult(_base), keyed BLAKE2b through
nacl.hashlib.blake2b, XChaCha20-Poly1305-IETF) and a bech32m written here
(BIP-350), and opens every record with decoders written here from the
specification, which must accept the valid ones and refuse each refused one
with its recorded error.

    pip install pynacl
    python3 test-vectors/check_link.py

Exits non-zero on any mismatch; ends with 'N passed, M failed'.
"""

import sys

try:
    import nacl.bindings as sodium
except ImportError:  # pragma: no cover
    sys.exit("PyNaCl is required: pip install pynacl")

from vectors_common import (BECH32M_CONST, CHARSET, bech32_polymod, check, crashed, finish,
                            hrp_expand, load_json, open_, seal)
from vectors_common import blake2b as keyed_blake2b
from vectors_common import x25519_or_none as x25519

REQUEST_OVERHEAD = 1 + 32 + 16
MAX_REQUEST_LEN = REQUEST_OVERHEAD + 4096
HELLO_LEN = 1 + 32 + 16
ANSWER_OVERHEAD = 1 + 32 + 4 + 16
MAX_ANSWER_LEN = ANSWER_OVERHEAD + 60000


# --- bech32m (BIP-350; the checksum: vectors_common) ---------------------------

def to_groups(data):
    """8-bit bytes to 5-bit groups, the last one padded with zero bits."""
    acc, bits, out = 0, 0, []
    for b in data:
        acc, bits = (acc << 8) | b, bits + 8
        while bits >= 5:
            bits -= 5
            out.append((acc >> bits) & 31)
    if bits:
        out.append((acc << (5 - bits)) & 31)
    return out


def bech32m_encode(hrp, data):
    groups = to_groups(data)
    pm = bech32_polymod(hrp_expand(hrp) + groups + [0] * 6) ^ BECH32M_CONST
    checksum = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[g] for g in groups + checksum)


def bech32m_decode(text):
    """(hrp, data bytes) of a bech32m string of whole bytes, or None."""
    if text.lower() != text and text.upper() != text:
        return None
    text = text.lower()
    hrp, _, rest = text.rpartition("1")
    if not hrp or len(rest) < 6 or any(c not in CHARSET for c in rest):
        return None
    groups = [CHARSET.index(c) for c in rest]
    if bech32_polymod(hrp_expand(hrp) + groups) != BECH32M_CONST:
        return None
    acc, bits, out = 0, 0, bytearray()
    for g in groups[:-6]:
        acc, bits = (acc << 5) | g, bits + 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    return hrp, bytes(out)


# --- primitives ------------------------------------------------------------------

def blake2b(outlen, label, *parts):
    """crypto_generichash(out, outlen, parts..., key = label)."""
    return keyed_blake2b(b"".join(parts), outlen, label.encode("ascii"))


def key_nonce(label, *parts):
    h = blake2b(56, label, *parts)
    return h[:32], h[32:]


def u32be(i):
    return i.to_bytes(4, "big")


# --- the decoders, from §17.6 ------------------------------------------------------

class Refused(Exception):
    pass


def layout(data, first, min_len, max_len):
    if len(data) > max_len:
        raise Refused("too_large")
    if not data:
        raise Refused("truncated")
    if data[0] != first:
        raise Refused("unexpected_kind")
    if len(data) < min_len:
        raise Refused("truncated")


def open_request(l, data):
    layout(data, 0x01, REQUEST_OVERHEAD, MAX_REQUEST_LEN)
    e_j = data[1:33]
    k, n = key_nonce("nightjar/v2/link-request", l, e_j)
    payload = open_(k, n, data[:33], data[33:])
    if payload is None:
        raise Refused("decrypt_failed")
    return e_j, payload


def open_hello(l, e_j_secret, data):
    layout(data, 0x01, HELLO_LEN, HELLO_LEN)
    e_j = sodium.crypto_scalarmult_base(e_j_secret)
    e_x = data[1:33]
    s = x25519(e_j_secret, e_x)
    if s is None:
        raise Refused("low_order_point")
    k, n = key_nonce("nightjar/v2/link-hello", l, s, e_j, e_x)
    if open_(k, n, b"\x01" + e_x + e_j, data[33:]) is None:
        raise Refused("decrypt_failed")
    return (l, s, e_j, e_x)


def open_answer(session, data):
    l, s, e_j, e_x = session
    layout(data, 0x02, ANSWER_OVERHEAD, MAX_ANSWER_LEN)
    if data[1:33] != e_x:
        raise Refused("other_session")
    i = data[33:37]
    k, n = key_nonce("nightjar/v2/link-answer", l, s, e_j, e_x, i)
    payload = open_(k, n, b"\x02" + e_x + e_j + i, data[37:])
    if payload is None:
        raise Refused("decrypt_failed")
    return int.from_bytes(i, "big"), payload


def attempt(decoder, *args):
    """What a decoder returns, or 'refused: <error>' (so a refusal is a mismatch, not a crash)."""
    try:
        return decoder(*args)
    except Refused as e:
        return f"refused: {e}"


# --- the vectors ---------------------------------------------------------------------

def check_case(c):
    name = c["name"]
    pk, _ = sodium.crypto_sign_seed_keypair(bytes.fromhex(c["account_seed"]))
    check(f"{name}: account", pk.hex(), c["account"])
    l = bytes.fromhex(c["code_secret"])
    code_data = b"\x01" + pk + l
    check(f"{name}: code data", code_data.hex(), c["code_data"])
    text = bech32m_encode("njlink", code_data)
    check(f"{name}: code text", text, c["code_text"])
    check(f"{name}: code text length", len(text), 117)
    for shown in (c["code_text"], c["code_text"].upper()):
        check(f"{name}: code text decodes", bech32m_decode(shown), ("njlink", code_data))

    # J: the request.
    e_j_secret = bytes.fromhex(c["joiner_secret"])
    e_j = sodium.crypto_scalarmult_base(e_j_secret)
    check(f"{name}: E_J", e_j.hex(), c["joiner_public"])
    k, n = key_nonce("nightjar/v2/link-request", l, e_j)
    check(f"{name}: request key", k.hex(), c["request_key"])
    check(f"{name}: request nonce", n.hex(), c["request_nonce"])
    aad = b"\x01" + e_j
    check(f"{name}: request aad", aad.hex(), c["request_aad"])
    payload = bytes.fromhex(c["request_payload"])
    request = aad + seal(k, n, aad, payload)
    check(f"{name}: request", request.hex(), c["request"])
    check(f"{name}: request opens", attempt(open_request, l, bytes.fromhex(c["request"])),
          (e_j, payload))

    # X: the hello and the SAS.
    e_x_secret = bytes.fromhex(c["linker_secret"])
    e_x = sodium.crypto_scalarmult_base(e_x_secret)
    check(f"{name}: E_X", e_x.hex(), c["linker_public"])
    s = x25519(e_x_secret, e_j)
    check(f"{name}: S", s.hex(), c["shared_secret"])
    check(f"{name}: S from J's side", x25519(e_j_secret, e_x), s)
    k, n = key_nonce("nightjar/v2/link-hello", l, s, e_j, e_x)
    check(f"{name}: hello key", k.hex(), c["hello_key"])
    check(f"{name}: hello nonce", n.hex(), c["hello_nonce"])
    aad = b"\x01" + e_x + e_j
    check(f"{name}: hello aad", aad.hex(), c["hello_aad"])
    tag = seal(k, n, aad, b"")
    check(f"{name}: hello tag", tag.hex(), c["hello_tag"])
    check(f"{name}: hello", (b"\x01" + e_x + tag).hex(), c["hello"])
    h = blake2b(32, "nightjar/v2/link-sas", l, s, e_j, e_x)
    check(f"{name}: SAS hash", h.hex(), c["sas_hash"])
    sas = int.from_bytes(h[:4], "big") % 1_000_000
    check(f"{name}: SAS", sas, c["sas"])
    check(f"{name}: SAS text", f"{sas // 1000:03d} {sas % 1000:03d}", c["sas_text"])
    check(f"{name}: hello opens", attempt(open_hello, l, e_j_secret, bytes.fromhex(c["hello"])),
          (l, s, e_j, e_x))
    session = (l, s, e_j, e_x)

    # X: the answers; J opens them.
    for a in c["answers"]:
        i = a["index"]
        what = f"{name}: answer {i}"
        k, n = key_nonce("nightjar/v2/link-answer", l, s, e_j, e_x, u32be(i))
        check(f"{what} key", k.hex(), a["key"])
        check(f"{what} nonce", n.hex(), a["nonce"])
        aad = b"\x02" + e_x + e_j + u32be(i)
        check(f"{what} aad", aad.hex(), a["aad"])
        payload = bytes.fromhex(a["payload"])
        record = b"\x02" + e_x + u32be(i) + seal(k, n, aad, payload)
        check(f"{what} record", record.hex(), a["record"])
        check(f"{what} opens", attempt(open_answer, session, bytes.fromhex(a["record"])),
              (i, payload))

    # Records that must not open.
    check(f"{name}: refused records", len(c["refused"]) >= 10, True)
    for r in c["refused"]:
        data = bytes.fromhex(r["bytes"])
        try:
            if r["opened_as"] == "request":
                open_request(l, data)
            elif r["opened_as"] == "hello":
                open_hello(l, e_j_secret, data)
            else:
                open_answer(session, data)
            got = "opened"
        except Refused as e:
            got = str(e)
        check(f"{name}: refused '{r['name']}'", got, r["error"])


def main():
    try:
        cases = load_json("link.json")["cases"]
        check("link.json has cases", len(cases) >= 2, True)
        for c in cases:
            check_case(c)
    except Exception as e:  # noqa: BLE001 - any crash is a failed check
        crashed("link.json", e)
    sys.exit(finish())


if __name__ == "__main__":
    main()

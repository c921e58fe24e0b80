#!/usr/bin/env python3
"""Independent check of Nightjar's circuit vectors (docs/PROTOCOL.md §11.10).

Recomputes test-vectors/circuit.json from its inputs (node seeds, ephemeral
secrets, circuit IDs, sequence numbers, frames) with libsodium (PyNaCl:
crypto_sign_seed_keypair, crypto_sign_ed25519_pk_to_curve25519 and
_sk_to_curve25519, crypto_scalarmult(_base), keyed BLAKE2b through
nacl.hashlib.blake2b, XChaCha20-Poly1305-IETF), building every layer from the
text of §11.10 rather than from the file's intermediate values. Then it plays
each side: every node peels the create cell it receives and must produce the
next recorded one, every relay opens the forward cell it receives and must
produce the next, the exit opens its payload and reassembles the request,
and the client opens every backward cell it receives (the exit's answers
and the relay error) down to the payload or the error.

    pip install pynacl
    python3 test-vectors/check_circuit.py

Exits non-zero on any mismatch; ends with 'N passed, M failed'.
"""

import sys

try:
    import nacl.bindings as sodium
except ImportError:  # pragma: no cover
    sys.exit("PyNaCl is required: pip install pynacl")

from vectors_common import blake2b, check, fail, finish, load_json, seal
from vectors_common import open_ as unseal

# §11.10's table and §11.1's buckets.
CELL_LEN = 1232
HEADER_LEN = 17
TAG = 16
REQUEST_BUCKETS = (1024, 4096, 16384, 65536, 98304)
CIRCUIT_RESPONSE_BUCKETS = (1024, 4096, 16384, 65536)
FRAGMENT_HEADER = 9

CREATE, FORWARD, BACKWARD = 0x01, 0x02, 0x03
AAD_FORWARD = bytes([0x01, 0x02])
AAD_BACKWARD = bytes([0x01, 0x03])


def tally(what, ok, detail=""):
    """Count one check that is a condition; print what failed."""
    if ok:
        check(what, True, True)
    else:
        fail(what, detail)


def same(what, ours, recorded):
    """Count one byte (or value) comparison of a recomputed value with the file's hex."""
    if isinstance(recorded, str) and isinstance(ours, (bytes, bytearray)):
        ours = ours.hex()
    check(what, ours, recorded)


# --- primitives (keyed BLAKE2b and XChaCha20-Poly1305: vectors_common) -------------

def kdf56(label, s, e, y):
    """BLAKE2b, 56-byte output, keyed with the label, over S || E || Y."""
    return blake2b(s + e + y, 56, label.encode("ascii"))


def nonce_for(base, seq):
    """nonce(base, seq) = base XOR (0x00 * 16 || u64be(seq))."""
    mixed = bytes(a ^ b for a, b in zip(base[16:], seq.to_bytes(8, "big")))
    return base[:16] + mixed


def be32(n):
    return n.to_bytes(4, "big")


def be16(n):
    return n.to_bytes(2, "big")


def be64(n):
    return n.to_bytes(8, "big")


# --- keys of one hop -------------------------------------------------------------

class Hop:
    """A node (seed) and the client's ephemeral secret for it."""

    def __init__(self, node_seed, e):
        self.n, _ = sodium.crypto_sign_seed_keypair(node_seed)
        self.y = sodium.crypto_sign_ed25519_pk_to_curve25519(self.n)
        self.e_pub = sodium.crypto_scalarmult_base(e)
        self.s = sodium.crypto_scalarmult(e, self.y)
        c = kdf56("nightjar/v1/circuit-create", self.s, self.e_pub, self.y)
        f = kdf56("nightjar/v1/circuit-forward", self.s, self.e_pub, self.y)
        b = kdf56("nightjar/v1/circuit-backward", self.s, self.e_pub, self.y)
        self.create_key, self.create_nonce = c[:32], c[32:]
        self.forward_key, self.forward_base = f[:32], f[32:]
        self.backward_key, self.backward_base = b[:32], b[32:]


class NodeKeys:
    """What a node derives from a create's E with its own secret alone."""

    def __init__(self, node_seed, e_pub):
        n, node_sk = sodium.crypto_sign_seed_keypair(node_seed)
        y = sodium.crypto_sign_ed25519_pk_to_curve25519(n)
        y_secret = sodium.crypto_sign_ed25519_sk_to_curve25519(node_sk)
        self.s = sodium.crypto_scalarmult(y_secret, e_pub)
        c = kdf56("nightjar/v1/circuit-create", self.s, e_pub, y)
        f = kdf56("nightjar/v1/circuit-forward", self.s, e_pub, y)
        b = kdf56("nightjar/v1/circuit-backward", self.s, e_pub, y)
        self.create_key, self.create_nonce = c[:32], c[32:]
        self.forward_key, self.forward_base = f[:32], f[32:]
        self.backward_key, self.backward_base = b[:32], b[32:]


# --- payloads --------------------------------------------------------------------

def padded(frame, buckets):
    """u32be(|F|) || F || zeros up to the smallest bucket >= 4 + |F|."""
    size = next(b for b in buckets if b >= 4 + len(frame))
    body = be32(len(frame)) + frame
    return body + bytes(size - len(body))


def fragment_list(request_id, data, p):
    chunk = p - FRAGMENT_HEADER
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    out = []
    for index, piece in enumerate(pieces):
        x = bytes([0x01]) + be32(request_id) + be16(index) + be16(len(pieces)) + piece
        out.append(x + bytes(p - len(x)))
    return out


def parse_payload(x):
    """('fragment', id, index, count, chunk) | ('created',) | ('error', id, code) | None."""
    if not x:
        return None
    kind = x[0]
    if kind == 0x01 and len(x) > FRAGMENT_HEADER:
        rid = int.from_bytes(x[1:5], "big")
        index = int.from_bytes(x[5:7], "big")
        count = int.from_bytes(x[7:9], "big")
        if count == 0 or index >= count:
            return None
        return ("fragment", rid, index, count, x[9:])
    if kind == 0x02 and not any(x[1:]):
        return ("created",)
    if kind == 0x03 and len(x) >= 6 and not any(x[6:]):
        return ("error", int.from_bytes(x[1:5], "big"), x[5])
    return None


def unpadded(joined, buckets):
    """F of a reassembled D, or None for bad padding."""
    if len(joined) < 4:
        return None
    size = int.from_bytes(joined[:4], "big")
    fitting = [b for b in buckets if b >= 4 + size]
    if not fitting or size > len(joined) - 4 or any(joined[4 + size:]):
        return None
    return joined[4:4 + size]


# --- one case --------------------------------------------------------------------

def check_case(c):
    name = c["name"]
    n = len(c["nodes"])
    p = 1215 - 16 * n
    end_len = 1175 - 82 * (n - 1)
    same(f"{name} hops", n, c["hops"])
    same(f"{name} P", p, c["payload_len"])
    same(f"{name} end plaintext length", end_len, c["end_plaintext_len"])
    seeds = [bytes.fromhex(x["node_seed"]) for x in c["nodes"]]
    ephemerals = [bytes.fromhex(x["ephemeral_secret"]) for x in c["nodes"]]
    ids = [bytes.fromhex(x["circuit_id"]) for x in c["nodes"]]
    hops = [Hop(s, e) for s, e in zip(seeds, ephemerals)]

    # Keys of every hop.
    for i, (hop, x) in enumerate(zip(hops, c["nodes"])):
        tag = f"{name} hop {i}"
        same(f"{tag} N", hop.n, x["node_ed25519_public"])
        same(f"{tag} Y", hop.y, x["node_x25519_public"])
        same(f"{tag} E", hop.e_pub, x["ephemeral_public"])
        same(f"{tag} S", hop.s, x["shared_secret"])
        tally(f"{tag} S not zero", hop.s != bytes(32))
        same(f"{tag} create key", hop.create_key, x["create_key"])
        same(f"{tag} create nonce", hop.create_nonce, x["create_nonce"])
        same(f"{tag} forward key", hop.forward_key, x["forward_key"])
        same(f"{tag} forward nonce base", hop.forward_base, x["forward_nonce_base"])
        same(f"{tag} backward key", hop.backward_key, x["backward_key"])
        same(f"{tag} backward nonce base", hop.backward_base, x["backward_nonce_base"])
        tally(f"{tag} circuit ID is 8 bytes", len(ids[i]) == 8)

    # Create layers, built from the exit outwards.
    layers = [None] * n
    plaintexts = [None] * n
    for i in reversed(range(n)):
        if i == n - 1:
            plain = bytes([0x01, 0x02]) + bytes(end_len - 2)
        else:
            plain = bytes([0x01, 0x01]) + hops[i + 1].n + hops[i + 1].e_pub + layers[i + 1]
        aad = bytes([0x01, CREATE]) + hops[i].e_pub
        plaintexts[i] = plain
        layers[i] = seal(hops[i].create_key, hops[i].create_nonce, aad, plain)
    for i, x in enumerate(c["nodes"]):
        tag = f"{name} hop {i}"
        same(f"{tag} create plaintext", plaintexts[i], x["create_plaintext"])
        same(f"{tag} create layer", layers[i], x["create_layer"])
        built = bytes([CREATE]) + ids[i] + hops[i].e_pub + layers[i]
        same(f"{tag} create cell", built, x["create_cell"])
    same(f"{name} create cell length", len(bytes.fromhex(c["nodes"][0]["create_cell"])), CELL_LEN)

    # Each node peels the create it received, with its own secret only.
    relays = []
    for i, x in enumerate(c["nodes"]):
        tag = f"{name} node {i}"
        cell = bytes.fromhex(x["create_cell"])
        ok = len(cell) <= CELL_LEN and cell[0] == CREATE
        tally(f"{tag} create cell type and size", ok)
        if not ok:
            return
        e_pub, layer = cell[9:41], cell[41:]
        node = NodeKeys(seeds[i], e_pub)
        relays.append(node)
        tally(f"{tag} node-side S", node.s == hops[i].s)
        plain = unseal(node.create_key, node.create_nonce, bytes([0x01, CREATE]) + e_pub, layer)
        tally(f"{tag} create layer opens", plain is not None)
        if plain is None:
            return
        tally(f"{tag} create version", plain[0] == 0x01)
        if i < n - 1:
            tally(f"{tag} extend kind", plain[1] == 0x01)
            nxt, e_next, inner = plain[2:34], plain[34:66], plain[66:]
            same(f"{tag} next node", nxt, c["nodes"][i + 1]["node_ed25519_public"])
            outgoing = bytes([CREATE]) + ids[i + 1] + e_next + inner
            same(f"{tag} outgoing create", outgoing, c["nodes"][i + 1]["create_cell"])
        else:
            tally(f"{tag} end kind", plain[1] == 0x02)
            tally(f"{tag} end padding zero", not any(plain[2:]))
            shrink = (CELL_LEN - 41 - TAG) - len(plain)
            told = shrink // 82 + 1 if shrink >= 0 and shrink % 82 == 0 else None
            same(f"{tag} hop count from the end length", told, c["end_hops"])
            same(f"{tag} hop count is n", told, n)

    # Forward cells.
    for f in c["forward"]:
        seq = f["seq"]
        tag = f"{name} forward seq {seq}"
        frame = bytes.fromhex(f["request_frame"])
        d = padded(frame, REQUEST_BUCKETS)
        same(f"{tag} D", d, f["padded_request"])
        frags = fragment_list(f["request_id"], d, p)
        tally(f"{tag} one fragment", len(frags) == 1)
        x = frags[0]
        same(f"{tag} X", x, f["payload"])
        same(f"{tag} nonces", [nonce_for(hp.forward_base, seq).hex() for hp in hops], f["nonces"])
        blob = x
        built = [None] * n
        for i in reversed(range(n)):
            blob = seal(hops[i].forward_key, nonce_for(hops[i].forward_base, seq), AAD_FORWARD, blob)
            built[i] = bytes([FORWARD]) + ids[i] + be64(seq) + blob
        for i in range(n):
            same(f"{tag} cell {i}", built[i], f["cells"][i])
        same(f"{tag} client cell length", len(built[0]), CELL_LEN)
        # As the relays and the exit: open the received cell.
        for i in range(n):
            cell = bytes.fromhex(f["cells"][i])
            tally(f"{tag} cell {i} header", cell[0] == FORWARD and cell[1:9] == ids[i]
                  and int.from_bytes(cell[9:17], "big") == seq)
            node = relays[i]
            inner = unseal(node.forward_key, nonce_for(node.forward_base, seq), AAD_FORWARD,
                           cell[HEADER_LEN:])
            tally(f"{tag} node {i} opens", inner is not None)
            if inner is None:
                break
            if i < n - 1:
                same(f"{tag} node {i} relays", bytes([FORWARD]) + ids[i + 1] + be64(seq) + inner,
                     f["cells"][i + 1])
                same(f"{tag} node {i} cell shrinks by 16", len(cell) - len(inner) - HEADER_LEN, TAG)
            else:
                same(f"{tag} exit payload", inner, f["payload"])
                parsed = parse_payload(inner)
                ok = parsed is not None and parsed[0] == "fragment"
                tally(f"{tag} exit parses a fragment", ok)
                if ok:
                    same(f"{tag} fragment id/index/count", parsed[1:4], (f["request_id"], 0, 1))
                    same(f"{tag} exit reassembles F", unpadded(parsed[4], REQUEST_BUCKETS), frame)

    # Backward cells.
    for b in c["backward"]:
        seq = b["seq"]
        tag = f"{name} backward seq {seq}"
        if b["kind"] == "created":
            x = bytes([0x02]) + bytes(p - 1)
            g = None
        else:
            g = bytes.fromhex(b["response_frame"])
            d = padded(g, CIRCUIT_RESPONSE_BUCKETS)
            same(f"{tag} D'", d, b["padded_response"])
            frags = fragment_list(b["request_id"], d, p)
            tally(f"{tag} one fragment", len(frags) == 1)
            x = frags[0]
        same(f"{tag} X'", x, b["payload"])
        same(f"{tag} nonces", [nonce_for(hp.backward_base, seq).hex() for hp in hops], b["nonces"])
        blob = x
        for i in reversed(range(n)):
            # Hop i (the exit first) seals what it has under its own keys.
            node = relays[i]
            blob = seal(node.backward_key, nonce_for(node.backward_base, seq), AAD_BACKWARD, blob)
            same(f"{tag} cell {i}", bytes([BACKWARD]) + ids[i] + be64(seq) + blob, b["cells"][i])
        received = bytes.fromhex(b["cells"][0])
        same(f"{tag} client cell length", len(received), CELL_LEN)
        # As the client: open hop 0's layer, then the one inside, and so on.
        opened = client_open(hops, received, seq)
        if b["kind"] == "created":
            same(f"{tag} client gets created", opened, ("payload", ("created",)))
        else:
            ok = opened is not None and opened[0] == "payload" and opened[1] is not None \
                and opened[1][0] == "fragment"
            tally(f"{tag} client gets a fragment", ok, repr(opened)[:200])
            if ok:
                _, rid, index, count, chunk = opened[1]
                same(f"{tag} fragment id/index/count", (rid, index, count), (b["request_id"], 0, 1))
                same(f"{tag} client reassembles G", unpadded(chunk, CIRCUIT_RESPONSE_BUCKETS), g)

    # The relay error.
    r = c.get("relay_error")
    if r is not None:
        k, code, seq = r["hop"], r["code"], r["seq"]
        tag = f"{name} relay error from hop {k}"
        plain = bytes([0x01, 0x03, code]) + bytes(29)
        same(f"{tag} plaintext", plain, r["plaintext"])
        same(f"{tag} nonces", [nonce_for(hp.backward_base, seq).hex() for hp in hops[:k + 1]],
             r["nonces"])
        tally(f"{tag} from a relay", k < n - 1)
        blob = plain
        for i in reversed(range(k + 1)):
            node = relays[i]
            blob = seal(node.backward_key, nonce_for(node.backward_base, seq), AAD_BACKWARD, blob)
            same(f"{tag} cell {i}", bytes([BACKWARD]) + ids[i] + be64(seq) + blob, r["cells"][i])
        same(f"{tag} cells", len(r["cells"]), k + 1)
        received = bytes.fromhex(r["cells"][0])
        same(f"{tag} client reads it", client_open(hops, received, seq), ("relay_error", k, code))


def client_open(hops, cell, seq):
    """The client's reading of a backward cell (§11.10, Data cells):
    ('payload', parsed X') | ('relay_error', hop, code) | None."""
    if len(cell) < HEADER_LEN + TAG + 1 or cell[0] != BACKWARD:
        return None
    if int.from_bytes(cell[9:17], "big") != seq:
        return None
    blob = cell[HEADER_LEN:]
    n = len(hops)
    for i, hop in enumerate(hops):
        blob = unseal(hop.backward_key, nonce_for(hop.backward_base, seq), AAD_BACKWARD, blob)
        if blob is None:
            return None
        if i < n - 1 and len(blob) == 32:
            if blob[0] == 0x01 and blob[1] == 0x03 and not any(blob[3:]):
                return ("relay_error", i, blob[2])
            return None
    if len(blob) != 1215 - 16 * n:
        return None
    return ("payload", parse_payload(blob))


def main():
    data = load_json("circuit.json")
    counts = sorted(len(c["nodes"]) for c in data["cases"])
    tally("cases of 1, 4 and 8 hops", all(k in counts for k in (1, 4, 8)), repr(counts))
    for c in data["cases"]:
        try:
            check_case(c)
        except Exception as e:  # noqa: BLE001 - any crash is a failed case
            tally(f"{c.get('name')} runs", False, repr(e))
    return finish()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Classify a node process's `perf record` samples by where they were spent.

    perf record -F 499 -g -o store.perf -- \
        ./target/release/nightjar-bench store --nodes 1 --messages 10000 --concurrency 32
    perf report -i store.perf --sort pid,comm -g none --stdio   # find the node's thread ids
    python3 crates/nightjar-bench/scripts/perf_classify.py store.perf TID,TID,...

Each sample goes to the first class that matches its thread name or any
symbol of its (possibly unwound) stack; see `cat` below. Used for the
breakdown in BENCHMARKS.md ("Acknowledged stores").
"""

import sys, subprocess, collections
perf, tids = sys.argv[1], sys.argv[2]
out = subprocess.run(["perf","script","-i",perf,"--tid",tids,"-F","tid,comm,ip,sym"],capture_output=True,text=True).stdout
samples=[]; cur=None
for line in out.splitlines():
    if not line.strip():
        if cur: samples.append(cur); cur=None
        continue
    if not line.startswith((" ","\t")):
        if cur: samples.append(cur)
        parts=line.split()
        cur={"head":line,"frames":[]}
    else:
        cur["frames"].append(line.strip())
if cur: samples.append(cur)
def cat(s):
    h=s["head"]; fr=" ".join(s["frames"])
    if "nightjar-store-" in h:
        if "fsync" in fr or "fdatasync" in fr: return "store writer: fsync"
        if "sqlite3WalFrames" in fr or "pagerWalFrames" in fr or "walWrite" in fr or "pwrite" in fr: return "store writer: WAL frames written"
        return "store writer: statements, other"
    if "sign" in fr and ("ed25519" in fr.lower()) and "verify" not in fr: return "Ed25519 sign (receipt)"
    if "verify" in fr and "ed25519" in fr.lower(): return "Ed25519 verify"
    if "decompress" in fr or "from_bytes" in fr and "curve25519" in fr: return "account key decode"
    if "curve25519" in fr or "ed25519" in fr: return "curve25519 other"
    if "blake2" in fr.lower(): return "BLAKE2b (message hash)"
    if "sendmsg" in fr or "sendto" in fr: return "UDP send (kernel)"
    if "recvmsg" in fr or "recvfrom" in fr: return "UDP receive (kernel)"
    if "quinn" in fr or "rustls" in fr or "aws_lc" in fr or "ring::" in fr: return "QUIC/TLS (quinn, rustls, AEAD)"
    if "epoll" in fr or "futex" in fr or "schedule" in fr: return "wakeups (epoll, futex, scheduler)"
    if "malloc" in fr or "free" in fr or "alloc" in fr: return "allocation"
    if "prost" in fr or "nightjar_wire" in fr: return "framing/decode"
    if "tokio" in fr: return "tokio"
    return "other"
c=collections.Counter(cat(s) for s in samples)
n=sum(c.values())
for k,v in c.most_common(): print(f"{v:6d} {100*v/n:5.1f}%  {k}")
print(f"{n:6d} samples")

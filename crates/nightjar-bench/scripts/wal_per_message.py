#!/usr/bin/env python3
"""WAL bytes per stored message, store schema version 3 against version 4.

    python3 crates/nightjar-bench/scripts/wal_per_message.py [ROWS] [ACCOUNTS]

Creates the `messages` table with each version's DDL (version 3's is
nightjar_store::MESSAGES_V3_DDL, checked by a Rust test), then inserts
ROWS rows (default 10,000; 300-byte payloads, random hashes, ACCOUNTS
recipients, default 1) 32 per transaction with WAL, synchronous=FULL, the
node writer's 32 MiB cache and automatic checkpoints off, so the WAL file holds every frame
written; prints its size over ROWS for each version. Python's sqlite3 runs
the same statements the node's writer runs for a new message's row (the
node adds a usage upsert, identical in both versions).
"""

import os
import sqlite3
import sys
import tempfile

# The schema-3 `messages` table and its indexes: nightjar_store::MESSAGES_V3_DDL
# character for character (a test in crates/nightjar-bench/src/store.rs
# fails when they differ).
V3 = """
CREATE TABLE messages (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    account      BLOB    NOT NULL,
    namespace    INTEGER NOT NULL,
    hash         BLOB    NOT NULL,
    data         BLOB    NOT NULL,
    stored_at_ms INTEGER NOT NULL,
    expiry_ms    INTEGER NOT NULL,
    pos          INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account, namespace, hash)
);
CREATE INDEX messages_by_cursor ON messages (account, namespace, seq);
CREATE INDEX messages_by_expiry ON messages (expiry_ms);
CREATE INDEX messages_by_pos ON messages (pos, hash, account, namespace, expiry_ms);
"""
# Version 4: the same without the UNIQUE key.
V4 = V3.replace(",\n    UNIQUE (account, namespace, hash)\n", "\n")
assert V4 != V3
# Version 3 inserts with ON CONFLICT on its unique key; version 4 looks the
# key up in messages_by_pos first (INSERT_UNLESS_HELD_OR_TOMBSTONED).
INSERT_V3 = """INSERT INTO messages (account, namespace, hash, data, stored_at_ms, expiry_ms, pos)
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
     ON CONFLICT (account, namespace, hash) DO NOTHING"""
INSERT_V4 = """INSERT INTO messages (account, namespace, hash, data, stored_at_ms, expiry_ms, pos)
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
     WHERE NOT EXISTS (SELECT 1 FROM messages INDEXED BY messages_by_pos
                       WHERE pos = ?7 AND hash = ?3 AND account = ?1 AND namespace = ?2)"""


def wal_per_row(ddl, insert, rows, accounts):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.sqlite")
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA cache_size=-32768")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.executescript(ddl)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rnd = __import__("random").Random(7)
        now = 1_800_000_000_000
        accts = [bytes(rnd.getrandbits(8) for _ in range(32)) for _ in range(accounts)]
        for start in range(0, rows, 32):
            conn.execute("BEGIN")
            for i in range(start, min(rows, start + 32)):
                a = accts[i % accounts]
                conn.execute(insert, (a, 0, rnd.randbytes(32), rnd.randbytes(300), now,
                                      now + 3_600_000 + i, int.from_bytes(a[:8], "big") - (1 << 63)))
            conn.execute("COMMIT")
        wal = os.path.getsize(path + "-wal")
        conn.close()
        return wal / rows


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    accounts = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    v3 = wal_per_row(V3, INSERT_V3, rows, accounts)
    v4 = wal_per_row(V4, INSERT_V4, rows, accounts)
    print(f"{rows} rows, {accounts} accounts, 32 per commit: WAL bytes per message: "
          f"schema 3 {v3:.0f}, schema 4 {v4:.0f} ({v4 / v3:.2f})")


if __name__ == "__main__":
    main()

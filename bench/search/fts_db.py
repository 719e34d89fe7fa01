#!/usr/bin/env python3
"""Copies Gongshu's published catalog into a SQLite database with an FTS5 index, as a
Datasette publisher would set it up (`sqlite-utils enable-fts`, default tokenizer), so the
peer searches exactly the same entries.

    fts_db.py DATA_DIR/gongshu.db OUT.sqlite
"""
import json
import os
import sqlite3
import subprocess
import sys

src = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
out = sys.argv[2]
if os.path.exists(out):
    os.remove(out)
dst = sqlite3.connect(out)
dst.execute(
    "CREATE TABLE entries (id INTEGER PRIMARY KEY, code TEXT, title TEXT, summary TEXT, "
    "keywords TEXT, items TEXT, provider TEXT, updated_at TEXT)"
)
rows = src.execute(
    "SELECT p.id, p.code, p.title, p.doc, o.name, p.updated_at FROM published_datasets p "
    "JOIN organizations o ON o.id = p.provider_id"
)
batch = []
for id_, code, title, doc, provider, updated in rows:
    d = json.loads(doc)
    batch.append(
        (
            id_,
            code,
            title,
            d.get("summary", ""),
            " ".join(d.get("keywords", [])),
            " ".join(i["name"] for i in d.get("items", [])),
            provider,
            updated,
        )
    )
dst.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
dst.commit()
dst.close()
tool = os.path.join(os.path.dirname(sys.executable), "sqlite-utils")
subprocess.run(
    [tool, "enable-fts", out, "entries", "code", "title", "summary", "keywords", "items",
     "provider", "--fts5"],
    check=True,
)
print(f"{len(batch)} entries in {out}", file=sys.stderr)

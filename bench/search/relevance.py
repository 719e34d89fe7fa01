#!/usr/bin/env python3
"""Judged-query relevance of Gongshu's catalog search against two substring/FTS peers.

    relevance.py --api http://127.0.0.1:PORT --db DATA_DIR/gongshu.db QUERIES.json [--fts FTS.sqlite]

For every query it asks three engines for their first 10 published entries:
  * Gongshu:  GET /api/v1/datasets?q=...&per_page=10 (the tantivy index, relevance order);
  * LIKE:     the plain substring search Gongshu used before the index, on the same SQLite
              table: search_text LIKE '%q%' over title, summary, keywords, data items,
              provider and code, newest first;
  * FTS5:     (with --fts) SQLite FTS5 with its default unicode61 tokenizer, as
              `sqlite-utils enable-fts` sets up for Datasette, ranked by bm25.
Judgments are either a list of titles ("relevant") or a predicate over the catalog
("relevant_if": title_prefix, title_contains (all of), year, code, provider_id), which the
generated catalog's queries use because their relevant sets follow from how it is built.

P@5 is the share of the first five that are relevant, out of min(5, number relevant), so a
query with one right answer scores 1 when that answer is among the five. MRR is the mean of
1/rank of the first relevant result within the first 10 (0 when none). Prints a Markdown
table per engine and kind, and the per-query misses of Gongshu on stderr.
"""
import argparse
import json
import sqlite3
import sys
import urllib.parse
import urllib.request
from collections import defaultdict


def gongshu(api, q):
    url = f"{api}/api/v1/datasets?" + urllib.parse.urlencode({"q": q, "per_page": 10})
    with urllib.request.urlopen(url, timeout=30) as r:
        body = json.load(r)
    return [item["id"] for item in body["items"]]


def like(db, q):
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = db.execute(
        "SELECT id FROM published_datasets WHERE search_text LIKE ? ESCAPE '\\' "
        "ORDER BY updated_at DESC, id DESC LIMIT 10",
        (pattern,),
    )
    return [r[0] for r in rows]


def fts(fdb, q):
    # What a Datasette user's ?_search= does: the words as an FTS5 query, bm25 order.
    terms = " ".join('"' + t.replace('"', '""') + '"' for t in q.split())
    if not terms:
        return []
    try:
        rows = fdb.execute(
            "SELECT rowid FROM entries_fts WHERE entries_fts MATCH ? ORDER BY rank LIMIT 10",
            (terms,),
        )
        return [r[0] for r in rows]
    except sqlite3.OperationalError:
        return []


def judge(db, spec):
    """A function id -> relevant?, and the number of relevant entries."""
    if "relevant" in spec:
        titles = spec["relevant"]
        ids = {}
        for t in titles:
            row = db.execute("SELECT id FROM published_datasets WHERE title = ?", (t,)).fetchone()
            if row is None:
                sys.exit(f"judged title not published: {t}")
            ids[row[0]] = t
        return (lambda i: i in ids), len(ids)
    cond = spec["relevant_if"]
    where, args = [], []
    if "title_prefix" in cond:
        where.append("substr(title, 1, length(?)) = ?")
        args += [cond["title_prefix"], cond["title_prefix"]]
    for c in cond.get("title_contains", []):
        where.append("instr(title, ?) > 0")
        args.append(c)
    if "year" in cond:
        where.append("instr(title, ?) > 0")
        args.append(f"{cond['year']}年")
    if "code" in cond:
        where.append("code = ?")
        args.append(cond["code"])
    if "provider_id" in cond:
        where.append("provider_id = ?")
        args.append(cond["provider_id"])
    sql = "SELECT id FROM published_datasets WHERE " + " AND ".join(where)
    ids = {r[0] for r in db.execute(sql, args)}
    if not ids:
        sys.exit(f"query {spec['q']!r} has no relevant entry in this catalog")
    return (lambda i: i in ids), len(ids)


def scores(found, relevant, n_relevant):
    top5 = sum(1 for i in found[:5] if relevant(i))
    p5 = top5 / min(5, n_relevant)
    rr = next((1 / (k + 1) for k, i in enumerate(found[:10]) if relevant(i)), 0.0)
    return p5, rr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--fts")
    ap.add_argument("queries")
    a = ap.parse_args()
    db = sqlite3.connect(f"file:{a.db}?mode=ro", uri=True)
    fdb = sqlite3.connect(f"file:{a.fts}?mode=ro", uri=True) if a.fts else None
    spec = json.load(open(a.queries, encoding="utf-8"))
    engines = ["Gongshu", "LIKE"] + (["FTS5"] if fdb else [])
    acc = defaultdict(lambda: [0.0, 0.0, 0])  # (engine, kind) -> p5 sum, rr sum, n
    for qs in spec["queries"]:
        relevant, n = judge(db, qs)
        results = {
            "Gongshu": gongshu(a.api, qs["q"]),
            "LIKE": like(db, qs["q"]),
        }
        if fdb:
            results["FTS5"] = fts(fdb, qs["q"])
        for e in engines:
            p5, rr = scores(results[e], relevant, n)
            for k in (qs["kind"], "all"):
                t = acc[(e, k)]
                t[0] += p5
                t[1] += rr
                t[2] += 1
            if e == "Gongshu" and p5 < 1:
                print(f"Gongshu P@5={p5:.2f} RR={rr:.2f} for {qs['q']!r} ({qs['kind']})", file=sys.stderr)
    kinds = sorted({k for (_, k) in acc if k != "all"}) + ["all"]
    print(f"{spec.get('catalog', '?')} catalog, {len(spec['queries'])} judged queries.")
    print()
    print("| kind | queries | " + " | ".join(f"{e} P@5 | {e} MRR" for e in engines) + " |")
    print("|---|---|" + "---|---|" * len(engines))
    for k in kinds:
        n = acc[("Gongshu", k)][2]
        cells = []
        for e in engines:
            p, r, m = acc[(e, k)]
            cells += [f"{p / m:.2f}", f"{r / m:.2f}"]
        label = f"**{k}**" if k == "all" else k
        print(f"| {label} | {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

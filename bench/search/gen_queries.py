#!/usr/bin/env python3
"""Writes the judged queries over the generated catalog (`serve --demo --demo-scale N`).

    gen_queries.py DATA_DIR/gongshu.db OUT.json

The generated catalog restates every demo entry for each city and county and a year, so
what a query should find follows from how it is built: "历下区 排污许可" wants the entries
whose title starts with 历下区 and contains 排污许可. Those judgments are written as
predicates (`relevant_if`) that relevance.py evaluates against the catalog. The choice of
regions and topics is seeded, so the same catalog gives the same file.
"""
import json
import random
import sqlite3
import sys

# (what a user types, what the title must contain to answer it)
TOPICS = [
    ("排污许可", "排污许可证"),
    ("医疗机构", "医疗机构"),
    ("公交", "公交"),
    ("空气质量", "空气质量"),
    ("幼儿园", "幼儿园"),
    ("失信", "失信"),
    ("招聘", "招聘岗位"),
    ("不动产", "不动产登记"),
    ("行政处罚", "行政处罚"),
    ("天气预报", "天气预报"),
    ("学位", "学位授予"),
    ("出租车", "出租汽车"),
    ("企业登记", "企业登记"),
    ("食品经营许可", "食品经营许可"),
    ("特种设备", "特种设备"),
    ("水质", "水质"),
    ("社会保险", "社会保险"),
    ("高速公路收费站", "高速公路收费站"),
]


def main():
    db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
    out = sys.argv[2]
    rng = random.Random(6)
    titles = [t for (t,) in db.execute("SELECT title FROM published_datasets")]
    regions = [
        n
        for (n,) in db.execute(
            "SELECT name FROM regions WHERE code LIKE '37%' AND code <> '370000' ORDER BY code"
        )
    ]
    # Only region names that no other region name starts with or contains, so that a
    # title prefix names one place.
    regions = [r for r in regions if sum(1 for o in regions if r in o) == 1]

    def has(prefix, word, year=None):
        y = f"{year}年" if year else ""
        return any(t.startswith(prefix) and word in t and y in t for t in titles)

    def pick():
        while True:
            region = rng.choice(regions)
            typed, word = rng.choice(TOPICS)
            if has(region, word):
                return region, typed, word

    queries = []

    def add(q, kind, **cond):
        queries.append({"q": q, "kind": kind, "relevant_if": cond})

    for _ in range(6):
        r, typed, w = pick()
        add(f"{r} {typed}", "multi", title_prefix=r, title_contains=[w])
    for _ in range(6):
        r, typed, w = pick()
        add(f"{typed} {r}", "reordered", title_prefix=r, title_contains=[w])
    for _ in range(6):
        r, typed, w = pick()
        add(f"{r}{typed}", "run-together", title_prefix=r, title_contains=[w])
    for _ in range(6):
        r, typed, w = pick()
        year = rng.choice([y for y in range(2012, 2026) if has(r, w, y)] or [None])
        if year is None:
            continue
        add(f"{year}年 {r} {typed}", "year", title_prefix=r, title_contains=[w], year=year)
    for _ in range(5):
        r, typed, w = pick()
        short = r[:-1] if len(r) > 2 else r
        add(f"{short} {typed}", "short-region", title_prefix=r, title_contains=[w])
    rows = db.execute(
        "SELECT p.code, p.provider_id, o.name, o.credit_code FROM published_datasets p "
        "JOIN organizations o ON o.id = p.provider_id ORDER BY p.id"
    ).fetchall()
    for code, _, _, _ in rng.sample(rows, 5):
        add(code, "code", code=code)
    for _, provider_id, name, credit in rng.sample(rows, 3):
        add(credit, "credit-code", provider_id=provider_id)
        add(name, "provider", provider_id=provider_id)
    spec = {
        "catalog": "generated",
        "note": "Built by gen_queries.py from the generated catalog; judgments follow from "
        "how the catalog is generated (region prefix, topic, year), see relevance.py.",
        "queries": queries,
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(spec, f, ensure_ascii=False, indent=2)
        f.write("\n")
    print(f"{len(queries)} queries written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()

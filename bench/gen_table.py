#!/usr/bin/env python3
"""Deterministic generator of a government-style enterprise registration table (CSV).

    python3 bench/gen_table.py N OUT.csv [--gbk] [--seed S] [--jobs J]

Writes a header and N rows with the columns a 市场主体登记 table publishes:

    统一社会信用代码  18 characters, GB 32100 check character valid, unique per row
    企业名称          city + trade name + industry + form, e.g. 济南华信科技有限公司
    法定代表人        a Chinese personal name (rarely empty)
    注册资本          万元, two decimal places
    成立日期          YYYY-MM-DD, 1990-2025
    登记状态          存续 / 在业 / 注销 / 吊销
    所属区县代码      6-digit GB/T 2260 county code of Shandong; 100 codes, uniform,
                      so each (e.g. 370102) holds 1 % of the rows
    从业人数          integer, empty in about 3 % of rows
    是否高新技术企业  是 / 否
    经营范围          40-80 characters; about 5 % use ASCII commas and are quoted
    邮政编码          6 digits, text; out-of-province ones may start with 0; empty in 2 %

The same seed gives the same bytes whatever --jobs is: rows are made in fixed-size
chunks, each from its own seeded generator. --gbk writes the same rows encoded GBK
(every character used is in GBK, so the bytes are also valid GB18030). Rows end in LF.
Size: about 290 bytes a row in UTF-8, about 200 in GBK (10 M rows: 2.9 GB / 2.0 GB).
"""

import argparse
import datetime
import multiprocessing
import os
import random
import sys

CHUNK = 50_000  # rows per chunk: part of the output's definition, do not change

HEADER = [
    "统一社会信用代码", "企业名称", "法定代表人", "注册资本", "成立日期", "登记状态",
    "所属区县代码", "从业人数", "是否高新技术企业", "经营范围", "邮政编码",
]

# (city, postcode prefix, county codes). The first 100 codes in this order are used.
CITIES = [
    ("济南", "250", "370102 370103 370104 370105 370112 370113 370114 370115 370116 370117 370124 370126"),
    ("青岛", "266", "370202 370203 370211 370212 370213 370214 370215 370281 370283 370285"),
    ("淄博", "255", "370302 370303 370304 370305 370306 370321 370322 370323"),
    ("枣庄", "277", "370402 370403 370404 370405 370406 370481"),
    ("东营", "257", "370502 370503 370505 370522 370523"),
    ("烟台", "264", "370602 370611 370612 370613 370614 370681 370682 370683 370685 370686 370687"),
    ("潍坊", "261", "370702 370703 370704 370705 370724 370725 370781 370782 370783 370784 370785 370786"),
    ("济宁", "272", "370811 370812 370826 370827 370828 370829 370830 370831 370832 370881 370883"),
    ("泰安", "271", "370902 370911 370921 370923 370982 370983"),
    ("威海", "264", "371002 371003 371082 371083"),
    ("日照", "276", "371102 371103 371121 371122"),
    ("临沂", "276", "371302 371311 371312 371321 371322 371323 371324 371325 371326 371327 371328 371329"),
    ("德州", "253", "371402 371403 371422 371423 371424 371425 371426 371427 371428 371481 371482"),
]

TRADE_CHARS = (
    "华信达通盛泰恒宏瑞鑫源隆丰安康博远嘉润祥德兴昌明海天宇星辰锦万方正中和联创智汇邦新金鼎诚益佳"
    "荣凯腾飞越卓志聚合永鸿运广大众齐鲁泉城岱岳蓝图长城东方九州龙凤云鹏顺利福寿祥瑞宝晟昊晨阳光"
)
INDUSTRIES = [
    ("科技", 8), ("信息技术", 4), ("网络科技", 4), ("电子科技", 3), ("生物科技", 2),
    ("新材料科技", 2), ("环保科技", 2), ("农业科技", 2), ("能源科技", 1), ("商贸", 6),
    ("贸易", 5), ("建筑工程", 5), ("建材", 3), ("机械设备", 4), ("化工", 2), ("食品", 3),
    ("物流", 4), ("餐饮管理", 3), ("文化传媒", 3), ("教育咨询", 2), ("医疗器械", 2),
    ("汽车销售服务", 2), ("房地产开发", 2), ("物业管理", 3), ("装饰工程", 4), ("电力工程", 1),
    ("纺织", 1), ("服装", 2), ("印刷", 1), ("包装材料", 1), ("水产", 1), ("商务咨询", 3),
    ("企业管理咨询", 2), ("劳务服务", 2), ("人力资源", 1), ("广告", 2), ("五金机电", 2),
]
FORMS = [("有限公司", 72), ("有限责任公司", 14), ("股份有限公司", 5), ("集团有限公司", 2),
         ("实业有限公司", 4), ("发展有限公司", 3)]
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴孔汤"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红建国志文辉新春海波宁鹏飞斌浩东兰凤洁梅琳"
    "晓云雪林峰晨宇博欣怡佳俊鑫昊思远子涵梓轩雨桐"
)
STATUSES = [("存续", 60), ("在业", 25), ("注销", 10), ("吊销", 5)]
SCOPE_ITEMS = [
    "技术开发", "技术咨询", "技术服务", "技术转让", "技术推广", "软件开发", "信息系统集成服务",
    "计算机软硬件及辅助设备零售", "日用百货销售", "五金产品批发", "建筑材料销售", "货物进出口",
    "技术进出口", "食品销售（仅销售预包装食品）", "企业管理咨询", "广告设计、代理", "会议及展览服务",
    "物业管理", "道路货物运输（不含危险货物）", "机械设备租赁", "普通机械设备安装服务", "环保咨询服务",
    "家用电器销售", "电子产品销售", "服装服饰批发", "针纺织品销售", "劳务服务（不含劳务派遣）",
    "市场营销策划", "组织文化艺术交流活动", "工程管理服务", "园林绿化工程施工", "住宅室内装饰装修",
    "餐饮服务", "第二类医疗器械销售", "化工产品销售（不含许可类化工产品）", "农副产品销售",
    "金属材料销售", "办公设备耗材销售", "仓储服务（不含危险化学品）", "信息咨询服务（不含许可类信息咨询服务）",
    "数据处理服务", "人工智能应用软件开发", "网络技术服务", "专业设计服务", "教育咨询服务",
]
SCOPE_TAIL = "（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）"

# GB 32100-2015 unified social credit code.
USCC = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
M3 = 31 ** 3
MBODY = 31 ** 9
KMUL = 7_919_113_291  # coprime to 31: i -> i*K+C mod 31^9 is a bijection (unique codes)
KADD = 1_234_567_891


def weighted(pairs):
    return [v for v, w in pairs for _ in range(w)]


def make_pools(seed):
    rng = random.Random(seed)
    counties = []
    for city, post, codes in CITIES:
        for code in codes.split():
            counties.append((code, city, post))
    counties = counties[:100]

    # The credit code: "9" + type + county(6) + 9 body characters + check character.
    # Weighted sums of the fixed prefixes and of every 3-character body group are
    # precomputed, so a row costs three table look-ups and one modulo.
    def wsum(s, start):
        return sum(USCC.index(ch) * USCC_W[start + k] for k, ch in enumerate(s))

    triples = [a + b + c for a in USCC for b in USCC for c in USCC]
    groups = []
    for start in (8, 11, 14):
        groups.append(([t for t in triples], [wsum(t, start) for t in triples]))
    kinds = weighted([("91", 90), ("92", 7), ("93", 3)])

    trade = [a + b for a in TRADE_CHARS for b in TRADE_CHARS if a != b]
    rng.shuffle(trade)
    industries = weighted(INDUSTRIES)
    forms = weighted(FORMS)

    names = []
    for _ in range(50_000):
        n = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2, 2))))
        names.append(n)
    names += [""] * 50  # about 0.1 % without a legal representative

    capital = []
    round_values = [3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 800, 1000, 2000, 3000, 5000, 10000]
    for _ in range(20_000):
        if rng.random() < 0.6:
            v = rng.choice(round_values)
        else:
            v = rng.lognormvariate(5.3, 1.7)
        capital.append("%.2f" % v)

    d0 = datetime.date(1990, 1, 1).toordinal()
    d1 = datetime.date(2025, 12, 31).toordinal()
    dates = []
    for _ in range(20_000):
        # More companies were founded recently.
        x = rng.random() ** 0.6
        dates.append(datetime.date.fromordinal(d0 + int(x * (d1 - d0))).isoformat())

    statuses = weighted(STATUSES)
    staff = [str(max(1, int(rng.lognormvariate(2.3, 1.3)))) for _ in range(20_000)]
    staff += [""] * 620  # about 3 % not reported
    hitech = ["是"] * 8 + ["否"] * 92

    scopes = []
    # GEN_SCOPE=MIN-MAX sets the length of 经营范围 (default 40-80); the benchmarks use a
    # short one so that 10 million rows come to about 1.4 GB instead of 2.9 GB.
    smin, smax = (int(x) for x in os.environ.get("GEN_SCOPE", "40-80").split("-"))
    for k in range(8_000):
        # "一般项目：a；b；c" + an ending, whole items only.
        target = rng.randint(smin, smax)
        head = rng.choice(("一般项目：", "一般项目：", "许可项目："))
        sep = "," if k % 20 == 0 else "；"  # 5 %: ASCII commas, so the field is quoted
        tail = SCOPE_TAIL if rng.random() < 0.4 else "。"
        pool = SCOPE_ITEMS[:]
        rng.shuffle(pool)
        items = [pool.pop()]
        while pool and len(head + sep.join(items + [pool[-1]]) + tail) <= target:
            items.append(pool.pop())
        text = head + sep.join(items) + tail
        if len(text) > smax:
            text = head + sep.join(items) + "。"
        while len(text) < smin and pool:
            items.append(pool.pop())
            text = head + sep.join(items) + "。"
        scopes.append('"' + text + '"' if sep == "," else text)

    local_post = [f"{rng.randint(0, 999):03d}" for _ in range(2_000)]
    far_post = []
    for _ in range(2_000):
        # Out-of-province addresses: 01-86xxxx; 01-07 (Inner Mongolia, Shanxi, Hebei) start with 0.
        far_post.append(f"{rng.randint(1, 86):02d}{rng.randint(0, 99):02d}00")

    return {
        "counties": counties, "groups": groups, "kinds": kinds, "trade": trade,
        "industries": industries, "forms": forms, "names": names, "capital": capital,
        "dates": dates, "statuses": statuses, "staff": staff, "hitech": hitech,
        "scopes": scopes, "local_post": local_post, "far_post": far_post,
        "kind_sums": {k: wsum(k, 0) for k in kinds},
        "county_sums": {c[0]: wsum(c[0], 2) for c in counties},
    }


POOLS = None
ARGS = None


def init(seed):
    global POOLS
    POOLS = make_pools(seed)


def chunk(job):
    """Rows [start, start+n) as encoded bytes."""
    index, start, n, seed, encoding = job
    p = POOLS
    rng = random.Random(seed * 1_000_003 + index)
    ch = rng.choices
    counties = ch(p["counties"], k=n)
    kinds = ch(p["kinds"], k=n)
    trade = ch(p["trade"], k=n)
    industries = ch(p["industries"], k=n)
    forms = ch(p["forms"], k=n)
    names = ch(p["names"], k=n)
    capital = ch(p["capital"], k=n)
    dates = ch(p["dates"], k=n)
    statuses = ch(p["statuses"], k=n)
    staff = ch(p["staff"], k=n)
    hitech = ch(p["hitech"], k=n)
    scopes = ch(p["scopes"], k=n)
    local_post = ch(p["local_post"], k=n)
    far_post = ch(p["far_post"], k=n)
    shape = [rng.random() for _ in range(n)]
    (g0, s0), (g1, s1), (g2, s2) = p["groups"]
    ksum, csum = p["kind_sums"], p["county_sums"]
    out = []
    append = out.append
    for j in range(n):
        code, city, post = counties[j]
        kind = kinds[j]
        v = ((start + j) * KMUL + KADD) % MBODY
        a, r = divmod(v, M3 * M3)
        b, c = divmod(r, M3)
        total = ksum[kind] + csum[code] + s0[a] + s1[b] + s2[c]
        uscc = kind + code + g0[a] + g1[b] + g2[c] + USCC[(31 - total % 31) % 31]
        x = shape[j]
        if x < 0.05:
            name = trade[j] + "（" + city + "）" + industries[j] + forms[j]
        elif x < 0.10:
            name = "山东" + trade[j] + industries[j] + forms[j]
        else:
            name = city + trade[j] + industries[j] + forms[j]
        if x > 0.98:
            postcode = ""
        elif x > 0.90:
            postcode = far_post[j]
        else:
            postcode = post + local_post[j]
        append(",".join((uscc, name, names[j], capital[j], dates[j], statuses[j], code,
                         staff[j], hitech[j], scopes[j], postcode)))
    append("")
    return "\n".join(out).encode(encoding)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rows", type=int)
    ap.add_argument("out")
    ap.add_argument("--gbk", action="store_true", help="encode GBK instead of UTF-8")
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="worker processes (the output does not depend on it)")
    args = ap.parse_args()
    encoding = "gbk" if args.gbk else "utf-8"
    jobs = [(i, s, min(CHUNK, args.rows - s), args.seed, encoding)
            for i, s in enumerate(range(0, args.rows, CHUNK))]
    tmp = args.out + ".part"
    with open(tmp, "wb", buffering=8 << 20) as f:
        f.write((",".join(HEADER) + "\n").encode(encoding))
        if args.jobs > 1 and len(jobs) > 1:
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(args.jobs, initializer=init, initargs=(args.seed,)) as pool:
                for data in pool.imap(chunk, jobs, chunksize=1):
                    f.write(data)
        else:
            init(args.seed)
            for job in jobs:
                f.write(chunk(job))
    os.replace(tmp, args.out)


if __name__ == "__main__":
    sys.exit(main())

//! The data endpoints over HTTP: uploads become jobs and versions, and every read — rows,
//! downloads, SQL, the dataset page — goes through the access gate with its attribution.

mod common;

use std::time::Duration;

use common::{
    TestApp, conditional_entry, entry, error_fields, grant, ingest, ingest_ok, published_entry,
    spawn, spawn_boot, spawn_with, upload,
};
use gongshu_app::gongshu_core::access::{GrantKind, GrantMode};
use gongshu_app::gongshu_store::Store as _;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

const PROVIDER_ORG: &str = "山东省市场监督管理局";
/// Published, unconditionally open, of the demo provider's organisation.
const OPEN_ENTRY: &str = "山东省企业经营异常名录信息";
/// Published and open, declares 罚款金额 (currency) and 处罚决定日期 (date).
const PENALTY_ENTRY: &str = "山东省市场监管行政处罚信息";
/// A draft of the demo provider's organisation.
const DRAFT_ENTRY: &str = "山东省12315消费投诉举报信息";

/// A raw HTTP answer, for files and headers.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

async fn fetch(t: &TestApp, path: &str, token: Option<&str>, headers: &[(&str, &str)]) -> Reply {
    let mut req = t.client.get(t.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    Reply {
        status: resp.status(),
        headers: resp.headers().clone(),
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

async fn entry_id(t: &TestApp, provider: &str, title: &str) -> i64 {
    let (s, page) = t
        .get("/api/v1/workbench/datasets?per_page=100", Some(provider))
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["title"] == title)
        .unwrap_or_else(|| panic!("no entry {title}"))["id"]
        .as_i64()
        .unwrap()
}

/// A provider of another organisation than the demo provider's.
async fn other_provider(t: &TestApp) -> String {
    let hc = t.org_id("山东省卫生健康委员会").await;
    t.user_with_role("hc-provider", "provider_admin", Some(hc), None)
        .await
}

fn percent_decoded(s: &str) -> String {
    url::form_urlencoded::parse(format!("v={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Just enough of RFC 4180 to read back what the platform writes.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            c => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

fn column_types(resource: &Value) -> Vec<(String, String)> {
    resource["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A JSON number or decimal string as a float, whichever way the encoder wrote it.
fn number(v: &Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a number: {v}"))
}

fn rows_of(page: &Value) -> &Vec<Value> {
    page["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows: {page}"))
}

const GBK_CSV: &str = "山东省企业经营异常名录（测试）\r\n\
数据截至：2024年3月31日\r\n\
企业名称,统一社会信用代码,列入日期,邮政编码,是否移出,罚款金额\r\n\
济南泉城科技有限公司,91370100MA3C00001X,2024年3月5日,050001,是,1200.50\r\n\
青岛海岸贸易有限公司,91370200MA3C00002Y,2024年12月1日,066000,否,300\r\n\
烟台苹果食品有限公司,91370600MA3C00003Z,2023年1月20日,264000,否,0.75\r\n";

fn gbk(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

// The files governments publish: GBK, title rows, codes with leading zeros, Chinese dates,
// 是/否. The public reads the published open table, with its source named.
#[tokio::test]
async fn gbk_csv_becomes_a_typed_table_the_public_reads_with_attribution() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let id = entry_id(&t, &provider, OPEN_ENTRY).await;
    let job = ingest_ok(&t, id, &provider, "minglu.csv", &gbk(GBK_CSV), &[]).await;
    assert_eq!(job["rows_read"], 3);
    assert_eq!(job["rows_rejected"], 0);
    assert_eq!(job["version"], 1);
    assert!(job["source"].as_str().unwrap().contains("GB18030"), "{job}");
    // Declared data items the upload lacks are pointed out, not fatal.
    assert!(
        job["missing_declared"]
            .as_array()
            .unwrap()
            .contains(&json!("作出决定机关")),
        "{job}"
    );
    let rid = job["resource_id"].as_str().unwrap();

    let (s, resource) = t.get(&format!("/api/v1/resources/{rid}"), None).await;
    assert_eq!(s, StatusCode::OK, "{resource}");
    assert_eq!(resource["kind"], "table");
    assert_eq!(resource["rows"], 3);
    assert_eq!(resource["current_version"], 1);
    // Timeliness (SD-OPEN §20(一)): the last update is recorded, the next one falls due
    // after it under the declared cycle, and a fresh upload is not overdue.
    assert_eq!(resource["overdue"], false, "{resource}");
    let updated = resource["updated_at"].as_str().unwrap();
    if let Some(due) = resource["update_due"].as_str() {
        assert!(due > updated, "{resource}");
    }
    let want: Vec<(String, String)> = [
        ("企业名称", "text"),
        ("统一社会信用代码", "text"),
        ("列入日期", "date"),
        ("邮政编码", "text"),
        ("是否移出", "boolean"),
        ("罚款金额", "decimal(2)"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(column_types(&resource), want);
    let (_, listed) = t
        .get(&format!("/api/v1/datasets/{id}/resources"), None)
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // Anonymous: the entry is published and open without conditions.
    let (s, page) = t.get(&format!("/api/v1/resources/{rid}/rows"), None).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let rows = rows_of(&page);
    assert_eq!(rows.len(), 3);
    assert_eq!(page["total"], 3);
    assert!(page["next"].is_null());
    let first = &rows[0];
    assert_eq!(first["_row"], 1);
    assert_eq!(first["企业名称"], "济南泉城科技有限公司");
    assert_eq!(first["统一社会信用代码"], "91370100MA3C00001X");
    assert_eq!(first["列入日期"], "2024-03-05");
    assert_eq!(first["邮政编码"], "050001");
    assert_eq!(first["是否移出"], true);
    assert!((number(&first["罚款金额"]) - 1200.5).abs() < 1e-9);
    assert_eq!(rows[1]["邮政编码"], "066000");
    assert_eq!(rows[1]["列入日期"], "2024-12-01");
    assert_eq!(rows[1]["是否移出"], false);

    let (_, dataset) = t.get(&format!("/api/v1/datasets/{id}"), None).await;
    let code = dataset["code"].as_str().unwrap();
    let source = &page["meta"]["source"];
    assert_eq!(source["provider"], PROVIDER_ORG);
    assert_eq!(source["dataset"], OPEN_ENTRY);
    assert_eq!(source["code"], code);
    let citation = page["meta"]["citation"].as_str().unwrap();
    assert!(
        citation.contains(OPEN_ENTRY) && citation.contains(code),
        "{citation}"
    );
    assert_eq!(page["meta"]["version"], 1);

    let file = fetch(&t, &format!("/api/v1/resources/{rid}/download"), None, &[]).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(
        percent_decoded(file.header("x-gongshu-provider").unwrap()),
        PROVIDER_ORG
    );
    assert_eq!(
        percent_decoded(file.header("x-gongshu-dataset").unwrap()),
        OPEN_ENTRY
    );
    assert_eq!(file.header("x-gongshu-code"), Some(code));
    assert!(
        file.header("x-gongshu-source-url")
            .unwrap()
            .ends_with(&format!("/datasets/{id}"))
    );
    assert!(file.header("x-gongshu-retrieved-at").is_some());
    assert!(percent_decoded(file.header("x-gongshu-citation").unwrap()).contains(code));
    assert!(file.header("link").unwrap().contains("describedby"));
}

/// 57 rows across four cities; 备注 empty on odd rows.
fn city_csv() -> String {
    let cities = ["济南市", "青岛市", "烟台市", "淄博市"];
    let mut csv = String::from("顺序,城市,名称,金额,备注\n");
    for i in 1..=57 {
        let city = cities[i % 4];
        let note = if i % 2 == 0 { "有" } else { "" };
        csv.push_str(&format!(
            "{i},{city},{}第{i}单位,{},{note}\n",
            &city[..city.len() - "市".len()],
            i * 10
        ));
    }
    csv
}

/// Every row of a query, page by page; returns the 顺序 in the order served.
async fn walk(t: &TestApp, rid: &str, query: &str) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("/api/v1/resources/{rid}/rows?{query}");
        if let Some(n) = &next {
            path.push_str(&format!(
                "&_next={}",
                url::form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()
            ));
        }
        let (s, page) = t.get(&path, None).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        seen.extend(rows_of(&page).iter().map(|r| r["顺序"].as_i64().unwrap()));
        match page["next"].as_str() {
            Some(n) => next = Some(n.to_owned()),
            None => return seen,
        }
    }
    panic!("paging never ended");
}

async fn count(t: &TestApp, rid: &str, query: &str) -> (usize, Value) {
    let (s, page) = t
        .get(&format!("/api/v1/resources/{rid}/rows?{query}"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{query}: {page}");
    (rows_of(&page).len(), page)
}

// The row API: keyset paging visits each row once, filters, sorting, and clear refusals.
#[tokio::test]
async fn rows_filter_sort_and_page() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let id = entry_id(&t, &provider, OPEN_ENTRY).await;
    let job = ingest_ok(&t, id, &provider, "cities.csv", city_csv().as_bytes(), &[]).await;
    let rid = job["resource_id"].as_str().unwrap();

    let all = walk(&t, rid, "_size=10").await;
    assert_eq!(all, (1..=57).collect::<Vec<i64>>());
    let desc = walk(&t, rid, "_size=7&_sort_desc=金额").await;
    assert_eq!(desc, (1..=57).rev().collect::<Vec<i64>>());
    let (_, first) = count(&t, rid, "_size=10").await;
    assert_eq!(first["total"], 57);

    let (n, page) = count(&t, rid, "城市__contains=济南&_size=100").await;
    assert_eq!(n, 14);
    assert!(rows_of(&page).iter().all(|r| r["城市"] == "济南市"));
    assert_eq!(page["total"], 14);
    let (n, page) = count(&t, rid, "金额__gte=100&金额__lt=200").await;
    assert_eq!(n, 10);
    assert!(rows_of(&page).iter().all(|r| {
        let v = r["金额"].as_i64().unwrap();
        (100..200).contains(&v)
    }));
    assert_eq!(count(&t, rid, "金额__gt=500&金额__lte=570").await.0, 7);
    assert_eq!(count(&t, rid, "城市=青岛市&_size=100").await.0, 15);
    assert_eq!(count(&t, rid, "城市__ne=青岛市&_size=100").await.0, 42);
    assert_eq!(
        count(&t, rid, "城市__in=青岛市,烟台市&_size=100").await.0,
        29
    );
    assert_eq!(
        count(&t, rid, "名称__startswith=淄博&_size=100").await.0,
        14
    );
    assert_eq!(count(&t, rid, "备注__isnull=1&_size=100").await.0, 29);
    assert_eq!(count(&t, rid, "备注__isnull=0&_size=100").await.0, 28);
    let (_, page) = count(&t, rid, "_sort_desc=金额&_size=1&_cols=顺序,城市").await;
    let top = &rows_of(&page)[0];
    assert_eq!(top["顺序"], 57);
    let keys: Vec<&String> = top.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["_row", "顺序", "城市"]);

    let (s, body) = t
        .get(&format!("/api/v1/resources/{rid}/rows?不存在=1"), None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("没有名为") && message.contains("unknown column"),
        "{message}"
    );
    for size in ["0", "100000", "abc"] {
        let (s, body) = t
            .get(&format!("/api/v1/resources/{rid}/rows?_size={size}"), None)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "_size={size}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("_size"));
    }
    let (s, _) = t
        .get(&format!("/api/v1/resources/{rid}/rows?_next=garbage"), None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

const FORMULA: &str = "=HYPERLINK(\"http://x\",\"y\")";
const FORMULA_CSV: &str = "名称,数量,备注\n\
甲,1,普通\n\
乙,2,\"=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"\n\
丙,3,\"含,逗号\"\n";

// Every download format reads back; a formula in the data is defused for spreadsheets and
// left exact for programs; the original is served byte for byte with ETag and ranges.
#[tokio::test]
async fn downloads_in_every_format() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let id = entry_id(&t, &provider, OPEN_ENTRY).await;
    let job = ingest_ok(
        &t,
        id,
        &provider,
        "formula.csv",
        FORMULA_CSV.as_bytes(),
        &[],
    )
    .await;
    let rid = job["resource_id"].as_str().unwrap();
    let get = |format: &str| {
        let path = format!("/api/v1/resources/{rid}/download?format={format}");
        let t = &t;
        async move { fetch(t, &path, None, &[]).await }
    };
    let want = [
        ["名称", "数量", "备注"],
        ["甲", "1", "普通"],
        ["乙", "2", "'=HYPERLINK(\"http://x\",\"y\")"],
        ["丙", "3", "含,逗号"],
    ];

    let csv = get("csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert!(csv.body.starts_with(b"\xEF\xBB\xBF"));
    let text = std::str::from_utf8(&csv.body[3..]).unwrap();
    assert_eq!(parse_csv(text), want);
    assert!(csv.header("x-gongshu-code").is_some());
    assert!(
        csv.header("content-disposition")
            .unwrap()
            .contains("attachment")
    );

    let plain = get("csv-utf8").await;
    assert_eq!(plain.status, StatusCode::OK);
    assert!(!plain.body.starts_with(b"\xEF\xBB\xBF"));
    assert_eq!(parse_csv(std::str::from_utf8(&plain.body).unwrap()), want);

    let json = get("json").await;
    assert_eq!(json.status, StatusCode::OK);
    let rows = json.json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1]["备注"], FORMULA);
    assert_eq!(rows[1]["数量"], 2);
    assert!(rows[0].get("_row").is_none(), "{}", rows[0]);

    let ndjson = get("ndjson").await;
    assert_eq!(ndjson.status, StatusCode::OK);
    let lines: Vec<Value> = std::str::from_utf8(&ndjson.body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(Value::is_object));
    assert_eq!(lines[1]["备注"], FORMULA);

    let xlsx = get("xlsx").await;
    assert_eq!(xlsx.status, StatusCode::OK);
    {
        use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
        let mut wb: Xlsx<_> = open_workbook_from_rs(std::io::Cursor::new(xlsx.body)).unwrap();
        let range = wb.worksheet_range_at(0).unwrap().unwrap();
        assert_eq!(range.height(), 4);
        assert_eq!(range.get_value((0, 2)), Some(&Data::String("备注".into())));
        assert_eq!(
            range.get_value((2, 2)),
            Some(&Data::String(format!("'{FORMULA}")))
        );
        assert_eq!(range.get_value((3, 0)), Some(&Data::String("丙".into())));
    }

    let parquet = get("parquet").await;
    assert_eq!(parquet.status, StatusCode::OK);
    assert!(parquet.header("etag").is_some());
    {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(parquet.body))
            .unwrap()
            .build()
            .unwrap();
        let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, 3);
    }

    let original = get("original").await;
    assert_eq!(original.status, StatusCode::OK);
    assert_eq!(original.body, FORMULA_CSV.as_bytes());
    assert_eq!(original.header("accept-ranges"), Some("bytes"));
    let etag = original.header("etag").unwrap().to_owned();
    let path = format!("/api/v1/resources/{rid}/download?format=original");
    let part = fetch(&t, &path, None, &[("range", "bytes=0-9")]).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body, &FORMULA_CSV.as_bytes()[..10]);
    assert_eq!(
        part.header("content-range").unwrap(),
        format!("bytes 0-9/{}", FORMULA_CSV.len())
    );
    let cached = fetch(&t, &path, None, &[("if-none-match", &etag)]).await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    assert!(cached.body.is_empty());
    let beyond = fetch(&t, &path, None, &[("range", "bytes=100000-")]).await;
    assert_eq!(beyond.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        beyond.header("content-range").unwrap(),
        format!("bytes */{}", FORMULA_CSV.len())
    );

    let tail = fetch(&t, &path, None, &[("range", "bytes=-5")]).await;
    assert_eq!(tail.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.body, &FORMULA_CSV.as_bytes()[FORMULA_CSV.len() - 5..]);
    // Several ranges are answered with the whole file, which RFC 9110 allows.
    let several = fetch(&t, &path, None, &[("range", "bytes=0-1,4-5")]).await;
    assert_eq!(several.status, StatusCode::OK);
    assert_eq!(several.body, FORMULA_CSV.as_bytes());
    let parquet_path = format!("/api/v1/resources/{rid}/download?format=parquet");
    let magic = fetch(&t, &parquet_path, None, &[("range", "bytes=0-3")]).await;
    assert_eq!(magic.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(magic.body, b"PAR1");

    let unknown = get("docx").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);

    // A page of the row API as a file, with the next page's token in a header.
    let page = fetch(
        &t,
        &format!("/api/v1/resources/{rid}/rows?_size=2&_format=csv"),
        None,
        &[],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    let text = String::from_utf8(page.body).unwrap();
    let rows = parse_csv(text.trim_start_matches('\u{feff}'));
    assert_eq!(rows.len(), 3, "{text}");
    assert!(page.headers.contains_key("x-gongshu-next"));
    let page = fetch(
        &t,
        &format!("/api/v1/resources/{rid}/rows?_format=xlsx"),
        None,
        &[],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.starts_with(b"PK\x03\x04"));
}

fn two_sheet_workbook() -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let notes = wb.add_worksheet();
    notes.set_name("说明").unwrap();
    notes
        .write_string(0, 0, "本表为测试数据，请看“数据”工作表")
        .unwrap();
    let data = wb.add_worksheet();
    data.set_name("数据").unwrap();
    data.write_string(0, 0, "2024年度培训机构名单").unwrap();
    for (c, h) in ["单位名称", "人数", "成立日期"].iter().enumerate() {
        data.write_string(1, c as u16, *h).unwrap();
    }
    let rows = [
        ("济南职业培训学校", 120.0, "2020-01-02"),
        ("青岛技能培训中心", 85.0, "2018-06-30"),
    ];
    for (r, (name, people, date)) in rows.iter().enumerate() {
        let r = r as u32 + 2;
        data.write_string(r, 0, *name).unwrap();
        data.write_number(r, 1, *people).unwrap();
        data.write_string(r, 2, *date).unwrap();
    }
    wb.save_to_buffer().unwrap()
}

fn parquet_file() -> Vec<u8> {
    use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use std::sync::Arc;
    let batch = RecordBatch::try_from_iter([
        (
            "名称",
            Arc::new(StringArray::from(vec!["甲", "乙", "丙"])) as ArrayRef,
        ),
        (
            "数量",
            Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef,
        ),
    ])
    .unwrap();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

// XLSX (title row, chosen sheet), JSON, NDJSON, GeoJSON and Parquet become tables; a PDF
// is kept as a file, downloadable as it is but not a table.
#[tokio::test]
async fn other_formats() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let id = entry_id(&t, &provider, OPEN_ENTRY).await;
    let resource = |job: &Value| {
        let path = format!("/api/v1/resources/{}", job["resource_id"].as_str().unwrap());
        let t = &t;
        async move {
            let (s, r) = t.get(&path, None).await;
            assert_eq!(s, StatusCode::OK, "{r}");
            r
        }
    };
    let rows = |job: &Value| {
        let path = format!(
            "/api/v1/resources/{}/rows",
            job["resource_id"].as_str().unwrap()
        );
        let t = &t;
        async move { t.get(&path, None).await }
    };
    let types = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    };

    let job = ingest_ok(
        &t,
        id,
        &provider,
        "jigou.xlsx",
        &two_sheet_workbook(),
        &[("sheet", "数据"), ("name", "培训机构")],
    )
    .await;
    assert!(job["source"].as_str().unwrap().contains("数据"), "{job}");
    let r = resource(&job).await;
    assert_eq!(r["name"], "培训机构");
    assert_eq!(
        column_types(&r),
        types(&[
            ("单位名称", "text"),
            ("人数", "integer"),
            ("成立日期", "date")
        ])
    );
    let (s, page) = rows(&job).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(rows_of(&page)[1]["单位名称"], "青岛技能培训中心");
    assert_eq!(rows_of(&page)[1]["人数"], 85);
    assert_eq!(rows_of(&page)[0]["成立日期"], "2020-01-02");
    // A sheet that does not exist fails the job and names the sheets there are.
    let job = ingest(
        &t,
        id,
        &provider,
        "jigou.xlsx",
        &two_sheet_workbook(),
        &[("sheet", "没有")],
    )
    .await;
    assert_eq!(job["state"], "failed");
    assert!(job["error"].as_str().unwrap().contains("数据"), "{job}");

    let array = json!([
        {"名称": "甲", "数量": 1, "有效": true},
        {"名称": "乙", "数量": 2, "有效": false}
    ]);
    let job = ingest_ok(
        &t,
        id,
        &provider,
        "array.json",
        array.to_string().as_bytes(),
        &[],
    )
    .await;
    assert_eq!(job["rows_read"], 2);
    assert_eq!(
        column_types(&resource(&job).await),
        types(&[("名称", "text"), ("数量", "integer"), ("有效", "boolean")])
    );
    let (_, page) = rows(&job).await;
    assert_eq!(rows_of(&page)[1]["有效"], false);

    let ndjson = "{\"名称\":\"甲\",\"数量\":1}\n{\"名称\":\"乙\",\"数量\":2}\n{\"名称\":\"丙\",\"数量\":3}\n";
    let job = ingest_ok(&t, id, &provider, "lines.ndjson", ndjson.as_bytes(), &[]).await;
    assert_eq!(job["rows_read"], 3);
    let (_, page) = rows(&job).await;
    assert_eq!(rows_of(&page)[2]["名称"], "丙");

    let geojson = json!({
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"站名": "泉城广场", "编号": "0531"},
             "geometry": {"type": "Point", "coordinates": [117.02, 36.66]}},
            {"type": "Feature", "properties": {"站名": "五四广场", "编号": "0532"},
             "geometry": {"type": "Point", "coordinates": [120.38, 36.06]}}
        ]
    });
    let job = ingest_ok(
        &t,
        id,
        &provider,
        "stations.geojson",
        geojson.to_string().as_bytes(),
        &[],
    )
    .await;
    assert_eq!(job["source"], "GeoJSON");
    let r = resource(&job).await;
    let names: Vec<String> = column_types(&r).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["站名", "编号", "geometry"]);
    let (_, page) = rows(&job).await;
    assert_eq!(rows_of(&page)[0]["编号"], "0531");
    let geometry: Value =
        serde_json::from_str(rows_of(&page)[1]["geometry"].as_str().unwrap()).unwrap();
    assert_eq!(geometry["type"], "Point");

    let job = ingest_ok(&t, id, &provider, "table.parquet", &parquet_file(), &[]).await;
    assert_eq!(job["source"], "Parquet");
    assert_eq!(
        column_types(&resource(&job).await),
        types(&[("名称", "text"), ("数量", "integer")])
    );
    let (_, page) = rows(&job).await;
    assert_eq!(page["total"], 3);
    assert_eq!(rows_of(&page)[2]["数量"], 3);

    let job = ingest_ok(&t, id, &provider, "report.pdf", PDF, &[]).await;
    let r = resource(&job).await;
    assert_eq!(r["kind"], "file");
    assert_eq!(r["original_name"], "report.pdf");
    assert_eq!(r["original_bytes"], PDF.len());
    let rid = job["resource_id"].as_str().unwrap();
    for path in [
        format!("/api/v1/resources/{rid}/download?format=original"),
        format!("/api/v1/resources/{rid}/download"),
    ] {
        let file = fetch(&t, &path, None, &[]).await;
        assert_eq!(file.status, StatusCode::OK);
        assert_eq!(file.body, PDF);
        assert!(file.header("x-gongshu-provider").is_some());
    }
    let (s, body) = rows(&job).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    // A PDF renamed .csv is still a file: magic numbers decide, not names.
    let job = ingest_ok(&t, id, &provider, "disguised.csv", PDF, &[]).await;
    assert_eq!(resource(&job).await["kind"], "file");
}

const PENALTIES_GOOD: &str = "行政相对人名称,罚款金额,处罚决定日期\n\
甲公司,1.5,2024-01-02\n\
乙公司,2,2024-01-03\n";

/// Lines 3-6 are bad: a word in the money column, a field too many, a field short, a
/// date that does not exist.
const PENALTIES_BAD: &str = "行政相对人名称,罚款金额,处罚决定日期\n\
甲公司,1.5,2024-01-02\n\
乙公司,abc,2024-01-03\n\
丙公司,2,2024-01-04,多余\n\
丁公司,3.25\n\
戊公司,4,2024年2月30日\n\
己公司,5,2024-01-05\n";

fn names_of(page: &Value) -> Vec<String> {
    rows_of(page)
        .iter()
        .map(|r| r["行政相对人名称"].as_str().unwrap().to_owned())
        .collect()
}

// Rows that do not fit are reported by line and reason; the provider decides whether the
// rest is published, and until then the previous version keeps serving.
#[tokio::test]
async fn rejected_rows_wait_for_the_providers_decision() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let id = entry_id(&t, &provider, PENALTY_ENTRY).await;

    let job = ingest(&t, id, &provider, "bad.csv", PENALTIES_BAD.as_bytes(), &[]).await;
    assert_eq!(job["state"], "needs_decision", "{job}");
    assert_eq!(job["rows_read"], 2);
    assert_eq!(job["rows_rejected"], 4);
    let rejected = job["rejected"].as_array().unwrap();
    let lines: Vec<i64> = rejected
        .iter()
        .map(|r| r["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4, 5, 6]);
    let reasons: Vec<&str> = rejected
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons[0].contains("罚款金额") && reasons[0].contains("abc"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("found 4"), "{reasons:?}");
    assert!(reasons[2].contains("found 2"), "{reasons:?}");
    assert!(reasons[3].contains("处罚决定日期"), "{reasons:?}");
    let rid = job["resource_id"].as_str().unwrap().to_owned();
    let rows_path = format!("/api/v1/resources/{rid}/rows");
    // Nothing published yet: nothing to serve.
    assert_eq!(t.get(&rows_path, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        t.get(&rows_path, Some(&provider)).await.0,
        StatusCode::NOT_FOUND
    );

    let (s, decided) = t
        .post(
            &format!("/api/v1/jobs/{}/publish", job["id"].as_str().unwrap()),
            Some(&provider),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{decided}");
    assert_eq!(decided["state"], "succeeded");
    let (s, page) = t.get(&rows_path, None).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(names_of(&page), ["甲公司", "己公司"]);
    assert_eq!(page["meta"]["version"], 1);
    // A decision is taken once.
    let (s, _) = t
        .post(
            &format!("/api/v1/jobs/{}/discard", job["id"].as_str().unwrap()),
            Some(&provider),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // A new version with bad rows, discarded: version 1 keeps serving.
    let job = ingest(
        &t,
        id,
        &provider,
        "bad.csv",
        PENALTIES_BAD.replace("甲公司", "庚公司").as_bytes(),
        &[("resource_id", &rid)],
    )
    .await;
    assert_eq!(job["state"], "needs_decision", "{job}");
    assert_eq!(job["resource_id"], rid.as_str());
    assert_eq!(job["version"], 2);
    let (_, page) = t.get(&rows_path, None).await;
    assert_eq!(names_of(&page), ["甲公司", "己公司"]);
    let job_id = job["id"].as_str().unwrap();
    // Only someone who edits the entry decides.
    let other = other_provider(&t).await;
    let (s, _) = t
        .post(
            &format!("/api/v1/jobs/{job_id}/publish"),
            Some(&other),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, decided) = t
        .post(
            &format!("/api/v1/jobs/{job_id}/discard"),
            Some(&provider),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{decided}");
    assert_eq!(decided["state"], "discarded");
    let (_, page) = t.get(&rows_path, None).await;
    assert_eq!(names_of(&page), ["甲公司", "己公司"]);
    let (_, r) = t.get(&format!("/api/v1/resources/{rid}"), None).await;
    assert_eq!(r["current_version"], 1);

    // A clean version publishes straight away.
    let job = ingest_ok(
        &t,
        id,
        &provider,
        "good.csv",
        PENALTIES_GOOD.as_bytes(),
        &[("resource_id", &rid)],
    )
    .await;
    assert_eq!(job["rows_rejected"], 0);
    let (_, page) = t.get(&rows_path, None).await;
    assert_eq!(names_of(&page), ["甲公司", "乙公司"]);

    // on_reject=publish: the good rows go out without asking.
    let job = ingest_ok(
        &t,
        id,
        &provider,
        "bad.csv",
        PENALTIES_BAD.replace("甲公司", "辛公司").as_bytes(),
        &[("resource_id", &rid), ("on_reject", "publish")],
    )
    .await;
    assert_eq!(job["rows_rejected"], 4);
    let (_, page) = t.get(&rows_path, None).await;
    assert_eq!(names_of(&page), ["辛公司", "己公司"]);
    assert_eq!(page["meta"]["version"], job["version"]);

    let (s, body) = upload(
        &t,
        id,
        Some(&provider),
        "bad.csv",
        PENALTIES_BAD.as_bytes(),
        &[("on_reject", "maybe")],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");

    // Every row rejected and published anyway: an empty table, still readable everywhere.
    let job = ingest_ok(
        &t,
        id,
        &provider,
        "none.csv",
        "行政相对人名称,罚款金额,处罚决定日期\n甲公司,abc,2024-01-02\n".as_bytes(),
        &[("resource_id", &rid), ("on_reject", "publish")],
    )
    .await;
    assert_eq!(job["rows_read"], 0);
    let (s, page) = t.get(&rows_path, None).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(rows_of(&page).is_empty());
    for format in ["csv", "csv-utf8", "json", "ndjson", "xlsx", "parquet"] {
        let file = fetch(
            &t,
            &format!("/api/v1/resources/{rid}/download?format={format}"),
            None,
            &[],
        )
        .await;
        assert_eq!(file.status, StatusCode::OK, "{format}");
        if format == "json" {
            assert_eq!(file.json(), json!([]));
        }
        if format == "csv-utf8" {
            assert_eq!(
                String::from_utf8(file.body).unwrap().trim_end(),
                "行政相对人名称,罚款金额,处罚决定日期"
            );
        }
    }

    // Jobs are private to the entry's editors; unknown decisions are not endpoints.
    let job_path = format!("/api/v1/jobs/{}", job["id"].as_str().unwrap());
    assert_eq!(
        t.get(&job_path, Some(&other)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(t.get(&job_path, None).await.0, StatusCode::UNAUTHORIZED);
    let (s, _) = t
        .post(&format!("{job_path}/maybe"), Some(&provider), json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// Pseudo-random bytes with NULs in them, the same on every run.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if i % 7 == 3 { 0 } else { (x >> 24) as u8 }
        })
        .collect()
}

/// A real workbook whose central directory claims its first entry expands to ~4 GB, as a
/// zip bomb's would; the data itself stays tiny.
fn bomb_workbook() -> Vec<u8> {
    let mut bytes = two_sheet_workbook();
    let at = bytes
        .windows(4)
        .position(|w| w == b"PK\x01\x02")
        .expect("a central directory");
    // Uncompressed size sits 24 bytes into a central directory header.
    bytes[at + 24..at + 28].copy_from_slice(&0xF000_0000u32.to_le_bytes());
    bytes
}

// Whatever arrives — empty, binary, endless lines, absurd widths, broken or hostile
// workbooks — the job fails with a reason, the server stays up and the good version
// keeps serving.
#[tokio::test]
async fn bad_input_never_loses_the_previous_version() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let id = entry_id(&t, &provider, OPEN_ENTRY).await;
    let good = "名称,数量\n甲,1\n乙,2\n丙,3\n";
    let job = ingest_ok(&t, id, &provider, "good.csv", good.as_bytes(), &[]).await;
    let rid = job["resource_id"].as_str().unwrap().to_owned();

    let mut wide = (0..20_000)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(",");
    wide.push('\n');
    wide.push_str(&vec!["1"; 20_000].join(","));
    wide.push('\n');
    let workbook = two_sheet_workbook();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.csv", Vec::new(), "empty"),
        ("noise.csv", noise(64 * 1024), "binary"),
        ("line.csv", vec![b'a'; 20 * 1024 * 1024], "longer than"),
        ("wide.csv", wide.into_bytes(), "20000 columns"),
        (
            "half.xlsx",
            workbook[..workbook.len() / 2].to_vec(),
            "spreadsheet",
        ),
        ("bomb.xlsx", bomb_workbook(), "zip bomb"),
    ];
    for (name, bytes, why) in cases {
        let job = ingest(&t, id, &provider, name, &bytes, &[("resource_id", &rid)]).await;
        assert_eq!(job["state"], "failed", "{name}: {job}");
        let error = job["error"].as_str().unwrap();
        assert!(error.contains(why), "{name}: {error}");
        assert!(job["version"].is_null(), "{name}: {job}");

        let (s, health) = t.get("/healthz", None).await;
        assert_eq!(s, StatusCode::OK, "{name}: {health}");
        assert_eq!(health["status"], "ok");
        let (s, page) = t.get(&format!("/api/v1/resources/{rid}/rows"), None).await;
        assert_eq!(s, StatusCode::OK, "{name}: {page}");
        let names: Vec<&str> = rows_of(&page)
            .iter()
            .map(|r| r["名称"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["甲", "乙", "丙"], "{name}");
        assert_eq!(page["meta"]["version"], 1, "{name}");
    }
    // And the resource still takes a good version afterwards.
    let job = ingest_ok(
        &t,
        id,
        &provider,
        "good.csv",
        "名称,数量\n丁,4\n".as_bytes(),
        &[("resource_id", &rid)],
    )
    .await;
    assert_eq!(job["version"], 2);
}

// An upload over the limit is refused with 413 before anything is created.
#[tokio::test]
async fn uploads_over_the_limit_are_refused() {
    let limit = 256 * 1024;
    let t = spawn_with(Some(limit)).await;
    let provider = t.token("demo-provider").await;
    let id = entry_id(&t, &provider, OPEN_ENTRY).await;
    let mut big = String::from("名称,数量\n");
    while big.len() <= limit as usize + 32 * 1024 {
        big.push_str("某某有限公司,12345\n");
    }
    let (s, body) = upload(&t, id, Some(&provider), "big.csv", big.as_bytes(), &[]).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("上传上限 256 KiB"), "{message}");
    let (s, listed) = t
        .get(&format!("/api/v1/datasets/{id}/resources"), Some(&provider))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(listed, json!([]));
    // The partial upload left nothing behind either.
    let leftovers = std::fs::read_dir(t.data_dir().join("tmp")).unwrap().count();
    assert_eq!(leftovers, 0);

    // Under the limit, the same server takes it.
    let cut = big.as_bytes()[..100 * 1024]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap();
    let small = &big.as_bytes()[..=cut];
    ingest_ok(&t, id, &provider, "small.csv", small, &[]).await;
}

// The gate: drafts do not exist for others, conditional data is refused with a reason,
// the owner reads everything, and only the owner uploads.
#[tokio::test]
async fn the_gate_guards_every_read_and_upload() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let other = other_provider(&t).await;
    let open = entry_id(&t, &provider, OPEN_ENTRY).await;
    let draft = entry_id(&t, &provider, DRAFT_ENTRY).await;
    let body = conditional_entry("有条件开放测试");
    let conditional = published_entry(&t, &provider, body).await;

    let csv = "企业名称,统一社会信用代码\n济南甲公司,91370100MA3C00001X\n";
    let rid_of = |job: Value| job["resource_id"].as_str().unwrap().to_owned();
    let open_rid = rid_of(ingest_ok(&t, open, &provider, "a.csv", csv.as_bytes(), &[]).await);
    let draft_rid = rid_of(ingest_ok(&t, draft, &provider, "b.csv", csv.as_bytes(), &[]).await);
    let cond_rid =
        rid_of(ingest_ok(&t, conditional, &provider, "c.csv", csv.as_bytes(), &[]).await);

    for token in [None, Some(other.as_str())] {
        let who = if token.is_some() {
            "other"
        } else {
            "anonymous"
        };
        // The draft and its data do not exist for them.
        for path in [
            format!("/api/v1/datasets/{draft}/resources"),
            format!("/api/v1/resources/{draft_rid}"),
            format!("/api/v1/resources/{draft_rid}/rows"),
            format!("/api/v1/resources/{draft_rid}/download"),
            format!("/api/v1/resources/{draft_rid}/download?format=original"),
        ] {
            let (s, _) = t.get(&path, token).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{who} {path}");
        }
        // The conditional entry is listed, its data refused with the reason.
        let (s, listed) = t
            .get(&format!("/api/v1/datasets/{conditional}/resources"), token)
            .await;
        assert_eq!(s, StatusCode::OK, "{who}: {listed}");
        assert_eq!(listed.as_array().unwrap().len(), 1);
        for path in [
            format!("/api/v1/resources/{cond_rid}/rows"),
            format!("/api/v1/resources/{cond_rid}/download"),
            format!("/api/v1/resources/{cond_rid}/download?format=original"),
        ] {
            let (s, body) = t.get(&path, token).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{who} {path}: {body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("有条件开放"),
                "{body}"
            );
        }
        // The open data is theirs to read.
        let (s, _) = t
            .get(&format!("/api/v1/resources/{open_rid}/rows"), token)
            .await;
        assert_eq!(s, StatusCode::OK, "{who}");
    }
    // English callers get the reason in English.
    let refused = fetch(
        &t,
        &format!("/api/v1/resources/{cond_rid}/rows"),
        None,
        &[("accept-language", "en")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("conditions")
    );

    // The owner reads all three.
    for rid in [&open_rid, &draft_rid, &cond_rid] {
        let (s, page) = t
            .get(&format!("/api/v1/resources/{rid}/rows"), Some(&provider))
            .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        assert_eq!(rows_of(&page)[0]["企业名称"], "济南甲公司");
        let file = fetch(
            &t,
            &format!("/api/v1/resources/{rid}/download?format=csv-utf8"),
            Some(&provider),
            &[],
        )
        .await;
        assert_eq!(file.status, StatusCode::OK);
        assert!(String::from_utf8(file.body).unwrap().contains("济南甲公司"));
    }

    // Uploads: only the owner; others are told no (or that there is nothing there).
    let (s, body) = upload(&t, open, Some(&other), "x.csv", csv.as_bytes(), &[]).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let (s, body) = upload(&t, draft, Some(&other), "x.csv", csv.as_bytes(), &[]).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    let (s, body) = upload(&t, open, None, "x.csv", csv.as_bytes(), &[]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    let user = t.token("demo-user").await;
    let (s, body) = upload(&t, open, Some(&user), "x.csv", csv.as_bytes(), &[]).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    // A version of another entry's resource cannot be slipped in through this one.
    let (s, body) = upload(
        &t,
        open,
        Some(&provider),
        "x.csv",
        csv.as_bytes(),
        &[("resource_id", &draft_rid)],
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    let (_, listed) = t
        .get(
            &format!("/api/v1/datasets/{open}/resources"),
            Some(&provider),
        )
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // SQL sees only what the caller may read.
    let (_, open_r) = t.get(&format!("/api/v1/resources/{open_rid}"), None).await;
    let open_table = open_r["table_name"].as_str().unwrap().to_owned();
    let (_, cond_r) = t
        .get(&format!("/api/v1/resources/{cond_rid}"), Some(&provider))
        .await;
    let cond_table = cond_r["table_name"].as_str().unwrap().to_owned();
    let sql = |q: String, token: Option<&str>| {
        let t = &t;
        let token = token.map(str::to_owned);
        async move {
            t.post("/api/v1/sql", token.as_deref(), json!({"sql": q}))
                .await
        }
    };
    let (s, result) = sql(format!("SELECT count(*) AS n FROM {open_table}"), None).await;
    assert_eq!(s, StatusCode::OK, "{result}");
    assert_eq!(result["rows"][0]["n"], 1);
    assert_eq!(result["truncated"], false);
    assert_eq!(
        result["meta"]["sources"][0]["source"]["provider"],
        PROVIDER_ORG
    );
    let (s, result) = sql(format!("SELECT count(*) AS n FROM {cond_table}"), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{result}");
    assert!(
        result["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not found"),
        "{result}"
    );
    let (s, result) = sql(
        format!("SELECT count(*) AS n FROM {cond_table}"),
        Some(&provider),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{result}");
    assert_eq!(result["rows"][0]["n"], 1);
    for refused in [
        format!("CREATE TABLE x AS SELECT * FROM {open_table}"),
        format!("COPY (SELECT * FROM {open_table}) TO '/tmp/gongshu-test-copy.csv'"),
        format!("SELECT 1; SELECT count(*) FROM {open_table}"),
        format!("DROP TABLE {open_table}"),
    ] {
        let (s, result) = sql(refused.clone(), None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{refused}: {result}");
    }
    assert!(!std::path::Path::new("/tmp/gongshu-test-copy.csv").exists());
}

// The dataset page previews the first rows and says how to cite the data.
#[tokio::test]
async fn dataset_page_previews_and_cites() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let id = entry_id(&t, &provider, OPEN_ENTRY).await;
    ingest_ok(&t, id, &provider, "minglu.csv", &gbk(GBK_CSV), &[]).await;
    let page = fetch(&t, &format!("/datasets/{id}"), None, &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains("统一社会信用代码"));
    assert!(html.contains("济南泉城科技有限公司"));
    assert!(html.contains("050001"));
    let citation = html
        .split("class=\"citation\"")
        .nth(1)
        .expect("a citation")
        .split("</p>")
        .next()
        .unwrap();
    assert!(citation.contains(PROVIDER_ORG), "{citation}");
    assert!(
        citation.contains(&format!("《{OPEN_ENTRY}》")),
        "{citation}"
    );
    assert!(html.contains("download?format=csv"));
}

/// Sharing (SD-EGOV §23): data shared without conditions is there for any government
/// department user, raw, without a request, while the public side still needs a grant;
/// data shared on conditions needs a sharing grant.
#[tokio::test]
async fn department_users_read_what_is_shared_without_conditions() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let edu = t.org_id("山东省教育厅").await;
    let dept = t
        .user_with_role("edu-clerk", "dept_user", Some(edu), None)
        .await;
    let registered = t.user_with_role("citizen", "registered", None, None).await;

    let shared = conditional_entry("无条件共享、有条件开放测试");
    let shared = published_entry(&t, &provider, shared).await;
    let mut on_request = entry("有条件共享测试");
    on_request["share_type"] = json!("conditional");
    on_request["share_condition"] = json!("限履行市场监管职责使用");
    on_request["open_type"] = json!("none");
    on_request["legal_basis"] = json!("《山东省电子政务和政务数据管理办法》第二十三条");
    let on_request = published_entry(&t, &provider, on_request).await;

    let csv = "企业名称,统一社会信用代码\n济南甲公司,91370100MA3C00001X\n";
    let rid_of = |job: Value| job["resource_id"].as_str().unwrap().to_owned();
    let shared_rid = rid_of(ingest_ok(&t, shared, &provider, "s.csv", csv.as_bytes(), &[]).await);
    let request_rid =
        rid_of(ingest_ok(&t, on_request, &provider, "r.csv", csv.as_bytes(), &[]).await);

    let rows = |rid: &str| format!("/api/v1/resources/{rid}/rows");
    let (s, page) = t.get(&rows(&shared_rid), Some(&dept)).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(rows_of(&page)[0]["统一社会信用代码"], "91370100MA3C00001X");
    let dl = fetch(
        &t,
        &format!("/api/v1/resources/{shared_rid}/download?format=csv-utf8"),
        Some(&dept),
        &[],
    )
    .await;
    assert_eq!(dl.status, StatusCode::OK);

    for token in [None, Some(registered.as_str())] {
        let (s, body) = t.get(&rows(&shared_rid), token).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("有条件开放"),
            "{body}"
        );
    }
    let (s, body) = t.get(&rows(&request_rid), Some(&dept)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let (s, _) = t.get(&rows(&request_rid), Some(&registered)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

/// The actions in an application's history, oldest first.
async fn history(t: &TestApp, id: i64, token: &str) -> Vec<String> {
    let (s, detail) = t
        .get(&format!("/api/v1/applications/{id}"), Some(token))
        .await;
    assert_eq!(s, StatusCode::OK, "{detail}");
    detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

async fn user_id(t: &TestApp, token: &str) -> i64 {
    let (_, me) = t.get("/api/v1/me", Some(token)).await;
    me["id"].as_i64().unwrap_or_else(|| panic!("{me}"))
}

/// A daily call quota holds when the holder's requests arrive together: of twelve
/// concurrent calls on a three-a-day grant, exactly three are answered.
#[tokio::test]
async fn a_call_quota_holds_under_concurrent_requests() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let citizen = t.user_with_role("citizen", "registered", None, None).await;
    let conditional = published_entry(&t, &provider, conditional_entry("并发额度测试")).await;
    let csv = "企业名称,统一社会信用代码\n济南甲公司,91370100MA3C00001X\n";
    let job = ingest_ok(&t, conditional, &provider, "c.csv", csv.as_bytes(), &[]).await;
    let rows = format!(
        "/api/v1/resources/{}/rows",
        job["resource_id"].as_str().unwrap()
    );
    let citizen_id = user_id(&t, &citizen).await;
    grant(
        &t,
        GrantKind::Open,
        conditional,
        (Some(citizen_id), None),
        &[GrantMode::Api],
        (-1, 24),
        Some(3),
    )
    .await;
    let calls = (0..12).map(|_| t.get(&rows, Some(&citizen)));
    let answers = futures::future::join_all(calls).await;
    let ok = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let refused = answers
        .iter()
        .filter(|(s, b)| *s == StatusCode::FORBIDDEN && b.to_string().contains("额度"))
        .count();
    assert_eq!((ok, refused), (3, 9), "{answers:?}");
}

/// The gate with grants, over HTTP: a grant opens conditional data to its holder alone,
/// for its modes, within its period and its daily quota, until it is terminated.
#[tokio::test]
async fn grants_open_conditional_data_to_their_holder_only() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let citizen = t.user_with_role("citizen", "registered", None, None).await;
    let neighbour = t
        .user_with_role("neighbour", "registered", None, None)
        .await;
    let late = t.user_with_role("late", "registered", None, None).await;
    let body = conditional_entry("有条件开放授权测试");
    let conditional = published_entry(&t, &provider, body).await;
    let csv = "企业名称,统一社会信用代码\n济南甲公司,91370100MA3C00001X\n";
    let job = ingest_ok(&t, conditional, &provider, "c.csv", csv.as_bytes(), &[]).await;
    let rid = job["resource_id"].as_str().unwrap().to_owned();
    let rows = format!("/api/v1/resources/{rid}/rows");
    let download = format!("/api/v1/resources/{rid}/download?format=csv-utf8");
    let message = |body: &Value| body["error"]["message"].as_str().unwrap_or("").to_owned();

    let (s, _) = t.get(&rows, Some(&citizen)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let citizen_id = user_id(&t, &citizen).await;
    let (store, id) = grant(
        &t,
        GrantKind::Open,
        conditional,
        (Some(citizen_id), None),
        &[GrantMode::Api],
        (-1, 24),
        Some(3),
    )
    .await;
    // The API is granted, downloads are not; the neighbour has nothing.
    let dl = fetch(&t, &download, Some(&citizen), &[]).await;
    assert_eq!(dl.status, StatusCode::FORBIDDEN);
    assert!(message(&dl.json()).contains("不包含此种使用方式"));
    let (s, _) = t.get(&rows, Some(&neighbour)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = t.get(&rows, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for _ in 0..3 {
        let (s, page) = t.get(&rows, Some(&citizen)).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        assert_eq!(rows_of(&page).len(), 1);
    }
    // Three calls a day: the fourth is refused, saying why.
    let (s, body) = t.get(&rows, Some(&citizen)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(message(&body).contains("额度"), "{body}");

    // The holder and the provider see the grant and today's use; others do not.
    let (s, mine) = t.get("/api/v1/me/grants", Some(&citizen)).await;
    assert_eq!(s, StatusCode::OK, "{mine}");
    assert_eq!(mine[0]["state"], "out_of_quota");
    let (_, granted) = t
        .get(
            &format!("/api/v1/datasets/{conditional}/grants"),
            Some(&provider),
        )
        .await;
    assert_eq!(
        (&granted[0]["calls_today"], &granted[0]["rows_today"]),
        (&json!(3), &json!(3)),
        "{granted}"
    );
    let (s, _) = t
        .get(
            &format!("/api/v1/datasets/{conditional}/grants"),
            Some(&citizen),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = t
        .get(&format!("/api/v1/grants/{id}"), Some(&neighbour))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Termination: the provider alone, with a reason; the holder cannot, another
    // provider does not even see it.
    let terminate = format!("/api/v1/grants/{id}/terminate");
    let reason = json!({"reason": "违反协议：转售数据"});
    let (s, _) = t.post(&terminate, Some(&citizen), reason.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let other = other_provider(&t).await;
    let (s, _) = t.post(&terminate, Some(&other), reason.clone()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = t
        .post(&terminate, Some(&provider), json!({"reason": "  "}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, ended) = t.post(&terminate, Some(&provider), reason.clone()).await;
    assert_eq!(s, StatusCode::OK, "{ended}");
    assert_eq!(ended["state"], "terminated");
    let (s, _) = t.post(&terminate, Some(&provider), reason).await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Refused from the next request on.
    let (s, body) = t.get(&rows, Some(&citizen)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(message(&body).contains("终止"), "{body}");

    // Monitoring saw both: reading past the quota, and after the grant ended.
    let mut rules = Vec::new();
    for _ in 0..100 {
        let (_, alerts) = t.get("/api/v1/alerts", Some(&provider)).await;
        rules = alerts["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["dataset_id"] == conditional)
            .map(|a| a["rule"].as_str().unwrap().to_owned())
            .collect();
        if rules.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    rules.sort();
    assert_eq!(rules, vec!["outside_grant", "quota_exceeded"]);

    // The holder and the authority are told.
    for who in [citizen.clone(), t.token("demo-authority").await] {
        let (_, inbox) = t.get("/api/v1/inbox?unread=true", Some(&who)).await;
        let note = inbox
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["kind"] == "grant_terminated")
            .unwrap_or_else(|| panic!("no notice: {inbox}"))
            .clone();
        assert!(note["body"].as_str().unwrap().contains("转售数据"));
        let read = format!("/api/v1/inbox/{}/read", note["id"]);
        let (s, _) = t.post(&read, Some(&neighbour), json!({})).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "someone else's notice");
        let (s, _) = t.post(&read, Some(&who), json!({})).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (_, unread) = t.get("/api/v1/inbox?unread=true", Some(&who)).await;
        assert!(
            unread
                .as_array()
                .unwrap()
                .iter()
                .all(|n| n["id"] != note["id"])
        );
    }
    let history = store.list_events("grant", &id.to_string()).await.unwrap();
    let actions: Vec<&str> = history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["granted", "terminated"]);

    // A grant whose period is over, and one that has not begun.
    let late_id = user_id(&t, &late).await;
    grant(
        &t,
        GrantKind::Open,
        conditional,
        (Some(late_id), None),
        &[GrantMode::Api],
        (-48, -24),
        None,
    )
    .await;
    let (s, body) = t.get(&rows, Some(&late)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(message(&body).contains("过期"), "{body}");
    let neighbour_id = user_id(&t, &neighbour).await;
    grant(
        &t,
        GrantKind::Open,
        conditional,
        (Some(neighbour_id), None),
        &[GrantMode::Api],
        (24, 48),
        None,
    )
    .await;
    let (s, body) = t.get(&rows, Some(&neighbour)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(message(&body).contains("尚未生效"), "{body}");

    // A sharing grant to a department: its users read raw; an open grant does not share.
    let mut shared = entry("有条件共享授权测试");
    shared["share_type"] = json!("conditional");
    shared["share_condition"] = json!("限履行市场监管职责使用");
    shared["open_type"] = json!("none");
    shared["legal_basis"] = json!("《山东省电子政务和政务数据管理办法》第二十三条");
    let shared = published_entry(&t, &provider, shared).await;
    let job = ingest_ok(&t, shared, &provider, "s.csv", csv.as_bytes(), &[]).await;
    let shared_rows = format!(
        "/api/v1/resources/{}/rows",
        job["resource_id"].as_str().unwrap()
    );
    let edu = t.org_id("山东省教育厅").await;
    let clerk = t
        .user_with_role("edu-clerk", "dept_user", Some(edu), None)
        .await;
    let (s, _) = t.get(&shared_rows, Some(&clerk)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    grant(
        &t,
        GrantKind::Share,
        shared,
        (None, Some(edu)),
        &[GrantMode::Api],
        (-1, 24),
        None,
    )
    .await;
    let (s, page) = t.get(&shared_rows, Some(&clerk)).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let (s, _) = t.get(&shared_rows, Some(&citizen)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

/// SD-OPEN §14 end to end: a registered user applies, the authority checks the form,
/// the provider approves with a quota, both accept the agreement with their password,
/// and the grant lets the applicant read the rows. Every wrong move on the way is
/// refused and changes nothing.
#[tokio::test]
async fn an_application_becomes_an_agreement_and_a_grant() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let authority = t.token("demo-authority").await;
    let citizen = t.user_with_role("citizen", "registered", None, None).await;
    let other = other_provider(&t).await;
    let body = conditional_entry("有条件开放申请测试");
    let dataset = published_entry(&t, &provider, body).await;
    let csv = "企业名称,统一社会信用代码\n济南甲公司,91370100MA3C00001X\n";
    let job = ingest_ok(&t, dataset, &provider, "c.csv", csv.as_bytes(), &[]).await;
    let rows = format!(
        "/api/v1/resources/{}/rows",
        job["resource_id"].as_str().unwrap()
    );

    let application = json!({
        "dataset_id": dataset,
        "items": ["企业名称"],
        "purpose": "研究市场主体活跃度",
        "scenario": "高校课题组学术研究",
        "security_measures": "数据存放于内网专机，专人管理",
        "modes": ["api"],
        "period_days": 180,
        "pledge_accepted": true
    });
    // Bad applications: no pledge, an unknown item, an entry open to all, a provider.
    let mut unsigned = application.clone();
    unsigned["pledge_accepted"] = json!(false);
    unsigned["items"] = json!(["身份证号"]);
    let (s, body) = t
        .post("/api/v1/applications", Some(&citizen), unsigned)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_fields(&body), ["pledge_accepted", "items[0]"]);
    let open = entry_id(&t, &provider, OPEN_ENTRY).await;
    let mut to_open = application.clone();
    to_open["dataset_id"] = json!(open);
    to_open["items"] = json!([]);
    let (s, _) = t
        .post("/api/v1/applications", Some(&citizen), to_open)
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = t
        .post("/api/v1/applications", Some(&provider), application.clone())
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, app) = t
        .post("/api/v1/applications", Some(&citizen), application.clone())
        .await;
    assert_eq!(s, StatusCode::CREATED, "{app}");
    assert_eq!(app["state"], "formal_check");
    assert!(
        app["due_on"].is_string() && app["overdue"] == false,
        "{app}"
    );
    let id = app["id"].as_i64().unwrap();
    let act = |action: &str| format!("/api/v1/applications/{id}/{action}");

    // The authority was told; the application cannot be edited once sent.
    let (_, inbox) = t.get("/api/v1/inbox", Some(&authority)).await;
    assert!(
        inbox.to_string().contains("application_submitted"),
        "{inbox}"
    );
    let (s, _) = t
        .put(
            &format!("/api/v1/applications/{id}"),
            Some(&citizen),
            application.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);

    // Out of turn: the provider cannot decide before the formal check, the applicant
    // cannot check, a return needs reasons, another provider sees nothing.
    let (s, _) = t.post(&act("approve"), Some(&provider), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = t.post(&act("pass_check"), Some(&citizen), json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = t
        .post(&act("return_check"), Some(&authority), json!({}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = t
        .get(&format!("/api/v1/applications/{id}"), Some(&other))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = t.post(&act("launch"), Some(&authority), json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, app) = t
        .post(&act("pass_check"), Some(&authority), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{app}");
    assert_eq!(app["state"], "with_provider");
    let (s, _) = t
        .post(&act("refuse"), Some(&provider), json!({"reason": " "}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = t.post(&act("approve"), Some(&other), json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, app) = t
        .post(
            &act("approve"),
            Some(&provider),
            json!({"quota_calls_per_day": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{app}");
    assert_eq!(app["state"], "approved");
    let agreement = app["agreement"].as_str().unwrap();
    assert!(agreement.contains("公共数据开放利用协议") && agreement.contains("每日2次"));
    let hash = app["agreement_hash"].as_str().unwrap().to_owned();
    // A second approval, or a refusal now, changes nothing.
    let (s, _) = t.post(&act("approve"), Some(&provider), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = t
        .post(&act("refuse"), Some(&provider), json!({"reason": "x"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Not yet in force: the rows stay closed.
    let (s, _) = t.get(&rows, Some(&citizen)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Acceptance needs the password and the hash of the text shown.
    let accept = act("accept");
    let (s, _) = t
        .post(
            &accept,
            Some(&citizen),
            json!({"password": "wrong", "agreement_hash": hash}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = t
        .post(
            &accept,
            Some(&citizen),
            json!({"password": common::DEMO_PASSWORD, "agreement_hash": "0"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let ok = json!({"password": common::DEMO_PASSWORD, "agreement_hash": hash});
    let (s, app) = t.post(&accept, Some(&citizen), ok.clone()).await;
    assert_eq!(s, StatusCode::OK, "{app}");
    assert_eq!(app["state"], "approved");
    let (s, _) = t.post(&accept, Some(&citizen), ok.clone()).await;
    assert_eq!(s, StatusCode::CONFLICT, "accepting twice");
    let (s, app) = t.post(&accept, Some(&provider), ok).await;
    assert_eq!(s, StatusCode::OK, "{app}");
    assert_eq!(app["state"], "in_force");
    let grant_id = app["grant_id"].as_i64().unwrap();

    // In force: the applicant reads, within the quota; the history has every step.
    for _ in 0..2 {
        let (s, page) = t.get(&rows, Some(&citizen)).await;
        assert_eq!(s, StatusCode::OK, "{page}");
    }
    let (s, _) = t.get(&rows, Some(&citizen)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        history(&t, id, &authority).await,
        [
            "submitted",
            "formal_check_passed",
            "approved",
            "agreement_accepted_by_applicant",
            "agreement_accepted_by_provider",
            "in_force"
        ]
    );
    let (_, grant) = t
        .get(&format!("/api/v1/grants/{grant_id}"), Some(&citizen))
        .await;
    assert_eq!(grant["quota_calls_per_day"], 2);
    let (_, inbox) = t.get("/api/v1/inbox", Some(&authority)).await;
    assert!(inbox.to_string().contains("agreement_in_force"));
    // Withdrawing after it came into force is refused.
    let (s, _) = t.post(&act("withdraw"), Some(&citizen), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT);

    // A refusal states its reasons and reaches the applicant.
    let (_, second) = t
        .post("/api/v1/applications", Some(&citizen), application)
        .await;
    let second = second["id"].as_i64().unwrap();
    let path = |a: &str| format!("/api/v1/applications/{second}/{a}");
    t.post(&path("pass_check"), Some(&authority), json!({}))
        .await;
    let (s, refused) = t
        .post(
            &path("refuse"),
            Some(&provider),
            json!({"reason": "申请用途与开放条件不符"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{refused}");
    assert_eq!(refused["decision_reason"], "申请用途与开放条件不符");
    let (_, inbox) = t.get("/api/v1/inbox", Some(&citizen)).await;
    assert!(inbox.to_string().contains("申请用途与开放条件不符"));
}

/// R11.4: whoever must act is reminded before the deadline, the authority is told once
/// it has passed, and each notice goes once per deadline.
#[tokio::test]
async fn deadlines_remind_then_escalate_once() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let authority = t.token("demo-authority").await;
    let citizen = t.user_with_role("citizen", "registered", None, None).await;
    let dataset = published_entry(&t, &provider, conditional_entry("到期提醒测试")).await;
    let (s, app) = t
        .post(
            "/api/v1/applications",
            Some(&citizen),
            json!({
                "dataset_id": dataset, "purpose": "研究", "scenario": "论文",
                "security_measures": "专机", "modes": ["api"], "period_days": 30,
                "pledge_accepted": true
            }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{app}");
    let id = app["id"].as_i64().unwrap();

    // A second process on the same data directory, as a second node would be.
    let (node, _) = gongshu_server::open_app(t.data_dir(), &gongshu_server::Bootstrap::default())
        .await
        .unwrap();
    assert_eq!(node.send_deadline_notices().await.unwrap(), (0, 0));

    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        t.data_dir().join("gongshu.db").display()
    ))
    .await
    .unwrap();
    let set_due = |day: String| {
        let db = db.clone();
        async move {
            sqlx::query("UPDATE applications SET due_on = ? WHERE id = ?")
                .bind(day)
                .bind(id)
                .execute(&db)
                .await
                .unwrap();
        }
    };
    let today = gongshu_app::gongshu_core::calendar::china_date(chrono::Utc::now());
    let kinds = |inbox: &Value| -> Vec<String> {
        inbox
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["kind"].as_str().unwrap().to_owned())
            .collect()
    };

    set_due(today.to_string()).await;
    assert_eq!(node.send_deadline_notices().await.unwrap(), (1, 0));
    assert_eq!(node.send_deadline_notices().await.unwrap(), (0, 0));
    let (_, inbox) = t.get("/api/v1/inbox", Some(&authority)).await;
    assert!(
        kinds(&inbox).contains(&"application_due_soon".to_owned()),
        "{inbox}"
    );

    set_due((today - chrono::Duration::days(3)).to_string()).await;
    assert_eq!(node.send_deadline_notices().await.unwrap(), (0, 1));
    assert_eq!(node.send_deadline_notices().await.unwrap(), (0, 0));
    // The scheduler's notices are in the audit log too, once each, with no actor.
    let (s, log) = t
        .get("/api/v1/audit/entries?action=deadline.", Some(&authority))
        .await;
    assert_eq!(s, StatusCode::OK, "{log}");
    let notices: Vec<(String, String)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["entry"]["object"] == format!("application:{id}"))
        .map(|e| {
            assert!(e["entry"]["actor"].is_null(), "{e}");
            (
                e["entry"]["action"].as_str().unwrap().to_owned(),
                e["entry"]["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        notices,
        [
            ("deadline.overdue".to_owned(), "ok".to_owned()),
            ("deadline.reminder".to_owned(), "ok".to_owned())
        ],
        "{log}"
    );
    let (_, inbox) = t.get("/api/v1/inbox", Some(&authority)).await;
    let k = kinds(&inbox);
    assert_eq!(
        k.iter().filter(|k| *k == "application_overdue").count(),
        1,
        "{inbox}"
    );
    let (_, detail) = t
        .get(&format!("/api/v1/applications/{id}"), Some(&citizen))
        .await;
    assert_eq!(detail["overdue"], true);

    // Once decided, nothing more is sent.
    t.post(
        &format!("/api/v1/applications/{id}/withdraw"),
        Some(&citizen),
        json!({}),
    )
    .await;
    set_due((today - chrono::Duration::days(10)).to_string()).await;
    assert_eq!(node.send_deadline_notices().await.unwrap(), (0, 0));
}

/// R11.4 for attribute changes: a change toward less open waiting for the authority is
/// reminded before its deadline; once it has passed, the authority and the provider
/// that asked are told, once.
#[tokio::test]
async fn pending_attribute_changes_are_reminded_then_escalated() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let authority = t.token("demo-authority").await;
    let dataset = published_entry(&t, &provider, entry("变更期限测试")).await;
    let (s, change) = t
        .post(
            &format!("/api/v1/datasets/{dataset}/attribute-changes"),
            Some(&provider),
            json!({"open_type": "none", "reason": "含敏感信息",
                "legal_basis": "《山东省公共数据开放办法》第十条"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{change}");
    let id = change["id"].as_i64().unwrap();
    let (node, _) = gongshu_server::open_app(t.data_dir(), &gongshu_server::Bootstrap::default())
        .await
        .unwrap();
    assert_eq!(node.send_deadline_notices().await.unwrap(), (0, 0));
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        t.data_dir().join("gongshu.db").display()
    ))
    .await
    .unwrap();
    let set_due = |day: chrono::NaiveDate| {
        let db = db.clone();
        async move {
            sqlx::query("UPDATE attribute_changes SET due_on = ? WHERE id = ?")
                .bind(day.to_string())
                .bind(id)
                .execute(&db)
                .await
                .unwrap();
        }
    };
    let count = |inbox: &Value, kind: &str| {
        inbox
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| {
                n["kind"] == kind && n["link"] == format!("/console/attribute-changes/{id}")
            })
            .count()
    };
    let today = gongshu_app::gongshu_core::calendar::china_date(chrono::Utc::now());
    set_due(today).await;
    assert_eq!(node.send_deadline_notices().await.unwrap(), (1, 0));
    assert_eq!(node.send_deadline_notices().await.unwrap(), (0, 0));
    let (_, inbox) = t.get("/api/v1/inbox", Some(&authority)).await;
    assert_eq!(count(&inbox, "attribute_change_due_soon"), 1, "{inbox}");

    set_due(today - chrono::Duration::days(2)).await;
    assert_eq!(node.send_deadline_notices().await.unwrap(), (0, 1));
    assert_eq!(node.send_deadline_notices().await.unwrap(), (0, 0));
    for token in [&authority, &provider] {
        let (_, inbox) = t.get("/api/v1/inbox", Some(token)).await;
        assert_eq!(count(&inbox, "attribute_change_overdue"), 1, "{inbox}");
    }
    let (_, detail) = t
        .get(&format!("/api/v1/attribute-changes/{id}"), Some(&provider))
        .await;
    assert_eq!(detail["overdue"], true);

    // Decided: nothing more is sent.
    let (s, _) = t
        .post(
            &format!("/api/v1/attribute-changes/{id}/refuse"),
            Some(&authority),
            json!({"reason": "理由不足"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    set_due(today - chrono::Duration::days(9)).await;
    assert_eq!(node.send_deadline_notices().await.unwrap(), (0, 0));
}

/// SD-EGOV §16 (R2.5): after a change of law the authority records the duty; the
/// provider has 15 working days, is reminded, the authority is told once it is overdue,
/// and the provider closes it by saying what it updated. Only once, only its own.
#[tokio::test]
async fn a_change_of_law_gives_the_provider_fifteen_working_days_to_update_its_catalog() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let authority = t.token("demo-authority").await;
    let amr = t.org_id("山东省市场监督管理局").await;
    let law = json!({"provider_id": amr, "cause": "law",
        "basis": "《中华人民共和国公司法》修订，登记事项调整", "received_on": "2026-09-30"});
    // A department user is neither the authority nor the provider.
    let dept = t.token("demo-dept").await;
    let (s, _) = t
        .post("/api/v1/catalog-updates", Some(&dept), law.clone())
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body) = t
        .post(
            "/api/v1/catalog-updates",
            Some(&authority),
            json!({"provider_id": amr, "cause": "law", "basis": " ", "received_on": "2099-01-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_fields(&body), ["basis", "received_on"]);
    let (s, update) = t
        .post("/api/v1/catalog-updates", Some(&authority), law)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{update}");
    // Received on 2026-09-30: the National Day holiday (10-01..10-07) is not counted,
    // the make-up Saturday 10-10 is: 10-08, 10-09, 10-10, then 12 weekdays from 10-12,
    // so the fifteenth working day is 2026-10-27.
    assert_eq!(update["due_on"], "2026-10-27", "{update}");
    assert_eq!(update["overdue"], true, "{update}");
    let id = update["id"].as_i64().unwrap();
    let (_, inbox) = t.get("/api/v1/inbox", Some(&provider)).await;
    assert!(
        inbox.to_string().contains("catalog_update_required"),
        "{inbox}"
    );
    let (_, open) = t
        .get("/api/v1/catalog-updates?open=true", Some(&provider))
        .await;
    assert_eq!(open.as_array().unwrap().len(), 1, "{open}");
    let (_, theirs) = t.get("/api/v1/catalog-updates", Some(&dept)).await;
    assert_eq!(theirs, json!([]), "others see nothing");
    assert_eq!(
        t.get(&format!("/api/v1/catalog-updates/{id}"), Some(&dept))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // Overdue already: escalated once to the authority, and the provider is told.
    let (node, _) = gongshu_server::open_app(t.data_dir(), &gongshu_server::Bootstrap::default())
        .await
        .unwrap();
    assert_eq!(node.send_deadline_notices().await.unwrap(), (0, 1));
    assert_eq!(node.send_deadline_notices().await.unwrap(), (0, 0));
    for token in [&authority, &provider] {
        let (_, inbox) = t.get("/api/v1/inbox", Some(token)).await;
        assert!(
            inbox.to_string().contains("catalog_update_overdue"),
            "{inbox}"
        );
    }

    let close = format!("/api/v1/catalog-updates/{id}/close");
    let (s, _) = t
        .post(&close, Some(&authority), json!({"note": "已更新"}))
        .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "the provider closes, not the authority"
    );
    let (s, body) = t.post(&close, Some(&provider), json!({"note": ""})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, closed) = t
        .post(
            &close,
            Some(&provider),
            json!({"note": "已更新企业登记信息目录的信息项"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{closed}");
    assert_eq!(
        (&closed["state"], &closed["overdue"]),
        (&json!("done"), &json!(false))
    );
    let (s, _) = t
        .post(&close, Some(&provider), json!({"note": "再次"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, detail) = t
        .get(&format!("/api/v1/catalog-updates/{id}"), Some(&authority))
        .await;
    let actions: Vec<&str> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["recorded", "closed"]);
    let (_, inbox) = t.get("/api/v1/inbox", Some(&authority)).await;
    assert!(
        inbox.to_string().contains("catalog_update_closed"),
        "{inbox}"
    );
    assert_eq!(
        node.send_deadline_notices().await.unwrap(),
        (0, 0),
        "closed: silent"
    );
}

/// SD-EGOV §23: a department requests conditionally shared data for a statutory duty;
/// the provider refuses with reasons, the department disputes, the authority overturns,
/// and the department's users read the data at once.
#[tokio::test]
async fn a_sharing_request_is_refused_disputed_and_overturned() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let authority = t.token("demo-authority").await;
    let edu = t.org_id("山东省教育厅").await;
    let clerk = t
        .user_with_role("edu-clerk", "dept_user", Some(edu), None)
        .await;
    let colleague = t
        .user_with_role("edu-colleague", "dept_user", Some(edu), None)
        .await;
    let citizen = t.user_with_role("citizen", "registered", None, None).await;
    let mut body = entry("有条件共享申请测试");
    body["share_type"] = json!("conditional");
    body["share_condition"] = json!("限履行教育管理职责使用");
    body["open_type"] = json!("none");
    body["legal_basis"] = json!("《山东省电子政务和政务数据管理办法》第二十三条");
    let dataset = published_entry(&t, &provider, body).await;
    let csv = "企业名称,统一社会信用代码\n济南甲公司,91370100MA3C00001X\n";
    let job = ingest_ok(&t, dataset, &provider, "s.csv", csv.as_bytes(), &[]).await;
    let rows = format!(
        "/api/v1/resources/{}/rows",
        job["resource_id"].as_str().unwrap()
    );

    let request = json!({
        "kind": "share", "dataset_id": dataset, "purpose": "核查校外培训机构资质",
        "scenario": "年度检查", "security_measures": "政务外网内使用",
        "legal_duty": "《民办教育促进法》规定的监督管理职责",
        "modes": ["api"], "period_days": 90
    });
    // Not a department user; no statutory duty given.
    let (s, _) = t
        .post("/api/v1/applications", Some(&citizen), request.clone())
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let mut no_duty = request.clone();
    no_duty["legal_duty"] = json!("");
    let (s, _) = t.post("/api/v1/applications", Some(&clerk), no_duty).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    let (s, app) = t.post("/api/v1/applications", Some(&clerk), request).await;
    assert_eq!(s, StatusCode::CREATED, "{app}");
    assert_eq!(
        (&app["kind"], &app["state"]),
        (&json!("share"), &json!("with_provider"))
    );
    assert_eq!(app["requester_org_id"], edu);
    let id = app["id"].as_i64().unwrap();
    let act = |a: &str| format!("/api/v1/applications/{id}/{a}");

    let (s, refused) = t
        .post(
            &act("refuse"),
            Some(&provider),
            json!({"reason": "申请事项不属于共享条件范围"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{refused}");
    // Only the requester disputes, with reasons; only the authority rules.
    let (s, _) = t
        .post(&act("dispute"), Some(&colleague), json!({"reason": "x"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = t.post(&act("dispute"), Some(&clerk), json!({})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, disputed) = t
        .post(
            &act("dispute"),
            Some(&clerk),
            json!({"reason": "检查属于法定职责"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{disputed}");
    assert_eq!(disputed["state"], "disputed");
    let (_, inbox) = t.get("/api/v1/inbox", Some(&authority)).await;
    assert!(inbox.to_string().contains("sharing_disputed"));
    let (s, _) = t
        .post(&act("overturn"), Some(&provider), json!({"reason": "x"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = t.get(&rows, Some(&colleague)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, ruled) = t
        .post(
            &act("overturn"),
            Some(&authority),
            json!({"reason": "符合共享条件", "quota_calls_per_day": 100}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{ruled}");
    assert_eq!(ruled["state"], "in_force");
    // A second ruling changes nothing; the whole department reads, nobody else.
    let (s, _) = t
        .post(&act("uphold"), Some(&authority), json!({"reason": "x"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, page) = t.get(&rows, Some(&colleague)).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let (s, _) = t.get(&rows, Some(&citizen)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, grants) = t.get("/api/v1/me/grants", Some(&colleague)).await;
    assert_eq!(
        (&grants[0]["kind"], &grants[0]["holder_org_id"]),
        (&json!("share"), &json!(edu))
    );
    assert_eq!(
        history(&t, id, &clerk).await,
        ["submitted", "refused", "disputed", "refusal_overturned"]
    );
}

/// The catalog fields of an entry view, as a provider sends them back when editing.
fn draft_of(view: &Value) -> Value {
    let mut draft = view.clone();
    let fields = draft.as_object_mut().unwrap();
    for platform_field in [
        "id",
        "code",
        "provider",
        "region_code",
        "status",
        "version",
        "published_at",
        "updated_at",
        "review_note",
    ] {
        fields.remove(platform_field);
    }
    draft
}

/// SD-OPEN §8 / §10 / §20(四), SX-BIGDATA §31: toward less open waits for the authority
/// and changes nothing until approved; toward more open applies at once; every change
/// is recorded, refused changes leave the entry as it was, and the gate follows.
#[tokio::test]
async fn attribute_changes_toward_less_open_wait_for_the_authority() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let authority = t.token("demo-authority").await;
    let dataset = published_entry(&t, &provider, entry("属性变更测试")).await;
    let csv = "企业名称,统一社会信用代码\n济南甲公司,91370100MA3C00001X\n";
    let job = ingest_ok(&t, dataset, &provider, "a.csv", csv.as_bytes(), &[]).await;
    let rows = format!(
        "/api/v1/resources/{}/rows",
        job["resource_id"].as_str().unwrap()
    );
    let changes = format!("/api/v1/datasets/{dataset}/attribute-changes");
    let public_open_type = || async {
        let (_, d) = t.get(&format!("/api/v1/datasets/{dataset}"), None).await;
        d["open_type"].as_str().unwrap().to_owned()
    };
    assert_eq!(t.get(&rows, None).await.0, StatusCode::OK);

    // A catalog edit of a published entry cannot change its open type at all.
    let (_, working) = t
        .get(
            &format!("/api/v1/workbench/datasets/{dataset}"),
            Some(&provider),
        )
        .await;
    let mut edit = entry("属性变更测试");
    edit["open_type"] = json!("none");
    edit["legal_basis"] = json!("《山东省公共数据开放办法》第十条");
    edit["version"] = working["version"].clone();
    let (s, body) = t
        .put(
            &format!("/api/v1/datasets/{dataset}"),
            Some(&provider),
            edit,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["fields"][0]["code"], "attribute_change");

    // Toward less open: reasons and legal basis, then the authority.
    let (s, body) = t
        .post(
            &changes,
            Some(&provider),
            json!({"open_type": "conditional"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        error_fields(&body),
        ["reason", "legal_basis", "open_condition"]
    );
    let narrowing = json!({
        "open_type": "conditional", "open_condition": "限科研用途，须签订开放利用协议",
        "reason": "数据含经营者敏感信息", "legal_basis": "《山东省公共数据开放办法》第十条"
    });
    let (s, change) = t.post(&changes, Some(&provider), narrowing.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{change}");
    assert_eq!(
        (&change["state"], &change["route"]),
        (&json!("pending"), &json!("authority"))
    );
    assert!(change["due_on"].is_string(), "{change}");
    let id = change["id"].as_i64().unwrap();
    // Nothing changes until approved: the public still reads the rows.
    assert_eq!(public_open_type().await, "unconditional");
    assert_eq!(t.get(&rows, None).await.0, StatusCode::OK);
    let (s, _) = t.post(&changes, Some(&provider), narrowing).await;
    assert_eq!(s, StatusCode::CONFLICT, "one pending change at a time");
    let (_, queue) = t
        .get("/api/v1/attribute-changes?pending=true", Some(&authority))
        .await;
    assert!(
        queue.as_array().unwrap().iter().any(|c| c["id"] == id),
        "{queue}"
    );
    let (_, inbox) = t.get("/api/v1/inbox", Some(&authority)).await;
    assert!(
        inbox.to_string().contains("attribute_change_requested"),
        "{inbox}"
    );

    // Only the authority approves; then the gate follows at once.
    let act = |a: &str| format!("/api/v1/attribute-changes/{id}/{a}");
    let (s, _) = t.post(&act("approve"), Some(&provider), json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, applied) = t
        .post(
            &act("approve"),
            Some(&authority),
            json!({"reason": "依据充分"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{applied}");
    assert_eq!(applied["state"], "applied");
    assert_eq!(public_open_type().await, "conditional");
    assert_eq!(t.get(&rows, None).await.0, StatusCode::FORBIDDEN);
    let (s, _) = t.post(&act("approve"), Some(&authority), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "a second approval changes nothing");
    let (_, detail) = t
        .get(&format!("/api/v1/attribute-changes/{id}"), Some(&provider))
        .await;
    let actions: Vec<&str> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["requested", "approved"]);

    // Toward more open: the provider decides, it applies at once, the authority is told.
    let (s, widened) = t
        .post(
            &changes,
            Some(&provider),
            json!({"open_type": "unconditional", "reason": "已完成脱敏评估"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{widened}");
    assert_eq!(
        (&widened["state"], &widened["route"]),
        (&json!("applied"), &json!("immediate"))
    );
    assert_eq!(public_open_type().await, "unconditional");
    assert_eq!(t.get(&rows, None).await.0, StatusCode::OK);
    let (_, inbox) = t.get("/api/v1/inbox", Some(&authority)).await;
    assert!(
        inbox.to_string().contains("attribute_change_applied"),
        "{inbox}"
    );

    // A refusal needs reasons and leaves the entry as it is.
    let (s, closing) = t
        .post(
            &changes,
            Some(&provider),
            json!({"open_type": "none", "reason": "拟停止开放", "legal_basis": "《数据安全法》第二十一条"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{closing}");
    let refuse = format!("/api/v1/attribute-changes/{}/refuse", closing["id"]);
    let (s, _) = t.post(&refuse, Some(&authority), json!({})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, refused) = t
        .post(
            &refuse,
            Some(&authority),
            json!({"reason": "不符合开放为原则的要求"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{refused}");
    assert_eq!(refused["state"], "refused");
    assert_eq!(public_open_type().await, "unconditional");
    let (s, _) = t
        .post(
            &format!("/api/v1/attribute-changes/{}/withdraw", closing["id"]),
            Some(&provider),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Strangers see neither the changes nor that they exist.
    let citizen = t.user_with_role("citizen", "registered", None, None).await;
    let (s, _) = t
        .get(&format!("/api/v1/attribute-changes/{id}"), Some(&citizen))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, mine) = t.get("/api/v1/attribute-changes", Some(&citizen)).await;
    assert_eq!((s, mine), (StatusCode::OK, json!([])));
}

/// SD-OPEN §8 and R6.1: 不予开放 data opens only de-identified (and the gate then never
/// serves it raw) or with recorded consent; no change opens above the grade's cap; an
/// edit in progress carries the change.
#[tokio::test]
async fn closed_data_opens_only_deidentified_or_with_consent_and_under_the_cap() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let mut closed = entry("不予开放转开放测试");
    closed["open_type"] = json!("none");
    closed["legal_basis"] = json!("《山东省公共数据开放办法》第十条");
    let dataset = published_entry(&t, &provider, closed).await;
    let csv = "企业名称,统一社会信用代码\n济南甲公司,91370100MA3C00001X\n";
    let job = ingest_ok(&t, dataset, &provider, "c.csv", csv.as_bytes(), &[]).await;
    let rows = format!(
        "/api/v1/resources/{}/rows",
        job["resource_id"].as_str().unwrap()
    );
    let changes = format!("/api/v1/datasets/{dataset}/attribute-changes");

    // An edit in progress, which the change must carry over.
    let (_, working) = t
        .get(
            &format!("/api/v1/workbench/datasets/{dataset}"),
            Some(&provider),
        )
        .await;
    let mut edit = draft_of(&working);
    edit["summary"] = json!("修改中的摘要。");
    edit["version"] = working["version"].clone();
    let (s, body) = t
        .put(
            &format!("/api/v1/datasets/{dataset}"),
            Some(&provider),
            edit,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");

    let opening = json!({"open_type": "unconditional", "reason": "社会需求较大"});
    let (s, body) = t.post(&changes, Some(&provider), opening.clone()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_fields(&body), ["opening_basis"]);
    let mut consent = opening.clone();
    consent["opening_basis"] =
        json!({"kind": "consent", "holder": "", "document": "", "given_on": "2026-11-01"});
    let (s, body) = t.post(&changes, Some(&provider), consent).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        error_fields(&body),
        ["opening_basis.holder", "opening_basis.document"]
    );

    let mut deidentified = opening;
    deidentified["opening_basis"] = json!({"kind": "deidentified"});
    let (s, change) = t.post(&changes, Some(&provider), deidentified).await;
    assert_eq!(s, StatusCode::CREATED, "{change}");
    assert_eq!(change["state"], "applied");
    let (_, public) = t.get(&format!("/api/v1/datasets/{dataset}"), None).await;
    assert_eq!(public["open_type"], "unconditional");
    // Opened on the strength of de-identification, the public reads the open version
    // (issue 5). This table names companies only: no column holds personal
    // information, so there is nothing to transform; `rules_decide_the_open_version_…`
    // shows a personal column kept as it is refusing such an entry.
    let (s, body) = t.get(&rows, None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(rows_of(&body)[0]["企业名称"], "济南甲公司");
    // The edit in progress carries the change and keeps its own.
    let (_, working) = t
        .get(
            &format!("/api/v1/workbench/datasets/{dataset}"),
            Some(&provider),
        )
        .await;
    assert_eq!(working["status"], "draft");
    assert_eq!(working["open_type"], "unconditional");
    assert_eq!(working["deidentify"], true);
    assert_eq!(working["summary"], "修改中的摘要。");

    // R6.1: a general-3 entry can be at most conditionally open.
    let mut graded = conditional_entry("分级上限测试");
    graded["grade"] = json!("general3");
    graded["items"][0]["grade"] = json!("general3");
    let graded = published_entry(&t, &provider, graded).await;
    let (s, body) = t
        .post(
            &format!("/api/v1/datasets/{graded}/attribute-changes"),
            Some(&provider),
            json!({"open_type": "unconditional", "reason": "扩大开放"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["fields"][0]["code"], "grade_cap");
}

/// SX-BIGDATA §28: 有条件共享 entries carry a review date; providers are reminded once
/// per date and re-evaluate, saying why the conditions stay.
#[tokio::test]
async fn conditional_sharing_is_reviewed_on_schedule() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let mut body = entry("有条件共享评估测试");
    body["share_type"] = json!("conditional");
    body["share_condition"] = json!("限履行法定职责使用");
    body["legal_basis"] = json!("《山东省电子政务和政务数据管理办法》第二十二条");
    let dataset = published_entry(&t, &provider, body).await;
    let review = format!("/api/v1/datasets/{dataset}/share-review");
    let today = gongshu_app::gongshu_core::calendar::china_date(chrono::Utc::now());
    let (s, r) = t.get(&review, Some(&provider)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        r["due_on"],
        (today + chrono::Duration::days(365)).to_string()
    );
    assert_eq!(r["overdue"], false);

    let (node, _) = gongshu_server::open_app(t.data_dir(), &gongshu_server::Bootstrap::default())
        .await
        .unwrap();
    // The demo's older entries are due already; after their reminders, nothing is.
    node.send_share_review_reminders().await.unwrap();
    assert_eq!(node.send_share_review_reminders().await.unwrap(), 0);
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        t.data_dir().join("gongshu.db").display()
    ))
    .await
    .unwrap();
    sqlx::query("UPDATE share_reviews SET due_on = ? WHERE dataset_id = ?")
        .bind(today.to_string())
        .bind(dataset)
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(node.send_share_review_reminders().await.unwrap(), 1);
    assert_eq!(
        node.send_share_review_reminders().await.unwrap(),
        0,
        "once per date"
    );
    let (_, inbox) = t.get("/api/v1/inbox", Some(&provider)).await;
    assert!(inbox.to_string().contains("share_review_due"), "{inbox}");

    let (s, body) = t.post(&review, Some(&provider), json!({"note": " "})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let next = today + chrono::Duration::days(180);
    let (s, r) = t
        .post(
            &review,
            Some(&provider),
            json!({"note": "仍涉及个人信息，保留条件", "next_review_on": next.to_string()}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["due_on"], next.to_string());
    assert!(r["reviewed_at"].is_string());
    let citizen = t.user_with_role("citizen", "registered", None, None).await;
    let (s, _) = t.post(&review, Some(&citizen), json!({"note": "x"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Shared without conditions from now on: no more reviews.
    let (s, change) = t
        .post(
            &format!("/api/v1/datasets/{dataset}/attribute-changes"),
            Some(&provider),
            json!({"share_type": "unconditional", "reason": "经评估可无条件共享"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{change}");
    let (s, _) = t.get(&review, Some(&provider)).await;
    assert_eq!(s, StatusCode::CONFLICT);
}

/// SD-EGOV §23 / SX-BIGDATA §29 and SD-OPEN §14: each region's authority sets its own
/// routing, deadlines and agreement template; regions below inherit field by field; the
/// agreement an approval produces is written from the template in force.
#[tokio::test]
async fn regions_set_their_routing_deadlines_and_agreement_template() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let authority = t.token("demo-authority").await;
    let city = t
        .user_with_role(
            "jn-authority",
            "authority_admin",
            Some(t.org_id("济南市大数据局").await),
            Some("370100"),
        )
        .await;
    let citizen = t.user_with_role("citizen", "registered", None, None).await;

    let (s, p) = t.get("/api/v1/regions/370100/policy", None).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(
        (&p["formal_check"], &p["decision_days"]),
        (&json!(true), &json!(10))
    );
    assert_eq!(p["sources"]["formal_check"], "platform");
    assert!(
        p["agreement_template"]
            .as_str()
            .unwrap()
            .contains("{{provider}}")
    );

    let template = p["agreement_template"].as_str().unwrap().replace(
        "公共数据开放利用协议",
        "山东省公共数据开放利用协议（2026年版）",
    );
    let province = json!({
        "policy": {"formal_check": false, "decision_days": 15, "agreement_template": template},
        "reason": "鲁数发〔2026〕X号调整审核流程"
    });
    // Not the city's to set, nor a provider's; reasons and a sound template required.
    for token in [&city, &provider] {
        let (s, _) = t
            .put(
                "/api/v1/regions/370000/policy",
                Some(token),
                province.clone(),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    let mut broken = province.clone();
    broken["reason"] = json!("");
    broken["policy"]["decision_days"] = json!(0);
    broken["policy"]["agreement_template"] = json!("甲方：{{provider}}，{{password}}");
    let (s, body) = t
        .put("/api/v1/regions/370000/policy", Some(&authority), broken)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields = error_fields(&body);
    assert!(
        fields.starts_with(&[
            "reason",
            "policy.decision_days",
            "policy.agreement_template"
        ]),
        "{fields:?}"
    );
    assert!(
        body.to_string().contains("unknown_placeholder")
            && body.to_string().contains("missing_placeholder")
    );
    let (s, p) = t
        .put("/api/v1/regions/370000/policy", Some(&authority), province)
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["history"][0]["reason"], "鲁数发〔2026〕X号调整审核流程");
    assert!(
        p["history"][0]["actor_id"].is_number(),
        "staff see who: {p}"
    );
    // The public reads the settings and why they changed, not which official did it.
    let (_, public) = t.get("/api/v1/regions/370000/policy", None).await;
    assert_eq!(
        public["history"][0]["reason"],
        "鲁数发〔2026〕X号调整审核流程"
    );
    assert!(
        public["history"][0]["actor_id"].is_null() && public["updated_by"].is_null(),
        "{public}"
    );
    let (_, to_citizen) = t.get("/api/v1/regions/370000/policy", Some(&citizen)).await;
    assert!(to_citizen["updated_by"].is_null(), "{to_citizen}");

    // The city sets only what differs; the rest comes from the province.
    let (s, p) = t
        .put(
            "/api/v1/regions/370100/policy",
            Some(&city),
            json!({"policy": {"share_via_authority": true}, "reason": "本市共享申请经主管部门转办"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(
        (
            &p["sources"]["share_via_authority"],
            &p["sources"]["decision_days"],
            &p["sources"]["formal_check_days"]
        ),
        (&json!("370100"), &json!("370000"), &json!("platform"))
    );
    assert_eq!(
        (&p["share_via_authority"], &p["decision_days"]),
        (&json!(true), &json!(15))
    );

    // The provincial provider's applications now skip the formal check, with 15 days.
    let dataset = published_entry(&t, &provider, conditional_entry("地区设置测试")).await;
    let (s, app) = t
        .post(
            "/api/v1/applications",
            Some(&citizen),
            json!({
                "dataset_id": dataset, "purpose": "研究", "scenario": "论文",
                "security_measures": "专机", "modes": ["api"], "period_days": 30,
                "pledge_accepted": true
            }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{app}");
    assert_eq!(app["state"], "with_provider");
    for token in [&citizen, &provider, &authority] {
        let (s, list) = t.get("/api/v1/applications", Some(token)).await;
        assert_eq!(s, StatusCode::OK, "{list}");
        assert_eq!(list[0]["id"], app["id"], "{list}");
    }
    let (_, due) = t
        .get(
            &format!(
                "/api/v1/calendar/deadline?start={}&days=15",
                gongshu_app::gongshu_core::calendar::china_date(chrono::Utc::now())
            ),
            None,
        )
        .await;
    assert_eq!(app["due_on"], due["deadline"]);
    let (s, approved) = t
        .post(
            &format!("/api/v1/applications/{}/approve", app["id"]),
            Some(&provider),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{approved}");
    let text = approved["agreement"].as_str().unwrap();
    assert!(
        text.starts_with("山东省公共数据开放利用协议（2026年版）"),
        "{text}"
    );
    assert!(
        text.contains("地区设置测试") && !text.contains("{{"),
        "{text}"
    );
}

/// SD-OPEN §14: an API token scoped to one grant reads under that grant alone, does
/// nothing else, and stops at once when the grant is terminated; the holder files use
/// reports the provider sees.
#[tokio::test]
async fn grant_tokens_read_under_their_grant_alone_and_reports_are_filed() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let citizen = t.user_with_role("citizen", "registered", None, None).await;
    let stranger = t.user_with_role("stranger", "registered", None, None).await;
    let holder = user_id(&t, &citizen).await;
    let csv = "企业名称,统一社会信用代码\n济南甲公司,91370100MA3C00001X\n";
    let mut rows = Vec::new();
    let mut grants = Vec::new();
    for title in ["令牌授权甲", "令牌授权乙"] {
        let dataset = published_entry(&t, &provider, conditional_entry(title)).await;
        let job = ingest_ok(&t, dataset, &provider, "t.csv", csv.as_bytes(), &[]).await;
        rows.push(format!(
            "/api/v1/resources/{}/rows",
            job["resource_id"].as_str().unwrap()
        ));
        let (_, id) = grant(
            &t,
            GrantKind::Open,
            dataset,
            (Some(holder), None),
            &[GrantMode::Api],
            (-1, 24),
            None,
        )
        .await;
        grants.push(id);
    }
    let tokens = format!("/api/v1/grants/{}/tokens", grants[0]);
    let (s, _) = t.post(&tokens, Some(&provider), json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "only the holder mints tokens");
    let (s, body) = t.post(&tokens, Some(&citizen), json!({"days": 0})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, minted) = t.post(&tokens, Some(&citizen), json!({"days": 7})).await;
    assert_eq!(s, StatusCode::CREATED, "{minted}");
    let scoped = minted["token"].as_str().unwrap().to_owned();

    // It reads under its grant, not under the holder's other grant.
    assert_eq!(t.get(&rows[0], Some(&scoped)).await.0, StatusCode::OK);
    assert_eq!(t.get(&rows[1], Some(&citizen)).await.0, StatusCode::OK);
    assert_eq!(
        t.get(&rows[1], Some(&scoped)).await.0,
        StatusCode::FORBIDDEN
    );
    // And it acts for nothing.
    let (s, _) = t.get("/console", Some(&scoped)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/me/grants".to_owned()),
        (reqwest::Method::GET, "/api/v1/applications".to_owned()),
        (reqwest::Method::POST, tokens.clone()),
    ] {
        let (s, body) = t.call(method, &path, Some(&scoped), Some(json!({}))).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {body}");
        assert!(body.to_string().contains("仅限按第"), "{body}");
    }

    // Use reports: the holder files, the provider reads, a stranger learns nothing.
    let reports = format!("/api/v1/grants/{}/reports", grants[0]);
    let today = gongshu_app::gongshu_core::calendar::china_date(chrono::Utc::now());
    let report = json!({
        "period_from": (today - chrono::Duration::days(30)).to_string(),
        "period_to": today.to_string(),
        "summary": "用于市场主体活跃度研究，形成论文初稿一篇",
        "outputs": "论文初稿"
    });
    let mut backwards = report.clone();
    backwards["period_to"] = json!((today - chrono::Duration::days(60)).to_string());
    backwards["summary"] = json!("");
    let (s, body) = t.post(&reports, Some(&citizen), backwards).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_fields(&body), ["period_to", "summary"]);
    let (s, filed) = t.post(&reports, Some(&citizen), report).await;
    assert_eq!(s, StatusCode::CREATED, "{filed}");
    let (s, listed) = t.get(&reports, Some(&provider)).await;
    assert_eq!(s, StatusCode::OK, "{listed}");
    assert_eq!(listed[0]["outputs"], "论文初稿");
    let (_, inbox) = t.get("/api/v1/inbox", Some(&provider)).await;
    assert!(inbox.to_string().contains("use_reported"), "{inbox}");
    assert_eq!(
        t.get(&reports, Some(&stranger)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.post(&reports, Some(&provider), json!({"period_from": today.to_string(), "period_to": today.to_string(), "summary": "x"})).await.0,
        StatusCode::FORBIDDEN
    );

    // Terminated: the token stops at the next request, and no new one is minted.
    let (s, body) = t
        .post(
            &format!("/api/v1/grants/{}/terminate", grants[0]),
            Some(&provider),
            json!({"reason": "违反协议：转售数据"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = t.get(&rows[0], Some(&scoped)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("终止"),
        "{body}"
    );
    let (s, _) = t.post(&tokens, Some(&citizen), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT);

    // A scoped token may still revoke itself.
    let (s, _) = t
        .call(
            reqwest::Method::DELETE,
            "/api/v1/auth/token",
            Some(&scoped),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        t.get(&rows[0], Some(&scoped)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// Races: two decisions sent at once on the same request take effect once; the other is
/// refused and changes nothing.
#[tokio::test]
async fn concurrent_decisions_take_effect_once() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let authority = t.token("demo-authority").await;
    let citizen = t.user_with_role("citizen", "registered", None, None).await;
    let (_, p) = t
        .put(
            "/api/v1/regions/370000/policy",
            Some(&authority),
            json!({"policy": {"formal_check": false}, "reason": "直接由提供单位决定"}),
        )
        .await;
    assert_eq!(p["formal_check"], false, "{p}");
    let dataset = published_entry(&t, &provider, conditional_entry("并发决定测试")).await;

    let (_, app) = t
        .post(
            "/api/v1/applications",
            Some(&citizen),
            json!({
                "dataset_id": dataset, "purpose": "研究", "scenario": "论文",
                "security_measures": "专机", "modes": ["api"], "period_days": 30,
                "pledge_accepted": true
            }),
        )
        .await;
    let id = app["id"].as_i64().unwrap();
    let act = |a: &str| format!("/api/v1/applications/{id}/{a}");
    let (approve, refuse) = (act("approve"), act("refuse"));
    let (a, b) = tokio::join!(
        t.post(&approve, Some(&provider), json!({})),
        t.post(&refuse, Some(&provider), json!({"reason": "不符合条件"})),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{a:?} {b:?}"
    );
    let decided = history(&t, id, &provider).await;
    assert_eq!(decided.len(), 2, "{decided:?}");

    let (_, change) = t
        .post(
            &format!("/api/v1/datasets/{dataset}/attribute-changes"),
            Some(&provider),
            json!({"open_type": "none", "reason": "停止开放", "legal_basis": "《数据安全法》第二十一条"}),
        )
        .await;
    let change = change["id"].as_i64().unwrap();
    let path = |a: &str| format!("/api/v1/attribute-changes/{change}/{a}");
    let (approve, withdraw) = (path("approve"), path("withdraw"));
    let (a, b) = tokio::join!(
        t.post(&approve, Some(&authority), json!({})),
        t.post(&withdraw, Some(&provider), json!({})),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{a:?} {b:?}"
    );
    let (_, detail) = t
        .get(
            &format!("/api/v1/attribute-changes/{change}"),
            Some(&provider),
        )
        .await;
    assert_eq!(detail["history"].as_array().unwrap().len(), 2, "{detail}");
    let (_, public) = t.get(&format!("/api/v1/datasets/{dataset}"), None).await;
    let closed = detail["state"] == "applied";
    assert_eq!(public["open_type"] == "none", closed, "{detail} {public}");
}

/// A mail server that accepts everything and hands each message's text to the test.
async fn fake_smtp() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 fake ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(text) = data.as_mut() {
                        if line == "." {
                            tx.send(data.take().unwrap()).unwrap();
                            write.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            text.push_str(&line);
                            text.push('\n');
                        }
                        continue;
                    }
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-fake\r\n250 8BITMIME\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.unwrap();
                            break;
                        }
                        _ => b"250 OK\r\n",
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, rx)
}

/// R11.4: notifications also go by e-mail and, for staff, by a signed webhook; each channel
/// once, a failing one again on the next round; the public cannot point a webhook anywhere.
#[tokio::test]
async fn notifications_go_out_by_email_and_signed_webhook() {
    use hmac::{Hmac, Mac};
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let citizen = t.user_with_role("citizen", "registered", None, None).await;

    // The webhook receiver: answers 500 until told otherwise, keeps what it got.
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(HeaderMap, Vec<u8>)>::new()));
    let healthy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hook = {
        let (received, healthy) = (received.clone(), healthy.clone());
        axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let (received, healthy) = (received.clone(), healthy.clone());
                    async move {
                        let mut h = HeaderMap::new();
                        for (k, v) in &headers {
                            h.insert(
                                k.as_str().parse::<reqwest::header::HeaderName>().unwrap(),
                                v.to_str().unwrap().parse().unwrap(),
                            );
                        }
                        received.lock().unwrap().push((h, body.to_vec()));
                        if healthy.load(std::sync::atomic::Ordering::SeqCst) {
                            axum::http::StatusCode::NO_CONTENT
                        } else {
                            axum::http::StatusCode::INTERNAL_SERVER_ERROR
                        }
                    }
                },
            ),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, hook).await.unwrap() });

    let (s, body) = t
        .put(
            "/api/v1/me/channels",
            Some(&citizen),
            json!({"webhook_url": hook_url}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let (s, body) = t
        .put(
            "/api/v1/me/channels",
            Some(&provider),
            json!({"email": "not an address", "webhook_url": "file:///etc/passwd"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_fields(&body), ["email", "webhook_url"]);
    let (s, channels) = t
        .put(
            "/api/v1/me/channels",
            Some(&provider),
            json!({"email": "amr-data@example.gov.cn", "webhook_url": hook_url}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{channels}");
    let key = channels["webhook_secret"].as_str().unwrap().to_owned();
    let (_, again) = t.get("/api/v1/me/channels", Some(&provider)).await;
    assert!(
        again.get("webhook_secret").is_none(),
        "the key is shown once: {again}"
    );

    // Something for the provider to hear about: a citizen applies.
    let dataset = published_entry(&t, &provider, conditional_entry("通知渠道测试")).await;
    let authority = t.token("demo-authority").await;
    t.put(
        "/api/v1/regions/370000/policy",
        Some(&authority),
        json!({"policy": {"formal_check": false}, "reason": "直接由提供单位决定"}),
    )
    .await;
    let (s, app) = t
        .post(
            "/api/v1/applications",
            Some(&citizen),
            json!({
                "dataset_id": dataset, "purpose": "研究", "scenario": "论文",
                "security_measures": "专机", "modes": ["api"], "period_days": 30,
                "pledge_accepted": true
            }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{app}");

    let (port, mut mails) = fake_smtp().await;
    let (node, _) = gongshu_server::open_app(
        t.data_dir(),
        &gongshu_server::Bootstrap {
            smtp: Some(gongshu_app::delivery::SmtpSettings {
                url: format!("smtp://127.0.0.1:{port}"),
                from: "公数平台 <noreply@example.gov.cn>".into(),
            }),
            public_url: Some("https://data.example.gov.cn".into()),
            ..gongshu_server::Bootstrap::default()
        },
    )
    .await
    .unwrap();
    // The webhook fails: the e-mail goes, the webhook is tried again.
    let (sent, failed) = node.deliver_notifications().await.unwrap();
    assert_eq!((sent, failed), (0, 0));
    let mail = tokio::time::timeout(Duration::from_secs(5), mails.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(mail.contains("To: amr-data@example.gov.cn"), "{mail}");
    let (_, encoded) = mail.split_once("\n\n").unwrap();
    let text = String::from_utf8(
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            encoded.replace('\n', ""),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(
        text.contains("https://data.example.gov.cn/console/applications/"),
        "{text}"
    );
    healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    let (sent, _) = node.deliver_notifications().await.unwrap();
    assert!(sent >= 1);
    assert_eq!(
        node.deliver_notifications().await.unwrap(),
        (0, 0),
        "each goes once"
    );
    assert!(mails.try_recv().is_err(), "the e-mail is not sent twice");

    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "one failure, one success");
    let (headers, body) = &got[1];
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(headers["x-gongshu-signature"], expected.as_str());
    let payload: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(payload["kind"], "application_submitted");
}

/// A webhook that never answers is tried five times, then given up with its last error
/// kept; the notification stays in the inbox.
#[tokio::test]
async fn a_webhook_that_keeps_failing_is_given_up_after_five_attempts() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let authority = t.token("demo-authority").await;
    // A port nobody listens on any more.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (s, body) = t
        .put(
            "/api/v1/me/channels",
            Some(&authority),
            json!({"webhook_url": format!("http://{dead}/hook")}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let dataset = published_entry(&t, &provider, entry("投递失败测试")).await;
    let (s, change) = t
        .post(
            &format!("/api/v1/datasets/{dataset}/attribute-changes"),
            Some(&provider),
            json!({"open_type": "none", "reason": "含敏感信息",
                "legal_basis": "《山东省公共数据开放办法》第十条"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{change}");

    let (node, _) = gongshu_server::open_app(t.data_dir(), &gongshu_server::Bootstrap::default())
        .await
        .unwrap();
    for attempt in 1..=4 {
        assert_eq!(
            node.deliver_notifications().await.unwrap(),
            (0, 0),
            "attempt {attempt} fails and is kept for another"
        );
    }
    assert_eq!(
        node.deliver_notifications().await.unwrap(),
        (0, 1),
        "given up"
    );
    assert_eq!(node.deliver_notifications().await.unwrap(), (0, 0));
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        t.data_dir().join("gongshu.db").display()
    ))
    .await
    .unwrap();
    let (delivery, attempts, error): (String, i64, String) = sqlx::query_as(
        "SELECT delivery, attempts, last_error FROM notifications \
         WHERE last_error IS NOT NULL",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!((delivery.as_str(), attempts), ("failed", 5));
    assert!(error.starts_with("webhook"), "{error}");
    let (_, inbox) = t.get("/api/v1/inbox", Some(&authority)).await;
    assert!(
        inbox.to_string().contains("变更"),
        "the inbox still has it: {inbox}"
    );
}

/// Issue 5, detection: an uploaded table's columns are scanned at ingest; the job names
/// those that seem to hold personal information, the provider confirms or corrects
/// each, the confirmation is recorded and carries to the next version.
#[tokio::test]
async fn personal_information_is_detected_at_ingest_and_confirmed_by_the_provider() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let dataset = published_entry(&t, &provider, entry("人员信息检测测试")).await;
    // Valid GB 11643 numbers (check digits computed), one full-width, one with spaces.
    let csv = "证件号码,联系方式,姓名,金额,备注\n\
        11010519491231002X,13800138000,张三,12.5,无\n\
        ４４０５２４１８８００１０１００１４,139-1234-5678,李四,8.25,无\n\
        110105 19491231 002X,13800138000,王五,1.0,无\n";
    let job = ingest_ok(&t, dataset, &provider, "people.csv", csv.as_bytes(), &[]).await;
    let found: Vec<(String, String)> = job["personal_columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["column"].as_str().unwrap().to_owned(),
                c["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("证件号码".to_owned(), "resident_id".to_owned()),
            ("联系方式".to_owned(), "mobile".to_owned()),
            ("姓名".to_owned(), "name".to_owned()),
        ],
        "{job}"
    );
    assert_eq!(job["personal_columns"][0]["sensitive"], true);
    let rid = job["resource_id"].as_str().unwrap().to_owned();
    let columns = format!("/api/v1/resources/{rid}/columns");
    let (s, classes) = t.get(&columns, Some(&provider)).await;
    assert_eq!(s, StatusCode::OK, "{classes}");
    assert_eq!(
        classes["unconfirmed"],
        json!(["证件号码", "联系方式", "姓名"])
    );
    assert_eq!(classes["columns"][0]["confirmed_share"], 1.0, "{classes}");

    // Others learn nothing; the authority reads; only the provider confirms.
    let citizen = t.user_with_role("citizen", "registered", None, None).await;
    assert_eq!(
        t.get(&columns, Some(&citizen)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(t.get(&columns, None).await.0, StatusCode::UNAUTHORIZED);
    let authority = t.token("demo-authority").await;
    assert_eq!(t.get(&columns, Some(&authority)).await.0, StatusCode::OK);
    let confirm = |body: Value, token: String| {
        let t = &t;
        let columns = columns.clone();
        async move { t.put(&columns, Some(&token), body).await }
    };
    let (s, _) = confirm(
        json!({"version": 1, "columns": {"证件号码": "resident_id"}}),
        authority.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body) = confirm(
        json!({"version": 1, "columns": {"证件号码": "secret"}}),
        provider.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, body) = confirm(
        json!({"version": 1, "columns": {"没有这一列": "none"}}),
        provider.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // The provider corrects one: 备注 holds health notes in this table.
    let (s, classes) = confirm(
        json!({"version": 1, "columns": {"证件号码": "resident_id", "联系方式": "mobile",
            "姓名": "name", "金额": "none", "备注": "health"}}),
        provider.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{classes}");
    assert_eq!(classes["unconfirmed"], json!([]));
    assert_eq!(classes["columns"][4]["sensitive"], true);
    assert!(classes["columns"][0]["confirmed_by"].is_number());

    // A new version keeps what was confirmed.
    let job2 = ingest_ok(
        &t,
        dataset,
        &provider,
        "people.csv",
        csv.as_bytes(),
        &[("resource_id", &rid)],
    )
    .await;
    assert_eq!(job2["version"], 2, "{job2}");
    let (_, v2) = t.get(&columns, Some(&provider)).await;
    assert_eq!(
        (&v2["version"], &v2["unconfirmed"]),
        (&json!(2), &json!([])),
        "{v2}"
    );
    assert_eq!(v2["columns"][4]["confirmed"], "health");
}

/// Canaries planted in a protected table: ID numbers, mobile numbers, names.
const CANARIES: [&str; 6] = [
    "11010519491231002X",
    "440524188001010014",
    "13912345678",
    "15811112222",
    "欧阳金丝雀",
    "司马哨兵",
];

fn canary_table() -> String {
    "证件号码,手机号码,姓名,街道,人数\n\
     11010519491231002X,13912345678,欧阳金丝雀,历下区,3\n\
     440524188001010014,15811112222,司马哨兵,市中区,5\n"
        .to_owned()
}

/// What a body leaks: each canary found in it, whatever the format (text, or the cells
/// of a workbook, or the values of a Parquet file, which are compressed on the wire).
fn leaked(format: &str, body: &[u8]) -> Vec<&'static str> {
    let text = match format {
        "xlsx" => {
            use calamine::{Reader, Xlsx, open_workbook_from_rs};
            let mut wb: Xlsx<_> =
                open_workbook_from_rs(std::io::Cursor::new(body.to_vec())).unwrap();
            let range = wb.worksheet_range_at(0).unwrap().unwrap();
            range
                .rows()
                .flat_map(|r| r.iter().map(|c| c.to_string()))
                .collect::<Vec<_>>()
                .join("\n")
        }
        "parquet" => {
            use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(body.to_vec()))
                    .unwrap()
                    .build()
                    .unwrap();
            let mut out = String::new();
            for batch in reader {
                let batch = batch.unwrap();
                for column in batch.columns() {
                    let f = arrow_cast::display::ArrayFormatter::try_new(
                        column.as_ref(),
                        &Default::default(),
                    )
                    .unwrap();
                    for i in 0..column.len() {
                        out.push_str(&f.value(i).to_string());
                        out.push('\n');
                    }
                }
            }
            out
        }
        _ => String::from_utf8_lossy(body).into_owned(),
    };
    CANARIES
        .iter()
        .copied()
        .filter(|c| text.contains(c))
        .collect()
}

/// R6.4, the leak test: canaries planted in an openly published table never leave raw
/// through any public path — rows with every filter (including filtering by the raw
/// value), every download format, SQL, the dataset page, catalog JSON and search — for
/// the anonymous public, a registered user, and a grantee of a conditional copy. The
/// provider still reads its own data raw. Keep this test growing as paths are added.
#[tokio::test]
async fn no_raw_protected_value_leaves_through_a_public_path() {
    // Everything logged at info level while the test runs is kept, to be searched too.
    let logs = LogCapture::install();
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let citizen = t.user_with_role("citizen", "registered", None, None).await;
    let open_entry = published_entry(&t, &provider, entry("金丝雀开放表")).await;
    let job = ingest_ok(
        &t,
        open_entry,
        &provider,
        "people.csv",
        canary_table().as_bytes(),
        &[],
    )
    .await;
    assert_eq!(
        job["personal_columns"].as_array().unwrap().len(),
        3,
        "{job}"
    );
    let rid = job["resource_id"].as_str().unwrap().to_owned();

    // The provider reads its own data as it holds it.
    let (_, mine) = t
        .get(&format!("/api/v1/resources/{rid}/rows"), Some(&provider))
        .await;
    assert_eq!(
        leaked("json", mine.to_string().as_bytes()).len(),
        CANARIES.len()
    );

    let cond_entry = published_entry(&t, &provider, conditional_entry("金丝雀有条件表")).await;
    let cond_job = ingest_ok(
        &t,
        cond_entry,
        &provider,
        "people.csv",
        canary_table().as_bytes(),
        &[],
    )
    .await;
    let cond_rid = cond_job["resource_id"].as_str().unwrap().to_owned();
    let grantee = t.user_with_role("grantee", "registered", None, None).await;
    let grantee_id = user_id(&t, &grantee).await;
    grant(
        &t,
        GrantKind::Open,
        cond_entry,
        (Some(grantee_id), None),
        &[GrantMode::Api, GrantMode::Download],
        (-1, 24),
        None,
    )
    .await;

    let (_, res) = t.get(&format!("/api/v1/resources/{rid}"), None).await;
    let table = res["table_name"].as_str().unwrap().to_owned();
    let mut checked = 0;
    let mut check = |what: String, format: &str, body: &[u8]| {
        let found = leaked(format, body);
        assert!(
            found.is_empty(),
            "{what} leaks {found:?}: {}",
            String::from_utf8_lossy(body)
        );
        checked += 1;
    };
    for (who, token) in [("anonymous", None), ("registered", Some(citizen.as_str()))] {
        let rows = format!("/api/v1/resources/{rid}/rows");
        let queries = [
            String::new(),
            "证件号码=11010519491231002X".into(),
            "证件号码__contains=19491231".into(),
            "证件号码__in=11010519491231002X,440524188001010014".into(),
            "手机号码__startswith=1391234".into(),
            "姓名=欧阳金丝雀".into(),
            "姓名__contains=金丝雀".into(),
            "_sort=证件号码".into(),
            "_cols=证件号码,姓名".into(),
            "证件号码__gt=1".into(),
            "_format=csv".into(),
        ];
        for q in &queries {
            let path = format!("{rows}?{q}");
            let r = fetch(&t, &path, token, &[]).await;
            assert!(
                r.status.is_success() || r.status.is_client_error(),
                "{path}: {}",
                r.status
            );
            check(format!("{who} {path}"), "text", &r.body);
            // Filtering by a raw value finds nothing: membership is not revealed either.
            if q.contains("=11010519491231002X")
                || q.contains("=欧阳金丝雀")
                || q.contains("19491231")
            {
                assert_eq!(rows_of(&r.json()).len(), 0, "{who} {path}");
            }
        }
        for format in ["csv", "csv-utf8", "json", "ndjson", "xlsx", "parquet"] {
            let path = format!("/api/v1/resources/{rid}/download?format={format}");
            let r = fetch(&t, &path, token, &[]).await;
            assert_eq!(r.status, StatusCode::OK, "{who} {path}");
            check(format!("{who} {path}"), format, &r.body);
        }
        let original = fetch(
            &t,
            &format!("/api/v1/resources/{rid}/download?format=original"),
            token,
            &[],
        )
        .await;
        assert_eq!(
            original.status,
            StatusCode::FORBIDDEN,
            "{who}: the original is not opened"
        );
        check(format!("{who} original"), "text", &original.body);
        for sql in [
            format!("SELECT * FROM {table}"),
            format!("SELECT 证件号码, count(*) AS n FROM {table} GROUP BY 证件号码"),
            format!("SELECT * FROM {table} WHERE 证件号码 = '11010519491231002X'"),
            format!("SELECT * FROM {table} WHERE 姓名 LIKE '%金丝雀%'"),
        ] {
            let (s, body) = t.post("/api/v1/sql", token, json!({ "sql": sql })).await;
            check(
                format!("{who} SQL {sql}: {s}"),
                "text",
                body.to_string().as_bytes(),
            );
            if sql.contains("WHERE") && s == StatusCode::OK {
                assert_eq!(body["rows"].as_array().unwrap().len(), 0, "{sql}");
            }
        }
        for path in [
            format!("/datasets/{open_entry}"),
            format!("/api/v1/datasets/{open_entry}"),
            format!("/api/v1/datasets/{open_entry}/resources"),
            format!("/api/v1/resources/{rid}"),
            "/api/v1/datasets?q=欧阳金丝雀".to_owned(),
            "/datasets?q=11010519491231002X".to_owned(),
        ] {
            let r = fetch(&t, &path, token, &[]).await;
            // The search box shows back what the visitor typed; that is their own input.
            let mut body = String::from_utf8_lossy(&r.body).into_owned();
            for c in CANARIES {
                body = body.replace(&format!("value=\"{c}\""), "");
            }
            check(format!("{who} {path}"), "text", body.as_bytes());
        }
    }
    // A grantee of the conditional copy reads its open version, not the raw table.
    for path in [
        format!("/api/v1/resources/{cond_rid}/rows"),
        format!("/api/v1/resources/{cond_rid}/download?format=csv"),
    ] {
        let r = fetch(&t, &path, Some(&grantee), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        check(format!("grantee {path}"), "text", &r.body);
    }
    assert_eq!(checked, 58, "every path above was checked");
    let logged = logs.text();
    assert!(logged.contains("INFO"), "the log was captured");
    let found = leaked("text", logged.as_bytes());
    assert!(found.is_empty(), "the log at info level leaks {found:?}");
}

/// The process's log at info level, kept in memory. A process has one global
/// subscriber: the first test to ask installs it, and every later one reads the same
/// log, which holds what all tests of this binary logged.
#[derive(Clone)]
struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    fn install() -> Self {
        static CAPTURE: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
        CAPTURE
            .get_or_init(|| {
                let capture = LogCapture(Default::default());
                let writer = capture.clone();
                let subscriber = tracing_subscriber::fmt()
                    .with_max_level(tracing::Level::INFO)
                    .with_ansi(false)
                    .with_writer(move || writer.clone())
                    .finish();
                // Another test binary's subscriber cannot exist in this process.
                let _ = tracing::subscriber::set_global_default(subscriber);
                capture
            })
            .clone()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Issue 5, de-identification rules: the provider's rules decide the open version at
/// once; a keyed pseudonym links rows within a dataset and not across datasets; where
/// the grade requires de-identification, a personal column kept as it is refuses the
/// table rather than serve it raw.
#[tokio::test]
async fn rules_decide_the_open_version_and_required_deidentification_holds() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let table = format!(
        "{}11010519491231002X,13912345678,欧阳金丝雀,历城区,1\n",
        canary_table()
    );
    let first = published_entry(&t, &provider, entry("规则测试一")).await;
    let second = published_entry(&t, &provider, entry("规则测试二")).await;
    let rid = ingest_ok(&t, first, &provider, "p.csv", table.as_bytes(), &[]).await["resource_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other =
        ingest_ok(&t, second, &provider, "p.csv", table.as_bytes(), &[]).await["resource_id"]
            .as_str()
            .unwrap()
            .to_owned();
    let rules = format!("/api/v1/resources/{rid}/rules");
    let (s, r) = t.get(&rules, Some(&provider)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        r["personal"],
        json!({"姓名": "name", "手机号码": "mobile", "证件号码": "resident_id"})
    );
    let column = |page: &Value, name: &str| -> Vec<String> {
        rows_of(page)
            .iter()
            .map(|r| r[name].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let (_, page) = t.get(&format!("/api/v1/resources/{rid}/rows"), None).await;
    assert_eq!(column(&page, "证件号码")[0], "110105********002X");
    assert_eq!(column(&page, "姓名")[0], "欧****");

    // Refusals first: nothing changes.
    let bad = json!({"rules": {"columns": [{"column": "没有", "rule": {"kind": "suppress"}}]}, "reason": ""});
    let (s, body) = t.put(&rules, Some(&provider), bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_fields(&body).last(), Some(&"reason"));
    let pseudonym = json!({"rules": {"columns": [{"column": "证件号码", "rule": {"kind": "pseudonym"}}]},
        "reason": "按人关联统计，不暴露身份证号"});
    let authority = t.token("demo-authority").await;
    assert_eq!(
        t.put(&rules, Some(&authority), pseudonym.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    let citizen = t.user_with_role("citizen", "registered", None, None).await;
    assert_eq!(
        t.put(&rules, Some(&citizen), pseudonym.clone()).await.0,
        StatusCode::NOT_FOUND
    );

    let (s, r) = t.put(&rules, Some(&provider), pseudonym.clone()).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (_, page) = t.get(&format!("/api/v1/resources/{rid}/rows"), None).await;
    let ids = column(&page, "证件号码");
    assert!(
        ids.iter()
            .all(|p| p.len() == 16 && p.bytes().all(|b| b.is_ascii_hexdigit())),
        "{ids:?}"
    );
    assert_eq!(ids[0], ids[2], "the same person links within the dataset");
    assert_ne!(ids[0], ids[1]);
    t.put(
        &format!("/api/v1/resources/{other}/rules"),
        Some(&provider),
        pseudonym,
    )
    .await;
    let (_, page2) = t
        .get(&format!("/api/v1/resources/{other}/rows"), None)
        .await;
    assert_ne!(
        column(&page2, "证件号码")[0],
        ids[0],
        "but not across datasets"
    );

    // Required de-identification (a general-2 entry opened on conditions): a name kept
    // as it is refuses the table for the grantee, saying which column.
    let mut strict = conditional_entry("规则测试三");
    strict["grade"] = json!("general2");
    for item in strict["items"].as_array_mut().unwrap() {
        item["grade"] = json!("general2");
    }
    let third = published_entry(&t, &provider, strict).await;
    let strict_rid =
        ingest_ok(&t, third, &provider, "p.csv", table.as_bytes(), &[]).await["resource_id"]
            .as_str()
            .unwrap()
            .to_owned();
    let grantee = t.user_with_role("grantee", "registered", None, None).await;
    let grantee_id = user_id(&t, &grantee).await;
    grant(
        &t,
        GrantKind::Open,
        third,
        (Some(grantee_id), None),
        &[GrantMode::Api],
        (-1, 24),
        None,
    )
    .await;
    let strict_rows = format!("/api/v1/resources/{strict_rid}/rows");
    let (s, page) = t.get(&strict_rows, Some(&grantee)).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(column(&page, "姓名")[0], "欧****");
    let keep = json!({"rules": {"columns": [{"column": "姓名", "rule": {"kind": "keep"}}]},
        "reason": "姓名为公开任职信息"});
    let (s, _) = t
        .put(
            &format!("/api/v1/resources/{strict_rid}/rules"),
            Some(&provider),
            keep,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = t.get(&strict_rows, Some(&grantee)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("姓名"),
        "{body}"
    );
    assert!(!body.to_string().contains("欧阳金丝雀"));
}

/// Issue 5: the k-anonymity report of the open version over quasi-identifiers the
/// provider picks, for the provider and the authority only.
#[tokio::test]
async fn the_k_anonymity_report_measures_the_open_version() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let dataset = published_entry(&t, &provider, entry("匿名度测试")).await;
    let mut csv = String::from("街道,年龄段,病种\n");
    for (street, n) in [("历下", 6), ("市中", 5), ("槐荫", 1)] {
        for i in 0..n {
            csv.push_str(&format!("{street},30-39,{}\n", ["感冒", "肺炎"][i % 2]));
        }
    }
    let rid = ingest_ok(&t, dataset, &provider, "k.csv", csv.as_bytes(), &[]).await["resource_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let report =
        format!("/api/v1/resources/{rid}/k-anonymity?quasi=街道,年龄段&k=5&sensitive=病种");
    let (s, r) = t.get(&report, Some(&provider)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (
            &r["records"],
            &r["classes"],
            &r["smallest_class"],
            &r["records_below_k"]
        ),
        (&json!(12), &json!(3), &json!(1), &json!(1)),
        "{r}"
    );
    assert_eq!(
        (&r["max_risk"], &r["l_diversity"]),
        (&json!(1.0), &json!(1))
    );
    let authority = t.token("demo-authority").await;
    assert_eq!(t.get(&report, Some(&authority)).await.0, StatusCode::OK);
    let citizen = t.user_with_role("citizen", "registered", None, None).await;
    assert_eq!(
        t.get(&report, Some(&citizen)).await.0,
        StatusCode::NOT_FOUND
    );
    let (s, body) = t
        .get(
            &format!("/api/v1/resources/{rid}/k-anonymity?quasi=没有"),
            Some(&provider),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // Naming the quasi-identifiers makes k a condition of publication: the open version
    // has a class of one (槐荫), so readers are refused until the provider generalises.
    let rules = format!("/api/v1/resources/{rid}/rules");
    let quasi = json!({"rules": {"columns": [], "quasi_identifiers": ["街道", "年龄段"]},
        "reason": "按街道和年龄段发布"});
    let (s, body) = t.put(&rules, Some(&provider), quasi).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let rows = format!("/api/v1/resources/{rid}/rows");
    let (s, body) = t.get(&rows, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("k-匿名"),
        "{body}"
    );
    // The provider still reads the report that says why, and the one kept with the
    // open version, over the rules' quasi-identifiers and the province's k.
    assert_eq!(t.get(&report, Some(&provider)).await.0, StatusCode::OK);
    let (s, kept) = t
        .get(
            &format!("/api/v1/resources/{rid}/k-anonymity"),
            Some(&provider),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{kept}");
    assert_eq!(
        (
            &kept["quasi_identifiers"],
            &kept["k"],
            &kept["smallest_class"]
        ),
        (&json!(["街道", "年龄段"]), &json!(5), &json!(1)),
        "{kept}"
    );
    // The threshold is the province's policy: at k = 1 the same open version serves.
    let (_, table) = t.get("/api/v1/grade-caps", None).await;
    assert_eq!(table["caps"]["k_threshold"], 5, "{table}");
    let mut caps = table["caps"].clone();
    for (k, status) in [
        (0, StatusCode::UNPROCESSABLE_ENTITY),
        (1, StatusCode::OK),
        (5, StatusCode::OK),
    ] {
        caps["k_threshold"] = json!(k);
        let body = json!({"caps": caps, "reason": "试点调整 k 值"});
        let (s, saved) = t.put("/api/v1/grade-caps", Some(&authority), body).await;
        assert_eq!(s, status, "{saved}");
        if k == 1 {
            assert_eq!(t.get(&rows, None).await.0, StatusCode::OK);
        }
    }
    assert_eq!(t.get(&rows, None).await.0, StatusCode::FORBIDDEN);
    // Street suppressed: one class of twelve, and readers get the open version.
    let generalised = json!({"rules": {"columns": [{"column": "街道", "rule": {"kind": "suppress"}}],
        "quasi_identifiers": ["街道", "年龄段"]}, "reason": "街道过细，不予公开"});
    let (s, body) = t.put(&rules, Some(&provider), generalised).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, page) = t.get(&rows, None).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(rows_of(&page).iter().all(|r| r["街道"].is_null()), "{page}");
}

/// Issue 5, grading: the province's authority edits the grade → cap table with a
/// reason; the gate applies it from the next request on; a city authority cannot, and
/// a table that would open core data or invert the order is refused.
#[tokio::test]
async fn the_province_edits_the_grade_caps_and_the_gate_follows() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let authority = t.token("demo-authority").await;
    let dataset = published_entry(&t, &provider, entry("分级上限测试")).await;
    let csv = "企业名称,统一社会信用代码\n济南甲公司,91370100MA3C00001X\n";
    let rid = ingest_ok(&t, dataset, &provider, "a.csv", csv.as_bytes(), &[]).await["resource_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rows = format!("/api/v1/resources/{rid}/rows");
    assert_eq!(t.get(&rows, None).await.0, StatusCode::OK);

    let (s, table) = t.get("/api/v1/grade-caps", None).await;
    assert_eq!(s, StatusCode::OK, "{table}");
    assert_eq!(table["source"], "platform");
    let mut caps = table["caps"].clone();
    // General 1 now opens only on conditions.
    for entry in caps["caps"].as_array_mut().unwrap() {
        if entry[0] == "general1" {
            entry[1] = json!({"max_open": "conditional", "deidentify": true});
        }
    }
    let city = t
        .user_with_role(
            "jn-authority",
            "authority_admin",
            Some(t.org_id("济南市大数据局").await),
            Some("370100"),
        )
        .await;
    let body = json!({"caps": caps, "reason": "鲁数发〔2026〕X号调整分级开放上限"});
    assert_eq!(
        t.put("/api/v1/grade-caps", Some(&city), body.clone())
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let mut open_core = caps.clone();
    for entry in open_core["caps"].as_array_mut().unwrap() {
        if entry[0] == "core" {
            entry[1] = json!({"max_open": "unconditional", "deidentify": true});
        }
    }
    let (s, refused) = t
        .put(
            "/api/v1/grade-caps",
            Some(&authority),
            json!({"caps": open_core, "reason": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(error_fields(&refused).contains(&"caps.core"), "{refused}");
    assert_eq!(
        t.get(&rows, None).await.0,
        StatusCode::OK,
        "nothing changed"
    );

    let (s, saved) = t.put("/api/v1/grade-caps", Some(&authority), body).await;
    assert_eq!(s, StatusCode::OK, "{saved}");
    assert_eq!(saved["source"], "authority");
    assert_eq!(
        saved["history"][0]["reason"],
        "鲁数发〔2026〕X号调整分级开放上限"
    );
    // The entry was published unconditionally under the old table: capped at once.
    let (s, body) = t.get(&rows, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
}

/// Issue 5: the important-data catalog lists entries graded important or core, or with
/// items so graded, drafts included, for the authority and auditors only.
#[tokio::test]
async fn the_important_data_catalog_is_for_the_authority_and_auditors() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let mut body = important_entry("重要数据目录测试");
    body["items"][1]["grade"] = json!("important");
    let (s, draft) = t.post("/api/v1/datasets", Some(&provider), body).await;
    assert_eq!(s, StatusCode::CREATED, "{draft}");
    for who in ["demo-authority", "demo-auditor"] {
        let (s, list) = t
            .get("/api/v1/important-data", Some(&t.token(who).await))
            .await;
        assert_eq!(s, StatusCode::OK, "{who}: {list}");
        let found = list
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["title"] == "重要数据目录测试")
            .unwrap_or_else(|| panic!("{who}: {list}"));
        assert_eq!(found["items"], json!([["统一社会信用代码", "important"]]));
        assert_eq!(found["status"], "draft");
    }
    for token in [
        provider,
        t.user_with_role("citizen", "registered", None, None).await,
    ] {
        assert_eq!(
            t.get("/api/v1/important-data", Some(&token)).await.0,
            StatusCode::FORBIDDEN
        );
    }
}

/// An entry graded important: closed to the public, shared on conditions.
fn important_entry(title: &str) -> Value {
    let mut body = entry(title);
    body["grade"] = json!("important");
    body["open_type"] = json!("none");
    body["share_type"] = json!("conditional");
    body["share_condition"] = json!("限于履行监管职责");
    body["legal_basis"] = json!("《中华人民共和国数据安全法》第二十一条");
    body
}

/// An at-rest key file with these keys (id, algorithm, key byte repeated), the first
/// active.
fn key_file(path: &std::path::Path, keys: &[(&str, &str, u8)]) {
    let mut text = format!("active = \"{}\"\n", keys[0].0);
    for (id, algorithm, byte) in keys {
        let len = if *algorithm == "sm4-gcm" { 16 } else { 32 };
        text.push_str(&format!(
            "[[keys]]\nid = \"{id}\"\nalgorithm = \"{algorithm}\"\nkey = \"{}\"\n",
            hex::encode(vec![*byte; len])
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// Every canary found in any file under `dir`, with the file.
fn canaries_on_disk(dir: &std::path::Path) -> Vec<(String, &'static str)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            for c in CANARIES {
                if bytes.windows(c.len()).any(|w| w == c.as_bytes()) {
                    found.push((path.display().to_string(), c));
                }
            }
        }
    }
    found
}

async fn at_rest_status(t: &TestApp, admin: &str) -> Value {
    let (s, body) = t.get("/api/v1/at-rest", Some(admin)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body
}

/// Issue 5: important data is sealed on disk (AES-256-GCM or SM4-GCM) — no byte of the
/// platform's data directory holds a canary, while the same table of a general entry
/// lies there in the clear — reads open it again, and the keys rotate while the
/// platform serves, the old key removable once no file uses it.
#[tokio::test]
async fn important_data_is_encrypted_at_rest_and_its_keys_rotate_while_serving() {
    let keys = tempfile::tempdir().unwrap();
    let file = keys.path().join("at-rest.toml");
    key_file(&file, &[("k1", "aes-256-gcm", 1)]);
    let t = spawn_boot(gongshu_server::Bootstrap {
        at_rest_keys: Some(gongshu_app::at_rest::KeySource::File(file.clone())),
        ..gongshu_server::Bootstrap::default()
    })
    .await;
    let provider = t.token("demo-provider").await;
    let admin = t.token("admin").await;
    let body = important_entry("加密存储测试");
    let (s, draft) = t.post("/api/v1/datasets", Some(&provider), body).await;
    assert_eq!(s, StatusCode::CREATED, "{draft}");
    let important = draft["id"].as_i64().unwrap();
    let job = ingest_ok(
        &t,
        important,
        &provider,
        "people.csv",
        canary_table().as_bytes(),
        &[],
    )
    .await;
    let rid = job["resource_id"].as_str().unwrap().to_owned();

    assert_eq!(canaries_on_disk(t.data_dir()), Vec::new());
    let status = at_rest_status(&t, &admin).await;
    assert_eq!(status["active_key"], "k1");
    assert_eq!(status["algorithm"], "aes-256-gcm");
    // The original, the table and its open (de-identified) version.
    let sealed_files = status["census"]["by_key"]["k1"].as_u64().unwrap();
    assert_eq!(sealed_files, 3, "{status}");

    // The provider reads its data as it gave it.
    let read_all = |format: &'static str| {
        let (t, provider, rid) = (&t, provider.clone(), rid.clone());
        async move {
            let r = fetch(
                t,
                &format!("/api/v1/resources/{rid}/download?format={format}"),
                Some(&provider),
                &[],
            )
            .await;
            assert_eq!(r.status, StatusCode::OK, "{format}");
            r.body
        }
    };
    let original = read_all("original").await;
    assert_eq!(original, canary_table().as_bytes());
    assert_eq!(leaked("csv", &read_all("csv").await).len(), CANARIES.len());

    // The control: a general entry's copy of the same table is stored in the clear, so
    // the scan above would have seen plaintext.
    let general = published_entry(&t, &provider, entry("明文对照")).await;
    let job = ingest_ok(
        &t,
        general,
        &provider,
        "people.csv",
        canary_table().as_bytes(),
        &[],
    )
    .await;
    let general_rid = job["resource_id"].as_str().unwrap().to_owned();
    let clear = canaries_on_disk(t.data_dir());
    assert!(!clear.is_empty());
    assert!(
        clear.iter().all(|(path, _)| path.contains(&general_rid)),
        "{clear:?}"
    );

    // Rotation to SM4-GCM while a reader keeps reading.
    key_file(&file, &[("k2", "sm4-gcm", 2), ("k1", "aes-256-gcm", 1)]);
    let reading = {
        let (base, provider, rid) = (t.base.clone(), provider.clone(), rid.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut reads = 0;
            for _ in 0..40 {
                let r = client
                    .get(format!("{base}/api/v1/resources/{rid}/download?format=csv"))
                    .bearer_auth(&provider)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                let body = r.bytes().await.unwrap();
                assert!(String::from_utf8_lossy(&body).contains("欧阳金丝雀"));
                reads += 1;
            }
            reads
        })
    };
    let (s, rotated) = t
        .post("/api/v1/at-rest/rotate", Some(&admin), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    assert_eq!(rotated["active_key"], "k2");
    assert_eq!(rotated["algorithm"], "sm4-gcm");
    let mut status = Value::Null;
    for _ in 0..600 {
        status = at_rest_status(&t, &admin).await;
        if status["census"]["by_key"].get("k1").is_none() && status["sweeping"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status["census"]["by_key"],
        json!({"k2": sealed_files}),
        "{status}"
    );
    assert_eq!(status["last_sweep"]["errors"], json!([]), "{status}");
    // The rewrite is in the audit log, as the platform's own act.
    let (_, log) = t
        .get("/api/v1/audit/entries?action=at_rest.sweep", Some(&admin))
        .await;
    let sweep = &log["items"][0]["entry"];
    assert_eq!(
        sweep["object"],
        format!("files:{sealed_files}:errors:0"),
        "{log}"
    );
    assert!(sweep["actor"].is_null(), "{log}");
    assert_eq!(reading.await.unwrap(), 40);
    assert_eq!(
        canaries_on_disk(t.data_dir())
            .iter()
            .filter(|(p, _)| p.contains(&rid))
            .count(),
        0
    );

    // An entry graded up after its data was stored has its files sealed at once.
    let (s, later) = t
        .post("/api/v1/datasets", Some(&provider), entry("后定重要"))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{later}");
    let later_id = later["id"].as_i64().unwrap();
    let job = ingest_ok(
        &t,
        later_id,
        &provider,
        "people.csv",
        canary_table().as_bytes(),
        &[],
    )
    .await;
    let later_rid = job["resource_id"].as_str().unwrap().to_owned();
    let in_later = |found: Vec<(String, &'static str)>| {
        found
            .into_iter()
            .filter(|(p, _)| p.contains(&later_rid))
            .count()
    };
    assert!(in_later(canaries_on_disk(t.data_dir())) > 0);
    let mut doc = important_entry("后定重要");
    doc["version"] = later["version"].clone();
    let (s, body) = t
        .put(
            &format!("/api/v1/datasets/{later_id}"),
            Some(&provider),
            doc,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    for _ in 0..600 {
        if in_later(canaries_on_disk(t.data_dir())) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(in_later(canaries_on_disk(t.data_dir())), 0);

    // The old key leaves the file; everything still reads.
    key_file(&file, &[("k2", "sm4-gcm", 2)]);
    let (s, rotated) = t
        .post("/api/v1/at-rest/rotate", Some(&admin), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    assert_eq!(rotated["key_ids"], json!(["k2"]));
    assert_eq!(read_all("original").await, canary_table().as_bytes());

    // A broken key file changes nothing; only the system administrator rotates.
    std::fs::write(&file, "active = \"k9\"\n").unwrap();
    let (s, body) = t
        .post("/api/v1/at-rest/rotate", Some(&admin), json!({}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(read_all("original").await, canary_table().as_bytes());
    assert_eq!(
        t.post("/api/v1/at-rest/rotate", Some(&provider), json!({}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        t.get("/api/v1/at-rest", Some(&provider)).await.0,
        StatusCode::FORBIDDEN
    );
    let auditor = t.token("demo-auditor").await;
    assert_eq!(
        t.get("/api/v1/at-rest", Some(&auditor)).await.0,
        StatusCode::OK
    );
    // The important-data catalog counts what is held, for the risk assessment.
    let (_, list) = t.get("/api/v1/important-data", Some(&auditor)).await;
    let held = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["title"] == "加密存储测试")
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(
        (&held["resources"], &held["rows"]),
        (&json!(1), &json!(2)),
        "{held}"
    );
}

/// Issue 5: without at-rest keys, important data is refused — on upload, and when an
/// entry holding stored data is graded up — instead of being stored in the clear.
#[tokio::test]
async fn without_at_rest_keys_important_data_is_refused_not_stored_in_the_clear() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let body = important_entry("无密钥重要数据");
    let (s, draft) = t.post("/api/v1/datasets", Some(&provider), body).await;
    assert_eq!(s, StatusCode::CREATED, "{draft}");
    let job = ingest(
        &t,
        draft["id"].as_i64().unwrap(),
        &provider,
        "people.csv",
        canary_table().as_bytes(),
        &[],
    )
    .await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(
        job["error"].as_str().unwrap().contains("静态加密密钥"),
        "{job}"
    );
    assert_eq!(canaries_on_disk(t.data_dir()), Vec::new());

    let (s, general) = t
        .post("/api/v1/datasets", Some(&provider), entry("后定重要"))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{general}");
    let id = general["id"].as_i64().unwrap();
    ingest_ok(&t, id, &provider, "a.csv", b"a,b\n1,2\n", &[]).await;
    let mut doc = important_entry("后定重要");
    doc["version"] = general["version"].clone();
    let (s, body) = t
        .put(&format!("/api/v1/datasets/{id}"), Some(&provider), doc)
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains("静态加密密钥"), "{body}");
}

/// Whole downloads and row-API calls are tallied per entry. A revalidation or the rest
/// of a resumed download is not another download. The tally orders the catalog by
/// downloads and fills the home page's "most used".
#[tokio::test]
async fn downloads_are_counted_and_rank_the_most_used() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let id = entry_id(&t, &provider, OPEN_ENTRY).await;
    let job = ingest_ok(
        &t,
        id,
        &provider,
        "formula.csv",
        FORMULA_CSV.as_bytes(),
        &[],
    )
    .await;
    let rid = job["resource_id"].as_str().unwrap();
    let home = t.client.get(t.url("/")).send().await.unwrap();
    assert!(!home.text().await.unwrap().contains("最常用"));

    let csv = fetch(&t, &format!("/api/v1/resources/{rid}/download"), None, &[]).await;
    assert_eq!(csv.status, StatusCode::OK);
    let parquet = format!("/api/v1/resources/{rid}/download?format=parquet");
    let whole = fetch(&t, &parquet, None, &[]).await;
    assert_eq!(whole.status, StatusCode::OK);
    let etag = whole.header("etag").unwrap().to_owned();
    // Not downloads: a revalidation, and the second half of a resumed download.
    let same = fetch(&t, &parquet, None, &[("if-none-match", &etag)]).await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);
    let rest = fetch(&t, &parquet, None, &[("range", "bytes=10-")]).await;
    assert_eq!(rest.status, StatusCode::PARTIAL_CONTENT);
    // A resumed download from its start is one.
    let first = fetch(&t, &parquet, None, &[("range", "bytes=0-9")]).await;
    assert_eq!(first.status, StatusCode::PARTIAL_CONTENT);
    let rows = fetch(&t, &format!("/api/v1/resources/{rid}/rows"), None, &[]).await;
    assert_eq!(rows.status, StatusCode::OK);

    let page = t.text(&format!("/datasets/{id}")).await;
    assert!(page.contains("下载 3 次 · 接口调用 1 次"), "{page}");

    // The index takes the count in within its refresh period.
    let mut first_by_downloads = None;
    for _ in 0..100 {
        let (s, list) = t
            .get("/api/v1/datasets?sort=downloads&per_page=1", None)
            .await;
        assert_eq!(s, StatusCode::OK, "{list}");
        first_by_downloads = list["items"][0]["id"].as_i64();
        if first_by_downloads == Some(id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(first_by_downloads, Some(id));
    let home = t.text("/").await;
    let popular = home.split("最常用").nth(1).expect("a most-used section");
    assert!(popular.contains(OPEN_ENTRY), "{popular}");
    assert!(popular.contains("下载 3 次"), "{popular}");
    let (s, body) = t.get("/api/v1/datasets?sort=popular", None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_fields(&body), vec!["sort"]);
}

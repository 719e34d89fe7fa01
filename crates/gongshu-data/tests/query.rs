//! The row API and read-only SQL over stored Parquet versions, checked against a model
//! of the same rows kept in plain Rust.

use std::fmt;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Decimal128Type, Int64Type};
use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use futures::stream::BoxStream;
use gongshu_data::query::{Engine, QueryError, QueryLimits, RowPage, RowQuery, TableRef};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

/// One row of the test table, as the model sees it.
#[derive(Debug, Clone)]
struct Row {
    row: i64,
    code: String,
    name: Option<String>,
    /// Cents.
    capital: Option<i128>,
    /// Days since 1970-01-01.
    founded: Option<i32>,
    staff: Option<i64>,
    active: Option<bool>,
    odd: String,
}

const CITIES: [&str; 3] = ["济南", "青岛", "烟台"];

fn model(n: i64) -> Vec<Row> {
    (1..=n)
        .map(|i| Row {
            row: i,
            code: format!("91370100MA{:08}", (i * 7919) % 100_000_000),
            name: match i {
                _ if i % 17 == 0 => None,
                3 => Some("打折50%_店\\".to_owned()),
                _ => Some(format!(
                    "{}{}有限公司",
                    CITIES[(i % 3) as usize],
                    if i % 5 == 0 { "科技" } else { "商贸" }
                )),
            },
            capital: (i % 11 != 0).then(|| i128::from((i * 12_345) % 1_000_000)),
            founded: (i % 13 != 0).then(|| 10_957 + ((i * 7) % 9000) as i32),
            staff: (i % 7 != 0).then_some((i * 37) % 50),
            active: (i % 19 != 0).then_some(i % 2 == 0),
            odd: format!("x{}", i % 4),
        })
        .collect()
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("_row", DataType::Int64, false),
        Field::new("统一社会信用代码", DataType::Utf8, false),
        Field::new("企业名称", DataType::Utf8, true),
        Field::new("注册资本", DataType::Decimal128(38, 2), true),
        Field::new("成立日期", DataType::Date32, true),
        Field::new("员工数", DataType::Int64, true),
        Field::new("是否有效", DataType::Boolean, true),
        Field::new("a__b", DataType::Utf8, false),
    ]))
}

fn batch(rows: &[Row]) -> RecordBatch {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.row))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.code.as_str()),
        )),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.name.clone()))),
        Arc::new(
            Decimal128Array::from_iter(rows.iter().map(|r| r.capital))
                .with_precision_and_scale(38, 2)
                .unwrap(),
        ),
        Arc::new(Date32Array::from_iter(rows.iter().map(|r| r.founded))),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.staff))),
        Arc::new(BooleanArray::from_iter(rows.iter().map(|r| r.active))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.odd.as_str()),
        )),
    ];
    RecordBatch::try_new(schema(), cols).unwrap()
}

fn parquet_bytes(batches: &[RecordBatch], row_group_rows: usize) -> Vec<u8> {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(row_group_rows))
        .build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batches[0].schema(), Some(props)).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
    out
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<dyn ObjectStore>,
    rows: Vec<Row>,
    table: TableRef,
}

async fn put(store: &Arc<dyn ObjectStore>, key: &str, bytes: Vec<u8>) -> Path {
    let path = Path::from(format!("resources/{key}/versions/0000000001/data.parquet"));
    store.put(&path, Bytes::from(bytes).into()).await.unwrap();
    path
}

async fn fixture(n: i64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let rows = model(n);
    let batches: Vec<RecordBatch> = rows.chunks(128).map(batch).collect();
    let path = put(&store, "companies", parquet_bytes(&batches, 100)).await;
    Fixture {
        _dir: dir,
        store,
        table: TableRef {
            name: "companies".into(),
            path,
            rows: n as u64,
        },
        rows,
    }
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn query(p: &[(&str, &str)]) -> RowQuery {
    RowQuery::from_pairs(&pairs(p)).unwrap()
}

async fn rows(engine: &Engine, table: &TableRef, p: &[(&str, &str)]) -> RowPage {
    engine.rows(table, &query(p)).await.unwrap()
}

async fn bad_request(engine: &Engine, table: &TableRef, p: &[(&str, &str)]) -> String {
    let result = match RowQuery::from_pairs(&pairs(p)) {
        Ok(q) => engine.rows(table, &q).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Err(QueryError::BadRequest(msg)) => msg,
        other => panic!("{p:?}: expected BadRequest, got {other:?}"),
    }
}

fn row_ids(page: &RowPage) -> Vec<i64> {
    page.batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect()
}

/// Every page from the first, following `_next`; the row ids in order.
async fn walk(engine: &Engine, table: &TableRef, p: &[(&str, &str)]) -> Vec<i64> {
    let mut all = Vec::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut q = pairs(p);
        if let Some(token) = &next {
            q.push(("_next".into(), token.clone()));
        }
        let page = engine
            .rows(table, &RowQuery::from_pairs(&q).unwrap())
            .await
            .unwrap();
        all.extend(row_ids(&page));
        pages += 1;
        assert!(pages < 10_000, "paging does not end");
        match page.next {
            Some(t) => next = Some(t),
            None => return all,
        }
    }
}

fn engine(store: &Arc<dyn ObjectStore>) -> Engine {
    Engine::new(Arc::clone(store), QueryLimits::default())
}

fn date(y: i32, m: u32, d: u32) -> i32 {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    (chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap() - epoch).num_days() as i32
}

fn ids(rows: &[Row], keep: impl Fn(&Row) -> bool) -> Vec<i64> {
    rows.iter().filter(|r| keep(r)).map(|r| r.row).collect()
}

#[tokio::test]
async fn each_filter_on_each_type() {
    let f = fixture(1000).await;
    let e = engine(&f.store);
    let d2005 = date(2005, 3, 1);
    let founded = f.rows[99].founded.unwrap();
    let compact = (chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
        + chrono::Days::new(founded as u64))
    .format("%Y%m%d")
    .to_string();
    type Keep = Box<dyn Fn(&Row) -> bool>;
    let cases: Vec<(Vec<(&str, &str)>, Keep)> = vec![
        // Text.
        (
            vec![("统一社会信用代码", "91370100MA00079190")],
            Box::new(|r: &Row| r.code == "91370100MA00079190"),
        ),
        (
            vec![("企业名称", "济南科技有限公司")],
            Box::new(|r: &Row| r.name.as_deref() == Some("济南科技有限公司")),
        ),
        (
            vec![("企业名称__ne", "济南科技有限公司")],
            Box::new(|r: &Row| r.name.as_deref().is_some_and(|n| n != "济南科技有限公司")),
        ),
        (
            vec![("企业名称__contains", "科技")],
            Box::new(|r: &Row| r.name.as_deref().is_some_and(|n| n.contains("科技"))),
        ),
        (
            vec![("企业名称__startswith", "青岛")],
            Box::new(|r: &Row| r.name.as_deref().is_some_and(|n| n.starts_with("青岛"))),
        ),
        // LIKE's special characters are taken literally.
        (
            vec![("企业名称__contains", "50%_店\\")],
            Box::new(|r: &Row| r.name.as_deref().is_some_and(|n| n.contains("50%_店\\"))),
        ),
        (
            vec![("企业名称__contains", "%")],
            Box::new(|r: &Row| r.name.as_deref().is_some_and(|n| n.contains('%'))),
        ),
        (
            vec![("企业名称__in", "济南科技有限公司,烟台商贸有限公司")],
            Box::new(|r: &Row| {
                matches!(
                    r.name.as_deref(),
                    Some("济南科技有限公司" | "烟台商贸有限公司")
                )
            }),
        ),
        (
            vec![("企业名称__gt", "烟台")],
            Box::new(|r: &Row| r.name.as_deref().is_some_and(|n| n > "烟台")),
        ),
        (
            vec![("企业名称__isnull", "1")],
            Box::new(|r: &Row| r.name.is_none()),
        ),
        (
            vec![("企业名称__isnull", "false")],
            Box::new(|r: &Row| r.name.is_some()),
        ),
        // Decimal, with values as people write them.
        (
            vec![("注册资本", "1234.50")],
            Box::new(|r: &Row| r.capital == Some(123_450)),
        ),
        (
            vec![("注册资本__gte", "5,000")],
            Box::new(|r: &Row| r.capital.is_some_and(|c| c >= 500_000)),
        ),
        (
            vec![("注册资本__lt", "200.5")],
            Box::new(|r: &Row| r.capital.is_some_and(|c| c < 20_050)),
        ),
        (
            vec![("注册资本__contains", ".5")],
            Box::new(|r: &Row| {
                r.capital
                    .is_some_and(|c| format!("{}.{:02}", c / 100, c % 100).contains(".5"))
            }),
        ),
        (
            vec![("注册资本__isnull", "是")],
            Box::new(|r: &Row| r.capital.is_none()),
        ),
        // Dates in the forms Chinese tables use.
        (
            vec![("成立日期__gte", "2005年3月1日")],
            Box::new(move |r: &Row| r.founded.is_some_and(|d| d >= d2005)),
        ),
        (
            vec![("成立日期__lt", "2005/3/1")],
            Box::new(move |r: &Row| r.founded.is_some_and(|d| d < d2005)),
        ),
        (
            vec![("成立日期", compact.as_str())],
            Box::new(move |r: &Row| r.founded == Some(founded)),
        ),
        (
            vec![("成立日期__startswith", "2001-")],
            Box::new(move |r: &Row| {
                r.founded
                    .is_some_and(|d| (date(2001, 1, 1)..date(2002, 1, 1)).contains(&d))
            }),
        ),
        // Integers.
        (
            vec![("员工数", "12")],
            Box::new(|r: &Row| r.staff == Some(12)),
        ),
        (
            vec![("员工数__ne", "12")],
            Box::new(|r: &Row| r.staff.is_some_and(|s| s != 12)),
        ),
        (
            vec![("员工数__gt", "40")],
            Box::new(|r: &Row| r.staff.is_some_and(|s| s > 40)),
        ),
        (
            vec![("员工数__lte", "3")],
            Box::new(|r: &Row| r.staff.is_some_and(|s| s <= 3)),
        ),
        (
            vec![("员工数__in", "1, 2,3")],
            Box::new(|r: &Row| matches!(r.staff, Some(1..=3))),
        ),
        (
            vec![("员工数__startswith", "4")],
            Box::new(|r: &Row| r.staff.is_some_and(|s| s.to_string().starts_with('4'))),
        ),
        (
            vec![("员工数__isnull", "1")],
            Box::new(|r: &Row| r.staff.is_none()),
        ),
        // Booleans.
        (
            vec![("是否有效", "是")],
            Box::new(|r: &Row| r.active == Some(true)),
        ),
        (
            vec![("是否有效", "0")],
            Box::new(|r: &Row| r.active == Some(false)),
        ),
        (
            vec![("是否有效__ne", "true")],
            Box::new(|r: &Row| r.active == Some(false)),
        ),
        (
            vec![("是否有效__isnull", "true")],
            Box::new(|r: &Row| r.active.is_none()),
        ),
        // `_row` is a column like the others.
        (vec![("_row__gt", "990")], Box::new(|r: &Row| r.row > 990)),
        // A column whose name contains `__` is still reachable.
        (vec![("a__b", "x1")], Box::new(|r: &Row| r.odd == "x1")),
        (
            vec![("a__b__in", "x1,x2")],
            Box::new(|r: &Row| r.odd == "x1" || r.odd == "x2"),
        ),
        // Filters are ANDed, the same key repeated too.
        (
            vec![("员工数__gt", "10"), ("员工数__lt", "20")],
            Box::new(|r: &Row| r.staff.is_some_and(|s| s > 10 && s < 20)),
        ),
        (
            vec![
                ("企业名称__contains", "济南"),
                ("企业名称__contains", "科技"),
            ],
            Box::new(|r: &Row| r.name.as_deref() == Some("济南科技有限公司")),
        ),
        (
            vec![("企业名称__contains", "科技"), ("是否有效", "1")],
            Box::new(|r: &Row| {
                r.name.as_deref().is_some_and(|n| n.contains("科技")) && r.active == Some(true)
            }),
        ),
    ];
    for (filters, keep) in cases {
        let want = ids(&f.rows, keep);
        let mut p = filters.clone();
        p.push(("_size", "70"));
        assert_eq!(walk(&e, &f.table, &p).await, want, "{filters:?}");
        let first = rows(&e, &f.table, &filters).await;
        assert_eq!(first.total, want.len() as u64, "{filters:?}");
        assert!(!first.total_estimated);
        assert!(!want.is_empty(), "{filters:?} matches nothing: a weak case");
    }
}

#[tokio::test]
async fn columns() {
    let f = fixture(300).await;
    let e = engine(&f.store);
    let all = rows(&e, &f.table, &[]).await;
    assert_eq!(all.schema, schema());
    assert_eq!(all.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 100);
    assert_eq!(row_ids(&all), (1..=100).collect::<Vec<_>>());
    assert_eq!(all.total, 300);

    let some = rows(&e, &f.table, &[("_cols", "注册资本,企业名称")]).await;
    let names: Vec<&str> = some
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, ["_row", "注册资本", "企业名称"]);
    let b = &some.batches[0];
    assert_eq!(b.schema(), some.schema);
    assert_eq!(
        b.column(2).as_string::<i32>().value(0),
        f.rows[0].name.as_deref().unwrap()
    );
    assert_eq!(
        b.column(1).as_primitive::<Decimal128Type>().value(0),
        f.rows[0].capital.unwrap()
    );

    let only_row = rows(&e, &f.table, &[("_cols", "_row")]).await;
    assert_eq!(only_row.schema.fields().len(), 1);

    // The sort column need not be shown for paging to work.
    let p = [("_cols", "企业名称"), ("_sort", "成立日期"), ("_size", "7")];
    let page = rows(&e, &f.table, &p).await;
    assert_eq!(page.schema.fields().len(), 2);
    assert_eq!(walk(&e, &f.table, &p).await.len(), 300);

    let msg = bad_request(&e, &f.table, &[("_cols", "企业名称,法人")]).await;
    assert!(msg.contains("法人"), "{msg}");
}

fn sorted(rows: &[Row], key: impl Fn(&Row) -> Option<i128>, desc: bool) -> Vec<i64> {
    let mut v: Vec<(Option<i128>, i64)> = rows.iter().map(|r| (key(r), r.row)).collect();
    v.sort_by(|a, b| match (a.0, b.0) {
        (None, None) => a.1.cmp(&b.1),
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (Some(_), None) => std::cmp::Ordering::Less,
        (Some(x), Some(y)) => {
            let o = if desc { y.cmp(&x) } else { x.cmp(&y) };
            o.then(a.1.cmp(&b.1))
        }
    });
    v.into_iter().map(|(_, r)| r).collect()
}

/// How a test reads a column's sort key back from its own copy of a row.
type SortKey = Box<dyn Fn(&Row) -> Option<i128>>;

#[tokio::test]
async fn sorting_with_nulls_last_and_paging() {
    let f = fixture(1000).await;
    let e = engine(&f.store);

    let cases: Vec<(&str, SortKey)> = vec![
        ("注册资本", Box::new(|r: &Row| r.capital)),
        ("成立日期", Box::new(|r: &Row| r.founded.map(i128::from))),
        ("员工数", Box::new(|r: &Row| r.staff.map(i128::from))),
        ("是否有效", Box::new(|r: &Row| r.active.map(i128::from))),
    ];
    for (column, key) in cases {
        for (param, desc) in [("_sort", false), ("_sort_desc", true)] {
            let want = sorted(&f.rows, &key, desc);
            for size in ["1000", "33", "1"] {
                let got = walk(&e, &f.table, &[(param, column), ("_size", size)]).await;
                assert_eq!(got, want, "{param}={column} _size={size}");
            }
        }
    }

    // Text sorts by its characters.
    let mut want: Vec<(Option<String>, i64)> =
        f.rows.iter().map(|r| (r.name.clone(), r.row)).collect();
    want.sort_by(|a, b| match (&a.0, &b.0) {
        (None, None) => a.1.cmp(&b.1),
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (Some(_), None) => std::cmp::Ordering::Less,
        (Some(x), Some(y)) => y.cmp(x).then(a.1.cmp(&b.1)),
    });
    let want: Vec<i64> = want.into_iter().map(|(_, r)| r).collect();
    let got = walk(&e, &f.table, &[("_sort_desc", "企业名称"), ("_size", "45")]).await;
    assert_eq!(got, want);

    // With a filter, and by `_row` itself.
    let filtered = walk(
        &e,
        &f.table,
        &[("_sort", "注册资本"), ("员工数__gt", "25"), ("_size", "9")],
    )
    .await;
    let keep: Vec<Row> = f
        .rows
        .iter()
        .filter(|r| r.staff.is_some_and(|s| s > 25))
        .cloned()
        .collect();
    assert_eq!(filtered, sorted(&keep, |r| r.capital, false));
    let back = walk(&e, &f.table, &[("_sort_desc", "_row"), ("_size", "64")]).await;
    assert_eq!(back, (1..=1000).rev().collect::<Vec<_>>());
    let fwd = walk(&e, &f.table, &[("_sort", "_row"), ("_size", "64")]).await;
    assert_eq!(fwd, (1..=1000).collect::<Vec<_>>());
}

#[tokio::test]
async fn unsorted_paging_visits_every_row_once() {
    let f = fixture(1000).await;
    let e = engine(&f.store);
    for size in ["1", "99", "100", "101", "1000", "10000"] {
        let got = walk(&e, &f.table, &[("_size", size)]).await;
        assert_eq!(got, (1..=1000).collect::<Vec<_>>(), "_size={size}");
    }
    let page = rows(&e, &f.table, &[("_size", "1000")]).await;
    assert_eq!(page.next, None);
    let page = rows(&e, &f.table, &[("_size", "999")]).await;
    assert!(page.next.is_some());
}

#[tokio::test]
async fn tokens_belong_to_their_sort() {
    let f = fixture(300).await;
    let e = engine(&f.store);
    let by_capital = rows(&e, &f.table, &[("_sort", "注册资本"), ("_size", "10")])
        .await
        .next
        .unwrap();
    let plain = rows(&e, &f.table, &[("_size", "10")]).await.next.unwrap();

    for p in [
        vec![("_sort", "员工数"), ("_next", by_capital.as_str())],
        vec![("_sort_desc", "注册资本"), ("_next", by_capital.as_str())],
        vec![("_next", by_capital.as_str())],
        vec![("_sort", "注册资本"), ("_next", plain.as_str())],
    ] {
        bad_request(&e, &f.table, &p).await;
    }
    // The same sort continues.
    let page = rows(
        &e,
        &f.table,
        &[("_sort", "注册资本"), ("_next", &by_capital)],
    )
    .await;
    assert_eq!(
        page.batches.iter().map(|b| b.num_rows()).sum::<usize>(),
        100
    );

    // Tampering.
    let mut flipped = plain.clone().into_bytes();
    flipped[3] ^= 0x20;
    let flipped = String::from_utf8(flipped).unwrap();
    let wrong_type = base64_url(r#"{"s":"注册资本","v":"abc","r":5}"#);
    let no_row = base64_url(r#"{"s":"注册资本","v":"100"}"#);
    for token in [
        "not a token!",
        "AAAA",
        &flipped,
        &plain[..plain.len() - 2],
        &wrong_type,
        &no_row,
    ] {
        let msg = bad_request(&e, &f.table, &[("_sort", "注册资本"), ("_next", token)]).await;
        assert!(msg.contains("_next"), "{msg}");
    }
}

fn base64_url(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[tokio::test]
async fn page_sizes() {
    let f = fixture(300).await;
    let e = engine(&f.store);
    for size in ["0", "-1", "abc", "", "10001", "1.5"] {
        let msg = bad_request(&e, &f.table, &[("_size", size)]).await;
        assert!(msg.contains("_size"), "{msg}");
    }
    let page = rows(&e, &f.table, &[("_size", "10000")]).await;
    assert_eq!(row_ids(&page).len(), 300);
    let page = rows(&e, &f.table, &[("_size", "5")]).await;
    assert_eq!(row_ids(&page), [1, 2, 3, 4, 5]);
    // Formats belong to the HTTP layer.
    rows(&e, &f.table, &[("_format", "csv"), ("_shape", "objects")]).await;
}

#[tokio::test]
async fn totals_exact_then_estimated() {
    let f = fixture(1000).await;
    let limits = QueryLimits {
        exact_count_rows: 400,
        ..QueryLimits::default()
    };
    let e = Engine::new(Arc::clone(&f.store), limits);

    let all = rows(&e, &f.table, &[]).await;
    assert_eq!((all.total, all.total_estimated), (1000, false));

    // Staff are spread evenly, so the estimate from the first 400 rows is close.
    let p = [("员工数__lt", "25")];
    let exact = ids(&f.rows, |r| r.staff.is_some_and(|s| s < 25)).len() as u64;
    let in_sample = ids(&f.rows, |r| r.row <= 400 && r.staff.is_some_and(|s| s < 25)).len();
    let page = rows(&e, &f.table, &p).await;
    assert!(page.total_estimated);
    assert_eq!(page.total, in_sample as u64 * 1000 / 400);
    assert!(
        page.total.abs_diff(exact) < exact / 10,
        "{} vs {exact}",
        page.total
    );
    // Again, from the cache.
    let again = rows(&e, &f.table, &p).await;
    assert_eq!((again.total, again.total_estimated), (page.total, true));
    // Later pages carry the same total.
    let later = rows(
        &e,
        &f.table,
        &[p[0], ("_next", page.next.as_deref().unwrap())],
    )
    .await;
    assert_eq!((later.total, later.total_estimated), (page.total, true));

    // A first page that holds every match knows the total exactly.
    let one = rows(&e, &f.table, &[("统一社会信用代码", &f.rows[899].code)]).await;
    assert_eq!((one.total, one.total_estimated), (1, false));

    // Filters on the position alone are counted exactly: the first rows would be a
    // biased sample for them.
    let tail = rows(&e, &f.table, &[("_row__gt", "700"), ("_size", "10")]).await;
    assert_eq!((tail.total, tail.total_estimated), (300, false));

    // A table no larger than the limit is counted exactly.
    let small = TableRef {
        rows: 400,
        ..f.table.clone()
    };
    let small_page = rows(&e, &small, &[("员工数__lt", "25"), ("_row__lte", "400")]).await;
    assert_eq!(
        (small_page.total, small_page.total_estimated),
        (in_sample as u64, false)
    );
}

#[tokio::test]
async fn bad_values_and_unknown_columns_name_the_column() {
    let f = fixture(100).await;
    let e = engine(&f.store);
    let cases: &[(&str, &str, &str)] = &[
        ("法人代表", "张三", "法人代表"),
        ("法人代表__contains", "张", "法人代表"),
        ("企业名称__like", "x", "企业名称__like"),
        ("注册资本", "一百万", "注册资本"),
        ("注册资本__gt", "1.234", "注册资本"),
        ("成立日期", "2024年2月30日", "成立日期"),
        ("成立日期__lt", "yesterday", "成立日期"),
        ("员工数", "1e3", "员工数"),
        ("员工数__in", "1,x", "员工数"),
        ("员工数__isnull", "maybe", "员工数"),
        ("是否有效", "也许", "是否有效"),
        ("_sort", "法人代表", "法人代表"),
        ("_sort_desc", "不存在", "不存在"),
    ];
    for (key, value, column) in cases {
        let msg = bad_request(&e, &f.table, &[(key, value)]).await;
        assert!(msg.contains(column), "{key}={value}: {msg}");
        assert!(msg.is_ascii() || msg.contains('('), "bilingual: {msg}");
    }
    let msg = bad_request(&e, &f.table, &[("_sort", "a"), ("_sort_desc", "b")]).await;
    assert!(msg.contains("_sort"), "{msg}");
}

/// Counts the bytes read through a store, to show what a query does not read.
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn ObjectStore>,
    bytes: AtomicU64,
}

impl fmt::Display for Counting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = object_store::Result<T>> + Send + 'a>>;

// Written out by hand: the trait is declared with async_trait, which this crate does
// not depend on.
impl ObjectStore for Counting {
    fn put_opts<'a, 'b, 'c>(
        &'a self,
        location: &'b Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> BoxFut<'c, PutResult>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        self.inner.put_opts(location, payload, opts)
    }

    fn put_multipart_opts<'a, 'b, 'c>(
        &'a self,
        location: &'b Path,
        opts: PutMultipartOptions,
    ) -> BoxFut<'c, Box<dyn MultipartUpload>>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        self.inner.put_multipart_opts(location, opts)
    }

    fn get_opts<'a, 'b, 'c>(
        &'a self,
        location: &'b Path,
        options: GetOptions,
    ) -> BoxFut<'c, GetResult>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        Box::pin(async move {
            let head = options.head;
            let r = self.inner.get_opts(location, options).await?;
            if !head {
                self.bytes
                    .fetch_add(r.range.end - r.range.start, Ordering::Relaxed);
            }
            Ok(r)
        })
    }

    fn get_ranges<'a, 'b, 'c, 'd>(
        &'a self,
        location: &'b Path,
        ranges: &'c [Range<u64>],
    ) -> BoxFut<'d, Vec<Bytes>>
    where
        'a: 'd,
        'b: 'd,
        'c: 'd,
        Self: 'd,
    {
        let n: u64 = ranges.iter().map(|r| r.end - r.start).sum();
        self.bytes.fetch_add(n, Ordering::Relaxed);
        self.inner.get_ranges(location, ranges)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_delimiter<'a, 'b, 'c>(&'a self, prefix: Option<&'b Path>) -> BoxFut<'c, ListResult>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        self.inner.list_with_delimiter(prefix)
    }

    fn copy_opts<'a, 'b, 'c, 'd>(
        &'a self,
        from: &'b Path,
        to: &'c Path,
        options: CopyOptions,
    ) -> BoxFut<'d, ()>
    where
        'a: 'd,
        'b: 'd,
        'c: 'd,
        Self: 'd,
    {
        self.inner.copy_opts(from, to, options)
    }
}

/// A wide-ish table of `n` rows in row groups of 65 536, as uploads are stored.
fn big_parquet(n: i64) -> Vec<u8> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("_row", DataType::Int64, false),
        Field::new("统一社会信用代码", DataType::Utf8, false),
        Field::new("企业名称", DataType::Utf8, false),
        Field::new("注册资本", DataType::Decimal128(38, 2), false),
    ]));
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(65_536))
        .build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, Arc::clone(&schema), Some(props)).unwrap();
    let mut start = 1;
    while start <= n {
        let end = (start + 65_536).min(n + 1);
        let r = start..end;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(r.clone())),
            Arc::new(StringArray::from_iter_values(
                r.clone()
                    .map(|i| format!("91370100MA{:08}", (i * 7919) % 100_000_000)),
            )),
            Arc::new(StringArray::from_iter_values(r.clone().map(|i| {
                format!("{}第{}有限公司", CITIES[(i % 3) as usize], i % 9973)
            }))),
            Arc::new(
                Decimal128Array::from_iter_values(r.map(|i| i128::from((i * 12_345) % 10_000_000)))
                    .with_precision_and_scale(38, 2)
                    .unwrap(),
            ),
        ];
        w.write(&RecordBatch::try_new(Arc::clone(&schema), cols).unwrap())
            .unwrap();
        start = end;
    }
    w.close().unwrap();
    out
}

#[tokio::test]
async fn deep_pages_read_only_what_they_show() {
    let dir = tempfile::tempdir().unwrap();
    let local: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let n = 2_000_000;
    let bytes = big_parquet(n);
    let file_size = bytes.len() as u64;
    let path = put(&local, "big", bytes).await;
    let counting = Arc::new(Counting {
        inner: local,
        bytes: AtomicU64::new(0),
    });
    let e = Engine::new(counting.clone(), QueryLimits::default());
    let table = TableRef {
        name: "big".into(),
        path,
        rows: n as u64,
    };

    // The first request reads the footer; versions never change, so no request after it
    // needs to.
    let first = rows(&e, &table, &[]).await;
    assert_eq!(row_ids(&first), (1..=100).collect::<Vec<_>>());

    let token = {
        // A page that ends at row 1 000 000, to continue from.
        let mut p = rows(&e, &table, &[("_row__gt", "999900")]).await;
        assert_eq!(row_ids(&p).last(), Some(&1_000_000));
        p.next.take().unwrap()
    };
    counting.bytes.store(0, Ordering::Relaxed);
    let deep = rows(&e, &table, &[("_next", &token)]).await;
    let read = counting.bytes.load(Ordering::Relaxed);
    assert_eq!(row_ids(&deep), (1_000_001..=1_000_100).collect::<Vec<_>>());
    assert!(
        read < file_size / 20,
        "a deep page read {read} of {file_size} bytes"
    );
    assert_eq!(deep.total, n as u64);

    counting.bytes.store(0, Ordering::Relaxed);
    let first = rows(&e, &table, &[]).await;
    assert_eq!(row_ids(&first).len(), 100);
    let read = counting.bytes.load(Ordering::Relaxed);
    assert!(
        read < file_size / 20,
        "the first page read {read} of {file_size} bytes"
    );
}

async fn sql_fixture() -> (Fixture, TableRef) {
    let f = fixture(3000).await;
    let staff: Vec<RecordBatch> = {
        let schema = Arc::new(Schema::new(vec![
            Field::new("_row", DataType::Int64, false),
            Field::new("员工数", DataType::Int64, false),
            Field::new("规模", DataType::Utf8, false),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(1..=50)),
            Arc::new(Int64Array::from_iter_values(0..50)),
            Arc::new(StringArray::from_iter_values(
                (0..50).map(|i| if i < 10 { "小" } else { "中" }),
            )),
        ];
        vec![RecordBatch::try_new(schema, cols).unwrap()]
    };
    let path = put(&f.store, "sizes", parquet_bytes(&staff, 1000)).await;
    let sizes = TableRef {
        name: "t_sizes_1".into(),
        path,
        rows: 50,
    };
    (f, sizes)
}

async fn sql_bad(e: &Engine, tables: &[TableRef], sql: &str) -> String {
    match e.sql(tables, sql).await {
        Err(QueryError::BadRequest(msg)) => msg,
        other => panic!("{sql}: expected BadRequest, got {other:?}"),
    }
}

#[tokio::test]
async fn sql_reads_the_given_tables() {
    let (f, sizes) = sql_fixture().await;
    let e = engine(&f.store);
    let tables = [f.table.clone(), sizes.clone()];
    let r = e
        .sql(
            &tables,
            "SELECT s.规模, count(*) AS n FROM companies c JOIN t_sizes_1 s \
             ON c.员工数 = s.员工数 GROUP BY s.规模 ORDER BY s.规模",
        )
        .await
        .unwrap();
    assert!(!r.truncated);
    let b = arrow_select_concat(&r.batches);
    assert_eq!(b.num_rows(), 2);
    let small = ids(&f.rows, |r| r.staff.is_some_and(|s| s < 10)).len() as i64;
    let medium = ids(&f.rows, |r| r.staff.is_some_and(|s| s >= 10)).len() as i64;
    assert_eq!(b.column(0).as_string::<i32>().value(0), "中");
    assert_eq!(b.column(1).as_primitive::<Int64Type>().value(0), medium);
    assert_eq!(b.column(1).as_primitive::<Int64Type>().value(1), small);
    assert_eq!(r.schema.field(1).name(), "n");

    // Quoted Chinese names, dates and decimals.
    let r = e
        .sql(
            &tables,
            "SELECT \"企业名称\", 成立日期, 注册资本 FROM companies \
             WHERE 成立日期 >= DATE '2005-03-01' AND 注册资本 > 100 ORDER BY _row LIMIT 3",
        )
        .await
        .unwrap();
    assert_eq!(r.schema.field(1).data_type(), &DataType::Date32);
    let b = arrow_select_concat(&r.batches);
    assert_eq!(b.num_rows(), 3);
    assert!(
        b.column(1)
            .as_primitive::<Date32Type>()
            .values()
            .iter()
            .all(|d| *d >= date(2005, 3, 1))
    );
}

fn arrow_select_concat(batches: &[RecordBatch]) -> RecordBatch {
    datafusion::arrow::compute::concat_batches(&batches[0].schema(), batches).unwrap()
}

#[tokio::test]
async fn sql_refuses_everything_but_select() {
    let (f, sizes) = sql_fixture().await;
    let e = engine(&f.store);
    let tables = [f.table.clone()];
    for sql in [
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
        "CREATE TABLE x AS SELECT 1",
        "CREATE VIEW v AS SELECT * FROM companies",
        "COPY companies TO '/tmp/gongshu-out.csv'",
        "COPY (SELECT 1) TO '/tmp/gongshu-out.parquet' STORED AS PARQUET",
        "INSERT INTO companies SELECT * FROM companies",
        "DELETE FROM companies",
        "UPDATE companies SET 员工数 = 1",
        "DROP TABLE companies",
        "SET datafusion.execution.batch_size = 1",
        "SET TIME ZONE 'UTC'",
        "EXPLAIN SELECT 1",
        "SHOW TABLES",
        "SELECT 1; SELECT 2",
        "SELECT 1;;SELECT 2",
        "",
        "SELECT * FROM read_parquet('/etc/passwd')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM 'file:///etc/passwd'",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM t_sizes_1",
        "SELECT * FROM datafusion.public.t_sizes_1",
        "SELECT * INTO y FROM companies",
        "SELECT * FROM companies WHERE",
    ] {
        sql_bad(&e, &tables, sql).await;
    }
    // The table refused above is readable when given.
    let r = e
        .sql(&[sizes], "SELECT count(*) FROM t_sizes_1")
        .await
        .unwrap();
    assert_eq!(
        r.batches[0].column(0).as_primitive::<Int64Type>().value(0),
        50
    );
    // One statement with a trailing semicolon is one statement.
    e.sql(&tables, "SELECT 1;").await.unwrap();
}

#[tokio::test]
async fn sql_limits() {
    let (f, _) = sql_fixture().await;
    let limits = QueryLimits {
        sql_max_rows: 1000,
        sql_memory_bytes: 4 * 1024 * 1024,
        sql_timeout: Duration::from_secs(5),
        ..QueryLimits::default()
    };
    let e = Engine::new(Arc::clone(&f.store), limits);
    let tables = [f.table.clone()];

    let r = e.sql(&tables, "SELECT * FROM companies").await.unwrap();
    assert!(r.truncated);
    assert_eq!(r.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1000);
    let r = e
        .sql(&tables, "SELECT * FROM companies LIMIT 1000")
        .await
        .unwrap();
    assert!(!r.truncated);

    // Nine million rows grouped by a distinct key each: far past the memory limit.
    let huge = "SELECT a._row * 10000 + b._row AS k, count(*) FROM companies a, companies b \
                GROUP BY k";
    match e.sql(&tables, huge).await {
        Err(QueryError::TooLarge | QueryError::Timeout) => {}
        other => panic!("expected a limit, got {other:?}"),
    }
    // The engine is still there.
    e.sql(&tables, "SELECT count(*) FROM companies")
        .await
        .unwrap();

    let slow = Engine::new(
        Arc::clone(&f.store),
        QueryLimits {
            sql_timeout: Duration::from_millis(200),
            ..QueryLimits::default()
        },
    );
    // Statistics cannot answer this one: every combination must be looked at.
    let endless = "SELECT count(*) FROM companies a, companies b, companies c \
                   WHERE a.员工数 + b.员工数 + c.员工数 = 7";
    match slow.sql(&tables, endless).await {
        Err(QueryError::Timeout | QueryError::TooLarge) => {}
        other => panic!("expected a limit, got {other:?}"),
    }
}

/// Caller SQL computes on threads of its own: a query that never yields must not hold
/// up the row API that shares the engine.
#[tokio::test]
async fn endless_sql_leaves_the_row_api_alone() {
    let (f, _) = sql_fixture().await;
    let e = Engine::new(
        Arc::clone(&f.store),
        QueryLimits {
            sql_timeout: Duration::from_secs(120),
            ..QueryLimits::default()
        },
    );
    let tables = [f.table.clone()];
    let endless = {
        let e = e.clone();
        tokio::spawn(async move {
            e.sql(
                &tables,
                "SELECT count(*) FROM companies a, companies b, companies c \
                 WHERE a.员工数 + b.员工数 + c.员工数 = 7",
            )
            .await
        })
    };
    tokio::task::yield_now().await;
    for _ in 0..5 {
        let page = rows(&e, &f.table, &[("_size", "10")]).await;
        assert_eq!(page.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 10);
    }
    assert!(
        !endless.is_finished(),
        "the endless query cannot have finished"
    );
    endless.abort();
}

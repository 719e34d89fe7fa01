//! Issue 9: the sandbox's guard and its disclosure control, over a small table of people
//! whose groups are known in advance: hostile queries are refused, and what is released
//! never singles anyone out.

use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use gongshu_core::disclosure::{ProfileName, Withheld};
use gongshu_data::query::{Engine, QueryError, QueryLimits, TableRef};
use gongshu_data::sandbox::{SandboxLimits, SandboxTable, prepare};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ArrowWriter;

/// District → (people, income of each but the first, income of the first).
const DISTRICTS: [(&str, i64, i64, i64); 4] = [
    ("历下区", 40, 5_000, 5_000),
    ("市中区", 27, 6_000, 6_000),
    // Too few people to release.
    ("槐荫区", 3, 4_000, 4_000),
    // One person earns almost all of the district's income.
    ("天桥区", 12, 100, 900_000),
];

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Engine,
    table: SandboxTable,
}

fn people() -> RecordBatch {
    let (mut row, mut id, mut name, mut district, mut serial, mut age, mut income) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut n = 0i64;
    for (d, people, each, first) in DISTRICTS {
        for k in 0..people {
            n += 1;
            row.push(n);
            id.push(format!("37010219900101{n:04}"));
            name.push(format!("居民{n}"));
            district.push(d.to_owned());
            serial.push(format!("NO{n:05}"));
            age.push(20 + (n * 7) % 50);
            income.push(if k == 0 { first } else { each });
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("_row", DataType::Int64, false),
        Field::new("身份证号", DataType::Utf8, false),
        Field::new("姓名", DataType::Utf8, false),
        Field::new("区县", DataType::Utf8, false),
        Field::new("编号", DataType::Utf8, false),
        Field::new("年龄", DataType::Int64, false),
        Field::new("收入", DataType::Int64, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(row)),
        Arc::new(StringArray::from(id)),
        Arc::new(StringArray::from(name)),
        Arc::new(StringArray::from(district)),
        Arc::new(StringArray::from(serial)),
        Arc::new(Int64Array::from(age)),
        Arc::new(Int64Array::from(income)),
    ];
    RecordBatch::try_new(schema, cols).unwrap()
}

async fn fixture(limits: QueryLimits) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let batch = people();
    let mut bytes = Vec::new();
    let mut w = ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let path = Path::from("resources/people/versions/0000000001/data.parquet");
    store.put(&path, Bytes::from(bytes).into()).await.unwrap();
    Fixture {
        _dir: dir,
        engine: Engine::new(store, limits),
        table: SandboxTable {
            table: TableRef {
                name: "ds_people".into(),
                path,
                rows: batch.num_rows() as u64,
            },
            identifying: vec!["身份证号".into(), "姓名".into()],
        },
    }
}

fn refused(f: &Fixture, sql: &str) -> String {
    match prepare(
        sql,
        std::slice::from_ref(&f.table),
        &SandboxLimits::default(),
    ) {
        Err(QueryError::BadRequest(m)) => m,
        Err(other) => panic!("{sql}: refused for the wrong reason: {other}"),
        Ok(p) => panic!("{sql}: accepted as {}", p.canonical),
    }
}

#[tokio::test]
async fn hostile_queries_are_refused_before_they_run() {
    let f = fixture(QueryLimits::default()).await;
    let deep = format!(
        "SELECT COUNT(*) FROM ds_people WHERE {}年龄 > 1{}",
        "(".repeat(300),
        ")".repeat(300)
    );
    let huge_in = format!(
        "SELECT COUNT(*) FROM ds_people WHERE 年龄 IN ({})",
        (0..1000)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let cases: &[(&str, &str)] = &[
        ("SELECT * FROM ds_people", "*"),
        ("SELECT 年龄 FROM ds_people", "aggregates only"),
        (
            "SELECT 姓名, COUNT(*) FROM ds_people GROUP BY 姓名",
            "identifies people",
        ),
        ("SELECT MAX(身份证号) FROM ds_people", "identifies people"),
        ("SELECT MIN(姓名) FROM ds_people", "identifies people"),
        (
            "SELECT COUNT(*) FROM ds_people WHERE 身份证号 = '370102199001010001'",
            "identifies people",
        ),
        (
            "SELECT SUM(CASE WHEN 编号 = 'NO00001' THEN 收入 END) FROM ds_people",
            "without conditions",
        ),
        (
            "SELECT SUM(收入) FILTER (WHERE 编号 = 'NO00001') FROM ds_people",
            "without conditions",
        ),
        (
            "SELECT 区县, SUM(收入) OVER (PARTITION BY 区县) FROM ds_people",
            "window",
        ),
        (
            "SELECT 区县, COUNT(*) FROM ds_people GROUP BY 区县 HAVING COUNT(*) < 5",
            "HAVING",
        ),
        ("SELECT COUNT(*) FROM (SELECT * FROM ds_people) s", "FROM"),
        (
            "SELECT COUNT(*) FROM ds_people WHERE 年龄 IN (SELECT 年龄 FROM ds_people)",
            "subqueries",
        ),
        (
            "WITH x AS (SELECT * FROM ds_people) SELECT COUNT(*) FROM x",
            "WITH",
        ),
        (
            "SELECT COUNT(*) FROM ds_people UNION SELECT COUNT(*) FROM ds_people",
            "UNION",
        ),
        (
            "SELECT COUNT(*) FROM ds_people a CROSS JOIN ds_people b",
            "cross join",
        ),
        ("SELECT COUNT(*) FROM ds_people a, ds_people b", "JOIN"),
        (
            "SELECT COUNT(*) FROM read_parquet('/etc/passwd')",
            "table syntax",
        ),
        (
            "SELECT COUNT(*) FROM 'https://example.com/x.parquet'",
            "no table",
        ),
        ("SELECT COUNT(*) FROM other_table", "no table"),
        ("SELECT _row, COUNT(*) FROM ds_people GROUP BY _row", "_row"),
        (
            "SELECT COUNT(*) FROM ds_people WHERE pg_sleep(10) IS NULL",
            "function",
        ),
        (
            "SELECT 区县, 年龄, 编号, 收入, COUNT(*) FROM ds_people GROUP BY 区县, 年龄, 编号, 收入",
            "at most 3",
        ),
        ("SELECT COUNT(*) FROM ds_people LIMIT 1 OFFSET 1", "LIMIT"),
        (
            "SELECT 区县, COUNT(*) FROM ds_people GROUP BY 区县 ORDER BY SUM(收入)",
            "ORDER BY",
        ),
        ("DROP TABLE ds_people", "SELECT"),
        ("INSERT INTO ds_people VALUES (1)", "SELECT"),
        ("SET datafusion.execution.batch_size = 1", "SELECT"),
        (
            "CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '/etc'",
            "SELECT",
        ),
        ("COPY ds_people TO '/tmp/x.csv'", "SELECT"),
        ("SELECT COUNT(*) FROM ds_people; SELECT 1", "one"),
        (&deep, ""),
        (&huge_in, "IN list"),
    ];
    for (sql, says) in cases {
        let m = refused(&f, sql);
        assert!(m.contains(says), "{sql}: {m}");
    }
}

#[tokio::test]
async fn only_groups_that_single_no_one_out_are_released() {
    let f = fixture(QueryLimits::default()).await;
    let tables = [f.table.table.clone()];
    let run = |sql: &'static str, profile: ProfileName| {
        let p = prepare(
            sql,
            std::slice::from_ref(&f.table),
            &SandboxLimits::default(),
        )
        .unwrap();
        let engine = f.engine.clone();
        let tables = tables.clone();
        async move {
            engine
                .sandbox(&tables, &p, &profile.profile(), None)
                .await
                .unwrap()
        }
    };
    let out = run(
        "SELECT 区县, COUNT(*) AS 人数, SUM(收入) AS 总收入 FROM ds_people GROUP BY 区县 ORDER BY 区县",
        ProfileName::Standard,
    )
    .await;
    let b = &out.result.batches[0];
    let districts: Vec<&str> = b.column(0).as_string::<i32>().iter().flatten().collect();
    // 槐荫区 has 3 people, 天桥区 one dominant income: both withheld; two gaps in the one
    // line protect each other, so nothing more is withheld.
    assert_eq!(districts, ["历下区", "市中区"]);
    let counts: Vec<i64> = b
        .column(1)
        .as_primitive::<Int64Type>()
        .iter()
        .flatten()
        .collect();
    assert_eq!(counts, [40, 25], "27 is released rounded to 25");
    let reasons: Vec<(&str, Withheld)> = out
        .withheld
        .iter()
        .map(|(k, w)| (k[0].as_str(), *w))
        .collect();
    assert!(
        reasons.contains(&("槐荫区", Withheld::SmallGroup)),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&("天桥区", Withheld::Dominated)),
        "{reasons:?}"
    );
    assert_eq!(out.group_sizes.len(), 4);

    // Without the dominant district the small one would stand alone in its line: the
    // smallest other group is withheld with it, so no total gives it away.
    let out = run(
        "SELECT 区县, COUNT(*) FROM ds_people WHERE 区县 <> '天桥区' GROUP BY 区县",
        ProfileName::Standard,
    )
    .await;
    let secondary: Vec<&str> = out
        .withheld
        .iter()
        .filter(|(_, w)| *w == Withheld::Secondary)
        .map(|(k, _)| k[0].as_str())
        .collect();
    assert_eq!(secondary, ["市中区"]);
    assert_eq!(out.result.batches[0].num_rows(), 1);

    // Row extraction by grouping on a unique (not identifying) column: every group is
    // one person, and nothing is released.
    let out = run(
        "SELECT 编号, COUNT(*) FROM ds_people GROUP BY 编号",
        ProfileName::Standard,
    )
    .await;
    assert_eq!(out.result.batches[0].num_rows(), 0);
    assert_eq!(out.withheld.len(), 82);

    // Identifying columns may be counted, and joined on.
    let out = run(
        "SELECT a.区县, COUNT(DISTINCT a.身份证号) AS 人数 FROM ds_people a \
         JOIN ds_people b ON a.身份证号 = b.身份证号 GROUP BY a.区县 ORDER BY 1",
        ProfileName::Strict,
    )
    .await;
    let b = &out.result.batches[0];
    let districts: Vec<&str> = b.column(0).as_string::<i32>().iter().flatten().collect();
    assert_eq!(districts, ["历下区", "市中区"]);
    assert!(
        out.withheld
            .iter()
            .any(|(k, w)| k[0] == "天桥区" && *w == Withheld::Secondary),
        "{:?}",
        out.withheld
    );
}

#[tokio::test]
async fn an_engine_error_does_not_quote_the_data() {
    let f = fixture(QueryLimits::default()).await;
    let p = prepare(
        "SELECT SUM(CAST(编号 AS INT)) FROM ds_people",
        std::slice::from_ref(&f.table),
        &SandboxLimits::default(),
    )
    .unwrap();
    let err = f
        .engine
        .sandbox(
            std::slice::from_ref(&f.table.table),
            &p,
            &ProfileName::Standard.profile(),
            None,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(!err.contains("NO0"), "{err}");
    assert!(err.contains("could not run"), "{err}");
}

#[tokio::test]
async fn differencing_queries_share_a_fingerprint() {
    let f = fixture(QueryLimits::default()).await;
    let t = std::slice::from_ref(&f.table);
    let l = SandboxLimits::default();
    let a = prepare("SELECT COUNT(*) FROM ds_people WHERE 年龄 > 30", t, &l).unwrap();
    let b = prepare(
        "SELECT COUNT(*) FROM ds_people WHERE 年龄 > 30 AND 编号 <> 'NO00007'",
        t,
        &l,
    )
    .unwrap();
    let c = prepare("SELECT SUM(收入) FROM ds_people WHERE 年龄 > 30", t, &l).unwrap();
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_ne!(a.filter, b.filter);
    assert_ne!(a.fingerprint, c.fingerprint);
}

#[tokio::test]
async fn a_runaway_join_is_stopped_and_the_engine_keeps_serving() {
    let f = fixture(QueryLimits {
        sql_timeout: Duration::from_secs(2),
        sql_memory_bytes: 16 * 1024 * 1024,
        ..QueryLimits::default()
    })
    .await;
    let tables = [f.table.table.clone()];
    let sql = "SELECT COUNT(*) FROM ds_people a JOIN ds_people b ON a.区县 = b.区县 \
               JOIN ds_people c ON b.区县 = c.区县 JOIN ds_people d ON c.区县 = d.区县 \
               JOIN ds_people e ON d.区县 = e.区县 JOIN ds_people g ON e.区县 = g.区县";
    let p = prepare(
        sql,
        std::slice::from_ref(&f.table),
        &SandboxLimits::default(),
    )
    .unwrap();
    let err = f
        .engine
        .sandbox(&tables, &p, &ProfileName::Standard.profile(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, QueryError::Timeout | QueryError::TooLarge),
        "{err}"
    );
    let p = prepare(
        "SELECT COUNT(*) FROM ds_people",
        std::slice::from_ref(&f.table),
        &SandboxLimits::default(),
    )
    .unwrap();
    let ok = f
        .engine
        .sandbox(&tables, &p, &ProfileName::Standard.profile(), None)
        .await
        .unwrap();
    assert_eq!(
        ok.result.batches[0]
            .column(0)
            .as_primitive::<Int64Type>()
            .value(0),
        80,
        "82 people, rounded to 5"
    );
}

/// Verification (核验) over the same people: yes/no answers, values matched with width,
/// case and spacing ignored, and nothing of the table in the answer.
#[tokio::test]
async fn verification_answers_yes_or_no_and_nothing_more() {
    use gongshu_data::verify::Verdict;
    let f = fixture(QueryLimits::default()).await;
    let keys = ["身份证号".to_owned(), "姓名".to_owned()];
    let probe = |id: &str, name: &str| vec![id.to_owned(), name.to_owned()];
    let probes = [
        // Full-width digits and stray spaces are the same values.
        probe("３７０１０２１９９００１０１０００１", " 居民 1 "),
        // A known person under another's name.
        probe("370102199001010001", "居民2"),
        // Nobody.
        probe("370102199001019999", "居民1"),
        // Hostile text is a value like any other.
        probe("' OR 1=1 --", "居民1"),
        probe("", ""),
    ];
    let verdicts = f
        .engine
        .verify(&f.table.table, &keys, &probes)
        .await
        .unwrap();
    let verdict = |matched, fields: [bool; 2]| Verdict {
        matched,
        fields: fields.to_vec(),
    };
    assert_eq!(
        verdicts,
        [
            verdict(true, [true, true]),
            verdict(false, [true, false]),
            verdict(false, [false, false]),
            verdict(false, [false, false]),
            verdict(false, [false, false]),
        ]
    );
    // One key alone: whether the identifier exists.
    let one = f
        .engine
        .verify(
            &f.table.table,
            &keys[..1],
            &[
                vec!["370102199001010082".into()],
                vec!["370102199001010083".into()],
            ],
        )
        .await
        .unwrap();
    assert_eq!(one, [verdict1(true), verdict1(false)]);
    // Records that do not fit the columns are refused.
    assert!(matches!(
        f.engine
            .verify(&f.table.table, &keys, &[vec!["x".into()]])
            .await,
        Err(QueryError::BadRequest(_))
    ));
    // A column that does not exist fails without saying more.
    let err = f
        .engine
        .verify(&f.table.table, &["不存在".to_owned()], &[vec!["x".into()]])
        .await
        .unwrap_err();
    assert!(matches!(err, QueryError::Engine(m) if m == "verification failed"));
}

fn verdict1(matched: bool) -> gongshu_data::verify::Verdict {
    gongshu_data::verify::Verdict {
        matched,
        fields: vec![matched],
    }
}

/// `gs_top2`, the dominance rule's aggregate: each group's two largest values summed,
/// nulls and values not above zero ignored, 0 for a group with none. The same whether
/// DataFusion aggregates per group and merges partial states across partitions (7
/// groups), passes rows on as states because partial aggregation does not pay (150,000
/// groups in 200,000 rows), or has no GROUP BY (the row-by-row accumulator).
#[tokio::test]
async fn top_two_sums_each_groups_two_largest_values() {
    const ROWS: i64 = 200_000;
    let (mut row, mut few, mut many, mut value) = (vec![], vec![], vec![], vec![]);
    for i in 0..ROWS {
        row.push(i + 1);
        few.push(i % 7);
        many.push(i % 150_000);
        // Values repeat (the largest of a group often twice), some negative, some null;
        // group 6 of `few` holds only nulls and negatives.
        let x = (i * 7_919 % 10_007) as f64 / 4.0 - 100.0;
        value.push(if i % 7 == 6 {
            (i % 2 == 0).then_some(-1.0)
        } else if i % 13 == 0 {
            None
        } else {
            Some(x)
        });
    }
    let expected = |keys: &[i64]| {
        let mut groups: std::collections::HashMap<i64, Vec<f64>> = Default::default();
        for (k, v) in keys.iter().zip(&value) {
            let values = groups.entry(*k).or_default();
            if let Some(v) = v.filter(|v| *v > 0.0) {
                values.push(v);
            }
        }
        groups
            .into_iter()
            .map(|(k, mut v)| {
                v.sort_by(|a, b| b.total_cmp(a));
                (k, v.first().unwrap_or(&0.0) + v.get(1).unwrap_or(&0.0))
            })
            .collect::<std::collections::HashMap<i64, f64>>()
    };

    let schema = Arc::new(Schema::new(vec![
        Field::new("_row", DataType::Int64, false),
        Field::new("few", DataType::Int64, false),
        Field::new("many", DataType::Int64, false),
        Field::new("v", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from(row)),
            Arc::new(Int64Array::from(few.clone())),
            Arc::new(Int64Array::from(many.clone())),
            Arc::new(arrow_array::Float64Array::from(value.clone())),
        ],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(10_000))
        .build();
    let mut bytes = Vec::new();
    let mut w = ArrowWriter::try_new(&mut bytes, schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let path = Path::from("resources/top/versions/0000000001/data.parquet");
    store.put(&path, Bytes::from(bytes).into()).await.unwrap();
    // Several partitions whatever the machine, and room for every group in the answer.
    let limits = QueryLimits {
        sql_threads: 4,
        sql_max_rows: 200_000,
        ..QueryLimits::default()
    };
    let engine = Engine::new(store, limits);
    let table = TableRef {
        name: "ds_top".into(),
        path,
        rows: ROWS as u64,
    };
    let answer = |sql: &'static str| {
        let engine = engine.clone();
        let table = table.clone();
        async move {
            let r = engine.sql(&[table], sql).await.unwrap();
            assert!(!r.truncated, "{sql}");
            let mut got = std::collections::HashMap::new();
            for b in &r.batches {
                let tops = b.column(b.num_columns() - 1);
                let tops = tops.as_primitive::<arrow_array::types::Float64Type>();
                for i in 0..b.num_rows() {
                    assert!(
                        arrow_array::Array::is_valid(tops, i),
                        "{sql}: a null result"
                    );
                    let key = if b.num_columns() == 2 {
                        b.column(0).as_primitive::<Int64Type>().value(i)
                    } else {
                        -1
                    };
                    got.insert(key, tops.value(i));
                }
            }
            got
        }
    };

    let few_groups = answer("SELECT few, gs_top2(v) FROM ds_top GROUP BY few").await;
    assert_eq!(few_groups, expected(&few));
    assert_eq!(few_groups[&6], 0.0, "only nulls and negatives");
    assert_eq!(few_groups.values().filter(|t| **t > 0.0).count(), 6);
    let many_groups = answer("SELECT many, gs_top2(v) FROM ds_top GROUP BY many").await;
    assert_eq!(many_groups.len(), 150_000);
    assert_eq!(many_groups, expected(&many));
    let all = answer("SELECT gs_top2(v) FROM ds_top").await;
    let one_group = vec![0; value.len()];
    assert_eq!(all[&-1], expected(&one_group)[&0]);
}

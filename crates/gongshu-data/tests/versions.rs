//! Versions in the object store: immutable, numbered, published atomically.

use bytes::Bytes;
use gongshu_data::{CsvOptions, Versions, read_csv};
use sha2::{Digest, Sha256};

fn table(rows: usize) -> gongshu_data::Table {
    let mut csv = String::from("编号,数量\n");
    for i in 0..rows {
        csv.push_str(&format!("N{i},{i}\n"));
    }
    read_csv(csv.as_bytes(), &CsvOptions::default()).unwrap()
}

#[tokio::test]
async fn concurrent_uploads_get_distinct_versions() {
    let dir = tempfile::tempdir().unwrap();
    let v = Versions::local(dir.path()).unwrap();
    let (a, b) = (table(1), table(2));
    let (ra, rb) = tokio::join!(
        v.publish("res-1", "a.csv", Bytes::from_static(b"a"), &a),
        v.publish("res-1", "b.csv", Bytes::from_static(b"b"), &b)
    );
    let mut versions = [ra.unwrap().version, rb.unwrap().version];
    versions.sort_unstable();
    assert_eq!(versions, [1, 2]);
    let current = v.current("res-1").await.unwrap().unwrap();
    assert!(versions.contains(&current.version));
    assert_eq!(v.current("res-2").await.unwrap(), None);
}

#[tokio::test]
async fn the_original_is_kept_as_uploaded() {
    let dir = tempfile::tempdir().unwrap();
    let v = Versions::local(dir.path()).unwrap();
    let gbk = encoding_rs::GBK.encode("编号,数量\nN1,1\n").0.into_owned();
    let t = read_csv(&gbk[..], &CsvOptions::default()).unwrap();
    let m = v
        .publish(
            "res-9",
            "../../../etc/企业名单.csv",
            Bytes::from(gbk.clone()),
            &t,
        )
        .await
        .unwrap();
    assert_eq!(
        m.original.name, "企业名单.csv",
        "no path travels with the name"
    );
    assert_eq!(m.original.sha256, hex::encode(Sha256::digest(&gbk)));
    assert_eq!(m.rows, 1);
    assert_eq!(m.columns[0].name, "编号");
    assert_eq!(&v.original("res-9", &m).await.unwrap()[..], &gbk[..]);
    // Nothing was written outside the store's directory.
    assert!(!dir.path().parent().unwrap().join("etc").exists());
    assert_eq!(v.read("res-9", 1).await.unwrap()[0].num_rows(), 1);
    assert!(v.read("res-9", 2).await.is_err());
}

#[tokio::test]
async fn keys_are_identifiers_not_paths() {
    let dir = tempfile::tempdir().unwrap();
    let v = Versions::local(dir.path()).unwrap();
    for key in ["", "../x", "a/b", "a b", &"k".repeat(200)] {
        assert!(
            v.publish(key, "a.csv", Bytes::new(), &table(1))
                .await
                .is_err(),
            "{key:?}"
        );
        assert!(v.current(key).await.is_err(), "{key:?}");
    }
}

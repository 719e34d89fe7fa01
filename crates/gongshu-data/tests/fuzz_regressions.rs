//! Replays, on stable and in every `cargo test`, the inputs the fuzzer keeps: the seeds
//! each target starts from and every input that once made one fail
//! (`fuzz/regressions/TARGET/`). Each must be read to a result or an error, without a
//! panic. The targets themselves are in `fuzz/fuzz_targets/`; `fuzz/run.sh` runs them.

use std::path::{Path, PathBuf};

use gongshu_data::encoding::{decode, detect};
use gongshu_data::query::{RowQuery, check_sql};
use gongshu_data::table::{CsvOptions, read_csv};
use gongshu_data::{XlsxLimits, read_json, read_xlsx};

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let fuzz = Path::new(&manifest_dir()).join("../../fuzz");
    let mut out = Vec::new();
    for kind in ["seeds", "regressions"] {
        let dir = fuzz.join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n != ".keep") {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path, bytes));
            }
        }
    }
    out
}

#[test]
fn every_kept_fuzz_input_is_read_without_a_panic() {
    let mut replayed = 0;
    for (path, data) in inputs("csv_table") {
        let encoding = detect(&data[..data.len().min(64 * 1024)]);
        let options = CsvOptions {
            max_line_bytes: 64 * 1024,
            ..CsvOptions::default()
        };
        let _ = read_csv(decode(&data[..], encoding), &options);
        replayed += usize::from(path.exists());
    }
    for (_, data) in inputs("json_table") {
        let _ = read_json(&data[..], &CsvOptions::default());
        replayed += 1;
    }
    for (_, data) in inputs("xlsx_table") {
        let _ = read_xlsx(
            std::io::Cursor::new(&data[..]),
            None,
            &CsvOptions::default(),
            &XlsxLimits::default(),
        );
        replayed += 1;
    }
    for (_, data) in inputs("row_filters") {
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(&data).into_owned().collect();
        let _ = RowQuery::from_pairs(&pairs);
        replayed += 1;
    }
    for (_, data) in inputs("sql_guard") {
        if let Ok(sql) = std::str::from_utf8(&data) {
            let _ = check_sql(sql);
        }
        replayed += 1;
    }
    // The seeds alone are a dozen; finding none means the paths are wrong.
    assert!(replayed >= 12, "only {replayed} inputs found");
}

#[test]
fn the_sql_gate_refuses_what_is_not_one_select() {
    assert!(check_sql("SELECT 1").is_ok());
    assert!(check_sql("SELECT 1; SELECT 2").is_err());
    assert!(check_sql("DROP TABLE x").is_err());
    assert!(check_sql("SET datafusion.execution.batch_size = 1").is_err());
    assert!(check_sql("").is_err());
}

/// The package's directory when the test runs. Cargo sets it for the run as well as for
/// the build; the build's value can name another checkout that shared the target
/// directory, since cargo does not rebuild a test for having moved.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .expect("run by cargo, which sets CARGO_MANIFEST_DIR")
        .into()
}

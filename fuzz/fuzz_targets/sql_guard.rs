//! Any text as a sandbox query: the gate that lets exactly one SELECT through.
#![no_main]

use gongshu_data::query::check_sql;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sql) = std::str::from_utf8(data) {
        let _ = check_sql(sql);
    }
});

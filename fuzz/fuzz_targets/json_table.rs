//! Any bytes as an uploaded JSON, NDJSON or GeoJSON table.
#![no_main]

use gongshu_data::read_json;
use gongshu_data::table::CsvOptions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read_json(data, &CsvOptions::default());
});

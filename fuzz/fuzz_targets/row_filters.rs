//! Any query string as the row API's filters, sort, columns, page size and cursor.
#![no_main]

use gongshu_data::query::RowQuery;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(data).into_owned().collect();
    let _ = RowQuery::from_pairs(&pairs);
});

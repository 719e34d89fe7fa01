//! Any bytes as an uploaded spreadsheet (a zip): the zip-bomb guard and calamine.
#![no_main]

use gongshu_data::{XlsxLimits, read_xlsx};
use gongshu_data::table::CsvOptions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read_xlsx(
        std::io::Cursor::new(data),
        None,
        &CsvOptions::default(),
        &XlsxLimits::default(),
    );
});

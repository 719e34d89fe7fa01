//! Any bytes as an uploaded text table: encoding detection, decoding, title rows,
//! inference. An error is fine; a panic, a hang or unbounded memory is not.
#![no_main]

use gongshu_data::encoding::{decode, detect};
use gongshu_data::table::{CsvOptions, read_csv};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let encoding = detect(&data[..data.len().min(64 * 1024)]);
    let options = CsvOptions {
        max_line_bytes: 64 * 1024,
        ..CsvOptions::default()
    };
    let _ = read_csv(decode(data, encoding), &options);
});

//! JSON tables: arrays of objects, NDJSON and GeoJSON, with the same types as CSV.

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_schema::DataType;
use gongshu_data::{CsvOptions, DataError, Source, read_json};

fn read(text: &str) -> Result<gongshu_data::Table, DataError> {
    read_json(text.as_bytes(), &CsvOptions::default())
}

#[test]
fn array_of_objects_keeps_key_order_and_types() {
    let t = read(
        r#"[{"名称":"甲","邮编":"255000","人数":12,"日期":"2024-03-05","有效":true},
                     {"名称":"乙","邮编":"255100","人数":null,"日期":"2024/3/6","有效":false}]"#,
    )
    .unwrap();
    let names: Vec<&str> = t
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, ["名称", "邮编", "人数", "日期", "有效"]);
    let types: Vec<DataType> = t
        .schema
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    assert_eq!(
        types,
        [
            DataType::Utf8,
            DataType::Utf8,
            DataType::Int64,
            DataType::Date32,
            DataType::Boolean
        ]
    );
    assert_eq!(t.rows, 2);
    assert!(t.batches[0].column(2).is_null(1));
    assert_eq!(t.source, Source::Json { geojson: false });
}

#[test]
fn ndjson_reports_records_that_do_not_fit() {
    let text = "{\"id\":\"A\",\"n\":1}\n{\"id\":\"B\",\"n\":2,\"extra\":3}\n[1,2]\n{\"id\":\"C\",\"n\":\"x\"}\n{\"id\":\"D\",\"n\":4}\n";
    let t = read_json(
        text.as_bytes(),
        &CsvOptions {
            infer_rows: 1,
            ..CsvOptions::default()
        },
    )
    .unwrap();
    assert_eq!(t.rows, 2);
    assert_eq!(
        t.batches[0].column(1).as_primitive::<Int64Type>().values(),
        &[1, 4]
    );
    let lines: Vec<u64> = t.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [2, 3, 4]);
    assert!(
        t.rejected[0].reason.contains("extra"),
        "{}",
        t.rejected[0].reason
    );
    assert!(t.rejected[1].reason.contains("not a JSON object"));
}

#[test]
fn geojson_features_become_rows_with_their_geometry() {
    let t = read(r#"{"type":"FeatureCollection","features":[
        {"type":"Feature","properties":{"站点":"淄博市监测站","AQI":52},"geometry":{"type":"Point","coordinates":[118.05,36.81]}},
        {"type":"Feature","properties":{"站点":"张店区监测站","AQI":61},"geometry":{"type":"Point","coordinates":[118.02,36.80]}}]}"#)
    .unwrap();
    assert_eq!(t.source, Source::Json { geojson: true });
    let names: Vec<&str> = t
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, ["站点", "AQI", "geometry"]);
    let geometry = t.batches[0].column(2).as_string::<i32>().value(0);
    assert!(geometry.contains("\"Point\""), "{geometry}");
}

#[test]
fn broken_json_is_a_clear_error() {
    assert!(matches!(read(""), Err(DataError::Empty)));
    assert!(matches!(read("   \n "), Err(DataError::Empty)));
    assert!(
        read("[{\"a\":1},")
            .unwrap_err()
            .to_string()
            .contains("JSON")
    );
    assert!(
        read("hello")
            .unwrap_err()
            .to_string()
            .contains("must start with")
    );
    assert!(matches!(read("[]"), Err(DataError::Empty)));
    let with_bom = "\u{feff}[{\"a\":1}]";
    assert_eq!(read(with_bom).unwrap().rows, 1);
}

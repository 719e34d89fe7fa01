//! JSON tables: an array of objects, NDJSON (one object per line), or a GeoJSON
//! FeatureCollection (its features' properties, plus the geometry as GeoJSON text).

use std::io::{BufRead, BufReader, Read};

use serde_json::{Map, Value};

use crate::DataError;
use crate::table::{CsvOptions, Line, Rejected, Sink, Source, Summary, Table, build};

fn invalid(msg: String) -> DataError {
    DataError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, msg))
}

/// A value as the text a person reads in it; nested values stay JSON.
fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// A record as an object of named values, or why it cannot be one.
type Record = Result<Map<String, Value>, String>;

/// One object per record; GeoJSON features become their properties plus `geometry`.
fn flatten(value: Value, geojson: bool) -> Record {
    let Value::Object(mut obj) = value else {
        return Err("不是JSON对象 (not a JSON object)".into());
    };
    if !geojson {
        return Ok(obj);
    }
    let geometry = obj.remove("geometry").unwrap_or(Value::Null);
    let mut props = match obj.remove("properties") {
        Some(Value::Object(p)) => p,
        _ => Map::new(),
    };
    props.insert("geometry".into(), geometry);
    Ok(props)
}

/// Reads JSON records into a table. The columns are the keys of the first objects, in
/// their order; an object with a key not among them is reported, not silently cut.
pub fn read_json<'r, R: Read + 'r>(reader: R, options: &CsvOptions) -> Result<Table, DataError> {
    Table::collect(|sink| read_json_into(reader, options, sink))
}

/// Reads JSON records batch by batch into `sink`.
pub fn read_json_into<'r, R: Read + 'r>(
    reader: R,
    options: &CsvOptions,
    sink: &mut dyn Sink,
) -> Result<Summary, DataError> {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let first = loop {
        let buf = reader.fill_buf()?;
        let Some(&b) = buf.first() else {
            return Err(DataError::Empty);
        };
        if b.is_ascii_whitespace() || buf.starts_with(b"\xEF\xBB\xBF") {
            let skip = if b.is_ascii_whitespace() { 1 } else { 3 };
            reader.consume(skip);
            continue;
        }
        break b;
    };
    type Records<'a> = Box<dyn Iterator<Item = Result<(u64, Value), DataError>> + 'a>;
    let numbered = |all: Vec<Value>| -> Records<'r> {
        Box::new(
            all.into_iter()
                .enumerate()
                .map(|(i, v)| Ok((i as u64 + 1, v))),
        )
    };
    let (records, geojson): (Records<'r>, bool) = match first {
        b'[' => {
            let all: Vec<Value> =
                serde_json::from_reader(reader).map_err(|e| invalid(format!("JSON: {e}")))?;
            (numbered(all), false)
        }
        b'{' => {
            // NDJSON, or one object that is a GeoJSON FeatureCollection.
            let mut stream = serde_json::Deserializer::from_reader(reader).into_iter::<Value>();
            let mut head = match stream.next() {
                Some(Ok(v)) => v,
                Some(Err(e)) => return Err(invalid(format!("JSON: {e}"))),
                None => return Err(DataError::Empty),
            };
            if head.get("type").and_then(Value::as_str) == Some("FeatureCollection") {
                match head.get_mut("features").map(Value::take) {
                    Some(Value::Array(features)) => (numbered(features), true),
                    _ => return Err(invalid("GeoJSON FeatureCollection without features".into())),
                }
            } else {
                let rest = stream.enumerate().map(|(i, v)| {
                    v.map(|v| (i as u64 + 2, v))
                        .map_err(|e| invalid(format!("NDJSON record {}: {e}", i + 2)))
                });
                (Box::new(std::iter::once(Ok((1, head))).chain(rest)), false)
            }
        }
        other => {
            return Err(invalid(format!(
                "JSON must start with [ or {{, not {:?}",
                other as char
            )));
        }
    };

    // The keys come from the first records; the rest are checked against them.
    let mut records = records.peekable();
    let mut keys: Vec<String> = Vec::new();
    let mut head: Vec<(u64, Record)> = Vec::new();
    while head.len() < options.infer_rows {
        let Some(next) = records.next() else { break };
        let (n, v) = next?;
        let obj = flatten(v, geojson);
        if let Ok(o) = &obj {
            for k in o.keys() {
                if !keys.contains(k) {
                    if keys.len() >= options.max_columns {
                        return Err(DataError::TooManyColumns {
                            found: keys.len() + 1,
                            max: options.max_columns,
                        });
                    }
                    keys.push(k.clone());
                }
            }
        }
        head.push((n, obj));
    }
    if keys.is_empty() {
        return Err(DataError::Empty);
    }
    let header: csv::StringRecord = keys.iter().collect();
    let to_line = move |n: u64, obj: Record, keys: &[String]| -> Line {
        let mut obj = match obj {
            Ok(o) => o,
            Err(reason) => return Line::Rejected(Rejected { line: n, reason }),
        };
        let fields: csv::StringRecord = keys
            .iter()
            .map(|k| obj.remove(k).map(|v| text(&v)).unwrap_or_default())
            .collect();
        match obj.keys().next() {
            Some(extra) => Line::Rejected(Rejected {
                line: n,
                reason: format!("未知字段“{extra}” (key {extra} is not among the columns)"),
            }),
            None => Line::Row((n, fields)),
        }
    };
    let head_keys = keys.clone();
    let rows = std::iter::once(Ok(Line::Row((0, header))))
        .chain(
            head.into_iter()
                .map(move |(n, o)| Ok(to_line(n, o, &head_keys))),
        )
        .chain(records.map(move |next| next.map(|(n, v)| to_line(n, flatten(v, geojson), &keys))));
    build(rows, Source::Json { geojson }, options, sink)
}

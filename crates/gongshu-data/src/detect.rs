//! Personal-information detection over a whole table (issue 5, "Detection"): the first
//! rows of every column are a sample that proposes a kind (`gongshu_core::pii`), and the
//! rest of the table then confirms it — every later value of a proposed column is
//! checked too, so the share reported is the whole column's, not the sample's. One pass,
//! so detection costs one read of the Parquet the ingest has just written.

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use futures::{Stream, StreamExt};
use gongshu_core::pii::{ColumnProposal, PiiKind, propose_column, recognise_value};
use serde::Serialize;

use crate::versions::{Manifest, VersionError, Versions};

/// Rows of each column read before proposing: enough for a share threshold to be
/// meaningful, few enough that the proposal does not wait for the whole table.
pub const SAMPLE_ROWS: usize = 2_000;

/// Longer cells are free text; the value recognisers never match them whole.
const MAX_CELL: usize = 128;

/// What one column holds, as far as detection can tell.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnFinding {
    pub column: String,
    pub proposal: Option<ColumnProposal>,
    /// Over the whole column (non-blank values): the share that passed the proposed
    /// kind's recogniser. `None` for kinds told by their header alone.
    pub confirmed_share: Option<f64>,
    /// Non-blank values checked over the whole column, sample included.
    pub values_checked: u64,
}

/// The kinds whose values a recogniser can check one by one; the others (names,
/// addresses …, and coordinates, which need their header to read a lone number) rest on
/// the sample's proposal.
fn checkable(kind: PiiKind) -> bool {
    !kind.is_header_only() && kind != PiiKind::Coordinates
}

fn matches(kind: PiiKind, value: &str) -> bool {
    let phone = |k: PiiKind| matches!(k, PiiKind::Mobile | PiiKind::Landline);
    match recognise_value(value) {
        Some(found) => found == kind || (phone(found) && phone(kind)),
        None => false,
    }
}

struct ColumnState {
    name: String,
    sample: Vec<String>,
    proposal: Option<ColumnProposal>,
    checked: u64,
    matched: u64,
}

/// Reads the table's batches once and reports every column.
pub async fn scan<S>(mut batches: S) -> Result<Vec<ColumnFinding>, VersionError>
where
    S: Stream<Item = Result<RecordBatch, VersionError>> + Unpin,
{
    let mut columns: Vec<ColumnState> = Vec::new();
    let mut rows_seen = 0usize;
    let mut proposed = false;
    while let Some(batch) = batches.next().await {
        let batch = batch?;
        if columns.is_empty() {
            columns = batch
                .schema()
                .fields()
                .iter()
                .map(|f| ColumnState {
                    name: f.name().clone(),
                    sample: Vec::new(),
                    proposal: None,
                    checked: 0,
                    matched: 0,
                })
                .collect();
        }
        for (state, array) in columns.iter_mut().zip(batch.columns()) {
            let take_sample = !proposed && state.sample.len() < SAMPLE_ROWS;
            let check = state
                .proposal
                .map(|p| p.kind)
                .filter(|k| proposed && checkable(*k));
            // After the sample, only proposed columns a recogniser can check are read:
            // the rest of the table costs nothing.
            if !take_sample && check.is_none() {
                continue;
            }
            let mut visit = |text: &str| {
                if text.trim().is_empty() || text.len() > MAX_CELL {
                    return;
                }
                if take_sample {
                    if state.sample.len() < SAMPLE_ROWS {
                        state.sample.push(text.to_owned());
                    }
                } else if let Some(kind) = check {
                    state.checked += 1;
                    state.matched += u64::from(matches(kind, text));
                }
            };
            for_each_text(array.as_ref(), &mut visit);
        }
        rows_seen += batch.num_rows();
        if !proposed && rows_seen >= SAMPLE_ROWS {
            propose_all(&mut columns);
            proposed = true;
        }
    }
    if !proposed {
        propose_all(&mut columns);
    }
    Ok(columns
        .into_iter()
        .map(|c| {
            let confirmed_share = c
                .proposal
                .as_ref()
                .filter(|p| checkable(p.kind))
                .and_then(|_| (c.checked > 0).then(|| c.matched as f64 / c.checked as f64));
            ColumnFinding {
                column: c.name,
                proposal: c.proposal,
                confirmed_share,
                values_checked: c.checked,
            }
        })
        .collect())
}

/// Every non-null value of a column as text: text columns in place, others through
/// their display form. A type with no text form (nested lists, binary) holds nothing a
/// recogniser reads.
fn for_each_text(array: &dyn Array, visit: &mut dyn FnMut(&str)) {
    if let Some(strings) = array.as_string_opt::<i32>() {
        strings.iter().flatten().for_each(visit);
    } else if let Some(strings) = array.as_string_opt::<i64>() {
        strings.iter().flatten().for_each(visit);
    } else if let Some(strings) = array.as_string_view_opt() {
        strings.iter().flatten().for_each(visit);
    } else if let Ok(formatter) =
        ArrayFormatter::try_new(array, &FormatOptions::default().with_null(""))
    {
        for row in (0..array.len()).filter(|r| !array.is_null(*r)) {
            visit(&formatter.value(row).to_string());
        }
    }
}

/// Scans a stored table version: the first rows of every column propose, then only the
/// proposed columns a recogniser can check are read again, whole, to confirm the share
/// — so a wide table costs little more than its personal columns.
pub async fn scan_table(
    versions: &Versions,
    key: &str,
    manifest: &Manifest,
) -> Result<Vec<ColumnFinding>, VersionError> {
    let mut first = versions.stream_table(key, manifest, SAMPLE_ROWS).await?;
    let sample: Vec<_> = first.next().await.into_iter().collect();
    drop(first);
    let mut findings = scan(futures::stream::iter(sample)).await?;
    let checked: Vec<(usize, PiiKind)> = findings
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.proposal.map(|p| (i, p.kind)))
        .filter(|(_, kind)| checkable(*kind))
        .collect();
    if checked.is_empty() || manifest.rows <= SAMPLE_ROWS as u64 {
        return Ok(findings);
    }
    let names: Vec<String> = checked
        .iter()
        .map(|(i, _)| findings[*i].column.clone())
        .collect();
    let mut whole = versions
        .stream_columns(key, manifest, &names, 65_536)
        .await?;
    let mut counts = vec![(0u64, 0u64); checked.len()];
    while let Some(batch) = whole.next().await {
        let batch = batch?;
        for (j, (_, kind)) in checked.iter().enumerate() {
            let (seen, hit) = &mut counts[j];
            for_each_text(batch.column(j).as_ref(), &mut |text: &str| {
                if !text.trim().is_empty() && text.len() <= MAX_CELL {
                    *seen += 1;
                    *hit += u64::from(matches(*kind, text));
                }
            });
        }
    }
    for ((i, _), (seen, hit)) in checked.iter().zip(counts) {
        findings[*i].values_checked = seen;
        findings[*i].confirmed_share = (seen > 0).then(|| hit as f64 / seen as f64);
    }
    Ok(findings)
}

/// Proposes each column from its sample, and counts the sample into the whole-column
/// check so that later rows add to it.
fn propose_all(columns: &mut [ColumnState]) {
    for c in columns {
        c.proposal = propose_column(&c.name, c.sample.iter().map(String::as_str));
        if let Some(kind) = c
            .proposal
            .as_ref()
            .map(|p| p.kind)
            .filter(|k| checkable(*k))
        {
            for v in &c.sample {
                c.checked += 1;
                c.matched += u64::from(matches(kind, v));
            }
        }
        c.sample = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Float64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;

    fn batch(ids: Vec<Option<&str>>, amounts: Vec<f64>, names: Vec<&str>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("证件号码", DataType::Utf8, true),
            Field::new("金额", DataType::Float64, false),
            Field::new("姓名", DataType::Utf8, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(ids)),
                Arc::new(Float64Array::from(amounts)),
                Arc::new(StringArray::from(names)),
            ],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn the_sample_proposes_and_the_rest_of_the_table_confirms() {
        // Valid GB 11643 numbers (check digits computed, not guessed).
        let good = ["11010519491231002X", "440524188001010014"];
        let first = batch(
            (0..SAMPLE_ROWS).map(|i| Some(good[i % 2])).collect(),
            (0..SAMPLE_ROWS).map(|i| i as f64 * 1.2345).collect(),
            (0..SAMPLE_ROWS).map(|_| "张三").collect(),
        );
        // After the sample: half the IDs carry a wrong check digit, one is blank.
        let rest = batch(
            vec![
                Some("110105194912310021"),
                Some(good[0]),
                None,
                Some("440524188001010015"),
            ],
            vec![1.0, 2.0, 3.0, 4.0],
            vec!["李四", "王五", "赵六", "钱七"],
        );
        let found = scan(futures::stream::iter(vec![Ok(first), Ok(rest)]))
            .await
            .unwrap();
        assert_eq!(found.len(), 3);
        let id = &found[0];
        assert_eq!(
            id.proposal.as_ref().map(|p| p.kind),
            Some(PiiKind::ResidentId)
        );
        assert_eq!(id.values_checked, SAMPLE_ROWS as u64 + 3);
        let share = id.confirmed_share.unwrap();
        let expected = (SAMPLE_ROWS as f64 + 1.0) / (SAMPLE_ROWS as f64 + 3.0);
        assert!((share - expected).abs() < 1e-9, "{share}");
        assert!(found[1].proposal.is_none(), "amounts are not personal data");
        assert_eq!(
            found[2].proposal.as_ref().map(|p| p.kind),
            Some(PiiKind::Name)
        );
        assert_eq!(found[2].confirmed_share, None, "names rest on the header");
    }

    #[tokio::test]
    async fn a_stored_table_is_confirmed_over_the_whole_column_only_where_needed() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("t.csv");
        let mut text = String::from("证件号码,金额,姓名\n");
        for i in 0..3000 {
            // The last 600 carry a wrong check digit: past the sample, only the full
            // pass can see them.
            let id = if i < 2400 {
                "11010519491231002X"
            } else {
                "110105194912310021"
            };
            text.push_str(&format!("{id},{i}.25,张三\n"));
        }
        std::fs::write(&csv, text).unwrap();
        let prepared = crate::prepare(
            &csv,
            "t.csv",
            &crate::IngestOptions::default(),
            dir.path(),
            &mut |_, _| {},
        )
        .unwrap();
        let versions = Versions::local(&dir.path().join("store")).unwrap();
        let manifest = versions
            .stage("res", &csv, "t.csv", &prepared, "test", 0, false)
            .await
            .unwrap();
        let found = scan_table(&versions, "res", &manifest).await.unwrap();
        assert_eq!(found[0].proposal.map(|p| p.kind), Some(PiiKind::ResidentId));
        assert_eq!(found[0].values_checked, 3000);
        assert!((found[0].confirmed_share.unwrap() - 0.8).abs() < 1e-9);
        assert!(found[1].proposal.is_none());
        assert_eq!(found[2].proposal.map(|p| p.kind), Some(PiiKind::Name));
        assert_eq!(
            found[2].values_checked, 0,
            "names are not read past the sample"
        );
    }

    #[tokio::test]
    async fn a_short_table_is_proposed_from_what_there_is() {
        let t = batch(
            vec![Some("13800138000"), Some("13912345678")],
            vec![1.0, 2.0],
            vec!["a", "b"],
        );
        let found = scan(futures::stream::iter(vec![Ok(t)])).await.unwrap();
        assert_eq!(
            found[0].proposal.as_ref().map(|p| p.kind),
            Some(PiiKind::Mobile)
        );
        assert_eq!(found[0].confirmed_share, Some(1.0));
    }
}

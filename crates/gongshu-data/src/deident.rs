//! De-identification of Arrow tables by a `gongshu_core::deident::RuleSet`, and the
//! k-anonymity / l-diversity report over quasi-identifiers (GB/T 37964-2019).
//!
//! Nothing here decides which columns need a rule or who may read the result: columns
//! the rules do not name pass through unchanged. What is guaranteed is the other half:
//! a value under a rule never comes out raw. A value a rule cannot transform (a date
//! that does not parse, a code that is not a region, text under FPE) becomes null, and
//! a column whose type a rule does not fit is an error, not a pass-through. Errors never
//! carry cell values.
//!
//! # Output schema
//!
//! The output schema depends only on the input schema and the rules
//! ([`Deidentifier::output_schema`]), so a writer can be opened before the first batch:
//!
//! | rule | input types | output type |
//! |---|---|---|
//! | keep, or no rule | any | unchanged (field and its metadata as they are) |
//! | drop | any | the column is removed |
//! | suppress | any | same type, every value null |
//! | mask, pseudonym | text, integers, floats, decimals, dates, timestamps, times, booleans | text |
//! | fpe | text, integers | text |
//! | generalise month / year | text, Date32, Date64, Timestamp | text `YYYY-MM` / `YYYY` |
//! | generalise age_band | text, integers, floats, decimals | text `30-39`, `90+` |
//! | generalise region_city / region_province | text, integers | text `370100` / `370000` |
//! | generalise grid | floats; Decimal128; integers; text | Float64; the same Decimal128; unchanged; text |
//! | generalise ip_network | text | text `192.0.2.0/24` |
//!
//! "Text" is LargeUtf8 for a LargeUtf8 input and Utf8 otherwise. Every transformed field
//! is nullable and carries no metadata: the raw column's metadata describes the raw data.
//! The schema-level metadata is not carried over either.

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use aes::Aes256;
use arrow_array::builder::{Decimal128Builder, Float64Builder, GenericStringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::temporal_conversions::{as_datetime, as_datetime_with_timezone};
use arrow_array::timezone::Tz;
use arrow_array::types::{
    ArrowTimestampType, Date32Type, Date64Type, Decimal128Type, Float64Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow_array::{
    Array, ArrayRef, GenericStringArray, OffsetSizeTrait, RecordBatch, StringViewArray,
    new_null_array,
};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{Datelike, NaiveDate};
use datafusion::arrow::row::{RowConverter, SortField};
use fpe::ff1::{FF1, FlexibleNumeralString};
use gongshu_core::FieldError;
use gongshu_core::deident::{Generalisation, PseudonymAlgorithm, Rule, RuleSet};
use gongshu_core::region::{RegionCode, RegionLevel};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use sm3::Sm3;

use crate::infer::parse_date;
use crate::table::ROW_COLUMN;

/// Length of a pseudonym in hex characters (64 bits of the MAC). Brute force is stopped
/// by the key, not by the length; the length only has to make collisions negligible:
/// among a hundred million distinct values (a province's population) two share a code
/// with probability about 3 in 10,000, and sixteen characters keep the open table small
/// and the codes readable.
pub const PSEUDONYM_HEX_LEN: usize = 16;

/// FF1 over digits needs at least six (NIST SP 800-38G Rev. 1: the domain must have at
/// least a million values); a shorter value cannot be encrypted safely and comes out null.
pub const FPE_MIN_DIGITS: usize = 6;
/// Codes longer than this are not the identifiers FPE is for, and FF1's big-number
/// arithmetic grows with the square of the length.
pub const FPE_MAX_DIGITS: usize = 64;

/// Ages at or above this are not ages (placeholders such as 999) and come out null.
const MAX_AGE: f64 = 150.0;

/// The keys of one dataset. Each dataset has its own, so a person's pseudonym links
/// their records within the dataset and not across datasets. Where the keys are kept
/// and how they rotate is the caller's business; this type only refuses to print them.
#[derive(Clone)]
pub struct Secrets {
    pseudonym_key: [u8; 32],
    fpe_key: [u8; 32],
}

impl Secrets {
    /// `pseudonym_key` keys the HMAC of pseudonyms; `fpe_key` is the AES-256 key of FF1.
    /// They should be independent random keys: FPE is reversible, pseudonyms are not,
    /// and sharing a key would tie the two.
    pub fn new(pseudonym_key: [u8; 32], fpe_key: [u8; 32]) -> Self {
        Self {
            pseudonym_key,
            fpe_key,
        }
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secrets { pseudonym_key: <redacted>, fpe_key: <redacted> }")
    }
}

/// Why a table could not be de-identified or measured. No variant carries a cell value.
#[derive(Debug, thiserror::Error)]
pub enum DeidentError {
    #[error("the rules do not fit the table: {}", describe(.0))]
    Rules(Vec<FieldError>),
    #[error("column {column}: rule {rule} does not apply to {data_type}")]
    Unsupported {
        column: String,
        rule: &'static str,
        data_type: DataType,
    },
    #[error("no column named {0}")]
    UnknownColumn(String),
    #[error("the batch does not have the schema the rules were prepared for")]
    SchemaMismatch,
    #[error("no quasi-identifiers given")]
    NoQuasiIdentifiers,
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
}

fn describe(problems: &[FieldError]) -> String {
    problems
        .iter()
        .map(|p| format!("{}: {}", p.field, p.message_en))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The keyed primitives, set up once per table rather than once per value.
struct Crypto {
    sha256: Hmac<Sha256>,
    sm3: Hmac<Sm3>,
    ff1: FF1<Aes256>,
}

impl fmt::Debug for Crypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Crypto { <keyed> }")
    }
}

impl Crypto {
    fn new(secrets: &Secrets) -> Result<Self, DeidentError> {
        // HMAC takes keys of any length and FF1<Aes256> gets exactly 32 bytes, so these
        // cannot fail; they are still mapped rather than unwrapped.
        let bad_key = |_| DeidentError::Arrow(ArrowError::InvalidArgumentError("key".into()));
        Ok(Self {
            sha256: Hmac::<Sha256>::new_from_slice(&secrets.pseudonym_key).map_err(bad_key)?,
            sm3: Hmac::<Sm3>::new_from_slice(&secrets.pseudonym_key).map_err(bad_key)?,
            ff1: FF1::<Aes256>::new(&secrets.fpe_key, 10).map_err(|_| {
                DeidentError::Arrow(ArrowError::InvalidArgumentError("radix".into()))
            })?,
        })
    }

    fn pseudonym(&self, algorithm: PseudonymAlgorithm, value: &str, out: &mut String) -> bool {
        let value = value.trim();
        // A blank is missing, not a person: a code for it would look like one.
        if value.is_empty() {
            return false;
        }
        // The keyed state is cloned, not rebuilt: the key is hashed once per table.
        match algorithm {
            PseudonymAlgorithm::HmacSha256 => {
                let mut mac = self.sha256.clone();
                mac.update(value.as_bytes());
                hex_prefix(&mac.finalize().into_bytes(), out);
            }
            PseudonymAlgorithm::HmacSm3 => {
                let mut mac = self.sm3.clone();
                mac.update(value.as_bytes());
                hex_prefix(&mac.finalize().into_bytes(), out);
            }
        }
        true
    }

    /// FF1 over the digits of `value`, separators (space, hyphen) left where they are.
    fn fpe(&self, value: &str, out: &mut String, decrypt: bool) -> bool {
        let value = value.trim();
        let mut digits = Vec::with_capacity(value.len());
        for c in value.chars() {
            match c {
                '0'..='9' => digits.push(c as u16 - '0' as u16),
                ' ' | '-' => {}
                // Anything else would have to be kept in clear or dropped; either way
                // the code would not be the reversible image of the value.
                _ => return false,
            }
        }
        if !(FPE_MIN_DIGITS..=FPE_MAX_DIGITS).contains(&digits.len()) {
            return false;
        }
        let ns = FlexibleNumeralString::from(digits);
        let done = if decrypt {
            self.ff1.decrypt(&[], &ns)
        } else {
            self.ff1.encrypt(&[], &ns)
        };
        let Ok(done) = done else { return false };
        let done: Vec<u16> = done.into();
        let mut next = done.into_iter();
        for c in value.chars() {
            if c.is_ascii_digit() {
                match next.next().and_then(|d| char::from_digit(u32::from(d), 10)) {
                    Some(d) => out.push(d),
                    None => return false,
                }
            } else {
                out.push(c);
            }
        }
        true
    }
}

fn hex_prefix(digest: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in digest.iter().take(PSEUDONYM_HEX_LEN / 2) {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0x0f)] as char);
    }
}

/// Reverses format-preserving encryption with the dataset's key: the provider's way back
/// from a published code to its record. `None` for a value that is not such a code.
pub fn fpe_decrypt(code: &str, secrets: &Secrets) -> Option<String> {
    let crypto = Crypto::new(secrets).ok()?;
    let mut out = String::new();
    crypto.fpe(code, &mut out, true).then_some(out)
}

/// Where an output column of a `Deidentifier` comes from: an input column as it is, or
/// an input column through its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputSource {
    Keep(usize),
    Transform(usize),
}

#[derive(Debug)]
enum Step {
    Keep(usize),
    Transform {
        index: usize,
        rule: Rule,
        output: DataType,
    },
}

/// A rule set prepared for one table schema: checked once, keyed once, then applied to
/// every batch of the table. Building the open version of a ten-million-row table is
/// one `Deidentifier` and a thousand `apply` calls.
#[derive(Debug)]
pub struct Deidentifier {
    input: SchemaRef,
    output: SchemaRef,
    steps: Vec<Step>,
    crypto: Crypto,
}

impl Deidentifier {
    /// Checks `rules` against `schema` (every problem of `RuleSet::problems`, and every
    /// rule whose column type it does not fit) and prepares the keys.
    pub fn new(schema: &Schema, rules: &RuleSet, secrets: &Secrets) -> Result<Self, DeidentError> {
        // The platform's row number is not a data item of the provider's: a rule naming
        // it is refused as naming an unknown column (dropping it would break paging).
        let names: Vec<&str> = schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .filter(|n| *n != ROW_COLUMN)
            .collect();
        let problems = rules.problems(&names);
        if !problems.is_empty() {
            return Err(DeidentError::Rules(problems));
        }
        let mut steps = Vec::new();
        let mut fields = Vec::new();
        for (index, field) in schema.fields().iter().enumerate() {
            match rules.rule_for(field.name()) {
                None | Some(Rule::Keep) => {
                    steps.push(Step::Keep(index));
                    fields.push(field.clone());
                }
                Some(Rule::Drop) => {}
                Some(rule) => {
                    let output = output_type(rule, field.data_type()).ok_or_else(|| {
                        DeidentError::Unsupported {
                            column: field.name().clone(),
                            rule: rule.as_str(),
                            data_type: field.data_type().clone(),
                        }
                    })?;
                    fields.push(Arc::new(Field::new(field.name(), output.clone(), true)));
                    steps.push(Step::Transform {
                        index,
                        rule: rule.clone(),
                        output,
                    });
                }
            }
        }
        Ok(Self {
            input: Arc::new(schema.clone()),
            output: Arc::new(Schema::new(fields)),
            steps,
            crypto: Crypto::new(secrets)?,
        })
    }

    /// The schema of every batch `apply` returns.
    pub fn output_schema(&self) -> SchemaRef {
        self.output.clone()
    }

    /// Where each output column comes from, in output order.
    pub fn sources(&self) -> Vec<OutputSource> {
        self.steps
            .iter()
            .map(|s| match s {
                Step::Keep(i) => OutputSource::Keep(*i),
                Step::Transform { index, .. } => OutputSource::Transform(*index),
            })
            .collect()
    }

    /// The same rules over only the transformed input columns `columns` (in the order
    /// given), for a reader that decodes nothing else: its `apply` takes batches of
    /// those columns and returns their transformed values.
    pub fn narrowed(self, columns: &[usize]) -> Result<Self, DeidentError> {
        let mut steps = Vec::with_capacity(columns.len());
        let mut inputs = Vec::with_capacity(columns.len());
        let mut outputs = Vec::with_capacity(columns.len());
        for (position, &column) in columns.iter().enumerate() {
            let found = self.steps.iter().find_map(|s| match s {
                Step::Transform {
                    index,
                    rule,
                    output,
                } if *index == column => Some((rule.clone(), output.clone())),
                _ => None,
            });
            let (rule, output) = found.ok_or_else(|| {
                DeidentError::UnknownColumn(
                    self.input
                        .fields()
                        .get(column)
                        .map_or_else(|| column.to_string(), |f| f.name().clone()),
                )
            })?;
            let field = self.input.field(column);
            inputs.push(Arc::new(field.clone()));
            outputs.push(Arc::new(Field::new(field.name(), output.clone(), true)));
            steps.push(Step::Transform {
                index: position,
                rule,
                output,
            });
        }
        Ok(Self {
            input: Arc::new(Schema::new(inputs)),
            output: Arc::new(Schema::new(outputs)),
            steps,
            crypto: self.crypto,
        })
    }

    /// De-identifies one batch, which must have the schema this was prepared for (names
    /// and types; metadata may differ).
    pub fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch, DeidentError> {
        let schema = batch.schema();
        let same = schema.fields().len() == self.input.fields().len()
            && schema
                .fields()
                .iter()
                .zip(self.input.fields())
                .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
        if !same {
            return Err(DeidentError::SchemaMismatch);
        }
        let mut columns = Vec::with_capacity(self.steps.len());
        for step in &self.steps {
            columns.push(match step {
                Step::Keep(i) => batch.column(*i).clone(),
                Step::Transform {
                    index,
                    rule,
                    output,
                } => self.transform(batch.column(*index), rule, output)?,
            });
        }
        let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        Ok(RecordBatch::try_new_with_options(
            self.output.clone(),
            columns,
            &options,
        )?)
    }

    /// De-identifies a stream of batches lazily, one result per batch; an error in one
    /// batch does not end the iterator, the caller decides whether it should.
    pub fn apply_all<'a, I>(
        &'a self,
        batches: I,
    ) -> impl Iterator<Item = Result<RecordBatch, DeidentError>> + 'a
    where
        I: IntoIterator<Item = RecordBatch>,
        I::IntoIter: 'a,
    {
        batches.into_iter().map(move |b| self.apply(&b))
    }

    fn transform(
        &self,
        array: &ArrayRef,
        rule: &Rule,
        output: &DataType,
    ) -> Result<ArrayRef, DeidentError> {
        let large = matches!(output, DataType::LargeUtf8);
        let text = |f: &mut dyn FnMut(&str, &mut String) -> bool| map_text(array, large, f);
        match *rule {
            Rule::Keep | Rule::Drop => Ok(array.clone()),
            Rule::Suppress => Ok(new_null_array(array.data_type(), array.len())),
            Rule::Mask {
                keep_first,
                keep_last,
            } => text(&mut |s, out| {
                mask(s, keep_first as usize, keep_last as usize, out);
                true
            }),
            Rule::Pseudonym { algorithm } => {
                text(&mut |s, out| self.crypto.pseudonym(algorithm, s, out))
            }
            Rule::Fpe => text(&mut |s, out| self.crypto.fpe(s, out, false)),
            Rule::Generalise { to } => match to {
                Generalisation::Month | Generalisation::Year => {
                    let month = to == Generalisation::Month;
                    map_dates(array, large, month)
                }
                Generalisation::AgeBand { width, top } => map_ages(array, large, width, top),
                Generalisation::RegionCity => text(&mut |s, out| region(s, RegionLevel::City, out)),
                Generalisation::RegionProvince => {
                    text(&mut |s, out| region(s, RegionLevel::Province, out))
                }
                Generalisation::Grid { decimals } => grid(array, large, decimals),
                Generalisation::IpNetwork {
                    v4_prefix,
                    v6_prefix,
                } => text(&mut |s, out| ip_network(s, v4_prefix, v6_prefix, out)),
            },
        }
    }
}

/// De-identifies one batch by `rules`. For many batches of one table, prepare a
/// [`Deidentifier`] once instead.
pub fn apply(
    batch: &RecordBatch,
    rules: &RuleSet,
    secrets: &Secrets,
) -> Result<RecordBatch, DeidentError> {
    Deidentifier::new(&batch.schema(), rules, secrets)?.apply(batch)
}

fn text_out(input: &DataType) -> DataType {
    match input {
        DataType::LargeUtf8 => DataType::LargeUtf8,
        _ => DataType::Utf8,
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn is_integer(t: &DataType) -> bool {
    t.is_integer()
}

fn is_number(t: &DataType) -> bool {
    t.is_integer()
        || t.is_floating()
        || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..))
}

fn is_temporal(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
    )
}

/// The type a rule turns `input` into; `None` where the rule does not fit the type.
fn output_type(rule: &Rule, input: &DataType) -> Option<DataType> {
    let text = Some(text_out(input));
    match rule {
        Rule::Keep | Rule::Suppress => Some(input.clone()),
        Rule::Drop => None,
        Rule::Mask { .. } | Rule::Pseudonym { .. } => {
            let scalar = is_text(input)
                || is_number(input)
                || is_temporal(input)
                || matches!(
                    input,
                    DataType::Boolean | DataType::Time32(_) | DataType::Time64(_)
                );
            if scalar { text } else { None }
        }
        Rule::Fpe => (is_text(input) || is_integer(input)).then_some(text_out(input)),
        Rule::Generalise { to } => match to {
            Generalisation::Month | Generalisation::Year => {
                (is_text(input) || is_temporal(input)).then_some(text_out(input))
            }
            Generalisation::AgeBand { .. } => {
                (is_text(input) || is_number(input)).then_some(text_out(input))
            }
            Generalisation::RegionCity | Generalisation::RegionProvince => {
                (is_text(input) || is_integer(input)).then_some(text_out(input))
            }
            Generalisation::Grid { .. } => match input {
                t if is_text(t) => text,
                t if t.is_floating() => Some(DataType::Float64),
                t if t.is_integer() => Some(t.clone()),
                DataType::Decimal128(..) => Some(input.clone()),
                _ => None,
            },
            Generalisation::IpNetwork { .. } => is_text(input).then_some(text_out(input)),
        },
    }
}

/// Where the text of each value comes from: the strings themselves, or Arrow's display
/// of any other scalar (integers without grouping, dates as ISO 8601).
enum TextSource<'a> {
    Utf8(&'a GenericStringArray<i32>),
    Large(&'a GenericStringArray<i64>),
    View(&'a StringViewArray),
    Display(ArrayFormatter<'a>),
}

impl<'a> TextSource<'a> {
    fn new(array: &'a dyn Array) -> Result<Self, ArrowError> {
        Ok(match array.data_type() {
            DataType::Utf8 => Self::Utf8(array.as_string::<i32>()),
            DataType::LargeUtf8 => Self::Large(array.as_string::<i64>()),
            DataType::Utf8View => Self::View(array.as_string_view()),
            _ => Self::Display(ArrayFormatter::try_new(array, &FormatOptions::default())?),
        })
    }

    /// The text of a non-null value, or `None` when Arrow cannot display it.
    fn get<'s>(&'s self, i: usize, scratch: &'s mut String) -> Option<&'s str> {
        match self {
            Self::Utf8(a) => Some(a.value(i)),
            Self::Large(a) => Some(a.value(i)),
            Self::View(a) => Some(a.value(i)),
            Self::Display(f) => {
                scratch.clear();
                // `write` reports a value Arrow cannot show as an error instead of writing
                // the error text (which can quote the value) into the cell.
                f.value(i).write(scratch).ok()?;
                Some(scratch.as_str())
            }
        }
    }
}

fn map_text(
    array: &ArrayRef,
    large: bool,
    f: &mut dyn FnMut(&str, &mut String) -> bool,
) -> Result<ArrayRef, DeidentError> {
    if large {
        map_text_into::<i64>(array, f)
    } else {
        map_text_into::<i32>(array, f)
    }
}

fn map_text_into<O: OffsetSizeTrait>(
    array: &ArrayRef,
    f: &mut dyn FnMut(&str, &mut String) -> bool,
) -> Result<ArrayRef, DeidentError> {
    let source = TextSource::new(array.as_ref())?;
    let mut builder = GenericStringBuilder::<O>::with_capacity(array.len(), array.len() * 16);
    let mut scratch = String::new();
    let mut out = String::new();
    for i in 0..array.len() {
        if array.is_null(i) {
            builder.append_null();
            continue;
        }
        out.clear();
        match source.get(i, &mut scratch) {
            Some(s) if f(s, &mut out) => builder.append_value(&out),
            _ => builder.append_null(),
        }
    }
    Ok(Arc::new(builder.finish()))
}

fn map_strings<O: OffsetSizeTrait>(
    len: usize,
    mut value: impl FnMut(usize, &mut String) -> bool,
) -> ArrayRef {
    let mut builder = GenericStringBuilder::<O>::with_capacity(len, len * 8);
    let mut out = String::new();
    for i in 0..len {
        out.clear();
        if value(i, &mut out) {
            builder.append_value(&out);
        } else {
            builder.append_null();
        }
    }
    Arc::new(builder.finish())
}

fn strings(len: usize, large: bool, value: impl FnMut(usize, &mut String) -> bool) -> ArrayRef {
    if large {
        map_strings::<i64>(len, value)
    } else {
        map_strings::<i32>(len, value)
    }
}

/// Every character but the first `keep_first` and last `keep_last` becomes `*`; a value
/// no longer than what is kept is masked whole, so a mask never passes a value through.
fn mask(value: &str, keep_first: usize, keep_last: usize, out: &mut String) {
    let value = value.trim();
    let n = value.chars().count();
    if n <= keep_first.saturating_add(keep_last) {
        out.extend(std::iter::repeat_n('*', n));
        return;
    }
    for (i, c) in value.chars().enumerate() {
        out.push(if i < keep_first || i >= n - keep_last {
            c
        } else {
            '*'
        });
    }
}

/// A year and, when given, a month read from text: a full date in any form the
/// importer reads (2024-03-05, 2024年3月5日, 20240305, with or without a time after
/// it), or a year and month (2024-03, 2024年3月), or a year alone (2024, 2024年).
fn parse_year_month(s: &str) -> Option<(i32, Option<u32>)> {
    let s = s.trim();
    let head = s.split([' ', 'T']).next().unwrap_or(s);
    if let Some(d) = parse_date(head, true) {
        return Some((d.year(), Some(d.month())));
    }
    let normalized: String = head
        .trim_end_matches(['月', '年'])
        .chars()
        .map(|c| {
            if matches!(c, '年' | '/' | '.') {
                '-'
            } else {
                c
            }
        })
        .collect();
    let mut parts = normalized.split('-');
    let year = parts.next()?;
    let month = parts.next();
    if parts.next().is_some() || year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = year.parse().ok()?;
    match month {
        None => Some((year, None)),
        Some(m) if (1..=2).contains(&m.len()) && m.bytes().all(|b| b.is_ascii_digit()) => {
            let m: u32 = m.parse().ok()?;
            (1..=12).contains(&m).then_some((year, Some(m)))
        }
        Some(_) => None,
    }
}

fn write_year_month(year: i32, month: Option<u32>, want_month: bool, out: &mut String) -> bool {
    if !(0..=9999).contains(&year) {
        return false;
    }
    match (want_month, month) {
        (true, Some(m)) => write!(out, "{year:04}-{m:02}").is_ok(),
        (true, None) => false,
        (false, _) => write!(out, "{year:04}").is_ok(),
    }
}

fn map_dates(array: &ArrayRef, large: bool, month: bool) -> Result<ArrayRef, DeidentError> {
    let len = array.len();
    let write_date = |d: Option<NaiveDate>, out: &mut String| match d {
        Some(d) => write_year_month(d.year(), Some(d.month()), month, out),
        None => false,
    };
    Ok(match array.data_type() {
        DataType::Date32 => {
            let a = array.as_primitive::<Date32Type>();
            strings(len, large, |i, out| {
                a.is_valid(i) && write_date(a.value_as_date(i), out)
            })
        }
        DataType::Date64 => {
            let a = array.as_primitive::<Date64Type>();
            strings(len, large, |i, out| {
                a.is_valid(i) && write_date(a.value_as_date(i), out)
            })
        }
        DataType::Timestamp(unit, tz) => {
            // A zoned timestamp falls in the month of its own zone, not of UTC.
            let tz = match tz {
                Some(tz) => Some(Tz::from_str(tz.as_ref())?),
                None => None,
            };
            match unit {
                TimeUnit::Second => timestamps::<TimestampSecondType>(array, large, month, tz),
                TimeUnit::Millisecond => {
                    timestamps::<TimestampMillisecondType>(array, large, month, tz)
                }
                TimeUnit::Microsecond => {
                    timestamps::<TimestampMicrosecondType>(array, large, month, tz)
                }
                TimeUnit::Nanosecond => {
                    timestamps::<TimestampNanosecondType>(array, large, month, tz)
                }
            }
        }
        _ => {
            return map_text(array, large, &mut |s, out| match parse_year_month(s) {
                Some((y, m)) => write_year_month(y, m, month, out),
                None => false,
            });
        }
    })
}

fn timestamps<T: ArrowTimestampType>(
    array: &ArrayRef,
    large: bool,
    month: bool,
    tz: Option<Tz>,
) -> ArrayRef {
    let a = array.as_primitive::<T>();
    strings(a.len(), large, |i, out| {
        if a.is_null(i) {
            return false;
        }
        let v = a.value(i);
        let date = match tz {
            Some(tz) => as_datetime_with_timezone::<T>(v, tz).map(|d| d.date_naive()),
            None => as_datetime::<T>(v).map(|d| d.date()),
        };
        match date {
            Some(d) => write_year_month(d.year(), Some(d.month()), month, out),
            None => false,
        }
    })
}

fn age_band(age: f64, width: u32, top: Option<u32>, out: &mut String) -> bool {
    if !age.is_finite() || !(0.0..MAX_AGE).contains(&age) {
        return false;
    }
    // In range, so the cast neither saturates nor wraps.
    let age = age.floor() as u32;
    if let Some(top) = top
        && age >= top
    {
        return write!(out, "{top}+").is_ok();
    }
    let width = width.max(1);
    let low = age / width * width;
    let mut high = low + width - 1;
    if let Some(top) = top {
        high = high.min(top.saturating_sub(1));
    }
    write!(out, "{low}-{high}").is_ok()
}

fn parse_age(s: &str) -> Option<f64> {
    let s = s.trim();
    let s = s
        .strip_suffix("周岁")
        .or_else(|| s.strip_suffix('岁'))
        .unwrap_or(s)
        .trim();
    // Only plain decimals: Rust's parser also takes "inf", "NaN" and "1e2".
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    s.parse().ok()
}

fn map_ages(
    array: &ArrayRef,
    large: bool,
    width: u32,
    top: Option<u32>,
) -> Result<ArrayRef, DeidentError> {
    if is_text(array.data_type()) {
        return map_text(array, large, &mut |s, out| match parse_age(s) {
            Some(age) => age_band(age, width, top, out),
            None => false,
        });
    }
    // Numbers to Float64 cannot fail on a value (a huge decimal becomes a huge float,
    // which is then not an age).
    let floats = arrow_cast::cast(array, &DataType::Float64)?;
    let a = floats.as_primitive::<Float64Type>();
    Ok(strings(a.len(), large, |i, out| {
        a.is_valid(i) && age_band(a.value(i), width, top, out)
    }))
}

/// A GB/T 2260 code (or a longer statistical code that starts with one: 9-digit
/// township, 12-digit village) to the code of its city or province.
fn region(s: &str, to: RegionLevel, out: &mut String) -> bool {
    let s = s.trim();
    if !matches!(s.len(), 6 | 9 | 12) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Some(code) = RegionCode::parse(&s[..6]) else {
        return false;
    };
    let province = &code.as_str()[..2];
    match (to, code.level()) {
        (RegionLevel::Province, _) => {
            out.push_str(province);
            out.push_str("0000");
        }
        (_, RegionLevel::County) => match code.parent() {
            Some(city) => out.push_str(city.as_str()),
            None => return false,
        },
        // A city is already a city; a province cannot be made more precise.
        (_, RegionLevel::City | RegionLevel::Province) => out.push_str(code.as_str()),
    }
    true
}

/// Rounds a decimal written in text down (toward negative infinity) to `decimals`
/// places, exactly: the digits are cut, never converted through a float, so 0.29 stays
/// 0.29 and does not become 0.28. The result always shows `decimals` places.
fn floor_decimal(s: &str, decimals: usize, out: &mut String) -> bool {
    let s = s.trim();
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return false;
    }
    let kept_frac = &frac[..frac.len().min(decimals)];
    let dropped_nonzero = frac.len() > decimals && frac[decimals..].bytes().any(|b| b != b'0');
    // The magnitude's digits at the kept precision, as one digit string.
    let mut digits: Vec<u8> = int.bytes().chain(kept_frac.bytes()).collect();
    digits.extend(std::iter::repeat_n(b'0', decimals - kept_frac.len()));
    if negative && dropped_nonzero {
        // Rounding a negative number down makes its magnitude one unit larger.
        let mut carry = true;
        for d in digits.iter_mut().rev() {
            if !carry {
                break;
            }
            if *d == b'9' {
                *d = b'0';
            } else {
                *d += 1;
                carry = false;
            }
        }
        if carry {
            digits.insert(0, b'1');
        }
    }
    let int_len = digits.len() - decimals;
    let (int_digits, frac_digits) = digits.split_at(int_len);
    let int_digits = match int_digits.iter().position(|&d| d != b'0') {
        Some(p) => &int_digits[p..],
        None => &b"0"[..],
    };
    let zero = int_digits == b"0" && frac_digits.iter().all(|&d| d == b'0');
    if negative && !zero {
        out.push('-');
    }
    out.extend(int_digits.iter().map(|&d| d as char));
    if decimals > 0 {
        out.push('.');
        out.extend(frac_digits.iter().map(|&d| d as char));
    }
    true
}

/// One coordinate, or a pair written in one cell ("117.1234,36.6512").
fn grid_text(s: &str, decimals: usize, out: &mut String) -> bool {
    let s = s.trim();
    let sep = [',', '，', ';', ' '].into_iter().find(|c| s.contains(*c));
    match sep {
        None => floor_decimal(s, decimals, out),
        Some(sep) => {
            let mut parts = s.split(sep).map(str::trim).filter(|p| !p.is_empty());
            let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
                return false;
            };
            if !floor_decimal(a, decimals, out) {
                return false;
            }
            out.push(if sep == '，' { ',' } else { sep });
            floor_decimal(b, decimals, out)
        }
    }
}

fn grid(array: &ArrayRef, large: bool, decimals: u32) -> Result<ArrayRef, DeidentError> {
    let places = decimals as usize;
    let t = array.data_type();
    if is_text(t) {
        return map_text(array, large, &mut |s, out| grid_text(s, places, out));
    }
    if t.is_integer() {
        // Whole numbers already lie on every grid of zero or more decimals.
        return Ok(array.clone());
    }
    if let DataType::Decimal128(precision, scale) = *t {
        let a = array.as_primitive::<Decimal128Type>();
        let mut b = Decimal128Builder::with_capacity(a.len());
        let drop = i32::from(scale) - decimals.min(i8::MAX as u32) as i32;
        let factor = (drop > 0)
            .then(|| 10i128.checked_pow(drop as u32))
            .flatten();
        let limit = 10i128.checked_pow(u32::from(precision));
        for i in 0..a.len() {
            if a.is_null(i) {
                b.append_null();
                continue;
            }
            let v = a.value(i);
            let floored = match (drop > 0, factor) {
                (false, _) => Some(v),
                (true, Some(f)) => v.div_euclid(f).checked_mul(f),
                // More places dropped than an i128 has: only zero survives.
                (true, None) => (v >= 0).then_some(0),
            };
            match floored {
                Some(x) if limit.is_none_or(|l| x.abs() < l) => b.append_value(x),
                _ => b.append_null(),
            }
        }
        return Ok(Arc::new(
            b.finish().with_precision_and_scale(precision, scale)?,
        ));
    }
    // Floats: through the shortest decimal that reads back as the same float, so the
    // cut is on the digits people see (117.13 stays 117.13, not 117.12999…).
    let floats = arrow_cast::cast(array, &DataType::Float64)?;
    let a = floats.as_primitive::<Float64Type>();
    let mut b = Float64Builder::with_capacity(a.len());
    let mut text = String::new();
    let mut floored = String::new();
    for i in 0..a.len() {
        let v = a.value(i);
        if a.is_null(i) || !v.is_finite() {
            b.append_null();
            continue;
        }
        text.clear();
        floored.clear();
        let _ = write!(text, "{v}");
        match floor_decimal(&text, places, &mut floored)
            .then(|| floored.parse::<f64>().ok())
            .flatten()
        {
            Some(x) => b.append_value(x),
            None => b.append_null(),
        }
    }
    Ok(Arc::new(b.finish()))
}

fn ip_network(s: &str, v4_prefix: u8, v6_prefix: u8, out: &mut String) -> bool {
    let s = s.trim();
    let ip = match IpAddr::from_str(s) {
        Ok(ip) => ip,
        Err(_) => match SocketAddr::from_str(s) {
            Ok(sa) => sa.ip(),
            Err(_) => return false,
        },
    };
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(a) => {
            let p = u32::from(v4_prefix.min(32));
            let mask = u32::MAX.checked_shl(32 - p).unwrap_or(0);
            write!(out, "{}/{p}", Ipv4Addr::from(u32::from(a) & mask)).is_ok()
        }
        IpAddr::V6(a) => {
            let p = u32::from(v6_prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - p).unwrap_or(0);
            write!(out, "{}/{p}", Ipv6Addr::from(u128::from(a) & mask)).is_ok()
        }
    }
}

/// Equivalence classes of a table over its quasi-identifiers, and what they say about
/// the risk of re-identification (the K-anonymity model of GB/T 37964-2019, K-匿名,
/// with l-diversity). Null is a value like any other: a suppressed cell matches every other
/// suppressed cell of its column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KReport {
    pub quasi_identifiers: Vec<String>,
    /// The threshold the report was asked about.
    pub k: usize,
    pub records: u64,
    /// Number of distinct combinations of the quasi-identifiers.
    pub classes: u64,
    /// Size of the smallest class; 0 for an empty table.
    pub smallest_class: u64,
    /// Records in classes smaller than `k`, and their share of all records.
    pub records_below_k: u64,
    pub share_below_k: f64,
    /// The prosecutor's risk for the most exposed record: 1 / smallest class; 0 for an
    /// empty table.
    pub max_risk: f64,
    /// Class sizes 1, 2, 3-4, 5-9, 10+.
    pub histogram: Vec<SizeBucket>,
    pub sensitive: Option<String>,
    /// The l of l-diversity: fewest distinct sensitive values in a class (when a
    /// sensitive column was given and the table has records).
    pub l_diversity: Option<u64>,
}

impl KReport {
    /// Whether every record is in a class of at least `k`.
    pub fn is_k_anonymous(&self) -> bool {
        self.records_below_k == 0
    }
}

/// Classes whose size is in `min..=max` (`max` none: no upper bound).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeBucket {
    pub min: u64,
    pub max: Option<u64>,
    pub classes: u64,
    pub records: u64,
}

impl SizeBucket {
    /// "1", "3-4", "10+".
    pub fn label(&self) -> String {
        match self.max {
            Some(max) if max == self.min => self.min.to_string(),
            Some(max) => format!("{}-{max}", self.min),
            None => format!("{}+", self.min),
        }
    }
}

const BUCKETS: [(u64, Option<u64>); 5] = [
    (1, Some(1)),
    (2, Some(2)),
    (3, Some(4)),
    (5, Some(9)),
    (10, None),
];

#[derive(Default)]
struct Class {
    size: u64,
    sensitive: HashSet<Box<[u8]>>,
}

/// Measures `batches` over `quasi_identifiers` against `k`; with `sensitive`, also the
/// l-diversity of that column. Memory grows with the number of classes (and, with a
/// sensitive column, with its distinct values per class), not with the record count
/// beyond that.
pub fn k_anonymity(
    batches: &[RecordBatch],
    quasi_identifiers: &[&str],
    k: usize,
    sensitive: Option<&str>,
) -> Result<KReport, DeidentError> {
    if quasi_identifiers.is_empty() {
        return Err(DeidentError::NoQuasiIdentifiers);
    }
    let column = |b: &RecordBatch, name: &str| {
        b.column_by_name(name)
            .cloned()
            .ok_or_else(|| DeidentError::UnknownColumn(name.to_owned()))
    };
    let mut classes: HashMap<Box<[u8]>, Class> = HashMap::new();
    let mut converters: Option<(RowConverter, Option<RowConverter>)> = None;
    let mut records = 0u64;
    for b in batches {
        let qi = quasi_identifiers
            .iter()
            .map(|n| column(b, n))
            .collect::<Result<Vec<_>, _>>()?;
        let s = sensitive.map(|n| column(b, n)).transpose()?;
        if converters.is_none() {
            let fields = qi
                .iter()
                .map(|c| SortField::new(c.data_type().clone()))
                .collect();
            let s_conv = match &s {
                Some(c) => Some(RowConverter::new(vec![SortField::new(
                    c.data_type().clone(),
                )])?),
                None => None,
            };
            converters = Some((RowConverter::new(fields)?, s_conv));
        }
        let Some((conv, s_conv)) = &converters else {
            continue;
        };
        let keys = conv.convert_columns(&qi)?;
        let values = match (s_conv, s) {
            (Some(sc), Some(s)) => Some(sc.convert_columns(&[s])?),
            _ => None,
        };
        for i in 0..b.num_rows() {
            let count = |class: &mut Class| {
                class.size += 1;
                if let Some(values) = &values {
                    let v = values.row(i);
                    if !class.sensitive.contains(v.as_ref()) {
                        class.sensitive.insert(v.as_ref().into());
                    }
                }
            };
            let key = keys.row(i);
            // Looked up by slice first, so a known class costs no allocation.
            if let Some(class) = classes.get_mut(key.as_ref()) {
                count(class);
            } else {
                let mut class = Class::default();
                count(&mut class);
                classes.insert(key.as_ref().into(), class);
            }
        }
        records += b.num_rows() as u64;
    }

    let mut histogram: Vec<SizeBucket> = BUCKETS
        .iter()
        .map(|&(min, max)| SizeBucket {
            min,
            max,
            classes: 0,
            records: 0,
        })
        .collect();
    let mut smallest = u64::MAX;
    let mut below = 0u64;
    let mut l = u64::MAX;
    for c in classes.values() {
        smallest = smallest.min(c.size);
        if c.size < k as u64 {
            below += c.size;
        }
        l = l.min(c.sensitive.len() as u64);
        if let Some(bucket) = histogram
            .iter_mut()
            .find(|b| c.size >= b.min && b.max.is_none_or(|m| c.size <= m))
        {
            bucket.classes += 1;
            bucket.records += c.size;
        }
    }
    let empty = classes.is_empty();
    Ok(KReport {
        quasi_identifiers: quasi_identifiers.iter().map(|s| (*s).to_owned()).collect(),
        k,
        records,
        classes: classes.len() as u64,
        smallest_class: if empty { 0 } else { smallest },
        records_below_k: below,
        share_below_k: if records == 0 {
            0.0
        } else {
            below as f64 / records as f64
        },
        max_risk: if empty { 0.0 } else { 1.0 / smallest as f64 },
        histogram,
        sensitive: sensitive.map(str::to_owned),
        l_diversity: (sensitive.is_some() && !empty).then_some(l),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{
        Date32Array, Decimal128Array, Float64Array, Int64Array, StringArray, TimestampSecondArray,
    };
    use gongshu_core::deident::ColumnRule;

    fn secrets(seed: u8) -> Secrets {
        Secrets::new([seed; 32], [seed.wrapping_add(100); 32])
    }

    fn rules(list: &[(&str, Rule)]) -> RuleSet {
        RuleSet {
            quasi_identifiers: Vec::new(),
            columns: list
                .iter()
                .map(|(c, r)| ColumnRule {
                    column: (*c).to_owned(),
                    rule: r.clone(),
                })
                .collect(),
        }
    }

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).unwrap()
    }

    fn text(values: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(values.to_vec()))
    }

    /// Every cell of a batch as text, nulls as "∅".
    fn cells(b: &RecordBatch, column: &str) -> Vec<String> {
        let a = b.column_by_name(column).unwrap();
        let f = ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default()).unwrap();
        (0..a.len())
            .map(|i| {
                if a.is_null(i) {
                    "∅".to_owned()
                } else {
                    f.value(i).to_string()
                }
            })
            .collect()
    }

    fn rendered(b: &RecordBatch) -> String {
        b.schema()
            .fields()
            .iter()
            .flat_map(|f| cells(b, f.name()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn generalise(to: Generalisation) -> Rule {
        Rule::Generalise { to }
    }

    fn one(rule: Rule, values: ArrayRef) -> Vec<String> {
        let b = batch(vec![("c", values)]);
        let out = apply(&b, &rules(&[("c", rule)]), &secrets(1)).unwrap();
        cells(&out, "c")
    }

    /// R6.4 at the level of one batch: planted canaries under every rule but keep come
    /// out nowhere in the result, while the kept column is untouched.
    #[test]
    fn no_raw_value_survives_a_rule() {
        let ids = [
            "110105199001010022",
            "37010219850612341X",
            "440301200102291234",
        ];
        let phones = ["13812345678", "15900001111", "18688889999"];
        let names = ["欧阳锋", "张三丰", "李寻欢"];
        let births = ["1990-01-01", "1985年6月12日", "20010229"];
        let addresses = [
            "济南市历下区泉城路1号",
            "青岛市市南区香港中路9号",
            "烟台市芝罘区",
        ];
        let counties = ["370103", "370212", "370613"];
        let coords = [
            "117.02345,36.66831",
            "120.38261,36.06712",
            "121.44712,37.46391",
        ];
        let cards = [
            "6222021234567890123",
            "6228480012345678",
            "4367421234567890",
        ];
        let codes = ["2024-000123", "2024-000456", "2024-000789"];
        let col = |v: &[&str; 3]| -> ArrayRef {
            Arc::new(StringArray::from(
                v.iter().map(|s| Some(*s)).collect::<Vec<_>>(),
            ))
        };
        let b = batch(vec![
            ("身份证号", col(&ids)),
            ("手机", col(&phones)),
            ("姓名", col(&names)),
            ("出生日期", col(&births)),
            ("住址", col(&addresses)),
            ("区县", col(&counties)),
            ("坐标", col(&coords)),
            ("银行卡", col(&cards)),
            ("案件编号", col(&codes)),
            ("事项", col(&["办证", "缴费", "咨询"])),
        ]);
        let r = rules(&[
            (
                "身份证号",
                Rule::Mask {
                    keep_first: 6,
                    keep_last: 4,
                },
            ),
            (
                "手机",
                Rule::Pseudonym {
                    algorithm: PseudonymAlgorithm::HmacSm3,
                },
            ),
            ("姓名", Rule::Suppress),
            ("出生日期", generalise(Generalisation::Month)),
            ("住址", Rule::Drop),
            ("区县", generalise(Generalisation::RegionCity)),
            ("坐标", generalise(Generalisation::Grid { decimals: 2 })),
            (
                "银行卡",
                Rule::Pseudonym {
                    algorithm: PseudonymAlgorithm::HmacSha256,
                },
            ),
            ("案件编号", Rule::Fpe),
        ]);
        let out = apply(&b, &r, &secrets(7)).unwrap();
        let all = rendered(&out);
        let canaries = ids
            .iter()
            .chain(&phones)
            .chain(&names)
            .chain(&births)
            .chain(&addresses)
            .chain(&counties)
            .chain(&coords)
            .chain(&cards)
            .chain(&codes);
        for canary in canaries {
            assert!(!all.contains(canary), "{canary} leaked:\n{all}");
        }
        // Not even part of a name, an address or a phone.
        for fragment in ["锋", "三丰", "泉城路", "12345678", "13812"] {
            assert!(!all.contains(fragment), "{fragment} leaked");
        }
        assert!(out.column_by_name("住址").is_none());
        assert_eq!(cells(&out, "事项"), ["办证", "缴费", "咨询"]);
        assert_eq!(
            cells(&out, "身份证号"),
            [
                "110105********0022",
                "370102********341X",
                "440301********1234"
            ]
        );
        assert_eq!(cells(&out, "出生日期"), ["1990-01", "1985-06", "∅"]);
        assert_eq!(cells(&out, "区县"), ["370100", "370200", "370600"]);
        assert_eq!(
            cells(&out, "坐标"),
            ["117.02,36.66", "120.38,36.06", "121.44,37.46"]
        );
        assert_eq!(cells(&out, "姓名"), ["∅", "∅", "∅"]);
    }

    #[test]
    fn the_output_schema_is_documented_and_known_before_the_data() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::LargeUtf8, false),
            Field::new("born", DataType::Date32, true),
            Field::new("lat", DataType::Float32, true),
            Field::new("lon", DataType::Decimal128(10, 6), true),
            Field::new("note", DataType::Utf8, true),
            Field::new("kept", DataType::Boolean, false),
        ]);
        let r = rules(&[
            (
                "id",
                Rule::Pseudonym {
                    algorithm: PseudonymAlgorithm::HmacSha256,
                },
            ),
            (
                "name",
                Rule::Mask {
                    keep_first: 1,
                    keep_last: 0,
                },
            ),
            ("born", generalise(Generalisation::Year)),
            ("lat", generalise(Generalisation::Grid { decimals: 2 })),
            ("lon", generalise(Generalisation::Grid { decimals: 2 })),
            ("note", Rule::Drop),
            ("kept", Rule::Keep),
        ]);
        let d = Deidentifier::new(&schema, &r, &secrets(1)).unwrap();
        let out = d.output_schema();
        let got: Vec<(&str, &DataType, bool)> = out
            .fields()
            .iter()
            .map(|f| (f.name().as_str(), f.data_type(), f.is_nullable()))
            .collect();
        assert_eq!(
            got,
            [
                ("id", &DataType::Utf8, true),
                ("name", &DataType::LargeUtf8, true),
                ("born", &DataType::Utf8, true),
                ("lat", &DataType::Float64, true),
                ("lon", &DataType::Decimal128(10, 6), true),
                ("kept", &DataType::Boolean, false),
            ]
        );
    }

    #[test]
    fn masks_count_characters_and_never_pass_a_short_value() {
        let m = |kf, kl| Rule::Mask {
            keep_first: kf,
            keep_last: kl,
        };
        let table: &[(Rule, &str, &str)] = &[
            (m(6, 4), "110105199001010022", "110105********0022"),
            (m(3, 4), "13812345678", "138****5678"),
            (m(1, 0), "欧阳锋", "欧**"),
            (m(1, 0), "张", "*"),
            (m(6, 4), "1234567890", "**********"),
            (m(6, 4), "12345", "*****"),
            (m(0, 0), "abc", "***"),
            (m(1, 1), " 王小明 ", "王*明"),
            (m(2, 0), "鲁A·12345", "鲁A******"),
            (m(1, 0), "", ""),
        ];
        for (rule, input, want) in table {
            assert_eq!(one(rule.clone(), text(&[Some(input)])), [*want], "{input}");
        }
        // Numbers are masked by their text, and the column becomes text; null stays null.
        let b = batch(vec![(
            "c",
            Arc::new(Int64Array::from(vec![Some(13812345678), None])) as ArrayRef,
        )]);
        let out = apply(&b, &rules(&[("c", m(3, 4))]), &secrets(1)).unwrap();
        assert_eq!(out.schema().field(0).data_type(), &DataType::Utf8);
        assert_eq!(cells(&out, "c"), ["138****5678", "∅"]);
    }

    #[test]
    fn pseudonyms_link_within_a_key_and_not_across() {
        let values = text(&[Some("张三"), Some(" 张三 "), Some("李四"), None, Some("  ")]);
        let b = batch(vec![("c", values)]);
        let run = |algorithm, seed| {
            let r = rules(&[("c", Rule::Pseudonym { algorithm })]);
            cells(&apply(&b, &r, &secrets(seed)).unwrap(), "c")
        };
        for algorithm in [PseudonymAlgorithm::HmacSha256, PseudonymAlgorithm::HmacSm3] {
            let a = run(algorithm, 1);
            assert_eq!(a, run(algorithm, 1), "deterministic under one key");
            assert_eq!(a[0], a[1], "surrounding blanks do not split a person");
            assert_ne!(a[0], a[2]);
            assert_eq!((a[3].as_str(), a[4].as_str()), ("∅", "∅"));
            assert_eq!(a[0].len(), PSEUDONYM_HEX_LEN);
            assert!(a[0].bytes().all(|c| c.is_ascii_hexdigit()));
            let other = run(algorithm, 2);
            assert_ne!(a[0], other[0], "another dataset's key, another code");
        }
        assert_ne!(
            run(PseudonymAlgorithm::HmacSha256, 1)[0],
            run(PseudonymAlgorithm::HmacSm3, 1)[0]
        );
    }

    /// The HMAC primitives are the standard ones (RFC 4231 test case 2 for SHA-256, and
    /// a cross-check of SM3 against its GM/T 0004-2012 example "abc").
    #[test]
    fn pseudonym_primitives_are_the_standard_ones() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        use sm3::Digest;
        assert_eq!(
            hex::encode(Sm3::digest(b"abc")),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }

    #[test]
    fn fpe_preserves_the_format_and_round_trips_with_the_key() {
        let s = secrets(3);
        let values = [
            "110105199001010022",
            "6222 0212 3456 7890",
            "2024-000123",
            "000000",
        ];
        let b = batch(vec![(
            "c",
            text(
                &values
                    .iter()
                    .map(|v| Some(*v))
                    .chain([
                        Some("12345"),
                        Some("11010519900101002X"),
                        Some("张三"),
                        None,
                    ])
                    .collect::<Vec<_>>(),
            ),
        )]);
        let out = apply(&b, &rules(&[("c", Rule::Fpe)]), &s).unwrap();
        let got = cells(&out, "c");
        for (raw, code) in values.iter().zip(&got) {
            assert_ne!(raw, code);
            assert_eq!(raw.len(), code.len());
            let shape = |v: &str| v.chars().map(|c| c.is_ascii_digit()).collect::<Vec<_>>();
            assert_eq!(shape(raw), shape(code), "{raw} → {code}");
            assert_eq!(fpe_decrypt(code, &s).as_deref(), Some(*raw));
            assert_ne!(fpe_decrypt(code, &secrets(4)).as_deref(), Some(*raw));
        }
        // Too short to encrypt safely, not a digit string, null: all null.
        assert_eq!(&got[4..], ["∅", "∅", "∅", "∅"]);
        // Deterministic, like a pseudonym.
        let again = apply(&b, &rules(&[("c", Rule::Fpe)]), &s).unwrap();
        assert_eq!(cells(&again, "c"), got);
    }

    #[test]
    fn dates_generalise_to_month_or_year_and_odd_ones_to_null() {
        let values = text(&[
            Some("2024-03-05"),
            Some("2024年3月5日"),
            Some("2024/03/05 10:30:00"),
            Some("20240305"),
            Some("2024-03"),
            Some("2024年"),
            Some("2024-02-30"),
            Some("明年"),
            Some("12345678"),
            None,
        ]);
        assert_eq!(
            one(generalise(Generalisation::Month), values.clone()),
            [
                "2024-03", "2024-03", "2024-03", "2024-03", "2024-03", "∅", "∅", "∅", "∅", "∅"
            ]
        );
        assert_eq!(
            one(generalise(Generalisation::Year), values),
            [
                "2024", "2024", "2024", "2024", "2024", "2024", "∅", "∅", "∅", "∅"
            ]
        );
        let d = |y, m, day| {
            NaiveDate::from_ymd_opt(y, m, day)
                .map(Date32Type::from_naive_date)
                .unwrap()
        };
        let dates: ArrayRef = Arc::new(Date32Array::from(vec![
            Some(d(1990, 1, 1)),
            None,
            Some(d(2001, 12, 31)),
            Some(i32::MAX),
        ]));
        assert_eq!(
            one(generalise(Generalisation::Month), dates),
            ["1990-01", "∅", "2001-12", "∅"]
        );
        // 2024-03-31 20:00 UTC is already April in Beijing.
        let ts: ArrayRef = Arc::new(
            TimestampSecondArray::from(vec![Some(1_711_915_200), None]).with_timezone("+08:00"),
        );
        assert_eq!(one(generalise(Generalisation::Month), ts), ["2024-04", "∅"]);
        let naive: ArrayRef = Arc::new(TimestampSecondArray::from(vec![Some(1_711_915_200)]));
        assert_eq!(one(generalise(Generalisation::Month), naive), ["2024-03"]);
    }

    #[test]
    fn ages_go_into_bands_with_an_open_top() {
        let rule = |width, top| generalise(Generalisation::AgeBand { width, top });
        let ages: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(0),
            Some(9),
            Some(35),
            Some(89),
            Some(90),
            Some(104),
            Some(-1),
            Some(999),
            None,
        ]));
        assert_eq!(
            one(rule(10, Some(90)), ages.clone()),
            ["0-9", "0-9", "30-39", "80-89", "90+", "90+", "∅", "∅", "∅"]
        );
        assert_eq!(
            one(rule(5, None), ages),
            [
                "0-4", "5-9", "35-39", "85-89", "90-94", "100-104", "∅", "∅", "∅"
            ]
        );
        assert_eq!(
            one(
                rule(10, Some(85)),
                text(&[Some("82岁"), Some("35.9"), Some("NaN"), Some("1e2")])
            ),
            ["80-84", "30-39", "∅", "∅"]
        );
        let floats: ArrayRef = Arc::new(Float64Array::from(vec![35.5, f64::NAN, f64::INFINITY]));
        assert_eq!(one(rule(10, None), floats), ["30-39", "∅", "∅"]);
    }

    #[test]
    fn region_codes_generalise_to_city_or_province() {
        let values = text(&[
            Some("370102"),
            Some("370100"),
            Some("370000"),
            Some("370102001000"),
            Some("110105"),
            Some("990102"),
            Some("37010"),
            Some("济南市"),
        ]);
        assert_eq!(
            one(generalise(Generalisation::RegionCity), values.clone()),
            [
                "370100", "370100", "370000", "370100", "110100", "∅", "∅", "∅"
            ]
        );
        assert_eq!(
            one(generalise(Generalisation::RegionProvince), values),
            [
                "370000", "370000", "370000", "370000", "110000", "∅", "∅", "∅"
            ]
        );
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![Some(370102), None]));
        assert_eq!(
            one(generalise(Generalisation::RegionCity), ints),
            ["370100", "∅"]
        );
    }

    #[test]
    fn coordinates_round_down_to_the_grid_exactly() {
        let mut out = String::new();
        for (input, decimals, want) in [
            ("117.12999", 2, Some("117.12")),
            ("0.29", 2, Some("0.29")),
            ("36.1", 3, Some("36.100")),
            ("-33.8688", 2, Some("-33.87")),
            ("-0.001", 2, Some("-0.01")),
            ("-0.000", 2, Some("0.00")),
            ("-9.999", 2, Some("-10.00")),
            ("+5", 0, Some("5")),
            ("117.9", 0, Some("117")),
            ("1e3", 2, None),
            (".5", 2, None),
            ("12.3.4", 2, None),
        ] {
            out.clear();
            let ok = floor_decimal(input, decimals, &mut out);
            assert_eq!(ok.then_some(out.as_str()), want, "{input}");
        }
        let floats: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(117.12999),
            Some(0.29),
            Some(-33.8688),
            None,
            Some(f64::NAN),
        ]));
        assert_eq!(
            one(generalise(Generalisation::Grid { decimals: 2 }), floats),
            ["117.12", "0.29", "-33.87", "∅", "∅"]
        );
        let decimals: ArrayRef = Arc::new(
            Decimal128Array::from(vec![Some(117_129_990), Some(-33_868_800), None])
                .with_precision_and_scale(10, 6)
                .unwrap(),
        );
        assert_eq!(
            one(generalise(Generalisation::Grid { decimals: 2 }), decimals),
            ["117.120000", "-33.870000", "∅"]
        );
        assert_eq!(
            one(
                generalise(Generalisation::Grid { decimals: 1 }),
                text(&[
                    Some("117.16, 36.68"),
                    Some("117.16，36.68"),
                    Some("1,2,3"),
                    Some("北纬36度")
                ])
            ),
            ["117.1,36.6", "117.1,36.6", "∅", "∅"]
        );
    }

    #[test]
    fn ip_addresses_generalise_to_their_network() {
        assert_eq!(
            one(
                generalise(Generalisation::IpNetwork {
                    v4_prefix: 24,
                    v6_prefix: 48,
                }),
                text(&[
                    Some("192.0.2.57"),
                    Some("192.0.2.57:8080"),
                    Some("2001:db8:85a3:8d3:1319:8a2e:370:7348"),
                    Some("::ffff:198.51.100.7"),
                    Some("localhost"),
                ])
            ),
            [
                "192.0.2.0/24",
                "192.0.2.0/24",
                "2001:db8:85a3::/48",
                "198.51.100.0/24",
                "∅"
            ]
        );
        let mut out = String::new();
        assert!(ip_network("10.1.2.3", 0, 0, &mut out));
        assert_eq!(out, "0.0.0.0/0");
    }

    #[test]
    fn rules_that_do_not_fit_are_errors_without_values() {
        let b = batch(vec![
            (
                "born",
                Arc::new(Int64Array::from(vec![13812345678])) as ArrayRef,
            ),
            ("name", text(&[Some("张三")])),
        ]);
        let err = apply(
            &b,
            &rules(&[("born", generalise(Generalisation::Month))]),
            &secrets(1),
        )
        .unwrap_err();
        assert!(matches!(
            err,
            DeidentError::Unsupported {
                rule: "generalise",
                ..
            }
        ));
        assert!(!err.to_string().contains("13812345678"));

        let err = apply(&b, &rules(&[("姓名", Rule::Suppress)]), &secrets(1)).unwrap_err();
        let DeidentError::Rules(problems) = &err else {
            panic!("{err}")
        };
        assert_eq!(problems[0].code, "unknown_column");
        assert!(!err.to_string().contains("张三"));

        let d = Deidentifier::new(
            &b.schema(),
            &rules(&[("name", Rule::Suppress)]),
            &secrets(1),
        )
        .unwrap();
        let other = batch(vec![("name", text(&[Some("张三")]))]);
        assert!(matches!(d.apply(&other), Err(DeidentError::SchemaMismatch)));
        let outs: Vec<_> = d.apply_all([b.clone(), b.clone()]).collect();
        assert_eq!(outs.len(), 2);
        assert!(
            outs.iter()
                .all(|o| o.as_ref().is_ok_and(|o| o.num_rows() == 1))
        );

        let with_row = batch(vec![
            (ROW_COLUMN, Arc::new(Int64Array::from(vec![1])) as ArrayRef),
            ("name", text(&[Some("张三")])),
        ]);
        let err = apply(&with_row, &rules(&[(ROW_COLUMN, Rule::Drop)]), &secrets(1));
        assert!(matches!(err, Err(DeidentError::Rules(p)) if p[0].code == "unknown_column"));
    }

    #[test]
    fn secrets_never_print() {
        let s = Secrets::new([0xAB; 32], [0xCD; 32]);
        let shown = format!("{s:?}");
        assert!(shown.contains("redacted"));
        assert!(!shown.contains("171") && !shown.contains("205"), "{shown}");
        let d = Deidentifier::new(&Schema::empty(), &RuleSet::default(), &s).unwrap();
        let shown = format!("{d:?}");
        assert!(!shown.contains("171") && !shown.contains("205"), "{shown}");
    }

    /// GB/T 37964-2019, K-anonymity model (K-匿名): a table of ten worked by hand.
    ///
    /// | age band | region | diagnosis |   class (size) |
    /// |---|---|---|---|
    /// | 30-39 | 370100 | flu, flu, cold, asthma | A (4) |
    /// | 30-39 | 370200 | flu, flu, flu | B (3) |
    /// | 40-49 | 370100 | cold, cold | C (2) |
    /// | 50-59 | null | flu | D (1) |
    ///
    /// 4 classes; smallest 1; below k=3: C and D, 3 records (0.3); risk 1/1; l = 1.
    #[test]
    fn k_anonymity_on_a_hand_computed_table() {
        let band = ["30-39", "30-39", "30-39", "30-39", "30-39"];
        let first = batch(vec![
            ("age", text(&band.map(Some))),
            (
                "region",
                text(&["370100", "370100", "370200", "370200", "370100"].map(Some)),
            ),
            (
                "diagnosis",
                text(&["flu", "cold", "flu", "flu", "flu"].map(Some)),
            ),
        ]);
        let second = batch(vec![
            (
                "age",
                text(&["30-39", "40-49", "40-49", "50-59", "30-39"].map(Some)),
            ),
            (
                "region",
                text(&[
                    Some("370200"),
                    Some("370100"),
                    Some("370100"),
                    None,
                    Some("370100"),
                ]),
            ),
            (
                "diagnosis",
                text(&["flu", "cold", "cold", "flu", "asthma"].map(Some)),
            ),
        ]);
        let batches = [first, second];
        let r = k_anonymity(&batches, &["age", "region"], 3, Some("diagnosis")).unwrap();
        assert_eq!(r.records, 10);
        assert_eq!(r.classes, 4);
        assert_eq!(r.smallest_class, 1);
        assert_eq!(r.records_below_k, 3);
        assert!((r.share_below_k - 0.3).abs() < 1e-12);
        assert!((r.max_risk - 1.0).abs() < 1e-12);
        assert_eq!(r.l_diversity, Some(1));
        assert!(!r.is_k_anonymous());
        let hist: Vec<(String, u64, u64)> = r
            .histogram
            .iter()
            .map(|b| (b.label(), b.classes, b.records))
            .collect();
        assert_eq!(
            hist,
            [
                ("1".to_owned(), 1, 1),
                ("2".to_owned(), 1, 2),
                ("3-4".to_owned(), 2, 7),
                ("5-9".to_owned(), 0, 0),
                ("10+".to_owned(), 0, 0),
            ]
        );

        // Over the region alone: 370100 (6, with the null row apart), 370200 (3), null (1).
        let r = k_anonymity(&batches, &["region"], 2, None).unwrap();
        assert_eq!((r.classes, r.smallest_class, r.records_below_k), (3, 1, 1));
        assert_eq!(r.l_diversity, None);
        // Over the age band with diagnosis: 30-39 has flu, cold, asthma.
        let r = k_anonymity(&batches, &["age"], 1, Some("diagnosis")).unwrap();
        assert_eq!((r.classes, r.smallest_class), (3, 1));
        assert!(r.is_k_anonymous());
        assert_eq!(r.max_risk, 1.0);
        assert_eq!(r.l_diversity, Some(1));

        let empty = k_anonymity(&[], &["age"], 5, Some("diagnosis")).unwrap();
        assert_eq!(
            (empty.records, empty.classes, empty.smallest_class),
            (0, 0, 0)
        );
        assert_eq!(
            (empty.max_risk, empty.share_below_k, empty.l_diversity),
            (0.0, 0.0, None)
        );
        assert!(matches!(
            k_anonymity(&batches, &[], 5, None),
            Err(DeidentError::NoQuasiIdentifiers)
        ));
        assert!(matches!(
            k_anonymity(&batches, &["姓名"], 5, None),
            Err(DeidentError::UnknownColumn(_))
        ));
    }
}

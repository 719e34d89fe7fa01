//! Verification (核验, issue 9): whether values a caller brings are in a table, answered
//! yes/no without returning anything of the table.
//!
//! The caller's records become a small in-memory table joined to the stored one on the
//! first key column, both sides in `gongshu_core::pii::match_key` form (width, case and
//! spacing ignored). The first key locates the records; the answer says whether one of
//! them has every other key equal, and, per key, whether one of them has that key equal.
//! Built with DataFusion's DataFrame API, so no value the caller sends is ever SQL text.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use datafusion::common::{DataFusionError, JoinType, TableReference};
use datafusion::functions_aggregate::expr_fn::bool_or;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarUDF, Volatility, cast, col, create_udf, ident, lit,
};

use crate::query::{Engine, QueryError, TableRef};

/// Key columns one verification may compare.
pub const MAX_KEYS: usize = 4;

/// The answer for one record the caller brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Some record of the table has every key equal.
    pub matched: bool,
    /// Per key column, in the order given: whether a record found by the first key has
    /// this key equal (the first is whether the first key was found at all).
    pub fields: Vec<bool>,
}

/// `gs_match_key(text)`: the value in `match_key` form.
pub fn match_key_udf() -> ScalarUDF {
    create_udf(
        "gs_match_key",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let array = match &args[0] {
                ColumnarValue::Array(a) => Arc::clone(a),
                ColumnarValue::Scalar(v) => v.to_array()?,
            };
            let text = array
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| DataFusionError::Internal("text expected".into()))?;
            let out: StringArray = text
                .iter()
                .map(|v| v.map(gongshu_core::pii::match_key))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

fn engine_error(e: DataFusionError) -> QueryError {
    QueryError::Engine(e.strip_backtrace())
}

impl Engine {
    /// Answers each record of `probes` (values in the order of `keys`) against `table`.
    /// Errors are told without their detail: an engine error could quote the table's data.
    pub async fn verify(
        &self,
        table: &TableRef,
        keys: &[String],
        probes: &[Vec<String>],
    ) -> Result<Vec<Verdict>, QueryError> {
        if keys.is_empty() || keys.len() > MAX_KEYS || probes.iter().any(|p| p.len() != keys.len())
        {
            return Err(QueryError::BadRequest(
                "核验的列与所给的值不一致 (the values do not fit the verified columns)".into(),
            ));
        }
        if probes.is_empty() {
            return Ok(Vec::new());
        }
        let table = table.clone();
        let keys = keys.to_vec();
        let probes = probes.to_vec();
        let n = probes.len();
        let found = self
            .on_sql_threads(move |engine| async move {
                engine.verify_on_threads(&table, &keys, &probes).await
            })
            .await
            .map_err(|e| match e {
                QueryError::Timeout => QueryError::Timeout,
                _ => QueryError::Engine("verification failed".into()),
            })?;
        let mut verdicts = vec![
            Verdict {
                matched: false,
                fields: vec![false; found.1],
            };
            n
        ];
        for (at, verdict) in found.0 {
            if let Some(slot) = verdicts.get_mut(at) {
                *slot = verdict;
            }
        }
        Ok(verdicts)
    }

    /// The probes that found something, by their position; and the number of keys.
    async fn verify_on_threads(
        &self,
        table: &TableRef,
        keys: &[String],
        probes: &[Vec<String>],
    ) -> Result<(Vec<(usize, Verdict)>, usize), QueryError> {
        let ctx = self.limited_context(std::slice::from_ref(table)).await?;
        let normal = match_key_udf();

        let mut fields = vec![Field::new("_probe", DataType::Int64, false)];
        let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(
            (0..probes.len()).map(|i| i as i64),
        ))];
        for j in 0..keys.len() {
            fields.push(Field::new(format!("_p{j}"), DataType::Utf8, false));
            columns.push(Arc::new(StringArray::from_iter_values(
                probes.iter().map(|p| gongshu_core::pii::match_key(&p[j])),
            )));
        }
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .map_err(|e| QueryError::Engine(e.to_string()))?;
        let asked = ctx.read_batch(batch).map_err(engine_error)?;
        let stored = ctx
            .table(TableReference::bare(table.name.as_str()))
            .await
            .map_err(engine_error)?
            .select(
                keys.iter()
                    .enumerate()
                    .map(|(j, c)| {
                        normal
                            .call(vec![cast(ident(c), DataType::Utf8)])
                            .alias(format!("_t{j}"))
                    })
                    .collect::<Vec<Expr>>(),
            )
            .map_err(engine_error)?
            .filter(col("_t0").is_not_null().and(col("_t0").not_eq(lit(""))))
            .map_err(engine_error)?;
        let joined = asked
            .join(stored, JoinType::Inner, &["_p0"], &["_t0"], None)
            .map_err(engine_error)?;
        let equal = |j: usize| col(format!("_p{j}")).eq(col(format!("_t{j}")));
        let every = (1..keys.len()).fold(lit(true), |acc, j| acc.and(equal(j)));
        let mut aggregates = vec![bool_or(every).alias("_all")];
        aggregates.extend((1..keys.len()).map(|j| bool_or(equal(j)).alias(format!("_f{j}"))));
        let batches = joined
            .aggregate(vec![col("_probe")], aggregates)
            .map_err(engine_error)?
            .collect()
            .await
            .map_err(engine_error)?;

        let mut found = Vec::new();
        for b in &batches {
            let probe = b
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| QueryError::Engine("probe number expected".into()))?;
            let flags: Vec<&BooleanArray> = (1..b.num_columns())
                .map(|c| b.column(c).as_any().downcast_ref::<BooleanArray>())
                .collect::<Option<_>>()
                .ok_or_else(|| QueryError::Engine("flags expected".into()))?;
            let yes = |a: &BooleanArray, r: usize| a.is_valid(r) && a.value(r);
            for r in 0..b.num_rows() {
                let mut fields = vec![true];
                fields.extend(flags[1..].iter().map(|a| yes(a, r)));
                found.push((
                    probe.value(r) as usize,
                    Verdict {
                        matched: yes(flags[0], r),
                        fields,
                    },
                ));
            }
        }
        Ok((found, keys.len()))
    }
}

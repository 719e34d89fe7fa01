//! Differential privacy for the sandbox (issue 9): a grant the provider put in this mode
//! answers COUNT, SUM and AVG, per group, with noise calibrated to how much one person
//! can change them, and spends part of the grant's ε budget on every query.
//!
//! Contributions are bounded the usual way: a summed column must have declared bounds,
//! and its values are clamped to them in the query, so one row moves a sum by at most
//! `max(|lo|, |hi|)`; the provider declares how many rows one person has at most (1 for
//! a register of people), and every sensitivity is multiplied by it. The query's ε is
//! split evenly over its figures plus the group count that decides which groups are
//! shown: a group whose noisy count falls below the profile's minimum is left out,
//! silently (saying which would tell that it exists). Laplace noise gives ε-DP; Gaussian
//! noise (the classic calibration, σ = Δ·√(2 ln(1.25/δ))/ε, meant for ε ≤ 1) gives
//! (ε, δ)-DP.
//!
//! Not a floating-point-safe implementation (no snapping, Mironov 2012): the noise is
//! drawn from the operating system's CSPRNG through `rand`, and the answers are rounded
//! (counts to integers), which blunts but does not remove that attack.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, SelectItem, SetExpr,
    Statement,
};
use gongshu_core::disclosure::Mechanism;
use rand::Rng;

use crate::query::{Engine, QueryError, SqlResult, TableRef, parse_select};
use crate::sandbox::{
    SandboxLimits, SandboxOutcome, SandboxTable, float_at, int_at, normalised, parse_expr, prepare,
    refuse, text_at,
};

/// How one query is answered.
#[derive(Debug, Clone, Copy)]
pub struct DpParams {
    pub mechanism: Mechanism,
    /// The query's whole ε.
    pub epsilon: f64,
    /// For the Gaussian mechanism.
    pub delta: f64,
    pub max_rows_per_person: u32,
    /// Groups whose noisy count is below this are left out.
    pub min_group: u64,
}

#[derive(Debug, Clone)]
enum Measure {
    Count {
        at: usize,
    },
    Sum {
        at: usize,
        bound: f64,
    },
    Avg {
        sum_at: usize,
        count_at: usize,
        bound: f64,
        lo: f64,
        hi: f64,
    },
}

#[derive(Debug, Clone)]
enum Output {
    Key(usize),
    Measure(usize),
}

/// A query checked by the sandbox's guard and reshaped for noise.
#[derive(Debug, Clone)]
pub struct DpPlan {
    statement: DfStatement,
    outputs: Vec<(String, Output)>,
    measures: Vec<Measure>,
    keys: usize,
    pub canonical: String,
    pub fingerprint: String,
    pub filter: String,
}

impl DpPlan {
    /// How many noisy figures a group costs: its measures and its count.
    pub fn figures(&self) -> usize {
        self.measures.len() + 1
    }
}

/// Checks `sql` with the sandbox's guard, then admits only what differential privacy
/// answers: one table, its grouping values, COUNT(*), COUNT(col), and SUM/AVG of a
/// column whose bounds the provider declared.
pub fn prepare_dp(
    sql: &str,
    tables: &[SandboxTable],
    limits: &SandboxLimits,
    bounds: &HashMap<String, (f64, f64)>,
) -> Result<DpPlan, QueryError> {
    let checked = prepare(sql, tables, limits)?;
    let DfStatement::Statement(statement) = parse_select(sql)? else {
        return Err(refuse(
            "只允许 SELECT 查询",
            "only SELECT queries are allowed",
        ));
    };
    let Statement::Query(mut query) = *statement else {
        return Err(refuse(
            "只允许 SELECT 查询",
            "only SELECT queries are allowed",
        ));
    };
    let SetExpr::Select(select) = &mut *query.body else {
        return Err(refuse(
            "只允许 SELECT 查询",
            "only SELECT queries are allowed",
        ));
    };
    if select.from.len() != 1 || !select.from[0].joins.is_empty() {
        return Err(refuse(
            "差分隐私模式下一次查询只能使用一张表，不能连接",
            "in the differential-privacy mode a query reads one table, without joins",
        ));
    }
    let GroupByExpr::Expressions(groups, _) = &select.group_by else {
        return Err(refuse("不支持该分组方式", "this GROUP BY is not supported"));
    };
    let groups = groups.clone();
    if groups.iter().any(|g| matches!(g, Expr::Value(_))) {
        return Err(refuse(
            "差分隐私模式下请按列名分组，不用位置序号",
            "in the differential-privacy mode group by expressions, not positions",
        ));
    }
    let only = || {
        refuse(
            "差分隐私模式只支持分组列与 COUNT、SUM、AVG",
            "the differential-privacy mode answers grouping columns, COUNT, SUM and AVG only",
        )
    };
    let mut columns: Vec<String> = groups
        .iter()
        .map(|g| format!("CAST({g} AS VARCHAR)"))
        .collect();
    columns.push("COUNT(*)".to_owned());
    let mut outputs = Vec::new();
    let mut measures = Vec::new();
    for item in &select.projection {
        let (expr, name) = match item {
            SelectItem::UnnamedExpr(e) => (e, e.to_string()),
            SelectItem::ExprWithAlias { expr, alias } => (expr, normalised(alias)),
            _ => return Err(only()),
        };
        if let Some(k) = groups.iter().position(|g| g == expr) {
            outputs.push((name, Output::Key(k)));
            continue;
        }
        let Expr::Function(f) = expr else {
            return Err(only());
        };
        let FunctionArguments::List(list) = &f.args else {
            return Err(only());
        };
        if list.duplicate_treatment.is_some()
            || !list.clauses.is_empty()
            || f.filter.is_some()
            || f.over.is_some()
            || !f.within_group.is_empty()
        {
            return Err(only());
        }
        let [FunctionArg::Unnamed(arg)] = list.args.as_slice() else {
            return Err(only());
        };
        let function = f.name.to_string().to_lowercase();
        let at = columns.len();
        let measure = match (function.as_str(), arg) {
            ("count", FunctionArgExpr::Wildcard) => {
                columns.push("COUNT(*)".to_owned());
                Measure::Count { at }
            }
            ("count", FunctionArgExpr::Expr(e)) => {
                columns.push(format!("COUNT({e})"));
                Measure::Count { at }
            }
            ("sum" | "avg" | "mean", FunctionArgExpr::Expr(e)) => {
                let column = match e {
                    Expr::Identifier(id) => normalised(id),
                    Expr::CompoundIdentifier(parts) => {
                        parts.last().map(normalised).unwrap_or_default()
                    }
                    _ => {
                        return Err(refuse(
                            "差分隐私模式下 SUM、AVG 只能作用于单独一列",
                            "in the differential-privacy mode SUM and AVG take a column",
                        ));
                    }
                };
                let &(lo, hi) = bounds.get(&column).ok_or_else(|| {
                    refuse(
                        &format!("列“{column}”未声明取值范围，不能求和或求平均"),
                        &format!("column {column:?} has no declared bounds to sum or average"),
                    )
                })?;
                let clamped = format!("LEAST(GREATEST(CAST({e} AS DOUBLE), {lo:?}), {hi:?})");
                let bound = lo.abs().max(hi.abs());
                columns.push(format!("SUM({clamped})"));
                if function == "sum" {
                    Measure::Sum { at, bound }
                } else {
                    columns.push(format!("COUNT({e})"));
                    Measure::Avg {
                        sum_at: at,
                        count_at: at + 1,
                        bound,
                        lo,
                        hi,
                    }
                }
            }
            _ => return Err(only()),
        };
        outputs.push((name, Output::Measure(measures.len())));
        measures.push(measure);
    }
    select.projection = columns
        .iter()
        .enumerate()
        .map(|(i, text)| {
            Ok(SelectItem::ExprWithAlias {
                expr: parse_expr(text)?,
                alias: Ident::with_quote('"', format!("__gs_{i}")),
            })
        })
        .collect::<Result<_, QueryError>>()?;
    query.order_by = None;
    query.limit_clause = None;
    Ok(DpPlan {
        statement: DfStatement::Statement(Box::new(Statement::Query(query))),
        outputs,
        measures,
        keys: groups.len(),
        canonical: checked.canonical,
        fingerprint: checked.fingerprint,
        filter: checked.filter,
    })
}

/// A draw from Laplace(0, scale).
pub fn laplace(rng: &mut impl Rng, scale: f64) -> f64 {
    loop {
        let u: f64 = rng.random::<f64>() - 0.5;
        let tail = 1.0 - 2.0 * u.abs();
        if tail > 0.0 {
            return -scale * u.signum() * tail.ln();
        }
    }
}

/// A draw from N(0, σ²) (Box–Muller).
pub fn gaussian(rng: &mut impl Rng, sigma: f64) -> f64 {
    loop {
        let u1: f64 = rng.random();
        let u2: f64 = rng.random();
        if u1 > 0.0 {
            return sigma * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        }
    }
}

impl DpParams {
    /// Noise for a figure whose one-person change is at most `sensitivity`.
    fn noise(&self, rng: &mut impl Rng, figures: usize, sensitivity: f64) -> f64 {
        let epsilon = self.epsilon / figures.max(1) as f64;
        let sensitivity = sensitivity * f64::from(self.max_rows_per_person.max(1));
        match self.mechanism {
            Mechanism::Laplace => laplace(rng, sensitivity / epsilon),
            Mechanism::Gaussian => gaussian(
                rng,
                sensitivity * (2.0 * (1.25 / self.delta).ln()).sqrt() / epsilon,
            ),
        }
    }
}

impl Engine {
    /// Runs a differentially private plan and answers with noisy figures.
    pub async fn sandbox_dp(
        &self,
        tables: &[TableRef],
        plan: &DpPlan,
        params: &DpParams,
        timeout: Option<std::time::Duration>,
    ) -> Result<SandboxOutcome, QueryError> {
        let raw = self
            .run_without_detail(tables, &plan.statement, timeout)
            .await?;
        let batch = concat_batches(&raw.schema, &raw.batches)
            .map_err(|e| QueryError::Engine(e.to_string()))?;
        let figures = plan.figures();
        let mut rng = rand::rng();
        let mut keys: Vec<Vec<String>> = vec![Vec::new(); plan.keys];
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); plan.measures.len()];
        for r in 0..batch.num_rows() {
            let n = int_at(&batch, plan.keys, r) as f64 + params.noise(&mut rng, figures, 1.0);
            if plan.keys > 0 && n < params.min_group as f64 {
                continue;
            }
            for (k, column) in keys.iter_mut().enumerate() {
                column.push(text_at(&batch, k, r));
            }
            for (m, measure) in plan.measures.iter().enumerate() {
                let v = match *measure {
                    Measure::Count { at } => (int_at(&batch, at, r) as f64
                        + params.noise(&mut rng, figures, 1.0))
                    .round()
                    .max(0.0),
                    Measure::Sum { at, bound } => {
                        float_at(&batch, at, r) + params.noise(&mut rng, figures, bound)
                    }
                    Measure::Avg {
                        sum_at,
                        count_at,
                        bound,
                        lo,
                        hi,
                    } => {
                        // The mean's count is the group's noisy count: no extra ε.
                        let sum =
                            float_at(&batch, sum_at, r) + params.noise(&mut rng, figures, bound);
                        let count = (int_at(&batch, count_at, r) as f64).min(n).max(1.0);
                        (sum / count).clamp(lo, hi)
                    }
                };
                values[m].push(v);
            }
        }
        let mut fields = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (name, output) in &plan.outputs {
            match output {
                Output::Key(k) => {
                    fields.push(Field::new(name, DataType::Utf8, true));
                    columns.push(Arc::new(StringArray::from(keys[*k].clone())));
                }
                Output::Measure(m) => {
                    if matches!(plan.measures[*m], Measure::Count { .. }) {
                        fields.push(Field::new(name, DataType::Int64, true));
                        columns.push(Arc::new(Int64Array::from_iter_values(
                            values[*m].iter().map(|v| *v as i64),
                        )));
                    } else {
                        fields.push(Field::new(name, DataType::Float64, true));
                        columns.push(Arc::new(Float64Array::from(values[*m].clone())));
                    }
                }
            }
        }
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)
            .map_err(|e| QueryError::Engine(e.to_string()))?;
        Ok(SandboxOutcome {
            result: SqlResult {
                schema,
                batches: vec![batch],
                truncated: raw.truncated,
            },
            withheld: Vec::new(),
            group_sizes: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn noise_has_the_calibrated_spread() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let n = 200_000;
        let draws: Vec<f64> = (0..n).map(|_| laplace(&mut rng, 2.0)).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.05, "{mean}");
        // Laplace(b) has variance 2b².
        assert!((var - 8.0).abs() < 0.3, "{var}");
        let draws: Vec<f64> = (0..n).map(|_| gaussian(&mut rng, 3.0)).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.05 && (var - 9.0).abs() < 0.3, "{mean} {var}");
    }
}

//! The analysis sandbox (issue 9, requirements §7: 数据可用不可见): a grantee's SQL over
//! tables it may not take away, answered only with aggregates that pass disclosure
//! control.
//!
//! The guard works on the parsed statement and admits a small grammar rather than
//! refusing known-bad shapes: one SELECT over the granted tables (joined with ON or
//! USING), a WHERE, at most a few GROUP BY expressions, an ORDER BY of output columns and
//! a LIMIT. No subquery, CTE, set operation, window, table function or HAVING; only
//! allow-listed functions. Every output column is an aggregate or a grouping value.
//! Identifying columns (those classed as personal information) may only be counted
//! (`COUNT(col)`, `COUNT(DISTINCT col)`) or equated with one another to join tables.
//! An aggregate's argument is arithmetic over columns, with no condition inside: a
//! `SUM(CASE WHEN id = … THEN amount END)` would single one person out of a large group.
//!
//! The checked query is then rewritten with hidden columns the disclosure control needs:
//! each group's distinct source rows, how many values each aggregate drew on, the two
//! largest contributions to each sum or mean, and the grouping values as text. The
//! engine runs it under the SQL limits (its own memory pool, the timeout, the SQL
//! threads), and `gongshu_core::disclosure` decides which groups are released.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch,
};
use datafusion::arrow::compute::{cast, concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Accumulator, AggregateUDF, Volatility};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CastKind, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments,
    GroupByExpr, Ident, Join, JoinConstraint, JoinOperator, LimitClause, ObjectName, OrderByKind,
    Query, Select, SelectItem, SetExpr, Statement, TableFactor, TableWithJoins, UnaryOperator,
    Value,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use gongshu_core::disclosure::{GroupFacts, Profile, Withheld, protect, round_count};
use sha2::{Digest, Sha256};

use crate::query::{Engine, QueryError, SqlResult, TableRef, parse_select};

/// A table the sandbox may read, with the columns that identify people.
#[derive(Debug, Clone)]
pub struct SandboxTable {
    pub table: TableRef,
    /// Columns classed as personal information: they may only be counted or joined on.
    pub identifying: Vec<String>,
}

/// The grammar's bounds; the platform sets them.
#[derive(Debug, Clone)]
pub struct SandboxLimits {
    pub max_group_columns: usize,
    pub max_in_list: usize,
    pub max_depth: usize,
    pub max_sql_bytes: usize,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            max_group_columns: 3,
            max_in_list: 100,
            max_depth: 40,
            max_sql_bytes: 16 * 1024,
        }
    }
}

/// A query that passed the guard, rewritten for the disclosure control.
#[derive(Debug, Clone)]
pub struct Prepared {
    statement: DfStatement,
    /// The caller's output columns; the hidden ones follow.
    visible: usize,
    /// Output columns that are a plain `COUNT(…)`: released rounded.
    count_cells: Vec<usize>,
    inputs: usize,
    magnitudes: usize,
    keys: usize,
    /// The query as parsed, written out again (for the log and the reviewers).
    pub canonical: String,
    /// What the query computes, without its filter: queries that differ only in their
    /// WHERE share it, which is what differencing looks for.
    pub fingerprint: String,
    /// The WHERE clause as written out again, empty when there is none.
    pub filter: String,
}

/// A released result and what was withheld from it.
#[derive(Debug, Clone)]
pub struct SandboxOutcome {
    /// The rows released, counts rounded.
    pub result: SqlResult,
    /// The groups withheld: their grouping values and why.
    pub withheld: Vec<(Vec<String>, Withheld)>,
    /// Every group's grouping values (joined by U+001F) and its exact size, for the
    /// differencing check. Kept by the platform, never shown to the requester.
    pub group_sizes: Vec<(String, u64)>,
}

pub(crate) fn refuse(zh: &str, en: &str) -> QueryError {
    QueryError::BadRequest(format!("{zh} ({en})"))
}

const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "mean",
    "median",
    "approx_median",
    "approx_percentile_cont",
    "percentile_cont",
    "stddev",
    "stddev_samp",
    "stddev_pop",
    "var",
    "var_samp",
    "var_pop",
    "variance",
    "min",
    "max",
];

/// Functions an aggregate's argument may use: arithmetic and rounding, no condition.
const ARGUMENT_FUNCTIONS: &[&str] = &[
    "abs",
    "round",
    "floor",
    "ceil",
    "trunc",
    "sqrt",
    "power",
    "ln",
    "log",
    "log10",
    "exp",
    "sign",
    "lower",
    "upper",
    "trim",
    "length",
    "char_length",
    "character_length",
    "date_trunc",
    "date_part",
    "to_date",
];

/// Functions grouping values and filters may use besides those.
const SCALAR_FUNCTIONS: &[&str] = &[
    "coalesce",
    "nullif",
    "ltrim",
    "rtrim",
    "btrim",
    "substr",
    "substring",
    "left",
    "right",
    "concat",
    "concat_ws",
    "replace",
    "split_part",
    "strpos",
    "starts_with",
    "ends_with",
    "date_bin",
    "to_timestamp",
    "make_date",
    "greatest",
    "least",
    "gs_valid_uscc",
    "gs_valid_resident_id",
    "gs_valid_region_code",
    "gs_valid_date",
    "gs_valid_number",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// WHERE, JOIN ON, GROUP BY: no aggregate, no identifying column.
    Filter,
    /// An output column outside any aggregate: as a filter, but aggregates may start.
    Output,
    /// Inside an aggregate's argument: arithmetic only.
    Argument { counting: bool },
}

/// One aggregate call found in the output columns.
struct Call {
    name: String,
    /// The argument as written out again; none for `COUNT(*)`.
    argument: Option<String>,
    distinct: bool,
}

struct Guard<'a> {
    tables: &'a [SandboxTable],
    limits: &'a SandboxLimits,
    /// Names a query may use for a table (its alias, else its name), normalised, → index.
    aliases: HashMap<String, usize>,
    calls: Vec<Call>,
}

/// How DataFusion reads an identifier: unquoted ones are lower-cased.
pub(crate) fn normalised(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn single_name(name: &ObjectName) -> Option<&Ident> {
    match name.0.as_slice() {
        [part] => part.as_ident(),
        _ => None,
    }
}

pub(crate) fn parse_expr(text: &str) -> Result<Expr, QueryError> {
    Parser::new(&GenericDialect {})
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| QueryError::Engine(format!("sandbox rewrite: {e}")))
}

impl Guard<'_> {
    fn column(&self, table: Option<&Ident>, column: &Ident) -> Result<bool, QueryError> {
        let name = normalised(column);
        if name.eq_ignore_ascii_case(crate::query::ROW) {
            return Err(refuse(
                "不能引用行号列 _row",
                "the row-number column _row is not available",
            ));
        }
        let identifying =
            |t: &SandboxTable| t.identifying.iter().any(|c| c.eq_ignore_ascii_case(&name));
        match table {
            Some(t) => {
                let i = self.aliases.get(&normalised(t)).ok_or_else(|| {
                    refuse(
                        &format!("未知的表 {}", t.value),
                        &format!("unknown table {}", t.value),
                    )
                })?;
                Ok(identifying(&self.tables[*i]))
            }
            None => Ok(self.aliases.values().any(|i| identifying(&self.tables[*i]))),
        }
    }

    fn identifying_ref(&self, expr: &Expr) -> Result<Option<bool>, QueryError> {
        match expr {
            Expr::Identifier(c) => self.column(None, c).map(Some),
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [t, c] => self.column(Some(t), c).map(Some),
                _ => Err(refuse("列名格式有误", "a column is named as table.column")),
            },
            _ => Ok(None),
        }
    }

    fn walk(&mut self, expr: &Expr, place: Place, depth: usize) -> Result<(), QueryError> {
        if depth > self.limits.max_depth {
            return Err(refuse(
                "表达式嵌套过深",
                "the expression is nested too deeply",
            ));
        }
        let d = depth + 1;
        let argument = matches!(place, Place::Argument { .. });
        match expr {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
                if self.identifying_ref(expr)? == Some(true)
                    && place != (Place::Argument { counting: true })
                {
                    return Err(refuse(
                        &format!("标识个人的列只能计数：{expr}"),
                        &format!("a column that identifies people may only be counted: {expr}"),
                    ));
                }
                Ok(())
            }
            Expr::Value(v) => match v.value {
                Value::Number(..)
                | Value::SingleQuotedString(_)
                | Value::Boolean(_)
                | Value::Null => Ok(()),
                _ => Err(refuse("不支持的常量", "unsupported literal")),
            },
            Expr::TypedString(_) | Expr::Interval(_) if !argument => Ok(()),
            Expr::Nested(e) => self.walk(e, place, d),
            Expr::UnaryOp { op, expr } => {
                if argument && *op == UnaryOperator::Not {
                    return Err(condition_in_argument());
                }
                match op {
                    UnaryOperator::Minus | UnaryOperator::Plus | UnaryOperator::Not => {
                        self.walk(expr, place, d)
                    }
                    _ => Err(refuse("不支持的运算符", "unsupported operator")),
                }
            }
            Expr::BinaryOp { left, op, right } => {
                use BinaryOperator as B;
                let arithmetic =
                    matches!(op, B::Plus | B::Minus | B::Multiply | B::Divide | B::Modulo);
                let other = matches!(
                    op,
                    B::StringConcat
                        | B::Gt
                        | B::Lt
                        | B::GtEq
                        | B::LtEq
                        | B::Eq
                        | B::NotEq
                        | B::And
                        | B::Or
                );
                if argument && !arithmetic {
                    return Err(condition_in_argument());
                }
                if !arithmetic && !other {
                    return Err(refuse(
                        &format!("不支持的运算符 {op}"),
                        &format!("unsupported operator {op}"),
                    ));
                }
                self.walk(left, place, d)?;
                self.walk(right, place, d)
            }
            Expr::Cast {
                kind, expr, format, ..
            } => {
                if format.is_some()
                    || !matches!(
                        kind,
                        CastKind::Cast | CastKind::TryCast | CastKind::DoubleColon
                    )
                {
                    return Err(refuse("不支持的类型转换", "unsupported cast"));
                }
                self.walk(expr, place, d)
            }
            Expr::Ceil { expr, .. } | Expr::Floor { expr, .. } => self.walk(expr, place, d),
            Expr::Extract { expr, .. } => self.walk(expr, place, d),
            Expr::Function(f) => self.function(f, place, d),
            _ if argument => Err(condition_in_argument()),
            Expr::IsNull(e)
            | Expr::IsNotNull(e)
            | Expr::IsTrue(e)
            | Expr::IsFalse(e)
            | Expr::IsNotTrue(e)
            | Expr::IsNotFalse(e) => self.walk(e, place, d),
            Expr::IsDistinctFrom(a, b) | Expr::IsNotDistinctFrom(a, b) => {
                self.walk(a, place, d)?;
                self.walk(b, place, d)
            }
            Expr::InList { expr, list, .. } => {
                if list.len() > self.limits.max_in_list {
                    return Err(refuse(
                        &format!("IN 列表最多 {} 项", self.limits.max_in_list),
                        &format!(
                            "an IN list holds at most {} values",
                            self.limits.max_in_list
                        ),
                    ));
                }
                self.walk(expr, place, d)?;
                list.iter().try_for_each(|e| self.walk(e, place, d))
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                self.walk(expr, place, d)?;
                self.walk(low, place, d)?;
                self.walk(high, place, d)
            }
            Expr::Like {
                expr,
                pattern,
                any: false,
                ..
            }
            | Expr::ILike {
                expr,
                pattern,
                any: false,
                ..
            } => {
                self.walk(expr, place, d)?;
                self.walk(pattern, place, d)
            }
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                if let Some(o) = operand {
                    self.walk(o, place, d)?;
                }
                for c in conditions {
                    self.walk(&c.condition, place, d)?;
                    self.walk(&c.result, place, d)?;
                }
                if let Some(e) = else_result {
                    self.walk(e, place, d)?;
                }
                Ok(())
            }
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                self.walk(expr, place, d)?;
                for e in [substring_from, substring_for].into_iter().flatten() {
                    self.walk(e, place, d)?;
                }
                Ok(())
            }
            Expr::Trim {
                expr,
                trim_what,
                trim_characters,
                ..
            } => {
                self.walk(expr, place, d)?;
                if let Some(w) = trim_what {
                    self.walk(w, place, d)?;
                }
                for c in trim_characters.iter().flatten() {
                    self.walk(c, place, d)?;
                }
                Ok(())
            }
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => Err(refuse(
                "沙箱中不能使用子查询",
                "subqueries are not available in the sandbox",
            )),
            other => Err(refuse(
                &format!("沙箱中不支持该表达式：{other}"),
                &format!("this expression is not available in the sandbox: {other}"),
            )),
        }
    }

    fn function(&mut self, f: &Function, place: Place, depth: usize) -> Result<(), QueryError> {
        let name = single_name(&f.name).map(normalised).unwrap_or_default();
        if f.over.is_some() {
            return Err(refuse(
                "沙箱中不能使用窗口函数",
                "window functions are not available in the sandbox",
            ));
        }
        if f.filter.is_some() || f.null_treatment.is_some() || f.uses_odbc_syntax {
            return Err(condition_in_argument());
        }
        if !matches!(f.parameters, FunctionArguments::None) {
            return Err(refuse("不支持的函数写法", "unsupported function syntax"));
        }
        let list = match &f.args {
            FunctionArguments::List(l) => Some(l),
            FunctionArguments::None => None,
            FunctionArguments::Subquery(_) => {
                return Err(refuse(
                    "沙箱中不能使用子查询",
                    "subqueries are not available in the sandbox",
                ));
            }
        };
        if list.is_some_and(|l| !l.clauses.is_empty()) {
            return Err(refuse("不支持的函数写法", "unsupported function syntax"));
        }
        let distinct = list.is_some_and(|l| l.duplicate_treatment.is_some());
        let args: Vec<&FunctionArg> = list.map(|l| l.args.iter().collect()).unwrap_or_default();
        if AGGREGATES.contains(&name.as_str()) {
            if place != Place::Output {
                return Err(refuse(
                    "聚合函数只能出现在输出列中，且不能嵌套",
                    "aggregates belong in output columns, and do not nest",
                ));
            }
            let counting = name == "count";
            // percentile_cont(0.5) WITHIN GROUP (ORDER BY x): the ordered value is the
            // argument, the fraction a constant.
            let mut values: Vec<&Expr> = Vec::new();
            for o in &f.within_group {
                values.push(&o.expr);
            }
            let mut star = false;
            for a in &args {
                match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => values.push(e),
                    FunctionArg::Unnamed(FunctionArgExpr::Wildcard) if counting => star = true,
                    _ => return Err(refuse("不支持的函数参数", "unsupported function argument")),
                }
            }
            let (value, rest) = match values.split_first() {
                Some((v, rest)) => (Some(*v), rest),
                None => (None, &[][..]),
            };
            if let Some(v) = value {
                // A counted identifying column must be the bare argument: COUNT(id).
                let bare_identifying = counting && self.identifying_ref(v)? == Some(true);
                if !bare_identifying {
                    self.walk(v, Place::Argument { counting: false }, depth)?;
                }
            } else if !star {
                return Err(refuse("聚合函数缺少参数", "the aggregate has no argument"));
            }
            for r in rest {
                if !matches!(r, Expr::Value(_)) {
                    return Err(refuse(
                        "百分位数须为常量",
                        "a percentile fraction is a constant",
                    ));
                }
            }
            self.calls.push(Call {
                name: name.clone(),
                argument: value.map(ToString::to_string),
                distinct,
            });
            return Ok(());
        }
        let allowed = ARGUMENT_FUNCTIONS.contains(&name.as_str())
            || (!matches!(place, Place::Argument { .. })
                && SCALAR_FUNCTIONS.contains(&name.as_str()));
        if !allowed || distinct || !f.within_group.is_empty() {
            return Err(refuse(
                &format!("沙箱中不能使用函数 {}", f.name),
                &format!("the function {} is not available in the sandbox", f.name),
            ));
        }
        for a in args {
            match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => {
                    self.walk(e, place, depth)?;
                }
                _ => return Err(refuse("不支持的函数参数", "unsupported function argument")),
            }
        }
        Ok(())
    }

    fn table(&mut self, factor: &TableFactor) -> Result<String, QueryError> {
        let TableFactor::Table {
            name,
            alias,
            args,
            with_hints,
            version,
            with_ordinality,
            partitions,
            json_path,
            sample,
            index_hints,
        } = factor
        else {
            return Err(refuse(
                "FROM 只能是授权的表（不能是子查询或表函数）",
                "FROM names granted tables only (no subquery or table function)",
            ));
        };
        if args.is_some()
            || !with_hints.is_empty()
            || version.is_some()
            || *with_ordinality
            || !partitions.is_empty()
            || json_path.is_some()
            || sample.is_some()
            || !index_hints.is_empty()
            || alias.as_ref().is_some_and(|a| !a.columns.is_empty())
        {
            return Err(refuse("不支持的表写法", "unsupported table syntax"));
        }
        let table_name = single_name(name).map(normalised).unwrap_or_default();
        let index = self
            .tables
            .iter()
            .position(|t| t.table.name.eq_ignore_ascii_case(&table_name))
            .ok_or_else(|| {
                refuse(
                    &format!("没有可在沙箱中使用的表 {name}"),
                    &format!("no table {name} is available to you in the sandbox"),
                )
            })?;
        let key = alias.as_ref().map_or(table_name, |a| normalised(&a.name));
        if self.aliases.insert(key.clone(), index).is_some() {
            return Err(refuse(
                &format!("表名 {key} 重复"),
                &format!("the table name {key} is used twice"),
            ));
        }
        Ok(key)
    }

    /// `a.id = b.id [AND …]` joins on identifying columns; anything else is a filter.
    fn join_condition(&mut self, expr: &Expr, depth: usize) -> Result<(), QueryError> {
        match expr {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => {
                self.join_condition(left, depth + 1)?;
                self.join_condition(right, depth + 1)
            }
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } if self.identifying_ref(left)?.is_some()
                && self.identifying_ref(right)?.is_some() =>
            {
                Ok(())
            }
            Expr::Nested(e) => self.join_condition(e, depth + 1),
            other => self.walk(other, Place::Filter, depth),
        }
    }

    fn join(&mut self, join: &Join) -> Result<String, QueryError> {
        let Join {
            relation,
            global,
            join_operator,
        } = join;
        if *global {
            return Err(refuse("不支持的连接写法", "unsupported join syntax"));
        }
        let constraint = match join_operator {
            JoinOperator::Join(c)
            | JoinOperator::Inner(c)
            | JoinOperator::Left(c)
            | JoinOperator::LeftOuter(c)
            | JoinOperator::Right(c)
            | JoinOperator::RightOuter(c)
            | JoinOperator::FullOuter(c) => c,
            _ => {
                return Err(refuse(
                    "只能用 ON 或 USING 条件连接表（不能交叉连接）",
                    "tables are joined with ON or USING (no cross join)",
                ));
            }
        };
        let key = self.table(relation)?;
        match constraint {
            JoinConstraint::On(e) => self.join_condition(e, 0)?,
            JoinConstraint::Using(columns) => {
                for c in columns {
                    let Some(ident) = single_name(c) else {
                        return Err(refuse("不支持的连接写法", "unsupported join syntax"));
                    };
                    self.column(None, ident)?;
                }
            }
            _ => {
                return Err(refuse(
                    "只能用 ON 或 USING 条件连接表（不能交叉连接）",
                    "tables are joined with ON or USING (no cross join)",
                ));
            }
        }
        Ok(key)
    }
}

fn condition_in_argument() -> QueryError {
    refuse(
        "聚合函数的参数只能是列的算术运算，不能含条件；请用 WHERE 和 GROUP BY 分组",
        "an aggregate's argument is arithmetic over columns, without conditions: filter with WHERE and group with GROUP BY",
    )
}

fn unsupported(what: &str) -> QueryError {
    refuse(
        &format!("沙箱中不能使用 {what}"),
        &format!("{what} is not available in the sandbox"),
    )
}

/// Checks a sandbox query and rewrites it for the disclosure control.
pub fn prepare(
    sql: &str,
    tables: &[SandboxTable],
    limits: &SandboxLimits,
) -> Result<Prepared, QueryError> {
    if sql.len() > limits.max_sql_bytes {
        return Err(refuse("SQL 语句过长", "the SQL text is too long"));
    }
    let DfStatement::Statement(statement) = parse_select(sql)? else {
        return Err(unsupported("this statement"));
    };
    let Statement::Query(mut query) = *statement else {
        return Err(unsupported("this statement"));
    };
    let Query {
        with,
        body,
        order_by,
        limit_clause,
        fetch,
        locks,
        for_clause,
        settings,
        format_clause,
        pipe_operators,
    } = &*query;
    if with.is_some() {
        return Err(unsupported("WITH"));
    }
    if fetch.is_some()
        || !locks.is_empty()
        || for_clause.is_some()
        || settings.is_some()
        || format_clause.is_some()
        || !pipe_operators.is_empty()
    {
        return Err(unsupported("this clause"));
    }
    let SetExpr::Select(select) = &**body else {
        return Err(unsupported("UNION / VALUES"));
    };
    let Select {
        select_token: _,
        optimizer_hints,
        distinct,
        select_modifiers,
        top,
        top_before_distinct: _,
        projection,
        exclude,
        into,
        from,
        lateral_views,
        prewhere,
        selection,
        connect_by,
        group_by,
        cluster_by,
        distribute_by,
        sort_by,
        having,
        named_window,
        qualify,
        window_before_qualify: _,
        value_table_mode,
        flavor,
    } = &**select;
    if distinct.is_some() {
        return Err(unsupported("DISTINCT"));
    }
    if having.is_some() {
        return Err(refuse(
            "沙箱中不能使用 HAVING，请在结果中筛选",
            "HAVING is not available in the sandbox: filter the result instead",
        ));
    }
    if !optimizer_hints.is_empty()
        || select_modifiers.is_some()
        || top.is_some()
        || exclude.is_some()
        || into.is_some()
        || !lateral_views.is_empty()
        || prewhere.is_some()
        || !connect_by.is_empty()
        || !cluster_by.is_empty()
        || !distribute_by.is_empty()
        || !sort_by.is_empty()
        || !named_window.is_empty()
        || qualify.is_some()
        || value_table_mode.is_some()
        || *flavor != datafusion::sql::sqlparser::ast::SelectFlavor::Standard
    {
        return Err(unsupported("this clause"));
    }

    let mut guard = Guard {
        tables,
        limits,
        aliases: HashMap::new(),
        calls: Vec::new(),
    };
    let [TableWithJoins { relation, joins }] = from.as_slice() else {
        return Err(refuse(
            "FROM 须为一张表，其他表用 JOIN … ON 连接",
            "FROM names one table; join others with JOIN … ON",
        ));
    };
    let mut keys = vec![guard.table(relation)?];
    for j in joins {
        keys.push(guard.join(j)?);
    }
    if let Some(w) = selection.as_ref() {
        guard.walk(w, Place::Filter, 0)?;
    }
    let group_exprs = match group_by {
        GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => exprs.clone(),
        _ => return Err(unsupported("GROUP BY ALL / ROLLUP / CUBE")),
    };
    if group_exprs.len() > limits.max_group_columns {
        return Err(refuse(
            &format!("GROUP BY 最多 {} 列", limits.max_group_columns),
            &format!(
                "GROUP BY takes at most {} columns",
                limits.max_group_columns
            ),
        ));
    }
    for g in &group_exprs {
        guard.walk(g, Place::Filter, 0)?;
    }

    let mut outputs: Vec<(Expr, Option<String>)> = Vec::new();
    let mut count_cells = Vec::new();
    for (i, item) in projection.iter().enumerate() {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(normalised(alias))),
            _ => {
                return Err(refuse(
                    "沙箱只返回聚合结果，不能用 * 取出明细",
                    "the sandbox returns aggregates only: * would return rows",
                ));
            }
        };
        let before = guard.calls.len();
        guard.walk(expr, Place::Output, 0)?;
        if let Expr::Function(f) = expr
            && guard.calls.len() == before + 1
            && guard.calls[before].name == "count"
            && single_name(&f.name).is_some()
        {
            count_cells.push(i);
        }
        outputs.push((expr.clone(), alias));
    }
    if guard.calls.is_empty() && group_exprs.is_empty() {
        return Err(refuse(
            "沙箱只返回聚合结果：请使用 COUNT、SUM、AVG 等聚合函数或 GROUP BY",
            "the sandbox returns aggregates only: use COUNT, SUM, AVG … or GROUP BY",
        ));
    }

    // ORDER BY may only name what is output: a position, an alias or an output expression.
    if let Some(o) = order_by.as_ref() {
        let OrderByKind::Expressions(list) = &o.kind else {
            return Err(unsupported("ORDER BY ALL"));
        };
        if o.interpolate.is_some() {
            return Err(unsupported("INTERPOLATE"));
        }
        for e in list {
            let named = match &e.expr {
                Expr::Value(v) => matches!(v.value, Value::Number(..)),
                Expr::Identifier(id) => outputs
                    .iter()
                    .any(|(x, a)| a.as_deref() == Some(normalised(id).as_str()) || x == &e.expr),
                other => outputs.iter().any(|(x, _)| x == other),
            };
            if !named || e.with_fill.is_some() {
                return Err(refuse(
                    "ORDER BY 只能按输出列排序",
                    "ORDER BY sorts by output columns only",
                ));
            }
        }
    }
    match limit_clause.as_ref() {
        None => {}
        Some(LimitClause::LimitOffset {
            limit: Some(Expr::Value(v)),
            offset: None,
            limit_by,
        }) if limit_by.is_empty() && matches!(v.value, Value::Number(..)) => {}
        Some(_) => return Err(refuse("LIMIT 须为一个数字", "LIMIT takes one number")),
    }

    let canonical = query.to_string();
    let filter = selection
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let fingerprint = {
        let mut shape = query.clone();
        if let SetExpr::Select(s) = &mut *shape.body {
            s.selection = None;
        }
        hex::encode(Sha256::digest(shape.to_string().as_bytes()))
    };

    // The hidden columns, after the caller's.
    let visible = outputs.len();
    let mut hidden: Vec<String> = Vec::new();
    hidden.push(if keys.len() == 1 {
        "COUNT(*)".to_owned()
    } else {
        let counts: Vec<String> = keys
            .iter()
            .map(|k| {
                format!(
                    "COUNT(DISTINCT {}.{})",
                    quoted(k),
                    quoted(crate::query::ROW)
                )
            })
            .collect();
        format!("least({})", counts.join(", "))
    });
    let mut inputs = 0;
    for c in &guard.calls {
        if let Some(arg) = &c.argument {
            let d = if c.distinct && c.name == "count" {
                "DISTINCT "
            } else {
                ""
            };
            hidden.push(format!("COUNT({d}{arg})"));
            inputs += 1;
        }
    }
    let mut magnitudes = 0;
    for c in &guard.calls {
        if matches!(c.name.as_str(), "sum" | "avg" | "mean")
            && let Some(arg) = &c.argument
        {
            let v = format!("CAST(abs({arg}) AS DOUBLE)");
            hidden.push(format!("gs_top2({v})"));
            hidden.push(format!("SUM({v})"));
            magnitudes += 1;
        }
    }
    for g in &group_exprs {
        let expr = match g {
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => n
                    .parse::<usize>()
                    .ok()
                    .and_then(|p| outputs.get(p.wrapping_sub(1)))
                    .map(|(e, _)| e.clone())
                    .ok_or_else(|| {
                        refuse("GROUP BY 的位置超出范围", "GROUP BY position out of range")
                    })?,
                _ => g.clone(),
            },
            Expr::Identifier(id) => outputs
                .iter()
                .find(|(_, a)| a.as_deref() == Some(normalised(id).as_str()))
                .map_or_else(|| g.clone(), |(e, _)| e.clone()),
            _ => g.clone(),
        };
        hidden.push(format!("CAST({expr} AS VARCHAR)"));
    }
    let SetExpr::Select(select) = &mut *query.body else {
        return Err(unsupported("UNION / VALUES"));
    };
    for (i, text) in hidden.iter().enumerate() {
        select.projection.push(SelectItem::ExprWithAlias {
            expr: parse_expr(text)?,
            alias: Ident::with_quote('"', format!("__gs_{i}")),
        });
    }
    Ok(Prepared {
        statement: DfStatement::Statement(Box::new(Statement::Query(query))),
        visible,
        count_cells,
        inputs,
        magnitudes,
        keys: group_exprs.len(),
        canonical,
        fingerprint,
        filter,
    })
}

pub(crate) fn int_at(batch: &RecordBatch, column: usize, row: usize) -> u64 {
    let Ok(a) = cast(batch.column(column), &DataType::Int64) else {
        return 0;
    };
    a.as_any()
        .downcast_ref::<Int64Array>()
        .filter(|a| !a.is_null(row))
        .map_or(0, |a| u64::try_from(a.value(row)).unwrap_or(0))
}

pub(crate) fn float_at(batch: &RecordBatch, column: usize, row: usize) -> f64 {
    let Ok(a) = cast(batch.column(column), &DataType::Float64) else {
        return 0.0;
    };
    a.as_any()
        .downcast_ref::<Float64Array>()
        .filter(|a| !a.is_null(row))
        .map_or(0.0, |a| a.value(row))
}

pub(crate) fn text_at(batch: &RecordBatch, column: usize, row: usize) -> String {
    let Ok(a) = cast(batch.column(column), &DataType::Utf8) else {
        return String::new();
    };
    match a
        .as_any()
        .downcast_ref::<datafusion::arrow::array::StringArray>()
    {
        Some(s) if !s.is_null(row) => s.value(row).to_owned(),
        _ => "\u{2205}".to_owned(),
    }
}

impl Engine {
    /// Runs a rewritten sandbox statement. An engine error can quote a value of the data
    /// (a failed cast names the text it could not convert): in the sandbox it is told
    /// without its detail.
    pub(crate) async fn run_without_detail(
        &self,
        tables: &[TableRef],
        statement: &DfStatement,
        timeout: Option<std::time::Duration>,
    ) -> Result<SqlResult, QueryError> {
        self.run_limited(tables.to_vec(), statement.clone(), timeout)
            .await
            .map_err(|e| match e {
                QueryError::BadRequest(_) => refuse(
                    "查询无法执行：请检查列名、分组和类型转换（沙箱不显示可能含数据值的错误详情）",
                    "the query could not run: check its column names, grouping and casts (the sandbox does not show error details, which could quote data)",
                ),
                other => other,
            })
    }

    /// Runs a prepared sandbox query and releases what the profile allows.
    pub async fn sandbox(
        &self,
        tables: &[TableRef],
        prepared: &Prepared,
        profile: &Profile,
        timeout: Option<std::time::Duration>,
    ) -> Result<SandboxOutcome, QueryError> {
        let raw = self
            .run_without_detail(tables, &prepared.statement, timeout)
            .await?;
        let batch = concat_batches(&raw.schema, &raw.batches)
            .map_err(|e| QueryError::Engine(e.to_string()))?;
        let n_at = prepared.visible;
        let inputs_at = n_at + 1;
        let magnitudes_at = inputs_at + prepared.inputs;
        let keys_at = magnitudes_at + 2 * prepared.magnitudes;
        let groups: Vec<GroupFacts> = (0..batch.num_rows())
            .map(|r| GroupFacts {
                keys: (0..prepared.keys)
                    .map(|k| text_at(&batch, keys_at + k, r))
                    .collect(),
                rows: int_at(&batch, n_at, r),
                inputs: (0..prepared.inputs)
                    .map(|k| int_at(&batch, inputs_at + k, r))
                    .collect(),
                magnitudes: (0..prepared.magnitudes)
                    .map(|k| {
                        let at = magnitudes_at + 2 * k;
                        (float_at(&batch, at, r), float_at(&batch, at + 1, r))
                    })
                    .collect(),
            })
            .collect();
        let decisions = protect(&groups, profile);
        let keep: BooleanArray = decisions.iter().map(|d| Some(d.is_none())).collect();
        let kept =
            filter_record_batch(&batch, &keep).map_err(|e| QueryError::Engine(e.to_string()))?;
        let fields: Vec<Field> = raw.schema.fields()[..prepared.visible]
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut columns: Vec<ArrayRef> = kept.columns()[..prepared.visible].to_vec();
        let mut fields = fields;
        for &i in &prepared.count_cells {
            let counts = cast(&columns[i], &DataType::Int64)
                .map_err(|e| QueryError::Engine(e.to_string()))?;
            let counts = counts
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| QueryError::Engine("count expected".into()))?;
            let rounded: Int64Array = counts
                .iter()
                .map(|v| v.map(|v| round_count(v, profile.round_to)))
                .collect();
            columns[i] = Arc::new(rounded);
            fields[i] = Field::new(fields[i].name(), DataType::Int64, true);
        }
        let schema = Arc::new(Schema::new(fields));
        let released = RecordBatch::try_new(Arc::clone(&schema), columns)
            .map_err(|e| QueryError::Engine(e.to_string()))?;
        let withheld = groups
            .iter()
            .zip(&decisions)
            .filter_map(|(g, d)| d.map(|d| (g.keys.clone(), d)))
            .collect();
        let group_sizes = groups
            .iter()
            .map(|g| (g.keys.join("\u{1f}"), g.rows))
            .collect();
        Ok(SandboxOutcome {
            result: SqlResult {
                schema,
                batches: vec![released],
                truncated: raw.truncated,
            },
            withheld,
            group_sizes,
        })
    }
}

/// `gs_top2(x)`: the sum of the two largest values of `x` (non-negative by the rewrite),
/// for the dominance rule. Two numbers of state per group, whatever its size. Nulls and
/// values not above zero add nothing; a group without values gives 0.
pub(crate) fn top_two_udaf() -> AggregateUDF {
    AggregateUDF::from(TopTwoUdf {
        signature: datafusion::logical_expr::Signature::exact(
            vec![DataType::Float64],
            Volatility::Immutable,
        ),
    })
}

/// The function's definition: a row-by-row [`Accumulator`] where there is no GROUP BY,
/// and a [`GroupsAccumulator`](datafusion::logical_expr::GroupsAccumulator) that keeps
/// every group's two values in one vector where there is (the adapter DataFusion would
/// otherwise put around the row-by-row one sorts each batch by group and makes an
/// accumulator call per group and batch).
#[derive(Debug, PartialEq, Eq, Hash)]
struct TopTwoUdf {
    signature: datafusion::logical_expr::Signature,
}

impl datafusion::logical_expr::AggregateUDFImpl for TopTwoUdf {
    fn name(&self) -> &str {
        "gs_top2"
    }

    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Float64)
    }

    fn accumulator(
        &self,
        _args: datafusion::logical_expr::function::AccumulatorArgs,
    ) -> DfResult<Box<dyn Accumulator>> {
        Ok(Box::new(TopTwo::default()))
    }

    fn state_fields(
        &self,
        args: datafusion::logical_expr::function::StateFieldsArgs,
    ) -> DfResult<Vec<Arc<Field>>> {
        let field = |what: &str| {
            let name = datafusion::logical_expr::utils::format_state_name(args.name, what);
            Arc::new(Field::new(name, DataType::Float64, true))
        };
        Ok(vec![field("first"), field("second")])
    }

    fn groups_accumulator_supported(
        &self,
        _args: datafusion::logical_expr::function::AccumulatorArgs,
    ) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        _args: datafusion::logical_expr::function::AccumulatorArgs,
    ) -> DfResult<Box<dyn datafusion::logical_expr::GroupsAccumulator>> {
        Ok(Box::new(TopTwoGroups::default()))
    }
}

/// The largest and second-largest value seen, both starting at 0.
#[derive(Debug, Default, Clone, Copy)]
struct TopTwo {
    first: f64,
    second: f64,
}

impl TopTwo {
    fn push(&mut self, v: f64) {
        if v > self.first {
            self.second = self.first;
            self.first = v;
        } else if v > self.second {
            self.second = v;
        }
    }

    fn take(&mut self, a: &ArrayRef) -> DfResult<()> {
        let a = cast(a, &DataType::Float64)?;
        if let Some(f) = a.as_any().downcast_ref::<Float64Array>() {
            for v in f.iter().flatten() {
                self.push(v);
            }
        }
        Ok(())
    }
}

impl Accumulator for TopTwo {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        values.first().map_or(Ok(()), |a| self.take(a))
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        Ok(ScalarValue::Float64(Some(self.first + self.second)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::Float64(Some(self.first)),
            ScalarValue::Float64(Some(self.second)),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        for s in states.iter().take(2) {
            self.take(s)?;
        }
        Ok(())
    }
}

/// [`TopTwo`] for every group at once, indexed by DataFusion's group index.
#[derive(Debug, Default)]
struct TopTwoGroups {
    tops: Vec<TopTwo>,
}

/// `a` as Float64 values (cast if it is of another type; the signature makes it Float64).
fn float64s(a: &ArrayRef) -> DfResult<Float64Array> {
    let a = cast(a, &DataType::Float64)?;
    Ok(a.as_any()
        .downcast_ref::<Float64Array>()
        .cloned()
        .unwrap_or_else(|| Float64Array::from(Vec::<f64>::new())))
}

impl TopTwoGroups {
    /// Pushes each row's valid value, where `keep` allows the row, into its group.
    fn push_all(
        &mut self,
        values: &Float64Array,
        group_indices: &[usize],
        keep: Option<&BooleanArray>,
        total_num_groups: usize,
    ) {
        self.tops.resize(total_num_groups, TopTwo::default());
        let tops = &mut self.tops;
        if values.null_count() == 0 && keep.is_none() {
            for (&g, &v) in group_indices.iter().zip(values.values().iter()) {
                tops[g].push(v);
            }
        } else {
            let kept = |i: usize| keep.is_none_or(|k| k.is_valid(i) && k.value(i));
            for (i, (&g, &v)) in group_indices.iter().zip(values.values().iter()).enumerate() {
                if values.is_valid(i) && kept(i) {
                    tops[g].push(v);
                }
            }
        }
    }
}

impl datafusion::logical_expr::GroupsAccumulator for TopTwoGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> DfResult<()> {
        self.tops.resize(total_num_groups, TopTwo::default());
        if let Some(a) = values.first() {
            self.push_all(&float64s(a)?, group_indices, opt_filter, total_num_groups);
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: datafusion::logical_expr::EmitTo) -> DfResult<ArrayRef> {
        let tops = emit_to.take_needed(&mut self.tops);
        Ok(Arc::new(Float64Array::from_iter_values(
            tops.iter().map(|t| t.first + t.second),
        )))
    }

    fn state(&mut self, emit_to: datafusion::logical_expr::EmitTo) -> DfResult<Vec<ArrayRef>> {
        let tops = emit_to.take_needed(&mut self.tops);
        Ok(vec![
            Arc::new(Float64Array::from_iter_values(tops.iter().map(|t| t.first))),
            Arc::new(Float64Array::from_iter_values(
                tops.iter().map(|t| t.second),
            )),
        ])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> DfResult<()> {
        self.tops.resize(total_num_groups, TopTwo::default());
        for s in values.iter().take(2) {
            self.push_all(&float64s(s)?, group_indices, None, total_num_groups);
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> DfResult<Vec<ArrayRef>> {
        // Each row its own group: its value as the first, if it counts, and 0 second.
        let v = match values.first() {
            Some(a) => float64s(a)?,
            None => Float64Array::from(Vec::<f64>::new()),
        };
        let kept = |i: usize| opt_filter.is_none_or(|k| k.is_valid(i) && k.value(i));
        let mut first = Vec::with_capacity(v.len());
        for i in 0..v.len() {
            let mut t = TopTwo::default();
            if v.is_valid(i) && kept(i) {
                t.push(v.value(i));
            }
            first.push(t.first);
        }
        let second = vec![0.0; first.len()];
        Ok(vec![
            Arc::new(Float64Array::from(first)),
            Arc::new(Float64Array::from(second)),
        ])
    }

    fn size(&self) -> usize {
        self.tops.capacity() * std::mem::size_of::<TopTwo>() + std::mem::size_of_val(self)
    }
}

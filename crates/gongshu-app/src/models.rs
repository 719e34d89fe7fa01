//! Models a provider publishes over its data (R7.2, SD-OPEN §11(三) "以算法模型提供结果
//! 数据"): a parameterised aggregate query, checked by the sandbox's guard when it is
//! saved, that the entry's sandbox grantees, or everyone if the provider chooses, run
//! with their own parameter values. A run is a sandbox query like any other (disclosure
//! control, audit, differencing), released without review: the provider approved the
//! query when it published it.
//!
//! Parameters are written `:name` in the query. Their values are checked against the
//! parameter's type (and its choices or range) and become SQL literals; a text value is
//! quoted with its quotes doubled, so it cannot end the literal.

use chrono::{DateTime, Utc};
use gongshu_core::authz::{self, Principal};
use gongshu_core::{Error, ErrorCode};
use gongshu_data::sandbox::{SandboxLimits, SandboxTable, prepare};
use gongshu_store::SandboxModelRow;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::AuditEvent;
use crate::catalog::scope;
use crate::data::query_error;
use crate::sandbox::{SandboxInput, SandboxQueryView, named_tables};
use crate::{App, Result, store_error};

const MAX_PARAMS: usize = 8;
const MAX_TEXT_CHARS: usize = 100;
const MAX_CHOICES: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    Integer,
    Number,
    Text,
    /// `YYYY-MM-DD`.
    Date,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelParam {
    /// Written `:name` in the query: ASCII letters, digits and `_`.
    pub name: String,
    /// What the person running the model is asked for.
    pub label: String,
    #[serde(rename = "type")]
    pub param_type: ParamType,
    /// Used when a run gives no value, and to check the query when it is saved.
    pub default: String,
    /// The only values allowed, if the provider lists them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// Bounds of an integer or number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelInput {
    pub dataset_id: i64,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// One aggregate SELECT over the entry's tables, with `:name` parameters.
    pub sql: String,
    #[serde(default)]
    pub params: Vec<ModelParam>,
    /// Anyone signed in may run it (for data open on any terms); otherwise the entry's
    /// sandbox grantees only.
    #[serde(default)]
    pub public: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelView {
    pub id: i64,
    pub dataset_id: i64,
    pub provider_id: i64,
    pub name: String,
    pub description: String,
    pub sql: String,
    pub params: Vec<ModelParam>,
    pub public: bool,
    /// `active` or `retired`.
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One run: each parameter's value (absent ones take the default).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelRun {
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ModelDoc {
    name: String,
    description: String,
    sql: String,
    params: Vec<ModelParam>,
}

fn invalid(zh: impl Into<String>, en: impl Into<String>) -> Error {
    Error::new(ErrorCode::Validation, zh, en)
}

/// The value as a SQL literal of the parameter's type, or why it is refused.
pub fn literal(p: &ModelParam, value: &str) -> Result<String> {
    let value = value.trim();
    let bad = |why_zh: &str, why_en: &str| {
        invalid(
            format!("参数“{}”{why_zh}", p.label),
            format!("Parameter {:?} {why_en}", p.name),
        )
    };
    if !p.choices.is_empty() && !p.choices.iter().any(|c| c == value) {
        return Err(bad("不是可选的值", "is not one of its choices"));
    }
    let in_range = |x: f64| p.min.is_none_or(|m| x >= m) && p.max.is_none_or(|m| x <= m);
    match p.param_type {
        ParamType::Integer => {
            let n: i64 = value
                .parse()
                .map_err(|_| bad("须为整数", "must be an integer"))?;
            if !in_range(n as f64) {
                return Err(bad("超出范围", "is out of range"));
            }
            Ok(n.to_string())
        }
        ParamType::Number => {
            let x: f64 = value
                .parse()
                .ok()
                .filter(|x: &f64| x.is_finite())
                .ok_or_else(|| bad("须为数字", "must be a number"))?;
            if !in_range(x) {
                return Err(bad("超出范围", "is out of range"));
            }
            Ok(format!("{x:?}"))
        }
        ParamType::Date => {
            let d: chrono::NaiveDate = value
                .parse()
                .map_err(|_| bad("须为日期（年-月-日）", "must be a date (YYYY-MM-DD)"))?;
            Ok(format!("CAST('{d}' AS DATE)"))
        }
        ParamType::Text => {
            if value.chars().count() > MAX_TEXT_CHARS || value.chars().any(char::is_control) {
                return Err(bad(
                    "过长或含控制字符",
                    "is too long or holds control characters",
                ));
            }
            Ok(format!("'{}'", value.replace('\'', "''")))
        }
    }
}

/// The query with each `:name` replaced by its value's literal. `::` (a cast) and text
/// inside quotes are left as they are.
pub fn bind(sql: &str, params: &[ModelParam], values: &[(String, String)]) -> Result<String> {
    let mut out = String::with_capacity(sql.len() + 32);
    let mut chars = sql.char_indices().peekable();
    let mut quoted = false;
    while let Some((_, c)) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
            out.push(c);
            continue;
        }
        if quoted || c != ':' {
            out.push(c);
            continue;
        }
        if chars.peek().is_some_and(|(_, n)| *n == ':') {
            out.push_str("::");
            chars.next();
            continue;
        }
        let mut name = String::new();
        while let Some((_, n)) = chars.peek().copied() {
            if n.is_ascii_alphanumeric() || n == '_' {
                name.push(n);
                chars.next();
            } else {
                break;
            }
        }
        if name.is_empty() {
            out.push(':');
            continue;
        }
        let p = params.iter().find(|p| p.name == name).ok_or_else(|| {
            invalid(
                format!("查询中的参数“:{name}”未声明"),
                format!("The query's parameter :{name} is not declared"),
            )
        })?;
        let value = values
            .iter()
            .find(|(k, _)| *k == name)
            .map_or(p.default.as_str(), |(_, v)| v.as_str());
        out.push_str(&literal(p, value)?);
    }
    Ok(out)
}

fn check_params(params: &[ModelParam]) -> Result<()> {
    if params.len() > MAX_PARAMS {
        return Err(invalid(
            format!("参数至多{MAX_PARAMS}个"),
            format!("At most {MAX_PARAMS} parameters"),
        ));
    }
    for (i, p) in params.iter().enumerate() {
        let well_named = !p.name.is_empty()
            && p.name.len() <= 40
            && p.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !well_named || params[..i].iter().any(|q| q.name == p.name) {
            return Err(invalid(
                format!("参数名“{}”须由字母、数字、下划线组成且不重复", p.name),
                format!(
                    "Parameter name {:?} must be letters, digits and _, once",
                    p.name
                ),
            ));
        }
        if p.label.trim().is_empty() || p.label.chars().count() > 100 {
            return Err(invalid(
                format!("参数“{}”须有不超过100字的说明", p.name),
                format!(
                    "Parameter {:?} needs a label of at most 100 characters",
                    p.name
                ),
            ));
        }
        if p.choices.len() > MAX_CHOICES {
            return Err(invalid(
                format!("参数“{}”的可选值至多{MAX_CHOICES}个", p.name),
                format!("Parameter {:?} has over {MAX_CHOICES} choices", p.name),
            ));
        }
        for c in &p.choices {
            literal(p, c)?;
        }
        literal(p, &p.default)?;
    }
    Ok(())
}

impl App {
    /// Whether the caller may see the entry: published, or theirs to work on.
    async fn see_entry(&self, caller: Option<&Principal>, dataset_id: i64) -> Result<()> {
        if self.public_dataset(dataset_id).await.is_ok() {
            return Ok(());
        }
        match caller {
            Some(p) => self.working_dataset(p, dataset_id).await.map(|_| ()),
            None => Err(Error::not_found("数据集", "dataset")),
        }
    }

    fn model_view(row: &SandboxModelRow) -> Result<ModelView> {
        let doc: ModelDoc = serde_json::from_str(&row.doc).map_err(|_| Error::internal())?;
        Ok(ModelView {
            id: row.id,
            dataset_id: row.dataset_id,
            provider_id: row.provider_id,
            name: doc.name,
            description: doc.description,
            sql: doc.sql,
            params: doc.params,
            public: row.public,
            state: row.state.clone(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    /// The provider publishes a model over one of its entries. The query, with every
    /// parameter at its default, must pass the sandbox's guard and name only the
    /// entry's tables.
    pub async fn create_model(&self, caller: &Principal, input: ModelInput) -> Result<ModelView> {
        let dataset = self.dataset_row(input.dataset_id).await?;
        if !authz::can_edit_entry(caller, scope(&dataset)) {
            return Err(Error::forbidden());
        }
        let name = input.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 || input.description.chars().count() > 2000
        {
            return Err(invalid(
                "模型名称须为1至100字，说明不超过2000字",
                "A model's name is 1 to 100 characters, its description at most 2000",
            ));
        }
        check_params(&input.params)?;
        let sql = bind(&input.sql, &input.params, &[])?;
        let limits = SandboxLimits::default();
        if input.sql.len() > limits.max_sql_bytes {
            return Err(invalid("查询过长", "The query is too long"));
        }
        let mut tables = Vec::new();
        for name in named_tables(&sql) {
            let Some(r) = self
                .store
                .get_resource_by_table(&name)
                .await
                .map_err(store_error)?
                .filter(|r| r.dataset_id == dataset.id)
            else {
                continue;
            };
            let readable = self
                .readable(
                    Some(caller),
                    &r.id,
                    gongshu_core::access::AccessMode::Sandbox,
                )
                .await?;
            tables.push(SandboxTable {
                table: readable.table(),
                identifying: self.identifying_columns(&readable).await?,
            });
        }
        if tables.is_empty() {
            return Err(invalid(
                "查询须使用该数据集的表",
                "The query must use this entry's tables",
            ));
        }
        prepare(&sql, &tables, &limits).map_err(query_error)?;
        let now = self.now();
        let doc = ModelDoc {
            name,
            description: input.description,
            sql: input.sql,
            params: input.params,
        };
        let row = SandboxModelRow {
            id: 0,
            dataset_id: dataset.id,
            provider_id: dataset.provider_id,
            public: input.public,
            state: "active".into(),
            doc: serde_json::to_string(&doc).map_err(|_| Error::internal())?,
            created_by: caller.user_id,
            created_at: now,
            updated_at: now,
        };
        let saved = self
            .store
            .insert_sandbox_model(&row)
            .await
            .map_err(store_error)?;
        self.audit(
            Some(caller),
            AuditEvent {
                action: "model.publish".into(),
                object: format!("model:{}", saved.id),
                dataset: Some(dataset.id),
                outcome: "ok",
                ..AuditEvent::default()
            },
        )
        .await?;
        Self::model_view(&saved)
    }

    async fn model_row(&self, caller: Option<&Principal>, id: i64) -> Result<SandboxModelRow> {
        let row = self
            .store
            .get_sandbox_model(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found("模型", "model"))?;
        // Whoever may see the entry may see its models.
        self.see_entry(caller, row.dataset_id).await?;
        Ok(row)
    }

    pub async fn model(&self, caller: Option<&Principal>, id: i64) -> Result<ModelView> {
        Self::model_view(&self.model_row(caller, id).await?)
    }

    /// The active models over an entry.
    pub async fn models(
        &self,
        caller: Option<&Principal>,
        dataset_id: i64,
    ) -> Result<Vec<ModelView>> {
        self.see_entry(caller, dataset_id).await?;
        self.store
            .list_sandbox_models(dataset_id)
            .await
            .map_err(store_error)?
            .iter()
            .map(Self::model_view)
            .collect()
    }

    /// The provider retires a model: it is no longer listed or run.
    pub async fn retire_model(&self, caller: &Principal, id: i64) -> Result<ModelView> {
        let mut row = self.model_row(Some(caller), id).await?;
        let dataset = self.dataset_row(row.dataset_id).await?;
        if !authz::can_edit_entry(caller, scope(&dataset)) {
            return Err(Error::forbidden());
        }
        row.state = "retired".into();
        row.updated_at = self.now();
        self.store
            .save_sandbox_model(&row)
            .await
            .map_err(store_error)?;
        self.audit(
            Some(caller),
            AuditEvent {
                action: "model.retire".into(),
                object: format!("model:{id}"),
                dataset: Some(dataset.id),
                outcome: "ok",
                ..AuditEvent::default()
            },
        )
        .await?;
        Self::model_view(&row)
    }

    /// Runs a model with the caller's parameter values.
    pub async fn run_model(
        &self,
        caller: &Principal,
        id: i64,
        run: ModelRun,
    ) -> Result<SandboxQueryView> {
        let row = self.model_row(Some(caller), id).await?;
        if row.state != "active" {
            return Err(Error::new(
                ErrorCode::InvalidState,
                "该模型已停用",
                "This model is retired",
            ));
        }
        let model = Self::model_view(&row)?;
        if let Some(extra) = run
            .params
            .keys()
            .find(|k| !model.params.iter().any(|p| &p.name == *k))
        {
            return Err(invalid(
                format!("模型没有参数“{extra}”"),
                format!("The model has no parameter {extra:?}"),
            ));
        }
        let values: Vec<(String, String)> = run.params.into_iter().collect();
        let sql = bind(&model.sql, &model.params, &values)?;
        self.run_sandbox_sql(
            caller,
            SandboxInput {
                sql,
                background: false,
            },
            Some((id, row.public)),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(name: &str, t: ParamType, default: &str) -> ModelParam {
        ModelParam {
            name: name.into(),
            label: name.into(),
            param_type: t,
            default: default.into(),
            choices: vec![],
            min: None,
            max: None,
        }
    }

    #[test]
    fn values_become_literals_that_cannot_escape() {
        let params = [
            param("year", ParamType::Integer, "2020"),
            param("district", ParamType::Text, "历下区"),
            param("since", ParamType::Date, "2020-01-01"),
        ];
        let sql = "SELECT COUNT(*) FROM t WHERE y >= :year AND d = :district AND s >= :since AND x::text <> ':year'";
        assert_eq!(
            bind(sql, &params, &[("district".into(), "x' OR '1'='1".into())]).unwrap(),
            "SELECT COUNT(*) FROM t WHERE y >= 2020 AND d = 'x'' OR ''1''=''1' AND s >= CAST('2020-01-01' AS DATE) AND x::text <> ':year'"
        );
        assert!(bind(sql, &params, &[("year".into(), "2020 OR 1=1".into())]).is_err());
        assert!(bind("SELECT :nope", &params, &[]).is_err());
        let mut bounded = param("n", ParamType::Number, "1");
        bounded.max = Some(10.0);
        assert!(literal(&bounded, "11").is_err());
        assert!(literal(&bounded, "NaN").is_err());
        let mut chosen = param("d", ParamType::Text, "a");
        chosen.choices = vec!["a".into(), "b".into()];
        assert!(literal(&chosen, "c").is_err());
        assert!(check_params(&[param("bad name", ParamType::Text, "a")]).is_err());
    }
}

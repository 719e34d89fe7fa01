//! The CKAN Action API v3 (issue 10), so that the open-data world's clients (`ckanapi`,
//! harvesters, portals built on CKAN) read Gongshu's public catalog as they read CKAN:
//! `/api/3/action/{name}` (and `/api/action/{name}`), by GET (query parameters) or POST (JSON or a form), answered
//! in CKAN's envelope. Only published entries are reachable, through the same use cases
//! as the public catalog.
//!
//! Names: a package is `gs-{id}` (its id is the entry's number), an organization
//! `org-{id}`, a group a priority domain's code. The Chinese metadata CKAN has no field
//! for travels in `extras`.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use gongshu_app::views::DatasetView;
use gongshu_core::types::Domain;
use gongshu_core::{Error, ErrorCode};
use gongshu_store::{PublishedQuery, PublishedSort};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::ctx::Ctx;

pub(crate) fn routes() -> Router<AppState> {
    // CKAN answers both; `ckanapi` calls the unversioned one.
    Router::new()
        .route("/api/3/action/{name}", get(action_get).post(action_post))
        .route("/api/action/{name}", get(action_get).post(action_post))
}

/// The actions answered, with what `help_show` says of each.
const ACTIONS: [(&str, &str); 13] = [
    (
        "status_show",
        "The site's title, address, description and CKAN version.",
    ),
    ("site_read", "Whether the site may be read: always true."),
    ("help_show", "This help: name, the action."),
    (
        "package_list",
        "The names (gs-{id}) of the published datasets; limit, offset.",
    ),
    (
        "package_show",
        "One published dataset with its resources; id (gs-{id} or the number).",
    ),
    (
        "package_search",
        "Search the published datasets: q, fq (organization, res_format, groups, tags), rows, start, sort, facet.field, facet.limit.",
    ),
    (
        "organization_list",
        "The providers' names (org-{id}); all_fields for the objects.",
    ),
    (
        "organization_show",
        "One provider; id (org-{id} or the number).",
    ),
    ("group_list", "The priority domains."),
    ("tag_list", "The keywords of the published datasets."),
    ("resource_show", "One resource of a published dataset; id."),
    (
        "datastore_search",
        "A table's rows through the access gate: resource_id, filters, q, fields, sort, limit, offset.",
    ),
    (
        "datastore_search_sql",
        "Read-only SQL over the tables the caller may read: sql.",
    ),
];

/// Rows a `package_search` returns at most (CKAN's default limit).
const MAX_ROWS: i64 = 1000;

struct CkanError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

fn not_found() -> CkanError {
    CkanError {
        status: StatusCode::NOT_FOUND,
        kind: "Not Found Error",
        message: "Not found".into(),
    }
}

fn invalid(message: impl Into<String>) -> CkanError {
    CkanError {
        status: StatusCode::CONFLICT,
        kind: "Validation Error",
        message: message.into(),
    }
}

impl CkanError {
    fn of(e: &Error) -> Self {
        match e.code {
            ErrorCode::NotFound => not_found(),
            ErrorCode::Forbidden | ErrorCode::Unauthenticated => Self {
                status: StatusCode::FORBIDDEN,
                kind: "Authorization Error",
                message: e.message_en.clone(),
            },
            ErrorCode::Validation | ErrorCode::BadRequest => invalid(e.message_en.clone()),
            _ => Self {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                kind: "Internal Error",
                message: "Internal error".into(),
            },
        }
    }
}

fn help(name: &str) -> String {
    format!("/api/3/action/help_show?name={name}")
}

fn envelope(name: &str, result: Result<Value, CkanError>) -> Response {
    match result {
        Ok(result) => {
            Json(json!({ "help": help(name), "success": true, "result": result })).into_response()
        }
        Err(e) => (
            e.status,
            Json(json!({ "help": help(name), "success": false,
                "error": { "__type": e.kind, "message": e.message } })),
        )
            .into_response(),
    }
}

async fn action_get(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(name): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let params: Map<String, Value> = q.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    let result = action(&s, &ctx, &name, &params).await;
    envelope(&name, result)
}

async fn action_post(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let params = if body.iter().all(u8::is_ascii_whitespace) {
        Ok(Map::new())
    } else if form {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
            .map(|pairs| {
                pairs
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect()
            })
            .map_err(|_| invalid("The form could not be read"))
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(CkanError {
                status: StatusCode::BAD_REQUEST,
                kind: "Bad request",
                message: "Bad request - JSON Error: the body must be a JSON object".into(),
            }),
        }
    };
    let result = match params {
        Ok(p) => action(&s, &ctx, &name, &p).await,
        Err(e) => Err(e),
    };
    envelope(&name, result)
}

fn text<'a>(p: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    p.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn number(p: &Map<String, Value>, key: &str, default: i64) -> Result<i64, CkanError> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| invalid(format!("{key}: not an integer"))),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(default),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| invalid(format!("{key}: not an integer"))),
        Some(_) => Err(invalid(format!("{key}: not an integer"))),
    }
}

/// The entry number a package's id or name names.
fn package_id(p: &Map<String, Value>) -> Result<i64, CkanError> {
    let id = text(p, "id").ok_or_else(|| invalid("Missing value: id"))?;
    id.strip_prefix("gs-")
        .unwrap_or(id)
        .parse()
        .map_err(|_| not_found())
}

async fn action(
    s: &AppState,
    ctx: &Ctx,
    name: &str,
    p: &Map<String, Value>,
) -> Result<Value, CkanError> {
    let app = &s.app;
    let fail = |e: Error| CkanError::of(&e);
    match name {
        "status_show" => Ok(json!({
            "site_title": "公数 Gongshu",
            "site_url": app.settings.public_url,
            "site_description": "公共数据开放平台 (public data platform)",
            "ckan_version": "2.10.0",
            "locale_default": "zh_Hans_CN",
            "extensions": ["gongshu"],
        })),
        "site_read" => Ok(Value::Bool(true)),
        "help_show" => {
            let of = text(p, "name").ok_or_else(|| invalid("Missing value: name"))?;
            ACTIONS
                .iter()
                .find(|(n, _)| *n == of)
                .map(|(_, help)| json!(help))
                .ok_or_else(not_found)
        }
        "datastore_search" => datastore_search(s, ctx, p).await,
        "datastore_search_sql" => {
            let sql = text(p, "sql").ok_or_else(|| invalid("Missing value: sql"))?;
            let (_, result) = app.sql(ctx.caller.as_ref(), sql).await.map_err(fail)?;
            Ok(json!({
                "sql": sql,
                "fields": datastore_fields(&result.schema),
                "records": records(&result)?,
            }))
        }
        "package_list" => {
            let limit = number(p, "limit", MAX_ROWS)?.clamp(1, MAX_ROWS);
            let offset = number(p, "offset", 0)?.max(0);
            let found = app
                .list_public_at(
                    PublishedQuery {
                        sort: PublishedSort::Code,
                        ..PublishedQuery::default()
                    },
                    offset,
                    limit,
                )
                .await
                .map_err(fail)?;
            Ok(Value::Array(
                found
                    .items
                    .iter()
                    .map(|d| json!(format!("gs-{}", d.id)))
                    .collect(),
            ))
        }
        "package_show" => {
            let id = package_id(p)?;
            let d = app.public_dataset(id).await.map_err(fail)?;
            package(s, ctx, &d).await
        }
        "package_search" => package_search(s, ctx, p).await,
        "resource_show" => {
            let id = text(p, "id").ok_or_else(|| invalid("Missing value: id"))?;
            let r = app.resource(ctx.caller.as_ref(), id).await.map_err(fail)?;
            // Only resources of published entries, as everything here.
            app.public_dataset(r.dataset_id).await.map_err(fail)?;
            Ok(resource(s, &r))
        }
        "organization_list" => {
            let all = p
                .get("all_fields")
                .is_some_and(|v| v == &json!(true) || v == &json!("true") || v == &json!("True"));
            let orgs = app
                .orgs(None, Some(gongshu_core::types::OrgKind::Provider))
                .await
                .map_err(fail)?;
            Ok(Value::Array(
                orgs.iter()
                    .map(|o| {
                        if all {
                            organization(o)
                        } else {
                            json!(format!("org-{}", o.id))
                        }
                    })
                    .collect(),
            ))
        }
        "organization_show" => {
            let id = text(p, "id").ok_or_else(|| invalid("Missing value: id"))?;
            let id: i64 = id
                .strip_prefix("org-")
                .unwrap_or(id)
                .parse()
                .map_err(|_| not_found())?;
            let o = app.org(id).await.map_err(fail)?;
            Ok(organization(&o))
        }
        "group_list" => Ok(Value::Array(
            Domain::ALL.iter().map(|d| json!(d.as_str())).collect(),
        )),
        "tag_list" => {
            // The keywords of the first thousand published entries: CKAN's free tags.
            let found = app
                .list_public_at(PublishedQuery::default(), 0, MAX_ROWS)
                .await
                .map_err(fail)?;
            let mut tags: Vec<String> = found
                .items
                .iter()
                .flat_map(|d| d.metadata.keywords.iter().cloned())
                .collect();
            tags.sort();
            tags.dedup();
            Ok(json!(tags))
        }
        _ => Err(CkanError {
            status: StatusCode::BAD_REQUEST,
            kind: "Bad request",
            message: format!("Bad request - Action name not known: {name}"),
        }),
    }
}

/// `fq` terms CKAN clients send: `organization:org-7`, `res_format:CSV`, `groups:health`,
/// `tags:医院` (several, space-separated, all of which must hold).
fn filters(fq: &str, q: &mut PublishedQuery) -> Result<Option<String>, CkanError> {
    let mut tag = None;
    for term in fq.split_whitespace() {
        let (field, value) = term
            .split_once(':')
            .ok_or_else(|| invalid(format!("fq: {term:?} is not field:value")))?;
        let value = value.trim_matches('"');
        match field.trim_start_matches('+') {
            "organization" | "owner_org" => {
                let id = value.strip_prefix("org-").unwrap_or(value);
                q.provider_id = Some(
                    id.parse()
                        .map_err(|_| invalid(format!("fq: no organization {value:?}")))?,
                );
            }
            "res_format" => q.format = Some(value.to_lowercase()),
            "groups" => {
                q.domain = Some(
                    Domain::parse(value)
                        .ok_or_else(|| invalid(format!("fq: no group {value:?}")))?,
                );
            }
            "tags" => tag = Some(value.to_owned()),
            other => return Err(invalid(format!("fq: field {other:?} is not supported"))),
        }
    }
    Ok(tag)
}

async fn package_search(
    s: &AppState,
    ctx: &Ctx,
    p: &Map<String, Value>,
) -> Result<Value, CkanError> {
    let rows = number(p, "rows", 10)?.clamp(0, MAX_ROWS);
    let start = number(p, "start", 0)?.max(0);
    let mut query = PublishedQuery {
        q: text(p, "q").filter(|q| *q != "*:*").map(str::to_owned),
        sort: match text(p, "sort") {
            None | Some("score desc") | Some("score desc, metadata_modified desc") => {
                PublishedSort::Relevance
            }
            Some("metadata_modified desc") => PublishedSort::Updated,
            Some("title_string asc" | "name asc") => PublishedSort::Title,
            Some(other) => return Err(invalid(format!("sort: {other:?} is not supported"))),
        },
        ..PublishedQuery::default()
    };
    let tag = match text(p, "fq") {
        Some(fq) => filters(fq, &mut query)?,
        None => None,
    };
    // A tag filter is a word that must appear (keywords are indexed with the rest).
    if let Some(tag) = tag {
        query.q = Some(match query.q.take() {
            Some(q) => format!("{q} {tag}"),
            None => tag,
        });
    }
    let found = s
        .app
        .list_public_at(query, start, rows.max(1))
        .await
        .map_err(|e| CkanError::of(&e))?;
    let mut results = Vec::new();
    if rows > 0 {
        for d in &found.items {
            results.push(package(s, ctx, d).await?);
        }
    }
    let facet_fields: Vec<String> = match p.get("facet.field") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or_else(|_| vec![s.clone()]),
        _ => Vec::new(),
    };
    let limit = number(p, "facet.limit", 50)?;
    let mut facets = Map::new();
    let mut search_facets = Map::new();
    let all = found.facets.unwrap_or_default();
    for field in facet_fields {
        let ours = match field.as_str() {
            "organization" => "provider",
            "res_format" => "format",
            "groups" => "domain",
            _ => continue,
        };
        let counts: Vec<_> = all
            .get(ours)
            .map(|v| v.iter().take(limit.max(0) as usize).collect())
            .unwrap_or_default();
        let name_of = |value: &str| match ours {
            "provider" => format!("org-{value}"),
            "format" => value.to_uppercase(),
            _ => value.to_owned(),
        };
        facets.insert(
            field.clone(),
            Value::Object(
                counts
                    .iter()
                    .map(|c| (name_of(&c.value), json!(c.count)))
                    .collect(),
            ),
        );
        search_facets.insert(
            field.clone(),
            json!({ "title": field, "items": counts.iter().map(|c| json!({
                "name": name_of(&c.value),
                "display_name": c.label.clone().unwrap_or_else(|| c.value.clone()),
                "count": c.count,
            })).collect::<Vec<_>>() }),
        );
    }
    Ok(json!({
        "count": found.total,
        "results": results,
        "facets": facets,
        "search_facets": search_facets,
        "sort": text(p, "sort").unwrap_or("score desc, metadata_modified desc"),
    }))
}

fn organization(o: &gongshu_app::views::OrgView) -> Value {
    json!({
        "id": o.id.to_string(),
        "name": format!("org-{}", o.id),
        "title": o.name,
        "display_name": o.name,
        "description": o.name_en,
        "type": "organization",
        "is_organization": true,
        "state": "active",
        "approval_status": "approved",
        "extras": [{ "key": "credit_code", "value": o.credit_code },
                   { "key": "region_code", "value": o.region_code }],
    })
}

fn resource(s: &AppState, r: &gongshu_app::data::ResourceView) -> Value {
    let base = s.app.settings.public_url.trim_end_matches('/');
    let format = if r.kind.as_deref() == Some("table") {
        "CSV".to_owned()
    } else {
        r.original_name
            .as_deref()
            .and_then(|n| n.rsplit_once('.'))
            .map_or_else(String::new, |(_, ext)| ext.to_uppercase())
    };
    let url = if r.kind.as_deref() == Some("table") {
        format!("{base}/api/v1/resources/{}/download?format=csv", r.id)
    } else {
        format!("{base}/api/v1/resources/{}/download?format=original", r.id)
    };
    json!({
        "id": r.id,
        "package_id": format!("gs-{}", r.dataset_id),
        "name": r.name,
        "format": format,
        "url": url,
        "datastore_active": r.kind.as_deref() == Some("table"),
        "created": r.created_at.to_rfc3339(),
        "last_modified": r.updated_at.map(|t| t.to_rfc3339()),
        "size": r.original_bytes,
        "hash": r.sha256,
        "state": "active",
    })
}

async fn package(s: &AppState, ctx: &Ctx, d: &DatasetView) -> Result<Value, CkanError> {
    let m = &d.metadata;
    let resources = s
        .app
        .list_resources(ctx.caller.as_ref(), d.id)
        .await
        .map_err(|e| CkanError::of(&e))?;
    let resources: Vec<Value> = resources
        .iter()
        .filter(|r| r.current_version.is_some())
        .map(|r| resource(s, r))
        .collect();
    let extras = [
        ("code", d.code.clone()),
        ("open_type", m.open_type.as_str().to_owned()),
        ("open_condition", m.open_condition.clone()),
        ("share_type", m.share_type.as_str().to_owned()),
        ("update_cycle", m.update_cycle.as_str().to_owned()),
        ("legal_basis", m.legal_basis.clone()),
        ("region_code", d.region_code.clone()),
        ("grade", m.grade.as_str().to_owned()),
    ];
    Ok(json!({
        "id": d.id.to_string(),
        "name": format!("gs-{}", d.id),
        "title": m.title,
        "notes": m.summary,
        "type": "dataset",
        "state": "active",
        "private": false,
        "license_id": m.license,
        "license_title": m.license,
        "maintainer": m.contact,
        "owner_org": d.provider.id.to_string(),
        "organization": {
            "id": d.provider.id.to_string(),
            "name": format!("org-{}", d.provider.id),
            "title": d.provider.name,
            "type": "organization",
            "is_organization": true,
        },
        "metadata_created": d.published_at.unwrap_or(d.updated_at).to_rfc3339(),
        "metadata_modified": d.updated_at.to_rfc3339(),
        "tags": m.keywords.iter().map(|k| json!({ "name": k, "display_name": k })).collect::<Vec<_>>(),
        "num_tags": m.keywords.len(),
        "groups": m.domains.iter().map(|g| json!({ "name": g.as_str(), "title": g.label(ctx.lang) })).collect::<Vec<_>>(),
        "resources": resources,
        "num_resources": resources.len(),
        "extras": extras.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| json!({ "key": k, "value": v })).collect::<Vec<_>>(),
        "url": format!("{}/datasets/{}", s.app.settings.public_url.trim_end_matches('/'), d.id),
    }))
}

/// CKAN's datastore type of a column.
fn datastore_type(t: &arrow_schema::DataType) -> &'static str {
    use arrow_schema::DataType as T;
    match t {
        T::Int8 | T::Int16 | T::Int32 | T::Int64 | T::UInt8 | T::UInt16 | T::UInt32 | T::UInt64 => {
            "int"
        }
        T::Float16 | T::Float32 | T::Float64 | T::Decimal128(..) | T::Decimal256(..) => "numeric",
        T::Boolean => "bool",
        T::Date32 | T::Date64 => "date",
        T::Timestamp(..) => "timestamp",
        _ => "text",
    }
}

fn datastore_fields(schema: &arrow_schema::Schema) -> Vec<Value> {
    schema
        .fields()
        .iter()
        .map(|f| json!({ "id": f.name(), "type": datastore_type(f.data_type()) }))
        .collect()
}

fn records(result: &gongshu_data::query::SqlResult) -> Result<Value, CkanError> {
    gongshu_data::export::json_rows(&result.batches)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| CkanError::of(&Error::internal()))
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A value the caller filters by, as a SQL literal: numbers as they are, anything else
/// quoted with its quotes doubled (so it cannot end the literal).
fn literal(v: &Value) -> Result<String, CkanError> {
    match v {
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::String(s) if !s.chars().any(char::is_control) && s.chars().count() <= 1000 => {
            Ok(format!("'{}'", s.replace('\'', "''")))
        }
        _ => Err(invalid(
            "filters: values are strings, numbers or lists of them",
        )),
    }
}

/// `datastore_search`: a table's rows through the SQL engine and the access gate, with
/// CKAN's filters (equality, or any of a list), `q` (a substring of any column),
/// `fields`, `sort`, `limit` and `offset`. Column names are checked against the table's
/// own; values only ever become quoted literals.
async fn datastore_search(
    s: &AppState,
    ctx: &Ctx,
    p: &Map<String, Value>,
) -> Result<Value, CkanError> {
    let id = text(p, "resource_id")
        .or_else(|| text(p, "id"))
        .ok_or_else(|| invalid("Missing value: resource_id"))?;
    let r = s
        .app
        .resource(ctx.caller.as_ref(), id)
        .await
        .map_err(|e| CkanError::of(&e))?;
    if r.kind.as_deref() != Some("table") || r.current_version.is_none() {
        return Err(not_found());
    }
    if matches!(r.access, gongshu_core::access::View::Denied(_)) {
        return Err(CkanError {
            status: StatusCode::FORBIDDEN,
            kind: "Authorization Error",
            message: "Access denied: this data is open on conditions; apply for it first".into(),
        });
    }
    let columns: Vec<&str> = r.columns.iter().map(|c| c.name.as_str()).collect();
    let column = |name: &str| -> Result<String, CkanError> {
        match name {
            "_id" => Ok(format!("{} AS \"_id\"", quote_ident("_row"))),
            n if columns.contains(&n) => Ok(quote_ident(n)),
            n => Err(invalid(format!("field {n:?} not in the table"))),
        }
    };
    let as_list = |key: &str| -> Vec<String> {
        match p.get(key) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Some(Value::String(s)) => s
                .split(',')
                .map(|f| f.trim().to_owned())
                .filter(|f| !f.is_empty())
                .collect(),
            _ => Vec::new(),
        }
    };
    let fields = as_list("fields");
    let projection = if fields.is_empty() {
        std::iter::once("_id")
            .chain(columns.iter().copied())
            .map(column)
            .collect::<Result<Vec<_>, _>>()?
    } else {
        fields
            .iter()
            .map(|f| column(f))
            .collect::<Result<Vec<_>, _>>()?
    };
    let mut conditions = Vec::new();
    let filters = match p.get("filters") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(Value::String(s)) => match serde_json::from_str(s) {
            Ok(Value::Object(m)) => m,
            _ => return Err(invalid("filters: a JSON object")),
        },
        Some(_) => return Err(invalid("filters: a JSON object")),
    };
    for (name, value) in &filters {
        let target = match name.as_str() {
            "_id" => quote_ident("_row"),
            n if columns.contains(&n) => quote_ident(n),
            n => return Err(invalid(format!("filters: field {n:?} not in the table"))),
        };
        conditions.push(match value {
            Value::Array(values) if values.is_empty() || values.len() > 100 => {
                return Err(invalid(format!("filters: {name:?} takes 1 to 100 values")));
            }
            Value::Array(values) => format!(
                "CAST({target} AS VARCHAR) IN ({})",
                values
                    .iter()
                    .map(|v| literal(&Value::String(
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                    )))
                    .collect::<Result<Vec<_>, _>>()?
                    .join(", ")
            ),
            v => format!(
                "CAST({target} AS VARCHAR) = {}",
                literal(&Value::String(
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                ))?
            ),
        });
    }
    if let Some(q) = text(p, "q") {
        let q = literal(&Value::String(q.to_owned()))?;
        let any: Vec<String> = columns
            .iter()
            .map(|c| format!("strpos(CAST({} AS VARCHAR), {q}) > 0", quote_ident(c)))
            .collect();
        if !any.is_empty() {
            conditions.push(format!("({})", any.join(" OR ")));
        }
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let mut order = Vec::new();
    for term in text(p, "sort")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let (name, direction) = match term.rsplit_once(' ') {
            Some((n, d)) if d.eq_ignore_ascii_case("desc") => (n.trim(), "DESC"),
            Some((n, d)) if d.eq_ignore_ascii_case("asc") => (n.trim(), "ASC"),
            _ => (term, "ASC"),
        };
        let target = match name.trim_matches('"') {
            "_id" => quote_ident("_row"),
            n if columns.contains(&n) => quote_ident(n),
            n => return Err(invalid(format!("sort: field {n:?} not in the table"))),
        };
        order.push(format!("{target} {direction}"));
    }
    order.push(quote_ident("_row"));
    let limit = number(p, "limit", 100)?.clamp(0, 10_000);
    let offset = number(p, "offset", 0)?.max(0);
    let table = quote_ident(&r.table_name);
    let page = format!(
        "SELECT {} FROM {table}{filter} ORDER BY {} LIMIT {limit} OFFSET {offset}",
        projection.join(", "),
        order.join(", ")
    );
    let count = format!("SELECT COUNT(*) AS n FROM {table}{filter}");
    let caller = ctx.caller.as_ref();
    let fail = |e: Error| CkanError::of(&e);
    let (_, rows) = s.app.sql(caller, &page).await.map_err(fail)?;
    let (_, total) = s.app.sql(caller, &count).await.map_err(fail)?;
    let total = records(&total)?
        .pointer("/0/n")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    Ok(json!({
        "resource_id": r.id,
        "fields": datastore_fields(&rows.schema),
        "records": records(&rows)?,
        "total": total,
        "limit": limit,
        "offset": offset,
        "filters": filters,
        "_links": {
            "start": format!("/api/3/action/datastore_search?resource_id={}", r.id),
            "next": format!("/api/3/action/datastore_search?resource_id={}&offset={}", r.id, offset + limit),
        },
    }))
}

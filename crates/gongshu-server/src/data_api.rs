//! The data endpoints: uploads and their jobs, resources, downloads, the row API and SQL.
//! Every byte of data goes out through `App::readable`, the access gate, and carries its
//! attribution (SD-OPEN §15): in `meta` for JSON, in headers for files.

use std::io::Write as _;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get, routing::post};
use bytes::Bytes;
use futures::StreamExt;
use gongshu_app::data::{Attribution, JobView, OnReject, Readable, ResourceView, Upload, Uploader};
use gongshu_app::protection::{
    ColumnClasses, ColumnConfirmation, EffectiveRules, KReportQuery, RulesInput,
};
use gongshu_core::access::AccessMode;
use gongshu_core::{Error, ErrorCode};
use gongshu_data::Versions;
use gongshu_data::export::{ExportError, ExportFormat, StreamExport, json_rows, write_xlsx};
use object_store::{GetOptions, GetRange};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::audit::AuditNote;
use crate::ctx::Ctx;
use crate::error::{ApiError, ErrorBody};

type ApiResult<T> = Result<T, ApiError>;

/// Routes under the server's usual body limit and timeout.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/datasets/{id}/resources", get(list_resources))
        .route("/resources/{id}", get(get_resource))
        .route("/resources/{id}/rows", get(rows))
        .route("/resources/{id}/columns", get(columns).put(confirm_columns))
        .route("/resources/{id}/rules", get(rules).put(set_rules))
        .route("/resources/{id}/k-anonymity", get(k_anonymity))
        .route("/sql", post(sql))
        .route("/jobs/{id}", get(get_job))
        .route("/jobs/{id}/{decision}", post(decide_job))
}

/// Uploads and whole-table downloads: they may take minutes and gigabytes, so they have
/// their own limits (the upload limit, streaming) instead of the request timeout.
pub(crate) fn bulk_routes(upload_limit: u64) -> Router<AppState> {
    // Room for the multipart envelope around the file.
    let body_limit =
        usize::try_from(upload_limit.saturating_add(1024 * 1024)).unwrap_or(usize::MAX);
    Router::new()
        .route(
            "/datasets/{id}/resources",
            post(upload).layer(DefaultBodyLimit::max(body_limit)),
        )
        .route("/resources/{id}/download", get(download))
}

fn bad(ctx: &Ctx, zh: &str, en: &str) -> ApiError {
    ctx.fail(Error::new(ErrorCode::BadRequest, zh, en))
}

/// Header values are ASCII: non-ASCII text travels percent-encoded (RFC 8187 style);
/// plain ASCII (codes, URLs, times) travels as it is.
fn header_text(s: &str) -> HeaderValue {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b))
        && let Ok(v) = HeaderValue::from_str(s)
    {
        return v;
    }
    let encoded: String = url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    HeaderValue::from_str(&encoded).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn attribution_headers(headers: &mut HeaderMap, a: &Attribution) {
    let pairs = [
        ("x-gongshu-provider", header_text(&a.provider)),
        ("x-gongshu-dataset", header_text(&a.dataset)),
        ("x-gongshu-code", header_text(&a.code)),
        ("x-gongshu-source-url", header_text(&a.url)),
        (
            "x-gongshu-retrieved-at",
            header_text(&a.retrieved_at.to_rfc3339()),
        ),
        ("x-gongshu-citation", header_text(&a.citation())),
    ];
    for (name, value) in pairs {
        headers.insert(HeaderName::from_static(name), value);
    }
    if let Ok(link) = HeaderValue::from_str(&format!(
        "<{}>; rel=\"describedby\"",
        header_text(&a.url).to_str().unwrap_or("")
    )) {
        headers.insert(header::LINK, link);
    }
}

/// A table of text cells (an evaluation's figures, a sandbox result, verification
/// answers) as a download: `csv` or `xlsx` (one sheet named `sheet`), named
/// `stem.csv` / `stem.xlsx`. Any other format is the caller's to answer (JSON, or a
/// refusal): `None`.
pub(crate) fn table_file(
    ctx: &Ctx,
    (sheet, header, rows): (&str, &[String], &[Vec<String>]),
    format: &str,
    stem: &str,
) -> Option<Result<axum::response::Response, ApiError>> {
    use axum::response::IntoResponse;
    let failed = |e: gongshu_data::export::ExportError| {
        tracing::error!(error = %e, file = stem, "table download");
        ctx.fail(gongshu_core::Error::internal())
    };
    let (bytes, content_type) = match format {
        "csv" => (
            gongshu_data::export::table_csv(header, rows).map_err(failed),
            "text/csv; charset=utf-8",
        ),
        "xlsx" => (
            gongshu_data::export::table_xlsx(sheet, header, rows).map_err(failed),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        _ => return None,
    };
    Some(bytes.map(|bytes| {
        let mut response = bytes.into_response();
        let h = response.headers_mut();
        h.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
        h.insert(
            axum::http::header::CONTENT_DISPOSITION,
            disposition(&format!("{stem}.{format}")),
        );
        response
    }))
}

pub(crate) fn disposition(file_name: &str) -> HeaderValue {
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        header_text(file_name).to_str().unwrap_or("")
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[utoipa::path(get, path = "/api/v1/datasets/{id}/resources", tag = "data",
    responses((status = 200, body = Vec<ResourceView>), (status = 404, body = ErrorBody)))]
async fn list_resources(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<ResourceView>>> {
    Ok(Json(
        s.app
            .list_resources(ctx.caller.as_ref(), id)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[utoipa::path(get, path = "/api/v1/resources/{id}", tag = "data",
    responses((status = 200, body = ResourceView), (status = 404, body = ErrorBody)))]
async fn get_resource(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<ResourceView>> {
    Ok(Json(
        s.app
            .resource(ctx.caller.as_ref(), &id)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct ColumnsParams {
    /// A version of the resource; the latest when absent.
    version: Option<i64>,
}

/// What each column of a version holds: the detector's proposal (with the share of
/// values that passed over the whole column) and the provider's confirmation. For the
/// entry's provider, the authority and auditors of its region.
#[utoipa::path(get, path = "/api/v1/resources/{id}/columns", tag = "data",
    params(ColumnsParams), security(("bearer" = [])),
    responses((status = 200, body = ColumnClasses), (status = 404, body = ErrorBody)))]
async fn columns(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    q: Result<Query<ColumnsParams>, QueryRejection>,
) -> ApiResult<Json<ColumnClasses>> {
    let p = ctx.principal()?;
    let Query(q) = q.map_err(|e| crate::api::query_error(&ctx, &e))?;
    Ok(Json(
        s.app
            .column_classes(p, &id, q.version)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The provider confirms or corrects what columns hold: `{"version": 1, "columns":
/// {"身份证号": "resident_id", "金额": "none"}}`. Recorded with who and when.
#[utoipa::path(put, path = "/api/v1/resources/{id}/columns", tag = "data",
    request_body = ColumnConfirmation, security(("bearer" = [])),
    responses((status = 200, body = ColumnClasses), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn confirm_columns(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ColumnClasses>> {
    let p = ctx.principal()?;
    let input: ColumnConfirmation = crate::api::json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .confirm_columns(p, &id, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The de-identification rules of a resource: those the provider set, those in force
/// (with the rule suggested for each personal column without one), and the columns that
/// hold personal information. The open version is computed with the rules in force.
#[utoipa::path(get, path = "/api/v1/resources/{id}/rules", tag = "data",
    security(("bearer" = [])),
    responses((status = 200, body = EffectiveRules), (status = 404, body = ErrorBody)))]
async fn rules(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<EffectiveRules>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app
            .resource_rules(p, &id)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// Set a resource's rules, per column: `keep`, `mask`, `pseudonym`, `generalise`,
/// `suppress`, `drop`, `fpe` (GB/T 37964), with the reason. The open version is
/// computed again at once; readers of opened data never see the raw table.
#[utoipa::path(put, path = "/api/v1/resources/{id}/rules", tag = "data",
    request_body = RulesInput, security(("bearer" = [])),
    responses((status = 200, body = EffectiveRules), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_rules(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<EffectiveRules>> {
    let p = ctx.principal()?;
    let input: RulesInput = crate::api::json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .set_resource_rules(p, &id, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The re-identification risk of the open version over chosen quasi-identifiers
/// (`?quasi=街道,年龄段&k=5&sensitive=病种`): equivalence classes, records in classes
/// under k and their share, the largest risk (1 / smallest class), class-size
/// histogram, and l-diversity of a sensitive column (GB/T 37964). Without `quasi`, the
/// report kept with the open version over the rules' quasi-identifiers (PIPL §55).
#[utoipa::path(get, path = "/api/v1/resources/{id}/k-anonymity", tag = "data",
    params(("quasi" = Option<String>, Query, description = "Quasi-identifier columns, comma-separated; none for the kept report"),
        ("k" = Option<usize>, Query, description = "Threshold, the province's policy (5) by default"),
        ("sensitive" = Option<String>, Query, description = "A sensitive column, for l-diversity")),
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn k_anonymity(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    q: Result<Query<KReportQuery>, QueryRejection>,
) -> ApiResult<Json<gongshu_data::deident::KReport>> {
    let p = ctx.principal()?;
    let Query(q) = q.map_err(|e| crate::api::query_error(&ctx, &e))?;
    Ok(Json(
        s.app
            .k_anonymity_report(p, &id, q)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// Streams the multipart `file` field to a temporary file, counting bytes against the
/// limit, so an upload never sits in memory.
pub(crate) async fn receive_file(
    ctx: &Ctx,
    field: &mut axum::extract::multipart::Field<'_>,
    dir: &std::path::Path,
    limit: u64,
) -> ApiResult<tempfile::TempPath> {
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| {
        tracing::error!(error = %e, "creating an upload file");
        ctx.fail(Error::internal())
    })?;
    let (file, path) = tmp.into_parts();
    let mut file = tokio::fs::File::from_std(file);
    let mut total = 0u64;
    loop {
        let chunk = match field.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(too_large(ctx, limit));
            }
            Err(e) => {
                return Err(bad(
                    ctx,
                    &format!("上传中断或格式错误：{e}"),
                    &format!("The upload was cut off or malformed: {e}"),
                ));
            }
        };
        total += chunk.len() as u64;
        if total > limit {
            return Err(too_large(ctx, limit));
        }
        tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "writing an upload");
                ctx.fail(Error::internal())
            })?;
    }
    tokio::io::AsyncWriteExt::flush(&mut file)
        .await
        .map_err(|_| ctx.fail(Error::internal()))?;
    Ok(path)
}

fn too_large(ctx: &Ctx, limit: u64) -> ApiError {
    // Whole MiB alone would call a limit under 1 MiB "0 MiB".
    let shown = match limit {
        l if l >= 1024 * 1024 => format!("{} MiB", l / 1024 / 1024),
        l if l >= 1024 => format!("{} KiB", l / 1024),
        l => format!("{l} bytes"),
    };
    ctx.fail(Error::new(
        ErrorCode::PayloadTooLarge,
        format!("文件超过上传上限 {shown}"),
        format!("The file is larger than the upload limit of {shown}"),
    ))
}

/// Upload a file to a catalog entry: a new resource, or a new version of `resource_id`.
/// Multipart fields: `file` (required, last), `name`, `resource_id`, `sheet`,
/// `on_reject` (`hold`, the default, or `publish`). Answers 202 with the job to poll.
#[utoipa::path(post, path = "/api/v1/datasets/{id}/resources", tag = "data",
    request_body(content_type = "multipart/form-data", description = "file, name, resource_id, sheet, on_reject"),
    responses((status = 202, body = JobView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody)))]
async fn upload(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    mut multipart: Multipart,
) -> ApiResult<Response> {
    let p = ctx.principal()?.clone();
    let (mut name, mut resource_id, mut sheet, mut on_reject) = (None, None, None, OnReject::Hold);
    let mut file = None;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return Err(bad(
                    &ctx,
                    &format!("无法读取上传内容：{e}"),
                    &format!("The upload could not be read: {e}"),
                ));
            }
        };
        let field_name = field.name().unwrap_or("").to_owned();
        if field_name == "file" {
            let file_name = field.file_name().unwrap_or("upload").to_owned();
            let path = receive_file(
                &ctx,
                &mut field,
                &s.app.data.tmp_dir,
                s.app.data.upload_limit,
            )
            .await?;
            file = Some((path, file_name));
            continue;
        }
        let value = field
            .text()
            .await
            .map_err(|_| bad(&ctx, "表单字段无法读取", "A form field could not be read"))?;
        if value.len() > 1024 {
            return Err(bad(&ctx, "表单字段过长", "A form field is too long"));
        }
        match field_name.as_str() {
            "name" => name = Some(value),
            "resource_id" => resource_id = Some(value),
            "sheet" => sheet = Some(value),
            "on_reject" => {
                on_reject = OnReject::parse(&value).ok_or_else(|| {
                    bad(
                        &ctx,
                        "on_reject 只能是 hold 或 publish",
                        "on_reject must be hold or publish",
                    )
                })?;
            }
            _ => {}
        }
    }
    let Some((path, file_name)) = file else {
        return Err(bad(
            &ctx,
            "缺少文件字段 file",
            "The multipart field `file` is missing",
        ));
    };
    let upload = Upload {
        file: path.to_path_buf(),
        temp: Some(path),
        file_name,
        name,
        resource_id,
        sheet,
        on_reject,
    };
    let job = start_upload(&s, &p, id, upload)
        .await
        .map_err(|e| ctx.fail(e))?;
    let view = gongshu_app::App::job_view(&job);
    let mut response = (StatusCode::ACCEPTED, Json(view.clone())).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/jobs/{}", view.id)) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// Registers the upload as a job and reads it in the background; the job says how it
/// went. Shared by the API and the console's upload form.
pub(crate) async fn start_upload(
    s: &AppState,
    p: &gongshu_core::authz::Principal,
    dataset_id: i64,
    upload: Upload,
) -> Result<gongshu_app::gongshu_store::JobRow, gongshu_core::Error> {
    let job = s
        .app
        .start_upload(Uploader::User(p), dataset_id, &upload)
        .await?;
    let app = s.app.clone();
    let label = Uploader::User(p).label();
    let running = job.clone();
    tokio::spawn(async move {
        app.run_upload(running, upload, label, None).await;
    });
    Ok(job)
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "data",
    responses((status = 200, body = JobView), (status = 404, body = ErrorBody)))]
async fn get_job(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<JobView>> {
    let p = ctx.principal()?;
    Ok(Json(s.app.job(p, &id).await.map_err(|e| ctx.fail(e))?))
}

/// The provider's choice on a version with rejected rows: `publish` it without them, or
/// `discard` it.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/{decision}", tag = "data",
    params(("decision" = String, Path, description = "publish | discard")),
    responses((status = 200, body = JobView), (status = 409, body = ErrorBody)))]
async fn decide_job(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((id, decision)): Path<(String, String)>,
) -> ApiResult<Json<JobView>> {
    let p = ctx.principal()?;
    let publish = match decision.as_str() {
        "publish" => true,
        "discard" => false,
        _ => return Err(ctx.fail(Error::not_found("接口", "Endpoint"))),
    };
    Ok(Json(
        s.app
            .decide_job(p, &id, publish)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

fn query_pairs(ctx: &Ctx, raw: Option<&str>) -> ApiResult<Vec<(String, String)>> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw.unwrap_or("")).map_err(|_| {
        bad(
            ctx,
            "查询参数无法解析",
            "The query string could not be read",
        )
    })
}

fn format_of(
    ctx: &Ctx,
    pairs: &[(String, String)],
    headers: &HeaderMap,
    key: &str,
) -> ApiResult<Option<ExportFormat>> {
    if let Some((_, f)) = pairs.iter().find(|(k, _)| k == key) {
        return ExportFormat::from_name(f).map(Some).ok_or_else(|| {
            bad(
                ctx,
                &format!("不支持的格式“{f}”，可用 csv、csv-utf8、json、ndjson、xlsx、parquet"),
                &format!(
                    "Unsupported format {f:?}; use csv, csv-utf8, json, ndjson, xlsx or parquet"
                ),
            )
        });
    }
    Ok(headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .and_then(ExportFormat::from_accept))
}

#[derive(Debug, Serialize, ToSchema)]
struct Column {
    name: String,
    #[serde(rename = "type")]
    column_type: String,
}

#[derive(Debug, Serialize, ToSchema)]
struct Meta<'a> {
    source: &'a Attribution,
    citation: String,
    retrieved_at: chrono::DateTime<chrono::Utc>,
    version: u64,
}

fn columns_of(schema: &arrow_schema::Schema) -> Vec<Column> {
    schema
        .fields()
        .iter()
        .map(|f| Column {
            name: f.name().clone(),
            column_type: gongshu_data::type_label(f.data_type()),
        })
        .collect()
}

fn export_failed(ctx: &Ctx, e: &ExportError) -> ApiError {
    match e {
        ExportError::TooManyRowsForXlsx { rows_max } => ctx.fail(Error::new(
            ErrorCode::PayloadTooLarge,
            format!("XLSX 最多 {rows_max} 行，请改用 CSV 或 Parquet"),
            format!("XLSX holds at most {rows_max} rows; use CSV or Parquet"),
        )),
        other => {
            tracing::error!(error = %other, "export failed");
            ctx.fail(Error::internal())
        }
    }
}

/// Small results (a page, a query) in a file format, whole.
fn encode_batches(
    ctx: &Ctx,
    format: ExportFormat,
    schema: arrow_schema::SchemaRef,
    batches: &[arrow_array::RecordBatch],
    dir: &std::path::Path,
) -> ApiResult<Vec<u8>> {
    if format == ExportFormat::Xlsx {
        let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|_| ctx.fail(Error::internal()))?;
        write_xlsx(&schema, batches.iter().cloned().map(Ok), tmp.path())
            .map_err(|e| export_failed(ctx, &e))?;
        return std::fs::read(tmp.path()).map_err(|_| ctx.fail(Error::internal()));
    }
    let mut out = StreamExport::new(format, schema).map_err(|e| export_failed(ctx, &e))?;
    let mut bytes = out.start().map_err(|e| export_failed(ctx, &e))?;
    for b in batches {
        bytes.extend(out.batch(b).map_err(|e| export_failed(ctx, &e))?);
    }
    bytes.extend(out.finish().map_err(|e| export_failed(ctx, &e))?);
    Ok(bytes)
}

fn file_response(
    format: ExportFormat,
    name: &str,
    body: impl Into<Body>,
    a: &Attribution,
) -> Response {
    let mut response = body.into().into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        disposition(&format!("{name}.{}", format.extension())),
    );
    attribution_headers(h, a);
    response
}

/// Rows of a table: filters `col=`, `col__gt=` … `__isnull`, `_cols`, `_sort`/`_sort_desc`,
/// `_size` (≤ 10000), `_next`; JSON by default, or `_format=csv|xlsx|parquet|ndjson`.
#[utoipa::path(get, path = "/api/v1/resources/{id}/rows", tag = "data",
    responses((status = 200, description = "{columns, rows, next, total, total_estimated, meta}"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn rows(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let pairs = query_pairs(&ctx, raw.as_deref())?;
    let format = format_of(&ctx, &pairs, &headers, "_format")?;
    let (readable, page) = s
        .app
        .rows(ctx.caller.as_ref(), &id, &pairs)
        .await
        .map_err(|e| ctx.fail(e))?;
    s.app
        .count_use(
            readable.resource.dataset_id,
            gongshu_app::search::Use::ApiCall,
        )
        .await;
    let note = data_note("data.rows", &readable);
    match format {
        Some(f) if f != ExportFormat::Json => {
            let body = encode_batches(
                &ctx,
                f,
                page.schema.clone(),
                &page.batches,
                &s.app.data.tmp_dir,
            )?;
            let mut response = file_response(
                f,
                &readable.resource.table_name,
                body,
                &readable.attribution,
            );
            if let Some(next) = &page.next
                && let Ok(v) = HeaderValue::from_str(next)
            {
                response.headers_mut().insert("x-gongshu-next", v);
            }
            Ok(note.attach(response))
        }
        _ => {
            let rows = json_rows(&page.batches).map_err(|e| export_failed(&ctx, &e))?;
            let mut body = Vec::with_capacity(rows.len() + 512);
            let head = serde_json::json!({
                "columns": columns_of(&page.schema),
            });
            let head = serde_json::to_string(&head).unwrap_or_default();
            // `{"columns":[…]` then the rows as encoded, then the rest.
            body.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
            body.extend_from_slice(b",\"rows\":");
            body.extend_from_slice(&rows);
            let tail = serde_json::json!({
                "next": page.next,
                "total": page.total,
                "total_estimated": page.total_estimated,
                "meta": meta(&readable),
            });
            let tail = serde_json::to_string(&tail).unwrap_or_default();
            body.push(b',');
            body.extend_from_slice(&tail.as_bytes()[1..]);
            let mut response = (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response();
            attribution_headers(response.headers_mut(), &readable.attribution);
            Ok(note.attach(response))
        }
    }
}

/// The audit entry of a read of `r`.
fn data_note(action: &'static str, r: &Readable) -> AuditNote {
    AuditNote {
        action,
        object: format!("resource:{}", r.resource.id),
        dataset: Some(r.resource.dataset_id),
        grant: r.grant,
        actor: None,
    }
}

fn meta(r: &Readable) -> Meta<'_> {
    Meta {
        source: &r.attribution,
        citation: r.attribution.citation(),
        retrieved_at: r.attribution.retrieved_at,
        version: r.manifest.version,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SqlRequest {
    sql: String,
}

/// Read-only SQL (SELECT only) over the tables the caller may read, each named by its
/// resource's `table_name`. Limits: time, memory, 10,000 rows (`truncated` says so).
#[utoipa::path(post, path = "/api/v1/sql", tag = "data",
    request_body = inline(SqlRequest),
    responses((status = 200, description = "{columns, rows, truncated, meta}"), (status = 400, body = ErrorBody)))]
async fn sql(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> ApiResult<Response> {
    if !crate::api::is_json(&headers) {
        return Err(bad(&ctx, "请以 JSON 提交", "Send the request as JSON"));
    }
    let req: SqlRequest =
        serde_json::from_slice(&body).map_err(|e| crate::api::bad_json(ctx.lang, &e))?;
    let (sources, result) = s
        .app
        .sql(ctx.caller.as_ref(), &req.sql)
        .await
        .map_err(|e| ctx.fail(e))?;
    for source in &sources {
        s.app
            .count_use(
                source.resource.dataset_id,
                gongshu_app::search::Use::ApiCall,
            )
            .await;
    }
    let rows = json_rows(&result.batches).map_err(|e| export_failed(&ctx, &e))?;
    let meta: Vec<Meta<'_>> = sources.iter().map(meta).collect();
    let mut body = Vec::with_capacity(rows.len() + 512);
    write!(
        body,
        "{{\"columns\":{},\"rows\":",
        serde_json::to_string(&columns_of(&result.schema)).unwrap_or_default()
    )
    .ok();
    body.extend_from_slice(&rows);
    write!(
        body,
        ",\"truncated\":{},\"meta\":{{\"sources\":{}}}}}",
        result.truncated,
        serde_json::to_string(&meta).unwrap_or_default()
    )
    .ok();
    let response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    // One entry per table read, so that each provider finds the queries on its data.
    Ok(sources.iter().fold(response, |r, source| {
        data_note("data.sql", source).attach(r)
    }))
}

/// One `bytes=a-b` range; several ranges are answered with the whole file (RFC 9110
/// allows it).
fn parse_range(h: &HeaderMap, size: u64) -> Option<Result<(u64, u64), ()>> {
    let v = h.get(header::RANGE)?.to_str().ok()?;
    let spec = v.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            if n == 0 {
                return Some(Err(()));
            }
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        (a, "") => (a.parse().ok()?, size.saturating_sub(1)),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.min(size.saturating_sub(1)),
        ),
    };
    if start >= size || start > end {
        return Some(Err(()));
    }
    Some(Ok((start, end)))
}

/// A stored file (the original, or the Parquet) with `ETag`, `Range` and
/// `Content-Length`, streamed from the object store.
// Each argument is one fact of the response; a struct to carry them once would add
// nothing but a name.
#[allow(clippy::too_many_arguments)]
async fn stored_file(
    s: &AppState,
    ctx: &Ctx,
    headers: &HeaderMap,
    path: object_store::path::Path,
    size: u64,
    sha256: &str,
    content_type: &str,
    name: &str,
    a: &Attribution,
) -> ApiResult<Response> {
    let etag = format!("\"{sha256}\"");
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        r.headers_mut().insert(
            header::ETAG,
            HeaderValue::from_str(&etag).unwrap_or_else(|_| HeaderValue::from_static("")),
        );
        return Ok(r);
    }
    let range = match parse_range(headers, size) {
        Some(Err(())) => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(r);
        }
        Some(Ok(r)) => Some(r),
        None => None,
    };
    let options = GetOptions {
        range: range.map(|(a, b)| GetRange::Bounded(a..b + 1)),
        ..GetOptions::default()
    };
    let got = s
        .app
        .data
        .versions
        .store()
        .get_opts(&path, options)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "reading a stored file");
            ctx.fail(Error::internal())
        })?;
    let stream = got.into_stream().map(|r| r.map_err(std::io::Error::other));
    let mut response = Body::from_stream(stream).into_response();
    let h = response.headers_mut();
    let length = range.map_or(size, |(a, b)| b - a + 1);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CONTENT_DISPOSITION, disposition(name));
    attribution_headers(h, a);
    if let Some((a, b)) = range {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {a}-{b}/{size}")) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(response)
}

/// The whole table in a format (`?format=csv` — UTF-8 with BOM for Excel — `csv-utf8`,
/// `json`, `ndjson`, `xlsx`, `parquet`), or the file as uploaded (`?format=original`).
/// Streamed in constant memory; files support `Range` and `ETag`.
#[utoipa::path(get, path = "/api/v1/resources/{id}/download", tag = "data",
    params(("format" = Option<String>, Query, description = "csv | csv-utf8 | json | ndjson | xlsx | parquet | original")),
    responses((status = 200, description = "the data"), (status = 206, description = "a range of a file"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn download(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let pairs = query_pairs(&ctx, raw.as_deref())?;
    let r = s
        .app
        .readable(ctx.caller.as_ref(), &id, AccessMode::Download)
        .await
        .map_err(|e| ctx.fail(e))?;
    // A download under a grant counts its whole table against the row quota.
    if r.is_table() {
        s.app
            .count_rows(&r, r.manifest.rows)
            .await
            .map_err(|e| ctx.fail(e))?;
    }
    let response = serve_download(&s, &ctx, &headers, &pairs, &r).await?;
    // A revalidation, or the later parts of a download resumed by ranges, is not
    // another download.
    let whole = match response.status() {
        StatusCode::OK => true,
        StatusCode::PARTIAL_CONTENT => response
            .headers()
            .get(header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("bytes 0-")),
        _ => false,
    };
    if whole {
        s.app
            .count_use(r.resource.dataset_id, gongshu_app::search::Use::Download)
            .await;
    }
    Ok(data_note("data.download", &r).attach(response))
}

/// The download itself, once the caller may have it.
async fn serve_download(
    s: &AppState,
    ctx: &Ctx,
    headers: &HeaderMap,
    pairs: &[(String, String)],
    r: &gongshu_app::data::Readable,
) -> ApiResult<Response> {
    let requested = pairs
        .iter()
        .find(|(k, _)| k == "format")
        .map(|(_, v)| v.as_str());
    let key = &r.resource.id;
    if requested == Some("original") || !r.is_table() {
        // The original file holds every column as uploaded: only readers of the raw
        // data get it; the open version is offered in the table formats.
        if !r.original_allowed {
            return Err(ctx.fail(Error::new(
                ErrorCode::Forbidden,
                "原始文件不对外提供，请下载脱敏后的 CSV、XLSX、JSON 或 Parquet",
                "The original file is not opened; download the de-identified CSV, XLSX, JSON or Parquet",
            )));
        }
        let m = &r.manifest;
        return stored_file(
            s,
            ctx,
            headers,
            Versions::original_path(key, m),
            m.original.bytes,
            &m.original.sha256,
            "application/octet-stream",
            &m.original.name,
            &r.attribution,
        )
        .await;
    }
    let format = match requested {
        Some(f) => ExportFormat::from_name(f).ok_or_else(|| {
            bad(
                ctx,
                &format!("不支持的格式“{f}”"),
                &format!("Unsupported format {f:?}; use csv, csv-utf8, json, ndjson, xlsx, parquet or original"),
            )
        })?,
        None => ExportFormat::CsvBom,
    };
    let base = r.resource.table_name.clone();
    let manifest = r.manifest.clone();
    if format == ExportFormat::Parquet {
        let parquet = manifest
            .parquet
            .clone()
            .unwrap_or_else(|| manifest.original.clone());
        // The stored file carries the platform's `_row` column; it is the row's number.
        return stored_file(
            s,
            ctx,
            headers,
            r.path.clone(),
            parquet.bytes,
            &parquet.sha256,
            format.content_type(),
            &format!("{base}.parquet"),
            &r.attribution,
        )
        .await;
    }
    let batches = s
        .app
        .data
        .versions
        .stream_parquet(&r.path, &manifest, 8192)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "opening a table");
            ctx.fail(Error::internal())
        })?;
    let etag = manifest
        .parquet
        .as_ref()
        .map(|p| format!("W/\"{}-{}\"", p.sha256, format.name()));
    if format == ExportFormat::Xlsx {
        if manifest.rows > gongshu_data::export::XLSX_MAX_DATA_ROWS {
            return Err(export_failed(
                ctx,
                &ExportError::TooManyRowsForXlsx {
                    rows_max: gongshu_data::export::XLSX_MAX_DATA_ROWS,
                },
            ));
        }
        // A workbook is a zip: built in a temporary file (constant memory), then sent.
        let tmp = tempfile::NamedTempFile::new_in(&s.app.data.tmp_dir)
            .map_err(|_| ctx.fail(Error::internal()))?;
        let schema = text_schema(&manifest);
        let handle = tokio::runtime::Handle::current();
        let out = tmp.path().to_path_buf();
        let written = tokio::task::spawn_blocking(move || {
            let mut batches = batches;
            let mut schema = schema;
            let mut first = handle.block_on(batches.next());
            if let Some(Ok(b)) = &first {
                schema = b.schema();
            }
            let iter = std::iter::from_fn(move || {
                first.take().or_else(|| handle.block_on(batches.next()))
            })
            .map(|b| b.map_err(|e| ExportError::Xlsx(e.to_string())));
            write_xlsx(&schema, iter, &out)
        })
        .await
        .map_err(|_| ctx.fail(Error::internal()))?;
        written.map_err(|e| export_failed(ctx, &e))?;
        let file = tokio::fs::File::open(tmp.path())
            .await
            .map_err(|_| ctx.fail(Error::internal()))?;
        let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
        // The open handle keeps the data readable after the name is removed.
        drop(tmp);
        let body = Body::from_stream(tokio_util_stream(file));
        let mut response = file_response(format, &base, body, &r.attribution);
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        return Ok(response);
    }
    let mut batches = batches.peekable();
    let first_schema = match std::pin::Pin::new(&mut batches).peek().await {
        Some(Ok(b)) => b.schema(),
        _ => text_schema(&manifest),
    };
    let mut encoder =
        StreamExport::new(format, first_schema).map_err(|e| export_failed(ctx, &e))?;
    let head = encoder.start().map_err(|e| export_failed(ctx, &e))?;
    let encoder = std::sync::Arc::new(std::sync::Mutex::new(Some(encoder)));
    let tail_encoder = encoder.clone();
    let body =
        futures::stream::once(async move { Ok::<_, std::io::Error>(bytes::Bytes::from(head)) })
            .chain(batches.map(move |b| {
                let b = b.map_err(std::io::Error::other)?;
                let mut guard = encoder
                    .lock()
                    .map_err(|_| std::io::Error::other("encoder poisoned"))?;
                let enc = guard
                    .as_mut()
                    .ok_or_else(|| std::io::Error::other("encoder finished"))?;
                enc.batch(&b)
                    .map(bytes::Bytes::from)
                    .map_err(std::io::Error::other)
            }))
            .chain(futures::stream::once(async move {
                let enc = tail_encoder
                    .lock()
                    .map_err(|_| std::io::Error::other("encoder poisoned"))?
                    .take()
                    .ok_or_else(|| std::io::Error::other("encoder finished"))?;
                enc.finish()
                    .map(bytes::Bytes::from)
                    .map_err(std::io::Error::other)
            }));
    let mut response = file_response(format, &base, Body::from_stream(body), &r.attribution);
    if let Some(etag) = etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

/// The columns of a version as text: the header of an export that has no rows to take
/// the real types from.
fn text_schema(m: &gongshu_data::Manifest) -> arrow_schema::SchemaRef {
    arrow_schema::SchemaRef::new(arrow_schema::Schema::new(
        m.columns
            .iter()
            .map(|c| arrow_schema::Field::new(&c.name, arrow_schema::DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

/// A file as a stream of chunks.
fn tokio_util_stream(
    file: tokio::fs::File,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    futures::stream::unfold(file, |mut file| async move {
        let mut buf = vec![0u8; 256 * 1024];
        match tokio::io::AsyncReadExt::read(&mut file, &mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    })
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list_resources, get_resource, upload, get_job, decide_job, rows, sql, download,
        columns, confirm_columns, rules, set_rules, k_anonymity),
    components(schemas(ResourceView, JobView, ColumnClasses, ColumnConfirmation,
        EffectiveRules, RulesInput)),
    tags((name = "data"))
)]
pub(crate) struct DataApiDoc;

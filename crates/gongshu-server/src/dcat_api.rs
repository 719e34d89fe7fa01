//! The public catalog in DCAT-AP 3 (issue 10): `/catalog.{ttl,jsonld,rdf}?page=N` (Hydra
//! paging, 100 datasets a page by default) and `/datasets/{id}/dcat.{ttl,jsonld,rdf}`, in
//! Turtle, JSON-LD or RDF/XML. Published entries only, as on the portal.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gongshu_store::{PublishedQuery, PublishedSort};

use crate::AppState;
use crate::ctx::Ctx;
use crate::pages::{error_page, public_base};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/catalog.{format}", get(catalog))
        .route("/datasets/{id}/dcat.{format}", get(dataset))
}

/// The graph in the asked serialisation, or `None` for a format there is none of.
fn serialised(graph: &gongshu_app::dcat::Graph, format: &str) -> Option<Response> {
    let (body, content_type) = match format {
        "ttl" => (graph.turtle(), "text/turtle; charset=utf-8"),
        "jsonld" => (graph.json_ld().to_string(), "application/ld+json"),
        "rdf" => (graph.rdf_xml(), "application/rdf+xml; charset=utf-8"),
        _ => return None,
    };
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Some(r)
}

fn no_such_format(ctx: &Ctx) -> Response {
    error_page(
        ctx,
        &gongshu_core::Error::not_found(
            "格式（ttl、jsonld 或 rdf）",
            "format (ttl, jsonld or rdf)",
        ),
    )
}

#[derive(serde::Deserialize)]
struct Paging {
    page: Option<i64>,
    per_page: Option<i64>,
}

async fn catalog(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(format): Path<String>,
    q: Result<Query<Paging>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return error_page(
            &ctx,
            &gongshu_core::Error::new(
                gongshu_core::ErrorCode::BadRequest,
                "page 与 per_page 须为整数",
                "page and per_page are integers",
            ),
        );
    };
    let per_page = q.per_page.unwrap_or(100).clamp(1, 1000);
    let page = q.page.unwrap_or(1).clamp(1, 1_000_000);
    let query = PublishedQuery {
        sort: PublishedSort::Code,
        ..PublishedQuery::default()
    };
    let found = match s
        .app
        .list_public_at(query, (page - 1) * per_page, per_page)
        .await
    {
        Ok(f) => f,
        Err(e) => return error_page(&ctx, &e),
    };
    let mut resources = Vec::with_capacity(found.items.len());
    for d in &found.items {
        resources.push(
            s.app
                .list_resources(ctx.caller.as_ref(), d.id)
                .await
                .unwrap_or_default(),
        );
    }
    let base = public_base(&s, &headers);
    let pages = format!("{}/catalog.{format}", base.trim_end_matches('/'));
    let graph = gongshu_app::dcat::catalog_page(
        &base,
        |n| format!("{pages}?page={n}&per_page={per_page}"),
        &found,
        &resources,
    );
    serialised(&graph, &format).unwrap_or_else(|| no_such_format(&ctx))
}

async fn dataset(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, format)): Path<(i64, String)>,
) -> Response {
    let d = match s.app.public_dataset(id).await {
        Ok(d) => d,
        Err(e) => return error_page(&ctx, &e),
    };
    let resources = s
        .app
        .list_resources(ctx.caller.as_ref(), id)
        .await
        .unwrap_or_default();
    let graph = gongshu_app::dcat::dataset_document(&public_base(&s, &headers), &d, &resources);
    serialised(&graph, &format).unwrap_or_else(|| no_such_format(&ctx))
}

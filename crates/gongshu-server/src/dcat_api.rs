//! The public catalog in DCAT-AP 3, as Turtle (issue 10): `/catalog.ttl?page=N` (Hydra
//! paging, 100 datasets a page by default) and `/datasets/{id}/dcat.ttl`. Published
//! entries only, as on the portal.

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
        .route("/catalog.ttl", get(catalog))
        .route("/datasets/{id}/dcat.ttl", get(dataset))
}

fn turtle(body: String) -> Response {
    let mut r = body.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/turtle; charset=utf-8"),
    );
    r
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
    let pages = format!("{}/catalog.ttl", base.trim_end_matches('/'));
    turtle(gongshu_app::dcat::catalog_page(
        &base,
        |n| format!("{pages}?page={n}&per_page={per_page}"),
        &found,
        &resources,
    ))
}

async fn dataset(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<i64>,
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
    turtle(gongshu_app::dcat::dataset_document(
        &public_base(&s, &headers),
        &d,
        &resources,
    ))
}

//! Portal pages beyond the catalog itself: regions (the master catalog of each level),
//! the negative lists, and the API documentation rendered from the OpenAPI document.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use gongshu_app::catalog::NegativeList;
use gongshu_app::gongshu_store::PublishedQuery;
use gongshu_app::views::{DatasetView, MasterCatalogView};
use gongshu_core::Error;
use gongshu_core::error::Lang;
use serde::Deserialize;

use crate::AppState;
use crate::ctx::Ctx;
use crate::pages::{error_page, render};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/regions", get(regions))
        .route("/regions/{code}", get(region))
        .route("/lists/negative/{kind}", get(negative_list))
        .route("/developers", get(developers))
}

#[derive(Deserialize, Default)]
struct PageParam {
    page: Option<i64>,
}

fn page_count(total: i64, per_page: i64) -> i64 {
    ((total + per_page - 1) / per_page.max(1)).max(1)
}

#[derive(Template)]
#[template(path = "regions.html")]
struct RegionsPage<'a> {
    ctx: &'a Ctx,
    /// The province's master catalog, with a line per city.
    catalog: Vec<MasterCatalogView>,
}

async fn regions(State(s): State<AppState>, ctx: Ctx) -> Response {
    let result = async {
        // The provinces that publish anything, from the index's region facet, rather
        // than a tally in the store for each of the 34.
        let listing = s
            .app
            .list_public(PublishedQuery::default(), Some(1), Some(1))
            .await?;
        // The facet counts cities when one province publishes; their provinces, once.
        let provinces: std::collections::BTreeSet<String> = listing
            .facets
            .as_ref()
            .and_then(|f| f.get("region"))
            .map(|v| {
                v.iter()
                    .filter_map(|c| c.value.get(..2))
                    .map(|p| format!("{p}0000"))
                    .collect()
            })
            .unwrap_or_default();
        let mut out = Vec::new();
        for code in provinces {
            let c = s.app.master_catalog(&code).await?;
            if c.region.total > 0 {
                out.push(c);
            }
        }
        Ok::<_, Error>(out)
    }
    .await;
    match result {
        Ok(catalog) => render(&RegionsPage { ctx: &ctx, catalog }),
        Err(e) => error_page(&ctx, &e),
    }
}

#[derive(Template)]
#[template(path = "region.html")]
struct RegionPage<'a> {
    ctx: &'a Ctx,
    c: MasterCatalogView,
    datasets: Vec<DatasetView>,
    total: i64,
    page: i64,
    pages: i64,
}

async fn region(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    q: Result<Query<PageParam>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let result = async {
        let c = s.app.master_catalog(&code).await?;
        let prefix = gongshu_app::region_prefix(&code)?;
        let list = s
            .app
            .list_public(
                PublishedQuery {
                    region_prefix: Some(prefix),
                    ..PublishedQuery::default()
                },
                q.page,
                Some(20),
            )
            .await?;
        Ok::<_, Error>((c, list))
    }
    .await;
    match result {
        Ok((c, list)) => render(&RegionPage {
            ctx: &ctx,
            c,
            total: list.total,
            page: list.page,
            pages: page_count(list.total, list.per_page),
            datasets: list.items,
        }),
        Err(e) => error_page(&ctx, &e),
    }
}

#[derive(Template)]
#[template(path = "negative_list.html")]
struct NegativeListPage<'a> {
    ctx: &'a Ctx,
    kind: &'static str,
    heading: &'static str,
    datasets: Vec<DatasetView>,
    total: i64,
    page: i64,
    pages: i64,
}

async fn negative_list(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(kind): Path<String>,
    q: Result<Query<PageParam>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let (list, kind, heading) = match kind.as_str() {
        "open" => (
            NegativeList::Open,
            "open",
            ctx.t("不予开放清单（负面清单）", "Not opened: the negative list"),
        ),
        "share" => (
            NegativeList::Share,
            "share",
            ctx.t("不予共享清单（负面清单）", "Not shared: the negative list"),
        ),
        _ => return error_page(&ctx, &Error::not_found("清单", "List")),
    };
    match s.app.negative_list(list, None, q.page, Some(50)).await {
        Ok(found) => render(&NegativeListPage {
            ctx: &ctx,
            kind,
            heading,
            total: found.total,
            page: found.page,
            pages: page_count(found.total, found.per_page),
            datasets: found.items,
        }),
        Err(e) => error_page(&ctx, &e),
    }
}

/// One operation of the API as the documentation page lists it.
struct Operation {
    method: String,
    path: String,
    summary: String,
    description: String,
    parameters: Vec<(String, String, bool, String)>,
    anchor: String,
}

struct Tag {
    name: String,
    operations: Vec<Operation>,
}

#[derive(Template)]
#[template(path = "developers.html")]
struct DevelopersPage<'a> {
    ctx: &'a Ctx,
    version: String,
    tags: Vec<Tag>,
}

/// The operations of the OpenAPI document grouped by tag, in path order.
fn operations(doc: &serde_json::Value) -> Vec<Tag> {
    let mut tags: Vec<Tag> = Vec::new();
    let Some(paths) = doc["paths"].as_object() else {
        return tags;
    };
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(op) = item.get(method) else {
                continue;
            };
            let text = |k: &str| op[k].as_str().unwrap_or("").trim().to_owned();
            let (summary, description) = {
                let s = text("summary");
                let d = text("description");
                if s.is_empty() {
                    let mut lines = d.splitn(2, '\n');
                    let first = lines.next().unwrap_or("").to_owned();
                    (first, lines.next().unwrap_or("").trim().to_owned())
                } else {
                    (s, d)
                }
            };
            let parameters = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            (
                                p["name"].as_str().unwrap_or("").to_owned(),
                                p["in"].as_str().unwrap_or("").to_owned(),
                                p["required"].as_bool().unwrap_or(false),
                                p["description"].as_str().unwrap_or("").to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let tag = op["tags"][0].as_str().unwrap_or("other").to_owned();
            let anchor = format!(
                "{method}-{}",
                path.trim_matches('/')
                    .replace(['/', '{', '}'], "-")
                    .trim_matches('-')
            );
            let operation = Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                summary,
                description,
                parameters,
                anchor,
            };
            match tags.iter_mut().find(|t| t.name == tag) {
                Some(t) => t.operations.push(operation),
                None => tags.push(Tag {
                    name: tag,
                    operations: vec![operation],
                }),
            }
        }
    }
    tags
}

async fn developers(ctx: Ctx) -> Response {
    let doc: serde_json::Value = serde_json::from_str(&crate::openapi_json()).unwrap_or_default();
    render(&DevelopersPage {
        ctx: &ctx,
        version: doc["info"]["version"].as_str().unwrap_or("").to_owned(),
        tags: operations(&doc),
    })
}

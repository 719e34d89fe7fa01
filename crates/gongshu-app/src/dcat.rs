//! The public catalog in DCAT-AP 3 (issue 10), as Turtle: a catalog page (Hydra paging)
//! and each dataset with its distributions. The Chinese metadata maps to DCAT-AP's
//! vocabularies: the open type to `dct:accessRights` (EU access-right authority table),
//! the update cycle to `dct:accrualPeriodicity` (EU frequency table), the legal basis to
//! `dcatap:applicableLegislation`, priority domains to `dcat:theme` concepts of the
//! platform's own scheme, formats to the EU file-type table.
//!
//! The graph is written as one triple per line (valid Turtle, and close to N-Triples),
//! so that escaping is the only grammar to get right.

use gongshu_core::types::{Domain, OpenType, UpdateCycle};

use crate::data::ResourceView;
use crate::views::{DatasetView, PageView};

const PREFIXES: &str = "@prefix dcat: <http://www.w3.org/ns/dcat#> .
@prefix dct: <http://purl.org/dc/terms/> .
@prefix dcatap: <http://data.europa.eu/r5r/> .
@prefix eli: <http://data.europa.eu/eli/ontology#> .
@prefix foaf: <http://xmlns.com/foaf/0.1/> .
@prefix hydra: <http://www.w3.org/ns/hydra/core#> .
@prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
";

/// A Turtle document being written.
struct Turtle {
    out: String,
    blank: usize,
}

/// An IRI, with the characters Turtle does not allow in one percent-encoded.
fn iri(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('<');
    for c in s.chars() {
        if c.is_control() || " <>\"{}|^`\\".contains(c) {
            for b in c.to_string().bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out.push('>');
    out
}

/// A string literal, escaped, in a language.
fn text(s: &str, lang: Option<&str>) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    if let Some(l) = lang {
        out.push('@');
        out.push_str(l);
    }
    out
}

fn date_time(t: chrono::DateTime<chrono::Utc>) -> String {
    format!("\"{}\"^^xsd:dateTime", t.format("%Y-%m-%dT%H:%M:%SZ"))
}

impl Turtle {
    fn new() -> Self {
        Self {
            out: PREFIXES.to_owned(),
            blank: 0,
        }
    }

    fn triple(&mut self, s: &str, p: &str, o: &str) {
        self.out.push_str(s);
        self.out.push(' ');
        self.out.push_str(p);
        self.out.push(' ');
        self.out.push_str(o);
        self.out.push_str(" .\n");
    }

    fn fresh(&mut self) -> String {
        self.blank += 1;
        format!("_:b{}", self.blank)
    }
}

fn access_right(open: OpenType) -> &'static str {
    match open {
        OpenType::Unconditional => "PUBLIC",
        OpenType::Conditional => "RESTRICTED",
        OpenType::None => "NON_PUBLIC",
    }
}

fn frequency(cycle: UpdateCycle) -> &'static str {
    match cycle {
        UpdateCycle::Realtime => "CONT",
        UpdateCycle::Daily => "DAILY",
        UpdateCycle::Weekly => "WEEKLY",
        UpdateCycle::Monthly => "MONTHLY",
        UpdateCycle::Quarterly => "QUARTERLY",
        UpdateCycle::Semiannual => "ANNUAL_2",
        UpdateCycle::Annual => "ANNUAL",
        UpdateCycle::Irregular => "IRREG",
    }
}

fn theme(base: &str, d: Domain) -> String {
    iri(&format!("{base}/themes/{}", d.as_str()))
}

/// One entry's triples: the dataset, its publisher, its distributions.
fn dataset(g: &mut Turtle, base: &str, d: &DatasetView, resources: &[ResourceView]) -> String {
    let m = &d.metadata;
    // The dataset is a thing; its page on the portal is a document about it.
    let id = iri(&format!("{base}/datasets/{}#dataset", d.id));
    let page = iri(&format!("{base}/datasets/{}", d.id));
    let publisher = iri(&format!("{base}/organizations/{}", d.provider.id));
    g.triple(&id, "rdf:type", "dcat:Dataset");
    g.triple(&id, "dct:title", &text(&m.title, Some("zh")));
    g.triple(&id, "dct:description", &text(&m.summary, Some("zh")));
    g.triple(&id, "dct:identifier", &text(&d.code, None));
    g.triple(&id, "dcat:landingPage", &page);
    g.triple(&page, "rdf:type", "foaf:Document");
    for k in &m.keywords {
        g.triple(&id, "dcat:keyword", &text(k, Some("zh")));
    }
    g.triple(&id, "dct:publisher", &publisher);
    g.triple(&publisher, "rdf:type", "foaf:Agent");
    g.triple(&publisher, "foaf:name", &text(&d.provider.name, Some("zh")));
    let rights = iri(&format!(
        "http://publications.europa.eu/resource/authority/access-right/{}",
        access_right(m.open_type)
    ));
    g.triple(&id, "dct:accessRights", &rights);
    g.triple(&rights, "rdf:type", "dct:RightsStatement");
    let cycle = iri(&format!(
        "http://publications.europa.eu/resource/authority/frequency/{}",
        frequency(m.update_cycle)
    ));
    g.triple(&id, "dct:accrualPeriodicity", &cycle);
    g.triple(&cycle, "rdf:type", "dct:Frequency");
    if !m.legal_basis.trim().is_empty() {
        let law = iri(&format!("{base}/datasets/{}#legal-basis", d.id));
        g.triple(&id, "dcatap:applicableLegislation", &law);
        g.triple(&law, "rdf:type", "eli:LegalResource");
        g.triple(&law, "dct:title", &text(&m.legal_basis, Some("zh")));
    }
    for domain in &m.domains {
        let concept = theme(base, *domain);
        g.triple(&id, "dcat:theme", &concept);
        g.triple(&concept, "rdf:type", "skos:Concept");
        g.triple(
            &concept,
            "skos:prefLabel",
            &text(domain.label(gongshu_core::error::Lang::Zh), Some("zh")),
        );
        g.triple(&concept, "skos:inScheme", &iri(&format!("{base}/themes")));
    }
    if let Some(p) = d.published_at {
        g.triple(&id, "dct:issued", &date_time(p));
    }
    g.triple(&id, "dct:modified", &date_time(d.updated_at));
    for r in resources.iter().filter(|r| r.current_version.is_some()) {
        let dist = iri(&format!("{base}/datasets/{}/resources/{}", d.id, r.id));
        let table = r.kind.as_deref() == Some("table");
        let download = iri(&format!(
            "{base}/api/v1/resources/{}/download?format={}",
            r.id,
            if table { "csv" } else { "original" }
        ));
        g.triple(&id, "dcat:distribution", &dist);
        g.triple(&dist, "rdf:type", "dcat:Distribution");
        g.triple(&dist, "dct:title", &text(&r.name, Some("zh")));
        g.triple(&dist, "dcat:accessURL", &download);
        g.triple(&dist, "dcat:downloadURL", &download);
        if table {
            let csv = iri("http://publications.europa.eu/resource/authority/file-type/CSV");
            g.triple(&dist, "dct:format", &csv);
            g.triple(&csv, "rdf:type", "dct:MediaTypeOrExtent");
            g.triple(
                &dist,
                "dcat:mediaType",
                &iri("https://www.iana.org/assignments/media-types/text/csv"),
            );
            g.triple(
                &iri("https://www.iana.org/assignments/media-types/text/csv"),
                "rdf:type",
                "dct:MediaType",
            );
            // The data items, as the table's columns.
            let schema = g.fresh();
            g.triple(&dist, "dct:conformsTo", &schema);
            g.triple(&schema, "rdf:type", "dct:Standard");
            let columns: Vec<&str> = r.columns.iter().map(|c| c.name.as_str()).collect();
            g.triple(&schema, "dct:title", &text(&columns.join(", "), Some("zh")));
        }
        if let Some(t) = r.updated_at {
            g.triple(&dist, "dct:modified", &date_time(t));
        }
    }
    id
}

/// The catalog with one page of its datasets, and Hydra links to the other pages.
pub fn catalog_page(
    base: &str,
    page_iri: impl Fn(i64) -> String,
    found: &PageView<DatasetView>,
    resources: &[Vec<ResourceView>],
) -> String {
    let base = base.trim_end_matches('/');
    let mut g = Turtle::new();
    let catalog = iri(&format!("{base}/catalog"));
    let platform = iri(&format!("{base}/#platform"));
    g.triple(&catalog, "rdf:type", "dcat:Catalog");
    g.triple(
        &catalog,
        "dct:title",
        &text("公数 · 公共数据目录", Some("zh")),
    );
    g.triple(
        &catalog,
        "dct:title",
        &text("Gongshu public data catalog", Some("en")),
    );
    g.triple(
        &catalog,
        "dct:description",
        &text(
            "公共数据开放平台的公开目录：开放为原则，不开放为例外。",
            Some("zh"),
        ),
    );
    g.triple(&catalog, "dct:publisher", &platform);
    let home = iri(&format!("{base}/"));
    g.triple(&catalog, "foaf:homepage", &home);
    g.triple(&home, "rdf:type", "foaf:Document");
    g.triple(&platform, "rdf:type", "foaf:Agent");
    g.triple(
        &platform,
        "foaf:name",
        &text("公共数据开放平台", Some("zh")),
    );
    let scheme = iri(&format!("{base}/themes"));
    g.triple(&scheme, "rdf:type", "skos:ConceptScheme");
    g.triple(&scheme, "dct:title", &text("重点领域", Some("zh")));
    g.triple(&catalog, "dcat:themeTaxonomy", &scheme);
    for (d, r) in found.items.iter().zip(resources) {
        let id = dataset(&mut g, base, d, r);
        g.triple(&catalog, "dcat:dataset", &id);
    }
    let last = ((found.total + found.per_page - 1) / found.per_page).max(1);
    let view = iri(&page_iri(found.page));
    g.triple(&view, "rdf:type", "hydra:PartialCollectionView");
    g.triple(&view, "hydra:first", &iri(&page_iri(1)));
    g.triple(&view, "hydra:last", &iri(&page_iri(last)));
    if found.page > 1 {
        g.triple(&view, "hydra:previous", &iri(&page_iri(found.page - 1)));
    }
    if found.page < last {
        g.triple(&view, "hydra:next", &iri(&page_iri(found.page + 1)));
    }
    g.triple(&catalog, "hydra:view", &view);
    g.triple(
        &catalog,
        "hydra:totalItems",
        &format!("\"{}\"^^xsd:integer", found.total),
    );
    g.out
}

/// One dataset, with its publisher and distributions.
pub fn dataset_document(base: &str, d: &DatasetView, resources: &[ResourceView]) -> String {
    let mut g = Turtle::new();
    dataset(&mut g, base.trim_end_matches('/'), d, resources);
    g.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iris_and_literals_cannot_break_out() {
        assert_eq!(iri("http://x/a b>c"), "<http://x/a%20b%3Ec>");
        assert_eq!(text("a\"b\\c\nd", Some("zh")), "\"a\\\"b\\\\c\\nd\"@zh");
        assert_eq!(text("\u{1}", None), "\"\\u0001\"");
    }
}

//! The public catalog in DCAT-AP 3 (issue 10): a catalog page (Hydra paging)
//! and each dataset with its distributions. The Chinese metadata maps to DCAT-AP's
//! vocabularies: the open type to `dct:accessRights` (EU access-right authority table),
//! the update cycle to `dct:accrualPeriodicity` (EU frequency table), the legal basis to
//! `dcatap:applicableLegislation`, priority domains to `dcat:theme` concepts of the
//! platform's own scheme, formats to the EU file-type table.
//!
//! The graph is built as triples and written as Turtle (one triple per line), JSON-LD
//! (expanded form, so no context is fetched) or RDF/XML, so that each serialisation's
//! escaping is the only grammar to get right.

use gongshu_core::types::{Domain, OpenType, UpdateCycle};

use crate::data::ResourceView;
use crate::views::{DatasetView, PageView};

/// The namespaces the graph uses, by prefix.
const NS: [(&str, &str); 10] = [
    ("dcat", "http://www.w3.org/ns/dcat#"),
    ("dct", "http://purl.org/dc/terms/"),
    ("dcatap", "http://data.europa.eu/r5r/"),
    ("eli", "http://data.europa.eu/eli/ontology#"),
    ("foaf", "http://xmlns.com/foaf/0.1/"),
    ("hydra", "http://www.w3.org/ns/hydra/core#"),
    ("rdf", "http://www.w3.org/1999/02/22-rdf-syntax-ns#"),
    ("skos", "http://www.w3.org/2004/02/skos/core#"),
    ("xsd", "http://www.w3.org/2001/XMLSchema#"),
    ("xml", "http://www.w3.org/XML/1998/namespace"),
];

/// `dcat:dataset` → its full IRI.
fn expand(name: &str) -> String {
    let (prefix, local) = name.split_once(':').unwrap_or(("", name));
    NS.iter()
        .find(|(p, _)| *p == prefix)
        .map_or_else(|| name.to_owned(), |(_, ns)| format!("{ns}{local}"))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    Iri(String),
    Blank(String),
    /// A value, its language or its datatype (a full IRI).
    Literal(String, Option<&'static str>, Option<String>),
}

/// The graph being built: triples in the order they were added.
#[derive(Debug, Default)]
pub struct Graph {
    triples: Vec<(Term, String, Term)>,
    blank: usize,
}

fn iri(s: &str) -> Term {
    Term::Iri(s.to_owned())
}

fn text(s: &str, lang: Option<&'static str>) -> Term {
    Term::Literal(s.to_owned(), lang, None)
}

fn date_time(t: chrono::DateTime<chrono::Utc>) -> Term {
    Term::Literal(
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None,
        Some(expand("xsd:dateTime")),
    )
}

/// An IRI in Turtle, with the characters Turtle does not allow percent-encoded.
fn turtle_iri(s: &str) -> String {
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

/// A string in Turtle, escaped.
fn turtle_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
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
    out
}

/// A predicate or class as `prefix:local` where the local part is a plain name.
fn compact(full: &str) -> Option<(&'static str, &str)> {
    NS.iter().find_map(|(p, ns)| {
        let local = full.strip_prefix(ns)?;
        (!local.is_empty() && local.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .then_some((*p, local))
    })
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 has no way to write most control characters: they are dropped.
            c if c.is_control() && !matches!(c, '\n' | '\r' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

impl Graph {
    fn triple(&mut self, s: &Term, p: &str, o: &Term) {
        self.triples.push((s.clone(), expand(p), o.clone()));
    }

    /// `s rdf:type class`.
    fn a(&mut self, s: &Term, class: &str) {
        self.triple(s, "rdf:type", &Term::Iri(expand(class)));
    }

    fn fresh(&mut self) -> Term {
        self.blank += 1;
        Term::Blank(format!("b{}", self.blank))
    }

    fn term_turtle(t: &Term) -> String {
        match t {
            Term::Iri(i) => match compact(i) {
                Some((p, l)) if p != "xml" => format!("{p}:{l}"),
                _ => turtle_iri(i),
            },
            Term::Blank(b) => format!("_:{b}"),
            Term::Literal(v, Some(lang), _) => format!("{}@{lang}", turtle_string(v)),
            Term::Literal(v, None, Some(dt)) => format!(
                "{}^^{}",
                turtle_string(v),
                Self::term_turtle(&Term::Iri(dt.clone()))
            ),
            Term::Literal(v, None, None) => turtle_string(v),
        }
    }

    /// Turtle: the prefixes, then one triple per line.
    pub fn turtle(&self) -> String {
        let mut out = String::new();
        for (p, ns) in NS.iter().filter(|(p, _)| *p != "xml") {
            out.push_str(&format!("@prefix {p}: <{ns}> .\n"));
        }
        for (s, p, o) in &self.triples {
            let p = if p == &expand("rdf:type") {
                "a".to_owned()
            } else {
                Self::term_turtle(&Term::Iri(p.clone()))
            };
            out.push_str(&format!(
                "{} {p} {} .\n",
                Self::term_turtle(s),
                Self::term_turtle(o)
            ));
        }
        out
    }

    /// The subjects in the order they first appear, each with its triples.
    fn subjects(&self) -> Vec<(&Term, Vec<(&String, &Term)>)> {
        let mut order: Vec<(&Term, Vec<(&String, &Term)>)> = Vec::new();
        for (s, p, o) in &self.triples {
            match order.iter_mut().find(|(x, _)| *x == s) {
                Some((_, props)) => props.push((p, o)),
                None => order.push((s, vec![(p, o)])),
            }
        }
        order
    }

    /// JSON-LD in expanded form (full IRIs, every value an object): no context to fetch.
    pub fn json_ld(&self) -> serde_json::Value {
        let node_id = |t: &Term| match t {
            Term::Iri(i) => i.clone(),
            Term::Blank(b) => format!("_:{b}"),
            Term::Literal(..) => String::new(),
        };
        let nodes: Vec<serde_json::Value> = self
            .subjects()
            .into_iter()
            .map(|(s, props)| {
                let mut node = serde_json::Map::new();
                node.insert("@id".into(), serde_json::json!(node_id(s)));
                for (p, o) in props {
                    if *p == expand("rdf:type") {
                        let types = node.entry("@type").or_insert_with(|| serde_json::json!([]));
                        if let Some(a) = types.as_array_mut() {
                            a.push(serde_json::json!(node_id(o)));
                        }
                        continue;
                    }
                    let value = match o {
                        Term::Literal(v, Some(lang), _) => {
                            serde_json::json!({ "@value": v, "@language": lang })
                        }
                        Term::Literal(v, None, Some(dt)) => {
                            serde_json::json!({ "@value": v, "@type": dt })
                        }
                        Term::Literal(v, None, None) => serde_json::json!({ "@value": v }),
                        other => serde_json::json!({ "@id": node_id(other) }),
                    };
                    let values = node
                        .entry(p.clone())
                        .or_insert_with(|| serde_json::json!([]));
                    if let Some(a) = values.as_array_mut() {
                        a.push(value);
                    }
                }
                serde_json::Value::Object(node)
            })
            .collect();
        serde_json::Value::Array(nodes)
    }

    /// RDF/XML: one `rdf:Description` per subject.
    pub fn rdf_xml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rdf:RDF");
        for (p, ns) in NS.iter().filter(|(p, _)| *p != "xml") {
            out.push_str(&format!("\n  xmlns:{p}=\"{ns}\""));
        }
        out.push_str(">\n");
        for (s, props) in self.subjects() {
            match s {
                Term::Blank(b) => {
                    out.push_str(&format!("  <rdf:Description rdf:nodeID=\"{b}\">\n"))
                }
                Term::Iri(i) => out.push_str(&format!(
                    "  <rdf:Description rdf:about=\"{}\">\n",
                    xml_escape(i)
                )),
                Term::Literal(..) => continue,
            }
            for (p, o) in props {
                let Some((prefix, local)) = compact(p) else {
                    continue;
                };
                let name = format!("{prefix}:{local}");
                match o {
                    Term::Iri(i) => out.push_str(&format!(
                        "    <{name} rdf:resource=\"{}\"/>\n",
                        xml_escape(i)
                    )),
                    Term::Blank(b) => out.push_str(&format!("    <{name} rdf:nodeID=\"{b}\"/>\n")),
                    Term::Literal(v, Some(lang), _) => out.push_str(&format!(
                        "    <{name} xml:lang=\"{lang}\">{}</{name}>\n",
                        xml_escape(v)
                    )),
                    Term::Literal(v, None, Some(dt)) => out.push_str(&format!(
                        "    <{name} rdf:datatype=\"{}\">{}</{name}>\n",
                        xml_escape(dt),
                        xml_escape(v)
                    )),
                    Term::Literal(v, None, None) => {
                        out.push_str(&format!("    <{name}>{}</{name}>\n", xml_escape(v)))
                    }
                }
            }
            out.push_str("  </rdf:Description>\n");
        }
        out.push_str("</rdf:RDF>\n");
        out
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

fn theme(base: &str, d: Domain) -> Term {
    iri(&format!("{base}/themes/{}", d.as_str()))
}

/// One entry's triples: the dataset, its publisher, its distributions.
fn dataset(g: &mut Graph, base: &str, d: &DatasetView, resources: &[ResourceView]) -> Term {
    let m = &d.metadata;
    // The dataset is a thing; its page on the portal is a document about it.
    let id = iri(&format!("{base}/datasets/{}#dataset", d.id));
    let page = iri(&format!("{base}/datasets/{}", d.id));
    let publisher = iri(&format!("{base}/organizations/{}", d.provider.id));
    g.a(&id, "dcat:Dataset");
    g.triple(&id, "dct:title", &text(&m.title, Some("zh")));
    g.triple(&id, "dct:description", &text(&m.summary, Some("zh")));
    g.triple(&id, "dct:identifier", &text(&d.code, None));
    g.triple(&id, "dcat:landingPage", &page);
    g.a(&page, "foaf:Document");
    for k in &m.keywords {
        g.triple(&id, "dcat:keyword", &text(k, Some("zh")));
    }
    g.triple(&id, "dct:publisher", &publisher);
    g.a(&publisher, "foaf:Agent");
    g.triple(&publisher, "foaf:name", &text(&d.provider.name, Some("zh")));
    let rights = iri(&format!(
        "http://publications.europa.eu/resource/authority/access-right/{}",
        access_right(m.open_type)
    ));
    g.triple(&id, "dct:accessRights", &rights);
    g.a(&rights, "dct:RightsStatement");
    let cycle = iri(&format!(
        "http://publications.europa.eu/resource/authority/frequency/{}",
        frequency(m.update_cycle)
    ));
    g.triple(&id, "dct:accrualPeriodicity", &cycle);
    g.a(&cycle, "dct:Frequency");
    if !m.legal_basis.trim().is_empty() {
        let law = iri(&format!("{base}/datasets/{}#legal-basis", d.id));
        g.triple(&id, "dcatap:applicableLegislation", &law);
        g.a(&law, "eli:LegalResource");
        g.triple(&law, "dct:title", &text(&m.legal_basis, Some("zh")));
    }
    for domain in &m.domains {
        let concept = theme(base, *domain);
        g.triple(&id, "dcat:theme", &concept);
        g.a(&concept, "skos:Concept");
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
        g.a(&dist, "dcat:Distribution");
        g.triple(&dist, "dct:title", &text(&r.name, Some("zh")));
        g.triple(&dist, "dcat:accessURL", &download);
        g.triple(&dist, "dcat:downloadURL", &download);
        if table {
            let csv = iri("http://publications.europa.eu/resource/authority/file-type/CSV");
            g.triple(&dist, "dct:format", &csv);
            g.a(&csv, "dct:MediaTypeOrExtent");
            g.triple(
                &dist,
                "dcat:mediaType",
                &iri("https://www.iana.org/assignments/media-types/text/csv"),
            );
            g.a(
                &iri("https://www.iana.org/assignments/media-types/text/csv"),
                "dct:MediaType",
            );
            // The data items, as the table's columns.
            let schema = g.fresh();
            g.triple(&dist, "dct:conformsTo", &schema);
            g.a(&schema, "dct:Standard");
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
) -> Graph {
    let base = base.trim_end_matches('/');
    let mut g = Graph::default();
    let catalog = iri(&format!("{base}/catalog"));
    let platform = iri(&format!("{base}/#platform"));
    g.a(&catalog, "dcat:Catalog");
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
    g.a(&home, "foaf:Document");
    g.a(&platform, "foaf:Agent");
    g.triple(
        &platform,
        "foaf:name",
        &text("公共数据开放平台", Some("zh")),
    );
    let scheme = iri(&format!("{base}/themes"));
    g.a(&scheme, "skos:ConceptScheme");
    g.triple(&scheme, "dct:title", &text("重点领域", Some("zh")));
    g.triple(&catalog, "dcat:themeTaxonomy", &scheme);
    for (d, r) in found.items.iter().zip(resources) {
        let id = dataset(&mut g, base, d, r);
        g.triple(&catalog, "dcat:dataset", &id);
    }
    let last = ((found.total + found.per_page - 1) / found.per_page).max(1);
    let view = iri(&page_iri(found.page));
    g.a(&view, "hydra:PartialCollectionView");
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
        &Term::Literal(found.total.to_string(), None, Some(expand("xsd:integer"))),
    );
    g
}

/// One dataset, with its publisher and distributions.
pub fn dataset_document(base: &str, d: &DatasetView, resources: &[ResourceView]) -> Graph {
    let mut g = Graph::default();
    dataset(&mut g, base.trim_end_matches('/'), d, resources);
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iris_and_literals_cannot_break_out() {
        assert_eq!(turtle_iri("http://x/a b>c"), "<http://x/a%20b%3Ec>");
        assert_eq!(turtle_string("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        assert_eq!(turtle_string("\u{1}"), "\"\\u0001\"");
        assert_eq!(
            xml_escape("<a & 'b'>\u{1}"),
            "&lt;a &amp; &apos;b&apos;&gt;"
        );
        let mut g = Graph::default();
        let s = iri("http://x/s");
        g.a(&s, "dcat:Dataset");
        g.triple(&s, "dct:title", &text("标题</x>", Some("zh")));
        assert!(g.turtle().contains("<http://x/s> a dcat:Dataset ."));
        let ld = g.json_ld();
        assert_eq!(ld[0]["@type"][0], "http://www.w3.org/ns/dcat#Dataset");
        assert_eq!(
            ld[0]["http://purl.org/dc/terms/title"][0]["@value"],
            "标题</x>"
        );
        assert!(
            g.rdf_xml()
                .contains("<dct:title xml:lang=\"zh\">标题&lt;/x&gt;</dct:title>")
        );
    }
}

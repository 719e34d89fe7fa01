//! Catalog search that works in Chinese. Stock Solr schemas split on whitespace, and
//! Chinese has none, so a CKAN portal finds nothing for 企业登记. Here every text field is
//! cut into words by jieba (search mode, so 企业登记注册 also yields 企业, 登记, 注册), and
//! titles, keywords and data-item names are also indexed as character bigrams, which find
//! partial words and abbreviations jieba does not know (登记注 in 企业登记注册). Codes
//! (信息资源代码, credit codes) are matched exactly, never segmented.
//!
//! The index is derived: it holds published entries only and is rebuilt from the store
//! whenever it is missing or stale. It knows nothing of who asks; the caller passes only
//! what the public may see.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;
use tantivy::collector::{Count, FacetCollector, MultiCollector, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    FAST, Facet, FacetOptions, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema,
    TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{LowerCaser, NgramTokenizer, TextAnalyzer, TokenStream};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term,
};

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search index directory: {0}")]
    Directory(#[from] tantivy::directory::error::OpenDirectoryError),
    #[error("search index: {0}")]
    Io(#[from] std::io::Error),
}

type Result<T> = std::result::Result<T, SearchError>;

/// What the index holds of one published catalog entry.
#[derive(Debug, Clone, Default)]
pub struct EntryDoc {
    pub id: u64,
    /// 信息资源代码, and any other code it is found by exactly (the provider's credit
    /// code).
    pub codes: Vec<String>,
    pub title: String,
    pub summary: String,
    pub keywords: Vec<String>,
    /// Names of the data items (信息项).
    pub items: Vec<String>,
    pub provider: String,
    pub provider_id: u64,
    pub domains: Vec<String>,
    pub region: String,
    pub open_type: String,
    pub share_type: String,
    pub formats: Vec<String>,
    pub update_cycle: String,
    pub grade: String,
    /// Seconds since the epoch.
    pub updated_at: i64,
    pub downloads: u64,
}

/// The facet dimensions, as they are named in queries and results. A region is counted
/// under its province, city and county alike (370102 also under 370100 and 370000).
pub const FACETS: [&str; 8] = [
    "domain",
    "provider",
    "region",
    "open_type",
    "share_type",
    "format",
    "update_cycle",
    "grade",
];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    #[default]
    Relevance,
    RecentlyUpdated,
    MostDownloaded,
}

#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub text: String,
    /// Facet dimension → the values wanted; values of one dimension are alternatives,
    /// dimensions all apply.
    pub filters: BTreeMap<String, Vec<String>>,
    /// Entries of this provider only.
    pub provider_id: Option<u64>,
    /// Entries of providers in this region or below it: a code prefix (37, 3701,
    /// 370102) or a whole code.
    pub region: Option<String>,
    pub sort: Sort,
    pub offset: usize,
    pub limit: usize,
    /// Values shown per facet dimension.
    pub facet_limit: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Hit {
    pub id: u64,
    pub score: f32,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    pub total: usize,
    pub hits: Vec<Hit>,
    /// Dimension → (value, count), most frequent first.
    pub facets: BTreeMap<String, Vec<(String, u64)>>,
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    codes: Field,
    title: Field,
    summary: Field,
    keywords: Field,
    items: Field,
    provider: Field,
    grams: Field,
    updated_at: Field,
    downloads: Field,
    provider_id: Field,
    facets: [Field; 8],
}

const WORDS: &str = "jieba";
const GRAMS: &str = "bigram";

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let words = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(WORDS)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let grams = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(GRAMS)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        id: b.add_u64_field("id", INDEXED | STORED | FAST),
        codes: b.add_text_field("codes", STRING),
        title: b.add_text_field("title", words.clone()),
        summary: b.add_text_field("summary", words.clone()),
        keywords: b.add_text_field("keywords", words.clone()),
        items: b.add_text_field("items", words.clone()),
        provider: b.add_text_field("provider", words),
        grams: b.add_text_field("grams", grams),
        updated_at: b.add_i64_field("updated_at", FAST),
        downloads: b.add_u64_field("downloads", FAST),
        provider_id: b.add_u64_field("provider_id", INDEXED),
        // Prefixed: `provider` is also a text field.
        facets: FACETS.map(|name| b.add_facet_field(&facet_field(name), FacetOptions::default())),
    };
    (b.build(), fields)
}

/// Words small enough to match everything; a query of only these matches nothing extra.
const STOP: &[&str] = &["的", "和", "与", "及", "了", "在", "是", "或", "等", "之"];

fn register_tokenizers(index: &Index) -> Result<()> {
    index.tokenizers().register(
        WORDS,
        TextAnalyzer::builder(tantivy_jieba::JiebaTokenizer::new())
            .filter(LowerCaser)
            .build(),
    );
    index.tokenizers().register(
        GRAMS,
        TextAnalyzer::builder(NgramTokenizer::new(2, 2, false)?)
            .filter(LowerCaser)
            .build(),
    );
    Ok(())
}

/// The catalog index, on disk beside the data or in memory.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    /// Taken at the first write: the index directory admits one writer, and a command run
    /// beside the server (which holds it) only reads.
    writer: Mutex<Option<IndexWriter>>,
    fields: Fields,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").finish_non_exhaustive()
    }
}

/// Memory the writer may buffer before it flushes a segment.
const WRITER_HEAP: usize = 64 * 1024 * 1024;

impl SearchIndex {
    /// Opens the index in `dir`, creating it when absent. An index whose schema is not
    /// this one (an older release) is emptied, to be rebuilt: it is derived.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = schema();
        let directory = tantivy::directory::MmapDirectory::open(dir)?;
        let index = match Index::open_or_create(directory, schema.clone()) {
            Ok(index) => index,
            Err(tantivy::TantivyError::SchemaError(_)) => {
                std::fs::remove_dir_all(dir)?;
                std::fs::create_dir_all(dir)?;
                Index::create_in_dir(dir, schema)?
            }
            Err(e) => return Err(e.into()),
        };
        Self::with_index(index, fields)
    }

    pub fn in_memory() -> Result<Self> {
        let (schema, fields) = schema();
        Self::with_index(Index::create_in_ram(schema), fields)
    }

    fn with_index(index: Index, fields: Fields) -> Result<Self> {
        register_tokenizers(&index)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            index,
            reader,
            writer: Mutex::new(None),
            fields,
        })
    }

    /// Entries in the index.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs `f` with the writer, taking it first if this process has not yet, then
    /// commits and makes the result visible to searches.
    fn write(&self, f: impl FnOnce(&mut IndexWriter, &Self) -> Result<()>) -> Result<()> {
        let mut slot = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(self.index.writer(WRITER_HEAP)?);
        }
        let Some(w) = slot.as_mut() else {
            return Ok(());
        };
        f(w, self)?;
        w.commit()?;
        drop(slot);
        self.reader.reload()?;
        Ok(())
    }

    fn document(&self, e: &EntryDoc) -> Result<TantivyDocument> {
        let f = &self.fields;
        let mut d = TantivyDocument::default();
        d.add_u64(f.id, e.id);
        for c in &e.codes {
            d.add_text(f.codes, c.trim().to_uppercase());
        }
        d.add_text(f.title, &e.title);
        d.add_text(f.summary, &e.summary);
        for k in &e.keywords {
            d.add_text(f.keywords, k);
        }
        for i in &e.items {
            d.add_text(f.items, i);
        }
        d.add_text(f.provider, &e.provider);
        // Bigrams of what people shorten: titles, keywords, item names, providers.
        d.add_text(f.grams, &e.title);
        d.add_text(f.grams, &e.provider);
        for k in e.keywords.iter().chain(&e.items) {
            d.add_text(f.grams, k);
        }
        d.add_i64(f.updated_at, e.updated_at);
        d.add_u64(f.downloads, e.downloads);
        d.add_u64(f.provider_id, e.provider_id);
        let provider = format!("{}:{}", e.provider_id, e.provider);
        let one = |v: &str| vec![v.to_owned()];
        let values: [Vec<String>; 8] = [
            e.domains.clone(),
            one(&provider),
            Vec::new(),
            one(&e.open_type),
            one(&e.share_type),
            e.formats.clone(),
            one(&e.update_cycle),
            one(&e.grade),
        ];
        for (field, vs) in f.facets.iter().zip(values) {
            for v in vs.iter().filter(|v| !v.is_empty()) {
                d.add_facet(*field, facet(v));
            }
        }
        if let Some(region) = region_facet(&e.region) {
            d.add_facet(f.facets[REGION], region);
        }
        Ok(d)
    }

    /// Replaces the whole index with `entries` in one commit: readers see the old index
    /// or the new one.
    pub fn rebuild(&self, entries: impl IntoIterator<Item = EntryDoc>) -> Result<u64> {
        let mut n = 0;
        self.write(|w, me| {
            w.delete_all_documents()?;
            for e in entries {
                w.add_document(me.document(&e)?)?;
                n += 1;
            }
            Ok(())
        })?;
        Ok(n)
    }

    /// Adds an entry, or replaces the one with its id, and makes it searchable.
    pub fn upsert(&self, entry: &EntryDoc) -> Result<()> {
        self.write(|w, me| {
            w.delete_term(Term::from_field_u64(me.fields.id, entry.id));
            w.add_document(me.document(entry)?)?;
            Ok(())
        })
    }

    /// Removes an entry (withdrawn, or back to a draft).
    pub fn remove(&self, id: u64) -> Result<()> {
        self.write(|w, me| {
            w.delete_term(Term::from_field_u64(me.fields.id, id));
            Ok(())
        })
    }

    /// Words of `text` as the index cut them, without stop words and punctuation.
    fn words(&self, text: &str) -> Vec<String> {
        let mut analyzer =
            TextAnalyzer::builder(tantivy_jieba::JiebaTokenizer::with_search_mode(false))
                .filter(LowerCaser)
                .build();
        let mut stream = analyzer.token_stream(text);
        let mut out: Vec<String> = Vec::new();
        while stream.advance() {
            let t = stream.token().text.trim().to_owned();
            if t.is_empty()
                || STOP.contains(&t.as_str())
                || t.chars().all(|c| !c.is_alphanumeric())
                || out.contains(&t)
            {
                continue;
            }
            out.push(t);
        }
        out
    }

    fn grams_of(&self, text: &str) -> Vec<String> {
        let chars: Vec<char> = text
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        let mut out: Vec<String> = chars.windows(2).map(|w| w.iter().collect()).collect();
        out.dedup();
        out
    }

    fn text_query(&self, text: &str) -> Option<Box<dyn Query>> {
        let f = &self.fields;
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let term = |field: Field, t: &str, boost: f32| -> (Occur, Box<dyn Query>) {
            (
                Occur::Should,
                Box::new(BoostQuery::new(
                    Box::new(TermQuery::new(
                        Term::from_field_text(field, t),
                        IndexRecordOption::WithFreqs,
                    )),
                    boost,
                )),
            )
        };
        let mut alternatives: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        // A code is found exactly, and first.
        alternatives.push(term(f.codes, &text.to_uppercase(), 50.0));
        // Every word somewhere: in the title first, then keywords, items, provider, summary.
        let words = self.words(text);
        if !words.is_empty() {
            let each: Vec<(Occur, Box<dyn Query>)> = words
                .iter()
                .map(|w| {
                    let fields = vec![
                        term(f.title, w, 4.0),
                        term(f.keywords, w, 3.0),
                        term(f.items, w, 2.0),
                        term(f.provider, w, 2.0),
                        term(f.summary, w, 1.0),
                    ];
                    (
                        Occur::Must,
                        Box::new(BooleanQuery::new(fields)) as Box<dyn Query>,
                    )
                })
                .collect();
            alternatives.push((Occur::Should, Box::new(BooleanQuery::new(each))));
        }
        // Or every bigram of the text in a title, keyword or item name: partial words
        // and abbreviations, ranked below whole words.
        let grams = self.grams_of(text);
        if !grams.is_empty() {
            let each: Vec<(Occur, Box<dyn Query>)> = grams
                .iter()
                .map(|g| {
                    (
                        Occur::Must,
                        Box::new(TermQuery::new(
                            Term::from_field_text(f.grams, g),
                            IndexRecordOption::WithFreqs,
                        )) as Box<dyn Query>,
                    )
                })
                .collect();
            alternatives.push((
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(BooleanQuery::new(each)), 0.5)),
            ));
        }
        Some(Box::new(BooleanQuery::new(alternatives)))
    }

    pub fn search(&self, q: &SearchQuery) -> Result<SearchResult> {
        let f = &self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        match self.text_query(&q.text) {
            Some(text) => clauses.push((Occur::Must, text)),
            None => clauses.push((Occur::Must, Box::new(AllQuery))),
        }
        if let Some(id) = q.provider_id {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_u64(f.provider_id, id),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        if let Some(region) = q.region.as_deref().filter(|r| !r.is_empty()) {
            // A region not written as a code matches nothing, as it would in the store.
            let term = region_facet(region).map_or_else(
                || Term::from_field_u64(f.provider_id, u64::MAX),
                |facet| Term::from_facet(f.facets[REGION], &facet),
            );
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
            ));
        }
        for (dimension, values) in &q.filters {
            let Some(pos) = FACETS.iter().position(|d| d == dimension) else {
                continue;
            };
            let either: Vec<(Occur, Box<dyn Query>)> = values
                .iter()
                .map(|v| {
                    (
                        Occur::Should,
                        Box::new(TermQuery::new(
                            Term::from_facet(f.facets[pos], &facet(v)),
                            IndexRecordOption::Basic,
                        )) as Box<dyn Query>,
                    )
                })
                .collect();
            if !either.is_empty() {
                clauses.push((Occur::Must, Box::new(BooleanQuery::new(either))));
            }
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        let limit = q.limit.clamp(1, 1000);
        let top = TopDocs::with_limit(limit).and_offset(q.offset);
        // Every dimension's counts in one pass over the matches.
        let mut counting = MultiCollector::new();
        let handles: Vec<_> = FACETS
            .iter()
            .map(|d| {
                let mut c = FacetCollector::for_field(facet_field(d));
                c.add_facet("/");
                counting.add_collector(c)
            })
            .collect();
        let facet_limit = if q.facet_limit == 0 {
            20
        } else {
            q.facet_limit
        };
        let (total, hits) = match q.sort {
            Sort::Relevance => {
                let (total, docs) = searcher.search(&query, &(Count, top.order_by_score()))?;
                (total, self.hits(&searcher, docs.into_iter())?)
            }
            Sort::RecentlyUpdated => {
                let (total, docs) = searcher.search(
                    &query,
                    &(
                        Count,
                        top.order_by_fast_field::<i64>("updated_at", Order::Desc),
                    ),
                )?;
                (
                    total,
                    self.hits(&searcher, docs.into_iter().map(|(_, a)| (0.0, a)))?,
                )
            }
            Sort::MostDownloaded => {
                let (total, docs) = searcher.search(
                    &query,
                    &(
                        Count,
                        top.order_by_fast_field::<u64>("downloads", Order::Desc),
                    ),
                )?;
                (
                    total,
                    self.hits(&searcher, docs.into_iter().map(|(_, a)| (0.0, a)))?,
                )
            }
        };
        let mut fruits = searcher.search(&query, &counting)?;
        let mut facets = BTreeMap::new();
        for (dimension, handle) in FACETS.iter().zip(handles) {
            let counts = handle.extract(&mut fruits);
            let mut values: Vec<(String, u64)> = counts
                .top_k("/", facet_limit)
                .into_iter()
                .map(|(facet, n)| (facet_value(facet), n))
                .collect();
            values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            facets.insert((*dimension).to_owned(), values);
        }
        Ok(SearchResult {
            total,
            hits,
            facets,
        })
    }

    fn hits(
        &self,
        searcher: &tantivy::Searcher,
        docs: impl Iterator<Item = (f32, DocAddress)>,
    ) -> Result<Vec<Hit>> {
        let mut out = Vec::new();
        for (score, address) in docs {
            let doc: TantivyDocument = searcher.doc(address)?;
            if let Some(id) = doc.get_first(self.fields.id).and_then(|v| v.as_u64()) {
                out.push(Hit { id, score });
            }
        }
        Ok(out)
    }
}

const REGION: usize = 2;

/// A region code (or a prefix of one: 37, 3701) as its path of province, city and
/// county, so that a filter on a province finds its cities' entries.
fn region_facet(code: &str) -> Option<Facet> {
    let code = code.trim();
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let significant = code.trim_end_matches("00");
    let significant = match significant.len() {
        0 | 1 | 3 | 5 => return None,
        n if n > 6 => return None,
        _ => significant,
    };
    let pad = |p: &str| format!("{p:0<6}");
    let mut path = vec![pad(&significant[..2])];
    if significant.len() >= 4 {
        path.push(pad(&significant[..4]));
    }
    if significant.len() == 6 {
        path.push(significant.to_owned());
    }
    Some(Facet::from_path(path))
}

fn facet_field(dimension: &str) -> String {
    format!("facet_{dimension}")
}

/// A facet value as one path segment: `/` inside a value would make a hierarchy.
fn facet(value: &str) -> Facet {
    Facet::from_path([value.replace('/', "／")])
}

fn facet_value(facet: &Facet) -> String {
    facet
        .to_path()
        .last()
        .map(|s| s.replace('／', "/"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;

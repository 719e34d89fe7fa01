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

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    FAST, Facet, FacetOptions, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema,
    TextFieldIndexing, TextOptions,
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
    /// No entry held every word: these hold as many of the words that name data as any.
    pub relaxed: bool,
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    codes: Field,
    title: Field,
    keywords: Field,
    items: Field,
    provider: Field,
    all: Field,
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
    // Every text of the entry in one field: a word is matched on one posting list, and
    // the per-field boosts only score the matches (a union over five fields per word was
    // a fifth of a query's time).
    let all = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(WORDS)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        id: b.add_u64_field("id", INDEXED | STORED | FAST),
        codes: b.add_text_field("codes", STRING),
        title: b.add_text_field("title", words.clone()),
        keywords: b.add_text_field("keywords", words.clone()),
        items: b.add_text_field("items", words.clone()),
        provider: b.add_text_field("provider", words),
        all: b.add_text_field("all", all),
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

/// Words of a question that say nothing about which data is wanted: dropped when a query
/// that must match every word finds nothing and is tried again matching any.
const QUESTION_WORDS: &[&str] = &[
    "哪些",
    "哪里",
    "哪个",
    "什么",
    "怎么",
    "怎样",
    "如何",
    "可以",
    "能否",
    "有没有",
    "是否",
    "会不会",
    "查询",
    "查",
    "查找",
    "查看",
    "找",
    "附近",
    "我",
    "我们",
    "想",
    "要",
    "需要",
    "一下",
    "有",
    "吗",
    "呢",
    "明天",
    "今天",
    "最新",
];

/// Short forms people type for the names the catalog uses (政务常用简称). A query holding
/// one is also run with the full name in its place. The list is of general usage, not of
/// this catalog: departments, programmes and everyday names of government data.
const ABBREVIATIONS: &[(&str, &[&str])] = &[
    ("发改委", &["发展和改革委员会"]),
    ("卫健委", &["卫生健康委员会"]),
    ("卫健", &["卫生健康"]),
    ("人社厅", &["人力资源和社会保障厅"]),
    ("人社局", &["人力资源和社会保障局"]),
    ("人社", &["人力资源和社会保障"]),
    ("市场监管局", &["市场监督管理局"]),
    ("市监局", &["市场监督管理局"]),
    ("住建", &["住房和城乡建设"]),
    ("自然资源局", &["自然资源和规划局", "自然资源局"]),
    ("生态环境局", &["生态环境局", "生态环境厅"]),
    ("环保", &["生态环境", "环境保护"]),
    ("大数据局", &["大数据局", "大数据中心"]),
    ("公积金", &["住房公积金"]),
    ("社保", &["社会保险", "社会保障"]),
    ("医保", &["医疗保险", "医疗保障"]),
    ("低保", &["最低生活保障"]),
    ("高校", &["高等学校", "高等院校"]),
    ("中小学", &["中学", "小学"]),
    ("幼儿园", &["幼儿园", "学前教育"]),
    ("出租车", &["出租汽车", "巡游出租"]),
    ("网约车", &["网络预约出租汽车", "出租汽车"]),
    ("公交", &["公共交通", "公交"]),
    ("高速", &["高速公路"]),
    ("老赖", &["失信被执行人", "失信"]),
    ("黑名单", &["失信", "严重失信"]),
    ("红名单", &["守信激励", "守信"]),
    ("营业执照", &["企业登记", "营业执照"]),
    ("工商", &["市场主体登记", "企业登记"]),
    ("SC证", &["食品生产许可"]),
    ("医生", &["医师"]),
    ("护士", &["护士", "护理"]),
    ("房产", &["不动产"]),
    ("土地", &["建设用地", "土地"]),
    ("空气", &["空气质量"]),
    ("天气", &["天气预报", "气象"]),
    ("下雨", &["降水", "天气预报"]),
    ("污染", &["污染", "排污"]),
    ("招工", &["招聘"]),
    ("找工作", &["招聘", "就业"]),
    ("培训", &["职业技能培训", "培训"]),
    ("司机", &["驾驶员", "从业人员"]),
    ("处罚", &["行政处罚"]),
    ("许可证", &["许可"]),
    ("办学", &["办学许可", "学校"]),
];

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
    /// Answers of recent queries against the searcher generation they were computed on:
    /// the counts of a popular short query cost a pass over thousands of matches, and a
    /// portal is asked the same few queries all day. Any change to the index starts a new
    /// generation, which empties it.
    cache: Mutex<ResultCache>,
}

/// How many distinct recent queries keep their answers.
const CACHED_QUERIES: usize = 4096;

struct ResultCache {
    generation: u64,
    answers: lru::LruCache<String, SearchResult>,
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
            cache: Mutex::new(ResultCache {
                generation: u64::MAX,
                answers: lru::LruCache::new(
                    std::num::NonZeroUsize::new(CACHED_QUERIES)
                        .unwrap_or(std::num::NonZeroUsize::MIN),
                ),
            }),
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
        for k in &e.keywords {
            d.add_text(f.keywords, k);
        }
        for i in &e.items {
            d.add_text(f.items, i);
        }
        d.add_text(f.provider, &e.provider);
        for text in [&e.title, &e.summary, &e.provider]
            .into_iter()
            .chain(&e.keywords)
            .chain(&e.items)
        {
            d.add_text(f.all, text);
        }
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
        self.merge_segments()?;
        Ok(n)
    }

    /// Merges the index into one segment. Every query pays per segment to count facets
    /// (the facet dictionary is walked in each), so a rebuilt index is served as one;
    /// later single-entry updates add small segments the merge policy folds in.
    fn merge_segments(&self) -> Result<()> {
        let ids = self.index.searchable_segment_ids()?;
        if ids.len() < 2 {
            return Ok(());
        }
        let mut slot = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = slot.as_mut() {
            w.merge(&ids).wait()?;
            // Merged segments' files go now rather than at the next commit.
            w.garbage_collect_files().wait()?;
        }
        drop(slot);
        self.reader.reload()?;
        Ok(())
    }

    /// Adds an entry, or replaces the one with its id, and makes it searchable.
    pub fn upsert(&self, entry: &EntryDoc) -> Result<()> {
        self.upsert_many(std::slice::from_ref(entry))
    }

    /// Replaces several entries in one commit (their use counts moved, say).
    pub fn upsert_many(&self, entries: &[EntryDoc]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.write(|w, me| {
            for entry in entries {
                w.delete_term(Term::from_field_u64(me.fields.id, entry.id));
                w.add_document(me.document(entry)?)?;
            }
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

    /// The text query: the text as typed, or as well with each short form it holds
    /// replaced by its full names. `min_words` relaxes "every word" to "this many of the
    /// words that are not question words", for a question that found nothing.
    fn text_query(&self, text: &str, min_words: Option<usize>) -> Option<Box<dyn Query>> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let mut variants = vec![self.phrase_query(text, min_words)?];
        for (short, full) in ABBREVIATIONS {
            if text.contains(short) {
                for name in *full {
                    let replaced = text.replace(short, name);
                    if let Some(q) = self.phrase_query(&replaced, min_words) {
                        // The full name ranks a little below the words as typed.
                        variants.push((Occur::Should, Box::new(BoostQuery::new(q.1, 0.9))));
                    }
                }
            }
        }
        Some(Box::new(BooleanQuery::new(variants)))
    }

    /// The words a relaxed query counts: those that say what data is wanted.
    fn content_words(&self, text: &str) -> Vec<String> {
        let mut words = self.words(text);
        words.retain(|w| !QUESTION_WORDS.contains(&w.as_str()));
        words
    }

    fn phrase_query(
        &self,
        text: &str,
        min_words: Option<usize>,
    ) -> Option<(Occur, Box<dyn Query>)> {
        let f = &self.fields;
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
        let words = match min_words {
            None => self.words(text),
            Some(_) => self.content_words(text),
        };
        let each_word = if min_words.is_some() {
            Occur::Should
        } else {
            Occur::Must
        };
        if !words.is_empty() {
            let each: Vec<(Occur, Box<dyn Query>)> = words
                .iter()
                .map(|w| {
                    // Matched anywhere in the entry; ranked by where: the title first,
                    // then keywords, items and provider.
                    let placed = vec![
                        term(f.title, w, 4.0),
                        term(f.keywords, w, 3.0),
                        term(f.items, w, 2.0),
                        term(f.provider, w, 2.0),
                    ];
                    let word: Vec<(Occur, Box<dyn Query>)> = vec![
                        (
                            Occur::Must,
                            Box::new(TermQuery::new(
                                Term::from_field_text(f.all, w),
                                IndexRecordOption::WithFreqs,
                            )),
                        ),
                        (Occur::Should, Box::new(BooleanQuery::new(placed))),
                    ];
                    (
                        each_word,
                        Box::new(BooleanQuery::new(word)) as Box<dyn Query>,
                    )
                })
                .collect();
            let all = match min_words {
                Some(m) => BooleanQuery::with_minimum_required_clauses(each, m.min(words.len())),
                None => BooleanQuery::new(each),
            };
            alternatives.push((Occur::Should, Box::new(all)));
        }
        // Or every bigram of the text in a title, keyword or item name: partial words
        // and abbreviations, ranked below whole words. A question matches on its words.
        let grams = if min_words.is_some() {
            Vec::new()
        } else {
            self.grams_of(text)
        };
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
        Some((Occur::Should, Box::new(BooleanQuery::new(alternatives))))
    }

    pub fn search(&self, q: &SearchQuery) -> Result<SearchResult> {
        let generation = self.reader.searcher().generation().generation_id();
        let key = format!("{q:?}");
        {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.generation != generation {
                cache.answers.clear();
                cache.generation = generation;
            }
            if let Some(found) = cache.answers.get(&key) {
                return Ok(found.clone());
            }
        }
        let found = self.answer(q)?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.generation == generation {
            cache.answers.put(key, found.clone());
        }
        Ok(found)
    }

    fn answer(&self, q: &SearchQuery) -> Result<SearchResult> {
        let found = self.run(q, None)?;
        // Every word must match; a question in everyday words rarely does, so it is asked
        // again without its question words, needing one word fewer each time, so that
        // entries matching more of what was asked come first.
        if found.total > 0 || self.words(&q.text).len() < 2 {
            return Ok(found);
        }
        for m in (1..=self.content_words(&q.text).len()).rev() {
            let mut relaxed = self.run(q, Some(m))?;
            if relaxed.total > 0 {
                relaxed.relaxed = true;
                return Ok(relaxed);
            }
        }
        Ok(found)
    }

    fn run(&self, q: &SearchQuery, min_words: Option<usize>) -> Result<SearchResult> {
        let f = &self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        match self.text_query(&q.text, min_words) {
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
        // Every dimension's counts, the total and the page in one pass over the matches.
        let counting = DimensionCounts {
            fields: FACETS.iter().map(|d| facet_field(d)).collect(),
        };
        let facet_limit = if q.facet_limit == 0 {
            20
        } else {
            q.facet_limit
        };
        let (total, hits, counted) = match q.sort {
            Sort::Relevance => {
                let (total, docs, fruits) =
                    searcher.search(&query, &(Count, top.order_by_score(), counting))?;
                (total, self.hits(&searcher, docs.into_iter())?, fruits)
            }
            Sort::RecentlyUpdated => {
                let (total, docs, fruits) = searcher.search(
                    &query,
                    &(
                        Count,
                        top.order_by_fast_field::<i64>("updated_at", Order::Desc),
                        counting,
                    ),
                )?;
                let docs = docs.into_iter().map(|(_, a)| (0.0, a));
                (total, self.hits(&searcher, docs)?, fruits)
            }
            Sort::MostDownloaded => {
                let (total, docs, fruits) = searcher.search(
                    &query,
                    &(
                        Count,
                        top.order_by_fast_field::<u64>("downloads", Order::Desc),
                        counting,
                    ),
                )?;
                let docs = docs.into_iter().map(|(_, a)| (0.0, a));
                (total, self.hits(&searcher, docs)?, fruits)
            }
        };
        // Regions are counted one level below the region asked for (the cities of a
        // province), and below the one province a provincial catalog holds.
        let region_level = q
            .region
            .as_deref()
            .and_then(region_facet)
            .map_or(0, |f| f.to_path().len());
        let mut facets = BTreeMap::new();
        for (i, (dimension, paths)) in FACETS.iter().zip(counted).enumerate() {
            let counts = if i == REGION {
                let provinces = level_counts(&paths, 0);
                let level = if region_level == 0 && provinces.len() == 1 {
                    1
                } else {
                    region_level
                };
                level_counts(&paths, level)
            } else {
                level_counts(&paths, 0)
            };
            let mut values: Vec<(String, u64)> = counts.into_iter().collect();
            values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            values.truncate(facet_limit);
            facets.insert((*dimension).to_owned(), values);
        }
        Ok(SearchResult {
            total,
            hits,
            facets,
            relaxed: false,
        })
    }

    /// The entries' ids, read from the id column rather than the stored documents.
    fn hits(
        &self,
        searcher: &tantivy::Searcher,
        docs: impl Iterator<Item = (f32, DocAddress)>,
    ) -> Result<Vec<Hit>> {
        let mut columns = HashMap::new();
        let mut out = Vec::new();
        for (score, address) in docs {
            let column = match columns.entry(address.segment_ord) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(
                    searcher
                        .segment_reader(address.segment_ord)
                        .fast_fields()
                        .u64("id")?,
                ),
            };
            if let Some(id) = column.first(address.doc_id) {
                out.push(Hit { id, score });
            }
        }
        Ok(out)
    }
}

const REGION: usize = 2;

/// Facet counts by full path, added up at one level of the path (0 is the top); paths
/// that stop above the level are left out.
fn level_counts(paths: &HashMap<String, u64>, level: usize) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for (path, n) in paths {
        if let Some(segment) = path.split('\u{0}').nth(level) {
            *out.entry(segment.to_owned()).or_insert(0) += n;
        }
    }
    out
}

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

/// Counts the top-level value of each facet dimension among the matches from the facet
/// columns: a few array reads per match, where tantivy's `FacetCollector` walks each
/// dimension's dictionary on every query (a third of a query's time at 100,000 entries).
struct DimensionCounts {
    fields: Vec<String>,
}

struct DimensionSegment {
    columns: Vec<Option<tantivy::columnar::StrColumn>>,
    counts: Vec<Vec<u32>>,
}

type DimensionFruit = Vec<HashMap<String, u64>>;

impl tantivy::collector::Collector for DimensionCounts {
    type Fruit = DimensionFruit;
    type Child = DimensionSegment;

    fn for_segment(
        &self,
        _segment: tantivy::SegmentOrdinal,
        reader: &tantivy::SegmentReader,
    ) -> tantivy::Result<DimensionSegment> {
        let mut columns = Vec::with_capacity(self.fields.len());
        let mut counts = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            let column = reader.fast_fields().str(field)?;
            counts.push(vec![0u32; column.as_ref().map_or(0, |c| c.num_terms())]);
            columns.push(column);
        }
        Ok(DimensionSegment { columns, counts })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<DimensionFruit>) -> tantivy::Result<DimensionFruit> {
        let mut out = vec![HashMap::new(); self.fields.len()];
        for fruit in fruits {
            for (merged, counts) in out.iter_mut().zip(fruit) {
                for (value, n) in counts {
                    *merged.entry(value).or_insert(0) += n;
                }
            }
        }
        Ok(out)
    }
}

impl tantivy::collector::SegmentCollector for DimensionSegment {
    type Fruit = DimensionFruit;

    fn collect(&mut self, doc: tantivy::DocId, _score: tantivy::Score) {
        for (column, counts) in self.columns.iter().zip(&mut self.counts) {
            if let Some(column) = column {
                for ord in column.term_ords(doc) {
                    if let Some(n) = counts.get_mut(ord as usize) {
                        *n += 1;
                    }
                }
            }
        }
    }

    fn harvest(self) -> DimensionFruit {
        self.columns
            .iter()
            .zip(self.counts)
            .map(|(column, counts)| {
                let mut values = HashMap::new();
                let Some(column) = column else {
                    return values;
                };
                let mut term = String::new();
                for (ord, n) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
                    term.clear();
                    if column.ord_to_str(ord as u64, &mut term).unwrap_or(false) {
                        // A facet is stored with its path segments separated by NUL (a
                        // region's province, city, county); `level_counts` picks a level.
                        *values.entry(term.replace('／', "/")).or_insert(0) += u64::from(*n);
                    }
                }
                values
            })
            .collect()
    }
}

fn facet_field(dimension: &str) -> String {
    format!("facet_{dimension}")
}

/// A facet value as one path segment: `/` inside a value would make a hierarchy.
fn facet(value: &str) -> Facet {
    Facet::from_path([value.replace('/', "／")])
}

#[cfg(test)]
mod tests;

use super::*;

fn entry(id: u64, code: &str, title: &str, keywords: &[&str], items: &[&str]) -> EntryDoc {
    EntryDoc {
        id,
        codes: vec![code.to_owned()],
        title: title.to_owned(),
        summary: format!("{title}的数据，按月更新。"),
        keywords: keywords.iter().map(|s| (*s).to_owned()).collect(),
        items: items.iter().map(|s| (*s).to_owned()).collect(),
        provider: "山东省市场监督管理局".to_owned(),
        provider_id: 6,
        domains: vec!["market_regulation".to_owned()],
        region: "370000".to_owned(),
        open_type: "unconditional".to_owned(),
        share_type: "unconditional".to_owned(),
        formats: vec!["csv".to_owned(), "xlsx".to_owned()],
        update_cycle: "monthly".to_owned(),
        grade: "general1".to_owned(),
        updated_at: 1_700_000_000 + id as i64,
        downloads: 100 - id,
    }
}

fn catalog() -> SearchIndex {
    let index = SearchIndex::in_memory().unwrap();
    let mut health = entry(
        3,
        "202011/000001",
        "居民电子健康档案",
        &["健康", "慢病管理"],
        &["既往病史"],
    );
    health.provider = "山东省卫生健康委员会".to_owned();
    health.provider_id = 9;
    health.domains = vec!["health".to_owned()];
    health.open_type = "none".to_owned();
    index
        .rebuild([
            entry(
                1,
                "102001/000001",
                "企业登记注册信息",
                &["企业", "市场主体"],
                &["统一社会信用代码", "法定代表人"],
            ),
            entry(
                2,
                "102001/000002",
                "行政处罚信息",
                &["处罚", "信用"],
                &["处罚决定日期", "罚款金额"],
            ),
            health,
        ])
        .unwrap();
    index
}

fn ids(index: &SearchIndex, text: &str) -> Vec<u64> {
    index
        .search(&SearchQuery {
            text: text.to_owned(),
            limit: 10,
            ..SearchQuery::default()
        })
        .unwrap()
        .hits
        .iter()
        .map(|h| h.id)
        .collect()
}

#[test]
fn chinese_words_partial_words_and_codes_are_found() {
    let index = catalog();
    assert_eq!(index.len(), 3);
    // Whole words, without spaces: what whitespace splitting never finds.
    assert_eq!(ids(&index, "企业登记"), vec![1]);
    assert_eq!(ids(&index, "健康档案"), vec![3]);
    // A data item's name, and a word of the provider's name.
    assert_eq!(ids(&index, "罚款金额"), vec![2]);
    assert_eq!(ids(&index, "卫生健康委"), vec![3]);
    // A partial word jieba does not cut out: bigrams find it.
    assert_eq!(ids(&index, "登记注"), vec![1]);
    // Codes exactly, and only exactly.
    assert_eq!(ids(&index, "102001/000002"), vec![2]);
    assert!(ids(&index, "102001/00000").len() <= 3);
    // Nothing for what is not there, and stop words alone add nothing.
    assert!(ids(&index, "航天飞机").is_empty());
    assert_eq!(ids(&index, "的企业登记"), vec![1]);
}

#[test]
fn facets_filters_sorting_and_removal() {
    let index = catalog();
    let all = index
        .search(&SearchQuery {
            limit: 10,
            ..SearchQuery::default()
        })
        .unwrap();
    assert_eq!(all.total, 3);
    assert_eq!(
        all.facets["open_type"],
        vec![("unconditional".to_owned(), 2), ("none".to_owned(), 1)]
    );
    assert_eq!(all.facets["format"][0], ("csv".to_owned(), 3));
    assert!(all.facets["provider"].contains(&("9:山东省卫生健康委员会".to_owned(), 1)));

    let mut filters = BTreeMap::new();
    filters.insert("open_type".to_owned(), vec!["unconditional".to_owned()]);
    let open = index
        .search(&SearchQuery {
            filters: filters.clone(),
            sort: Sort::MostDownloaded,
            limit: 10,
            ..SearchQuery::default()
        })
        .unwrap();
    assert_eq!(
        open.hits.iter().map(|h| h.id).collect::<Vec<_>>(),
        vec![1, 2]
    );
    let recent = index
        .search(&SearchQuery {
            filters,
            sort: Sort::RecentlyUpdated,
            limit: 1,
            offset: 1,
            ..SearchQuery::default()
        })
        .unwrap();
    assert_eq!((recent.total, recent.hits[0].id), (2, 1));

    let mut changed = entry(2, "102001/000002", "行政许可信息", &["许可"], &[]);
    changed.downloads = 0;
    index.upsert(&changed).unwrap();
    assert!(ids(&index, "行政处罚").is_empty());
    assert_eq!(ids(&index, "行政许可"), vec![2]);
    index.remove(2).unwrap();
    assert!(ids(&index, "行政许可").is_empty());
    assert_eq!(index.len(), 2);
}

#[test]
fn an_index_on_disk_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = SearchIndex::open(dir.path()).unwrap();
        index
            .rebuild([entry(1, "102001/000001", "企业登记注册信息", &[], &[])])
            .unwrap();
    }
    let index = SearchIndex::open(dir.path()).unwrap();
    assert_eq!(ids(&index, "企业登记"), vec![1]);
}

#[test]
fn providers_and_regions_filter_down_the_hierarchy() {
    let index = SearchIndex::in_memory().unwrap();
    let mut city = entry(1, "102001/000001", "济南市企业名录", &[], &[]);
    city.region = "370100".into();
    city.provider_id = 7;
    let mut county = entry(2, "102001/000002", "历下区企业名录", &[], &[]);
    county.region = "370102".into();
    county.provider_id = 8;
    let mut other = entry(3, "102001/000003", "青岛市企业名录", &[], &[]);
    other.region = "370200".into();
    index.rebuild([city, county, other]).unwrap();
    let found = |region: Option<&str>, provider: Option<u64>| -> Vec<u64> {
        let mut ids: Vec<u64> = index
            .search(&SearchQuery {
                text: "企业名录".into(),
                region: region.map(str::to_owned),
                provider_id: provider,
                limit: 10,
                ..SearchQuery::default()
            })
            .unwrap()
            .hits
            .iter()
            .map(|h| h.id)
            .collect();
        ids.sort_unstable();
        ids
    };
    assert_eq!(found(Some("37"), None), vec![1, 2, 3]);
    assert_eq!(found(Some("370000"), None), vec![1, 2, 3]);
    assert_eq!(found(Some("3701"), None), vec![1, 2]);
    assert_eq!(found(Some("370102"), None), vec![2]);
    assert_eq!(found(Some("济南"), None), Vec::<u64>::new());
    assert_eq!(found(None, Some(8)), vec![2]);
    // Regions are counted one level below the one asked for; with none asked, below the
    // one province the catalog holds.
    let regions = |region: Option<&str>| -> Vec<(String, u64)> {
        index
            .search(&SearchQuery {
                region: region.map(str::to_owned),
                limit: 1,
                ..SearchQuery::default()
            })
            .unwrap()
            .facets["region"]
            .clone()
    };
    let pairs = |v: &[(&str, u64)]| -> Vec<(String, u64)> {
        v.iter().map(|(c, n)| ((*c).to_owned(), *n)).collect()
    };
    assert_eq!(regions(None), pairs(&[("370100", 2), ("370200", 1)]));
    assert_eq!(regions(Some("3701")), pairs(&[("370102", 1)]));
    assert_eq!(
        regions(Some("370000")),
        pairs(&[("370100", 2), ("370200", 1)])
    );
    let mut shanxi = entry(4, "102001/000004", "太原市企业名录", &[], &[]);
    shanxi.region = "140100".into();
    index.upsert(&shanxi).unwrap();
    assert_eq!(regions(None), pairs(&[("370000", 3), ("140000", 1)]));
}

/// Short forms people type find the full names the catalog uses, ranked after what they
/// literally match; a question in everyday words that does not match every word is
/// asked again with any word, and still finds the data it is about.
#[test]
fn abbreviations_and_everyday_questions_find_the_catalog_names() {
    let index = catalog();
    // 卫健委 = 卫生健康委员会, the provider of entry 3.
    assert_eq!(ids(&index, "卫健委"), vec![3]);
    // 工商 (the old name of market registration) finds the registration entry.
    assert_eq!(ids(&index, "工商"), vec![1]);
    // Every word must match first: a plain query keeps its precision.
    assert_eq!(ids(&index, "企业 信用代码"), vec![1]);
    assert!(!ids(&index, "行政处罚").contains(&1));
    // A question whose every word matches nothing as a whole.
    let found = ids(&index, "哪里可以查企业的罚款金额");
    assert_eq!(found.first(), Some(&2), "{found:?}");
    // Words that match nothing at all still find nothing.
    assert!(ids(&index, "宇宙飞船 火星").is_empty());
}

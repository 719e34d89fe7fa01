//! The demo province: 山东省 with four cities, their big-data authorities, provider
//! departments and a catalog across the priority domains of SD-OPEN §9. Generated from the
//! tables in `data.rs`, deterministically, with no download.

mod data;
mod synthetic;
pub use synthetic::{SYNTHETIC_SCOPES, SYNTHETIC_YEARS, synthetic_title};

use chrono::FixedOffset;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use gongshu_core::catalog::{Category, DataItem, DatasetDraft};
use gongshu_core::types::*;
use gongshu_core::validate::uscc_check_char;
use gongshu_core::{Error, ErrorCode};
use gongshu_store::{DatasetChange, NewDataset, NewUser, OrgFilter, Publication};

use crate::auth::hash_password;
use crate::directory::NewOrgInput;
use crate::{App, Result, store_error};

pub(crate) struct DemoOrg {
    pub(crate) key: &'static str,
    pub(crate) name: &'static str,
    pub(crate) name_en: &'static str,
    pub(crate) region: &'static str,
    pub(crate) authority: bool,
    pub(crate) org_code: &'static str,
    pub(crate) contact: &'static str,
}

pub(crate) struct DemoItem {
    pub(crate) name: &'static str,
    pub(crate) data_type: &'static str,
    pub(crate) length: u32,
    pub(crate) description: &'static str,
    pub(crate) grade: &'static str,
}

pub(crate) struct DemoEntry {
    pub(crate) provider: &'static str,
    pub(crate) title: &'static str,
    pub(crate) summary: &'static str,
    pub(crate) class: u8,
    pub(crate) item: &'static str,
    pub(crate) catalog: &'static str,
    pub(crate) format: &'static str,
    pub(crate) file_formats: &'static [&'static str],
    pub(crate) domains: &'static [&'static str],
    pub(crate) keywords: &'static [&'static str],
    pub(crate) share_type: &'static str,
    pub(crate) share_condition: &'static str,
    pub(crate) share_method: &'static str,
    pub(crate) open_type: &'static str,
    pub(crate) open_condition: &'static str,
    pub(crate) legal_basis: &'static str,
    pub(crate) update_cycle: &'static str,
    pub(crate) grade: &'static str,
    pub(crate) status: &'static str,
    pub(crate) published: &'static str,
    pub(crate) items: &'static [DemoItem],
}

/// The documented default password of every demo account.
pub const DEFAULT_DEMO_PASSWORD: &str = "gongshu-demo";

/// One demo account: who it is and the one role it holds.
#[derive(Debug)]
pub struct DemoAccount {
    pub username: &'static str,
    pub display_name: &'static str,
    pub role: Role,
    /// Key of the demo organisation the role acts for.
    pub org: Option<&'static str>,
    /// Region of the role, for auditors.
    pub region: Option<&'static str>,
}

const fn account(
    username: &'static str,
    display_name: &'static str,
    role: Role,
    org: Option<&'static str>,
    region: Option<&'static str>,
) -> DemoAccount {
    DemoAccount {
        username,
        display_name,
        role,
        org,
        region,
    }
}

/// One account per role, documented in the README.
#[rustfmt::skip]
pub const DEMO_ACCOUNTS: &[DemoAccount] = &[
    account("demo-authority", "省大数据局管理员", Role::AuthorityAdmin, Some("sd-bdb"), None),
    account("demo-provider", "省市场监管局数据管理员", Role::ProviderAdmin, Some("sd-amr"), None),
    account("demo-reviewer", "省市场监管局审核员", Role::ProviderReviewer, Some("sd-amr"), None),
    account("demo-dept", "省卫生健康委工作人员", Role::DeptUser, Some("sd-hc"), None),
    account("demo-auditor", "省级审计员", Role::Auditor, None, Some("370000")),
    account("demo-user", "张三（注册用户）", Role::Registered, None, None),
];

/// A workflow step the demo replays: the new status, what happens to the public copy, who
/// did it, at which hour of the entry's date, with which remark.
type DemoStep = (
    DatasetStatus,
    Publication,
    Option<i64>,
    u32,
    Option<&'static str>,
);

/// 一数一源 claims: (provider, item). The registration authority is the source of
/// credit codes; the environment department's claim on them is a mistake the demo
/// keeps so that the authority's source-conflict list has something to show.
const SOURCE_CLAIMS: &[(&str, &str)] = &[
    ("sd-amr", "统一社会信用代码"),
    ("sd-amr", "企业名称"),
    ("sd-ee", "统一社会信用代码"),
    ("sd-met", "预警等级"),
];

/// 值域 of the coded items, by item name.
const CODE_LISTS: &[(&str, &[&str])] = &[
    ("性别", &["男", "女", "未说明"]),
    ("新生儿性别", &["男", "女", "未说明"]),
    ("预警等级", &["蓝色", "黄色", "橙色", "红色"]),
];

fn bad(what: &str, value: &str) -> Error {
    Error::new(
        ErrorCode::Internal,
        format!("演示数据有误：{what} {value}"),
        format!("demo data is wrong: {what} {value}"),
    )
}

fn vocab<T>(what: &str, value: &str, parse: fn(&str) -> Option<T>) -> Result<T> {
    parse(value).ok_or_else(|| bad(what, value))
}

fn draft_of(e: &DemoEntry) -> Result<DatasetDraft> {
    let items = e
        .items
        .iter()
        .map(|i| {
            Ok(DataItem {
                name: i.name.into(),
                item_type: vocab("data_type", i.data_type, ItemType::parse)?,
                length: i.length,
                description: i.description.into(),
                grade: vocab("grade", i.grade, Grade::parse)?,
                source: SOURCE_CLAIMS.contains(&(e.provider, i.name)),
                codes: CODE_LISTS
                    .iter()
                    .find(|(name, _)| *name == i.name)
                    .map(|(_, codes)| codes.iter().map(|c| (*c).to_owned()).collect())
                    .unwrap_or_default(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(DatasetDraft {
        title: e.title.into(),
        summary: e.summary.into(),
        category: Category {
            class: CategoryClass::from_digit(e.class).ok_or_else(|| bad("class", e.title))?,
            item: e.item.into(),
            catalog: e.catalog.into(),
            detail: None,
        },
        format: vocab("format", e.format, ResourceFormat::parse)?,
        file_formats: e.file_formats.iter().map(|s| (*s).into()).collect(),
        items,
        share_type: vocab("share_type", e.share_type, ShareType::parse)?,
        share_condition: e.share_condition.into(),
        share_method: vocab("share_method", e.share_method, ShareMethod::parse)?,
        open_type: vocab("open_type", e.open_type, OpenType::parse)?,
        open_condition: e.open_condition.into(),
        legal_basis: e.legal_basis.into(),
        update_cycle: vocab("update_cycle", e.update_cycle, UpdateCycle::parse)?,
        related_codes: vec![],
        domains: e
            .domains
            .iter()
            .map(|d| vocab("domain", d, Domain::parse))
            .collect::<Result<_>>()?,
        keywords: e.keywords.iter().map(|s| (*s).into()).collect(),
        grade: vocab("grade", e.grade, Grade::parse)?,
        contact: String::new(),
        license: "政府数据开放许可（署名）".into(),
        classified: false,
        deidentify: false,
    })
}

/// Beijing time of day on a demo date.
fn at(date: &str, hour: u32) -> Result<DateTime<Utc>> {
    let d = NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| bad("date", date))?;
    let cst = FixedOffset::east_opt(8 * 3600).ok_or_else(|| bad("offset", date))?;
    let local = d.and_hms_opt(hour, 0, 0).ok_or_else(|| bad("date", date))?;
    cst.from_local_datetime(&local)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| bad("date", date))
}

/// How much the demo holds, for the start-up log.
#[derive(Debug, Clone, Copy, Default)]
pub struct DemoSummary {
    pub organizations: usize,
    pub datasets: usize,
    pub published: usize,
    pub accounts: usize,
}

impl App {
    /// Loads the demo province into an empty platform. Does nothing when organisations
    /// already exist, so a restarted demo keeps what people did in it.
    pub async fn load_demo(&self, password: &str) -> Result<Option<DemoSummary>> {
        self.seed_regions().await?;
        let existing = self
            .store
            .list_orgs(&OrgFilter::default())
            .await
            .map_err(store_error)?;
        if !existing.is_empty() {
            return Ok(None);
        }
        let mut summary = DemoSummary::default();
        let mut org_ids = std::collections::HashMap::new();
        for o in data::ORGS {
            let body = format!("11{}{}", o.region, o.org_code);
            let check = uscc_check_char(&body).map_err(|_| bad("org_code", o.org_code))?;
            let view = self
                .create_org_unchecked(NewOrgInput {
                    name: o.name.into(),
                    name_en: o.name_en.into(),
                    kind: if o.authority {
                        OrgKind::Authority
                    } else {
                        OrgKind::Provider
                    },
                    region_code: o.region.into(),
                    credit_code: format!("{body}{check}"),
                    contact: o.contact.into(),
                })
                .await?;
            org_ids.insert(o.key, (view.id, o.region));
            summary.organizations += 1;
        }
        let org = |key: &str| org_ids.get(key).copied().ok_or_else(|| bad("org", key));

        // One hash for every demo account: they share the documented password, and
        // hashing once keeps the demo's start-up fast.
        let hash = hash_password(password).await?;
        let now = self.now();
        let mut add_user = async |username: &str, display: &str, kind| {
            let user = self
                .store
                .insert_user(
                    &NewUser {
                        username: username.into(),
                        display_name: display.into(),
                        kind,
                        password_hash: Some(hash.clone()),
                    },
                    now,
                )
                .await
                .map_err(store_error)?;
            summary.accounts += 1;
            Ok::<_, Error>(user.id)
        };
        for a in DEMO_ACCOUNTS {
            let kind = if a.role == Role::Registered {
                UserKind::NaturalPerson
            } else {
                UserKind::Staff
            };
            let id = add_user(a.username, a.display_name, kind).await?;
            let org_id = a.org.map(org).transpose()?.map(|(id, _)| id);
            self.grant_role(None, id, a.role, org_id, a.region.map(str::to_owned))
                .await?;
        }
        // Every other provider gets its own data administrator, so each entry's history
        // names the department that wrote it.
        let mut editors = std::collections::HashMap::new();
        for o in data::ORGS.iter().filter(|o| !o.authority) {
            let (org_id, _) = org(o.key)?;
            let username = format!("{}-admin", o.key);
            let id = match self
                .store
                .get_user_by_name(&username)
                .await
                .map_err(store_error)?
            {
                Some(u) => u.id,
                None => {
                    add_user(&username, &format!("{}数据管理员", o.name), UserKind::Staff).await?
                }
            };
            self.grant_role(None, id, Role::ProviderAdmin, Some(org_id), None)
                .await?;
            editors.insert(o.key, id);
        }
        let reviewer = self.user_by_name("demo-authority").await?.id;

        let caps = self.grade_caps().await?;
        for e in data::ENTRIES {
            let mut draft = draft_of(e)?;
            draft.normalize();
            draft
                .validate(&caps)
                .map_err(|err| bad("entry", &format!("{}: {:?}", e.title, err.fields)))?;
            let (provider_id, region) = org(e.provider)?;
            let editor = editors.get(e.provider).copied();
            let created = at(e.published, 9)?;
            let row = self
                .store
                .create_dataset(&NewDataset {
                    code: None,
                    category_code: &draft.category.code(),
                    provider_id,
                    region_code: region,
                    doc: &draft,
                    actor_id: editor,
                    at: created,
                })
                .await
                .map_err(store_error)?;
            summary.datasets += 1;
            let steps: &[DemoStep] = match e.status {
                "draft" => &[],
                "submitted" => &[(
                    DatasetStatus::Submitted,
                    Publication::Keep,
                    editor,
                    10,
                    None,
                )],
                _ => &[
                    (
                        DatasetStatus::Submitted,
                        Publication::Keep,
                        editor,
                        10,
                        None,
                    ),
                    (
                        DatasetStatus::Published,
                        Publication::Publish,
                        Some(reviewer),
                        15,
                        Some("审核通过"),
                    ),
                ],
            };
            let mut version = row.version;
            for (status, publication, actor, hour, note) in steps {
                let saved = self
                    .store
                    .save_dataset(&DatasetChange {
                        id: row.id,
                        expected_version: version,
                        status: *status,
                        doc: None,
                        note: *note,
                        review: *publication == Publication::Publish,
                        publication: *publication,
                        actor_id: *actor,
                        at: at(e.published, *hour)?,
                    })
                    .await
                    .map_err(store_error)?;
                version = saved.version;
                if *publication == Publication::Publish {
                    summary.published += 1;
                }
            }
        }
        Ok(Some(summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn demo_tables_are_valid_and_cover_the_requirements() {
        let policy = gongshu_core::catalog::GradeCapPolicy::default();
        let mut domains = HashSet::new();
        let mut open = HashSet::new();
        let mut titles = HashSet::new();
        for e in data::ENTRIES {
            let d = draft_of(e).unwrap();
            d.validate(&policy)
                .unwrap_or_else(|err| panic!("{}: {:?}", e.title, err.fields));
            domains.extend(d.domains.iter().copied());
            open.insert(d.open_type);
            assert!(titles.insert(e.title), "duplicate title {}", e.title);
            assert!(
                data::ORGS
                    .iter()
                    .any(|o| o.key == e.provider && !o.authority)
            );
        }
        assert!(data::ENTRIES.len() >= 40);
        assert_eq!(domains.len(), Domain::ALL.len(), "every SD-OPEN §9 domain");
        assert_eq!(open.len(), 3);
        let providers = data::ORGS.iter().filter(|o| !o.authority).count();
        assert!(providers >= 12);
        let cities: HashSet<_> = data::ORGS
            .iter()
            .map(|o| o.region)
            .filter(|r| !r.ends_with("0000"))
            .collect();
        assert!(cities.len() >= 3);
        for o in data::ORGS {
            assert!(
                uscc_check_char(&format!("11{}{}", o.region, o.org_code)).is_ok(),
                "{}",
                o.key
            );
        }
        for a in DEMO_ACCOUNTS {
            if let Some(k) = a.org {
                assert!(data::ORGS.iter().any(|o| o.key == k), "{k}");
            }
        }
    }
}

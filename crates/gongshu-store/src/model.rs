//! What goes in and out of the store. Plain data: the rules are in `gongshu-core`.

use chrono::{DateTime, Utc};
use gongshu_core::catalog::DatasetDraft;
use gongshu_core::types::{
    DatasetStatus, Domain, Grade, OpenType, OrgKind, ShareType, UpdateCycle, UserKind,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionRow {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct NewOrg {
    pub name: String,
    pub name_en: String,
    pub kind: OrgKind,
    pub region_code: String,
    pub credit_code: String,
    pub contact: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgRow {
    pub id: i64,
    pub name: String,
    pub name_en: String,
    pub kind: OrgKind,
    pub region_code: String,
    pub credit_code: String,
    pub contact: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct OrgFilter {
    /// Organisations whose region code starts with this prefix.
    pub region_prefix: Option<String>,
    pub kind: Option<OrgKind>,
}

#[derive(Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub kind: UserKind,
    pub password_hash: Option<String>,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub kind: UserKind,
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

// The password hash is a secret even hashed: keep it out of logs.
impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("kind", &self.kind)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    Session,
    Api,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Api => "api",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewCredential {
    pub token_hash: String,
    pub kind: CredentialKind,
    pub user_id: i64,
    pub csrf: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The one grant an API token is scoped to.
    pub grant_id: Option<i64>,
}

/// An API token as its owner may see it: never the secret, only a prefix of its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenRow {
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub grant_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRow {
    pub user_id: i64,
    pub csrf: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub grant_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewDataset<'a> {
    /// A code carried over from an existing catalog; `None` lets the store assign one.
    pub code: Option<&'a str>,
    pub category_code: &'a str,
    pub provider_id: i64,
    pub region_code: &'a str,
    pub doc: &'a DatasetDraft,
    pub actor_id: Option<i64>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct DatasetRow {
    pub id: i64,
    pub code: String,
    pub provider_id: i64,
    pub region_code: String,
    pub status: DatasetStatus,
    pub version: i64,
    pub doc: DatasetDraft,
    pub review_note: Option<String>,
    pub published_version: Option<i64>,
    pub first_published_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What happens to the public copy along with a change of the working copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publication {
    Keep,
    /// The new revision becomes what the public sees.
    Publish,
    /// The public copy is removed (withdrawal).
    Unpublish,
}

#[derive(Debug, Clone)]
pub struct DatasetChange<'a> {
    pub id: i64,
    pub expected_version: i64,
    pub status: DatasetStatus,
    /// The new content, or `None` to keep the current one.
    pub doc: Option<&'a DatasetDraft>,
    /// A reviewer's reasons or the editor's remark; recorded with the revision.
    pub note: Option<&'a str>,
    /// Whether `note` is a reviewer's remark, shown to the provider until the next review
    /// (otherwise the remark on the working copy is kept).
    pub review: bool,
    pub publication: Publication,
    pub actor_id: Option<i64>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct WorkingQuery {
    /// Entries of these providers …
    pub provider_ids: Vec<i64>,
    /// … or of providers inside these regions (code prefixes).
    pub region_prefixes: Vec<String>,
    pub status: Option<DatasetStatus>,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone)]
pub struct RevisionRow {
    pub dataset_id: i64,
    pub version: i64,
    pub status: DatasetStatus,
    pub doc: DatasetDraft,
    pub actor_id: Option<i64>,
    pub actor_name: Option<String>,
    pub note: Option<String>,
    pub published: bool,
    pub created_at: DateTime<Utc>,
}

/// The published copy of an entry, with its provider's public identity.
#[derive(Debug, Clone)]
pub struct PublishedRow {
    pub id: i64,
    pub code: String,
    pub provider_id: i64,
    pub provider_name: String,
    pub provider_credit_code: String,
    pub region_code: String,
    pub version: i64,
    pub doc: DatasetDraft,
    pub published_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PublishedSort {
    /// Most recently updated first.
    #[default]
    Updated,
    /// Best match of the words first (the search index's order; the store, which has
    /// no ranking, lists these as `Updated`).
    Relevance,
    /// Most downloaded first (the search index's order; the store lists these as
    /// `Updated`).
    Downloads,
    Title,
    Code,
}

#[derive(Debug, Clone, Default)]
pub struct PublishedQuery {
    /// Words that must all appear in the title, summary, keywords, items, code or provider.
    pub q: Option<String>,
    pub domain: Option<Domain>,
    pub provider_id: Option<i64>,
    pub region_prefix: Option<String>,
    /// Any of these open types; empty for all.
    pub open_types: Vec<OpenType>,
    pub share_type: Option<ShareType>,
    pub update_cycle: Option<UpdateCycle>,
    pub grade: Option<Grade>,
    /// Offered in this file format (lower case).
    pub format: Option<String>,
    pub sort: PublishedSort,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// The published catalog at a glance, from one scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishedSummary {
    pub total: i64,
    /// Entries open with or without conditions.
    pub opened: i64,
    /// Entries per priority domain, in `Domain::ALL` order.
    pub by_domain: Vec<(Domain, i64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountRow {
    pub region_code: String,
    pub open_type: OpenType,
    pub share_type: ShareType,
    pub count: i64,
}

/// How much an entry has been used in all: whole downloads and row-API calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageTotals {
    pub dataset_id: i64,
    pub downloads: i64,
    pub api_calls: i64,
}

/// One table or file of a catalog entry.
#[derive(Debug, Clone)]
pub struct ResourceRow {
    pub id: String,
    pub dataset_id: i64,
    pub ordinal: i64,
    pub name: String,
    pub table_name: String,
    pub current_version: Option<i64>,
    /// JSON manifest of the current version.
    pub current_manifest: Option<String>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewResource<'a> {
    pub id: &'a str,
    pub dataset_id: i64,
    pub name: &'a str,
    /// The table name is this prefix, `_`, and the resource's ordinal within its entry.
    pub table_prefix: &'a str,
    pub created_by: Option<i64>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionState {
    Staged,
    Published,
    Discarded,
}

impl VersionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Staged => "staged",
            Self::Published => "published",
            Self::Discarded => "discarded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "staged" => Self::Staged,
            "published" => Self::Published,
            "discarded" => Self::Discarded,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct ResourceVersionRow {
    pub resource_id: String,
    pub version: i64,
    pub manifest: String,
    pub state: VersionState,
    pub uploaded_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

/// A background job and how far it has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub dataset_id: i64,
    pub resource_id: String,
    pub state: String,
    pub rows_read: i64,
    pub rows_rejected: i64,
    pub detail: String,
    pub error: Option<String>,
    pub version: Option<i64>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a year's holiday schedule came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleSource {
    /// Shipped with the platform.
    Official,
    /// Entered by a system administrator.
    Admin,
}

impl ScheduleSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Official => "official",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "official" => Some(Self::Official),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct HolidayScheduleRow {
    pub schedule: gongshu_core::calendar::YearSchedule,
    pub source: ScheduleSource,
    pub updated_by: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

/// A state change of a governed object, as it is recorded.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub at: DateTime<Utc>,
    pub actor_id: Option<i64>,
    pub object_type: &'a str,
    pub object_id: &'a str,
    pub action: &'a str,
    pub reason: &'a str,
    /// JSON.
    pub detail: String,
}

#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<i64>,
    pub object_type: String,
    pub object_id: String,
    pub action: String,
    pub reason: String,
    pub detail: String,
}

/// A grant as it is created (by an approved application or sharing request).
#[derive(Debug, Clone)]
pub struct NewGrant<'a> {
    pub kind: gongshu_core::access::GrantKind,
    pub dataset_id: i64,
    pub holder_user_id: Option<i64>,
    pub holder_org_id: Option<i64>,
    pub modes: &'a [gongshu_core::access::GrantMode],
    pub purpose: &'a str,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub quota_calls_per_day: Option<i64>,
    pub quota_rows_per_day: Option<i64>,
    pub created_by: Option<i64>,
    pub at: DateTime<Utc>,
    /// Why, for the grant's history (e.g. the agreement or request it carries out).
    pub reason: &'a str,
}

#[derive(Debug, Clone)]
pub struct GrantRow {
    pub id: i64,
    pub kind: gongshu_core::access::GrantKind,
    pub dataset_id: i64,
    pub holder_user_id: Option<i64>,
    pub holder_org_id: Option<i64>,
    pub modes: Vec<gongshu_core::access::GrantMode>,
    pub purpose: String,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub quota_calls_per_day: Option<i64>,
    pub quota_rows_per_day: Option<i64>,
    pub terminated_at: Option<DateTime<Utc>>,
    pub terminated_reason: Option<String>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// A grant with its use on one day.
#[derive(Debug, Clone)]
pub struct HeldGrant {
    pub grant: GrantRow,
    pub calls_today: i64,
    pub rows_today: i64,
}

#[derive(Debug, Clone)]
pub struct NewNotification<'a> {
    pub user_id: i64,
    pub kind: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub link: &'a str,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NotificationRow {
    pub id: i64,
    pub user_id: i64,
    pub kind: String,
    pub subject: String,
    pub body: String,
    pub link: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewApplication {
    pub dataset_id: i64,
    pub applicant_id: i64,
    /// The department a sharing request is made for.
    pub requester_org_id: Option<i64>,
    pub state: gongshu_core::apply::ApplicationState,
    /// The application as submitted, JSON, and its SHA-256 (hex).
    pub content: String,
    pub content_hash: String,
    pub at: DateTime<Utc>,
    pub due_on: Option<chrono::NaiveDate>,
    pub due_provisional: bool,
}

#[derive(Debug, Clone)]
pub struct ApplicationRow {
    pub id: i64,
    pub dataset_id: i64,
    pub applicant_id: i64,
    pub requester_org_id: Option<i64>,
    pub state: gongshu_core::apply::ApplicationState,
    pub content: String,
    pub content_hash: String,
    pub submitted_at: DateTime<Utc>,
    pub due_on: Option<chrono::NaiveDate>,
    pub due_provisional: bool,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<i64>,
    pub decision_reason: Option<String>,
    pub quota_calls_per_day: Option<i64>,
    pub quota_rows_per_day: Option<i64>,
    pub agreement: Option<String>,
    pub agreement_hash: Option<String>,
    pub applicant_accepted_at: Option<DateTime<Utc>>,
    pub provider_accepted_at: Option<DateTime<Utc>>,
    pub provider_accepted_by: Option<i64>,
    pub grant_id: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

/// One step of an application, applied only if it is still in `from`.
#[derive(Debug, Clone)]
pub struct ApplicationMove<'a> {
    pub id: i64,
    pub from: gongshu_core::apply::ApplicationState,
    pub to: gongshu_core::apply::ApplicationState,
    pub actor_id: Option<i64>,
    /// The event's action name.
    pub action: &'a str,
    pub reason: &'a str,
    pub at: DateTime<Utc>,
    /// The next step's deadline, if it has one.
    pub due_on: Option<chrono::NaiveDate>,
    pub due_provisional: bool,
    /// A decision (approve, refuse, return): recorded with its reason.
    pub decision: bool,
    /// The agreement text and its hash, on approval.
    pub agreement: Option<(&'a str, &'a str)>,
    /// Daily quotas (calls, rows), on approval.
    pub quotas: (Option<i64>, Option<i64>),
}

/// Whose applications to list: the applicant's own, those on these providers' entries,
/// and those on entries in these regions (code prefixes). Any match lists it.
#[derive(Debug, Clone, Default)]
pub struct ApplicationQuery {
    pub applicant_id: Option<i64>,
    pub provider_ids: Vec<i64>,
    pub region_prefixes: Vec<String>,
}

/// Which side accepts the agreement.
#[derive(Debug, Clone, Copy)]
pub enum AgreementSide {
    Applicant,
    Provider { user_id: i64 },
}

/// Putting an application in force with its grant.
#[derive(Debug, Clone)]
pub struct Activation<'a> {
    pub id: i64,
    /// The state it must still be in.
    pub from: gongshu_core::apply::ApplicationState,
    /// Both sides must have accepted the agreement (opening; sharing has none).
    pub needs_acceptance: bool,
    pub actor_id: Option<i64>,
    /// The event's action name.
    pub action: &'a str,
    pub reason: &'a str,
    pub grant: &'a NewGrant<'a>,
}

/// A change of a published entry's open or share type.
#[derive(Debug, Clone)]
pub struct AttributeChangeRow {
    pub id: i64,
    pub dataset_id: i64,
    pub requested_by: Option<i64>,
    pub state: gongshu_core::change::ChangeState,
    pub route: gongshu_core::change::ChangeRoute,
    /// The request as submitted (JSON of `AttributeChangeInput`).
    pub content: String,
    pub from_open: OpenType,
    pub to_open: OpenType,
    pub from_share: ShareType,
    pub to_share: ShareType,
    pub due_on: Option<chrono::NaiveDate>,
    pub due_provisional: bool,
    pub decided_by: Option<i64>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewAttributeChange<'a> {
    pub dataset_id: i64,
    pub requested_by: i64,
    pub route: gongshu_core::change::ChangeRoute,
    pub content: &'a str,
    pub from_open: OpenType,
    pub to_open: OpenType,
    pub from_share: ShareType,
    pub to_share: ShareType,
    pub due_on: Option<chrono::NaiveDate>,
    pub due_provisional: bool,
    pub reason: &'a str,
    pub at: DateTime<Utc>,
}

/// Which change an application of new attributes settles.
#[derive(Debug, Clone)]
pub enum ChangeTarget<'a> {
    /// A change toward more open, recorded as applied in the same transaction.
    New(NewAttributeChange<'a>),
    /// A pending change the authority approves.
    Pending { id: i64 },
}

/// Puts new open/share attributes into the published entry, in one transaction with the
/// change's record and event. The published copy gets a new revision; an unpublished
/// edit in progress is carried over with the same change as the revision after it.
#[derive(Debug, Clone)]
pub struct AttributeApply<'a> {
    pub target: ChangeTarget<'a>,
    pub dataset_id: i64,
    /// The working copy's version the new documents were derived from.
    pub expected_version: i64,
    pub published: &'a DatasetDraft,
    /// The edit in progress with the change applied, when there is one.
    pub carried_draft: Option<&'a DatasetDraft>,
    pub actor_id: Option<i64>,
    pub reason: &'a str,
    /// The next review of a 有条件共享 entry, or `None` when it is no longer one.
    pub share_review_due: Option<chrono::NaiveDate>,
    pub at: DateTime<Utc>,
}

/// A change request moving without being applied: refused or withdrawn.
#[derive(Debug, Clone)]
pub struct ChangeMove<'a> {
    pub id: i64,
    pub to: gongshu_core::change::ChangeState,
    pub actor_id: i64,
    pub action: &'a str,
    pub reason: &'a str,
    pub decision: bool,
    pub at: DateTime<Utc>,
}

/// What a column of a resource version holds: the detector's proposal and the
/// provider's confirmation (a personal-information kind's wire name, or `none`).
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnClassRow {
    pub resource_id: String,
    pub version: i64,
    pub column_name: String,
    pub proposed_kind: Option<String>,
    /// JSON evidence of the proposal.
    pub proposal: String,
    pub confirmed_kind: Option<String>,
    pub confirmed_by: Option<i64>,
    pub confirmed_at: Option<DateTime<Utc>>,
}

/// What a deadline notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineOf {
    Application,
    AttributeChange,
    CatalogUpdate,
    /// An objection or a demand waiting for its provider's answer.
    Feedback,
}

/// A provider's duty to update its catalog after a change of law or of its duties
/// (SD-EGOV §16), with its deadline.
#[derive(Debug, Clone)]
pub struct CatalogUpdateRow {
    pub id: i64,
    pub provider_id: i64,
    /// The provider's region, for the authority that oversees it.
    pub region_code: String,
    /// `law` or `duties`.
    pub cause: String,
    pub basis: String,
    pub received_on: chrono::NaiveDate,
    pub due_on: chrono::NaiveDate,
    pub due_provisional: bool,
    /// `open` or `done`.
    pub state: String,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub closed_by: Option<i64>,
    pub closed_at: Option<DateTime<Utc>>,
    pub close_note: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewCatalogUpdate<'a> {
    pub provider_id: i64,
    pub cause: &'a str,
    pub basis: &'a str,
    pub received_on: chrono::NaiveDate,
    pub due_on: chrono::NaiveDate,
    pub due_provisional: bool,
    pub created_by: i64,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct ChangeQuery {
    pub dataset_id: Option<i64>,
    pub provider_ids: Vec<i64>,
    pub region_prefixes: Vec<String>,
    pub pending_only: bool,
}

/// The periodic review of a 有条件共享 entry (SX-BIGDATA §28).
#[derive(Debug, Clone)]
pub struct ShareReviewRow {
    pub dataset_id: i64,
    pub provider_id: i64,
    pub region_code: String,
    pub title: String,
    pub published_at: DateTime<Utc>,
    /// `None` until the first schedule is set (at the first reminder run).
    pub due_on: Option<chrono::NaiveDate>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub reviewed_by: Option<i64>,
    pub note: Option<String>,
}

/// A region's own settings as its authority wrote them (JSON; the app knows the shape).
#[derive(Debug, Clone)]
pub struct RegionPolicyRow {
    pub region_code: String,
    pub policy: String,
    pub updated_by: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

/// Where a user wants notifications besides the in-site inbox.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ChannelsRow {
    pub email: Option<String>,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
}

impl std::fmt::Debug for ChannelsRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelsRow")
            .field("email", &self.email)
            .field("webhook_url", &self.webhook_url)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// A notification claimed for sending, with its recipient's channels and what was sent.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub note: NotificationRow,
    pub channels: ChannelsRow,
    pub email_sent: bool,
    pub webhook_sent: bool,
    pub attempts: i64,
}

/// How a delivery attempt went.
#[derive(Debug, Clone)]
pub struct DeliveryOutcome<'a> {
    pub id: i64,
    pub email_sent: bool,
    pub webhook_sent: bool,
    /// `done`, `failed` (given up) or `pending` (try again later).
    pub delivery: &'a str,
    pub error: Option<&'a str>,
    pub at: DateTime<Utc>,
}

/// The auditors' filters over the audit log; newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Actions starting with this (`data.`, `dataset.approve`).
    pub action_prefix: Option<String>,
    pub actor: Option<i64>,
    pub dataset: Option<i64>,
    /// Entries at or after this time (RFC 3339, UTC).
    pub from: Option<String>,
    /// Entries before this time.
    pub until: Option<String>,
    /// Only these entries (an alert's evidence).
    pub seqs: Option<Vec<i64>>,
    pub limit: i64,
    pub offset: i64,
}

/// One audit entry as stored: its number and its canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: i64,
    pub entry: String,
}

/// A signed checkpoint as stored, with the compact range it ends at (both JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheckpointRow {
    pub size: i64,
    pub checkpoint: String,
    pub frontier: String,
}

/// An alert as the monitor raises it.
#[derive(Debug, Clone)]
pub struct NewAlert<'a> {
    pub rule: &'a str,
    pub subject: &'a str,
    pub dataset_id: Option<i64>,
    pub summary_zh: &'a str,
    pub summary_en: &'a str,
    pub evidence: &'a [i64],
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    pub id: i64,
    pub rule: String,
    pub subject: String,
    pub dataset_id: Option<i64>,
    pub summary_zh: String,
    pub summary_en: String,
    pub evidence: Vec<i64>,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// Which alerts to list, newest first: all, or those about these providers' entries.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    /// Only alerts about entries of these providers (`None`: every alert).
    pub provider_ids: Option<Vec<i64>>,
    pub limit: i64,
    pub offset: i64,
}

/// What kind of case a piece of feedback is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaseType {
    /// 异议/纠错 on open data (SD-OPEN §13).
    Objection,
    /// 开放需求: a request for data not yet open (SD-OPEN §12).
    Demand,
    /// 利用成果: an application, study or product built on the data.
    Reuse,
    /// A suggestion about an entry.
    Suggestion,
}

impl CaseType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Objection => "objection",
            Self::Demand => "demand",
            Self::Reuse => "reuse",
            Self::Suggestion => "suggestion",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Objection, Self::Demand, Self::Reuse, Self::Suggestion]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// One case of feedback. `doc` is the case's own JSON, owned by the application.
#[derive(Debug, Clone)]
pub struct FeedbackRow {
    pub id: i64,
    pub case_type: CaseType,
    pub dataset_id: Option<i64>,
    pub provider_id: Option<i64>,
    pub region_code: String,
    pub author_id: i64,
    pub state: String,
    pub public: bool,
    pub offline: bool,
    pub received_on: Option<chrono::NaiveDate>,
    pub due_on: Option<chrono::NaiveDate>,
    pub due_provisional: bool,
    pub answered_on: Option<chrono::NaiveDate>,
    pub doc: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

#[derive(Debug, Clone)]
pub struct NewFeedback<'a> {
    pub case_type: CaseType,
    pub dataset_id: Option<i64>,
    pub provider_id: Option<i64>,
    pub region_code: &'a str,
    pub author_id: i64,
    pub state: &'a str,
    pub public: bool,
    pub received_on: Option<chrono::NaiveDate>,
    pub due_on: Option<chrono::NaiveDate>,
    pub due_provisional: bool,
    pub doc: &'a str,
    pub at: DateTime<Utc>,
}

/// Which cases a list shows. A case is listed when it matches the filters and any one
/// of the ways of seeing it: its author, its provider, a region overseen, or public.
#[derive(Debug, Clone, Default)]
pub struct FeedbackQuery {
    pub case_type: Option<CaseType>,
    pub author: Option<i64>,
    pub provider_ids: Vec<i64>,
    pub region_prefixes: Vec<String>,
    pub public: bool,
    pub dataset: Option<i64>,
    pub states: Vec<String>,
    /// Words in the case's text.
    pub q: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// A security incident (数据安全事件). `doc` is the record's own JSON, owned by the
/// application; `dataset_ids` are the entries whose data it touched.
#[derive(Debug, Clone)]
pub struct IncidentRow {
    pub id: i64,
    pub region_code: String,
    pub severity: String,
    pub kind: String,
    pub state: String,
    pub occurred_on: chrono::NaiveDate,
    pub discovered_on: chrono::NaiveDate,
    pub doc: String,
    pub created_by: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub dataset_ids: Vec<i64>,
}

#[derive(Debug, Clone)]
pub struct NewIncident<'a> {
    pub region_code: &'a str,
    pub severity: &'a str,
    pub kind: &'a str,
    pub occurred_on: chrono::NaiveDate,
    pub discovered_on: chrono::NaiveDate,
    pub doc: &'a str,
    pub created_by: i64,
    pub at: DateTime<Utc>,
    pub dataset_ids: &'a [i64],
}

/// Which incidents a list shows: those in a region overseen, or touching an entry of
/// one of the providers.
#[derive(Debug, Clone, Default)]
pub struct IncidentQuery {
    pub region_prefixes: Vec<String>,
    pub provider_ids: Vec<i64>,
    pub limit: i64,
    pub offset: i64,
}

/// One evaluation: its period, state, and the scheme and figures as computed (`doc`).
#[derive(Debug, Clone)]
pub struct EvaluationRow {
    pub id: i64,
    pub region_code: String,
    pub period_from: chrono::NaiveDate,
    pub period_to: chrono::NaiveDate,
    pub state: String,
    pub doc: String,
    pub created_by: i64,
    pub created_at: DateTime<Utc>,
    pub released_by: Option<i64>,
    pub released_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewEvaluation<'a> {
    pub region_code: &'a str,
    pub period_from: chrono::NaiveDate,
    pub period_to: chrono::NaiveDate,
    pub doc: &'a str,
    pub created_by: i64,
    pub at: DateTime<Utc>,
}

/// Which evaluations a list shows: released ones, and drafts of the regions given.
#[derive(Debug, Clone, Default)]
pub struct EvaluationQuery {
    pub draft_regions: Vec<String>,
    /// Only this region's (exactly).
    pub region: Option<String>,
    pub limit: i64,
}

/// What happened in a region up to the end of a period, as recorded: the raw material of
/// an evaluation. Nothing here is typed in; every figure is derived from these rows.
#[derive(Debug, Clone, Default)]
pub struct EvaluationFacts {
    /// Every provider of the region.
    pub providers: Vec<OrgRow>,
    /// Entries in the catalog at the end of the period, as last published by then.
    pub entries: Vec<EntryFact>,
    /// Resources of those entries, with their last publication by the end.
    pub resources: Vec<ResourceFact>,
    /// Events of applications and sharing requests on the region's entries, up to the
    /// end, in order.
    pub application_events: Vec<ApplicationEventFact>,
    /// Objections and demands received in the period.
    pub cases: Vec<CaseFact>,
    /// Downloads and API calls in the period, per provider.
    pub usage: Vec<UsageFact>,
    /// Approved reuse records registered in the period, per provider whose data they use.
    pub reuses: Vec<ProviderCount>,
    /// Sandbox queries (models included) over each provider's data.
    pub sandbox_runs: Vec<ProviderCount>,
    /// Monitoring alerts raised in the period about the provider's entries.
    pub alerts: Vec<ProviderCount>,
    /// Security incidents that occurred in the period touching the provider's entries.
    pub incidents: Vec<ProviderCount>,
    /// Quality scores kept for the versions serving at the end, one per resource.
    pub quality: Vec<QualityFact>,
}

#[derive(Debug, Clone)]
pub struct EntryFact {
    pub dataset_id: i64,
    pub provider_id: i64,
    pub doc: String,
}

#[derive(Debug, Clone)]
pub struct ResourceFact {
    pub resource_id: String,
    pub dataset_id: i64,
    pub last_published: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct ApplicationEventFact {
    pub application_id: i64,
    pub provider_id: i64,
    /// A department's sharing request rather than an application to use open data.
    pub share: bool,
    pub at: DateTime<Utc>,
    pub action: String,
    pub detail: String,
}

#[derive(Debug, Clone)]
pub struct CaseFact {
    pub case_type: CaseType,
    pub provider_id: Option<i64>,
    pub received_on: Option<chrono::NaiveDate>,
    pub due_on: Option<chrono::NaiveDate>,
    pub answered_on: Option<chrono::NaiveDate>,
}

#[derive(Debug, Clone)]
pub struct UsageFact {
    pub provider_id: i64,
    pub downloads: i64,
    pub api_calls: i64,
}

#[derive(Debug, Clone)]
pub struct ProviderCount {
    pub provider_id: i64,
    pub count: i64,
}

/// The quality score kept for a published resource version (0–100).
#[derive(Debug, Clone)]
pub struct QualityFact {
    pub provider_id: i64,
    pub score: i64,
}

/// A published entry's data item whose provider declares itself its source (一数一源).
#[derive(Debug, Clone)]
pub struct SourceClaim {
    pub dataset_id: i64,
    pub code: String,
    pub title: String,
    pub provider_id: i64,
    pub provider_name: String,
    pub region_code: String,
    pub item: String,
}

/// A model a provider publishes over its data (R7.2). `doc` is the application's JSON.
#[derive(Debug, Clone)]
pub struct SandboxModelRow {
    pub id: i64,
    pub dataset_id: i64,
    pub provider_id: i64,
    pub public: bool,
    /// `active` or `retired`.
    pub state: String,
    pub doc: String,
    pub created_by: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A grant's differential-privacy settings (`doc`, the application's JSON), its ε budget
/// and what its queries have spent.
#[derive(Debug, Clone)]
pub struct GrantPrivacyRow {
    pub grant_id: i64,
    pub doc: String,
    pub budget: f64,
    pub spent: f64,
    pub updated_at: DateTime<Utc>,
}

/// A resource's verification settings (核验). `doc` is the application's JSON.
#[derive(Debug, Clone)]
pub struct VerificationServiceRow {
    pub resource_id: String,
    pub doc: String,
    pub updated_by: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

/// A query run in the analysis sandbox. `doc` is the application's JSON.
#[derive(Debug, Clone)]
pub struct SandboxQueryRow {
    pub id: i64,
    pub user_id: i64,
    pub grant_id: Option<i64>,
    pub provider_id: i64,
    pub dataset_ids: Vec<i64>,
    pub state: String,
    pub fingerprint: String,
    pub doc: String,
    pub result_hash: Option<String>,
    pub created_at: DateTime<Utc>,
    pub released_at: Option<DateTime<Utc>>,
    pub version: i64,
}

/// A harvest source: another catalog read into one provider's catalog on a schedule.
/// `doc` is the application's JSON (name, kind, address, defaults).
#[derive(Debug, Clone)]
pub struct HarvestSourceRow {
    pub id: i64,
    /// The provider whose catalog the entries join; `None` for a federation member's
    /// source, whose entries keep their own providers.
    pub provider_id: Option<i64>,
    pub doc: String,
    pub enabled: bool,
    pub next_run_at: DateTime<Utc>,
    /// The run under way, if one is.
    pub running_run: Option<i64>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// One run of a harvest source; `doc` is its report (the application's JSON).
#[derive(Debug, Clone)]
pub struct HarvestRunRow {
    pub id: i64,
    pub source_id: i64,
    pub state: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub doc: String,
}

/// The local entry a remote record became. `doc` holds what the source said of it
/// (address, downloads) as the application's JSON.
#[derive(Debug, Clone)]
pub struct HarvestRecordRow {
    pub source_id: i64,
    pub remote_id: String,
    pub dataset_id: i64,
    pub content_hash: String,
    /// The harvest withdrew the entry because the record left its source.
    pub withdrawn: bool,
    pub doc: String,
    pub updated_at: DateTime<Utc>,
}

/// How a run is claimed: only one claim of a source holds at a time, across nodes.
#[derive(Debug, Clone, Copy)]
pub struct HarvestClaim {
    pub source_id: i64,
    /// A scheduled claim holds only when the source is enabled and due at this time.
    pub due_at: Option<DateTime<Utc>>,
    /// A run started before this is taken as dead (its node stopped) and may be replaced.
    pub stale_before: DateTime<Utc>,
    pub next_run_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

/// A member platform (a city's) of a province platform's federation.
#[derive(Debug, Clone)]
pub struct FederationMemberRow {
    pub id: i64,
    /// The harvest source its entries are recorded under.
    pub source_id: i64,
    pub region_code: String,
    /// The application's JSON (name, address).
    pub doc: String,
    /// Hex of its Ed25519 public key, once it enrolled.
    pub public_key: Option<String>,
    pub last_seq: i64,
    pub last_sync_at: Option<DateTime<Utc>>,
    /// The last sync's report (the application's JSON).
    pub report: String,
    pub created_at: DateTime<Utc>,
}

/// On a member platform: the province it reports to.
#[derive(Debug, Clone)]
pub struct FederationUpstreamRow {
    pub province_url: String,
    pub member_id: i64,
    pub seq: i64,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub report: String,
    pub enrolled_at: DateTime<Utc>,
}

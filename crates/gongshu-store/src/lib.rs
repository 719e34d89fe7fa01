//! The metadata store: one trait, one implementation per database. The server picks the
//! implementation once, at start-up, and everything else sees only `dyn Store`.
//!
//! [`SqliteStore`] is the embedded default (one node, one file). [`PgStore`] keeps the
//! same data in PostgreSQL, for several nodes on one database; both pass the same contract
//! (`tests/contract.rs`). The `testing` feature adds `testing::pg_url()`, a fresh
//! PostgreSQL database per test.

mod model;
mod postgres;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

pub use model::*;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gongshu_core::authz::RoleGrant;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique value already exists; the string names which.
    #[error("duplicate {0}")]
    Duplicate(&'static str),
    #[error("version conflict")]
    VersionConflict,
    /// Every six-digit sequence number of a category is taken.
    #[error("sequence exhausted")]
    SequenceExhausted,
    /// Stored data that no longer reads as the current types (a bug or a manual edit).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Backend(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    async fn health(&self) -> Result<()>;
    /// Writes a consistent copy of the whole database to `to` (a backup), in one
    /// transaction, while others keep reading and writing.
    async fn snapshot(&self, to: &std::path::Path) -> Result<()>;

    async fn upsert_region(&self, code: &str, name: &str) -> Result<()>;
    async fn list_regions(&self) -> Result<Vec<RegionRow>>;
    async fn get_region(&self, code: &str) -> Result<Option<RegionRow>>;

    async fn insert_org(&self, org: &NewOrg, at: DateTime<Utc>) -> Result<OrgRow>;
    async fn get_org(&self, id: i64) -> Result<Option<OrgRow>>;
    async fn list_orgs(&self, filter: &OrgFilter) -> Result<Vec<OrgRow>>;
    /// How many organisations of this kind there are.
    async fn count_orgs(&self, kind: gongshu_core::types::OrgKind) -> Result<i64>;

    async fn insert_user(&self, user: &NewUser, at: DateTime<Utc>) -> Result<UserRow>;
    async fn get_user(&self, id: i64) -> Result<Option<UserRow>>;
    async fn get_user_by_name(&self, username: &str) -> Result<Option<UserRow>>;
    async fn list_users(&self) -> Result<Vec<UserRow>>;
    async fn set_password(&self, user_id: i64, hash: &str) -> Result<()>;
    async fn add_grant(&self, user_id: i64, grant: &RoleGrant) -> Result<()>;
    async fn grants(&self, user_id: i64) -> Result<Vec<RoleGrant>>;

    async fn insert_credential(&self, cred: &NewCredential) -> Result<()>;
    /// The credential with this hash and kind, if it exists and has not expired at `now`.
    async fn get_credential(
        &self,
        token_hash: &str,
        kind: CredentialKind,
        now: DateTime<Utc>,
    ) -> Result<Option<CredentialRow>>;
    async fn delete_credential(&self, token_hash: &str) -> Result<()>;
    /// A user's API tokens that have not expired at `now`, newest first.
    async fn list_api_tokens(&self, user_id: i64, now: DateTime<Utc>) -> Result<Vec<ApiTokenRow>>;
    /// Deletes the user's API token whose hash starts with `hash_prefix` (at least 16
    /// hex characters); returns whether one was deleted.
    async fn delete_api_token(&self, user_id: i64, hash_prefix: &str) -> Result<bool>;
    async fn delete_user_credentials(&self, user_id: i64) -> Result<()>;

    /// Creates the working copy (version 1) and its first revision. Assigns the next
    /// sequence number of the category when no code is given.
    async fn create_dataset(&self, new: &NewDataset<'_>) -> Result<DatasetRow>;
    async fn get_dataset(&self, id: i64) -> Result<Option<DatasetRow>>;
    /// Writes a new revision if the entry is still at `expected_version`, else
    /// `VersionConflict`; publishes or unpublishes in the same transaction.
    async fn save_dataset(&self, change: &DatasetChange<'_>) -> Result<DatasetRow>;
    async fn list_working(&self, query: &WorkingQuery) -> Result<Page<DatasetRow>>;
    async fn list_revisions(&self, dataset_id: i64) -> Result<Vec<RevisionRow>>;
    async fn get_revision(&self, dataset_id: i64, version: i64) -> Result<Option<RevisionRow>>;

    async fn get_published(&self, id: i64) -> Result<Option<PublishedRow>>;
    /// The published entries among `ids`, in no particular order (one query for a page
    /// of search results).
    async fn get_published_many(&self, ids: &[i64]) -> Result<Vec<PublishedRow>>;
    async fn get_published_by_code(&self, code: &str) -> Result<Option<PublishedRow>>;
    async fn list_published(&self, query: &PublishedQuery) -> Result<Page<PublishedRow>>;
    /// Totals of the whole published catalog: entries, opened entries, entries per domain.
    async fn published_summary(&self) -> Result<PublishedSummary>;
    /// Published entries counted by region, open type and share type, inside a region.
    async fn published_counts(&self, region_prefix: &str) -> Result<Vec<CountRow>>;

    /// Creates a resource with the next ordinal of its entry.
    async fn create_resource(&self, new: &NewResource<'_>) -> Result<ResourceRow>;
    async fn get_resource(&self, id: &str) -> Result<Option<ResourceRow>>;
    async fn list_resources(&self, dataset_id: i64) -> Result<Vec<ResourceRow>>;
    async fn get_resource_by_table(&self, table_name: &str) -> Result<Option<ResourceRow>>;
    /// Records a staged version (its files are already in the object store).
    async fn add_resource_version(
        &self,
        resource_id: &str,
        version: i64,
        manifest: &str,
        uploaded_by: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Makes a staged version the one that serves, in one transaction; `VersionConflict`
    /// if it is not staged or a newer version already serves.
    async fn publish_resource_version(
        &self,
        resource_id: &str,
        version: i64,
        at: DateTime<Utc>,
    ) -> Result<ResourceRow>;
    /// A staged version the provider decided against; `VersionConflict` if not staged.
    async fn discard_resource_version(&self, resource_id: &str, version: i64) -> Result<()>;
    async fn list_resource_versions(&self, resource_id: &str) -> Result<Vec<ResourceVersionRow>>;

    async fn insert_job(&self, job: &JobRow) -> Result<()>;
    /// Replaces the job's state, counts, detail, error and version.
    async fn update_job(&self, job: &JobRow) -> Result<()>;
    async fn get_job(&self, id: &str) -> Result<Option<JobRow>>;
    /// Jobs a stopped process left queued or running are failed, saying so; returns how many.
    async fn fail_unfinished_jobs(&self, reason: &str, at: DateTime<Utc>) -> Result<u64>;

    async fn list_holiday_schedules(&self) -> Result<Vec<HolidayScheduleRow>>;
    /// Stores a shipped schedule unless the year is already held; `true` if it was added.
    async fn seed_holiday_schedule(
        &self,
        schedule: &gongshu_core::calendar::YearSchedule,
        at: DateTime<Utc>,
    ) -> Result<bool>;
    /// An administrator's schedule for its year, replacing whatever was held, recorded
    /// as an event in the same transaction.
    async fn put_holiday_schedule(
        &self,
        schedule: &gongshu_core::calendar::YearSchedule,
        event: &NewEvent<'_>,
    ) -> Result<HolidayScheduleRow>;

    async fn insert_event(&self, event: &NewEvent<'_>) -> Result<i64>;

    /// Creates a grant and its first event (`granted`) in one transaction.
    async fn insert_grant(&self, grant: &NewGrant<'_>) -> Result<GrantRow>;
    async fn get_grant(&self, id: i64) -> Result<Option<GrantRow>>;
    /// The grants on an entry held by this user or by one of these departments, with
    /// their use on `day` (China Standard Time).
    async fn grants_held(
        &self,
        dataset_id: i64,
        user_id: i64,
        org_ids: &[i64],
        day: chrono::NaiveDate,
    ) -> Result<Vec<HeldGrant>>;
    /// Ends a grant with a reason, recorded as an event in the same transaction;
    /// `VersionConflict` if it already ended.
    async fn terminate_grant(
        &self,
        id: i64,
        actor_id: Option<i64>,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<GrantRow>;
    /// Every grant on an entry, with its use on `day`.
    async fn grants_on(&self, dataset_id: i64, day: chrono::NaiveDate) -> Result<Vec<HeldGrant>>;
    /// Every grant held by this user or by one of these departments, on any entry, with
    /// its use on `day`.
    async fn grants_of(
        &self,
        user_id: i64,
        org_ids: &[i64],
        day: chrono::NaiveDate,
    ) -> Result<Vec<HeldGrant>>;
    /// The users holding `role`, with the scope of each such grant.
    async fn role_holders(&self, role: gongshu_core::types::Role) -> Result<Vec<(i64, RoleGrant)>>;

    async fn insert_notifications(&self, notes: &[NewNotification<'_>]) -> Result<()>;
    /// A user's inbox, newest first.
    async fn list_notifications(
        &self,
        user_id: i64,
        unread_only: bool,
        limit: i64,
    ) -> Result<Vec<NotificationRow>>;
    /// Marks one of the user's notifications read; `false` if the user has no such one.
    async fn mark_notification_read(
        &self,
        id: i64,
        user_id: i64,
        at: DateTime<Utc>,
    ) -> Result<bool>;

    /// Records a submitted application and its `submitted` event.
    async fn insert_application(&self, new: &NewApplication) -> Result<ApplicationRow>;
    async fn get_application(&self, id: i64) -> Result<Option<ApplicationRow>>;
    async fn list_applications(&self, q: &ApplicationQuery) -> Result<Vec<ApplicationRow>>;
    /// Moves an application that is still in `m.from`; `VersionConflict` if it is not
    /// (someone acted first), `NotFound` if there is no such application.
    async fn move_application(&self, m: &ApplicationMove<'_>) -> Result<ApplicationRow>;
    /// One side accepts the agreement whose hash it was shown; `VersionConflict` unless
    /// the application is approved, that side has not accepted yet and the hash matches.
    async fn accept_agreement(
        &self,
        id: i64,
        side: AgreementSide,
        agreement_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<ApplicationRow>;
    /// Puts an application that is still in `a.from` in force and creates its grant, in
    /// one transaction, with an event. `VersionConflict` if it is not ready (with
    /// `needs_acceptance`, both sides must have accepted) or already moved on.
    async fn activate_application(&self, a: &Activation<'_>) -> Result<ApplicationRow>;

    /// Applications still waiting for someone, with a deadline.
    async fn applications_with_deadlines(&self) -> Result<Vec<ApplicationRow>>;
    /// Attribute changes still waiting for the authority, with a deadline.
    async fn attribute_changes_with_deadlines(&self) -> Result<Vec<AttributeChangeRow>>;

    /// Records a catalog-update duty, with its event.
    async fn insert_catalog_update(&self, new: &NewCatalogUpdate<'_>) -> Result<CatalogUpdateRow>;
    async fn get_catalog_update(&self, id: i64) -> Result<Option<CatalogUpdateRow>>;
    /// Duties of these providers or of providers in these regions, newest first.
    async fn list_catalog_updates(
        &self,
        provider_ids: &[i64],
        region_prefixes: &[String],
        open_only: bool,
    ) -> Result<Vec<CatalogUpdateRow>>;
    /// Closes an open duty with the provider's account of what it did, with its event;
    /// `VersionConflict` if it is already closed.
    async fn close_catalog_update(
        &self,
        id: i64,
        actor_id: i64,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<CatalogUpdateRow>;
    /// Open duties, for reminders and escalation.
    async fn open_catalog_updates(&self) -> Result<Vec<CatalogUpdateRow>>;
    /// Claims the reminder (`escalation` false) or the escalation of the deadline
    /// `due_on` of an application or attribute change; `false` if it was already sent
    /// for that deadline, so that concurrent senders notify once.
    async fn claim_deadline_notice(
        &self,
        of: DeadlineOf,
        id: i64,
        due_on: chrono::NaiveDate,
        escalation: bool,
    ) -> Result<bool>;

    /// Records the detector's proposals for a new version's columns; a column the
    /// provider confirmed in an earlier version of the resource keeps that confirmation.
    async fn put_column_proposals(&self, rows: &[ColumnClassRow]) -> Result<()>;
    /// The columns of one version, in the order they were recorded.
    async fn column_classes(&self, resource_id: &str, version: i64) -> Result<Vec<ColumnClassRow>>;
    /// The provider confirms (or corrects) what columns hold, with an event on the
    /// resource; `NotFound` if a column is not in that version.
    async fn confirm_column_classes(
        &self,
        resource_id: &str,
        version: i64,
        confirmed: &[(String, String)],
        actor_id: i64,
        at: DateTime<Utc>,
    ) -> Result<Vec<ColumnClassRow>>;
    /// The grade → cap table the authority set (JSON), if it did.
    async fn grade_caps(&self) -> Result<Option<String>>;
    /// Replaces the grade → cap table, with an event carrying the reason.
    async fn put_grade_caps(
        &self,
        caps: &str,
        actor_id: i64,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// The provider's de-identification rules for a resource (JSON), if any.
    async fn resource_rules(&self, resource_id: &str) -> Result<Option<String>>;
    /// Replaces a resource's rules, with an event carrying the reason.
    async fn put_resource_rules(
        &self,
        resource_id: &str,
        rules: &str,
        actor_id: i64,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// The open version of a resource version under the rules with this hash (JSON).
    async fn open_version(
        &self,
        resource_id: &str,
        version: i64,
        rules_hash: &str,
    ) -> Result<Option<String>>;
    /// Records an open version; a second writer of the same one changes nothing.
    async fn put_open_version(
        &self,
        resource_id: &str,
        version: i64,
        rules_hash: &str,
        open_table: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Adds downloads and row-API calls of an entry to its use on `day`.
    async fn record_dataset_use(
        &self,
        dataset_id: i64,
        day: chrono::NaiveDate,
        downloads: i64,
        api_calls: i64,
    ) -> Result<()>;
    /// The all-time use of the entries `ids` (at most 1000; entries never used are left
    /// out).
    async fn usage_totals(&self, ids: &[i64]) -> Result<Vec<UsageTotals>>;
    /// Counts one call on a grant on `day` if its daily call quota allows it, in one
    /// statement so that concurrent requests cannot together pass the quota; `false`
    /// when the quota is used up (nothing counted).
    async fn take_grant_call(&self, grant_id: i64, day: chrono::NaiveDate) -> Result<bool>;
    /// Adds to a grant's use on `day`.
    async fn record_grant_use(
        &self,
        grant_id: i64,
        day: chrono::NaiveDate,
        calls: i64,
        rows: i64,
    ) -> Result<()>;
    /// Records a change request waiting for the authority, with its `requested` event;
    /// `Duplicate("pending change")` if one already waits for the entry.
    async fn insert_attribute_change(
        &self,
        new: &NewAttributeChange<'_>,
    ) -> Result<AttributeChangeRow>;
    /// Applies new attributes (see `AttributeApply`). `VersionConflict` if the entry moved
    /// on from `expected_version` or the pending change was already settled.
    async fn apply_attribute_change(&self, a: &AttributeApply<'_>) -> Result<AttributeChangeRow>;
    /// Refuses or withdraws a pending change; `VersionConflict` if it is not pending.
    async fn move_attribute_change(&self, m: &ChangeMove<'_>) -> Result<AttributeChangeRow>;
    async fn get_attribute_change(&self, id: i64) -> Result<Option<AttributeChangeRow>>;
    /// Newest first: of one entry, or of these providers or regions.
    async fn list_attribute_changes(&self, q: &ChangeQuery) -> Result<Vec<AttributeChangeRow>>;

    /// The review schedule of every published 有条件共享 entry that has one.
    async fn share_reviews(&self) -> Result<Vec<ShareReviewRow>>;
    async fn share_review(&self, dataset_id: i64) -> Result<Option<ShareReviewRow>>;
    /// Sets when the entry's sharing is next reviewed (creating the schedule at first
    /// publication); with `reviewed` also records a review, with an event.
    async fn schedule_share_review(
        &self,
        dataset_id: i64,
        due_on: chrono::NaiveDate,
        reviewed: Option<(i64, &str)>,
        at: DateTime<Utc>,
    ) -> Result<ShareReviewRow>;
    /// Claims the reminder for the review due on `due_on`; `false` if already sent.
    async fn claim_share_review_reminder(
        &self,
        dataset_id: i64,
        due_on: chrono::NaiveDate,
    ) -> Result<bool>;

    /// The settings of these regions that have any.
    async fn region_policies(&self, codes: &[String]) -> Result<Vec<RegionPolicyRow>>;
    /// Replaces a region's settings, with a `region_policy` event carrying the reason.
    async fn put_region_policy(
        &self,
        region_code: &str,
        policy: &str,
        actor_id: i64,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<RegionPolicyRow>;

    async fn channels(&self, user_id: i64) -> Result<ChannelsRow>;
    async fn put_channels(&self, user_id: i64, c: &ChannelsRow, at: DateTime<Utc>) -> Result<()>;
    /// Claims up to `limit` notifications waiting to go out by e-mail or webhook, until
    /// `lease_until`; a claim that lapsed (a node died while sending) is taken over.
    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Delivery>>;
    async fn finish_delivery(&self, o: &DeliveryOutcome<'_>) -> Result<()>;

    /// The history of one object, oldest first.
    async fn list_events(&self, object_type: &str, object_id: &str) -> Result<Vec<EventRow>>;

    /// Appends entries to the audit log in one transaction, in order; returns their
    /// numbers (from 1, without gaps).
    async fn append_audit(&self, entries: &[String]) -> Result<Vec<i64>>;
    /// Entries numbered after `after`, in order, at most `limit`.
    async fn audit_entries(&self, after: i64, limit: i64) -> Result<Vec<AuditRow>>;
    /// How many entries the log holds.
    async fn audit_size(&self) -> Result<i64>;
    /// A new case of feedback, with its `created` event, in one transaction.
    async fn insert_feedback(&self, new: &NewFeedback<'_>) -> Result<FeedbackRow>;
    async fn get_feedback(&self, id: i64) -> Result<Option<FeedbackRow>>;
    /// Newest first.
    async fn list_feedback(&self, q: &FeedbackQuery) -> Result<Page<FeedbackRow>>;
    /// Writes a case's state, columns and document with its event, if nobody changed it
    /// since `row.version` was read (`VersionConflict` otherwise); the new version.
    async fn save_feedback(&self, row: &FeedbackRow, event: &NewEvent<'_>) -> Result<FeedbackRow>;
    /// Objections and demands with a deadline still waiting for their provider.
    async fn waiting_feedback(&self) -> Result<Vec<FeedbackRow>>;
    /// Sets the entries a case is about (a reuse record's datasets), replacing any.
    async fn set_feedback_datasets(&self, feedback_id: i64, dataset_ids: &[i64]) -> Result<()>;
    async fn feedback_datasets(&self, feedback_id: i64) -> Result<Vec<i64>>;
    /// Public cases of this type about this entry, newest first.
    async fn public_feedback_for(
        &self,
        case_type: CaseType,
        dataset_id: i64,
        limit: i64,
    ) -> Result<Vec<FeedbackRow>>;
    /// An entry's objections: how many, and how many are answered.
    async fn objection_counts(&self, dataset_id: i64) -> Result<(i64, i64)>;
    /// Whether an infringement report keeps the entry's data withheld.
    async fn dataset_offline(&self, dataset_id: i64) -> Result<bool>;
    /// Sets (or changes) a user's rating of an entry.
    async fn put_rating(
        &self,
        dataset_id: i64,
        user_id: i64,
        stars: i64,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// The entry's ratings: how many, their sum, and the user's own when given.
    async fn rating_summary(
        &self,
        dataset_id: i64,
        user_id: Option<i64>,
    ) -> Result<(i64, i64, Option<i64>)>;
    /// A counter that moves forward with every change to what the access gate reads
    /// (organisations, entries and their published copies, resources and versions,
    /// column classes, de-identification rules, open versions, grade caps).
    async fn catalog_generation(&self) -> Result<i64>;
    async fn search_audit(&self, q: &AuditQuery) -> Result<Page<AuditRow>>;
    async fn insert_audit_checkpoint(
        &self,
        row: &AuditCheckpointRow,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// The checkpoint with the largest size.
    async fn latest_audit_checkpoint(&self) -> Result<Option<AuditCheckpointRow>>;
    /// Every checkpoint, smallest first.
    async fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpointRow>>;

    async fn insert_alert(&self, alert: &NewAlert<'_>) -> Result<AlertRow>;
    async fn list_alerts(&self, q: &AlertQuery) -> Result<Page<AlertRow>>;
    async fn get_alert(&self, id: i64) -> Result<Option<AlertRow>>;
    /// The last audit entry the monitor has read (0 before the first run).
    async fn monitor_cursor(&self) -> Result<i64>;
    async fn set_monitor_cursor(&self, seq: i64) -> Result<()>;

    /// The local account of an identity of an OpenID Connect issuer.
    async fn sso_user(&self, issuer: &str, subject: &str) -> Result<Option<i64>>;
    async fn link_sso(
        &self,
        issuer: &str,
        subject: &str,
        user_id: i64,
        at: DateTime<Utc>,
    ) -> Result<()>;

    /// A new security incident with its entries and its `recorded` event.
    async fn insert_incident(&self, new: &NewIncident<'_>) -> Result<IncidentRow>;
    async fn get_incident(&self, id: i64) -> Result<Option<IncidentRow>>;
    /// Newest first.
    async fn list_incidents(&self, q: &IncidentQuery) -> Result<Page<IncidentRow>>;
    /// Writes an incident's columns and document with its event, if nobody changed it
    /// since `row.version` was read (`VersionConflict` otherwise).
    async fn save_incident(&self, row: &IncidentRow, event: &NewEvent<'_>) -> Result<IncidentRow>;

    /// The indicator weights an authority set for its region (JSON), if any.
    async fn evaluation_scheme(&self, region: &str) -> Result<Option<String>>;
    async fn put_evaluation_scheme(
        &self,
        region: &str,
        doc: &str,
        by: i64,
        at: DateTime<Utc>,
    ) -> Result<()>;
    async fn insert_evaluation(&self, new: &NewEvaluation<'_>) -> Result<EvaluationRow>;
    async fn get_evaluation(&self, id: i64) -> Result<Option<EvaluationRow>>;
    /// Newest period first.
    async fn list_evaluations(&self, q: &EvaluationQuery) -> Result<Vec<EvaluationRow>>;
    /// Publishes a draft (`VersionConflict` if it is released already).
    async fn release_evaluation(
        &self,
        id: i64,
        by: i64,
        at: DateTime<Utc>,
    ) -> Result<EvaluationRow>;
    /// Everything recorded about a region's providers from `from` to `to` (China dates,
    /// both included), for the evaluation to derive its figures from.
    async fn evaluation_facts(
        &self,
        region_prefix: &str,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<EvaluationFacts>;
    /// Keeps the quality report (JSON) of a resource version.
    async fn set_version_quality(
        &self,
        resource_id: &str,
        version: i64,
        quality: &str,
    ) -> Result<()>;
    async fn version_quality(&self, resource_id: &str, version: i64) -> Result<Option<String>>;
    /// The data items that published entries of the region declare as their provider's
    /// own (一数一源), by item name then provider.
    async fn source_claims(&self, region_prefix: &str) -> Result<Vec<SourceClaim>>;

    /// Records a sandbox query (`id`, `version` and `released_at` of the row are
    /// ignored: the store assigns them) and returns it as stored.
    async fn insert_sandbox_query(&self, row: &SandboxQueryRow) -> Result<SandboxQueryRow>;
    async fn get_sandbox_query(&self, id: i64) -> Result<Option<SandboxQueryRow>>;
    /// The latest queries of a grant (or, without one, of a user) that compute the same
    /// thing, newest first.
    async fn same_shape_queries(
        &self,
        fingerprint: &str,
        user_id: i64,
        grant_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<SandboxQueryRow>>;
    /// A user's own queries, or the queries over the given providers' data in a state,
    /// newest first.
    async fn list_sandbox_queries(
        &self,
        user_id: Option<i64>,
        provider_ids: &[i64],
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SandboxQueryRow>>;
    /// Saves a query's new state and document if its version is still `row.version`.
    async fn save_sandbox_query(&self, row: &SandboxQueryRow) -> Result<SandboxQueryRow>;
    /// Marks the queries still `running` as `failed`, with `reason` in the application's
    /// document: after a restart nothing runs them any more. Returns how many.
    async fn fail_running_sandbox_queries(&self, reason: &str) -> Result<u64>;
    /// Drops the figures of results computed before `before`: empties `rows` in the
    /// application's document and sets `expired`; returns how many it dropped.
    async fn expire_sandbox_results(&self, before: DateTime<Utc>) -> Result<u64>;

    /// Records a model a provider publishes (`id` is assigned) and returns it as stored.
    async fn insert_sandbox_model(&self, row: &SandboxModelRow) -> Result<SandboxModelRow>;
    async fn get_sandbox_model(&self, id: i64) -> Result<Option<SandboxModelRow>>;
    /// The active models over an entry, oldest first.
    async fn list_sandbox_models(&self, dataset_id: i64) -> Result<Vec<SandboxModelRow>>;
    /// Saves a model's `public`, `state`, `doc` and `updated_at`.
    async fn save_sandbox_model(&self, row: &SandboxModelRow) -> Result<()>;

    /// A grant's differential-privacy settings and the ε it has spent.
    async fn get_grant_privacy(&self, grant_id: i64) -> Result<Option<GrantPrivacyRow>>;
    /// Sets a grant's settings and budget; what it has spent stays.
    async fn put_grant_privacy(
        &self,
        grant_id: i64,
        doc: &str,
        budget: f64,
        by: i64,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Spends `epsilon` of the grant's budget; the total spent after, or `None` (nothing
    /// spent) when the budget does not hold it.
    async fn spend_privacy(&self, grant_id: i64, epsilon: f64) -> Result<Option<f64>>;

    /// A resource's verification settings (核验), if its provider ever set them.
    async fn get_verification_service(
        &self,
        resource_id: &str,
    ) -> Result<Option<VerificationServiceRow>>;
    async fn put_verification_service(
        &self,
        resource_id: &str,
        doc: &str,
        by: i64,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Takes `checks` of `who`'s daily `limit` on a resource; the day's total after
    /// taking them, or `None` (nothing taken) when they would pass the limit.
    async fn take_verification_checks(
        &self,
        who: &str,
        resource_id: &str,
        day: chrono::NaiveDate,
        checks: i64,
        limit: i64,
    ) -> Result<Option<i64>>;

    async fn insert_harvest_source(
        &self,
        provider_id: Option<i64>,
        doc: &str,
        enabled: bool,
        next_run_at: DateTime<Utc>,
        by: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<HarvestSourceRow>;
    /// Replaces a source's settings if it is still at `expected_version`.
    #[allow(clippy::too_many_arguments)]
    async fn update_harvest_source(
        &self,
        id: i64,
        expected_version: i64,
        provider_id: i64,
        doc: &str,
        enabled: bool,
        next_run_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<HarvestSourceRow>;
    async fn get_harvest_source(&self, id: i64) -> Result<Option<HarvestSourceRow>>;
    async fn list_harvest_sources(&self) -> Result<Vec<HarvestSourceRow>>;
    /// The enabled sources due at `now`.
    async fn due_harvest_sources(&self, now: DateTime<Utc>) -> Result<Vec<i64>>;
    /// Starts a run of the source if no live run holds it (and, for a scheduled claim,
    /// if it is due), moving its next run on, in one statement; the new run's id, or
    /// `None` when another claim holds.
    async fn claim_harvest_source(&self, claim: &HarvestClaim) -> Result<Option<i64>>;
    /// Ends a run with its report and releases the source.
    async fn finish_harvest_run(
        &self,
        run_id: i64,
        failed: bool,
        doc: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
    async fn get_harvest_run(&self, id: i64) -> Result<Option<HarvestRunRow>>;
    /// A source's runs, newest first.
    async fn list_harvest_runs(&self, source_id: i64, limit: i64) -> Result<Vec<HarvestRunRow>>;
    async fn harvest_records(&self, source_id: i64) -> Result<Vec<HarvestRecordRow>>;
    async fn put_harvest_record(&self, record: &HarvestRecordRow) -> Result<()>;
    /// Where a harvested entry came from, if it was harvested.
    async fn harvest_record_of(&self, dataset_id: i64) -> Result<Option<HarvestRecordRow>>;

    async fn insert_federation_member(
        &self,
        source_id: i64,
        region_code: &str,
        doc: &str,
        enroll_token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<FederationMemberRow>;
    async fn list_federation_members(&self) -> Result<Vec<FederationMemberRow>>;
    async fn get_federation_member(&self, id: i64) -> Result<Option<FederationMemberRow>>;
    /// Takes the enrolment token (once) and records the member's key.
    async fn enroll_federation_member(
        &self,
        enroll_token_hash: &str,
        public_key: &str,
    ) -> Result<Option<FederationMemberRow>>;
    /// Moves the member's sequence to `seq` if it is past the last one taken; `false`
    /// (a replay or a request overtaken) otherwise.
    async fn claim_federation_seq(&self, id: i64, seq: i64, at: DateTime<Utc>) -> Result<bool>;
    async fn put_federation_report(&self, id: i64, report: &str) -> Result<()>;
    async fn get_federation_upstream(&self) -> Result<Option<FederationUpstreamRow>>;
    /// Records the province this platform reports to, forgetting what was sent before.
    async fn put_federation_upstream(&self, row: &FederationUpstreamRow) -> Result<()>;
    /// The next sequence number of a request to the province.
    async fn next_federation_seq(&self) -> Result<i64>;
    async fn put_upstream_report(&self, report: &str, at: DateTime<Utc>) -> Result<()>;
    /// What was last sent of each entry: code and content hash.
    async fn federation_sent(&self) -> Result<Vec<(String, String)>>;
    /// Records entries as sent (`Some(hash)`) or as withdrawn at the province (`None`).
    async fn put_federation_sent(&self, sent: &[(String, Option<String>)]) -> Result<()>;

    /// The change feed of the published catalog: (number, entry) of every change
    /// numbered above `after`, oldest first, at most `limit`.
    async fn catalog_changes(&self, after: i64, limit: i64) -> Result<Vec<(i64, i64)>>;

    /// Counts a failed sign-in against `key`: a count older than `window_start` (and not
    /// locked) starts again; reaching `limit` locks the key until `lock_until`.
    async fn signin_failed(
        &self,
        key: &str,
        limit: i64,
        window_start: DateTime<Utc>,
        lock_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// The latest lock among `keys` still in force at `now`.
    async fn signin_locked_until(
        &self,
        keys: &[String],
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>>;
    async fn signin_cleared(&self, key: &str) -> Result<()>;
}

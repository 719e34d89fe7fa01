//! One story every store implementation must tell the same way. The PostgreSQL backend
//! (issue 10) runs this same story.

use chrono::{DateTime, Duration, TimeZone, Utc};
use gongshu_core::authz::RoleGrant;
use gongshu_core::catalog::{Category, DatasetDraft};
use gongshu_core::types::*;
use gongshu_store::*;

fn draft(title: &str, open: OpenType) -> DatasetDraft {
    DatasetDraft {
        title: title.into(),
        summary: "摘要".into(),
        category: Category {
            class: CategoryClass::Department,
            item: "01".into(),
            catalog: "002".into(),
            detail: None,
        },
        format: ResourceFormat::Spreadsheet,
        file_formats: vec!["csv".into()],
        items: vec![],
        share_type: ShareType::Unconditional,
        share_condition: String::new(),
        share_method: ShareMethod::PlatformFile,
        open_type: open,
        open_condition: String::new(),
        legal_basis: String::new(),
        update_cycle: UpdateCycle::Monthly,
        related_codes: vec![],
        domains: vec![Domain::Health, Domain::Education],
        keywords: vec!["医院".into()],
        grade: Grade::General1,
        contact: String::new(),
        license: String::new(),
        classified: false,
        deidentify: false,
    }
}

async fn story(store: &dyn Store) {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    store.health().await.unwrap();
    store.upsert_region("370000", "山东省").await.unwrap();
    store.upsert_region("370300", "淄博市").await.unwrap();
    store.upsert_region("370100", "济南市").await.unwrap();
    store.upsert_region("370100", "济南市").await.unwrap();
    assert_eq!(store.list_regions().await.unwrap().len(), 3);

    let new_org = |name: &str, region: &str, credit: &str| NewOrg {
        name: name.into(),
        name_en: String::new(),
        kind: OrgKind::Provider,
        region_code: region.into(),
        credit_code: credit.into(),
        contact: String::new(),
    };
    let zibo = store
        .insert_org(&new_org("淄博市卫健委", "370300", "11370300MB0000001X"), t0)
        .await
        .unwrap();
    let jinan = store
        .insert_org(&new_org("济南市卫健委", "370100", "11370100MB0000002X"), t0)
        .await
        .unwrap();
    assert!(matches!(
        store
            .insert_org(&new_org("重复", "370100", "11370100MB0000002X"), t0)
            .await,
        Err(StoreError::Duplicate("credit_code"))
    ));
    let in_zibo = OrgFilter {
        region_prefix: Some("3703".into()),
        kind: None,
    };
    assert_eq!(store.list_orgs(&in_zibo).await.unwrap(), vec![zibo.clone()]);

    let user = store
        .insert_user(
            &NewUser {
                username: "Alice".into(),
                display_name: "爱丽丝".into(),
                kind: UserKind::Staff,
                password_hash: Some("h".into()),
            },
            t0,
        )
        .await
        .unwrap();
    let same_name = NewUser {
        username: "alice".into(),
        display_name: String::new(),
        kind: UserKind::Staff,
        password_hash: None,
    };
    assert!(matches!(
        store.insert_user(&same_name, t0).await,
        Err(StoreError::Duplicate("username"))
    ));
    assert_eq!(
        store.get_user_by_name("ALICE").await.unwrap().unwrap().id,
        user.id
    );
    let grant = RoleGrant {
        role: Role::ProviderAdmin,
        org_id: Some(zibo.id),
        region_code: None,
    };
    store.add_grant(user.id, &grant).await.unwrap();
    assert_eq!(store.grants(user.id).await.unwrap(), vec![grant]);

    let cred = NewCredential {
        token_hash: "abc".into(),
        kind: CredentialKind::Api,
        user_id: user.id,
        csrf: None,
        created_at: t0,
        expires_at: t0 + Duration::hours(1),
        grant_id: None,
    };
    store.insert_credential(&cred).await.unwrap();
    assert!(
        store
            .get_credential("abc", CredentialKind::Api, t0)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .get_credential("abc", CredentialKind::Session, t0)
            .await
            .unwrap()
            .is_none()
    );
    let later = t0 + Duration::hours(2);
    assert!(
        store
            .get_credential("abc", CredentialKind::Api, later)
            .await
            .unwrap()
            .is_none()
    );
    store.delete_user_credentials(user.id).await.unwrap();
    assert!(
        store
            .get_credential("abc", CredentialKind::Api, t0)
            .await
            .unwrap()
            .is_none()
    );

    // A user's own tokens: listed while valid, revoked by a long enough prefix of the
    // hash, never another user's.
    let hash = "0123456789abcdef0123456789abcdef".to_owned();
    store
        .insert_credential(&NewCredential {
            token_hash: hash.clone(),
            expires_at: t0 + Duration::days(30),
            ..cred.clone()
        })
        .await
        .unwrap();
    let tokens = store.list_api_tokens(user.id, t0).await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].token_hash, hash);
    assert!(
        store
            .list_api_tokens(user.id, t0 + Duration::days(31))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!store.delete_api_token(user.id, "0123").await.unwrap());
    assert!(
        !store
            .delete_api_token(user.id + 1, &hash[..16])
            .await
            .unwrap()
    );
    assert!(
        store
            .delete_api_token(user.id, &hash[..16].to_uppercase())
            .await
            .unwrap()
    );
    assert!(store.list_api_tokens(user.id, t0).await.unwrap().is_empty());

    // Codes: assigned in sequence per category, carried-over codes keep the sequence ahead.
    let d1 = draft("淄博市医疗机构名录", OpenType::Unconditional);
    let new = |doc: &'static DatasetDraft, code: Option<&'static str>, org: &OrgRow| NewDataset {
        code,
        category_code: "301002",
        provider_id: org.id,
        region_code: Box::leak(org.region_code.clone().into_boxed_str()),
        doc,
        actor_id: Some(user.id),
        at: t0,
    };
    let d1: &'static DatasetDraft = Box::leak(Box::new(d1));
    let a = store.create_dataset(&new(d1, None, &zibo)).await.unwrap();
    assert_eq!(a.code, "301002/000001");
    assert_eq!((a.status, a.version), (DatasetStatus::Draft, 1));
    let b = store
        .create_dataset(&new(d1, Some("301002/000005"), &jinan))
        .await
        .unwrap();
    assert_eq!(b.code, "301002/000005");
    assert!(matches!(
        store
            .create_dataset(&new(d1, Some("301002/000005"), &jinan))
            .await,
        Err(StoreError::Duplicate("code"))
    ));
    let c = store.create_dataset(&new(d1, None, &jinan)).await.unwrap();
    assert_eq!(c.code, "301002/000006");

    // Drafts are invisible to public reads.
    let all = PublishedQuery {
        limit: 100,
        ..Default::default()
    };
    assert_eq!(store.list_published(&all).await.unwrap().total, 0);
    assert!(store.get_published(a.id).await.unwrap().is_none());

    // Optimistic concurrency.
    let change = |version, status, publication| DatasetChange {
        id: a.id,
        expected_version: version,
        status,
        doc: None,
        note: None,
        review: false,
        publication,
        actor_id: Some(user.id),
        at: t0 + Duration::days(1),
    };
    let s = store
        .save_dataset(&change(1, DatasetStatus::Submitted, Publication::Keep))
        .await
        .unwrap();
    assert_eq!(s.version, 2);
    assert!(matches!(
        store
            .save_dataset(&change(1, DatasetStatus::Draft, Publication::Keep))
            .await,
        Err(StoreError::VersionConflict)
    ));
    let mut missing = change(1, DatasetStatus::Draft, Publication::Keep);
    missing.id = 999;
    assert!(matches!(
        store.save_dataset(&missing).await,
        Err(StoreError::NotFound)
    ));

    let p = store
        .save_dataset(&change(2, DatasetStatus::Published, Publication::Publish))
        .await
        .unwrap();
    assert_eq!(p.published_version, Some(3));
    let pubrow = store.get_published(a.id).await.unwrap().unwrap();
    assert_eq!(pubrow.provider_name, "淄博市卫健委");
    assert_eq!(pubrow.published_at, t0 + Duration::days(1));

    // An edit of a published entry leaves the published copy serving.
    let mut edited = d1.clone();
    edited.title = "淄博市医疗机构名录（修订）".into();
    let mut e = change(3, DatasetStatus::Draft, Publication::Keep);
    e.doc = Some(&edited);
    store.save_dataset(&e).await.unwrap();
    assert_eq!(
        store.get_published(a.id).await.unwrap().unwrap().doc.title,
        "淄博市医疗机构名录"
    );

    // Filters.
    let q = |f: fn(&mut PublishedQuery)| {
        let mut q = all.clone();
        f(&mut q);
        q
    };
    for (query, want) in [
        (q(|q| q.q = Some("医疗 名录".into())), 1),
        (q(|q| q.q = Some("医院".into())), 1),
        (q(|q| q.q = Some("修订".into())), 0),
        (q(|q| q.q = Some("100%_".into())), 0),
        (q(|q| q.domain = Some(Domain::Health)), 1),
        (q(|q| q.domain = Some(Domain::Transport)), 0),
        (q(|q| q.region_prefix = Some("37".into())), 1),
        (q(|q| q.region_prefix = Some("3701".into())), 0),
        (q(|q| q.open_types = vec![OpenType::None]), 0),
        (q(|q| q.update_cycle = Some(UpdateCycle::Monthly)), 1),
        (q(|q| q.format = Some("csv".into())), 1),
        (q(|q| q.format = Some("xlsx".into())), 0),
    ] {
        assert_eq!(
            store.list_published(&query).await.unwrap().total,
            want,
            "{query:?}"
        );
    }
    let summary = store.published_summary().await.unwrap();
    assert_eq!((summary.total, summary.opened), (1, 1));
    let count_of = |d| summary.by_domain.iter().find(|(x, _)| *x == d).unwrap().1;
    assert_eq!(
        (count_of(Domain::Health), count_of(Domain::Transport)),
        (1, 0)
    );
    assert_eq!(summary.by_domain.len(), Domain::ALL.len());
    let counts = store.published_counts("37").await.unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!(counts[0].count, 1);

    // History: every revision is kept.
    let revs = store.list_revisions(a.id).await.unwrap();
    let versions: Vec<(i64, DatasetStatus, bool)> = revs
        .iter()
        .map(|r| (r.version, r.status, r.published))
        .collect();
    assert_eq!(
        versions,
        vec![
            (1, DatasetStatus::Draft, false),
            (2, DatasetStatus::Submitted, false),
            (3, DatasetStatus::Published, true),
            (4, DatasetStatus::Draft, false),
        ]
    );
    assert_eq!(revs[3].actor_name.as_deref(), Some("Alice"));

    // Withdrawal removes the public copy.
    store
        .save_dataset(&change(4, DatasetStatus::Withdrawn, Publication::Unpublish))
        .await
        .unwrap();
    assert!(store.get_published(a.id).await.unwrap().is_none());
    let working = store
        .list_working(&WorkingQuery {
            provider_ids: vec![zibo.id],
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(working.total, 1);
    let by_region = store
        .list_working(&WorkingQuery {
            region_prefixes: vec!["3701".into()],
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_region.total, 2);

    // Use: added up per day, totalled per entry; an unused entry is left out.
    let day = t0.date_naive();
    store.record_dataset_use(a.id, day, 1, 0).await.unwrap();
    store.record_dataset_use(a.id, day, 2, 5).await.unwrap();
    store
        .record_dataset_use(a.id, day + Duration::days(1), 1, 1)
        .await
        .unwrap();
    assert_eq!(
        store.usage_totals(&[a.id, b.id]).await.unwrap(),
        vec![UsageTotals {
            dataset_id: a.id,
            downloads: 4,
            api_calls: 6,
        }]
    );
    assert!(store.usage_totals(&[]).await.unwrap().is_empty());

    audit_log(store, t0).await;
    governed(store, a.id, user.id, zibo.id, t0).await;
    attribute_changes(store, b.id, user.id, t0).await;
    catalog_updates(store, zibo.id, user.id, t0).await;
    column_classes(store, b.id, user.id, t0).await;
}

/// Issue 4: one pending change per entry; applying one publishes a new revision and
/// carries an edit in progress; a settled change does not move again.
async fn attribute_changes(store: &dyn Store, dataset: i64, user: i64, t0: DateTime<Utc>) {
    use gongshu_core::change::{ChangeRoute, ChangeState};
    let publish = DatasetChange {
        id: dataset,
        expected_version: 1,
        status: DatasetStatus::Published,
        doc: None,
        note: None,
        review: false,
        publication: Publication::Publish,
        actor_id: Some(user),
        at: t0,
    };
    let entry = store.save_dataset(&publish).await.unwrap();
    let mut editing = entry.doc.clone();
    editing.summary = "修订中".into();
    store
        .save_dataset(&DatasetChange {
            expected_version: 2,
            status: DatasetStatus::Draft,
            doc: Some(&editing),
            publication: Publication::Keep,
            ..publish
        })
        .await
        .unwrap();

    let new = NewAttributeChange {
        dataset_id: dataset,
        requested_by: user,
        route: ChangeRoute::Authority,
        content: "{}",
        from_open: OpenType::Unconditional,
        to_open: OpenType::Conditional,
        from_share: ShareType::Unconditional,
        to_share: ShareType::Unconditional,
        due_on: Some(t0.date_naive()),
        due_provisional: false,
        reason: "理由",
        at: t0,
    };
    let pending = store.insert_attribute_change(&new).await.unwrap();
    assert_eq!(pending.state, ChangeState::Pending);
    assert!(matches!(
        store.insert_attribute_change(&new).await,
        Err(StoreError::Duplicate(_))
    ));

    let mut narrowed = entry.doc.clone();
    narrowed.open_type = OpenType::Conditional;
    let mut carried = editing.clone();
    carried.open_type = OpenType::Conditional;
    let apply = AttributeApply {
        target: ChangeTarget::Pending { id: pending.id },
        dataset_id: dataset,
        expected_version: 3,
        published: &narrowed,
        carried_draft: Some(&carried),
        actor_id: Some(user),
        reason: "同意",
        share_review_due: None,
        at: t0,
    };
    // The entry moved on from version 2: nothing is applied, the change still waits.
    assert!(matches!(
        store
            .apply_attribute_change(&AttributeApply {
                expected_version: 2,
                ..apply.clone()
            })
            .await,
        Err(StoreError::VersionConflict)
    ));
    let applied = store.apply_attribute_change(&apply).await.unwrap();
    assert_eq!(applied.state, ChangeState::Applied);
    let published = store.get_published(dataset).await.unwrap().unwrap();
    assert_eq!(
        (published.version, published.doc.open_type),
        (4, OpenType::Conditional)
    );
    let working = store.get_dataset(dataset).await.unwrap().unwrap();
    assert_eq!(
        (working.version, working.status, working.published_version),
        (5, DatasetStatus::Draft, Some(4))
    );
    assert_eq!(working.doc.summary, "修订中");
    assert_eq!(working.doc.open_type, OpenType::Conditional);
    assert!(matches!(
        store.apply_attribute_change(&apply).await,
        Err(StoreError::VersionConflict)
    ));
    assert!(matches!(
        store
            .move_attribute_change(&ChangeMove {
                id: pending.id,
                to: ChangeState::Refused,
                actor_id: user,
                action: "refused",
                reason: "迟到的拒绝",
                decision: true,
                at: t0,
            })
            .await,
        Err(StoreError::VersionConflict)
    ));
    let events: Vec<String> = store
        .list_events("attribute_change", &pending.id.to_string())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(events, ["requested", "approved"]);
}

/// Issue 5: detected column classes are kept per version; the provider's confirmation is
/// recorded with an event and carries over to the next version's column of that name.
async fn column_classes(store: &dyn Store, dataset: i64, user: i64, t0: DateTime<Utc>) {
    let r = store
        .create_resource(&NewResource {
            id: "res-columns",
            dataset_id: dataset,
            name: "人员名单",
            table_prefix: "t_columns",
            created_by: Some(user),
            at: t0,
        })
        .await
        .unwrap();
    let proposal = |version: i64, column: &str, kind: Option<&str>| ColumnClassRow {
        resource_id: r.id.clone(),
        version,
        column_name: column.into(),
        proposed_kind: kind.map(str::to_owned),
        proposal: "{}".into(),
        confirmed_kind: None,
        confirmed_by: None,
        confirmed_at: None,
    };
    store
        .put_column_proposals(&[
            proposal(1, "姓名", Some("name")),
            proposal(1, "证件号", Some("resident_id")),
            proposal(1, "金额", None),
        ])
        .await
        .unwrap();
    let confirmed = store
        .confirm_column_classes(
            &r.id,
            1,
            &[
                ("证件号".into(), "resident_id".into()),
                ("金额".into(), "none".into()),
            ],
            user,
            t0,
        )
        .await
        .unwrap();
    let kinds: Vec<Option<&str>> = confirmed
        .iter()
        .map(|c| c.confirmed_kind.as_deref())
        .collect();
    assert_eq!(kinds, [None, Some("resident_id"), Some("none")]);
    assert!(matches!(
        store
            .confirm_column_classes(&r.id, 1, &[("没有".into(), "none".into())], user, t0)
            .await,
        Err(StoreError::NotFound)
    ));
    // Version 2: the confirmation of 证件号 carries over; a new column starts unconfirmed.
    store
        .put_column_proposals(&[
            proposal(2, "证件号", Some("resident_id")),
            proposal(2, "电话", Some("mobile")),
        ])
        .await
        .unwrap();
    let v2 = store.column_classes(&r.id, 2).await.unwrap();
    let carried: Vec<(&str, Option<&str>)> = v2
        .iter()
        .map(|c| (c.column_name.as_str(), c.confirmed_kind.as_deref()))
        .collect();
    assert_eq!(carried, [("证件号", Some("resident_id")), ("电话", None)]);
    let events: Vec<String> = store
        .list_events("resource", &r.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        events.contains(&"columns_confirmed".to_owned()),
        "{events:?}"
    );
}

/// SD-EGOV §16: a catalog-update duty is found by its provider and its region, closes
/// once, warns once per deadline, and leaves its events behind.
async fn catalog_updates(store: &dyn Store, org: i64, user: i64, t0: DateTime<Utc>) {
    let due = t0.date_naive() + chrono::Duration::days(21);
    let u = store
        .insert_catalog_update(&NewCatalogUpdate {
            provider_id: org,
            cause: "law",
            basis: "某条例修订",
            received_on: t0.date_naive(),
            due_on: due,
            due_provisional: false,
            created_by: user,
            at: t0,
        })
        .await
        .unwrap();
    assert_eq!(
        (u.region_code.as_str(), u.state.as_str()),
        ("370300", "open")
    );
    let by_org = store.list_catalog_updates(&[org], &[], true).await.unwrap();
    let by_region = store
        .list_catalog_updates(&[], &["3703".to_owned()], false)
        .await
        .unwrap();
    let elsewhere = store
        .list_catalog_updates(&[], &["3701".to_owned()], false)
        .await
        .unwrap();
    assert_eq!((by_org.len(), by_region.len(), elsewhere.len()), (1, 1, 0));
    assert_eq!(store.open_catalog_updates().await.unwrap().len(), 1);
    assert!(
        store
            .claim_deadline_notice(DeadlineOf::CatalogUpdate, u.id, due, false)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_deadline_notice(DeadlineOf::CatalogUpdate, u.id, due, false)
            .await
            .unwrap()
    );
    let closed = store
        .close_catalog_update(u.id, user, "已更新", t0)
        .await
        .unwrap();
    assert_eq!(
        (closed.state.as_str(), closed.close_note.as_deref()),
        ("done", Some("已更新"))
    );
    assert!(matches!(
        store.close_catalog_update(u.id, user, "再次", t0).await,
        Err(StoreError::VersionConflict)
    ));
    assert!(matches!(
        store
            .close_catalog_update(u.id + 1000, user, "无", t0)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(store.open_catalog_updates().await.unwrap().is_empty());
    let events: Vec<String> = store
        .list_events("catalog_update", &u.id.to_string())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(events, ["recorded", "closed"]);
}

/// Issue 4: calendar years, grants and applications move only from the state they were
/// seen in, and leave their events behind.
async fn governed(store: &dyn Store, dataset: i64, user: i64, org: i64, t0: DateTime<Utc>) {
    use gongshu_core::access::{GrantKind, GrantMode};
    use gongshu_core::apply::ApplicationState as S;
    use gongshu_core::calendar::official_schedules;

    // The shipped notices never overwrite an administrator's year.
    let mut y2026 = official_schedules().pop().unwrap();
    assert!(store.seed_holiday_schedule(&y2026, t0).await.unwrap());
    y2026.days.truncate(3);
    let event = |action: &'static str| NewEvent {
        at: t0,
        actor_id: Some(user),
        object_type: "calendar_year",
        object_id: "2026",
        action,
        reason: "测试",
        detail: "{}".into(),
    };
    store
        .put_holiday_schedule(&y2026, &event("replaced"))
        .await
        .unwrap();
    assert!(
        !store
            .seed_holiday_schedule(&official_schedules()[7], t0)
            .await
            .unwrap()
    );
    let held = store.list_holiday_schedules().await.unwrap();
    assert_eq!((held.len(), held[0].schedule.days.len()), (1, 3));
    assert_eq!(held[0].source, ScheduleSource::Admin);

    // Applications: a stale step touches nothing; a second activation finds nothing.
    let app = store
        .insert_application(&NewApplication {
            dataset_id: dataset,
            applicant_id: user,
            requester_org_id: None,
            state: S::FormalCheck,
            content: "{}".into(),
            content_hash: "h".into(),
            at: t0,
            due_on: None,
            due_provisional: false,
        })
        .await
        .unwrap();
    let step = |from, to, action| ApplicationMove {
        id: app.id,
        from,
        to,
        actor_id: Some(user),
        action,
        reason: "",
        at: t0,
        due_on: None,
        due_provisional: false,
        decision: to == S::Approved,
        agreement: (to == S::Approved).then_some(("协议", "ah")),
        quotas: (Some(5), None),
    };
    store
        .move_application(&step(
            S::FormalCheck,
            S::WithProvider,
            "formal_check_passed",
        ))
        .await
        .unwrap();
    assert!(matches!(
        store
            .move_application(&step(
                S::FormalCheck,
                S::WithProvider,
                "formal_check_passed"
            ))
            .await,
        Err(StoreError::VersionConflict)
    ));
    store
        .move_application(&step(S::WithProvider, S::Approved, "approved"))
        .await
        .unwrap();
    let grant = |reason| NewGrant {
        kind: GrantKind::Open,
        dataset_id: dataset,
        holder_user_id: Some(user),
        holder_org_id: None,
        modes: &[GrantMode::Api],
        purpose: "研究",
        valid_from: t0,
        valid_until: t0 + Duration::days(30),
        quota_calls_per_day: Some(5),
        quota_rows_per_day: None,
        created_by: None,
        at: t0,
        reason,
    };
    // Not in force until both sides accepted the agreement they were shown.
    let (first, second, third) = (grant("x"), grant("协议"), grant("again"));
    let activation = |grant| Activation {
        id: app.id,
        from: S::Approved,
        needs_acceptance: true,
        actor_id: None,
        action: "in_force",
        reason: "",
        grant,
    };
    assert!(
        store
            .activate_application(&activation(&first))
            .await
            .is_err()
    );
    assert!(matches!(
        store
            .accept_agreement(app.id, AgreementSide::Applicant, "other", t0)
            .await,
        Err(StoreError::VersionConflict)
    ));
    store
        .accept_agreement(app.id, AgreementSide::Applicant, "ah", t0)
        .await
        .unwrap();
    store
        .accept_agreement(app.id, AgreementSide::Provider { user_id: user }, "ah", t0)
        .await
        .unwrap();
    let in_force = store
        .activate_application(&activation(&second))
        .await
        .unwrap();
    assert_eq!(in_force.state, S::InForce);
    assert!(matches!(
        store.activate_application(&activation(&third)).await,
        Err(StoreError::VersionConflict)
    ));
    let g = in_force.grant_id.unwrap();
    assert_eq!(
        store
            .grants_of(user, &[], t0.date_naive())
            .await
            .unwrap()
            .len(),
        1
    );

    // Use is counted per day; a grant ends once.
    let day = t0.date_naive();
    store.record_grant_use(g, day, 1, 10).await.unwrap();
    store.record_grant_use(g, day, 1, 5).await.unwrap();
    let held = store.grants_held(dataset, user, &[org], day).await.unwrap();
    assert_eq!((held[0].calls_today, held[0].rows_today), (2, 15));
    // A call is taken only while the day's quota allows, however many ask at once.
    let next_day = day.succ_opt().unwrap();
    let takes = (0..8).map(|_| store.take_grant_call(g, next_day));
    let taken = futures::future::join_all(takes)
        .await
        .into_iter()
        .filter(|t| *t.as_ref().unwrap())
        .count();
    assert_eq!(taken, 5, "the grant allows five calls a day");
    // Verification checks are taken the same way: all of a batch, or none of it.
    let takes = (0..6).map(|_| store.take_verification_checks("grant:1", "r1", day, 3, 10));
    let totals: Vec<i64> = futures::future::join_all(takes)
        .await
        .into_iter()
        .filter_map(|t| t.unwrap())
        .collect();
    assert_eq!(
        totals.len(),
        3,
        "three batches of three fit in ten: {totals:?}"
    );
    assert_eq!(
        store
            .take_verification_checks("grant:1", "r1", day, 1, 10)
            .await
            .unwrap(),
        Some(10)
    );
    assert_eq!(
        store
            .take_verification_checks("grant:2", "r1", day, 11, 10)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .take_verification_checks("grant:1", "r1", next_day, 2, 10)
            .await
            .unwrap(),
        Some(2)
    );
    let held = store
        .grants_held(dataset, user, &[org], next_day)
        .await
        .unwrap();
    assert_eq!(held[0].calls_today, 5);
    assert!(
        store
            .grants_held(dataset, user + 1000, &[], day)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .terminate_grant(g, Some(user), "违约", t0)
        .await
        .unwrap();
    assert!(matches!(
        store.terminate_grant(g, Some(user), "违约", t0).await,
        Err(StoreError::VersionConflict)
    ));
    let actions: Vec<String> = store
        .list_events("application", &app.id.to_string())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "submitted",
            "formal_check_passed",
            "approved",
            "agreement_accepted_by_applicant",
            "agreement_accepted_by_provider",
            "in_force"
        ]
    );

    // The inbox: one's own notices only.
    store
        .insert_notifications(&[NewNotification {
            user_id: user,
            kind: "k",
            subject: "s",
            body: "b",
            link: "",
            at: t0,
        }])
        .await
        .unwrap();
    let inbox = store.list_notifications(user, true, 10).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert!(
        !store
            .mark_notification_read(inbox[0].id, user + 1, t0)
            .await
            .unwrap()
    );
    assert!(
        store
            .mark_notification_read(inbox[0].id, user, t0)
            .await
            .unwrap()
    );
    assert!(
        store
            .list_notifications(user, true, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

// Every test runs on both backends: SQLite in a temporary file, PostgreSQL in a fresh
// database (`GONGSHU_TEST_PG_URL`, or a throwaway cluster; see `gongshu_store::testing`).

async fn sqlite_store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("meta.db"))
        .await
        .unwrap();
    (dir, store)
}

async fn pg_store() -> (String, PgStore) {
    let url = gongshu_store::testing::pg_url().await;
    let store = PgStore::connect(&url).await.unwrap();
    (url, store)
}

#[tokio::test]
async fn sqlite_tells_the_story() {
    let (_dir, store) = sqlite_store().await;
    story(&store).await;
}

#[tokio::test]
async fn postgres_tells_the_story() {
    let (_url, store) = pg_store().await;
    story(&store).await;
}

/// Even someone with the database cannot silently edit history through SQL.
const REWRITES: [&str; 8] = [
    "UPDATE dataset_revisions SET note = 'x'",
    "DELETE FROM dataset_revisions",
    "UPDATE events SET reason = 'x'",
    "DELETE FROM events",
    "UPDATE audit_log SET entry = '{}'",
    "DELETE FROM audit_log WHERE seq = 2",
    "UPDATE audit_checkpoints SET checkpoint = 'x'",
    "DELETE FROM audit_checkpoints",
];

#[tokio::test]
async fn sqlite_revisions_cannot_be_rewritten() {
    use sqlx::Connection;
    let (dir, store) = sqlite_store().await;
    story(&store).await;
    store.close().await;
    let path = dir.path().join("meta.db");
    for sql in REWRITES {
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        assert!(sqlx::query(sql).execute(&mut c).await.is_err(), "{sql}");
    }
}

#[tokio::test]
async fn postgres_revisions_cannot_be_rewritten() {
    use sqlx::Connection;
    let (url, store) = pg_store().await;
    story(&store).await;
    store.close().await;
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    for sql in REWRITES
        .into_iter()
        .chain(["TRUNCATE events", "TRUNCATE audit_log CASCADE"])
    {
        assert!(sqlx::query(sql).execute(&mut c).await.is_err(), "{sql}");
    }
}

/// Issue 7: the audit log numbers entries from 1 without gaps, filters on the entry's own
/// fields, and keeps one checkpoint per size (the first signed stands).
async fn audit_log(store: &dyn Store, t0: DateTime<Utc>) {
    assert_eq!(store.audit_size().await.unwrap(), 0);
    assert!(store.latest_audit_checkpoint().await.unwrap().is_none());
    let entry = |action: &str, actor: i64, dataset: Option<i64>, minute: u32| {
        serde_json::json!({
            "action": action, "actor": actor, "dataset": dataset,
            "time": format!("2026-11-23T10:{minute:02}:00.000Z"),
        })
        .to_string()
    };
    let mut seqs = Vec::new();
    for (i, (action, actor, dataset)) in [
        ("data.download", 1, Some(5)),
        ("data.rows", 2, Some(5)),
        ("dataset.approve", 1, Some(6)),
        ("auth.login", 2, None),
        ("data%x", 3, None),
    ]
    .into_iter()
    .enumerate()
    {
        seqs.extend(
            store
                .append_audit(&[entry(action, actor, dataset, i as u32)])
                .await
                .unwrap(),
        );
    }
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    assert!(store.append_audit(&[]).await.unwrap().is_empty());
    assert_eq!(store.audit_size().await.unwrap(), 5);
    let after = store.audit_entries(3, 10).await.unwrap();
    assert_eq!(after.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![4, 5]);
    assert!(after[0].entry.contains("auth.login"));
    let find = |q: AuditQuery| async move {
        store
            .search_audit(&AuditQuery { limit: 10, ..q })
            .await
            .unwrap()
            .items
            .iter()
            .map(|r| r.seq)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        find(AuditQuery {
            action_prefix: Some("data.".into()),
            ..Default::default()
        })
        .await,
        vec![2, 1]
    );
    assert_eq!(
        find(AuditQuery {
            dataset: Some(5),
            actor: Some(2),
            ..Default::default()
        })
        .await,
        vec![2]
    );
    assert_eq!(
        find(AuditQuery {
            from: Some("2026-11-23T10:01:00.000Z".into()),
            until: Some("2026-11-23T10:03:00.000Z".into()),
            ..Default::default()
        })
        .await,
        vec![3, 2]
    );
    // A LIKE wildcard in the filter is taken literally.
    assert_eq!(
        find(AuditQuery {
            action_prefix: Some("data%".into()),
            ..Default::default()
        })
        .await,
        vec![5]
    );

    // A batch takes consecutive numbers in its order.
    let batch: Vec<String> = (0..3)
        .map(|i| entry("data.rows", 9, None, 10 + i))
        .collect();
    assert_eq!(store.append_audit(&batch).await.unwrap(), vec![6, 7, 8]);
    let stored = store.audit_entries(5, 10).await.unwrap();
    assert_eq!(
        stored.iter().map(|r| r.entry.clone()).collect::<Vec<_>>(),
        batch
    );

    let row = |size: i64, text: &str| AuditCheckpointRow {
        size,
        checkpoint: text.into(),
        frontier: "{}".into(),
    };
    store
        .insert_audit_checkpoint(&row(3, "first"), t0)
        .await
        .unwrap();
    store
        .insert_audit_checkpoint(&row(5, "second"), t0)
        .await
        .unwrap();
    store
        .insert_audit_checkpoint(&row(3, "again"), t0)
        .await
        .unwrap();
    assert_eq!(
        store.latest_audit_checkpoint().await.unwrap(),
        Some(row(5, "second"))
    );
    assert_eq!(
        store.audit_checkpoints().await.unwrap(),
        vec![row(3, "first"), row(5, "second")]
    );

    // Identities from single sign-on: one account per issuer and subject.
    assert_eq!(store.sso_user("https://idp", "u1").await.unwrap(), None);
    let someone = store.list_users().await.unwrap()[0].id;
    store
        .link_sso("https://idp", "u1", someone, t0)
        .await
        .unwrap();
    assert_eq!(
        store.sso_user("https://idp", "u1").await.unwrap(),
        Some(someone)
    );
    assert_eq!(store.sso_user("https://other", "u1").await.unwrap(), None);
    assert!(
        store
            .link_sso("https://idp", "u1", someone, t0)
            .await
            .is_err()
    );

    // Alerts, and the monitor's place in the log (which never moves back).
    assert_eq!(store.monitor_cursor().await.unwrap(), 0);
    store.set_monitor_cursor(4).await.unwrap();
    store.set_monitor_cursor(2).await.unwrap();
    assert_eq!(store.monitor_cursor().await.unwrap(), 4);
    let alert = store
        .insert_alert(&NewAlert {
            rule: "bulk_download",
            subject: "user:1",
            dataset_id: None,
            summary_zh: "批量下载",
            summary_en: "Bulk downloads",
            evidence: &[1, 2],
            first_at: t0,
            last_at: t0,
            created_at: t0,
        })
        .await
        .unwrap();
    assert_eq!(alert.evidence, vec![1, 2]);
    let all = store
        .list_alerts(&AlertQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.total, 1);
    assert_eq!(all.items[0], alert);
    assert_eq!(
        store.get_alert(alert.id).await.unwrap(),
        Some(alert.clone())
    );
    assert_eq!(store.get_alert(alert.id + 1).await.unwrap(), None);
    let none = store
        .list_alerts(&AlertQuery {
            provider_ids: Some(vec![]),
            limit: 10,
            offset: 0,
        })
        .await
        .unwrap();
    assert_eq!(none.total, 0);
}

#[tokio::test]
async fn sqlite_keeps_records() {
    let (_dir, store) = sqlite_store().await;
    records(&store).await;
}

#[tokio::test]
async fn postgres_keeps_records() {
    let (_url, store) = pg_store().await;
    records(&store).await;
}

/// Issues 7–9: incidents, evaluations and the facts they read, quality reports, source
/// claims, sandbox queries and models, the privacy budget and verification settings.
async fn records(store: &dyn Store) {
    use gongshu_core::access::{GrantKind, GrantMode};
    use gongshu_core::catalog::DataItem;

    let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
    store.upsert_region("370000", "山东省").await.unwrap();
    store.upsert_region("370300", "淄博市").await.unwrap();
    store.upsert_region("370100", "济南市").await.unwrap();
    let org = |name: &str, region: &str, credit: &str| NewOrg {
        name: name.into(),
        name_en: String::new(),
        kind: OrgKind::Provider,
        region_code: region.into(),
        credit_code: credit.into(),
        contact: String::new(),
    };
    let zibo = store
        .insert_org(&org("淄博市卫健委", "370300", "C1"), t0)
        .await
        .unwrap();
    let jinan = store
        .insert_org(&org("济南市卫健委", "370100", "C2"), t0)
        .await
        .unwrap();
    let user = store
        .insert_user(
            &NewUser {
                username: "bob".into(),
                display_name: "Bob".into(),
                kind: UserKind::Staff,
                password_hash: None,
            },
            t0,
        )
        .await
        .unwrap()
        .id;

    // Two published entries in Zibo declaring items as their own, one in Jinan.
    let item = |name: &str, source: bool| DataItem {
        name: name.into(),
        item_type: ItemType::Character,
        length: 0,
        description: String::new(),
        grade: Grade::General1,
        source,
        codes: vec![],
    };
    let mut entries = Vec::new();
    for (i, (o, items)) in [
        (&zibo, vec![item("医院名称", true), item("地址", false)]),
        (&zibo, vec![item("床位数", true), item("医院名称", true)]),
        (&jinan, vec![item("医院名称", true)]),
    ]
    .into_iter()
    .enumerate()
    {
        let mut d = draft(&format!("名录{i}"), OpenType::Unconditional);
        d.items = items;
        let d: &'static DatasetDraft = Box::leak(Box::new(d));
        let e = store
            .create_dataset(&NewDataset {
                code: None,
                category_code: "301002",
                provider_id: o.id,
                region_code: Box::leak(o.region_code.clone().into_boxed_str()),
                doc: d,
                actor_id: Some(user),
                at: t0,
            })
            .await
            .unwrap();
        store
            .save_dataset(&DatasetChange {
                id: e.id,
                expected_version: 1,
                status: DatasetStatus::Published,
                doc: None,
                note: None,
                review: false,
                publication: Publication::Publish,
                actor_id: Some(user),
                at: t0,
            })
            .await
            .unwrap();
        entries.push(e.id);
    }
    let claims = store.source_claims("3703").await.unwrap();
    let got: Vec<(&str, i64)> = claims
        .iter()
        .map(|c| (c.item.as_str(), c.dataset_id))
        .collect();
    assert_eq!(
        got,
        vec![
            ("医院名称", entries[0]),
            ("医院名称", entries[1]),
            ("床位数", entries[1])
        ]
    );
    assert_eq!(claims[0].provider_name, "淄博市卫健委");
    assert_eq!(store.source_claims("37").await.unwrap().len(), 4);

    // Quality reports of versions; the evaluation reads the serving version's score.
    let res = store
        .create_resource(&NewResource {
            id: "r-a",
            dataset_id: entries[0],
            name: "表",
            table_prefix: "t_a",
            created_by: Some(user),
            at: t0,
        })
        .await
        .unwrap();
    store
        .add_resource_version(&res.id, 1, "{}", Some(user), t0)
        .await
        .unwrap();
    store
        .publish_resource_version(&res.id, 1, t0 + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(store.version_quality(&res.id, 1).await.unwrap(), None);
    store
        .set_version_quality(&res.id, 1, r#"{"score":87.9}"#)
        .await
        .unwrap();
    assert_eq!(
        store.version_quality(&res.id, 1).await.unwrap().as_deref(),
        Some(r#"{"score":87.9}"#)
    );
    assert_eq!(store.version_quality(&res.id, 2).await.unwrap(), None);

    // Incidents: recorded with their entries, listed by region or provider, saved once
    // per version.
    let incident = store
        .insert_incident(&NewIncident {
            region_code: "370300",
            severity: "general",
            kind: "leak",
            occurred_on: day(3),
            discovered_on: day(4),
            doc: "{}",
            created_by: user,
            at: t0,
            dataset_ids: &[entries[1], entries[0], entries[1]],
        })
        .await
        .unwrap();
    assert_eq!(incident.dataset_ids, vec![entries[0], entries[1]]);
    assert_eq!((incident.occurred_on, incident.version), (day(3), 1));
    let other = store
        .insert_incident(&NewIncident {
            region_code: "370100",
            severity: "major",
            kind: "loss",
            occurred_on: day(20),
            discovered_on: day(20),
            doc: "{}",
            created_by: user,
            at: t0,
            dataset_ids: &[],
        })
        .await
        .unwrap();
    assert!(other.dataset_ids.is_empty());
    let ids = |p: Page<IncidentRow>| p.items.iter().map(|i| i.id).collect::<Vec<_>>();
    let list = |region_prefixes: Vec<String>, provider_ids: Vec<i64>| IncidentQuery {
        region_prefixes,
        provider_ids,
        limit: 10,
        offset: 0,
    };
    assert_eq!(
        ids(store
            .list_incidents(&list(vec!["37".into()], vec![]))
            .await
            .unwrap()),
        vec![other.id, incident.id]
    );
    assert_eq!(
        ids(store
            .list_incidents(&list(vec![], vec![zibo.id]))
            .await
            .unwrap()),
        vec![incident.id]
    );
    assert_eq!(
        store
            .list_incidents(&list(vec![], vec![]))
            .await
            .unwrap()
            .total,
        0
    );
    let event = NewEvent {
        at: t0 + Duration::days(1),
        actor_id: Some(user),
        object_type: "incident",
        object_id: "x",
        action: "closed",
        reason: "",
        detail: "{}".into(),
    };
    let mut closing = incident.clone();
    closing.state = "closed".into();
    closing.closed_at = Some(t0 + Duration::days(1));
    let closed = store.save_incident(&closing, &event).await.unwrap();
    assert_eq!((closed.state.as_str(), closed.version), ("closed", 2));
    assert_eq!(closed.closed_at, Some(t0 + Duration::days(1)));
    assert_eq!(closed.dataset_ids, incident.dataset_ids);
    assert!(matches!(
        store.save_incident(&closing, &event).await,
        Err(StoreError::VersionConflict)
    ));
    assert_eq!(
        store
            .get_incident(incident.id)
            .await
            .unwrap()
            .unwrap()
            .state,
        "closed"
    );
    assert!(store.get_incident(other.id + 1).await.unwrap().is_none());

    // Evaluations: a scheme per region, drafts seen by their region, released once.
    assert_eq!(store.evaluation_scheme("370300").await.unwrap(), None);
    store
        .put_evaluation_scheme("370300", r#"{"w":1}"#, user, t0)
        .await
        .unwrap();
    store
        .put_evaluation_scheme("370300", r#"{"w":2}"#, user, t0)
        .await
        .unwrap();
    assert_eq!(
        store.evaluation_scheme("370300").await.unwrap().as_deref(),
        Some(r#"{"w":2}"#)
    );
    let evaluation = |from: u32, to: u32| NewEvaluation {
        region_code: "370300",
        period_from: day(from),
        period_to: day(to),
        doc: "{}",
        created_by: user,
        at: t0,
    };
    let first = store.insert_evaluation(&evaluation(1, 15)).await.unwrap();
    let second = store.insert_evaluation(&evaluation(1, 31)).await.unwrap();
    assert_eq!((first.period_to, first.state.as_str()), (day(15), "draft"));
    assert!(store.insert_evaluation(&evaluation(20, 10)).await.is_err());
    let seen = |draft_regions: Vec<String>| EvaluationQuery {
        draft_regions,
        region: None,
        limit: 10,
    };
    let eval_ids = |v: Vec<EvaluationRow>| v.iter().map(|e| e.id).collect::<Vec<_>>();
    assert!(
        store
            .list_evaluations(&seen(vec![]))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        eval_ids(
            store
                .list_evaluations(&seen(vec!["37".into()]))
                .await
                .unwrap()
        ),
        vec![second.id, first.id]
    );
    let released = store
        .release_evaluation(first.id, user, t0 + Duration::days(2))
        .await
        .unwrap();
    assert_eq!(released.released_at, Some(t0 + Duration::days(2)));
    assert!(matches!(
        store.release_evaluation(first.id, user, t0).await,
        Err(StoreError::VersionConflict)
    ));
    assert!(matches!(
        store.release_evaluation(second.id + 10, user, t0).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        eval_ids(store.list_evaluations(&seen(vec![])).await.unwrap()),
        vec![first.id]
    );
    assert_eq!(
        store.get_evaluation(first.id).await.unwrap().unwrap().state,
        "released"
    );

    // What an evaluation reads.
    store
        .record_dataset_use(entries[0], day(5), 2, 3)
        .await
        .unwrap();
    store
        .record_dataset_use(entries[1], day(6), 1, 0)
        .await
        .unwrap();
    store
        .record_dataset_use(entries[1], day(31), 100, 100)
        .await
        .unwrap();
    store
        .insert_alert(&NewAlert {
            rule: "bulk_download",
            subject: "user:1",
            dataset_id: Some(entries[0]),
            summary_zh: "批量下载",
            summary_en: "Bulk downloads",
            evidence: &[1],
            first_at: t0,
            last_at: t0,
            created_at: t0,
        })
        .await
        .unwrap();
    let facts = store
        .evaluation_facts("3703", day(1), day(30))
        .await
        .unwrap();
    assert_eq!(
        facts.providers.iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![zibo.id]
    );
    assert_eq!(
        facts
            .entries
            .iter()
            .map(|e| e.dataset_id)
            .collect::<Vec<_>>(),
        vec![entries[0], entries[1]]
    );
    assert_eq!(facts.resources.len(), 1);
    assert_eq!(
        facts.resources[0].last_published,
        Some(t0 + Duration::hours(1))
    );
    assert_eq!(
        facts
            .quality
            .iter()
            .map(|q| (q.provider_id, q.score))
            .collect::<Vec<_>>(),
        vec![(zibo.id, 87)]
    );
    assert_eq!(
        facts
            .usage
            .iter()
            .map(|u| (u.provider_id, u.downloads, u.api_calls))
            .collect::<Vec<_>>(),
        vec![(zibo.id, 3, 3)]
    );
    let counts = |v: &[ProviderCount]| {
        v.iter()
            .map(|c| (c.provider_id, c.count))
            .collect::<Vec<_>>()
    };
    assert_eq!(counts(&facts.alerts), vec![(zibo.id, 1)]);
    assert_eq!(counts(&facts.incidents), vec![(zibo.id, 1)]);
    assert!(facts.cases.is_empty() && facts.reuses.is_empty());
    let before = store
        .evaluation_facts("3703", day(1), day(1))
        .await
        .unwrap();
    assert!(before.incidents.is_empty() && before.usage.is_empty());

    // The sandbox: queries, their reviews and expiry.
    let grant = store
        .insert_grant(&NewGrant {
            kind: GrantKind::Open,
            dataset_id: entries[0],
            holder_user_id: Some(user),
            holder_org_id: None,
            modes: &[GrantMode::Sandbox, GrantMode::Verification],
            purpose: "研究",
            valid_from: t0,
            valid_until: t0 + Duration::days(365),
            quota_calls_per_day: None,
            quota_rows_per_day: None,
            created_by: Some(user),
            at: t0,
            reason: "",
        })
        .await
        .unwrap()
        .id;
    let query = |state: &str, fingerprint: &str, grant_id: Option<i64>| SandboxQueryRow {
        id: 0,
        user_id: user,
        grant_id,
        provider_id: zibo.id,
        dataset_ids: vec![entries[0], entries[1]],
        state: state.into(),
        fingerprint: fingerprint.into(),
        doc: r#"{"rows":[[1,2]],"sql":"SELECT 1"}"#.into(),
        result_hash: None,
        created_at: t0,
        released_at: None,
        version: 0,
    };
    let q1 = store
        .insert_sandbox_query(&query("released", "f1", Some(grant)))
        .await
        .unwrap();
    assert_eq!(q1.dataset_ids, vec![entries[0], entries[1]]);
    assert_eq!((q1.version, q1.released_at), (1, Some(t0)));
    let q2 = store
        .insert_sandbox_query(&query("review", "f1", None))
        .await
        .unwrap();
    let q3 = store
        .insert_sandbox_query(&query("running", "f2", Some(grant)))
        .await
        .unwrap();
    assert_eq!(q2.released_at, None);
    let shape = |v: Vec<SandboxQueryRow>| v.iter().map(|q| q.id).collect::<Vec<_>>();
    assert_eq!(
        shape(
            store
                .same_shape_queries("f1", user, Some(grant), 10)
                .await
                .unwrap()
        ),
        vec![q2.id, q1.id]
    );
    assert_eq!(
        shape(
            store
                .same_shape_queries("f1", user + 1, None, 10)
                .await
                .unwrap()
        ),
        Vec::<i64>::new()
    );
    assert_eq!(
        shape(
            store
                .same_shape_queries("f1", user + 1, Some(grant), 10)
                .await
                .unwrap()
        ),
        vec![q1.id]
    );
    assert_eq!(
        shape(
            store
                .list_sandbox_queries(None, &[zibo.id], Some("review"), 10)
                .await
                .unwrap()
        ),
        vec![q2.id]
    );
    assert_eq!(
        shape(
            store
                .list_sandbox_queries(Some(user), &[], None, 2)
                .await
                .unwrap()
        ),
        vec![q3.id, q2.id]
    );
    assert!(
        store
            .list_sandbox_queries(None, &[], None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let mut review = q2.clone();
    review.state = "released".into();
    review.released_at = Some(t0 + Duration::hours(2));
    review.result_hash = Some("h".into());
    let saved = store.save_sandbox_query(&review).await.unwrap();
    assert_eq!((saved.version, saved.released_at), (2, review.released_at));
    assert!(matches!(
        store.save_sandbox_query(&review).await,
        Err(StoreError::VersionConflict)
    ));
    assert_eq!(
        store
            .fail_running_sandbox_queries("restarted")
            .await
            .unwrap(),
        1
    );
    let failed = store.get_sandbox_query(q3.id).await.unwrap().unwrap();
    assert_eq!((failed.state.as_str(), failed.version), ("failed", 2));
    let doc: serde_json::Value = serde_json::from_str(&failed.doc).unwrap();
    assert_eq!(doc["error"], "restarted");
    assert_eq!(doc["sql"], "SELECT 1");
    assert_eq!(store.expire_sandbox_results(t0).await.unwrap(), 0);
    assert_eq!(
        store
            .expire_sandbox_results(t0 + Duration::seconds(1))
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .expire_sandbox_results(t0 + Duration::seconds(1))
            .await
            .unwrap(),
        0
    );
    let expired = store.get_sandbox_query(q1.id).await.unwrap().unwrap();
    let doc: serde_json::Value = serde_json::from_str(&expired.doc).unwrap();
    assert_eq!(doc["rows"], serde_json::json!([]));
    assert_eq!(doc["expired"], true);
    assert_eq!(doc["sql"], "SELECT 1");
    assert_eq!(expired.version, 2);
    assert!(store.get_sandbox_query(q3.id + 1).await.unwrap().is_none());

    // Models over an entry.
    let model = |public: bool| SandboxModelRow {
        id: 0,
        dataset_id: entries[0],
        provider_id: zibo.id,
        public,
        state: "active".into(),
        doc: "{}".into(),
        created_by: user,
        created_at: t0,
        updated_at: t0,
    };
    let m1 = store.insert_sandbox_model(&model(true)).await.unwrap();
    let m2 = store.insert_sandbox_model(&model(false)).await.unwrap();
    assert!(m1.public && !m2.public);
    let mut retired = m1.clone();
    retired.state = "retired".into();
    retired.public = false;
    retired.updated_at = t0 + Duration::days(1);
    store.save_sandbox_model(&retired).await.unwrap();
    let got = store.get_sandbox_model(m1.id).await.unwrap().unwrap();
    assert_eq!(
        (got.state.as_str(), got.public, got.updated_at),
        ("retired", false, t0 + Duration::days(1))
    );
    assert_eq!(
        store
            .list_sandbox_models(entries[0])
            .await
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect::<Vec<_>>(),
        vec![m2.id]
    );
    assert!(store.get_sandbox_model(m2.id + 1).await.unwrap().is_none());

    // The privacy budget: spent only while it holds, however many spend at once.
    assert!(store.get_grant_privacy(grant).await.unwrap().is_none());
    assert_eq!(store.spend_privacy(grant, 0.1).await.unwrap(), None);
    store
        .put_grant_privacy(grant, "{}", 1.0, user, t0)
        .await
        .unwrap();
    let spends = (0..12).map(|_| store.spend_privacy(grant, 0.1));
    let spent = futures::future::join_all(spends)
        .await
        .into_iter()
        .filter(|s| s.as_ref().unwrap().is_some())
        .count();
    assert_eq!(spent, 10, "ten tenths fit in a budget of one");
    store
        .put_grant_privacy(grant, r#"{"m":1}"#, 2.0, user, t0)
        .await
        .unwrap();
    let privacy = store.get_grant_privacy(grant).await.unwrap().unwrap();
    assert_eq!((privacy.budget, privacy.doc.as_str()), (2.0, r#"{"m":1}"#));
    assert!((privacy.spent - 1.0).abs() < 1e-6);

    // Verification settings and checks.
    assert!(
        store
            .get_verification_service(&res.id)
            .await
            .unwrap()
            .is_none()
    );
    store
        .put_verification_service(&res.id, "{}", user, t0)
        .await
        .unwrap();
    store
        .put_verification_service(&res.id, r#"{"k":1}"#, user, t0 + Duration::days(1))
        .await
        .unwrap();
    let service = store
        .get_verification_service(&res.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (service.doc.as_str(), service.updated_by, service.updated_at),
        (r#"{"k":1}"#, Some(user), t0 + Duration::days(1))
    );
    let who = format!("grant:{grant}");
    assert_eq!(
        store
            .take_verification_checks(&who, &res.id, day(2), 11, 10)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .take_verification_checks(&who, &res.id, day(2), 4, 10)
            .await
            .unwrap(),
        Some(4)
    );
    assert_eq!(
        store
            .take_verification_checks(&who, &res.id, day(2), 7, 10)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .take_verification_checks(&who, &res.id, day(3), 7, 10)
            .await
            .unwrap(),
        Some(7)
    );
}

#[tokio::test]
async fn sqlite_under_contention() {
    let (_dir, store) = sqlite_store().await;
    contention(&store).await;
}

#[tokio::test]
async fn postgres_under_contention() {
    let (_url, store) = pg_store().await;
    contention(&store).await;
}

/// Writers arriving together: the audit log stays gap-free with each batch consecutive,
/// codes are not handed out twice, one of several writers of a version wins, and the
/// catalog generation moves.
async fn contention(store: &dyn Store) {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    let batches: Vec<Vec<String>> = (0..10)
        .map(|b| {
            (0..3)
                .map(|i| format!(r#"{{"action":"a","batch":{b},"i":{i}}}"#))
                .collect()
        })
        .collect();
    let appends = batches.iter().map(|b| store.append_audit(b));
    let numbered: Vec<Vec<i64>> = futures::future::join_all(appends)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for seqs in &numbered {
        assert_eq!(seqs.len(), 3);
        assert_eq!(
            (seqs[1] - seqs[0], seqs[2] - seqs[1]),
            (1, 1),
            "{numbered:?}"
        );
    }
    let mut all: Vec<i64> = numbered.iter().flatten().copied().collect();
    all.sort_unstable();
    assert_eq!(all, (1..=30).collect::<Vec<_>>());
    let stored = store.audit_entries(0, 100).await.unwrap();
    for (seqs, batch) in numbered.iter().zip(&batches) {
        for (seq, entry) in seqs.iter().zip(batch) {
            assert_eq!(&stored[(*seq - 1) as usize].entry, entry);
        }
    }

    let generation = store.catalog_generation().await.unwrap();
    store.upsert_region("370300", "淄博市").await.unwrap();
    let org = store
        .insert_org(
            &NewOrg {
                name: "淄博市卫健委".into(),
                name_en: String::new(),
                kind: OrgKind::Provider,
                region_code: "370300".into(),
                credit_code: "C1".into(),
                contact: String::new(),
            },
            t0,
        )
        .await
        .unwrap();
    let after_org = store.catalog_generation().await.unwrap();
    assert!(after_org > generation);
    let doc: &'static DatasetDraft = Box::leak(Box::new(draft("名录", OpenType::Unconditional)));
    let creates = (0..8).map(|_| async move {
        store
            .create_dataset(&NewDataset {
                code: None,
                category_code: "301002",
                provider_id: org.id,
                region_code: "370300",
                doc,
                actor_id: None,
                at: t0,
            })
            .await
    });
    let mut codes: Vec<String> = futures::future::join_all(creates)
        .await
        .into_iter()
        .map(|d| d.unwrap().code)
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        (1..=8)
            .map(|n| format!("301002/{n:06}"))
            .collect::<Vec<_>>()
    );
    assert!(store.catalog_generation().await.unwrap() > after_org);

    let entry = store
        .list_working(&WorkingQuery {
            provider_ids: vec![org.id],
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .items
        .remove(0);
    let saves = (0..6).map(|i| async move {
        store
            .save_dataset(&DatasetChange {
                id: entry.id,
                expected_version: 1,
                status: if i % 2 == 0 {
                    DatasetStatus::Submitted
                } else {
                    DatasetStatus::Draft
                },
                doc: None,
                note: None,
                review: false,
                publication: Publication::Keep,
                actor_id: None,
                at: t0,
            })
            .await
    });
    let results = futures::future::join_all(saves).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(StoreError::VersionConflict)))
    );
    assert_eq!(
        store.get_dataset(entry.id).await.unwrap().unwrap().version,
        2
    );
}

#[tokio::test]
async fn sqlite_snapshot_restores() {
    let (dir, store) = sqlite_store().await;
    store.upsert_region("370000", "山东省").await.unwrap();
    let copy = dir.path().join("copy.db");
    store.snapshot(&copy).await.unwrap();
    store.upsert_region("370300", "淄博市").await.unwrap();
    let restored = SqliteStore::open(&copy).await.unwrap();
    assert_eq!(restored.list_regions().await.unwrap().len(), 1);
}

#[tokio::test]
async fn postgres_snapshot_restores() {
    let (_url, store) = pg_store().await;
    store.upsert_region("370000", "山东省").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.dump");
    store.snapshot(&copy).await.unwrap();
    store.upsert_region("370300", "淄博市").await.unwrap();
    assert!(std::fs::read(&copy).unwrap().starts_with(b"PGDMP"));
    // The dump restores into an empty database as a store at the snapshot's state.
    let restore = pg_restore_binary().expect("pg_restore next to pg_dump");
    let target = gongshu_store::testing::pg_url().await;
    let out = std::process::Command::new(restore)
        .arg("--no-owner")
        .arg("--dbname")
        .arg(&target)
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored = PgStore::connect(&target).await.unwrap();
    assert_eq!(restored.list_regions().await.unwrap().len(), 1);
}

fn pg_restore_binary() -> Option<std::path::PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("pg_restore"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let mut found: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| {
                let e = e.ok()?;
                let major: u32 = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin/pg_restore");
                bin.is_file().then_some((major, bin))
            })
            .collect();
        found.sort();
        found.pop().map(|(_, bin)| bin)
    })
}

#[tokio::test]
async fn sqlite_handles_casework() {
    let (_dir, store) = sqlite_store().await;
    casework(&store).await;
}

#[tokio::test]
async fn postgres_handles_casework() {
    let (_url, store) = pg_store().await;
    casework(&store).await;
}

/// Feedback cases and ratings, notification delivery, ingest jobs, resource versions,
/// de-identification settings, region policies and share reviews.
async fn casework(store: &dyn Store) {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
    store.upsert_region("370300", "淄博市").await.unwrap();
    let org = store
        .insert_org(
            &NewOrg {
                name: "淄博市卫健委".into(),
                name_en: String::new(),
                kind: OrgKind::Provider,
                region_code: "370300".into(),
                credit_code: "C1".into(),
                contact: String::new(),
            },
            t0,
        )
        .await
        .unwrap();
    let user = store
        .insert_user(
            &NewUser {
                username: "carol".into(),
                display_name: "Carol".into(),
                kind: UserKind::Staff,
                password_hash: None,
            },
            t0,
        )
        .await
        .unwrap()
        .id;
    let doc: &'static DatasetDraft = Box::leak(Box::new(draft("名录", OpenType::Unconditional)));
    let entry = store
        .create_dataset(&NewDataset {
            code: None,
            category_code: "301002",
            provider_id: org.id,
            region_code: "370300",
            doc,
            actor_id: Some(user),
            at: t0,
        })
        .await
        .unwrap()
        .id;

    // Feedback.
    let case = |case_type: CaseType, public: bool, text: &'static str| NewFeedback {
        case_type,
        dataset_id: Some(entry),
        provider_id: Some(org.id),
        region_code: "370300",
        author_id: user,
        state: "open",
        public,
        received_on: Some(day(2)),
        due_on: Some(day(16)),
        due_provisional: true,
        doc: text,
        at: t0,
    };
    let objection = store
        .insert_feedback(&case(CaseType::Objection, false, r#"{"text":"地址错误"}"#))
        .await
        .unwrap();
    assert_eq!(
        (
            objection.due_on,
            objection.due_provisional,
            objection.version
        ),
        (Some(day(16)), true, 1)
    );
    let demand = store
        .insert_feedback(&case(CaseType::Demand, true, r#"{"text":"需要床位数"}"#))
        .await
        .unwrap();
    let feedback_ids = |p: Page<FeedbackRow>| p.items.iter().map(|f| f.id).collect::<Vec<_>>();
    let public_only = FeedbackQuery {
        public: true,
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        feedback_ids(store.list_feedback(&public_only).await.unwrap()),
        vec![demand.id]
    );
    let mine = FeedbackQuery {
        author: Some(user),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        feedback_ids(store.list_feedback(&mine).await.unwrap()),
        vec![demand.id, objection.id]
    );
    assert_eq!(
        feedback_ids(
            store
                .list_feedback(&FeedbackQuery {
                    q: Some("地址".into()),
                    ..mine.clone()
                })
                .await
                .unwrap()
        ),
        vec![objection.id]
    );
    assert_eq!(
        store
            .list_feedback(&FeedbackQuery {
                region_prefixes: vec!["37".into()],
                states: vec!["answered".into()],
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .total,
        0
    );
    assert_eq!(
        store
            .waiting_feedback()
            .await
            .unwrap()
            .iter()
            .map(|f| f.id)
            .collect::<Vec<_>>(),
        vec![objection.id, demand.id]
    );
    assert!(
        store
            .claim_deadline_notice(DeadlineOf::Feedback, objection.id, day(16), false)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_deadline_notice(DeadlineOf::Feedback, objection.id, day(16), false)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_deadline_notice(DeadlineOf::Feedback, objection.id, day(17), true)
            .await
            .unwrap()
    );

    let generation = store.catalog_generation().await.unwrap();
    assert!(!store.dataset_offline(entry).await.unwrap());
    let event = NewEvent {
        at: t0 + Duration::days(1),
        actor_id: Some(user),
        object_type: "feedback",
        object_id: "x",
        action: "answered",
        reason: "",
        detail: "{}".into(),
    };
    let mut answered = objection.clone();
    answered.state = "answered".into();
    answered.offline = true;
    answered.answered_on = Some(day(3));
    let saved = store.save_feedback(&answered, &event).await.unwrap();
    assert_eq!(
        (saved.version, saved.offline, saved.answered_on),
        (2, true, Some(day(3)))
    );
    assert!(matches!(
        store.save_feedback(&answered, &event).await,
        Err(StoreError::VersionConflict)
    ));
    assert!(store.dataset_offline(entry).await.unwrap());
    assert!(store.catalog_generation().await.unwrap() > generation);
    assert_eq!(store.objection_counts(entry).await.unwrap(), (1, 1));
    store
        .set_feedback_datasets(demand.id, &[entry, entry])
        .await
        .unwrap();
    assert_eq!(
        store.feedback_datasets(demand.id).await.unwrap(),
        vec![entry]
    );
    assert_eq!(
        store
            .public_feedback_for(CaseType::Demand, entry, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .public_feedback_for(CaseType::Objection, entry, 10)
            .await
            .unwrap()
            .is_empty()
    );
    store.set_feedback_datasets(demand.id, &[]).await.unwrap();
    assert!(store.feedback_datasets(demand.id).await.unwrap().is_empty());

    assert_eq!(
        store.rating_summary(entry, Some(user)).await.unwrap(),
        (0, 0, None)
    );
    store.put_rating(entry, user, 4, t0).await.unwrap();
    store.put_rating(entry, user, 5, t0).await.unwrap();
    assert!(store.put_rating(entry, user, 6, t0).await.is_err());
    assert_eq!(
        store.rating_summary(entry, Some(user)).await.unwrap(),
        (1, 5, Some(5))
    );
    assert_eq!(
        store.rating_summary(entry, None).await.unwrap(),
        (1, 5, None)
    );

    // Notifications go out once, by a claim that lapses if its node dies.
    store
        .put_channels(
            user,
            &ChannelsRow {
                email: Some("c@example.cn".into()),
                webhook_url: None,
                webhook_secret: None,
            },
            t0,
        )
        .await
        .unwrap();
    assert_eq!(
        store.channels(user).await.unwrap().email.as_deref(),
        Some("c@example.cn")
    );
    let note = |subject: &'static str| NewNotification {
        user_id: user,
        kind: "k",
        subject,
        body: "b",
        link: "",
        at: t0,
    };
    store
        .insert_notifications(&[note("one"), note("two")])
        .await
        .unwrap();
    let lease = t0 + Duration::minutes(5);
    let claimed = store.claim_deliveries(t0, lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert_eq!(claimed[0].channels.email.as_deref(), Some("c@example.cn"));
    assert!(!claimed[0].email_sent && claimed[0].attempts == 0);
    assert!(
        store
            .claim_deliveries(t0, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .finish_delivery(&DeliveryOutcome {
            id: claimed[0].note.id,
            email_sent: true,
            webhook_sent: false,
            delivery: "done",
            error: None,
            at: t0,
        })
        .await
        .unwrap();
    store
        .finish_delivery(&DeliveryOutcome {
            id: claimed[1].note.id,
            email_sent: false,
            webhook_sent: false,
            delivery: "pending",
            error: Some("timeout"),
            at: t0,
        })
        .await
        .unwrap();
    let later = t0 + Duration::minutes(1);
    let again = store
        .claim_deliveries(later, later + Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].note.id, again[0].attempts),
        (claimed[1].note.id, 1)
    );
    // Its node died: after the lease another takes it over.
    let lapsed = later + Duration::minutes(6);
    assert_eq!(
        store
            .claim_deliveries(lapsed, lapsed + Duration::minutes(5), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let inbox = store.list_notifications(user, true, 10).await.unwrap();
    assert_eq!(inbox.len(), 2);
    assert!(
        store
            .mark_notification_read(inbox[0].id, user, t0)
            .await
            .unwrap()
    );
    assert!(
        !store
            .mark_notification_read(inbox[0].id, user + 1, t0)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .list_notifications(user, true, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    // Resources, versions and ingest jobs.
    let res = store
        .create_resource(&NewResource {
            id: "r-1",
            dataset_id: entry,
            name: "表一",
            table_prefix: "t_x",
            created_by: Some(user),
            at: t0,
        })
        .await
        .unwrap();
    let second = store
        .create_resource(&NewResource {
            id: "r-2",
            dataset_id: entry,
            name: "表二",
            table_prefix: "t_x",
            created_by: Some(user),
            at: t0,
        })
        .await
        .unwrap();
    assert_eq!((res.ordinal, second.ordinal), (1, 2));
    assert_eq!(
        store
            .get_resource_by_table(&second.table_name)
            .await
            .unwrap()
            .unwrap()
            .id,
        "r-2"
    );
    assert_eq!(store.list_resources(entry).await.unwrap().len(), 2);
    for v in 1..=3 {
        store
            .add_resource_version(&res.id, v, &format!(r#"{{"v":{v}}}"#), Some(user), t0)
            .await
            .unwrap();
    }
    let served = store
        .publish_resource_version(&res.id, 2, t0 + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(served.current_version, Some(2));
    assert_eq!(served.updated_at, Some(t0 + Duration::hours(1)));
    assert!(matches!(
        store.publish_resource_version(&res.id, 1, t0).await,
        Err(StoreError::VersionConflict)
    ));
    store.discard_resource_version(&res.id, 3).await.unwrap();
    assert!(matches!(
        store.discard_resource_version(&res.id, 3).await,
        Err(StoreError::VersionConflict)
    ));
    let versions = store.list_resource_versions(&res.id).await.unwrap();
    assert_eq!(
        versions
            .iter()
            .map(|v| (v.version, v.state))
            .collect::<Vec<_>>(),
        vec![
            (3, VersionState::Discarded),
            (2, VersionState::Published),
            (1, VersionState::Staged)
        ]
    );
    let job = JobRow {
        id: "j-1".into(),
        kind: "ingest".into(),
        dataset_id: entry,
        resource_id: res.id.clone(),
        state: "queued".into(),
        rows_read: 0,
        rows_rejected: 0,
        detail: "{}".into(),
        error: None,
        version: None,
        created_by: Some(user),
        created_at: t0,
        updated_at: t0,
    };
    store.insert_job(&job).await.unwrap();
    let done = JobRow {
        state: "succeeded".into(),
        rows_read: 10,
        version: Some(1),
        updated_at: t0 + Duration::minutes(1),
        ..job.clone()
    };
    store.update_job(&done).await.unwrap();
    let got = store.get_job("j-1").await.unwrap().unwrap();
    assert_eq!(
        (got.state.as_str(), got.rows_read, got.version),
        ("succeeded", 10, Some(1))
    );
    store
        .insert_job(&JobRow {
            id: "j-2".into(),
            ..job.clone()
        })
        .await
        .unwrap();
    assert_eq!(store.fail_unfinished_jobs("stopped", t0).await.unwrap(), 1);
    assert_eq!(
        store
            .get_job("j-2")
            .await
            .unwrap()
            .unwrap()
            .error
            .as_deref(),
        Some("stopped")
    );

    // De-identification settings and open versions.
    assert_eq!(store.grade_caps().await.unwrap(), None);
    store.put_grade_caps("{}", user, "初始", t0).await.unwrap();
    store
        .put_grade_caps(r#"{"a":1}"#, user, "改", t0)
        .await
        .unwrap();
    assert_eq!(
        store.grade_caps().await.unwrap().as_deref(),
        Some(r#"{"a":1}"#)
    );
    assert_eq!(store.resource_rules(&res.id).await.unwrap(), None);
    store
        .put_resource_rules(&res.id, "[]", user, "", t0)
        .await
        .unwrap();
    store
        .put_resource_rules(&res.id, "[1]", user, "", t0)
        .await
        .unwrap();
    assert_eq!(
        store.resource_rules(&res.id).await.unwrap().as_deref(),
        Some("[1]")
    );
    assert_eq!(store.open_version(&res.id, 2, "h").await.unwrap(), None);
    store
        .put_open_version(&res.id, 2, "h", "open_a", t0)
        .await
        .unwrap();
    store
        .put_open_version(&res.id, 2, "h", "open_b", t0)
        .await
        .unwrap();
    assert_eq!(
        store
            .open_version(&res.id, 2, "h")
            .await
            .unwrap()
            .as_deref(),
        Some("open_a")
    );

    // Region policies.
    store
        .put_region_policy("370300", r#"{"days":15}"#, user, "", t0)
        .await
        .unwrap();
    let policy = store
        .put_region_policy("370300", r#"{"days":20}"#, user, "", t0)
        .await
        .unwrap();
    assert_eq!(policy.policy, r#"{"days":20}"#);
    assert_eq!(
        store
            .region_policies(&["370300".into(), "370000".into()])
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store.region_policies(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn sqlite_claims_harvests_once() {
    let (_dir, store) = sqlite_store().await;
    harvests(&store).await;
}

#[tokio::test]
async fn postgres_claims_harvests_once() {
    let (_url, store) = pg_store().await;
    harvests(&store).await;
}

/// A harvest run is claimed by exactly one of several callers (nodes) at once; a run
/// holds its source until it ends or goes stale; records are found again by remote id.
async fn harvests(store: &dyn Store) {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    store.upsert_region("370300", "淄博市").await.unwrap();
    let org = store
        .insert_org(
            &NewOrg {
                name: "淄博市大数据局".into(),
                name_en: String::new(),
                kind: OrgKind::Provider,
                region_code: "370300".into(),
                credit_code: "11370300MB0000009X".into(),
                contact: String::new(),
            },
            t0,
        )
        .await
        .unwrap();
    let source = store
        .insert_harvest_source(Some(org.id), r#"{"name":"旧门户"}"#, true, t0, None, t0)
        .await
        .unwrap();
    assert!(source.enabled && source.running_run.is_none());
    assert_eq!(store.due_harvest_sources(t0).await.unwrap(), [source.id]);
    assert!(
        store
            .due_harvest_sources(t0 - Duration::hours(1))
            .await
            .unwrap()
            .is_empty()
    );
    let claim = HarvestClaim {
        source_id: source.id,
        due_at: Some(t0),
        stale_before: t0 - Duration::hours(6),
        next_run_at: t0 + Duration::hours(24),
        at: t0,
    };
    let claims = (0..8).map(|_| store.claim_harvest_source(&claim));
    let won: Vec<i64> = futures::future::join_all(claims)
        .await
        .into_iter()
        .filter_map(Result::unwrap)
        .collect();
    assert_eq!(won.len(), 1, "exactly one claim holds: {won:?}");
    let run = won[0];
    // A manual run while one is under way is refused; so is a scheduled one not yet due.
    let manual = HarvestClaim {
        due_at: None,
        ..claim
    };
    assert_eq!(store.claim_harvest_source(&manual).await.unwrap(), None);
    let held = store.get_harvest_source(source.id).await.unwrap().unwrap();
    assert_eq!(held.running_run, Some(run));
    assert_eq!(held.next_run_at, t0 + Duration::hours(24));
    assert!(store.due_harvest_sources(t0).await.unwrap().is_empty());

    store
        .finish_harvest_run(run, false, r#"{"created":1}"#, t0 + Duration::minutes(1))
        .await
        .unwrap();
    assert!(matches!(
        store.finish_harvest_run(run, false, "{}", t0).await,
        Err(StoreError::VersionConflict)
    ));
    let r = store.get_harvest_run(run).await.unwrap().unwrap();
    assert_eq!(
        (r.state.as_str(), r.doc.as_str()),
        ("finished", r#"{"created":1}"#)
    );
    assert_eq!(
        store
            .get_harvest_source(source.id)
            .await
            .unwrap()
            .unwrap()
            .running_run,
        None
    );

    // A run whose node died is replaced once stale, and marked failed.
    let dead = store.claim_harvest_source(&manual).await.unwrap().unwrap();
    let later = HarvestClaim {
        stale_before: t0 + Duration::hours(1),
        at: t0 + Duration::hours(7),
        ..manual
    };
    let replacing = store.claim_harvest_source(&later).await.unwrap().unwrap();
    assert_ne!(dead, replacing);
    assert_eq!(
        store.get_harvest_run(dead).await.unwrap().unwrap().state,
        "failed"
    );
    let runs = store.list_harvest_runs(source.id, 10).await.unwrap();
    assert_eq!(
        runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        [replacing, dead, run]
    );

    // Settings change only from the version read.
    let updated = store
        .update_harvest_source(source.id, held.version, org.id, "{}", false, t0, t0)
        .await
        .unwrap();
    assert!(!updated.enabled);
    assert!(matches!(
        store
            .update_harvest_source(source.id, held.version, org.id, "{}", true, t0, t0)
            .await,
        Err(StoreError::VersionConflict)
    ));
    assert_eq!(store.list_harvest_sources().await.unwrap().len(), 1);

    let dataset = store
        .create_dataset(&NewDataset {
            code: None,
            category_code: "301002",
            provider_id: org.id,
            region_code: "370300",
            doc: &draft("采集的目录", OpenType::Unconditional),
            actor_id: None,
            at: t0,
        })
        .await
        .unwrap();
    let mut record = HarvestRecordRow {
        source_id: source.id,
        remote_id: "pkg-1".into(),
        dataset_id: dataset.id,
        content_hash: "a".into(),
        withdrawn: false,
        doc: "{}".into(),
        updated_at: t0,
    };
    store.put_harvest_record(&record).await.unwrap();
    record.content_hash = "b".into();
    record.withdrawn = true;
    store.put_harvest_record(&record).await.unwrap();
    let kept = store.harvest_records(source.id).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        (kept[0].content_hash.as_str(), kept[0].withdrawn),
        ("b", true)
    );
    assert_eq!(
        store
            .harvest_record_of(dataset.id)
            .await
            .unwrap()
            .unwrap()
            .remote_id,
        "pkg-1"
    );
    assert!(
        store
            .harvest_record_of(dataset.id + 1)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn sqlite_shares_locks_and_changes() {
    let (_dir, store) = sqlite_store().await;
    shared_state(&store).await;
}

#[tokio::test]
async fn postgres_shares_locks_and_changes() {
    let (_url, store) = pg_store().await;
    shared_state(&store).await;
}

/// What several nodes must see alike: sign-in locks counted together, and the catalog's
/// change feed.
async fn shared_state(store: &dyn Store) {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    let window = Duration::minutes(15);
    let keys = ["user:alice".to_owned(), "addr:10.0.0.1".to_owned()];
    // Concurrent failures (as from several nodes) all count: the tenth locks.
    let fails = (0..9).map(|_| store.signin_failed("user:alice", 10, t0 - window, t0 + window, t0));
    for r in futures::future::join_all(fails).await {
        r.unwrap();
    }
    assert_eq!(store.signin_locked_until(&keys, t0).await.unwrap(), None);
    store
        .signin_failed("user:alice", 10, t0 - window, t0 + window, t0)
        .await
        .unwrap();
    assert_eq!(
        store.signin_locked_until(&keys, t0).await.unwrap(),
        Some(t0 + window)
    );
    // The lock ends; a failure after the window starts a new count.
    let later = t0 + Duration::minutes(20);
    assert_eq!(store.signin_locked_until(&keys, later).await.unwrap(), None);
    store
        .signin_failed("user:alice", 10, later - window, later + window, later)
        .await
        .unwrap();
    assert_eq!(store.signin_locked_until(&keys, later).await.unwrap(), None);
    // A success clears the account.
    for _ in 0..10 {
        store
            .signin_failed("user:bob", 10, later - window, later + window, later)
            .await
            .unwrap();
    }
    let bob = ["user:bob".to_owned()];
    assert!(
        store
            .signin_locked_until(&bob, later)
            .await
            .unwrap()
            .is_some()
    );
    store.signin_cleared("user:bob").await.unwrap();
    assert_eq!(store.signin_locked_until(&bob, later).await.unwrap(), None);

    // Publishing and withdrawing an entry each appear in the change feed.
    store.upsert_region("370000", "山东省").await.unwrap();
    let org = store
        .insert_org(
            &NewOrg {
                name: "山东省大数据局".into(),
                name_en: String::new(),
                kind: OrgKind::Provider,
                region_code: "370000".into(),
                credit_code: "11370000MB0000007X".into(),
                contact: String::new(),
            },
            t0,
        )
        .await
        .unwrap();
    let before = store.catalog_changes(0, 1000).await.unwrap();
    let d = store
        .create_dataset(&NewDataset {
            code: None,
            category_code: "301002",
            provider_id: org.id,
            region_code: "370000",
            doc: &draft("变更记录", OpenType::Unconditional),
            actor_id: None,
            at: t0,
        })
        .await
        .unwrap();
    let published = store
        .save_dataset(&DatasetChange {
            id: d.id,
            expected_version: d.version,
            status: DatasetStatus::Published,
            doc: None,
            note: None,
            review: false,
            publication: Publication::Publish,
            actor_id: None,
            at: t0,
        })
        .await
        .unwrap();
    store
        .save_dataset(&DatasetChange {
            id: d.id,
            expected_version: published.version,
            status: DatasetStatus::Withdrawn,
            doc: None,
            note: Some("撤销"),
            review: true,
            publication: Publication::Unpublish,
            actor_id: None,
            at: t0,
        })
        .await
        .unwrap();
    let after = store.catalog_changes(0, 1000).await.unwrap();
    let last = before.last().map_or(0, |(seq, _)| *seq);
    let new: Vec<i64> = after
        .iter()
        .filter(|(seq, _)| *seq > last)
        .map(|(_, id)| *id)
        .collect();
    assert!(
        new.len() >= 2 && new.iter().all(|id| *id == d.id),
        "{new:?}"
    );
    assert_eq!(store.catalog_changes(last, 1).await.unwrap().len(), 1);
}

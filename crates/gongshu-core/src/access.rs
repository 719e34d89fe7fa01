//! The access gate: the single place that decides what a caller may have of a catalog
//! entry and in which form. Every path that lets data or metadata leave the platform asks
//! `decide` first and logs the decision (design.md, "Access gate").

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::authz::{EntryScope, Principal, can_edit_entry, can_view_working_copy};
use crate::catalog::GradeCapPolicy;
use crate::types::{Grade, OpenType, Role, ShareType};

/// What the caller wants to do with the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessMode {
    /// Read its catalog metadata (list, detail, search, count, feeds).
    Metadata,
    /// See the first rows on the dataset page.
    Preview,
    /// Download files.
    Download,
    /// Read rows through the data-service API.
    Api,
    /// Query it with SQL.
    Sql,
    /// Aggregates in the analysis sandbox, over the raw table, under disclosure control.
    Sandbox,
    /// Yes/no verification of values against the raw table (核验).
    Verification,
    /// A model its provider published for the public (R7.2): aggregates under disclosure
    /// control, like the sandbox, with no grant; for data open on any terms.
    PublicModel,
}

/// Why access was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    /// The entry is not published and the caller has no part in it: answer as if it did
    /// not exist, so that drafts never leak, not even their existence.
    NotVisible,
    /// 有条件开放 / 有条件共享: needs an approved application and grant.
    NeedsGrant,
    /// 不予开放, or the grade forbids opening.
    Closed,
    /// The caller's grant has not started yet.
    GrantNotYetValid,
    /// The caller's grant has run out.
    GrantExpired,
    /// The provider ended the caller's grant (a breach, or the agreement ended).
    GrantTerminated,
    /// Today's quota of the caller's grant is used up.
    QuotaExhausted,
    /// The caller's grant does not cover this way of access (e.g. API, not download).
    ModeNotGranted,
}

/// What a grant was given for: opening to a registered user under an agreement
/// (SD-OPEN §14), or sharing with a department (SD-EGOV §23).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantKind {
    Open,
    Share,
}

/// The ways of access a grant can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantMode {
    Download,
    /// Rows through the data-service API, SQL and the preview.
    Api,
    /// Aggregates in the analysis sandbox (issue 9).
    Sandbox,
    /// Yes/no verification of a value (issue 9).
    Verification,
}

impl GrantKind {
    pub fn label(self, lang: impl std::borrow::Borrow<crate::error::Lang>) -> &'static str {
        let (zh, en) = match self {
            Self::Open => ("有条件开放", "conditional opening"),
            Self::Share => ("有条件共享", "conditional sharing"),
        };
        if *lang.borrow() == crate::error::Lang::Zh {
            zh
        } else {
            en
        }
    }
}

impl GrantMode {
    pub const ALL: [Self; 4] = [Self::Download, Self::Api, Self::Sandbox, Self::Verification];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Download => "download",
            Self::Api => "api",
            Self::Sandbox => "sandbox",
            Self::Verification => "verification",
        }
    }

    pub fn label(self, lang: impl std::borrow::Borrow<crate::error::Lang>) -> &'static str {
        let (zh, en) = match self {
            Self::Download => ("下载", "download"),
            Self::Api => ("接口调用", "API"),
            Self::Sandbox => ("沙箱分析", "sandbox"),
            Self::Verification => ("核验", "verification"),
        };
        if *lang.borrow() == crate::error::Lang::Zh {
            zh
        } else {
            en
        }
    }
}

impl AccessMode {
    /// The grant mode that allows this access; `None` for metadata, which needs no grant.
    pub fn grant_mode(self) -> Option<GrantMode> {
        match self {
            Self::Metadata => None,
            Self::Download => Some(GrantMode::Download),
            Self::Preview | Self::Api | Self::Sql => Some(GrantMode::Api),
            Self::Sandbox => Some(GrantMode::Sandbox),
            Self::Verification => Some(GrantMode::Verification),
            // The provider chose to let anyone run it; the gate still refuses closed data.
            Self::PublicModel => None,
        }
    }
}

/// A grant the caller holds on this entry (directly, or through their department), with
/// today's use of it. Pending applications are not grants.
#[derive(Debug, Clone, Copy)]
pub struct GrantFacts<'a> {
    pub kind: GrantKind,
    pub modes: &'a [GrantMode],
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub terminated: bool,
    /// Calls allowed per day and calls made today.
    pub calls: Option<(u64, u64)>,
    /// Rows allowed per day and rows delivered today.
    pub rows: Option<(u64, u64)>,
}

/// A grant's standing at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantState {
    Active,
    NotYetValid,
    Expired,
    Terminated,
    OutOfQuota,
}

impl GrantFacts<'_> {
    pub fn state(&self, now: DateTime<Utc>) -> GrantState {
        let spent = |q: Option<(u64, u64)>| q.is_some_and(|(allowed, used)| used >= allowed);
        if self.terminated {
            GrantState::Terminated
        } else if now < self.valid_from {
            GrantState::NotYetValid
        } else if now >= self.valid_until {
            GrantState::Expired
        } else if spent(self.calls) || spent(self.rows) {
            GrantState::OutOfQuota
        } else {
            GrantState::Active
        }
    }
}

/// The caller's grants on the entry, and the instant of the request.
#[derive(Debug, Clone, Copy)]
pub struct Held<'a> {
    pub grants: &'a [GrantFacts<'a>],
    pub now: DateTime<Utc>,
}

impl Held<'_> {
    /// For callers who hold no grant (metadata paths, anonymous callers).
    pub fn nothing(now: DateTime<Utc>) -> Held<'static> {
        Held { grants: &[], now }
    }

    /// `allowed` if a grant of this kind lets the caller in by this mode now; else why not.
    fn through(&self, kind: GrantKind, mode: GrantMode, allowed: View) -> View {
        let mut best: Option<DenyReason> = None;
        for g in self.grants.iter().filter(|g| g.kind == kind) {
            let reason = match g.state(self.now) {
                GrantState::Active if g.modes.contains(&mode) => return allowed,
                GrantState::Active => DenyReason::ModeNotGranted,
                GrantState::OutOfQuota => DenyReason::QuotaExhausted,
                GrantState::NotYetValid => DenyReason::GrantNotYetValid,
                GrantState::Expired => DenyReason::GrantExpired,
                GrantState::Terminated => DenyReason::GrantTerminated,
            };
            // The reason closest to access is the most useful one to give.
            if best.is_none_or(|b| rank(reason) < rank(b)) {
                best = Some(reason);
            }
        }
        View::Denied(best.unwrap_or(DenyReason::NeedsGrant))
    }
}

fn rank(r: DenyReason) -> u8 {
    match r {
        DenyReason::ModeNotGranted => 0,
        DenyReason::QuotaExhausted => 1,
        DenyReason::GrantNotYetValid => 2,
        DenyReason::GrantExpired => 3,
        DenyReason::GrantTerminated => 4,
        _ => 5,
    }
}

/// The form in which the caller receives the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "view", content = "reason")]
pub enum View {
    /// The data as the provider holds it: the provider itself, and departments that
    /// share it for their duties.
    Raw,
    /// The open version: the raw table with the resource's de-identification rules
    /// applied, so every column holding personal information is transformed (R6.4).
    /// Identical to the raw table where no column holds any.
    Open,
    /// The open version, where the grade's cap or the entry requires de-identification:
    /// served only when every personal column has a rule that transforms it.
    Deidentified,
    /// Aggregates under disclosure control, computed over the raw table (the sandbox).
    AggregateOnly,
    /// Yes/no answers about values the caller brings, looked up in the raw table; no
    /// value of the table is returned (核验).
    VerifyOnly,
    Denied(DenyReason),
}

/// The facts about an entry the gate decides on.
#[derive(Debug, Clone, Copy)]
pub struct EntryFacts<'a> {
    pub scope: EntryScope<'a>,
    pub published: bool,
    pub open_type: OpenType,
    pub share_type: ShareType,
    pub grade: Grade,
    /// The entry is opened only de-identified, whatever its grade allows.
    pub deidentify: bool,
}

pub fn decide(
    caller: Option<&Principal>,
    entry: EntryFacts<'_>,
    mode: AccessMode,
    policy: &GradeCapPolicy,
    held: Held<'_>,
) -> View {
    let manages = caller.is_some_and(|p| can_view_working_copy(p, entry.scope));
    if mode == AccessMode::Metadata {
        return if entry.published || manages {
            View::Raw
        } else {
            View::Denied(DenyReason::NotVisible)
        };
    }
    if !entry.published && !manages {
        return View::Denied(DenyReason::NotVisible);
    }
    // The provider always reads its own data as it holds it.
    if caller.is_some_and(|p| can_edit_entry(p, entry.scope)) {
        return View::Raw;
    }
    if !entry.published {
        return View::Denied(DenyReason::NotVisible);
    }
    let cap = policy.cap(entry.grade);
    // The effective open type is the stricter of the declared one and the grade's cap.
    let effective = if entry.open_type.rank() >= cap.max_open.rank() {
        entry.open_type
    } else {
        cap.max_open
    };
    // The provider published the model for everyone: its fixed query runs aggregate-only
    // over data open to the public on any terms, and never over data closed to opening.
    if mode == AccessMode::PublicModel {
        return match effective {
            OpenType::None => View::Denied(DenyReason::Closed),
            OpenType::Unconditional | OpenType::Conditional => View::AggregateOnly,
        };
    }
    let Some(grant_mode) = mode.grant_mode() else {
        return View::Raw;
    };
    // The sandbox and verification compute over the raw table and answer with aggregates
    // or yes/no only: for opened data, for data open on conditions to the holders of a
    // grant with that mode, and for departments sharing it on conditions; never for data
    // closed to both (数据可用不可见).
    let limited = match mode {
        AccessMode::Sandbox => Some(View::AggregateOnly),
        AccessMode::Verification => Some(View::VerifyOnly),
        _ => None,
    };
    if let Some(limited) = limited {
        let opened = match effective {
            OpenType::Unconditional => limited,
            OpenType::Conditional => held.through(GrantKind::Open, grant_mode, limited),
            OpenType::None => View::Denied(DenyReason::Closed),
        };
        if !caller.is_some_and(|p| p.has_role(Role::DeptUser)) {
            return opened;
        }
        let shared = match entry.share_type {
            ShareType::Unconditional => limited,
            ShareType::Conditional => held.through(GrantKind::Share, grant_mode, limited),
            ShareType::None => View::Denied(DenyReason::Closed),
        };
        return match (shared, opened) {
            _ if shared == limited || opened == limited => limited,
            (View::Denied(r), _) if r != DenyReason::Closed => shared,
            _ => opened,
        };
    }
    // Whoever reads by opening (开放) reads the open version, never the raw table.
    let as_opened = if cap.deidentify || entry.deidentify {
        View::Deidentified
    } else {
        View::Open
    };
    let opened = match effective {
        OpenType::Unconditional => as_opened,
        OpenType::Conditional => held.through(GrantKind::Open, grant_mode, as_opened),
        OpenType::None => View::Denied(DenyReason::Closed),
    };
    // Government departments also reach data by sharing (共享), for their duties: raw,
    // because sharing is not publication and the grade cap governs opening.
    if !caller.is_some_and(|p| p.has_role(Role::DeptUser)) {
        return opened;
    }
    let shared = match entry.share_type {
        ShareType::Unconditional => View::Raw,
        ShareType::Conditional => held.through(GrantKind::Share, grant_mode, View::Raw),
        ShareType::None => View::Denied(DenyReason::Closed),
    };
    match (shared, opened) {
        (View::Raw, _) => View::Raw,
        (_, View::Raw | View::Open | View::Deidentified | View::AggregateOnly) => opened,
        // Both refuse: say why the sharing grant fails when there is one to speak of.
        (View::Denied(r), _) if r != DenyReason::Closed => shared,
        _ => opened,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::tests::person;
    use crate::types::Role;

    fn facts(published: bool, open_type: OpenType, grade: Grade) -> EntryFacts<'static> {
        EntryFacts {
            scope: EntryScope {
                provider_org_id: 7,
                provider_region: "370300",
            },
            published,
            open_type,
            share_type: ShareType::None,
            grade,
            deidentify: false,
        }
    }

    // Issue 9: the sandbox gives aggregates only, to those its grant names.
    #[test]
    fn the_sandbox_is_aggregate_only_and_needs_its_grant_mode() {
        let stranger = person(&[(Role::Registered, None, None)]);
        let owner = person(&[(Role::ProviderAdmin, Some(7), None)]);
        let policy = GradeCapPolicy::default();
        let now = Utc::now();
        let grant = |modes: &'static [GrantMode]| GrantFacts {
            kind: GrantKind::Open,
            modes,
            valid_from: now - chrono::Duration::days(1),
            valid_until: now + chrono::Duration::days(1),
            terminated: false,
            calls: None,
            rows: None,
        };
        let conditional = facts(true, OpenType::Conditional, Grade::General3);
        let decide_with = |g: &[GrantFacts<'_>]| {
            decide(
                Some(&stranger),
                conditional,
                AccessMode::Sandbox,
                &policy,
                Held { grants: g, now },
            )
        };
        assert_eq!(decide_with(&[]), View::Denied(DenyReason::NeedsGrant));
        assert_eq!(
            decide_with(&[grant(&[GrantMode::Api])]),
            View::Denied(DenyReason::ModeNotGranted)
        );
        assert_eq!(
            decide_with(&[grant(&[GrantMode::Sandbox])]),
            View::AggregateOnly
        );
        // A public model needs no grant, and still reads no rows.
        assert_eq!(
            decide(
                Some(&stranger),
                conditional,
                AccessMode::PublicModel,
                &policy,
                Held::nothing(now)
            ),
            View::AggregateOnly
        );
        assert_eq!(
            decide(
                None,
                facts(true, OpenType::None, Grade::General3),
                AccessMode::PublicModel,
                &policy,
                Held::nothing(now)
            ),
            View::Denied(DenyReason::Closed)
        );
        // Verification needs its own mode, and answers yes/no only.
        let verify_with = |g: &[GrantFacts<'_>]| {
            decide(
                Some(&stranger),
                conditional,
                AccessMode::Verification,
                &policy,
                Held { grants: g, now },
            )
        };
        assert_eq!(
            verify_with(&[grant(&[GrantMode::Sandbox])]),
            View::Denied(DenyReason::ModeNotGranted)
        );
        assert_eq!(
            verify_with(&[grant(&[GrantMode::Verification])]),
            View::VerifyOnly
        );
        // A sandbox grant reads no rows.
        assert_eq!(
            decide(
                Some(&stranger),
                conditional,
                AccessMode::Api,
                &policy,
                Held {
                    grants: &[grant(&[GrantMode::Sandbox])],
                    now
                }
            ),
            View::Denied(DenyReason::ModeNotGranted)
        );
        assert_eq!(
            decide(
                Some(&stranger),
                facts(true, OpenType::None, Grade::Important),
                AccessMode::Sandbox,
                &policy,
                Held::nothing(now)
            ),
            View::Denied(DenyReason::Closed)
        );
        // The provider tries its own data as its grantees would.
        assert_eq!(
            decide(
                Some(&owner),
                conditional,
                AccessMode::Sandbox,
                &policy,
                Held::nothing(now)
            ),
            View::Raw
        );
    }

    // Design "Access gate": principal × publication × open type × grade × mode.
    #[test]
    fn decision_table() {
        use AccessMode::*;
        use DenyReason::*;
        use OpenType::{Conditional, Unconditional};
        let owner = person(&[(Role::ProviderAdmin, Some(7), None)]);
        let stranger = person(&[(Role::Registered, None, None)]);
        let authority = person(&[(Role::AuthorityAdmin, Some(2), Some("370300"))]);
        let policy = GradeCapPolicy::default();
        let g1 = Grade::General1;
        let table: &[(Option<&Principal>, EntryFacts<'_>, AccessMode, View)] = &[
            (None, facts(true, Unconditional, g1), Metadata, View::Raw),
            (
                None,
                facts(false, Unconditional, g1),
                Metadata,
                View::Denied(NotVisible),
            ),
            (
                Some(&stranger),
                facts(false, Unconditional, g1),
                Metadata,
                View::Denied(NotVisible),
            ),
            (
                Some(&owner),
                facts(false, Unconditional, g1),
                Metadata,
                View::Raw,
            ),
            (
                Some(&authority),
                facts(false, Unconditional, g1),
                Metadata,
                View::Raw,
            ),
            (None, facts(true, Unconditional, g1), Download, View::Open),
            (
                None,
                facts(false, Unconditional, g1),
                Download,
                View::Denied(NotVisible),
            ),
            (
                None,
                facts(true, Conditional, Grade::General3),
                Api,
                View::Denied(NeedsGrant),
            ),
            (
                None,
                facts(true, OpenType::None, Grade::Important),
                Sql,
                View::Denied(Closed),
            ),
            (
                Some(&owner),
                facts(true, OpenType::None, Grade::Important),
                Download,
                View::Raw,
            ),
            (
                Some(&owner),
                facts(false, OpenType::None, Grade::Core),
                Preview,
                View::Raw,
            ),
            (
                Some(&authority),
                facts(false, Unconditional, g1),
                Download,
                View::Denied(NotVisible),
            ),
            // A stale open type above the grade's cap is still capped at access time.
            (
                None,
                facts(true, Unconditional, Grade::General4),
                Download,
                View::Denied(Closed),
            ),
            (
                None,
                facts(true, Unconditional, Grade::General2),
                Download,
                View::Denied(NeedsGrant),
            ),
        ];
        for (i, (caller, entry, mode, want)) in table.iter().enumerate() {
            let held = Held::nothing(Utc::now());
            assert_eq!(
                decide(*caller, *entry, *mode, &policy, held),
                *want,
                "row {i}"
            );
        }
    }

    fn at(day: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-03-{day:02}T12:00:00+08:00"))
            .unwrap()
            .with_timezone(&Utc)
    }

    /// A grant valid 2026-03-10 to 2026-03-20 with a quota of 100 calls a day.
    fn grant(kind: GrantKind, modes: &'static [GrantMode]) -> GrantFacts<'static> {
        GrantFacts {
            kind,
            modes,
            valid_from: at(10),
            valid_until: at(20),
            terminated: false,
            calls: Some((100, 0)),
            rows: None,
        }
    }

    // Issue 4: principal × open/share type × grade × grant state × mode.
    #[test]
    fn grants_decision_table() {
        use AccessMode::{Api, Download, Metadata, Sql};
        use DenyReason::*;
        use GrantKind::{Open, Share};
        use GrantMode as M;
        let policy = GradeCapPolicy::default();
        let grantee = person(&[(Role::Registered, None, None)]);
        let dept = person(&[(Role::DeptUser, Some(9), None)]);
        let owner = person(&[(Role::ProviderAdmin, Some(7), None)]);
        let entry = |open_type, share_type, grade| EntryFacts {
            scope: EntryScope {
                provider_org_id: 7,
                provider_region: "370300",
            },
            published: true,
            open_type,
            share_type,
            grade,
            deidentify: false,
        };
        let cond_open = entry(OpenType::Conditional, ShareType::None, Grade::General1);
        let cond_share = entry(OpenType::None, ShareType::Conditional, Grade::General3);
        let free_share = entry(OpenType::None, ShareType::Unconditional, Grade::General3);
        let not_shared = entry(OpenType::None, ShareType::None, Grade::General3);
        // General2 caps opening at conditional with de-identification.
        let deid_open = entry(OpenType::Conditional, ShareType::None, Grade::General2);

        let api = grant(Open, &[M::Api]);
        let download = grant(Open, &[M::Download]);
        let share = grant(Share, &[M::Api, M::Download]);
        let terminated = GrantFacts {
            terminated: true,
            ..api
        };
        let spent = GrantFacts {
            calls: Some((100, 100)),
            ..api
        };
        let rows_spent = GrantFacts {
            calls: None,
            rows: Some((5000, 5000)),
            ..api
        };

        type Row<'a> = (
            Option<&'a Principal>,
            EntryFacts<'a>,
            &'a [GrantFacts<'a>],
            u32,
            AccessMode,
            View,
        );
        let expired = [api];
        let table: &[Row<'_>] = &[
            // Conditional opening: nothing without a grant, for anyone but the owner.
            (None, cond_open, &[], 15, Api, View::Denied(NeedsGrant)),
            (
                Some(&grantee),
                cond_open,
                &[],
                15,
                Api,
                View::Denied(NeedsGrant),
            ),
            (Some(&owner), cond_open, &[], 15, Download, View::Raw),
            (Some(&grantee), cond_open, &[], 15, Metadata, View::Raw),
            // An active grant, for the modes it names.
            (Some(&grantee), cond_open, &[api], 15, Api, View::Open),
            (Some(&grantee), cond_open, &[api], 15, Sql, View::Open),
            (
                Some(&grantee),
                cond_open,
                &[api],
                15,
                Download,
                View::Denied(ModeNotGranted),
            ),
            (
                Some(&grantee),
                cond_open,
                &[api, download],
                15,
                Download,
                View::Open,
            ),
            // Before, after, terminated, out of quota.
            (
                Some(&grantee),
                cond_open,
                &[api],
                9,
                Api,
                View::Denied(GrantNotYetValid),
            ),
            (
                Some(&grantee),
                cond_open,
                &expired,
                20,
                Api,
                View::Denied(GrantExpired),
            ),
            (
                Some(&grantee),
                cond_open,
                &[terminated],
                15,
                Api,
                View::Denied(GrantTerminated),
            ),
            (
                Some(&grantee),
                cond_open,
                &[spent],
                15,
                Api,
                View::Denied(QuotaExhausted),
            ),
            (
                Some(&grantee),
                cond_open,
                &[rows_spent],
                15,
                Api,
                View::Denied(QuotaExhausted),
            ),
            // A terminated grant beside a live one: the live one counts.
            (
                Some(&grantee),
                cond_open,
                &[terminated, download],
                15,
                Download,
                View::Open,
            ),
            // The grade's cap still applies to a grantee: de-identified, never raw.
            (
                Some(&grantee),
                deid_open,
                &[api],
                15,
                Api,
                View::Deidentified,
            ),
            // A sharing grant does not open data to the public side, nor to a registered user.
            (
                Some(&grantee),
                cond_open,
                &[share],
                15,
                Api,
                View::Denied(NeedsGrant),
            ),
            // Sharing: department users only, raw, by grant when conditional.
            (Some(&dept), free_share, &[], 15, Download, View::Raw),
            (
                Some(&grantee),
                free_share,
                &[],
                15,
                Download,
                View::Denied(Closed),
            ),
            (None, free_share, &[], 15, Api, View::Denied(Closed)),
            (
                Some(&dept),
                cond_share,
                &[],
                15,
                Api,
                View::Denied(NeedsGrant),
            ),
            (Some(&dept), cond_share, &[share], 15, Api, View::Raw),
            (
                Some(&dept),
                cond_share,
                &[share],
                21,
                Api,
                View::Denied(GrantExpired),
            ),
            (
                Some(&dept),
                cond_share,
                &[api],
                15,
                Api,
                View::Denied(NeedsGrant),
            ),
            (
                Some(&dept),
                not_shared,
                &[share],
                15,
                Api,
                View::Denied(Closed),
            ),
            // A department user may also use what is opened, like anyone.
            (Some(&dept), cond_open, &[api], 15, Api, View::Open),
            // A department grantee on data whose sharing is conditional and opening is
            // capped: sharing gives it raw.
            (
                Some(&dept),
                entry(
                    OpenType::Conditional,
                    ShareType::Conditional,
                    Grade::General2,
                ),
                &[share],
                15,
                Download,
                View::Raw,
            ),
        ];
        for (i, (caller, entry, grants, day, mode, want)) in table.iter().enumerate() {
            let held = Held {
                grants,
                now: at(*day),
            };
            assert_eq!(
                decide(*caller, *entry, *mode, &policy, held),
                *want,
                "row {i}"
            );
        }
    }
}

//! Regions, organisations, people and their roles (requirements §1).

use gongshu_core::authz::{self, Principal, RoleGrant, check_grant_shape};
use gongshu_core::region::{BUILTIN_SUBREGIONS, PROVINCES, RegionCode};
use gongshu_core::types::{OrgKind, Role, UserKind};
use gongshu_core::validate::{CodeProblem, char_len, check_uscc};
use gongshu_core::{Error, ErrorCode, FieldError};
use gongshu_store::{NewOrg, NewUser, OrgFilter, RegionRow, UserRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{check_password_policy, hash_password, random_secret};
use crate::views::OrgView;
use crate::{App, Result, store_error};

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrgInput {
    pub name: String,
    #[serde(default)]
    pub name_en: String,
    pub kind: OrgKind,
    pub region_code: String,
    /// 统一社会信用代码 (GB 32100), checked by its check character.
    pub credit_code: String,
    #[serde(default)]
    pub contact: String,
}

#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserInput {
    pub username: String,
    #[serde(default)]
    pub display_name: String,
    pub password: String,
    #[serde(default = "staff")]
    pub kind: UserKind,
}

fn staff() -> UserKind {
    UserKind::Staff
}

impl std::fmt::Debug for NewUserInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUserInput")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub kind: UserKind,
    pub roles: Vec<RoleGrant>,
}

pub fn credit_code_error(field: &str, p: CodeProblem) -> FieldError {
    let (zh, en) = match p {
        CodeProblem::Length => ("统一社会信用代码应为18位", "must have 18 characters"),
        CodeProblem::Character => (
            "统一社会信用代码含有不允许的字符（不使用I、O、Z、S、V）",
            "contains a character not used in credit codes (no I, O, Z, S, V)",
        ),
        CodeProblem::CheckDigit => (
            "统一社会信用代码校验位错误",
            "check character does not match (GB 32100)",
        ),
    };
    FieldError::new(field, "credit_code", zh, en)
}

fn valid_username(u: &str) -> bool {
    (2..=64).contains(&u.len())
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl App {
    /// Loads the built-in GB/T 2260 codes; existing names are kept up to date.
    pub async fn seed_regions(&self) -> Result<()> {
        for (code, name) in PROVINCES.iter().chain(BUILTIN_SUBREGIONS) {
            self.store
                .upsert_region(code, name)
                .await
                .map_err(store_error)?;
        }
        Ok(())
    }

    pub async fn regions(&self) -> Result<Vec<RegionRow>> {
        self.store.list_regions().await.map_err(store_error)
    }

    /// Adds a county or other region below an existing one (system administrator).
    pub async fn add_region(&self, caller: &Principal, code: &str, name: &str) -> Result<()> {
        if !caller.has_role(Role::SystemAdmin) {
            return Err(Error::forbidden());
        }
        let mut errs = Vec::new();
        let parsed = RegionCode::parse(code);
        match parsed.and_then(|c| c.parent()) {
            Some(parent) => {
                if self
                    .store
                    .get_region(parent.as_str())
                    .await
                    .map_err(store_error)?
                    .is_none()
                {
                    errs.push(FieldError::new(
                        "code",
                        "parent",
                        "上级行政区划不存在",
                        "parent region does not exist",
                    ));
                }
            }
            None if parsed.is_some() => {}
            None => errs.push(FieldError::new(
                "code",
                "format",
                "应为GB/T 2260六位行政区划代码",
                "must be a six-digit GB/T 2260 code",
            )),
        }
        if name.trim().is_empty() || char_len(name) > 50 {
            errs.push(FieldError::new(
                "name",
                "required",
                "请填写名称（50字以内）",
                "name required, at most 50 characters",
            ));
        }
        if !errs.is_empty() {
            return Err(Error::validation(errs));
        }
        self.store
            .upsert_region(code, name.trim())
            .await
            .map_err(store_error)
    }

    async fn check_org(&self, input: &NewOrgInput) -> Result<()> {
        let mut errs = Vec::new();
        if input.name.trim().is_empty() || char_len(&input.name) > 100 {
            errs.push(FieldError::new(
                "name",
                "required",
                "请填写单位名称（100字以内）",
                "name required, at most 100 characters",
            ));
        }
        if char_len(&input.name_en) > 200 || char_len(&input.contact) > 200 {
            errs.push(FieldError::new(
                "contact",
                "too_long",
                "不得超过200个字符",
                "at most 200 characters",
            ));
        }
        if let Err(p) = check_uscc(&input.credit_code) {
            errs.push(credit_code_error("credit_code", p));
        }
        if self
            .store
            .get_region(&input.region_code)
            .await
            .map_err(store_error)?
            .is_none()
        {
            errs.push(FieldError::new(
                "region_code",
                "unknown",
                "行政区划代码不存在",
                "unknown region code",
            ));
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(Error::validation(errs))
        }
    }

    pub async fn create_org(&self, caller: &Principal, input: NewOrgInput) -> Result<OrgView> {
        if !authz::can_manage_orgs_in(caller, &input.region_code) {
            return Err(Error::forbidden());
        }
        self.create_org_unchecked(input).await
    }

    /// For the CLI and the demo, which act with the operator's authority.
    pub async fn create_org_unchecked(&self, input: NewOrgInput) -> Result<OrgView> {
        self.check_org(&input).await?;
        let row = self
            .store
            .insert_org(
                &NewOrg {
                    name: input.name.trim().to_owned(),
                    name_en: input.name_en.trim().to_owned(),
                    kind: input.kind,
                    region_code: input.region_code,
                    credit_code: input.credit_code,
                    contact: input.contact.trim().to_owned(),
                },
                self.now(),
            )
            .await
            .map_err(store_error)?;
        Ok(row.into())
    }

    pub async fn orgs(&self, region: Option<&str>, kind: Option<OrgKind>) -> Result<Vec<OrgView>> {
        let region_prefix = region.map(crate::region_prefix).transpose()?;
        let rows = self
            .store
            .list_orgs(&OrgFilter {
                region_prefix,
                kind,
            })
            .await
            .map_err(store_error)?;
        Ok(rows.into_iter().map(OrgView::from).collect())
    }

    /// How many organisations of a kind the platform holds (the home page's figure).
    pub async fn org_count(&self, kind: OrgKind) -> Result<i64> {
        self.store.count_orgs(kind).await.map_err(store_error)
    }

    pub async fn org(&self, id: i64) -> Result<OrgView> {
        self.store
            .get_org(id)
            .await
            .map_err(store_error)?
            .map(OrgView::from)
            .ok_or_else(|| Error::not_found("单位", "Organisation"))
    }

    pub async fn create_user(&self, caller: &Principal, input: NewUserInput) -> Result<UserView> {
        if !caller.has_role(Role::SystemAdmin) {
            return Err(Error::forbidden());
        }
        let user = self.create_user_unchecked(input).await?;
        self.user_view(user).await
    }

    /// A citizen or a company signs up on the portal: a registered user, who may apply
    /// for conditionally open data. Only those two kinds sign themselves up; staff are
    /// created by the administrator.
    pub async fn register(&self, input: NewUserInput) -> Result<UserRow> {
        if !matches!(input.kind, UserKind::NaturalPerson | UserKind::LegalPerson) {
            return Err(Error::validation(vec![FieldError::new(
                "kind",
                "choice",
                "请选择自然人或法人",
                "Choose natural or legal person",
            )]));
        }
        let user = self.create_user_unchecked(input).await?;
        self.grant_role(None, user.id, Role::Registered, None, None)
            .await?;
        Ok(user)
    }

    pub async fn create_user_unchecked(&self, input: NewUserInput) -> Result<UserRow> {
        let mut errs = Vec::new();
        if !valid_username(&input.username) {
            errs.push(FieldError::new(
                "username",
                "format",
                "用户名为2至64位字母、数字或 - _ .",
                "2 to 64 letters, digits, '-', '_' or '.'",
            ));
        }
        if char_len(&input.display_name) > 100 {
            errs.push(FieldError::new(
                "display_name",
                "too_long",
                "不得超过100个字符",
                "at most 100 characters",
            ));
        }
        if let Err(e) = check_password_policy(&input.password) {
            errs.push(FieldError::new(
                "password",
                "policy",
                e.message_zh,
                e.message_en,
            ));
        }
        if !errs.is_empty() {
            return Err(Error::validation(errs));
        }
        let hash = hash_password(&input.password).await?;
        let display_name = if input.display_name.trim().is_empty() {
            input.username.clone()
        } else {
            input.display_name.trim().to_owned()
        };
        self.store
            .insert_user(
                &NewUser {
                    username: input.username,
                    display_name,
                    kind: input.kind,
                    password_hash: Some(hash),
                },
                self.now(),
            )
            .await
            .map_err(store_error)
    }

    pub async fn user_view(&self, user: UserRow) -> Result<UserView> {
        let roles = self.store.grants(user.id).await.map_err(store_error)?;
        Ok(UserView {
            id: user.id,
            username: user.username,
            display_name: user.display_name,
            kind: user.kind,
            roles,
        })
    }

    pub async fn users(&self, caller: &Principal) -> Result<Vec<UserView>> {
        if !caller.has_role(Role::SystemAdmin) {
            return Err(Error::forbidden());
        }
        let mut out = Vec::new();
        for u in self.store.list_users().await.map_err(store_error)? {
            out.push(self.user_view(u).await?);
        }
        Ok(out)
    }

    /// The names shown for the people who acted in a history; ids no longer known are
    /// left out.
    pub async fn display_names(
        &self,
        ids: impl IntoIterator<Item = i64>,
    ) -> Result<std::collections::HashMap<i64, String>> {
        let mut names = std::collections::HashMap::new();
        for id in ids {
            if names.contains_key(&id) {
                continue;
            }
            if let Some(u) = self.store.get_user(id).await.map_err(store_error)? {
                let name = if u.display_name.is_empty() {
                    u.username
                } else {
                    u.display_name
                };
                names.insert(id, name);
            }
        }
        Ok(names)
    }

    pub async fn user_by_name(&self, username: &str) -> Result<UserRow> {
        self.store
            .get_user_by_name(username)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found("用户", "User"))
    }

    /// Works out the scope of a grant from its organisation, checks it fits the role, and
    /// checks the caller may grant there.
    pub async fn grant_role(
        &self,
        caller: Option<&Principal>,
        user_id: i64,
        role: Role,
        org_id: Option<i64>,
        region_code: Option<String>,
    ) -> Result<()> {
        if let Some(caller) = caller {
            // Only those who grant at all learn which accounts and organisations exist, and
            // nobody widens their own powers.
            let may_grant =
                caller.has_role(Role::SystemAdmin) || !caller.authority_regions().is_empty();
            if !may_grant || caller.user_id == user_id {
                return Err(Error::forbidden());
            }
        }
        self.store
            .get_user(user_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found("用户", "User"))?;
        let org = match org_id {
            Some(id) => Some(
                self.store
                    .get_org(id)
                    .await
                    .map_err(store_error)?
                    .ok_or_else(|| Error::not_found("单位", "Organisation"))?,
            ),
            None => None,
        };
        // An authority acts for its own region; other organisation roles carry no region.
        let region_code = match (&org, role) {
            (Some(o), Role::AuthorityAdmin) => Some(o.region_code.clone()),
            (Some(_), _) => None,
            (None, _) => region_code,
        };
        if let Some(r) = &region_code
            && self
                .store
                .get_region(r)
                .await
                .map_err(store_error)?
                .is_none()
        {
            return Err(Error::new(
                ErrorCode::Validation,
                "行政区划代码不存在",
                "Unknown region code",
            ));
        }
        check_grant_shape(role, org.as_ref().map(|o| o.kind), region_code.as_deref())?;
        if let Some(caller) = caller {
            let scope_region = org
                .as_ref()
                .map(|o| o.region_code.clone())
                .or_else(|| region_code.clone())
                .unwrap_or_default();
            if !authz::can_grant_in(caller, &scope_region, role) {
                return Err(Error::forbidden());
            }
        }
        self.store
            .add_grant(
                user_id,
                &RoleGrant {
                    role,
                    org_id,
                    region_code,
                },
            )
            .await
            .map_err(store_error)
    }

    /// Sets a new password and ends every session and token of the user.
    pub async fn set_password(&self, user_id: i64, password: &str) -> Result<()> {
        check_password_policy(password)?;
        let hash = hash_password(password).await?;
        self.store
            .set_password(user_id, &hash)
            .await
            .map_err(store_error)?;
        self.store
            .delete_user_credentials(user_id)
            .await
            .map_err(store_error)
    }

    /// Makes sure the system administrator `admin` exists. Returns the password when one
    /// had to be generated, so the operator can be shown it once.
    pub async fn ensure_admin(&self, password: Option<&str>) -> Result<Option<String>> {
        if self
            .store
            .get_user_by_name("admin")
            .await
            .map_err(store_error)?
            .is_some()
        {
            return Ok(None);
        }
        let (password, generated) = match password {
            Some(p) => (p.to_owned(), false),
            None => (random_secret(), true),
        };
        let user = self
            .create_user_unchecked(NewUserInput {
                username: "admin".into(),
                display_name: "系统管理员".into(),
                password: password.clone(),
                kind: UserKind::Staff,
            })
            .await?;
        self.grant_role(None, user.id, Role::SystemAdmin, None, None)
            .await?;
        Ok(generated.then_some(password))
    }
}

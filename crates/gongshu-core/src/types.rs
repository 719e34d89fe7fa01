//! The enumerations of the national catalog metadata (政务信息资源目录编制指南 2017) and of
//! the provincial regulations. On the wire every value is English snake_case; the UI
//! shows the Chinese term.

use serde::{Deserialize, Serialize};

/// Declares a closed vocabulary: its wire names, its Chinese and English labels, and the
/// list of all values in their canonical order.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $wire:literal, $zh:literal, $en:literal;)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant,)+
        }

        // Written by hand: the derive does not see a `rename` passed through a macro, and
        // documented the variants' Rust names instead of the wire names clients send.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($wire,)+]))
                    .description(Some(concat!($($en, " (", $wire, "); ",)+)))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $wire,)+ }
            }

            pub fn label_zh(self) -> &'static str {
                match self { $(Self::$variant => $zh,)+ }
            }

            pub fn label_en(self) -> &'static str {
                match self { $(Self::$variant => $en,)+ }
            }

            pub fn label(self, lang: impl std::borrow::Borrow<crate::error::Lang>) -> &'static str {
                match lang.borrow() {
                    crate::error::Lang::Zh => self.label_zh(),
                    crate::error::Lang::En => self.label_en(),
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($wire => Some(Self::$variant),)+ _ => None }
            }

            /// The accepted wire names, for error messages.
            pub fn expected() -> String {
                [$($wire,)+].join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// 开放类型 (SD-OPEN §8). Ordered from most to least open.
    OpenType {
        Unconditional = "unconditional", "无条件开放", "Open without conditions";
        Conditional = "conditional", "有条件开放", "Open on conditions";
        None = "none", "不予开放", "Not open";
    }
}

vocabulary! {
    /// 共享类型 (SD-EGOV §22). Ordered from most to least shared.
    ShareType {
        Unconditional = "unconditional", "无条件共享", "Shared without conditions";
        Conditional = "conditional", "有条件共享", "Shared on conditions";
        None = "none", "不予共享", "Not shared";
    }
}

vocabulary! {
    /// 共享方式.
    ShareMethod {
        PlatformDatabase = "platform_database", "共享平台方式-数据库", "Platform: database";
        PlatformInterface = "platform_interface", "共享平台方式-接口", "Platform: interface";
        PlatformFile = "platform_file", "共享平台方式-文件", "Platform: file";
        Email = "email", "邮件方式", "E-mail";
        Media = "media", "介质方式", "Storage media";
    }
}

vocabulary! {
    /// 更新周期.
    UpdateCycle {
        Realtime = "realtime", "实时", "Real time";
        Daily = "daily", "每日", "Daily";
        Weekly = "weekly", "每周", "Weekly";
        Monthly = "monthly", "每月", "Monthly";
        Quarterly = "quarterly", "每季度", "Quarterly";
        Semiannual = "semiannual", "每半年", "Every six months";
        Annual = "annual", "每年", "Annually";
        Irregular = "irregular", "不定期", "Irregularly";
    }
}

impl UpdateCycle {
    /// How many days may pass between updates before the data is overdue (SD-OPEN §20(一)).
    /// `None` for irregular updates, which have no deadline.
    pub fn max_age_days(self) -> Option<u32> {
        match self {
            Self::Realtime | Self::Daily => Some(1),
            Self::Weekly => Some(7),
            Self::Monthly => Some(31),
            Self::Quarterly => Some(92),
            Self::Semiannual => Some(183),
            Self::Annual => Some(366),
            Self::Irregular => None,
        }
    }
}

vocabulary! {
    /// Security grade (分类分级, GB/T 43697-2024). Ordered from least to most sensitive.
    Grade {
        General1 = "general1", "一般数据（1级）", "General, level 1";
        General2 = "general2", "一般数据（2级）", "General, level 2";
        General3 = "general3", "一般数据（3级）", "General, level 3";
        General4 = "general4", "一般数据（4级）", "General, level 4";
        Important = "important", "重要数据", "Important data";
        Core = "core", "核心数据", "Core data";
    }
}

vocabulary! {
    /// 信息项数据类型 (政务信息资源目录编制指南).
    ItemType {
        Character = "character", "字符型C", "Character (C)";
        Numeric = "numeric", "数值型N", "Numeric (N)";
        Currency = "currency", "货币型Y", "Currency (Y)";
        Date = "date", "日期型D", "Date (D)";
        Datetime = "datetime", "日期时间型T", "Date-time (T)";
        Logical = "logical", "逻辑型L", "Logical (L)";
        Memo = "memo", "备注型M", "Memo (M)";
        General = "general", "通用型G", "General (G)";
        Double = "double", "双精度型B", "Double (B)";
        Integer = "integer", "整型I", "Integer (I)";
        Float = "float", "浮点型F", "Float (F)";
    }
}

vocabulary! {
    /// 信息资源格式.
    ResourceFormat {
        ElectronicFile = "electronic_file", "电子文件", "Electronic file";
        Spreadsheet = "spreadsheet", "电子表格", "Spreadsheet";
        Database = "database", "数据库", "Database";
        Image = "image", "图形图像", "Graphics and images";
        StreamingMedia = "streaming_media", "流媒体", "Streaming media";
        SelfDescribing = "self_describing", "自描述格式", "Self-describing format";
        ServiceInterface = "service_interface", "服务接口", "Service interface";
    }
}

vocabulary! {
    /// Priority domains of SD-OPEN §9 (重点和优先开放领域).
    Domain {
        MarketRegulation = "market_regulation", "市场监管", "Market regulation";
        Health = "health", "卫生健康", "Health";
        NaturalResources = "natural_resources", "自然资源", "Natural resources";
        Ecology = "ecology", "生态环境", "Ecology and environment";
        Employment = "employment", "就业", "Employment";
        Education = "education", "教育", "Education";
        Transport = "transport", "交通", "Transport";
        Meteorology = "meteorology", "气象", "Meteorology";
        AdminLicensing = "admin_licensing", "行政许可", "Administrative licensing";
        AdminPenalty = "admin_penalty", "行政处罚", "Administrative penalties";
        EnterpriseCredit = "enterprise_credit", "企业公共信用", "Enterprise public credit";
    }
}

vocabulary! {
    /// Where a catalog entry is in its life (SD-BIGDATA §16, SX-BIGDATA §22).
    DatasetStatus {
        Draft = "draft", "草稿", "Draft";
        Submitted = "submitted", "待审核", "Submitted for review";
        Published = "published", "已发布", "Published";
        Withdrawn = "withdrawn", "已撤销", "Withdrawn";
    }
}

vocabulary! {
    /// What an organisation is on the platform.
    OrgKind {
        Provider = "provider", "公共数据提供单位", "Data provider";
        Authority = "authority", "大数据工作主管部门", "Big-data authority";
    }
}

vocabulary! {
    /// 信息资源分类 — the first level (类).
    CategoryClass {
        Basic = "basic", "基础信息资源", "Basic information resources";
        Theme = "theme", "主题信息资源", "Thematic information resources";
        Department = "department", "部门信息资源", "Departmental information resources";
    }
}

impl CategoryClass {
    /// The digit this class contributes to the category code.
    pub fn digit(self) -> char {
        match self {
            Self::Basic => '1',
            Self::Theme => '2',
            Self::Department => '3',
        }
    }

    pub fn from_digit(d: u8) -> Option<Self> {
        match d {
            1 => Some(Self::Basic),
            2 => Some(Self::Theme),
            3 => Some(Self::Department),
            _ => None,
        }
    }
}

vocabulary! {
    /// The roles a person can hold. Each grant is scoped to an organisation, a region or
    /// both (see `authz`).
    Role {
        SystemAdmin = "system_admin", "系统管理员", "System administrator";
        AuthorityAdmin = "authority_admin", "主管部门管理员", "Authority administrator";
        ProviderAdmin = "provider_admin", "提供单位数据管理员", "Provider data administrator";
        ProviderReviewer = "provider_reviewer", "提供单位审核员", "Provider reviewer";
        DeptUser = "dept_user", "政务部门用户", "Government department user";
        Auditor = "auditor", "审计员", "Auditor";
        Registered = "registered", "注册用户", "Registered user";
    }
}

vocabulary! {
    /// Whether a registered user is a natural or a legal person, and how far their
    /// identity has been verified (实名认证).
    UserKind {
        Staff = "staff", "工作人员", "Government staff";
        NaturalPerson = "natural_person", "自然人", "Natural person";
        LegalPerson = "legal_person", "法人", "Legal person";
    }
}

impl OpenType {
    /// 0 is the most open. A change to a higher rank is a change toward less open.
    pub fn rank(self) -> u8 {
        match self {
            Self::Unconditional => 0,
            Self::Conditional => 1,
            Self::None => 2,
        }
    }

    pub fn is_restricted(self) -> bool {
        self != Self::Unconditional
    }
}

impl ShareType {
    /// 0 is the most shared. A change to a higher rank is a change toward less shared.
    pub fn rank(self) -> u8 {
        match self {
            Self::Unconditional => 0,
            Self::Conditional => 1,
            Self::None => 2,
        }
    }

    pub fn is_restricted(self) -> bool {
        self != Self::Unconditional
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_through_serde() {
        for g in Grade::ALL {
            let json = serde_json::to_string(g).unwrap();
            assert_eq!(json, format!("\"{}\"", g.as_str()));
            assert_eq!(serde_json::from_str::<Grade>(&json).unwrap(), *g);
            assert_eq!(Grade::parse(g.as_str()), Some(*g));
        }
        assert!(serde_json::from_str::<OpenType>("\"open\"").is_err());
    }

    #[test]
    fn grades_order_from_least_to_most_sensitive() {
        assert!(Grade::General1 < Grade::General4);
        assert!(Grade::General4 < Grade::Important);
        assert!(Grade::Important < Grade::Core);
    }

    #[test]
    fn update_cycles_have_deadlines_except_irregular() {
        for c in UpdateCycle::ALL {
            assert_eq!(c.max_age_days().is_none(), *c == UpdateCycle::Irregular);
        }
    }
}

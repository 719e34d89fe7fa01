//! What the public sends back (issue 8): the kinds of objection and of answer to a
//! demand, and the content checks every piece of public text passes before a provider
//! has to read it. The checks are deliberately simple and explainable: a person refused
//! is told which rule, and a provider's inbox is not a spam folder.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::FieldError;

/// What an objection says is wrong (SD-OPEN §13, SD-BIGDATA §18, SX-BIGDATA §27).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectionKind {
    /// 数据错误.
    Error,
    /// 数据遗漏.
    Omission,
    /// 数据过时.
    Outdated,
    /// 侵犯商业秘密、个人隐私等: escalated to the authority at once.
    Infringement,
    /// 其他.
    Other,
}

impl ObjectionKind {
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Error => "数据错误",
            Self::Omission => "数据遗漏",
            Self::Outdated => "数据过时",
            Self::Infringement => "侵犯隐私或秘密",
            Self::Other => "其他",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Self::Error => "Error",
            Self::Omission => "Omission",
            Self::Outdated => "Out of date",
            Self::Infringement => "Infringes privacy or secrets",
            Self::Other => "Other",
        }
    }

    pub const ALL: [Self; 5] = [
        Self::Error,
        Self::Omission,
        Self::Outdated,
        Self::Infringement,
        Self::Other,
    ];
}

/// How a provider answers a demand for data (SD-OPEN §12, §20(二)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DemandAnswerKind {
    /// Will be opened, by a date.
    WillOpen,
    /// Already open: here is the entry.
    AlreadyOpen,
    /// Open on conditions: how to apply.
    Conditional,
    /// Cannot be opened: the reasons and the legal basis.
    Cannot,
}

impl DemandAnswerKind {
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::WillOpen => "将予开放",
            Self::AlreadyOpen => "已经开放",
            Self::Conditional => "有条件开放",
            Self::Cannot => "不予开放",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Self::WillOpen => "Will be opened",
            Self::AlreadyOpen => "Already open",
            Self::Conditional => "Open on conditions",
            Self::Cannot => "Cannot be opened",
        }
    }
}

/// The first problem of a piece of public text, if it has one: length outside
/// `min..=max` characters, control characters, more than three links, or mostly one
/// character repeated (keyboard mashing, "！！！！！").
pub fn text_problem(field: &str, text: &str, min: usize, max: usize) -> Option<FieldError> {
    let text = text.trim();
    let n = text.chars().count();
    if n < min || n > max {
        return Some(FieldError::new(
            field,
            "length",
            format!("请填写{min}至{max}个字"),
            format!("Write between {min} and {max} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Some(FieldError::new(
            field,
            "characters",
            "内容含有不可见的控制字符",
            "The text holds invisible control characters",
        ));
    }
    let links = text.matches("http://").count() + text.matches("https://").count();
    if links > 3 {
        return Some(FieldError::new(
            field,
            "links",
            "内容中的链接不能超过3个",
            "At most three links, please",
        ));
    }
    if n >= 10 {
        let mut counts = std::collections::HashMap::new();
        for c in text.chars().filter(|c| !c.is_whitespace()) {
            *counts.entry(c).or_insert(0usize) += 1;
        }
        let most = counts.values().copied().max().unwrap_or(0);
        if most * 2 > n {
            return Some(FieldError::new(
                field,
                "repetitive",
                "内容大部分是同一个字符，请具体描述",
                "The text is mostly one character repeated: please describe the matter",
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_descriptions_pass_and_spam_shapes_are_named() {
        let ok = "第3行的统一社会信用代码校验位错误，应为X。";
        assert_eq!(text_problem("d", ok, 5, 4000), None);
        let rule = |t: &str| text_problem("d", t, 5, 4000).map(|e| e.code.to_owned());
        assert_eq!(rule("太短").as_deref(), Some("length"));
        assert_eq!(rule(&"字".repeat(4001)).as_deref(), Some("length"));
        assert_eq!(
            rule("！！！！！！！！！！！！").as_deref(),
            Some("repetitive")
        );
        assert_eq!(
            rule("看这里 https://a.cn https://b.cn https://c.cn http://d.cn").as_deref(),
            Some("links")
        );
        assert_eq!(
            rule("有控制字符\u{7}在这里面").as_deref(),
            Some("characters")
        );
        // Line breaks are text, not control.
        assert_eq!(rule("第一行说明问题\n第二行给出依据"), None::<String>);
    }
}

//! The open-use agreement (公共数据开放利用协议, SD-OPEN §14) is written from a template
//! the authority maintains. A template is plain text with `{{name}}` placeholders from a
//! fixed list: no logic, so an edited template can only fill in facts, never compute or
//! leak anything else. The facts every agreement must name are required placeholders.

use std::collections::BTreeMap;

use crate::FieldError;

pub const MAX_TEMPLATE: usize = 20_000;

/// Every placeholder a template may use, whether it must, and what it stands for.
pub const PLACEHOLDERS: &[(&str, bool, &str)] = &[
    ("provider", true, "甲方：数据提供单位"),
    ("applicant", true, "乙方：数据利用主体"),
    ("title", true, "数据名称"),
    ("code", true, "信息资源代码"),
    ("items", true, "信息项"),
    ("purpose", true, "用途"),
    ("scenario", false, "应用场景"),
    ("modes", true, "使用方式"),
    ("calls", false, "调用额度"),
    ("rows", false, "数据量额度"),
    ("days", true, "期限（日）"),
    ("measures", true, "安全保障措施"),
    ("application", true, "申请编号"),
    ("hash", true, "申请内容摘要"),
];

/// What ships until an authority writes its own (鲁数发〔2025〕1号 clauses: parties, data,
/// purpose, scope, period, security duties, attribution, no re-identification, reports,
/// termination).
pub const DEFAULT_TEMPLATE: &str = "公共数据开放利用协议\n\n\
甲方（数据提供单位）：{{provider}}\n\
乙方（数据利用主体）：{{applicant}}\n\n\
第一条 数据：{{title}}（资源代码 {{code}}），信息项：{{items}}。\n\
第二条 用途与场景：{{purpose}}；{{scenario}}。乙方不得将数据用于上述用途以外的目的。\n\
第三条 使用方式与范围：{{modes}}；调用额度{{calls}}，数据量额度{{rows}}。\n\
第四条 期限：自双方确认之日起{{days}}日。\n\
第五条 安全责任：乙方落实以下安全保障措施并遵守所签署的安全承诺书：{{measures}}。\
乙方不得向第三方提供、转让数据，不得试图重新识别个人身份。\n\
第六条 署名：乙方使用数据形成的成果应注明数据来源（《山东省公共数据开放办法》第十五条）。\n\
第七条 报告：乙方应按甲方要求报告数据利用情况。\n\
第八条 终止：乙方违反本协议的，甲方可立即终止授权，并报告公共数据主管部门。\n\n\
申请编号：{{application}}；申请内容摘要（SHA-256）：{{hash}}";

/// The placeholders of `text`, in order, or the position of an unclosed `{{`.
fn placeholders(text: &str) -> Result<Vec<&str>, usize> {
    let mut found = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(offset + start);
        };
        found.push(after[..end].trim());
        offset += start + 2 + end + 2;
        rest = &after[end + 2..];
    }
    Ok(found)
}

/// Every problem of an edited template at once: unknown or unclosed placeholders,
/// required facts missing, length.
pub fn check_template(text: &str) -> Vec<FieldError> {
    let mut e = Vec::new();
    let n = text.chars().count();
    if text.trim().is_empty() || n > MAX_TEMPLATE {
        e.push(FieldError::new(
            "template",
            "length",
            format!("协议模板不能为空，且不超过{MAX_TEMPLATE}个字符"),
            format!("The template is not empty and at most {MAX_TEMPLATE} characters"),
        ));
    }
    match placeholders(text) {
        Err(at) => e.push(FieldError::new(
            "template",
            "unclosed",
            format!("第{at}个字节处的“{{{{”没有对应的“}}}}”"),
            format!("'{{{{' at byte {at} is never closed"),
        )),
        Ok(used) => {
            for name in &used {
                if !PLACEHOLDERS.iter().any(|(p, _, _)| p == name) {
                    e.push(FieldError::new(
                        "template",
                        "unknown_placeholder",
                        format!("未知的占位符“{{{{{name}}}}}”"),
                        format!("unknown placeholder {{{{{name}}}}}"),
                    ));
                }
            }
            for (name, required, meaning) in PLACEHOLDERS {
                if *required && !used.contains(name) {
                    e.push(FieldError::new(
                        "template",
                        "missing_placeholder",
                        format!("协议须包含{meaning}（{{{{{name}}}}}）"),
                        format!("the agreement must state {{{{{name}}}}}"),
                    ));
                }
            }
        }
    }
    e
}

/// Fills a checked template. Unknown names cannot occur in a checked template; they
/// would be left as written rather than guessed.
pub fn render(text: &str, facts: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(text.len() + 512);
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push_str(&rest[..start]);
        let name = after[..end].trim();
        match facts.get(name) {
            Some(value) => out.push_str(value),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str) -> Vec<&'static str> {
        check_template(text).into_iter().map(|f| f.code).collect()
    }

    // SD-OPEN §14: the agreement names parties, data, purpose, scope, period and duties.
    #[test]
    fn the_default_template_names_every_required_fact() {
        assert!(check_template(DEFAULT_TEMPLATE).is_empty());
        let facts: BTreeMap<&str, String> = PLACEHOLDERS
            .iter()
            .map(|(name, _, _)| (*name, format!("<{name}>")))
            .collect();
        let text = render(DEFAULT_TEMPLATE, &facts);
        assert!(!text.contains("{{"), "{text}");
        assert!(text.contains("甲方（数据提供单位）：<provider>"));
    }

    #[test]
    fn edited_templates_are_checked() {
        let without_period = DEFAULT_TEMPLATE.replace("{{days}}", "若干");
        assert_eq!(codes(&without_period), ["missing_placeholder"]);
        let unknown = format!("{DEFAULT_TEMPLATE}{{{{password}}}}");
        assert_eq!(codes(&unknown), ["unknown_placeholder"]);
        let unclosed = format!("{DEFAULT_TEMPLATE}{{{{provider");
        assert_eq!(codes(&unclosed), ["unclosed"]);
        assert_eq!(codes(" ").first(), Some(&"length"));
        // Spaces inside the braces are allowed; values are inserted as they are.
        let spaced = DEFAULT_TEMPLATE.replace("{{provider}}", "{{ provider }}");
        assert!(check_template(&spaced).is_empty());
        let facts = BTreeMap::from([("provider", "{{applicant}}".to_owned())]);
        assert_eq!(
            render("甲方：{{ provider }}。", &facts),
            "甲方：{{applicant}}。"
        );
    }
}

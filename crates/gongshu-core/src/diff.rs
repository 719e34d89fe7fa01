//! Field-level differences between two versions of a catalog entry (R2.3: every version
//! kept and diffable).

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::catalog::DatasetDraft;

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FieldChange {
    /// The field, or `items[<name>]` for one data item.
    pub field: String,
    #[schema(value_type = Object)]
    pub before: Value,
    #[schema(value_type = Object)]
    pub after: Value,
}

fn as_object(d: &DatasetDraft) -> serde_json::Map<String, Value> {
    match serde_json::to_value(d) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

/// Lists what changed from `a` to `b`: top-level fields in declaration order, and data
/// items matched by name so a reordering is not reported as a change.
pub fn diff(a: &DatasetDraft, b: &DatasetDraft) -> Vec<FieldChange> {
    let (ma, mb) = (as_object(a), as_object(b));
    let mut out = Vec::new();
    for (key, va) in &ma {
        let vb = mb.get(key).unwrap_or(&Value::Null);
        if key == "items" || va == vb {
            continue;
        }
        out.push(FieldChange {
            field: key.clone(),
            before: va.clone(),
            after: vb.clone(),
        });
    }
    let item = |items: &[crate::catalog::DataItem], name: &str| {
        items
            .iter()
            .find(|i| i.name == name)
            .and_then(|i| serde_json::to_value(i).ok())
            .unwrap_or(Value::Null)
    };
    let mut names: Vec<&str> = a.items.iter().map(|i| i.name.as_str()).collect();
    for i in &b.items {
        if !names.contains(&i.name.as_str()) {
            names.push(&i.name);
        }
    }
    for name in names {
        let (before, after) = (item(&a.items, name), item(&b.items, name));
        if before != after {
            out.push(FieldChange {
                field: format!("items[{name}]"),
                before,
                after,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::tests::sample;
    use crate::types::{Grade, UpdateCycle};

    #[test]
    fn reports_fields_and_items_by_name() {
        let a = sample();
        let mut b = a.clone();
        b.update_cycle = UpdateCycle::Weekly;
        b.items[0].grade = Grade::General2;
        let mut added = b.items[0].clone();
        added.name = "成立日期".into();
        b.items.push(added);
        let fields: Vec<String> = diff(&a, &b).into_iter().map(|c| c.field).collect();
        assert_eq!(
            fields,
            ["update_cycle", "items[企业名称]", "items[成立日期]"]
        );
        assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn reordered_items_are_no_change() {
        let mut a = sample();
        let mut second = a.items[0].clone();
        second.name = "住所".into();
        a.items.push(second);
        let mut b = a.clone();
        b.items.reverse();
        assert!(diff(&a, &b).is_empty());
    }
}

//! Where a person reads and acts on a governed object: its console page. Notices (the
//! inbox, e-mail, webhooks) carry these links; programs find the same objects by id
//! under `/api/v1`.

pub fn application(id: i64) -> String {
    format!("/console/applications/{id}")
}

pub fn grant(id: i64) -> String {
    format!("/console/grants/{id}")
}

pub fn attribute_change(id: i64) -> String {
    format!("/console/attribute-changes/{id}")
}

pub fn catalog_update(id: i64) -> String {
    format!("/console/catalog-updates/{id}")
}

pub fn objection(id: i64) -> String {
    format!("/console/objections/{id}")
}

pub fn demand(id: i64) -> String {
    format!("/demands/{id}")
}

pub fn reuse(id: i64) -> String {
    format!("/reuses/{id}")
}

pub fn evaluation(id: i64) -> String {
    format!("/evaluations/{id}")
}

pub fn incident(id: i64) -> String {
    format!("/console/incidents/{id}")
}

pub fn sandbox_query(id: i64) -> String {
    format!("/sandbox/queries/{id}")
}

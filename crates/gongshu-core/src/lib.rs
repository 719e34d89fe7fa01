//! Gongshu's domain: the types and the rules of a provincial public-data platform.
//!
//! Nothing here does IO. Every rule that decides who may do or see what lives here, so
//! it can be tested with plain table-driven tests that name the article they implement.

pub mod access;
pub mod agreement;
pub mod apply;
pub mod authz;
pub mod calendar;
pub mod catalog;
pub mod change;
pub mod deident;
pub mod diff;
pub mod disclosure;
pub mod error;
pub mod evaluation;
pub mod feedback;
pub mod pii;
pub mod region;
pub mod types;
pub mod validate;

pub use error::{Error, ErrorCode, FieldError};

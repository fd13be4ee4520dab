//! The eight capability traits as JavaScript classes: every operation a Promise-returning
//! method taking and returning plain JSON values (and `Buffer`s for object and file bodies).
//!
//! A class is obtained from `Providers` (`providers.dns("default")`); it holds the trait
//! object, so the same provider serves direct calls and the engine's runs.

pub mod ci;
pub mod compute;
pub mod database;
pub mod dns;
pub mod mail;
pub mod repo;
pub mod secrets;
pub mod storage;

use provisio::PageRequest;
use serde_json::Value;

/// A page request from JS (`{ token, limit }`, both optional; `undefined` is the first page).
pub(crate) fn page(page: Option<Value>) -> napi::Result<PageRequest> {
    match page {
        None | Some(Value::Null) => Ok(PageRequest::first()),
        Some(v) => crate::from_js("page", v),
    }
}

/// Tags from JS (`{ key: value }`; `undefined` is none).
pub(crate) fn tags(tags: Option<Value>) -> napi::Result<provisio::Tags> {
    match tags {
        None | Some(Value::Null) => Ok(provisio::Tags::new()),
        Some(v) => crate::from_js("tags", v),
    }
}

//! Renders a tenant's files from a directory of [tera](https://keats.github.io/tera/)
//! templates, with every interpolated value escaped for the format of the file it goes into.
//!
//! The template authors are trusted; the tenant's variables (typed into a back-office form) are
//! not. So:
//!
//! * an **undefined variable** (or a `null` one) is an `InvalidInput` error whose message names
//!   the variable, the template and the line: a file is never rendered with a silent empty
//!   string;
//! * every value written by `{{ ... }}` is **escaped for its format** (see [`Format`] for the
//!   rules): XML entities for `config.xml`, double-quoted YAML scalars for `config.yml`, plus
//!   `$$` for docker-compose files, JSON string literals, and for nginx `.conf` and plain-text
//!   files (which have no quoting that is safe everywhere) values that could change the
//!   structure are **rejected** with an `InvalidInput` error naming the variable and the rule.
//!   A value is never silently altered into something else, and never injected.
//!
//! Escaping is attached to the output of each `{{ ... }}` only (see the `hook` module's notes):
//! conditions, loops and filter arguments see the raw values, so `{% if plan == "pro" %}` works
//! in every format. `{{ value | safe }}` opts out of escaping and must never be used on tenant
//! input.
//!
//! ```
//! use provisio_templates::{Format, TemplateSet};
//! use std::collections::BTreeMap;
//! let set = TemplateSet::from_strings([(
//!     "jobs/config.xml",
//!     "<project><description>{{ name }}</description></project>",
//! )])?;
//! let mut vars = BTreeMap::new();
//! vars.insert("name".to_string(), serde_json::json!("Acme & <Sons>"));
//! assert_eq!(
//!     set.render("jobs/config.xml", &vars)?,
//!     "<project><description>Acme &amp; &lt;Sons&gt;</description></project>"
//! );
//! assert_eq!(set.format_of("jobs/config.xml"), Some(Format::Xml));
//!
//! vars.clear();
//! let err = set.render("jobs/config.xml", &vars).unwrap_err();
//! assert_eq!(err.kind(), &provisio::ErrorKind::InvalidInput);
//! assert!(err.message().contains("variable name"));
//! assert!(err.message().contains("jobs/config.xml line 1"));
//! # Ok::<(), provisio::Error>(())
//! ```
#![deny(missing_docs)]

mod format;
mod hook;
mod set;
mod source;

pub use format::Format;
pub use set::TemplateSet;

//! [`TemplateSet`]: a directory of tera templates rendered with one tenant's variables.

use crate::format::{Format, output_path};
use crate::{hook, source};
use provisio::{Error, Result};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use tera::Tera;

/// The provider/operation names put on errors from this crate.
const COMPONENT: &str = "templates";

/// A set of tera templates, each rendered to one output file escaped for its [`Format`].
///
/// Template names are `/`-separated paths relative to the template directory; a trailing
/// `.tera` or `.j2` is dropped from the output path (`nginx.conf.tera` → `nginx.conf`). Names
/// whose file name starts with `_` are partials (macros, base layouts for `{% extends %}`,
/// `{% include %}`d pieces): they can be used by other templates but [`render_all`]
/// skips them.
///
/// Rendering rules:
/// * an undefined variable is an `InvalidInput` error naming the variable, the template and
///   the line, never an empty string; a `null` variable counts as undefined;
/// * every `{{ ... }}` string value is escaped for the template's format (see [`Format`]); a
///   value the format cannot hold safely is an `InvalidInput` error naming the variable, the
///   template, the line and the rule;
/// * interpolating a whole list or object (`{{ hosts }}`) is refused: tera would print its
///   items unescaped. Loop over it (`{% for h in hosts %}{{ h }}{% endfor %}`) instead;
/// * write YAML interpolations unquoted (`name: {{ tenant }}`): the value is quoted for you.
///   Build a composite scalar inside the expression: `url: {{ "https://" ~ host ~ "/" }}`.
///
/// [`render_all`]: TemplateSet::render_all
///
/// ```
/// use provisio_templates::TemplateSet;
/// use serde_json::json;
/// let set = TemplateSet::from_strings([
///     ("config.yml", "tenant: {{ name }}\nplan: {{ plan }}\n"),
///     ("nginx.conf", "server_name {{ host }};\n"),
/// ])?;
/// let vars = json!({"name": "acme: inc", "plan": "pro", "host": "acme.example.com"});
/// assert_eq!(set.render("config.yml", &vars)?, "tenant: \"acme: inc\"\nplan: \"pro\"\n");
/// let files = set.render_all(&vars)?;
/// assert_eq!(files["nginx.conf"], "server_name acme.example.com;\n");
///
/// let bad = json!({"name": "x", "plan": "pro", "host": "x; return 302 https://evil"});
/// let err = set.render("nginx.conf", &bad).unwrap_err();
/// assert!(err.message().contains("host"));
/// assert!(err.message().contains("nginx.conf line 1"));
/// # Ok::<(), provisio::Error>(())
/// ```
#[derive(Clone)]
pub struct TemplateSet {
    sources: BTreeMap<String, String>,
    formats: BTreeMap<String, Format>,
    /// One tera instance per format in use: tera has a single escape function per instance.
    /// Each holds every template, so includes, imports and `extends` work across formats.
    engines: BTreeMap<Format, Tera>,
}

impl std::fmt::Debug for TemplateSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateSet")
            .field("formats", &self.formats)
            .finish_non_exhaustive()
    }
}

impl TemplateSet {
    /// Loads every file below `dir` (recursively, skipping hidden files and directories) as a
    /// template named by its path relative to `dir`, with `/` separators.
    ///
    /// `NotFound` when `dir` does not exist; `InvalidInput` when a file is not UTF-8 or does
    /// not parse (the message names the file and, from tera, the line).
    pub fn load(dir: impl AsRef<Path>) -> Result<TemplateSet> {
        let dir = dir.as_ref();
        let mut files = Vec::new();
        collect_files(dir, dir, &mut files).map_err(|e| {
            let err = if e.kind() == std::io::ErrorKind::NotFound {
                Error::not_found(format!("template directory {} not found", dir.display()))
            } else {
                Error::unexpected(format!("cannot read template directory {}", dir.display()))
            };
            err.with_source(e).in_context(COMPONENT, "templates.load")
        })?;
        let mut templates = Vec::with_capacity(files.len());
        for (name, path) in files {
            let bytes = std::fs::read(&path).map_err(|e| {
                Error::unexpected(format!("cannot read template {name}"))
                    .with_source(e)
                    .in_context(COMPONENT, "templates.load")
            })?;
            let text = String::from_utf8(bytes).map_err(|_| {
                Error::invalid_field(&format!("template {name}"), "is not UTF-8 text")
                    .in_context(COMPONENT, "templates.load")
            })?;
            templates.push((name, text));
        }
        TemplateSet::from_strings(templates)
    }

    /// Builds a set from `(name, source)` pairs. The format of each template comes from its
    /// name ([`Format::for_path`]); change it with [`set_format`](TemplateSet::set_format).
    pub fn from_strings<I, N, S>(templates: I) -> Result<TemplateSet>
    where
        I: IntoIterator<Item = (N, S)>,
        N: Into<String>,
        S: Into<String>,
    {
        let mut sources = BTreeMap::new();
        for (name, source) in templates {
            let name = name.into();
            if name.is_empty() || name.starts_with('/') || name.split('/').any(|c| c == "..") {
                return Err(Error::invalid_field(
                    "template name",
                    format!("{name:?} must be a relative path without '..'"),
                )
                .in_context(COMPONENT, "templates.load"));
            }
            sources.insert(name, source.into());
        }
        let formats = sources
            .keys()
            .map(|n| (n.clone(), Format::for_path(n)))
            .collect();
        let mut set = TemplateSet {
            sources,
            formats,
            engines: BTreeMap::new(),
        };
        let wanted: Vec<Format> = set.formats.values().copied().collect();
        for format in wanted {
            set.engine_for(format)?;
        }
        Ok(set)
    }

    /// Renders `name` with `format` instead of the one its file name implies.
    /// `NotFound` when there is no such template.
    pub fn set_format(&mut self, name: &str, format: Format) -> Result<()> {
        if !self.sources.contains_key(name) {
            return Err(missing(name, "templates.set_format"));
        }
        self.engine_for(format)?;
        self.formats.insert(name.to_string(), format);
        Ok(())
    }

    /// The same set with `name` rendered as `format`; see [`set_format`](Self::set_format).
    pub fn with_format(mut self, name: &str, format: Format) -> Result<TemplateSet> {
        self.set_format(name, format)?;
        Ok(self)
    }

    /// The template names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.sources.keys().map(String::as_str)
    }

    /// The source text of template `name`, as loaded: with [`names`](Self::names) it gives
    /// the set's content, so that a set can be shipped by value (the Temporal runner pins a
    /// blueprint's templates in a rollout's input this way) and rebuilt with
    /// [`from_strings`](Self::from_strings).
    ///
    /// ```
    /// let set = provisio_templates::TemplateSet::from_strings([("a.txt", "{{ x }}")])?;
    /// assert_eq!(set.source("a.txt"), Some("{{ x }}"));
    /// assert_eq!(set.source("b.txt"), None);
    /// # Ok::<(), provisio::Error>(())
    /// ```
    pub fn source(&self, name: &str) -> Option<&str> {
        self.sources.get(name).map(String::as_str)
    }

    /// The format `name` is rendered with; `None` when there is no such template.
    pub fn format_of(&self, name: &str) -> Option<Format> {
        self.formats.get(name).copied()
    }

    /// The path a template renders to: its name without a trailing `.tera` or `.j2`.
    pub fn output_path(name: &str) -> &str {
        output_path(name)
    }

    /// Whether `name` is a partial, which [`render_all`](Self::render_all) skips.
    pub fn is_partial(name: &str) -> bool {
        name.rsplit('/').next().is_some_and(|f| f.starts_with('_'))
    }

    /// Renders one template with the tenant's variables: any value that serializes to a JSON
    /// object (a `serde_json::Value`, a `Map`, a `BTreeMap<String, Value>`, a struct).
    pub fn render(&self, name: &str, vars: &impl serde::Serialize) -> Result<String> {
        let vars = to_object(vars)?;
        self.render_object(name, &vars)
    }

    /// Renders every template except partials; the result maps each output path (see
    /// [`output_path`](Self::output_path)) to its content. Fails on the first template that
    /// fails, naming it.
    pub fn render_all(&self, vars: &impl serde::Serialize) -> Result<BTreeMap<String, String>> {
        let vars = to_object(vars)?;
        let mut out = BTreeMap::new();
        for name in self.sources.keys().filter(|n| !Self::is_partial(n)) {
            let text = self.render_object(name, &vars)?;
            out.insert(output_path(name).to_string(), text);
        }
        Ok(out)
    }

    fn render_object(&self, name: &str, vars: &Map<String, Value>) -> Result<String> {
        let op = "templates.render";
        let format = self
            .formats
            .get(name)
            .copied()
            .ok_or_else(|| missing(name, op))?;
        let tera = self
            .engines
            .get(&format)
            .ok_or_else(|| Error::unexpected(format!("no engine for format {format}")))?;
        let context = tera::Context::from_value(Value::Object(vars.clone()))
            .map_err(|e| Error::invalid_input("variables must be a JSON object").with_source(e))?;
        let (rendered, rejected) = hook::render(tera, name, &context);
        if let Some((value, bad)) = rejected {
            return Err(self
                .rejection(name, format, vars, &value, &bad)
                .in_context(COMPONENT, op)
                .with_resource(name));
        }
        rendered.map_err(|e| {
            self.render_error(name, e)
                .in_context(COMPONENT, op)
                .with_resource(name)
        })
    }

    /// The error for a value the format refused, naming the variable that holds it.
    fn rejection(
        &self,
        name: &str,
        format: Format,
        vars: &Map<String, Value>,
        value: &Value,
        refusal: &hook::Refusal,
    ) -> Error {
        let mut holders = Vec::new();
        source::paths_holding(vars, value, "", &mut holders);
        let located = holders
            .iter()
            .find_map(|var| self.locate(name, var).map(|loc| (var.clone(), Some(loc))))
            .or_else(|| {
                holders
                    .first()
                    .map(|var| (var.clone(), self.locate_prefix(name, var)))
            });
        let (what, at) = match located {
            Some((var, at)) => (format!("variable {var}"), at.unwrap_or_else(|| name.into())),
            None => ("a computed value".to_string(), name.to_string()),
        };
        let why = match refusal {
            hook::Refusal::Character(bad) => format!(
                "contains {bad}, which {} forbids ({})",
                format.name(),
                format.rule()
            ),
            hook::Refusal::Container => "is a list or an object, which cannot be interpolated \
                 whole (its items would not be escaped): loop over it or pick a field"
                .to_string(),
            hook::Refusal::Null => "is null".to_string(),
        };
        Error::invalid_field(&what, format!("in template {at}: {why}"))
    }

    /// Maps a tera error to provisio's, finding the line of an undefined variable.
    fn render_error(&self, name: &str, err: tera::Error) -> Error {
        let chain = error_chain(&err);
        if let Some((var, template)) = source::undefined_variable(&chain) {
            let at = self
                .locate(&template, &var)
                .or_else(|| self.locate(name, &var))
                .or_else(|| self.locate_prefix(&template, &var))
                .unwrap_or_else(|| template.clone());
            return Error::invalid_field(
                &format!("variable {var}"),
                format!("is not defined (template {at})"),
            );
        }
        Error::invalid_input(format!("cannot render template {name}: {chain}"))
    }

    /// `"<template> line <n>"` where `var` is first used in an expression, searching `name`
    /// and then every other template (it may come from an include or a parent).
    fn locate(&self, name: &str, var: &str) -> Option<String> {
        let in_one = |n: &str| {
            let src = self.sources.get(n)?;
            source::find_line(src, var).map(|line| format!("{n} line {line}"))
        };
        in_one(name).or_else(|| {
            self.sources
                .keys()
                .filter(|n| n.as_str() != name)
                .find_map(|n| in_one(n))
        })
    }

    /// Like [`locate`](Self::locate) for the longest dotted prefix of `var` that is found
    /// (a loop over `hosts` for `hosts.0`).
    fn locate_prefix(&self, name: &str, var: &str) -> Option<String> {
        let mut prefix = var;
        while let Some((head, _)) = prefix.rsplit_once('.') {
            if let Some(at) = self.locate(name, head) {
                return Some(at);
            }
            prefix = head;
        }
        None
    }

    /// The tera instance escaping for `format`, built on first use.
    fn engine_for(&mut self, format: Format) -> Result<&Tera> {
        if !self.engines.contains_key(&format) {
            let mut tera = Tera::default();
            // "" is a suffix of every name: escape in every template of this instance.
            // tera's own autoescape also escapes the operands of comparisons and filter
            // arguments (`{% if plan == "pro" %}` would compare a quoted value): turn it off
            // and escape only what `{{ ... }}` writes out, through `hook`.
            tera.autoescape_on(vec![]);
            tera.add_raw_templates(self.sources.iter().map(|(n, s)| (n.as_str(), s.as_str())))
                .map_err(|e| {
                    Error::invalid_input(format!("cannot parse templates: {}", error_chain(&e)))
                        .in_context(COMPONENT, "templates.load")
                })?;
            hook::install(&mut tera, format);
            self.engines.insert(format, tera);
        }
        Ok(&self.engines[&format])
    }
}

fn missing(name: &str, op: &str) -> Error {
    Error::not_found(format!("template {name} does not exist"))
        .in_context(COMPONENT, op)
        .with_resource(name)
}

fn to_object(vars: &impl serde::Serialize) -> Result<Map<String, Value>> {
    match serde_json::to_value(vars) {
        Ok(Value::Object(map)) => Ok(source::without_nulls(map)),
        Ok(_) => Err(Error::invalid_field(
            "variables",
            "must be an object of names to values",
        )),
        Err(e) => Err(Error::invalid_field("variables", "cannot be serialized").with_source(e)),
    }
}

/// tera's error and its sources joined with `: ` (tera puts the useful part in the source).
fn error_chain(err: &tera::Error) -> String {
    let mut text = err.to_string();
    let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(err);
    while let Some(e) = cur {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cur = e.source();
    }
    text
}

fn collect_files(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, std::path::PathBuf)>,
) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let file_name = entry.file_name();
        if file_name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect_files(root, &path, out)?;
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push((name, path));
        }
    }
    Ok(())
}

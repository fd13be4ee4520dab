//! The downstream jobs of a Jenkins job: its `hudson.tasks.BuildTrigger` publisher ("build
//! other projects"), read and edited in the job's `config.xml`, and the [`JenkinsCi`]
//! operations built on that (`downstream_jobs`, `add_downstream`, `remove_downstream`).
//!
//! The document is parsed with quick-xml to find where things are (by element structure, never
//! by searching for strings), and the edit is then spliced into the original text at those byte
//! offsets, so everything else (the declaration, comments, attribute quoting, indentation, the
//! order of elements) stays byte-for-byte as it was.
//!
//! Only the `publishers` element that is a direct child of the root, and the `BuildTrigger`
//! that is a direct child of it, count: nested publishers (of promotion or conditional-step
//! plugins) are left alone.
//!
//! Jenkins has no compare-and-set on a job's configuration, and many tenants' runs edit the
//! same umbrella job: an edit is serialized per (account, job) within the process, and after
//! writing the job is read again to check that a writer elsewhere did not drop the change (the
//! edit is then redone, up to [`EDIT_ATTEMPTS`] writes, and `Conflict` after that).

use crate::ci::{JenkinsCi, context, is_folder_class};
use provisio::ci::Linked;
use provisio::{Error, ErrorKind, Result, validate};
use quick_xml::Reader;
use quick_xml::events::Event;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};

/// How many times an edit is written before giving up when concurrent writers keep dropping it.
pub(crate) const EDIT_ATTEMPTS: usize = 5;

/// The publisher element that triggers downstream builds.
const BUILD_TRIGGER: &str = "hudson.tasks.BuildTrigger";
const PUBLISHERS: &str = "publishers";
const CHILD_PROJECTS: &str = "childProjects";
/// Root element of pipeline jobs, which have no publishers.
const PIPELINE_ROOT: &str = "flow-definition";
/// One level of indentation, as Jenkins writes config.xml.
const INDENT: &str = "  ";

/// Where one element is in the text.
#[derive(Debug, Clone)]
struct Element {
    /// The start tag, or the whole element when it is self-closing.
    start: Range<usize>,
    /// The end tag; `None` for a self-closing element.
    end: Option<Range<usize>>,
}

/// The parts of the document the edits care about.
#[derive(Debug)]
struct Layout {
    root_name: String,
    root: Element,
    publishers: Option<Element>,
    trigger: Option<Element>,
    child: Option<Element>,
    /// The unescaped text of `childProjects`.
    child_text: String,
}

fn malformed(reader: &Reader<&[u8]>, e: impl std::fmt::Display) -> Error {
    Error::invalid_input(format!(
        "job config.xml is not well-formed XML (near byte {}): {e}",
        reader.error_position()
    ))
}

/// Parses the whole document (so that a malformed one is rejected) and records the positions
/// of the root, its `publishers`, their `BuildTrigger` and its `childProjects`.
fn scan(xml: &str) -> Result<Layout> {
    let mut reader = Reader::from_str(xml);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.trim_text(false);
    config.expand_empty_elements = false;

    // The stack of open elements: (name, start tag range).
    let mut stack: Vec<(String, Range<usize>)> = Vec::new();
    let mut root: Option<(String, Element)> = None;
    let mut publishers: Option<(String, Element)> = None;
    let mut trigger: Option<(String, Element)> = None;
    let mut child: Option<(String, Element)> = None;
    let mut child_text = String::new();
    // Which of the three elements of interest is open at which depth.
    let path_is = |stack: &[(String, Range<usize>)], names: &[&str]| {
        stack.len() == names.len() + 1
            && stack[1..].iter().zip(names).all(|((n, _), want)| n == want)
    };

    loop {
        let before = reader.buffer_position() as usize;
        let event = reader.read_event().map_err(|e| malformed(&reader, e))?;
        let after = reader.buffer_position() as usize;
        // Only the first publishers / trigger / list count: each is recorded when it closes,
        // so "not recorded yet" means "inside the first one".
        let inside_list = publishers.is_none()
            && trigger.is_none()
            && child.is_none()
            && path_is(&stack, &[PUBLISHERS, BUILD_TRIGGER, CHILD_PROJECTS]);
        match event {
            Event::Start(_) | Event::Empty(_) if root.is_some() && stack.is_empty() => {
                return Err(Error::invalid_input(
                    "job config.xml is not well-formed XML: more than one root element",
                ));
            }
            Event::Start(start) | Event::Empty(start) if inside_list => {
                return Err(Error::invalid_input(format!(
                    "job config.xml: <{CHILD_PROJECTS}> must hold text, found <{}>",
                    start.name().as_ref()
                )));
            }
            Event::Start(start) => {
                let name = start.name().as_ref().to_string();
                stack.push((name, before..after));
            }
            Event::Empty(start) => {
                let name = start.name().as_ref().to_string();
                record(
                    &stack,
                    name,
                    Element {
                        start: before..after,
                        end: None,
                    },
                    [&mut root, &mut publishers, &mut trigger, &mut child],
                );
            }
            Event::End(_) => {
                let (name, start) = stack
                    .pop()
                    .ok_or_else(|| malformed(&reader, "unexpected end tag"))?;
                record(
                    &stack,
                    name,
                    Element {
                        start,
                        end: Some(before..after),
                    },
                    [&mut root, &mut publishers, &mut trigger, &mut child],
                );
            }
            Event::Text(text) if inside_list => {
                child_text.push_str(&text);
            }
            Event::CData(text) if inside_list => {
                child_text.push_str(&text);
            }
            Event::GeneralRef(r) if inside_list => {
                let entity = format!("&{};", &*r);
                let resolved =
                    quick_xml::escape::unescape(&entity).map_err(|e| malformed(&reader, e))?;
                child_text.push_str(&resolved);
            }
            Event::Text(text)
                if stack.is_empty() && text.chars().any(|c| !c.is_ascii_whitespace()) =>
            {
                return Err(malformed(&reader, "text outside the root element"));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(Error::invalid_input(format!(
            "job config.xml is not well-formed XML: <{}> is never closed",
            stack[stack.len() - 1].0
        )));
    }
    let (root_name, root) = root.ok_or_else(|| {
        Error::invalid_input("job config.xml is not well-formed XML: no root element")
    })?;
    Ok(Layout {
        root_name,
        root,
        publishers: publishers.map(|(_, e)| e),
        trigger: trigger.map(|(_, e)| e),
        child: child.map(|(_, e)| e),
        child_text,
    })
}

/// Records a just-closed (or self-closing) element when it is the first root, publishers,
/// trigger or list at its place.
fn record(
    stack: &[(String, Range<usize>)],
    name: String,
    element: Element,
    [root, publishers, trigger, child]: [&mut Option<(String, Element)>; 4],
) {
    let at = |names: &[&str]| {
        stack.len() == names.len() + 1
            && stack[1..].iter().zip(names).all(|((n, _), want)| n == want)
    };
    let slot = if stack.is_empty() {
        Some(root)
    } else if at(&[]) && name == PUBLISHERS {
        Some(publishers)
    } else if at(&[PUBLISHERS]) && name == BUILD_TRIGGER && publishers.is_none() {
        Some(trigger)
    } else if at(&[PUBLISHERS, BUILD_TRIGGER])
        && name == CHILD_PROJECTS
        && publishers.is_none()
        && trigger.is_none()
    {
        Some(child)
    } else {
        None
    };
    if let Some(slot) = slot
        && slot.is_none()
    {
        *slot = Some((name, element));
    }
}

fn split_projects(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The separator already used in the list (`", "` or `","`), so an edit keeps the style.
fn separator(text: &str) -> &'static str {
    if text.contains(", ") { ", " } else { "," }
}

/// The whitespace that indents the line `pos` is on, when `pos` starts the line's content.
fn indent_at(xml: &str, pos: usize) -> String {
    let line_start = xml[..pos].rfind('\n').map_or(0, |i| i + 1);
    let lead = &xml[line_start..pos];
    if lead.chars().all(|c| c == ' ' || c == '\t') {
        lead.to_string()
    } else {
        String::new()
    }
}

/// Where the run of whitespace that ends at `pos` begins.
fn whitespace_start(xml: &str, pos: usize) -> usize {
    xml[..pos]
        .rfind(|c: char| !c.is_ascii_whitespace())
        .map_or(0, |i| i + 1)
}

fn check_project(project: &str) -> Result<&str> {
    let p = project.trim();
    if p.is_empty() || p.contains(',') || p.chars().any(char::is_control) {
        return Err(Error::invalid_field(
            "downstream",
            format!("{project:?} must be a non-empty job path without ',' or control characters"),
        ));
    }
    Ok(p)
}

fn trigger_block(indent: &str, projects: &str) -> String {
    let i1 = format!("{indent}{INDENT}");
    let i2 = format!("{indent}{INDENT}{INDENT}");
    format!(
        "<{BUILD_TRIGGER}>\n\
         {i1}<{CHILD_PROJECTS}>{projects}</{CHILD_PROJECTS}>\n\
         {i1}<threshold>\n\
         {i2}<name>SUCCESS</name>\n\
         {i2}<ordinal>0</ordinal>\n\
         {i2}<color>BLUE</color>\n\
         {i2}<completeBuild>true</completeBuild>\n\
         {i1}</threshold>\n\
         {indent}</{BUILD_TRIGGER}>"
    )
}

/// Puts `content` (an element, already indented for its first line by the caller) as the
/// last child of `parent`, on its own line.
fn append_child(
    xml: &str,
    parent: &Element,
    child_indent: &str,
    content: &str,
) -> (Range<usize>, String) {
    let parent_indent = indent_at(xml, parent.start.start);
    match &parent.end {
        Some(end) => {
            let ws = whitespace_start(xml, end.start).max(parent.start.end);
            let tail = if xml[ws..end.start].contains('\n') {
                String::new()
            } else {
                format!("\n{parent_indent}")
            };
            (ws..ws, format!("\n{child_indent}{content}{tail}"))
        }
        None => {
            // `<publishers/>` -> `<publishers>\n  ...\n</publishers>`, keeping the tag's name
            // and any attributes exactly as written.
            let tag = &xml[parent.start.clone()];
            let open = format!("{}>", tag.trim_end_matches("/>").trim_end());
            let name = tag[1..]
                .split(|c: char| c.is_whitespace() || c == '/' || c == '>')
                .next()
                .unwrap_or_default();
            (
                parent.start.clone(),
                format!("{open}\n{child_indent}{content}\n{parent_indent}</{name}>"),
            )
        }
    }
}

fn splice(xml: &str, range: Range<usize>, with: &str) -> String {
    let mut out = String::with_capacity(xml.len() + with.len());
    out.push_str(&xml[..range.start]);
    out.push_str(with);
    out.push_str(&xml[range.end..]);
    out
}

/// Adds `project` to the job's `BuildTrigger` downstream list, creating the `childProjects`
/// element, the `BuildTrigger` publisher (with a SUCCESS threshold) and the `publishers`
/// element as needed. Returns the document unchanged when `project` is listed already.
///
/// Errors: `InvalidInput` for a malformed document or a project name with `,`; `Unsupported`
/// for a pipeline job (`flow-definition`), which has no publishers.
pub(crate) fn add_child_project(config_xml: &str, project: &str) -> Result<String> {
    let project = check_project(project)?;
    let layout = scan(config_xml)?;
    let mut list = split_projects(&layout.child_text);
    if list.iter().any(|p| p == project) {
        return Ok(config_xml.to_string());
    }
    if layout.root_name == PIPELINE_ROOT {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "the umbrella job is a pipeline job (flow-definition): it has no publishers; \
             trigger downstream jobs from its Jenkinsfile instead",
        ));
    }
    let sep = separator(&layout.child_text);
    list.push(project.to_string());
    let text = quick_xml::escape::escape(list.join(sep)).into_owned();
    let xml = config_xml;
    let (range, with) = match (&layout.child, &layout.trigger, &layout.publishers) {
        (Some(child), _, _) => match &child.end {
            Some(end) => (child.start.end..end.start, text),
            None => (
                child.start.clone(),
                format!("<{CHILD_PROJECTS}>{text}</{CHILD_PROJECTS}>"),
            ),
        },
        (None, Some(trigger), _) => match &trigger.end {
            Some(_) => {
                // First field of the trigger, on its own line after the start tag.
                let indent = format!("{}{INDENT}", indent_at(xml, trigger.start.start));
                (
                    trigger.start.end..trigger.start.end,
                    format!("\n{indent}<{CHILD_PROJECTS}>{text}</{CHILD_PROJECTS}>"),
                )
            }
            None => (
                trigger.start.clone(),
                trigger_block(&indent_at(xml, trigger.start.start), &text),
            ),
        },
        (None, None, Some(publishers)) => {
            let indent = format!("{}{INDENT}", indent_at(xml, publishers.start.start));
            append_child(xml, publishers, &indent, &trigger_block(&indent, &text))
        }
        (None, None, None) => {
            let pub_indent = format!("{}{INDENT}", indent_at(xml, layout.root.start.start));
            let trig_indent = format!("{pub_indent}{INDENT}");
            let block = format!(
                "<{PUBLISHERS}>\n{trig_indent}{}\n{pub_indent}</{PUBLISHERS}>",
                trigger_block(&trig_indent, &text)
            );
            append_child(xml, &layout.root, &pub_indent, &block)
        }
    };
    Ok(splice(xml, range, &with))
}

/// Removes every mention of `project` from the job's `BuildTrigger` downstream list. The
/// publisher itself stays (with an empty list when it was the last one), so that a threshold
/// someone configured survives. Returns the document unchanged when `project` is not listed.
pub(crate) fn remove_child_project(config_xml: &str, project: &str) -> Result<String> {
    let project = check_project(project)?;
    let layout = scan(config_xml)?;
    let list = split_projects(&layout.child_text);
    if !list.iter().any(|p| p == project) {
        return Ok(config_xml.to_string());
    }
    let Some(Element {
        start,
        end: Some(end),
    }) = &layout.child
    else {
        // A listed project implies a childProjects element with content.
        return Ok(config_xml.to_string());
    };
    let kept: Vec<String> = list.into_iter().filter(|p| p != project).collect();
    let text = quick_xml::escape::escape(kept.join(separator(&layout.child_text))).into_owned();
    Ok(splice(config_xml, start.end..end.start, &text))
}

/// One lock per (Jenkins account, job) for this process.
fn job_lock(account: &str, job: &str) -> Arc<tokio::sync::Mutex<()>> {
    type Locks = Mutex<HashMap<(String, String), Arc<tokio::sync::Mutex<()>>>>;
    static LOCKS: OnceLock<Locks> = OnceLock::new();
    let mut map = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    map.entry((account.to_string(), job.to_string()))
        .or_default()
        .clone()
}

/// The downstream list of a job's config, refusing folders.
fn listed(job: &str, config: &str) -> Result<Vec<String>> {
    let layout = scan(config)?;
    if is_folder_class(&layout.root_name) {
        return Err(Error::conflict(format!(
            "{job} is a folder, not a job: it has no downstream jobs"
        )));
    }
    Ok(split_projects(&layout.child_text))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Edit {
    Add,
    Remove,
}

impl JenkinsCi {
    /// `downstream_jobs`: one read of the job's config.xml.
    pub(crate) async fn read_downstream(&self, job: &str) -> Result<Option<Vec<String>>> {
        let ctx = context("ci.downstream_jobs", job);
        let job = validate::jenkins_job_path("job path", job).map_err(&ctx)?;
        match self.read_config(&job).await.map_err(&ctx)? {
            None => Ok(None),
            Some(config) => listed(&job, &config).map(Some).map_err(&ctx),
        }
    }

    /// `add_downstream` / `remove_downstream`: read, edit, write when it changed, read again
    /// to verify, under the process's lock of (account, job).
    pub(crate) async fn edit_downstream(
        &self,
        job: &str,
        downstream: &str,
        edit: Edit,
    ) -> Result<Option<Linked>> {
        let operation = match edit {
            Edit::Add => "ci.add_downstream",
            Edit::Remove => "ci.remove_downstream",
        };
        let ctx = context(operation, job);
        let job = validate::jenkins_job_path("job path", job).map_err(&ctx)?;
        let downstream = validate::jenkins_job_path("downstream", downstream).map_err(&ctx)?;
        check_project(&downstream).map_err(&ctx)?;
        let lock = job_lock(&self.url_account(), &job);
        let _guard = lock.lock().await;
        self.edit_locked(&job, &downstream, edit)
            .await
            .map_err(&ctx)
    }

    async fn edit_locked(&self, job: &str, downstream: &str, edit: Edit) -> Result<Option<Linked>> {
        let Some(mut config) = self.read_config(job).await? else {
            return Ok(None);
        };
        let was_listed = listed(job, &config)?.iter().any(|p| p == downstream);
        if edit == Edit::Add {
            // the reference is the resource of a `ci.downstream` step
            provisio::existence::found(was_listed);
        }
        let mut writes = 0;
        loop {
            let new = match edit {
                Edit::Add => add_child_project(&config, downstream)?,
                Edit::Remove => remove_child_project(&config, downstream)?,
            };
            if new == config {
                // Nothing (more) to do: the first read had it so, or our write stuck.
                return Ok(Some(Linked {
                    was_listed,
                    changed: writes > 0,
                }));
            }
            if writes == EDIT_ATTEMPTS {
                return Err(Error::conflict(format!(
                    "the configuration of {job:?} kept changing under us: {} {downstream:?} \
                     did not stick after {EDIT_ATTEMPTS} writes",
                    match edit {
                        Edit::Add => "adding",
                        Edit::Remove => "removing",
                    }
                )));
            }
            match self.post_config(job, &new).await {
                Ok(()) => writes += 1,
                // deleted since we read it
                Err(e) if e.kind() == &ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            }
            // Jenkins has no compare-and-set: a writer elsewhere may have written between our
            // read and our write. Read again; the edit above is a no-op when ours stuck.
            match self.read_config(job).await? {
                Some(c) => config = c,
                None => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The downstream projects listed in the job's `BuildTrigger` publisher, in document order
    /// (empty when the job has no such publisher).
    fn child_projects(config_xml: &str) -> Result<Vec<String>> {
        Ok(split_projects(&scan(config_xml)?.child_text))
    }

    const FREESTYLE: &str = "<?xml version='1.1' encoding='UTF-8'?>
<project>
  <description>Builds every tenant &amp; more</description>
  <keepDependencies>false</keepDependencies>
  <!-- managed by hand: keep this comment -->
  <builders>
    <hudson.tasks.Shell>
      <command>echo ${BUILD_NUMBER} &lt;x&gt;</command>
    </hudson.tasks.Shell>
  </builders>
  <publishers>
    <hudson.tasks.Mailer plugin=\"mailer@1.34\">
      <recipients>ops@example.com</recipients>
    </hudson.tasks.Mailer>
    <hudson.tasks.BuildTrigger>
      <childProjects>tenants/globex/build, tenants/initech/build</childProjects>
      <threshold>
        <name>UNSTABLE</name>
        <ordinal>1</ordinal>
        <color>YELLOW</color>
        <completeBuild>true</completeBuild>
      </threshold>
    </hudson.tasks.BuildTrigger>
  </publishers>
  <buildWrappers/>
</project>";

    /// Checks that `after` differs from `before` only inside one contiguous region.
    fn changed_region<'a>(before: &'a str, after: &'a str) -> (&'a str, &'a str) {
        let prefix = before
            .bytes()
            .zip(after.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        let suffix = before[prefix..]
            .bytes()
            .rev()
            .zip(after[prefix..].bytes().rev())
            .take_while(|(a, b)| a == b)
            .count();
        (
            &before[prefix..before.len() - suffix],
            &after[prefix..after.len() - suffix],
        )
    }

    #[test]
    fn reads_the_existing_list() {
        assert_eq!(
            child_projects(FREESTYLE).unwrap(),
            ["tenants/globex/build", "tenants/initech/build"]
        );
        assert!(child_projects("<project/>").unwrap().is_empty());
        assert!(
            child_projects("<project><publishers><hudson.tasks.BuildTrigger><childProjects/></hudson.tasks.BuildTrigger></publishers></project>")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn adds_to_an_existing_list_keeping_everything_else() {
        let out = add_child_project(FREESTYLE, "tenants/acme/build").unwrap();
        assert_eq!(
            child_projects(&out).unwrap(),
            [
                "tenants/globex/build",
                "tenants/initech/build",
                "tenants/acme/build"
            ]
        );
        // Only the list text changed; the separator style ", " was kept.
        let (old, new) = changed_region(FREESTYLE, &out);
        assert_eq!(old, "");
        assert_eq!(new, ", tenants/acme/build");
        assert!(out.contains("<name>UNSTABLE</name>"));
        assert!(out.contains("<!-- managed by hand: keep this comment -->"));
        assert!(out.starts_with("<?xml version='1.1' encoding='UTF-8'?>"));
    }

    #[test]
    fn adding_twice_is_a_no_op() {
        let once = add_child_project(FREESTYLE, "tenants/acme/build").unwrap();
        let twice = add_child_project(&once, "tenants/acme/build").unwrap();
        assert_eq!(once, twice);
        assert_eq!(
            add_child_project(FREESTYLE, "tenants/globex/build").unwrap(),
            FREESTYLE
        );
        // Whitespace around names does not make a second entry.
        assert_eq!(
            add_child_project(FREESTYLE, " tenants/initech/build ").unwrap(),
            FREESTYLE
        );
    }

    #[test]
    fn removes_one_reference_and_keeps_the_others() {
        let out = remove_child_project(FREESTYLE, "tenants/globex/build").unwrap();
        assert_eq!(child_projects(&out).unwrap(), ["tenants/initech/build"]);
        let (old, new) = changed_region(FREESTYLE, &out);
        assert_eq!((old, new), ("globex/build, tenants/", ""));
    }

    #[test]
    fn removing_a_missing_reference_is_a_no_op() {
        assert_eq!(
            remove_child_project(FREESTYLE, "tenants/acme/build").unwrap(),
            FREESTYLE
        );
        assert_eq!(
            remove_child_project("<project/>", "tenants/acme/build").unwrap(),
            "<project/>"
        );
        // A name that only contains a listed one is not that one.
        assert_eq!(
            remove_child_project(FREESTYLE, "globex/build").unwrap(),
            FREESTYLE
        );
    }

    #[test]
    fn removing_the_last_reference_keeps_the_publisher() {
        let xml = "<project>\n  <publishers>\n    <hudson.tasks.BuildTrigger>\n      <childProjects>a</childProjects>\n      <threshold><name>FAILURE</name></threshold>\n    </hudson.tasks.BuildTrigger>\n  </publishers>\n</project>";
        let out = remove_child_project(xml, "a").unwrap();
        assert!(child_projects(&out).unwrap().is_empty());
        assert_eq!(
            out,
            xml.replace(
                "<childProjects>a</childProjects>",
                "<childProjects></childProjects>"
            )
        );
        // Add again: the configured threshold survived.
        let back = add_child_project(&out, "a").unwrap();
        assert_eq!(back, xml);
    }

    #[test]
    fn add_then_remove_round_trips_an_existing_list() {
        let added = add_child_project(FREESTYLE, "tenants/acme/build").unwrap();
        assert_eq!(
            remove_child_project(&added, "tenants/acme/build").unwrap(),
            FREESTYLE
        );
    }

    #[test]
    fn creates_the_publisher_when_publishers_is_empty() {
        let xml = "<?xml version='1.1' encoding='UTF-8'?>\n<project>\n  <builders/>\n  <publishers/>\n  <buildWrappers/>\n</project>\n";
        let out = add_child_project(xml, "tenants/acme/build").unwrap();
        let expected = "<?xml version='1.1' encoding='UTF-8'?>\n<project>\n  <builders/>\n  <publishers>\n    <hudson.tasks.BuildTrigger>\n      <childProjects>tenants/acme/build</childProjects>\n      <threshold>\n        <name>SUCCESS</name>\n        <ordinal>0</ordinal>\n        <color>BLUE</color>\n        <completeBuild>true</completeBuild>\n      </threshold>\n    </hudson.tasks.BuildTrigger>\n  </publishers>\n  <buildWrappers/>\n</project>\n";
        assert_eq!(out, expected);
        assert_eq!(add_child_project(&out, "tenants/acme/build").unwrap(), out);
    }

    #[test]
    fn creates_the_publisher_among_other_publishers() {
        let xml =
            "<project>\n  <publishers>\n    <hudson.tasks.Mailer/>\n  </publishers>\n</project>";
        let out = add_child_project(xml, "x").unwrap();
        assert!(out.starts_with("<project>\n  <publishers>\n    <hudson.tasks.Mailer/>\n    <hudson.tasks.BuildTrigger>\n      <childProjects>x</childProjects>"), "{out}");
        assert!(
            out.ends_with("    </hudson.tasks.BuildTrigger>\n  </publishers>\n</project>"),
            "{out}"
        );
        // An empty, non-self-closing publishers element.
        let out = add_child_project("<project><publishers></publishers></project>", "x").unwrap();
        assert_eq!(child_projects(&out).unwrap(), ["x"]);
        assert!(
            out.ends_with("</hudson.tasks.BuildTrigger>\n</publishers></project>"),
            "{out}"
        );
    }

    #[test]
    fn creates_publishers_when_absent() {
        let xml = "<project>\n  <actions/>\n  <builders/>\n</project>";
        let out = add_child_project(xml, "x").unwrap();
        assert!(out.starts_with("<project>\n  <actions/>\n  <builders/>\n  <publishers>\n    <hudson.tasks.BuildTrigger>\n"), "{out}");
        assert!(
            out.ends_with("    </hudson.tasks.BuildTrigger>\n  </publishers>\n</project>"),
            "{out}"
        );
        assert_eq!(child_projects(&out).unwrap(), ["x"]);
        // A self-closing root keeps its attributes.
        let out = add_child_project("<maven2-moduleset plugin=\"maven-plugin@3\"/>", "x").unwrap();
        assert!(
            out.starts_with("<maven2-moduleset plugin=\"maven-plugin@3\">\n  <publishers>"),
            "{out}"
        );
        assert!(out.ends_with("</publishers>\n</maven2-moduleset>"), "{out}");
        assert_eq!(child_projects(&out).unwrap(), ["x"]);
    }

    #[test]
    fn fills_a_trigger_without_a_list() {
        let xml = "<project>\n  <publishers>\n    <hudson.tasks.BuildTrigger>\n      <threshold><name>SUCCESS</name></threshold>\n    </hudson.tasks.BuildTrigger>\n  </publishers>\n</project>";
        let out = add_child_project(xml, "x").unwrap();
        assert_eq!(
            out,
            xml.replace(
                "<hudson.tasks.BuildTrigger>",
                "<hudson.tasks.BuildTrigger>\n      <childProjects>x</childProjects>"
            )
        );
        let empty_list = xml.replace("<threshold>", "<childProjects/>\n      <threshold>");
        let out = add_child_project(&empty_list, "x").unwrap();
        assert_eq!(
            out,
            xml.replace(
                "<threshold>",
                "<childProjects>x</childProjects>\n      <threshold>"
            )
        );
        let self_closing =
            "<project><publishers><hudson.tasks.BuildTrigger/></publishers></project>";
        let out = add_child_project(self_closing, "x").unwrap();
        assert_eq!(child_projects(&out).unwrap(), ["x"]);
        assert!(out.contains("<name>SUCCESS</name>"));
    }

    #[test]
    fn uses_comma_without_space_when_the_list_does() {
        let xml = "<project><publishers><hudson.tasks.BuildTrigger><childProjects>a,b</childProjects></hudson.tasks.BuildTrigger></publishers></project>";
        let out = add_child_project(xml, "c").unwrap();
        assert!(
            out.contains("<childProjects>a,b,c</childProjects>"),
            "{out}"
        );
        let out = remove_child_project(&out, "b").unwrap();
        assert!(out.contains("<childProjects>a,c</childProjects>"), "{out}");
    }

    #[test]
    fn escapes_and_unescapes_names() {
        let out = add_child_project("<project/>", "it's \"quoted\"").unwrap();
        assert!(out.contains("it&apos;s &quot;quoted&quot;"), "{out}");
        assert_eq!(child_projects(&out).unwrap(), ["it's \"quoted\""]);
        let xml = "<project><publishers><hudson.tasks.BuildTrigger><childProjects>a&#44;b, c&amp;d</childProjects></hudson.tasks.BuildTrigger></publishers></project>";
        assert_eq!(child_projects(xml).unwrap(), ["a", "b", "c&d"]);
        let cdata = "<project><publishers><hudson.tasks.BuildTrigger><childProjects><![CDATA[x, y]]></childProjects></hudson.tasks.BuildTrigger></publishers></project>";
        assert_eq!(child_projects(cdata).unwrap(), ["x", "y"]);
    }

    #[test]
    fn ignores_nested_publishers() {
        // Publishers of a promotion process (not a direct child of the root) are not the job's.
        let xml = "<project>\n  <properties>\n    <publishers>\n      <hudson.tasks.BuildTrigger><childProjects>inner</childProjects></hudson.tasks.BuildTrigger>\n    </publishers>\n  </properties>\n  <publishers/>\n</project>";
        assert!(child_projects(xml).unwrap().is_empty());
        let out = add_child_project(xml, "x").unwrap();
        assert!(out.contains("<childProjects>inner</childProjects>"));
        assert!(out.contains("  <publishers>\n    <hudson.tasks.BuildTrigger>\n      <childProjects>x</childProjects>"), "{out}");
        assert_eq!(child_projects(&out).unwrap(), ["x"]);
        assert_eq!(remove_child_project(xml, "inner").unwrap(), xml);
    }

    #[test]
    fn rejects_malformed_documents_and_bad_names() {
        for bad in [
            "<project><publishers></project>",
            "<project>",
            "",
            "not xml",
            "<a/><b/>",
            "<project><publishers><hudson.tasks.BuildTrigger><childProjects><x/></childProjects></hudson.tasks.BuildTrigger></publishers></project>",
        ] {
            let e = add_child_project(bad, "x").unwrap_err();
            assert_eq!(e.kind(), &ErrorKind::InvalidInput, "{bad:?}: {e}");
        }
        for bad in ["", "a,b", "a\nb"] {
            let e = add_child_project("<project/>", bad).unwrap_err();
            assert!(e.to_string().contains("invalid downstream"), "{e}");
        }
    }

    #[test]
    fn pipeline_jobs_are_unsupported() {
        let xml = "<flow-definition plugin=\"workflow-job@2.40\"><definition/></flow-definition>";
        let e = add_child_project(xml, "x").unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Unsupported);
        assert_eq!(remove_child_project(xml, "x").unwrap(), xml);
    }
}

//! The limits every read file is held to.

/// What a file may cost to read. The defaults fit every file provisio documents by a wide
/// margin and refuse hostile ones in milliseconds:
///
/// | limit | default | applies to |
/// |---|---|---|
/// | [`max_bytes`](Self::max_bytes) | 4 MiB | every file, checked before it is read whole |
/// | [`max_depth`](Self::max_depth) | 64 | nested mappings/sequences (objects/arrays, tables/arrays) in YAML, TOML and JSON |
/// | [`max_nodes`](Self::max_nodes) | 200,000 | YAML nodes (scalars and collections), aliases expanded |
/// | [`max_alias_events`](Self::max_alias_events) | 10,000 | YAML events replayed through aliases (`*name`) |
///
/// ```
/// let limits = provisio_loader::Limits::default().with_max_bytes(64 * 1024);
/// assert_eq!(limits.max_bytes, 65_536);
/// assert_eq!(limits.max_depth, 64);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest file, in bytes. A file is refused from its metadata when it says it is
    /// larger, and read through a bounded reader otherwise (a growing file or a device is cut
    /// off at the limit, never read whole).
    pub max_bytes: u64,
    /// The deepest nesting of collections; the top-level mapping is level 1. Enforced while
    /// parsing (YAML), by a linear scan before parsing (JSON) or on the parsed syntax tree
    /// before any value is built (TOML), so a deep document costs time linear in its size.
    pub max_depth: usize,
    /// The most YAML nodes a document may produce, counting the nodes aliases expand to.
    pub max_nodes: usize,
    /// The most YAML events aliases may replay in one document: the anchor/alias expansion
    /// budget that refuses "billion laughs" documents.
    pub max_alias_events: usize,
}

impl Limits {
    /// The default size limit: 4 MiB.
    pub const DEFAULT_MAX_BYTES: u64 = 4 * 1024 * 1024;
    /// The default depth limit: 64 levels.
    pub const DEFAULT_MAX_DEPTH: usize = 64;
    /// The default YAML node limit.
    pub const DEFAULT_MAX_NODES: usize = 200_000;
    /// The default YAML alias expansion budget.
    pub const DEFAULT_MAX_ALIAS_EVENTS: usize = 10_000;

    /// The same with another size limit.
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }
    /// The same with another depth limit.
    pub fn with_max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }
    /// The same with another YAML node limit.
    pub fn with_max_nodes(mut self, max_nodes: usize) -> Self {
        self.max_nodes = max_nodes;
        self
    }
    /// The same with another YAML alias expansion budget.
    pub fn with_max_alias_events(mut self, max_alias_events: usize) -> Self {
        self.max_alias_events = max_alias_events;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_nodes: Self::DEFAULT_MAX_NODES,
            max_alias_events: Self::DEFAULT_MAX_ALIAS_EVENTS,
        }
    }
}

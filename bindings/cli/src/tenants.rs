//! The tenants file of a fleet run: CSV or JSON, read by `provisio_loader::tenants` (size
//! limit, tenant name rules, errors naming the row and column).

use provisio::Result;
use std::path::Path;

pub(crate) use provisio_loader::tenants::TenantRow;

/// Reads a tenants file: `.csv` (header with a `name` column; other columns are variables,
/// empty cells are left out) or `.json` (an array of objects with `name`; the other keys, or a
/// `vars` object, are variables).
pub(crate) fn read(path: &Path) -> Result<Vec<TenantRow>> {
    provisio_loader::tenants::load_tenants(path, &provisio_loader::Limits::default())
}

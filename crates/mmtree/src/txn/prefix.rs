//! Prefix scans (sled's `scan_prefix`): the entries whose keys start with a prefix, as a
//! [`Range`] — in key order, from either end.

use super::{Range, ReadTable, Table};
use crate::error::Result;
use std::ops::Bound;

/// The smallest key greater than every key starting with `prefix`; `None` when there is none
/// (the prefix is empty or all 0xff bytes).
pub(super) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// `[prefix, prefix_end)` as range bounds.
pub(super) fn bounds<'k>(
    prefix: &'k [u8],
    end: &'k Option<Vec<u8>>,
) -> (Bound<&'k [u8]>, Bound<&'k [u8]>) {
    (
        Bound::Included(prefix),
        end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
    )
}

impl<'t> ReadTable<'t> {
    /// The entries whose keys start with `prefix`, in key order (`.rev()` for the largest
    /// first); `prefix` is anything that is bytes: `b"user:"`, `"user:"`, a `Vec<u8>`.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let mut w = db.begin_write()?;
    /// {
    ///     let mut t = w.table("t")?;
    ///     for key in ["user:1", "user:2", "video:1"] {
    ///         t.insert(key.as_bytes(), b"")?;
    ///     }
    /// }
    /// w.commit()?;
    /// let r = db.begin_read()?;
    /// let t = r.table("t")?.expect("created above");
    /// let users: Vec<&[u8]> = t.prefix("user:")?.map(|e| e.map(|(k, _)| k)).collect::<Result<_, _>>()?;
    /// assert_eq!(users, [&b"user:1"[..], b"user:2"]);
    /// # Ok(()) }
    /// ```
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Result<Range<'t>> {
        let prefix = prefix.as_ref();
        let end = prefix_end(prefix);
        self.range(bounds(prefix, &end))
    }
}

impl Table<'_> {
    /// The entries whose keys start with `prefix`, in key order, as
    /// [`ReadTable::prefix`] (this transaction's own changes included).
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let mut w = db.begin_write()?;
    /// let mut t = w.table("t")?;
    /// for key in ["user:1", "user:2", "video:1"] {
    ///     t.insert(key, "")?;
    /// }
    /// assert_eq!(t.prefix("user:")?.count(), 2);
    /// let last = t.prefix("user:")?.next_back().transpose()?;
    /// assert_eq!(last.map(|(k, _)| k), Some(&b"user:2"[..]));
    /// # Ok(()) }
    /// ```
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Result<Range<'_>> {
        let prefix = prefix.as_ref();
        let end = prefix_end(prefix);
        self.range(bounds(prefix, &end))
    }
}

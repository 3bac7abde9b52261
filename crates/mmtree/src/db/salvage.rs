//! Salvage when the catalog is lost (see `check::salvage_lost`).

use super::Db;
use crate::error::Result;

impl Db {
    /// Salvage when the catalog (the list of tables) is damaged, as after a truncation that
    /// took the end of the file: the leaf pages that no readable tree reaches and the freelist
    /// does not list are read by their contents, grouped so that each group's leaves do not
    /// overlap (a table's never do: the entries of one table land in one group), and handed to
    /// `visit(group, key, value)` in key order within each group (groups from 0). The table
    /// names are lost with the catalog. Needs the freelist whole (else old freed pages could not
    /// be told from live ones); the report says when it is not. Nothing is written.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let report = db.salvage_lost(|group, key, value| {
    ///     println!("lost+found {group}: {key:?} = {value:?}");
    /// })?;
    /// assert_eq!(report.entries, 0); // a healthy file has no lost leaves
    /// # Ok(()) }
    /// ```
    pub fn salvage_lost(
        &self,
        mut visit: impl FnMut(usize, &[u8], &[u8]),
    ) -> Result<crate::check::SalvageReport> {
        let read = self.begin_read()?;
        Ok(crate::check::salvage_lost(&read, &mut visit))
    }
}

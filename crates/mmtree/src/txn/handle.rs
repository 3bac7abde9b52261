//! Several tables of one write transaction at once: [`TableHandle`], a table named by a handle
//! that borrows nothing, whose methods take the transaction (heed's `Database` style).
//!
//! Why not handles that borrow the transaction shared and reach its state through a `RefCell`
//! (redb's style)? Reads here return slices that point into the transaction's own memory (dirty
//! pages, the write buffer's values) with no copy. A write to one table may move memory every
//! table's slices point into: a large transaction spills dirty pages to the file and frees
//! their buffers, and a transaction that outgrows its log record merges the write buffer into
//! the trees and drops it. So a value read from table A must keep *the whole transaction* from
//! being written while it lives, which is what `get(&WriteTransaction)` and
//! `insert(&mut WriteTransaction)` say to the borrow checker. redb pays for its style with
//! reference-counted page guards on every read.

use super::{KeyRange, Range, WriteTransaction};
use crate::error::Result;

/// A table of a write transaction, held by name: it borrows nothing, so a transaction can have
/// any number of them at once, and reads from one while holding values read from another. Each
/// method takes the transaction: `&mut` to write, `&` to read. From
/// [`WriteTransaction::table_handle`].
///
/// ```
/// # fn main() -> mmtree::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
/// let mut w = db.begin_write()?;
/// let users = w.table_handle("users")?;
/// let by_email = w.table_handle("by_email")?;
/// for (id, email) in [("1", "ann@example.com"), ("2", "bo@example.com")] {
///     users.insert(&mut w, id, email)?;
///     by_email.insert(&mut w, email, id)?;
/// }
/// // Reads borrow the transaction shared: values from both tables at once.
/// let id = by_email.get(&w, "bo@example.com")?.expect("inserted above");
/// assert_eq!(users.get(&w, id)?, Some(&b"bo@example.com"[..]));
/// w.commit()?;
/// # Ok(()) }
/// ```
///
/// A value read through a handle borrows the transaction, so it cannot outlive the next write
/// to any table (which may move the memory it points into); copy it first (`.to_vec()`):
///
/// ```compile_fail,E0502
/// # fn main() -> mmtree::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
/// let mut w = db.begin_write()?;
/// let (a, b) = (w.table_handle("a")?, w.table_handle("b")?);
/// a.insert(&mut w, "k", "v")?;
/// let v = a.get(&w, "k")?.unwrap();
/// b.insert(&mut w, "k", v)?; // error[E0502]: `w` is borrowed by `v`
/// # Ok(()) }
/// ```
///
/// A handle names its table and nothing more: a write through it after the table was deleted
/// (or renamed) in the same transaction creates it again, as [`WriteTransaction::table`] does,
/// and reads of a table that no longer exists find nothing. Handles of the same table are
/// interchangeable; there is no state in them to disagree.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TableHandle {
    name: Box<str>,
}

impl WriteTransaction {
    /// Opens a table, creating it if it does not exist, as a [`TableHandle`]: a handle that
    /// borrows nothing, so several tables can be open at once.
    pub fn table_handle(&mut self, name: &str) -> Result<TableHandle> {
        self.table(name)?;
        Ok(TableHandle { name: name.into() })
    }
}

impl TableHandle {
    /// A handle of the table `name` without a transaction: nothing is created or logged until
    /// a write through it (which creates the table, as [`WriteTransaction::table`] does), and
    /// reads of a table that does not exist find nothing. For callers that keep their handles
    /// (and read a table without opening it, which in a logged transaction costs a table
    /// switch in the commit's record). Refuses a name no table can have.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let counts = mmtree::TableHandle::named("counts")?;
    /// let mut w = db.begin_write()?;
    /// assert_eq!(counts.get(&w, "a")?, None);
    /// assert!(!w.has_table("counts")?); // reading created nothing
    /// counts.insert(&mut w, "a", "1")?;
    /// assert_eq!(counts.get(&w, "a")?, Some(&b"1"[..]));
    /// w.commit()?;
    /// assert!(mmtree::TableHandle::named("").is_err());
    /// # Ok(()) }
    /// ```
    pub fn named(name: &str) -> Result<TableHandle> {
        crate::catalog::check_table_name(name)?;
        Ok(TableHandle { name: name.into() })
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Inserts or replaces the value under `key`; see [`Table::insert`](crate::Table::insert).
    pub fn insert(
        &self,
        txn: &mut WriteTransaction,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<()> {
        txn.table_borrowing(&self.name)?.insert(key, value)
    }

    /// Removes `key`; returns true if it was there.
    pub fn remove(&self, txn: &mut WriteTransaction, key: impl AsRef<[u8]>) -> Result<bool> {
        txn.table_borrowing(&self.name)?.remove(key)
    }

    /// Removes `key` if it is there, without saying whether it was; see
    /// [`Table::delete`](crate::Table::delete).
    pub fn delete(&self, txn: &mut WriteTransaction, key: impl AsRef<[u8]>) -> Result<()> {
        txn.table_borrowing(&self.name)?.delete(key)
    }

    /// The value under `key` (the transaction's writes included); it borrows the transaction,
    /// so no write can happen while it is alive.
    pub fn get<'w>(
        &self,
        txn: &'w WriteTransaction,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<&'w [u8]>> {
        match txn.peek_table(&self.name)? {
            Some(table) => super::get_noting(&txn.core, table.root, table.buf, key.as_ref()),
            None => Ok(None),
        }
    }

    /// Entries with keys in `range`, in key order; see [`ReadTable::range`](crate::ReadTable::range).
    pub fn range<'w, R: KeyRange>(&self, txn: &'w WriteTransaction, range: R) -> Result<Range<'w>> {
        let table = txn.peek_table(&self.name)?;
        let (root, buf) = table.map_or((None, None), |t| (t.root, t.buf));
        Ok(super::public_range(&txn.core, root, buf, &range))
    }

    /// The entries whose keys start with `prefix`, in key order; see
    /// [`ReadTable::prefix`](crate::ReadTable::prefix).
    pub fn prefix<'w>(
        &self,
        txn: &'w WriteTransaction,
        prefix: impl AsRef<[u8]>,
    ) -> Result<Range<'w>> {
        let prefix = prefix.as_ref();
        let end = super::prefix::prefix_end(prefix);
        self.range(txn, super::prefix::bounds(prefix, &end))
    }

    /// The entry with the smallest key.
    pub fn first<'w>(&self, txn: &'w WriteTransaction) -> Result<Option<(&'w [u8], &'w [u8])>> {
        self.range(txn, ..)?.next().transpose()
    }

    /// The entry with the largest key.
    pub fn last<'w>(&self, txn: &'w WriteTransaction) -> Result<Option<(&'w [u8], &'w [u8])>> {
        self.range(txn, ..)?.next_back().transpose()
    }

    /// Number of entries (0 if the table no longer exists).
    pub fn len(&self, txn: &WriteTransaction) -> Result<u64> {
        match txn.peek_table(&self.name)? {
            Some(t) => super::buffered_len(&txn.core, t.root, t.tree_len, t.buf),
            None => Ok(0),
        }
    }

    /// True when the table has no entries.
    pub fn is_empty(&self, txn: &WriteTransaction) -> Result<bool> {
        Ok(self.len(txn)? == 0)
    }
}

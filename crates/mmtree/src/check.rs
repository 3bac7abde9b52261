//! The full integrity walk: every checksum, key order within and across pages, every page
//! reachable exactly once or free exactly once, entry counts, free-page count.

use crate::alloc::decode_record;
use crate::btree::node::NodeRef;
use crate::catalog::decode_table_entry;
use crate::limits::TREE_DEPTH_MAX;
use crate::page::overflow_pages;
use crate::page::view::{PageView, ValueRef};
use crate::pager::Verify;
use crate::txn::ReadTransaction;
use std::fmt;

/// One problem found by [`crate::Db::check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The page concerned, when there is one.
    pub page: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.page {
            Some(page) => write!(f, "page {page}: {}", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

/// Per-table figures from a check.
#[derive(Clone, Debug)]
pub struct TableReport {
    /// The table's name.
    pub name: String,
    /// Entries found (in the tree, plus the write buffer's changes: the table's length as of
    /// the checked commit).
    pub entries: u64,
    /// Levels from root to leaves (0 for an empty table).
    pub depth: usize,
    /// Branch, leaf and overflow pages.
    pub pages: u64,
}

/// What [`crate::Db::check`] found.
#[derive(Clone, Debug)]
pub struct CheckReport {
    /// The commit that was checked.
    pub txn_id: u64,
    /// Pages the commit uses, meta and free pages included.
    pub page_count: u64,
    /// Pages reachable from a tree (meta pages included).
    pub pages_in_use: u64,
    /// Pages listed in the freelist.
    pub pages_free: u64,
    /// Each table.
    pub tables: Vec<TableReport>,
    /// Every problem found; empty for a healthy file.
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// True when no problem was found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What [`crate::Db::salvage`] could read of a table.
#[derive(Clone, Debug)]
pub struct SalvageReport {
    /// Entries handed to the visitor.
    pub entries: u64,
    /// What was skipped: pages that could not be read (their whole subtree is skipped), cells
    /// that could not be decoded, and any other damage seen on the way.
    pub problems: Vec<Problem>,
}

/// Reads what can be read of table `name` in key order, skipping damaged pages instead of
/// stopping at the first (the integrity walk, with a visitor). `None`: the catalog has no
/// entry for `name` (and was read in full).
///
/// A damaged or missing branch page hides the leaves below it; they are found again by their
/// contents: every page that no tree reaches and the freelist does not list (the pages of the
/// lost subtrees, and nothing else) and that reads as a leaf whose keys all lie in the key
/// range of one lost subtree of this table, and of no other table's, is read in its place, in
/// key order. This needs the catalog and the freelist whole (else an old, freed page could not
/// be told from a live one, and old values would come back); the report says when it could not
/// be done.
pub(crate) fn salvage(
    read: &ReadTransaction,
    name: &str,
    visit: &mut dyn FnMut(&[u8], &[u8]),
) -> Option<SalvageReport> {
    let meta = *read.meta();
    // First pass: every tree and the freelist, to learn which pages nothing reaches and where
    // each table lost subtrees.
    let mut survey = Walker::new(read);
    let mut catalog = Vec::new();
    if meta.catalog_root != 0 {
        survey.walk(
            meta.catalog_root,
            None,
            None,
            0,
            &mut TreeFigures::default(),
            &mut |_, key, value, _| catalog.push((key.to_vec(), value.to_vec())),
        );
    }
    let catalog_whole = survey.lost.is_empty();
    let catalog_problems = std::mem::take(&mut survey.problems);
    let Some(entry) = catalog
        .iter()
        .find(|(key, _)| key == name.as_bytes())
        .map(|(_, value)| value.clone())
    else {
        if catalog_whole {
            return None;
        }
        let mut problems = catalog_problems;
        problems.push(Problem {
            page: None,
            message: format!(
                "table {name:?} is not in what could be read of the catalog (the list of tables)"
            ),
        });
        return Some(SalvageReport {
            entries: 0,
            problems,
        });
    };
    let (root, _) = match decode_table_entry(&entry) {
        Ok(decoded) => decoded,
        Err(error) => {
            return Some(SalvageReport {
                entries: 0,
                problems: vec![Problem {
                    page: None,
                    message: format!("table {name:?}: {error}"),
                }],
            });
        }
    };
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for (key, value) in &catalog {
        if let Ok((Some(NodeRef::Page(other)), _)) = decode_table_entry(value) {
            survey.walk(
                other,
                None,
                None,
                0,
                &mut TreeFigures::default(),
                &mut |_, _, _, _| {},
            );
            let lost = std::mem::take(&mut survey.lost);
            if key == name.as_bytes() {
                ours = lost;
            } else {
                theirs.extend(lost);
            }
        }
    }
    let mut orphans = Orphans::default();
    if !ours.is_empty() {
        survey.lost.clear();
        let freelist_whole = mark_free(&mut survey, &meta) && survey.lost.is_empty();
        if catalog_whole && freelist_whole {
            orphans = find_orphans(&survey, &ours, &theirs);
        } else {
            orphans.note = Some(format!(
                "the leaves below the lost pages were not looked for: the {} is damaged too, so \
                 a live page could not be told from an old freed one",
                if catalog_whole { "freelist" } else { "catalog" }
            ));
        }
    }
    // Second pass: this table in key order, the orphan leaves in their lost subtrees' places.
    let mut walker = Walker::new(read);
    walker.orphans = orphans.by_range;
    let mut entries = 0;
    if let Some(NodeRef::Page(root)) = root {
        walker.walk(
            root,
            None,
            None,
            0,
            &mut TreeFigures::default(),
            &mut |_, key, value, _| {
                entries += 1;
                visit(key, value);
            },
        );
    }
    let mut problems = walker.problems;
    if orphans.found > 0 {
        problems.push(Problem {
            page: None,
            message: format!(
                "{} leaf page(s) below the lost pages were found by their contents and read",
                orphans.found
            ),
        });
    }
    if let Some(note) = orphans.note {
        problems.push(Problem {
            page: None,
            message: note,
        });
    }
    Some(SalvageReport { entries, problems })
}

/// Called for each entry found by its contents: (group, key, value).
pub(crate) type GroupVisitor<'v> = dyn FnMut(usize, &[u8], &[u8]) + 'v;

pub(crate) fn salvage_lost(read: &ReadTransaction, visit: &mut GroupVisitor<'_>) -> SalvageReport {
    let meta = *read.meta();
    let mut survey = Walker::new(read);
    let mut catalog = Vec::new();
    if meta.catalog_root != 0 {
        survey.walk(
            meta.catalog_root,
            None,
            None,
            0,
            &mut TreeFigures::default(),
            &mut |_, _, value, _| catalog.push(value.to_vec()),
        );
    }
    for entry in &catalog {
        if let Ok((Some(NodeRef::Page(root)), _)) = decode_table_entry(entry) {
            survey.walk(
                root,
                None,
                None,
                0,
                &mut TreeFigures::default(),
                &mut |_, _, _, _| {},
            );
        }
    }
    let mut problems = std::mem::take(&mut survey.problems);
    if !mark_free(&mut survey, &meta) {
        problems.append(&mut survey.problems);
        problems.push(Problem {
            page: None,
            message: "the freelist is damaged too, so a live page could not be told from an old \
                      freed one: no leaves were read by their contents"
                .into(),
        });
        return SalvageReport {
            entries: 0,
            problems,
        };
    }
    let mut leaves = unreached_leaves(&survey);
    leaves.sort();
    // Each leaf joins the first group whose last key is below its first key.
    let mut groups: Vec<(Vec<u8>, Vec<u64>)> = Vec::new();
    for (first, last, id) in leaves {
        match groups.iter_mut().find(|(end, _)| *end < first) {
            Some((end, ids)) => {
                *end = last;
                ids.push(id);
            }
            None => groups.push((last, vec![id])),
        }
    }
    let mut walker = Walker::new(read);
    let mut entries = 0;
    for (group, (_, ids)) in groups.iter().enumerate() {
        for &id in ids {
            if walker.mark(id, USED) {
                if let Some(view) = walker.page(id) {
                    walker.leaf_entries(
                        id,
                        &view,
                        &mut TreeFigures::default(),
                        &mut |_, key, value, _| {
                            entries += 1;
                            visit(group, key, value);
                        },
                    );
                }
            }
        }
    }
    problems.append(&mut walker.problems);
    if entries > 0 {
        problems.push(Problem {
            page: None,
            message: format!(
                "{entries} entries in {} group(s) were read from leaf pages found by their \
                 contents; their table names were lost with the catalog",
                groups.len()
            ),
        });
    }
    SalvageReport { entries, problems }
}

/// A subtree that could not be read: the key range its parent gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Lost {
    low: Option<Vec<u8>>,
    high: Option<Vec<u8>>,
}

impl Lost {
    fn holds(&self, key: &[u8]) -> bool {
        self.low.as_deref().is_none_or(|low| key >= low)
            && self.high.as_deref().is_none_or(|high| key < high)
    }
}

/// The leaf pages no walk reached (unseen in `survey`) that pass their checks and are not newer
/// than the snapshot: (first key, last key, page id) of each, in page order.
fn unreached_leaves(survey: &Walker<'_>) -> Vec<(Vec<u8>, Vec<u8>, u64)> {
    let read = survey.read;
    let mut leaves = Vec::new();
    for id in 2..read.meta().page_count {
        if survey.marks[id as usize] != UNSEEN {
            continue;
        }
        let Ok(view) = read
            .db()
            .pager
            .page(&read.db().storage, read.mapping(), id, Verify::Always)
            .and_then(|bytes| PageView::parse(bytes, id))
        else {
            continue;
        };
        if !view.is_leaf()
            || view.len() == 0
            || view.txn() > read.txn_id()
            || view.validate().is_err()
        {
            continue;
        }
        if let (Ok(first), Ok(last)) = (view.key(0), view.key(view.len() - 1)) {
            leaves.push((first.to_vec(), last.to_vec(), id));
        }
    }
    leaves
}

/// The leaves found for a table's lost subtrees.
#[derive(Default)]
struct Orphans {
    /// Each lost subtree (in walk order) with its leaves, in key order.
    by_range: std::collections::VecDeque<(Lost, Vec<u64>)>,
    found: usize,
    note: Option<String>,
}

/// Leaf pages nothing reaches whose keys all lie in one of `ours` and in none of `theirs`.
fn find_orphans(survey: &Walker<'_>, ours: &[Lost], theirs: &[Lost]) -> Orphans {
    // Per lost subtree: (first key, last key, page) of each leaf found for it.
    type Found = Vec<(Vec<u8>, Vec<u8>, u64)>;
    let mut by_range: Vec<Found> = vec![Vec::new(); ours.len()];
    for (first, last, id) in unreached_leaves(survey) {
        let home: Vec<usize> = (0..ours.len())
            .filter(|&i| ours[i].holds(&first) && ours[i].holds(&last))
            .collect();
        if home.len() == 1 && !theirs.iter().any(|t| t.holds(&first) || t.holds(&last)) {
            by_range[home[0]].push((first, last, id));
        }
    }
    let mut orphans = Orphans::default();
    for (lost, mut leaves) in ours.iter().cloned().zip(by_range) {
        leaves.sort();
        // Leaves of one live subtree never overlap; overlapping ones are not trusted.
        let overlapping = leaves.windows(2).any(|pair| pair[1].0 <= pair[0].1);
        if overlapping {
            orphans.note = Some(format!(
                "leaves found for a lost subtree overlap, so some may be old copies: not read ({} pages)",
                leaves.len()
            ));
            leaves.clear();
        }
        orphans.found += leaves.len();
        orphans
            .by_range
            .push_back((lost, leaves.into_iter().map(|(_, _, id)| id).collect()));
    }
    orphans
}

/// Marks the freelist's own pages and the pages it lists; false if it could not be read whole.
fn mark_free(walker: &mut Walker<'_>, meta: &crate::page::meta::Meta) -> bool {
    let problems_before = walker.problems.len();
    if meta.freelist_root != 0 {
        let mut records: Vec<(Vec<u8>, Vec<u8>, u64)> = Vec::new();
        walker.walk(
            meta.freelist_root,
            None,
            None,
            0,
            &mut TreeFigures::default(),
            &mut |_, key, value, page| records.push((key.to_vec(), value.to_vec(), page)),
        );
        for (key, value, page) in records {
            match decode_record(&key, &value, page) {
                Ok((_, _, pages)) => {
                    for id in pages {
                        if id >= 2 {
                            walker.mark(id, FREE);
                        }
                    }
                }
                Err(error) => walker.problem(Some(page), error.to_string()),
            }
        }
    }
    walker.problems.len() == problems_before
}

const UNSEEN: u8 = 0;
const USED: u8 = 1;
const FREE: u8 = 2;

struct Walker<'a> {
    read: &'a ReadTransaction,
    marks: Vec<u8>,
    problems: Vec<Problem>,
    /// Subtrees that could not be read, in walk order.
    lost: Vec<Lost>,
    /// For salvage: leaves to read in the place of lost subtrees, in walk order.
    orphans: std::collections::VecDeque<(Lost, Vec<u64>)>,
}

#[derive(Default)]
struct TreeFigures {
    entries: u64,
    depth: Option<usize>,
    pages: u64,
}

/// Called for each leaf entry: (walker, key, value cell, page).
type LeafVisitor<'v, 'a> = dyn FnMut(&mut Walker<'a>, &[u8], &[u8], u64) + 'v;

impl<'a> Walker<'a> {
    fn problem(&mut self, page: Option<u64>, message: impl Into<String>) {
        if self.problems.len() < 10_000 {
            self.problems.push(Problem {
                page,
                message: message.into(),
            });
        }
    }

    /// A walk of `read`, with the meta pages marked in use.
    fn new(read: &'a ReadTransaction) -> Walker<'a> {
        let mut marks = vec![UNSEEN; read.meta().page_count as usize];
        marks[..2].fill(USED);
        Walker {
            read,
            marks,
            problems: Vec::new(),
            lost: Vec::new(),
            orphans: std::collections::VecDeque::new(),
        }
    }

    fn mark(&mut self, page: u64, as_what: u8) -> bool {
        let Some(mark) = self.marks.get_mut(page as usize) else {
            self.problem(Some(page), "referenced page is beyond the page count");
            return false;
        };
        if *mark != UNSEEN {
            let message = match (*mark, as_what) {
                (USED, USED) => "page is reachable twice",
                (FREE, FREE) => "page is listed as free twice",
                _ => "page is both in use and listed as free",
            };
            self.problem(Some(page), message);
            return false;
        }
        *mark = as_what;
        true
    }

    fn page(&mut self, id: u64) -> Option<PageView<'a>> {
        if id < 2 {
            self.problem(Some(id), "tree references a meta page");
            return None;
        }
        let read = self.read;
        let result = read
            .db()
            .pager
            .page(&read.db().storage, read.mapping(), id, Verify::Always)
            .and_then(|bytes| PageView::parse(bytes, id));
        match result {
            Ok(view) => Some(view),
            Err(error) => {
                self.problem(Some(id), error.to_string());
                None
            }
        }
    }

    /// Walks a tree; keys must lie in [low, high).
    fn walk(
        &mut self,
        node: u64,
        low: Option<&[u8]>,
        high: Option<&[u8]>,
        depth: usize,
        figures: &mut TreeFigures,
        leaf: &mut LeafVisitor<'_, 'a>,
    ) {
        if depth >= TREE_DEPTH_MAX {
            self.problem(Some(node), "tree is too deep (a cycle?)");
            return;
        }
        if !self.mark(node, USED) {
            return;
        }
        figures.pages += 1;
        let Some(view) = self.page(node) else {
            let lost = Lost {
                low: low.map(<[u8]>::to_vec),
                high: high.map(<[u8]>::to_vec),
            };
            if self
                .orphans
                .front()
                .is_some_and(|(range, _)| *range == lost)
            {
                let (_, leaves) = self.orphans.pop_front().expect("checked");
                for id in leaves {
                    if self.mark(id, USED) {
                        if let Some(view) = self.page(id) {
                            self.leaf_entries(id, &view, &mut TreeFigures::default(), leaf);
                        }
                    }
                }
            }
            self.lost.push(lost);
            return;
        };
        if view.txn() > self.read.txn_id() {
            self.problem(
                Some(node),
                format!(
                    "page written by txn {} is newer than the commit {}",
                    view.txn(),
                    self.read.txn_id()
                ),
            );
        }
        if let Err(error) = view.validate() {
            // Heads, prefix, cell bounds, order: the editing code relies on all of them.
            self.problem(Some(node), error.to_string());
        }
        let mut previous: Option<&[u8]> = None;
        for i in 0..view.len() {
            if !view.is_leaf() && i == 0 {
                continue;
            }
            let key = match view.key(i) {
                Ok(key) => key,
                Err(error) => {
                    self.problem(Some(node), error.to_string());
                    return;
                }
            };
            if previous.is_some_and(|p| key <= p) {
                self.problem(Some(node), format!("keys out of order at index {i}"));
            }
            if low.is_some_and(|l| key < l) || high.is_some_and(|h| key >= h) {
                self.problem(
                    Some(node),
                    format!("key at index {i} lies outside its parent's range"),
                );
            }
            previous = Some(key);
        }
        if view.is_leaf() {
            match figures.depth {
                None => figures.depth = Some(depth + 1),
                Some(d) if d != depth + 1 => self.problem(Some(node), "leaves at different depths"),
                Some(_) => {}
            }
            self.leaf_entries(node, &view, figures, leaf);
            return;
        }
        for i in 0..view.len() {
            let child = match view.child(i) {
                Ok(crate::btree::node::NodeRef::Page(child)) => child,
                Ok(crate::btree::node::NodeRef::Dirty(_)) => {
                    unreachable!("a file page names pages")
                }
                Err(error) => {
                    self.problem(Some(node), error.to_string());
                    return;
                }
            };
            let child_low = if i == 0 { low } else { view.key(i).ok() };
            let child_high = if i + 1 < view.len() {
                view.key(i + 1).ok()
            } else {
                high
            };
            self.walk(child, child_low, child_high, depth + 1, figures, leaf);
        }
    }

    /// Hands every entry of leaf `node` to `leaf` (overflow values read and marked).
    fn leaf_entries(
        &mut self,
        node: u64,
        view: &PageView<'a>,
        figures: &mut TreeFigures,
        leaf: &mut LeafVisitor<'_, 'a>,
    ) {
        {
            for i in 0..view.len() {
                let (Ok(key), Ok(value)) = (view.key(i), view.value(i)) else {
                    self.problem(Some(node), format!("unreadable cell {i}"));
                    continue;
                };
                figures.entries += 1;
                match value {
                    ValueRef::Inline(bytes) => leaf(self, key, bytes, node),
                    ValueRef::Overflow { page, len } => {
                        let pages = overflow_pages(len, self.read.db().storage.page_size);
                        for id in page..page.saturating_add(pages) {
                            if !self.mark(id, USED) {
                                break;
                            }
                        }
                        figures.pages += pages;
                        let read = self.read;
                        match read.db().pager.overflow(
                            &read.db().storage,
                            read.mapping(),
                            page,
                            len,
                            read.meta().page_count,
                            Verify::Always,
                        ) {
                            Ok(bytes) => leaf(self, key, bytes, node),
                            Err(error) => self.problem(Some(page), error.to_string()),
                        }
                    }
                }
            }
        }
    }
}

pub(crate) fn check(read: &ReadTransaction) -> CheckReport {
    let meta = *read.meta();
    let mut walker = Walker::new(read);
    let mut tables = Vec::new();
    // The catalog and every table.
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    if meta.catalog_root != 0 {
        let mut figures = TreeFigures::default();
        walker.walk(
            meta.catalog_root,
            None,
            None,
            0,
            &mut figures,
            &mut |_, key, value, _| {
                entries.push((String::from_utf8_lossy(key).into_owned(), value.to_vec()));
            },
        );
    }
    for (name, entry) in entries {
        let (root, len) = match decode_table_entry(&entry) {
            Ok(decoded) => decoded,
            Err(error) => {
                walker.problem(None, format!("table {name:?}: {error}"));
                continue;
            }
        };
        let mut figures = TreeFigures::default();
        if let Some(NodeRef::Page(root)) = root {
            walker.walk(root, None, None, 0, &mut figures, &mut |_, _, _, _| {});
        }
        if figures.entries != len {
            walker.problem(
                None,
                format!(
                    "table {name:?} says it has {len} entries but holds {}",
                    figures.entries
                ),
            );
        }
        tables.push(TableReport {
            name,
            entries: figures.entries,
            depth: figures.depth.unwrap_or(0),
            pages: figures.pages,
        });
    }
    // The write buffer (its records were checked when the snapshot read them: checksums, salt,
    // consecutive ids, decodable changes): the tables' entries as of the snapshot's commit.
    let buffer = read.buffer();
    if !buffer.is_empty() {
        for (name, table) in buffer.tables.iter() {
            let at = tables.iter().position(|t| *t.name == **name);
            if !table.exists {
                if let Some(i) = at {
                    tables.remove(i);
                }
                continue;
            }
            // (The tree's count is the catalog's, checked against the walk above; the buffer's
            // unsure puts are looked up in the tree.)
            let len = read.table(name).and_then(|t| t.map_or(Ok(0), |t| t.len()));
            match len {
                Ok(len) => match at {
                    Some(i) => tables[i].entries = len,
                    None => tables.push(TableReport {
                        name: name.to_string(),
                        entries: len,
                        depth: 0,
                        pages: 0,
                    }),
                },
                Err(error) => walker.problem(None, format!("the write buffer: {error}")),
            }
        }
        tables.sort_by(|a, b| a.name.cmp(&b.name));
    }
    // The freelist tree and the pages it lists.
    let mut listed: Vec<(u64, u64)> = Vec::new();
    let mut free_count = 0u64;
    if meta.freelist_root != 0 {
        let mut figures = TreeFigures::default();
        let mut records: Vec<(Vec<u8>, Vec<u8>, u64)> = Vec::new();
        walker.walk(
            meta.freelist_root,
            None,
            None,
            0,
            &mut figures,
            &mut |_, key, value, page| {
                records.push((key.to_vec(), value.to_vec(), page));
            },
        );
        for (key, value, page) in records {
            match decode_record(&key, &value, page) {
                Ok((txn, _young, pages)) => {
                    if txn > meta.txn_id {
                        walker
                            .problem(Some(page), format!("freelist record from future txn {txn}"));
                    }
                    for id in pages {
                        listed.push((id, page));
                    }
                }
                Err(error) => walker.problem(Some(page), error.to_string()),
            }
        }
    }
    for (id, record_page) in listed {
        if id < 2 {
            walker.problem(Some(record_page), format!("freelist lists meta page {id}"));
        } else if walker.mark(id, FREE) {
            free_count += 1;
        }
    }
    if free_count != meta.free_pages {
        walker.problem(
            None,
            format!(
                "meta page counts {} free pages, the freelist lists {free_count}",
                meta.free_pages
            ),
        );
    }
    // Leaks: pages neither reachable nor free.
    let leaked: Vec<u64> = (2..meta.page_count)
        .filter(|&id| walker.marks[id as usize] == UNSEEN)
        .collect();
    if !leaked.is_empty() {
        let shown: Vec<String> = leaked.iter().take(20).map(u64::to_string).collect();
        walker.problem(
            None,
            format!(
                "{} pages are neither in use nor free (leaked): {}",
                leaked.len(),
                shown.join(", ")
            ),
        );
    }
    let pages_in_use = walker.marks.iter().filter(|&&m| m == USED).count() as u64;
    CheckReport {
        txn_id: meta.txn_id,
        page_count: meta.page_count,
        pages_in_use,
        pages_free: free_count,
        tables,
        problems: walker.problems,
    }
}

//! The append path: inserts whose keys arrive in increasing order past a tree's largest key go
//! straight to the tree's rightmost leaf, as LMDB's `MDB_APPEND` and the bulk loader do — no
//! search from the root, no rebuild of a full leaf. The cursor holds the rightmost path (the
//! *spine*: arena ids, root first, each node the last child of the one before) and the tree's
//! largest key. A full leaf stays as it is (full) and the key starts a new leaf, whose
//! separator goes to the parent's end; a full parent likewise starts a new branch, up to a new
//! root. The pages are the ones the general path's right-edge split makes (`Policy::Append`),
//! without rebuilding the left page each time.
//!
//! The cursor is only valid while nothing but appends changed the tree since it was made: the
//! write transaction drops it at every other change to that tree (any insert that is not past
//! the largest key, a remove, a spill, dropping or renaming the table, the commit's flush).

use super::mutate::{shortest_separator, Mutate};
use super::node::{Node, NodeRef, Value};
use super::store::NodeStore;
use crate::error::Result;
use crate::page::edit::{Entry, Payload};

/// The rightmost path of a tree: arena ids from the root down to the rightmost leaf.
pub(crate) type Spine = smallvec::SmallVec<[u32; 12]>;

/// Where the next append goes (see the module docs).
pub(crate) struct AppendCursor {
    spine: Spine,
    /// The tree's largest key.
    last: Vec<u8>,
    /// Nodes left of the spine (appends never change them again) not yet written: (node, its
    /// parent, its index there), children before their parents.
    finished: Vec<(u32, u32, usize)>,
}

/// Finished nodes written at once (`emit`): 256 KiB of 4 KiB pages.
pub(crate) const EMIT_NODES: usize = 64;

impl AppendCursor {
    /// A cursor on a tree whose rightmost path is `spine` (every node dirty, each the last
    /// child of the one before) and whose largest key is `last`.
    pub(crate) fn new(spine: Spine, last: &[u8]) -> AppendCursor {
        debug_assert!(!spine.is_empty());
        AppendCursor {
            spine,
            last: last.to_vec(),
            finished: Vec::new(),
        }
    }

    /// Finished nodes not yet written (`emit`).
    pub(crate) fn finished(&self) -> usize {
        self.finished.len()
    }

    /// Seals the finished nodes as pages (children first, each parent pointed at its child's
    /// page; a branch's other dirty children are flushed with it) into `out`, which the caller
    /// must write before anything reads the tree; their buffers leave the arena. The
    /// transaction then holds the spine's nodes and no more, as the bulk loader does. Pages
    /// written early are like a spill's: private to the transaction until its commit, and if a
    /// later change of the transaction copies one, it is freed again (reusable at once: it was
    /// allocated in this transaction).
    pub(crate) fn emit<S: NodeStore + ?Sized>(
        &mut self,
        s: &mut S,
        out: &mut Vec<(u64, Vec<u8>)>,
    ) -> Result<()> {
        for (node, parent, index) in self.finished.drain(..) {
            let mut node = s.arena_mut().take(node);
            if !node.is_leaf() {
                // Its finished children are pages by now; any other dirty child (a subtree an
                // insert or remove of the general path changed before the cursor was made) is
                // written with it, as a commit would.
                for index in 0..node.len() {
                    if let NodeRef::Dirty(child) = node.view().child(index)? {
                        let page = s.flush(NodeRef::Dirty(child), out)?;
                        node.set_child(index, NodeRef::Page(page));
                    }
                }
            }
            // As the bulk loader's pages: a branch grown by appends has no prefix yet.
            node.tighten_prefix();
            let page = s.alloc_page()?;
            out.push((page, s.seal_page(node, page)));
            s.arena_mut()
                .node_mut(parent)
                .set_child(index, NodeRef::Page(page));
        }
        Ok(())
    }

    /// The root of the tree the cursor is on.
    pub(crate) fn root(&self) -> NodeRef {
        NodeRef::Dirty(self.spine[0])
    }

    /// Whether `key` can be appended to the tree rooted at `root`: the cursor is on that tree
    /// and `key` is past its largest key.
    #[inline]
    pub(crate) fn accepts(&self, root: Option<NodeRef>, key: &[u8]) -> bool {
        root == Some(self.root()) && key > self.last.as_slice()
    }

    /// Appends `key` (past the largest key: `accepts`) with `value`. Returns the root, new if the
    /// old root was full.
    pub(crate) fn append<S: NodeStore + ?Sized>(
        &mut self,
        s: &mut S,
        key: &[u8],
        value: &Value,
    ) -> Result<NodeRef> {
        debug_assert!(self.on_spine(s), "an append cursor off the rightmost path");
        debug_assert!(key > self.last.as_slice());
        let entry = Entry {
            key,
            payload: Payload::Value(value.as_ref()),
        };
        let leaf = *self.spine.last().expect("a spine has a leaf");
        let at = s.arena().node(leaf).len();
        if !s.arena_mut().node_mut(leaf).insert(at, entry) {
            // The leaf is full: it stays so, and the key starts the next leaf.
            let separator = shortest_separator(&self.last, key).to_vec();
            let next = Node::build(s.buffer(), true, &[entry]);
            let next = s.arena_mut().push(next);
            self.add_right(s, next, &separator);
        }
        self.last.clear();
        self.last.extend_from_slice(key);
        Ok(self.root())
    }

    /// Node `child` (with lower bound `separator`) becomes the right neighbour of the spine's
    /// deepest node: it is added at the parent's end; a full parent stays so and `child` starts
    /// a new branch, added the same way one level up; a full root gets a new root above it.
    fn add_right<S: NodeStore + ?Sized>(&mut self, s: &mut S, mut child: u32, separator: &[u8]) {
        let mut level = self.spine.len() - 1;
        loop {
            let full = std::mem::replace(&mut self.spine[level], child);
            let child_entry = Entry {
                key: separator,
                payload: Payload::Child(NodeRef::Dirty(child)),
            };
            if level == 0 {
                let mut root = s.new_node(false);
                let old = Entry {
                    key: &[],
                    payload: Payload::Child(NodeRef::Dirty(full)),
                };
                let fits = root.insert(0, old) && root.insert(1, child_entry);
                assert!(fits, "two children fit an empty branch");
                let root = s.arena_mut().push(root);
                self.spine.insert(0, root);
                self.finished.push((full, root, 0));
                return;
            }
            let parent = self.spine[level - 1];
            let at = s.arena().node(parent).len();
            // `full` is the parent's last child (the spine's rule); `child` goes after it.
            self.finished.push((full, parent, at - 1));
            if s.arena_mut().node_mut(parent).insert(at, child_entry) {
                return;
            }
            // A branch's first key is not stored: `separator` stays the new branch's bound in
            // the level above.
            let mut branch = s.new_node(false);
            assert!(
                branch.insert(0, child_entry),
                "one child fits an empty branch"
            );
            child = s.arena_mut().push(branch);
            level -= 1;
        }
    }

    /// Debug check: the spine is the tree's rightmost path and `last` its largest key.
    fn on_spine<S: NodeStore + ?Sized>(&self, s: &S) -> bool {
        let arena = s.arena();
        let linked = self.spine.windows(2).all(|pair| {
            let view = arena.node(pair[0]).view();
            !view.is_leaf()
                && view.len() > 0
                && view.child(view.len() - 1).ok() == Some(NodeRef::Dirty(pair[1]))
        });
        let leaf = arena
            .node(*self.spine.last().expect("a spine has a leaf"))
            .view();
        linked
            && leaf.is_leaf()
            && leaf.len() > 0
            && leaf.key(leaf.len() - 1).ok() == Some(self.last.as_slice())
    }
}

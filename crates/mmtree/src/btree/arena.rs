//! The write transaction's dirty nodes: page buffers being modified, addressed by
//! `NodeRef::Dirty(id)` until the commit (or a spill) writes them to fresh pages.

use super::node::Node;

#[derive(Default)]
pub(crate) struct Arena {
    nodes: Vec<Option<Node>>,
    free: Vec<u32>,
    live: usize,
}

impl Arena {
    pub(crate) fn node(&self, id: u32) -> &Node {
        self.nodes[id as usize].as_ref().expect("live arena node")
    }

    pub(crate) fn node_mut(&mut self, id: u32) -> &mut Node {
        self.nodes[id as usize].as_mut().expect("live arena node")
    }

    pub(crate) fn push(&mut self, node: Node) -> u32 {
        self.live += 1;
        match self.free.pop() {
            Some(id) => {
                debug_assert!(self.nodes[id as usize].is_none());
                self.nodes[id as usize] = Some(node);
                id
            }
            None => {
                self.nodes.push(Some(node));
                u32::try_from(self.nodes.len() - 1).expect("fewer than 2^32 dirty nodes")
            }
        }
    }

    /// Puts `node` in place of node `id`, returning the old one.
    pub(crate) fn replace(&mut self, id: u32, node: Node) -> Node {
        std::mem::replace(self.node_mut(id), node)
    }

    pub(crate) fn take(&mut self, id: u32) -> Node {
        let node = self.nodes[id as usize].take().expect("live arena node");
        self.free.push(id);
        self.live -= 1;
        node
    }

    /// Dirty nodes alive now.
    pub(crate) fn live(&self) -> usize {
        self.live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_reused_and_counted() {
        let mut arena = Arena::default();
        let a = arena.push(Node::new(vec![0; 4096], true));
        let b = arena.push(Node::new(vec![0; 4096], false));
        assert_eq!(arena.live(), 2);
        drop(arena.take(a));
        assert_eq!(arena.live(), 1);
        let c = arena.push(Node::new(vec![0; 4096], true));
        assert_eq!(c, a, "a freed id is reused");
        assert!(!arena.node(b).is_leaf());
        assert!(arena.node(c).is_leaf());
    }
}

//! Field sets (smd `fieldpath.Set`): a trie of paths. A node lists the elements that are
//! members of the set and, separately, the elements that have members below them;
//! being a child does not make an element a member.
//!
//! Every operation is a merge of sorted vectors, so sets are combined in time linear in
//! their size. [`SetBuilder`] builds a node from unordered input with one sort per node,
//! which is how the walkers build sets from objects in one pass.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::path::{Path, PathElement};

/// A set of paths (smd `fieldpath.Set`).
///
/// Nodes are shared: cloning a set, or a subset that an operation leaves as it was,
/// copies a pointer. Managers' sets are cloned on every operation.
#[derive(Debug, Clone, Default)]
pub struct FieldSet(Option<Arc<Node>>);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Node {
    /// Sorted, unique.
    members: Vec<PathElement>,
    /// Sorted by element, unique, and never empty: a node exists only to hold members.
    children: Vec<(PathElement, FieldSet)>,
}

impl PartialEq for FieldSet {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
            _ => self.is_empty() && other.is_empty(),
        }
    }
}

impl Eq for FieldSet {}

impl FieldSet {
    /// The empty set.
    pub fn new() -> FieldSet {
        FieldSet(None)
    }

    /// A set of these paths.
    pub fn from_paths<'p>(paths: impl IntoIterator<Item = &'p Path>) -> FieldSet {
        let mut s = FieldSet::new();
        for p in paths {
            s.insert(p.elements());
        }
        s
    }

    fn node_mut(&mut self) -> &mut Node {
        Arc::make_mut(self.0.get_or_insert_with(Default::default))
    }

    /// Adds the path. Its parents are not added. The empty path (the whole object) is
    /// never a member, as in smd.
    pub fn insert(&mut self, path: &[PathElement]) {
        let Some((last, parents)) = path.split_last() else {
            return;
        };
        let mut node = self.node_mut();
        for pe in parents {
            let i = match node.children.binary_search_by(|(c, _)| c.cmp(pe)) {
                Ok(i) => i,
                Err(i) => {
                    node.children.insert(i, (pe.clone(), FieldSet::new()));
                    i
                }
            };
            node = node.children[i].1.node_mut();
        }
        if let Err(i) = node.members.binary_search(last) {
            node.members.insert(i, last.clone());
        }
    }

    /// Whether the path is a member.
    pub fn has(&self, path: &[PathElement]) -> bool {
        let Some((last, parents)) = path.split_last() else {
            return false;
        };
        let mut node = self;
        for pe in parents {
            match node.child(pe) {
                Some(c) => node = c,
                None => return false,
            }
        }
        node.has_member(last)
    }

    /// Whether `pe` is a member of this node.
    pub fn has_member(&self, pe: &PathElement) -> bool {
        self.members().binary_search(pe).is_ok()
    }

    /// The subset below `pe`, relative to it (smd `WithPrefix`), if there is one.
    pub fn child(&self, pe: &PathElement) -> Option<&FieldSet> {
        let children = self.children();
        children
            .binary_search_by(|(c, _)| c.cmp(pe))
            .ok()
            .map(|i| &children[i].1)
    }

    /// The members of this node, sorted.
    pub fn members(&self) -> &[PathElement] {
        self.0.as_ref().map_or(&[], |n| &n.members)
    }

    /// The non-empty subsets below elements of this node, sorted by element.
    pub fn children(&self) -> &[(PathElement, FieldSet)] {
        self.0.as_ref().map_or(&[], |n| &n.children)
    }

    /// Whether no path is a member.
    pub fn is_empty(&self) -> bool {
        self.members().is_empty() && self.children().iter().all(|(_, c)| c.is_empty())
    }

    /// The number of member paths.
    pub fn len(&self) -> usize {
        self.members().len() + self.children().iter().map(|(_, c)| c.len()).sum::<usize>()
    }

    /// Whether every path of `self` is in `other` (`self − other` is empty), found
    /// without building the difference.
    pub fn is_subset_of(&self, other: &FieldSet) -> bool {
        if self.is_empty() || self.shares(other) {
            return true;
        }
        let theirs = other.members();
        let mut j = 0;
        for pe in self.members() {
            while j < theirs.len() && theirs[j] < *pe {
                j += 1;
            }
            if j == theirs.len() || theirs[j] != *pe {
                return false;
            }
        }
        self.children().iter().all(|(pe, c)| match other.child(pe) {
            Some(o) => c.is_subset_of(o),
            None => c.is_empty(),
        })
    }

    /// Whether both are the same shared node (then they are equal without looking).
    pub(crate) fn shares(&self, other: &FieldSet) -> bool {
        matches!((&self.0, &other.0), (Some(a), Some(b)) if Arc::ptr_eq(a, b))
    }

    /// Paths in either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        if other.is_empty() || self.shares(other) {
            return self.clone();
        }
        if self.is_empty() {
            return other.clone();
        }
        FieldSet::from_parts(
            merge_sorted(self.members(), other.members(), Keep::Either),
            merge_children(
                self.children(),
                other.children(),
                |a, b| Some(a.union(b)),
                Keep::Either,
            ),
        )
    }

    /// Paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        if self.is_empty() || other.is_empty() {
            return FieldSet::new();
        }
        if self.shares(other) {
            return self.clone();
        }
        FieldSet::from_parts(
            merge_sorted(self.members(), other.members(), Keep::Both),
            merge_children(
                self.children(),
                other.children(),
                |a, b| non_empty(a.intersection(b)),
                Keep::Both,
            ),
        )
    }

    /// Paths of `self` that are not in `other`. A parent minus its child is still the
    /// parent; a child minus its parent is still the child (smd `Difference`).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        if self.is_empty() || other.is_empty() {
            return self.clone();
        }
        if self.shares(other) {
            return FieldSet::new();
        }
        FieldSet::from_parts(
            merge_sorted(self.members(), other.members(), Keep::Left),
            merge_children(
                self.children(),
                other.children(),
                |a, b| non_empty(a.difference(b)),
                Keep::Left,
            ),
        )
    }

    /// Paths of `self` that are neither in `other` nor below a member of `other`
    /// (smd `RecursiveDifference`): removing `.a.b` also removes `.a.b.c`.
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        if self.is_empty() || other.is_empty() {
            return self.clone();
        }
        let theirs = other.children();
        let mut children = Vec::with_capacity(self.children().len());
        let mut j = 0;
        for (pe, set) in self.children() {
            if other.has_member(pe) {
                continue;
            }
            while j < theirs.len() && theirs[j].0 < *pe {
                j += 1;
            }
            if j < theirs.len() && theirs[j].0 == *pe {
                if let Some(d) = non_empty(set.recursive_difference(&theirs[j].1)) {
                    children.push((pe.clone(), d));
                }
            } else {
                children.push((pe.clone(), set.clone()));
            }
        }
        FieldSet::from_parts(
            merge_sorted(self.members(), other.members(), Keep::Left),
            children,
        )
    }

    /// Only the leaves: members that have no members below them (smd `Leaves`).
    pub fn leaves(&self) -> FieldSet {
        let members = self
            .members()
            .iter()
            .filter(|pe| self.child(pe).is_none())
            .cloned()
            .collect();
        let children = self
            .children()
            .iter()
            .filter_map(|(pe, c)| non_empty(c.leaves()).map(|l| (pe.clone(), l)))
            .collect();
        FieldSet::from_parts(members, children)
    }

    /// Every member path, in smd's iteration order: at each node its members first,
    /// then the subsets below its children (a preorder walk). Conflicts are listed in
    /// this order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::with_capacity(self.len());
        let mut prefix = Vec::new();
        self.collect_paths(&mut prefix, &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Path>) {
        for pe in self.members() {
            let mut p = prefix.clone();
            p.push(pe.clone());
            out.push(Path(p));
        }
        for (pe, c) in self.children() {
            prefix.push(pe.clone());
            c.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// A node from sorted, unique parts with non-empty children.
    pub(crate) fn from_parts(
        members: Vec<PathElement>,
        children: Vec<(PathElement, FieldSet)>,
    ) -> FieldSet {
        if members.is_empty() && children.is_empty() {
            FieldSet(None)
        } else {
            FieldSet(Some(Arc::new(Node { members, children })))
        }
    }
}

fn non_empty(s: FieldSet) -> Option<FieldSet> {
    (!s.is_empty()).then_some(s)
}

#[derive(Clone, Copy)]
enum Keep {
    Either,
    Both,
    Left,
}

fn merge_sorted(a: &[PathElement], b: &[PathElement], keep: Keep) -> Vec<PathElement> {
    let mut out = Vec::with_capacity(match keep {
        Keep::Either => a.len() + b.len(),
        Keep::Both => a.len().min(b.len()),
        Keep::Left => a.len(),
    });
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            Ordering::Less => {
                if !matches!(keep, Keep::Both) {
                    out.push(a[i].clone());
                }
                i += 1;
            }
            Ordering::Greater => {
                if matches!(keep, Keep::Either) {
                    out.push(b[j].clone());
                }
                j += 1;
            }
            Ordering::Equal => {
                if !matches!(keep, Keep::Left) {
                    out.push(a[i].clone());
                }
                i += 1;
                j += 1;
            }
        }
    }
    if !matches!(keep, Keep::Both) {
        out.extend_from_slice(&a[i..]);
    }
    if matches!(keep, Keep::Either) {
        out.extend_from_slice(&b[j..]);
    }
    out
}

fn merge_children(
    a: &[(PathElement, FieldSet)],
    b: &[(PathElement, FieldSet)],
    both: impl Fn(&FieldSet, &FieldSet) -> Option<FieldSet>,
    keep: Keep,
) -> Vec<(PathElement, FieldSet)> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            Ordering::Less => {
                if !matches!(keep, Keep::Both) {
                    out.push(a[i].clone());
                }
                i += 1;
            }
            Ordering::Greater => {
                if matches!(keep, Keep::Either) {
                    out.push(b[j].clone());
                }
                j += 1;
            }
            Ordering::Equal => {
                if let Some(s) = both(&a[i].1, &b[j].1) {
                    out.push((a[i].0.clone(), s));
                }
                i += 1;
                j += 1;
            }
        }
    }
    if !matches!(keep, Keep::Both) {
        out.extend_from_slice(&a[i..]);
    }
    if matches!(keep, Keep::Either) {
        out.extend_from_slice(&b[j..]);
    }
    out
}

/// Builds one node of a set from elements in any order: one sort at [`finish`].
///
/// [`finish`]: SetBuilder::finish
#[derive(Default)]
pub(crate) struct SetBuilder {
    members: Vec<PathElement>,
    children: Vec<(PathElement, FieldSet)>,
}

impl SetBuilder {
    /// A builder for a node of about `n` elements.
    pub(crate) fn with_capacity(n: usize) -> SetBuilder {
        SetBuilder {
            members: Vec::with_capacity(n),
            children: Vec::new(),
        }
    }

    pub(crate) fn member(&mut self, pe: PathElement) {
        self.members.push(pe);
    }

    pub(crate) fn child(&mut self, pe: PathElement, set: FieldSet) {
        if !set.is_empty() {
            self.children.push((pe, set));
        }
    }

    pub(crate) fn finish(mut self) -> FieldSet {
        if !self.members.is_sorted() {
            self.members.sort_unstable();
        }
        self.members.dedup();
        if !self.children.is_sorted_by(|a, b| a.0 <= b.0) {
            self.children.sort_by(|a, b| a.0.cmp(&b.0));
        }
        // The same element twice (duplicated list items, or two walks of one value
        // when its kind changed) unions its subsets.
        if self.children.windows(2).all(|w| w[0].0 != w[1].0) {
            return FieldSet::from_parts(self.members, self.children);
        }
        let mut children: Vec<(PathElement, FieldSet)> = Vec::with_capacity(self.children.len());
        for (pe, set) in self.children {
            match children.last_mut() {
                Some((last, existing)) if *last == pe => *existing = existing.union(&set),
                _ => children.push((pe, set)),
            }
        }
        FieldSet::from_parts(self.members, children)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(names: &[&str]) -> Path {
        Path::fields(names.iter().copied())
    }

    fn set(paths: &[&[&str]]) -> FieldSet {
        let paths: Vec<Path> = paths.iter().map(|n| p(n)).collect();
        FieldSet::from_paths(&paths)
    }

    fn strings(s: &FieldSet) -> Vec<String> {
        s.paths().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn insert_and_has() {
        let s = set(&[&["a", "b"], &["a"], &["c"]]);
        assert!(s.has(p(&["a"]).elements()));
        assert!(s.has(p(&["a", "b"]).elements()));
        assert!(!s.has(p(&["a", "c"]).elements()));
        assert!(!s.has(&[]));
        assert_eq!(s.len(), 3);
        assert_eq!(strings(&s), [".a", ".c", ".a.b"]);
    }

    #[test]
    fn difference_of_parent_and_child() {
        let parent = set(&[&["a"]]);
        let child = set(&[&["a", "b"]]);
        assert_eq!(parent.difference(&child), parent);
        assert_eq!(child.difference(&parent), child);
        assert!(child.recursive_difference(&parent).is_empty());
    }

    #[test]
    fn union_intersection() {
        let a = set(&[&["x", "a"], &["y"]]);
        let b = set(&[&["x", "b"], &["y"]]);
        assert_eq!(strings(&a.union(&b)), [".y", ".x.a", ".x.b"]);
        assert_eq!(strings(&a.intersection(&b)), [".y"]);
        assert!(a.intersection(&b).children().is_empty());
    }

    #[test]
    fn subsets() {
        let small = set(&[&["a", "b"], &["c"]]);
        let big = set(&[&["a", "b"], &["a", "x"], &["c"], &["d"]]);
        assert!(small.is_subset_of(&big));
        assert!(!big.is_subset_of(&small));
        assert!(FieldSet::new().is_subset_of(&small));
        assert!(!set(&[&["a"]]).is_subset_of(&set(&[&["a", "b"]])));
    }

    #[test]
    fn leaves_drop_members_with_children() {
        let s = set(&[&["a"], &["a", "b"], &["c"]]);
        assert_eq!(strings(&s.leaves()), [".c", ".a.b"]);
    }

    #[test]
    fn builder_sorts_and_merges() {
        let mut b = SetBuilder::default();
        b.member(PathElement::field("b"));
        b.member(PathElement::field("a"));
        b.member(PathElement::field("a"));
        b.child(PathElement::field("z"), set(&[&["1"]]));
        b.child(PathElement::field("z"), set(&[&["2"]]));
        let s = b.finish();
        assert_eq!(strings(&s), [".a", ".b", ".z.1", ".z.2"]);
    }
}

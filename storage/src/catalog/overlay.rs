//! A transaction's view of the catalog's trees: what it read (and saw first, so it
//! reads the same again), what it wrote, and its commit, validated and applied in one
//! sled transaction.
//!
//! Concurrency control is optimistic: a transaction commits only if every key it
//! read still holds the value it first read. Appends to a table are merges, applied at
//! commit to the table's version as it is then, so transactions that only add rows to
//! a table never conflict. Scans (the tables of a schema) are not validated.
//!
//! A transaction block reads one snapshot: the whole committed catalog as it was at
//! the block's first read ([`Overlay::for_block`]), so every table it reads, whenever
//! it reads it, is as of that moment. The snapshot is taken between commits: every
//! commit bumps [`Trees`]' counter before and after it applies (a sequence lock), and
//! a snapshot whose copy saw the counter move is taken again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sled::transaction::{ConflictableTransactionError, Transactional};

use crate::error::{Result, StorageError};

/// The catalog's trees, by index into [`Trees`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Tree {
    Meta = 0,
    Schemas = 1,
    Tables = 2,
    Versions = 3,
    Users = 4,
    Statistics = 5,
    Groups = 6,
    SchemaAccess = 7,
    Roles = 8,
    DefaultAcls = 9,
    Views = 10,
    Comments = 11,
}

impl Tree {
    pub(crate) const ALL: [Tree; 12] = [
        Tree::Meta,
        Tree::Schemas,
        Tree::Tables,
        Tree::Versions,
        Tree::Users,
        Tree::Statistics,
        Tree::Groups,
        Tree::SchemaAccess,
        Tree::Roles,
        Tree::DefaultAcls,
        Tree::Views,
        Tree::Comments,
    ];

    /// The sled tree's name, which is also its name in a snapshot's catalog export.
    pub const fn name(self) -> &'static str {
        match self {
            Tree::Meta => "meta",
            Tree::Schemas => "schemas",
            Tree::Tables => "tables",
            Tree::Versions => "versions",
            Tree::Users => "users",
            Tree::Statistics => "statistics",
            Tree::Groups => "groups",
            Tree::SchemaAccess => "schema_access",
            Tree::Roles => "roles",
            Tree::DefaultAcls => "default_acls",
            Tree::Views => "views",
            Tree::Comments => "comments",
        }
    }
}

/// The trees, indexed by [`Tree`], and the count of commits started and ended (odd
/// while one applies).
#[derive(Clone)]
pub(crate) struct Trees(pub [sled::Tree; 12], pub Arc<AtomicU64>);

impl Trees {
    pub fn get(&self, tree: Tree) -> &sled::Tree {
        &self.0[tree as usize]
    }

    /// Every key and value of every tree, as committed at one moment between commits.
    pub(crate) fn snapshot(&self) -> Result<Snapshot> {
        loop {
            let before = self.1.load(Ordering::Acquire);
            if before % 2 == 1 {
                std::thread::yield_now();
                continue;
            }
            let mut copy = Snapshot::new();
            for tree in Tree::ALL {
                for kv in self.get(tree).iter() {
                    let (k, v) = kv?;
                    copy.insert((tree, k.to_vec()), v.to_vec());
                }
            }
            if self.1.load(Ordering::Acquire) == before {
                return Ok(copy);
            }
        }
    }
}

/// The committed catalog at one moment: every key of every tree.
pub(crate) type Snapshot = BTreeMap<Key, Vec<u8>>;

/// A change to a value, applied at commit to the value committed then.
pub(crate) type Merge = Arc<dyn Fn(Option<&[u8]>) -> Result<Vec<u8>> + Send + Sync>;

#[derive(Clone)]
enum Pending {
    Put(Vec<u8>),
    Remove,
    Merge(Vec<Merge>),
}

fn merged(base: Option<Vec<u8>>, merges: &[Merge]) -> Result<Vec<u8>> {
    let mut value = base;
    for merge in merges {
        value = Some(merge(value.as_deref())?);
    }
    value.ok_or_else(|| StorageError::Catalog("a merge without a value".into()))
}

type Key = (Tree, Vec<u8>);

/// Keys and their values as a transaction sees them (None: removed).
pub(crate) type Entries = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// A key whose committed value changed since the transaction read it.
#[derive(Debug)]
pub(crate) struct Changed {
    pub tree: Tree,
    pub key: Vec<u8>,
}

/// Why a commit did not happen.
pub(crate) enum CommitError {
    /// Another transaction changed what this one read.
    Changed(Changed),
    Storage(StorageError),
}

impl From<StorageError> for CommitError {
    fn from(e: StorageError) -> Self {
        CommitError::Storage(e)
    }
}

/// Makes the commit counter even again when the commit is over, however it ends.
struct Even<'a>(&'a AtomicU64);

impl Drop for Even<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// Reads and writes of one transaction.
#[derive(Clone, Default)]
pub(crate) struct Overlay {
    reads: BTreeMap<Key, Option<Vec<u8>>>,
    writes: BTreeMap<Key, Pending>,
    /// A transaction block's: it reads [`Overlay::snapshot`].
    block: bool,
    /// The committed catalog at the block's first read.
    snapshot: Option<Arc<Snapshot>>,
}

impl Overlay {
    /// The overlay of a transaction block: it reads one snapshot of the catalog.
    pub fn for_block() -> Self {
        Overlay {
            block: true,
            ..Overlay::default()
        }
    }

    /// The committed value of `key` this transaction sees: the snapshot's for a
    /// block, the latest otherwise.
    fn committed(&mut self, trees: &Trees, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if !self.block {
            return Ok(trees.get(tree).get(key)?.map(|v| v.to_vec()));
        }
        Ok(self.snapshot(trees)?.get(&(tree, key.to_vec())).cloned())
    }

    fn snapshot(&mut self, trees: &Trees) -> Result<Arc<Snapshot>> {
        if let Some(s) = &self.snapshot {
            return Ok(Arc::clone(s));
        }
        let s = Arc::new(trees.snapshot()?);
        self.snapshot = Some(Arc::clone(&s));
        Ok(s)
    }

    /// The values of `tree` this block's snapshot holds (segments they reference
    /// stay live while it is open); none before its first read.
    pub fn snapshot_values(&self, tree: Tree) -> Entries {
        self.snapshot
            .iter()
            .flat_map(|s| {
                s.range((tree, vec![])..)
                    .take_while(move |((t, _), _)| *t == tree)
                    .map(|((_, k), v)| (k.clone(), Some(v.clone())))
            })
            .collect()
    }
    /// Whether the transaction wrote anything.
    pub fn wrote(&self) -> bool {
        !self.writes.is_empty()
    }

    /// The committed value of `key` as this transaction first saw it; `record`
    /// makes it a read the commit checks.
    fn base(
        &mut self,
        trees: &Trees,
        tree: Tree,
        key: &[u8],
        record: bool,
    ) -> Result<Option<Vec<u8>>> {
        let k = (tree, key.to_vec());
        if let Some(v) = self.reads.get(&k) {
            return Ok(v.clone());
        }
        let v = self.committed(trees, tree, key)?;
        if record {
            self.reads.insert(k, v.clone());
        }
        Ok(v)
    }

    /// The value of `key` in this transaction: a read the commit checks.
    pub fn get(&mut self, trees: &Trees, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.value(trees, tree, key, true)
    }

    /// The value of `key` in this transaction, not recorded as read (a statement
    /// reporting what it just wrote).
    pub fn get_unrecorded(
        &mut self,
        trees: &Trees,
        tree: Tree,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        self.value(trees, tree, key, false)
    }

    fn value(
        &mut self,
        trees: &Trees,
        tree: Tree,
        key: &[u8],
        record: bool,
    ) -> Result<Option<Vec<u8>>> {
        match self.writes.get(&(tree, key.to_vec())).cloned() {
            Some(Pending::Put(v)) => Ok(Some(v)),
            Some(Pending::Remove) => Ok(None),
            // A merge applies to what is committed at the end; seen from inside, to
            // what the transaction sees of the key (appending to a table does not
            // read it, so the append alone is not checked at commit).
            Some(Pending::Merge(merges)) => {
                merged(self.base(trees, tree, key, record)?, &merges).map(Some)
            }
            None => self.base(trees, tree, key, record),
        }
    }

    pub fn put(&mut self, tree: Tree, key: &[u8], value: Vec<u8>) {
        self.writes
            .insert((tree, key.to_vec()), Pending::Put(value));
    }

    pub fn remove(&mut self, tree: Tree, key: &[u8]) {
        self.writes.insert((tree, key.to_vec()), Pending::Remove);
    }

    /// Changes `key`'s value by `merge`, at commit, without reading it now.
    pub fn merge(&mut self, tree: Tree, key: &[u8], merge: Merge) -> Result<()> {
        let k = (tree, key.to_vec());
        let next = match self.writes.remove(&k) {
            Some(Pending::Put(v)) => Pending::Put(merge(Some(&v))?),
            Some(Pending::Remove) => Pending::Put(merge(None)?),
            Some(Pending::Merge(mut merges)) => {
                merges.push(merge);
                Pending::Merge(merges)
            }
            None => Pending::Merge(vec![merge]),
        };
        self.writes.insert(k, next);
        Ok(())
    }

    /// The keys under `prefix` and their values in this transaction, sorted by key.
    pub fn scan(
        &mut self,
        trees: &Trees,
        tree: Tree,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut keys: Vec<Vec<u8>> = if self.block {
            self.snapshot(trees)?
                .range((tree, prefix.to_vec())..)
                .take_while(|((t, k), _)| *t == tree && k.starts_with(prefix))
                .map(|((_, k), _)| k.clone())
                .collect()
        } else {
            trees
                .get(tree)
                .scan_prefix(prefix)
                .keys()
                .map(|k| Ok(k?.to_vec()))
                .collect::<Result<_>>()?
        };
        keys.extend(
            self.writes
                .keys()
                .filter(|(t, k)| *t == tree && k.starts_with(prefix))
                .map(|(_, k)| k.clone()),
        );
        keys.sort();
        keys.dedup();
        let mut out = vec![];
        for key in keys {
            if let Some(v) = self.get_unrecorded(trees, tree, &key)? {
                out.push((key, v));
            }
        }
        Ok(out)
    }

    /// Every key this transaction writes in `tree`, with its value as the transaction
    /// sees it (None: removed).
    pub fn written(&mut self, trees: &Trees, tree: Tree) -> Result<Entries> {
        let keys: Vec<Vec<u8>> = self
            .writes
            .keys()
            .filter(|(t, _)| *t == tree)
            .map(|(_, k)| k.clone())
            .collect();
        keys.into_iter()
            .map(|k| {
                let v = self.get_unrecorded(trees, tree, &k)?;
                Ok((k, v))
            })
            .collect()
    }

    /// Commits: in one sled transaction, checks that every key read still holds
    /// what was read, then applies the writes (merges to the values committed now).
    pub fn commit(&self, trees: &Trees) -> std::result::Result<(), CommitError> {
        let all: Vec<&sled::Tree> = trees.0.iter().collect();
        // Odd while the commit applies: no snapshot is taken across it.
        trees.1.fetch_add(1, Ordering::AcqRel);
        let _even = Even(&trees.1);
        let result = all.as_slice().transaction(|tx| {
            for ((tree, key), seen) in &self.reads {
                let now = tx[*tree as usize].get(key)?;
                if now.as_deref() != seen.as_deref() {
                    return Err(ConflictableTransactionError::Abort(CommitError::Changed(
                        Changed {
                            tree: *tree,
                            key: key.clone(),
                        },
                    )));
                }
            }
            for ((tree, key), pending) in &self.writes {
                let t = &tx[*tree as usize];
                match pending {
                    Pending::Put(v) => {
                        t.insert(key.as_slice(), v.as_slice())?;
                    }
                    Pending::Remove => {
                        t.remove(key.as_slice())?;
                    }
                    Pending::Merge(merges) => {
                        let now = t.get(key)?.map(|v| v.to_vec());
                        match merged(now, merges) {
                            Ok(v) => {
                                t.insert(key.as_slice(), v)?;
                            }
                            Err(e) => {
                                return Err(ConflictableTransactionError::Abort(
                                    CommitError::Storage(e),
                                ));
                            }
                        }
                    }
                }
            }
            Ok(())
        });
        result.map_err(|e| match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => CommitError::Storage(e.into()),
        })
    }
}

/// A write's access to the view it writes: the transaction's, or a statement's own.
pub(super) struct View<'a> {
    pub(super) overlay: &'a mut Overlay,
    pub(super) trees: &'a Trees,
}

impl View<'_> {
    pub(super) fn get(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.overlay.get(self.trees, tree, key)
    }

    pub(super) fn scan(&mut self, tree: Tree, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.overlay.scan(self.trees, tree, prefix)
    }

    pub(super) fn put(&mut self, tree: Tree, key: &[u8], value: Vec<u8>) {
        self.overlay.put(tree, key, value)
    }

    pub(super) fn remove(&mut self, tree: Tree, key: &[u8]) {
        self.overlay.remove(tree, key)
    }

    pub(super) fn merge(&mut self, tree: Tree, key: &[u8], merge: Merge) -> Result<()> {
        self.overlay.merge(tree, key, merge)
    }
}

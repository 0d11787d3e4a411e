//! A transaction's view of the catalog's trees: what it read (and saw first, so it
//! reads the same again), what it wrote, and its commit, validated and applied in one
//! sled transaction.
//!
//! Concurrency control is optimistic: a transaction commits only if every key it
//! read still holds the value it first read. Appends to a table are merges, applied at
//! commit to the table's version as it is then, so transactions that only add rows to
//! a table never conflict. Scans (the tables of a schema) are not validated.

use std::collections::BTreeMap;
use std::sync::Arc;

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
}

/// The trees, indexed by [`Tree`].
#[derive(Clone)]
pub(crate) struct Trees(pub [sled::Tree; 10]);

impl Trees {
    pub fn get(&self, tree: Tree) -> &sled::Tree {
        &self.0[tree as usize]
    }
}

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

/// Reads and writes of one transaction.
#[derive(Clone, Default)]
pub(crate) struct Overlay {
    reads: BTreeMap<Key, Option<Vec<u8>>>,
    writes: BTreeMap<Key, Pending>,
}

impl Overlay {
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
        let v = trees.get(tree).get(key)?.map(|v| v.to_vec());
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
        let mut keys: Vec<Vec<u8>> = trees
            .get(tree)
            .scan_prefix(prefix)
            .keys()
            .map(|k| Ok(k?.to_vec()))
            .collect::<Result<_>>()?;
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

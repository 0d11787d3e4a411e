//! The catalog's unit tests: commits, transactions and their conflicts, and
//! catalogs written by earlier releases.

use super::*;
use crate::deletes::DeleteVector;

pub(crate) fn table(name: &str) -> TableDef {
    TableDef {
        id: 0,
        schema: "public".into(),
        name: name.into(),
        columns: vec![ColumnDef {
            id: 0,
            missing_value: None,
            identity: None,
            default: None,
            name: "a".into(),
            data_type: DataType::Int32,
            nullable: true,
            declared_type: "integer".into(),
            encoding: None,
        }],
        dist_style: DistStyle::Even,
        dist_key: None,
        sort_key: vec![],
        sort_style: SortStyle::Compound,
        backup: true,
        next_column_id: 1,
        dist_hash: DistHash::RowFormatV0,
        owner: access::BOOTSTRAP_USER_ID,
        acl: vec![],
        constraints: vec![],
    }
}

#[test]
fn tables_and_versions_survive_reopen() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let layout = ClusterLayout {
        nodes: 2,
        slices_per_node: 2,
    };
    let id = {
        let catalog = Catalog::open(dir.path(), layout)?;
        let def = catalog.create_table(table("t"), None)?;
        assert!(matches!(
            catalog.create_table(table("t"), None),
            Err(StorageError::TableExists(_))
        ));
        let mut added = BTreeMap::new();
        added.insert(3, vec![SegmentRef::new("abc".into(), 7, 100)]);
        let v = catalog.append_segments(def.id, &added)?;
        assert_eq!(v.version, 2);
        def.id
    };
    let catalog = Catalog::open(
        dir.path(),
        ClusterLayout {
            nodes: 9,
            slices_per_node: 9,
        },
    )?;
    assert_eq!(catalog.layout()?, layout, "the layout is fixed at creation");
    assert_eq!(catalog.version(id)?.rows(), 7);
    assert_eq!(
        catalog.live_segments()?.get(&3),
        Some(&vec!["abc".to_string()])
    );
    // A delete commits once; the same rows deleted again conflict (40001), and so
    // does a delete from a segment that is no longer where it was read.
    let mut change = TableChange::default();
    change.deleted.insert(
        (3, 0),
        ("abc".to_string(), DeleteVector::from_positions([1, 2])),
    );
    assert_eq!(catalog.commit(id, "t", &change)?.rows(), 5);
    assert!(matches!(
        catalog.commit(id, "t", &change),
        Err(StorageError::Conflict { .. })
    ));
    change.deleted.clear();
    change
        .deleted
        .insert((3, 1), ("abc".into(), DeleteVector::from_positions([0])));
    assert!(matches!(
        catalog.commit(id, "t", &change),
        Err(StorageError::Conflict { .. })
    ));
    assert_eq!(
        catalog.version(id)?.rows(),
        5,
        "a refused commit changes nothing"
    );
    let emptied = catalog.truncate(id)?;
    assert_eq!((emptied.version, emptied.rows()), (4, 0));
    catalog.drop_table("public", "t", false)?;
    assert!(catalog.table("public", "t")?.is_none());
    assert!(catalog.live_segments()?.is_empty());
    Ok(())
}

fn segments(slice: u32, name: &str, rows: u64) -> BTreeMap<u32, Vec<SegmentRef>> {
    BTreeMap::from([(slice, vec![SegmentRef::new(name.into(), rows, 100)])])
}

#[test]
fn a_transaction_commits_all_its_changes_at_once_or_none() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let catalog = Catalog::open(
        dir.path(),
        ClusterLayout {
            nodes: 1,
            slices_per_node: 2,
        },
    )?;
    let t = catalog.create_table(table("t"), None)?;
    let txn = catalog.begin();
    let u = txn.create_table(table("u"), None)?;
    txn.append_segments(u.id, &segments(0, "u1", 3))?;
    txn.append_segments(t.id, &segments(0, "t1", 2))?;
    // Inside, the transaction sees its own writes; outside, nothing yet.
    assert_eq!(txn.version(u.id)?.rows(), 3);
    assert_eq!(txn.version(t.id)?.rows(), 2);
    assert!(catalog.table("public", "u")?.is_none());
    assert_eq!(catalog.version(t.id)?.rows(), 0);
    // Its segments are live while it is open: garbage collection keeps them.
    let live = catalog.live_segments()?;
    assert_eq!(
        live.get(&0),
        Some(&vec!["t1".to_string(), "u1".to_string()])
    );
    txn.commit_transaction()?;
    assert_eq!(catalog.version(u.id)?.rows(), 3);
    assert_eq!(catalog.version(t.id)?.rows(), 2);

    // Dropped without a commit (ROLLBACK, a disconnect): no trace.
    let txn = catalog.begin();
    txn.drop_table("public", "u", false)?;
    txn.append_segments(t.id, &segments(0, "t2", 5))?;
    txn.create_schema("s", 100)?;
    assert!(txn.table("public", "u")?.is_none());
    drop(txn);
    assert!(catalog.table("public", "u")?.is_some());
    assert!(!catalog.schema_exists("s")?);
    assert_eq!(catalog.version(t.id)?.rows(), 2);
    assert!(
        !catalog
            .live_segments()?
            .values()
            .flatten()
            .any(|s| s == "t2")
    );
    Ok(())
}

#[test]
fn transactions_that_read_what_another_changed_conflict() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let catalog = Catalog::open(
        dir.path(),
        ClusterLayout {
            nodes: 1,
            slices_per_node: 2,
        },
    )?;
    let a = catalog.create_table(table("a"), None)?;
    let b = catalog.create_table(table("b"), None)?;
    // Appends alone never conflict: both land.
    let (one, two) = (catalog.begin(), catalog.begin());
    one.append_segments(a.id, &segments(0, "a1", 1))?;
    two.append_segments(a.id, &segments(1, "a2", 1))?;
    one.commit_transaction()?;
    two.commit_transaction()?;
    assert_eq!(catalog.version(a.id)?.rows(), 2);
    // Write skew: each reads one table and writes the other; the second to
    // commit read a version that changed, and commits nothing.
    let (one, two) = (catalog.begin(), catalog.begin());
    assert_eq!(one.version(a.id)?.rows(), 2);
    assert_eq!(two.version(b.id)?.rows(), 0);
    one.append_segments(b.id, &segments(0, "b1", 1))?;
    two.append_segments(a.id, &segments(0, "a3", 1))?;
    one.commit_transaction()?;
    match two.commit_transaction() {
        Err(StorageError::Conflict { table, .. }) => assert_eq!(table, "public.b"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        catalog.version(a.id)?.rows(),
        2,
        "the loser changed nothing"
    );
    assert_eq!(catalog.version(b.id)?.rows(), 1);
    // A transaction reads the same version again, whatever commits meanwhile.
    let reader = catalog.begin();
    assert_eq!(reader.version(b.id)?.rows(), 1);
    catalog.append_segments(b.id, &segments(0, "b2", 4))?;
    assert_eq!(reader.version(b.id)?.rows(), 1);
    reader.commit_transaction()?;
    Ok(())
}

/// A catalog as the release before `format_version` and `dist_hash` wrote it:
/// the same trees, no version record, table records without the field.
fn write_catalog_of_the_previous_release(dir: &Path) -> Result<()> {
    let db = sled::Config::new().path(dir).open()?;
    let meta = db.open_tree("meta")?;
    meta.insert(LAYOUT_KEY, br#"{"nodes":2,"slices_per_node":2}"#.as_slice())?;
    db.open_tree("schemas")?
        .insert("public", br#""public""#.as_slice())?;
    db.open_tree("tables")?.insert(
        "public.old",
        br#"{"id":1,"schema":"public","name":"old","columns":[{"id":0,"name":"k","data_type":"Int64","nullable":true,"declared_type":"bigint","encoding":null}],"dist_style":"Key","dist_key":0,"sort_key":[],"sort_style":"Compound","backup":true,"next_column_id":1}"#.as_slice(),
    )?;
    db.open_tree("versions")?.insert(
        1u64.to_be_bytes(),
        br#"{"version":1,"slices":{}}"#.as_slice(),
    )?;
    meta.insert(NEXT_TABLE_ID_KEY, 1u64.to_be_bytes().as_slice())?;
    db.flush()?;
    Ok(())
}

#[test]
fn an_existing_catalog_opens_as_version_0_with_v0_tables() -> Result<()> {
    let dir = tempfile::tempdir()?;
    write_catalog_of_the_previous_release(dir.path())?;
    let layout = ClusterLayout {
        nodes: 2,
        slices_per_node: 2,
    };
    {
        let catalog = Catalog::open(dir.path(), layout)?;
        assert_eq!(
            catalog.format_version()?,
            0,
            "a missing record is version 0"
        );
        let old = catalog.table("public", "old")?.expect("the old table");
        assert_eq!(old.dist_hash, DistHash::RowFormatV0);
        assert_eq!((old.dist_style, old.dist_key), (DistStyle::Key, Some(0)));
        // A table created now records its hash, next to the old one.
        let mut new = table("new");
        new.dist_hash = DistHash::CanonicalV1;
        catalog.create_table(new, None)?;
    }
    let catalog = Catalog::open(dir.path(), layout)?;
    assert_eq!(catalog.format_version()?, 0, "opening does not upgrade it");
    let hashes: Vec<(String, DistHash)> = catalog
        .all_tables()?
        .into_iter()
        .map(|t| (t.name, t.dist_hash))
        .collect();
    assert_eq!(
        hashes,
        [
            ("new".to_string(), DistHash::CanonicalV1),
            ("old".to_string(), DistHash::RowFormatV0)
        ]
    );
    Ok(())
}

#[test]
fn a_new_catalog_records_its_format_version() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let layout = ClusterLayout {
        nodes: 1,
        slices_per_node: 2,
    };
    {
        let catalog = Catalog::open(dir.path(), layout)?;
        assert_eq!(catalog.format_version()?, CATALOG_FORMAT_VERSION);
        assert!(catalog.schema_exists("public")?);
        let def = catalog.create_table(table("t"), None)?;
        let stored = catalog
            .trees
            .get(Tree::Tables)
            .get(b"public.t")?
            .expect("the record");
        let record: serde_json::Value = decode(b"public.t", &stored)?;
        assert_eq!(record["dist_hash"], "RowFormatV0", "{record}");
        assert_eq!(def.dist_hash, DistHash::RowFormatV0);
    }
    let catalog = Catalog::open(dir.path(), layout)?;
    assert_eq!(catalog.format_version()?, CATALOG_FORMAT_VERSION);
    // A catalog from a newer release is refused, not misread.
    catalog
        .trees
        .get(Tree::Meta)
        .insert(FORMAT_VERSION_KEY, encode(&2u32)?)?;
    catalog.flush()?;
    drop(catalog);
    assert!(matches!(
        Catalog::open(dir.path(), layout),
        Err(StorageError::CatalogVersion {
            found: 2,
            supported: 1
        })
    ));
    Ok(())
}

fn user(name: &str) -> UserDef {
    UserDef {
        name: name.into(),
        superuser: false,
        scram_salt: vec![],
        scram_salted_password: vec![],
        scram_iterations: 0,
        md5_hash: String::new(),
        id: 0,
        createdb: false,
        password_disabled: false,
        valid_until: None,
        connection_limit: None,
        settings: BTreeMap::new(),
    }
}

/// Users and groups get ids, a user who owns or may use something cannot be dropped
/// (each object named), and a user record written before ids existed is user 100.
#[test]
fn users_groups_and_what_depends_on_them() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cat = Catalog::open(
        dir.path(),
        ClusterLayout {
            nodes: 1,
            slices_per_node: 1,
        },
    )?;
    let old = r#"{"name":"admin","superuser":true,"scram_salt":[],"scram_salted_password":[],"scram_iterations":4096,"md5_hash":""}"#;
    cat.trees.get(Tree::Users).insert("admin", old.as_bytes())?;
    assert_eq!(cat.user("admin")?.map(|u| u.id), Some(100));
    let bob = cat.create_user(&user("bob"))?;
    assert_eq!(bob.id, 101);
    assert!(matches!(
        cat.create_user(&user("bob")),
        Err(StorageError::UserExists(_))
    ));
    let g = cat.create_group("readers", &[bob.id])?;
    assert_eq!(cat.principal(bob.id)?.map(|p| p.groups), Some(vec![g.id]));
    let mut t = table("t");
    t.owner = bob.id;
    cat.create_table(t, None)?;
    cat.create_schema("s", 100)?;
    cat.alter_schema_access("s", |a| {
        access::grant(
            &mut a.acl,
            access::Grantee::Group(g.id),
            Privileges::USAGE,
            Privileges::NONE,
            100,
        );
        Ok(())
    })?;
    let Err(StorageError::Dependents { objects, .. }) = cat.drop_user("bob") else {
        panic!("bob owns a table");
    };
    assert_eq!(objects, vec!["owner of table public.t".to_string()]);
    let Err(StorageError::Dependents { objects, .. }) = cat.drop_group("readers") else {
        panic!("readers may use s");
    };
    assert_eq!(objects, vec!["privileges for schema s".to_string()]);
    cat.drop_table("public", "t", false)?;
    cat.alter_user("bob", |u| {
        u.name = "robert".into();
        Ok(())
    })?;
    assert!(cat.user("bob")?.is_none());
    cat.drop_user("robert")?;
    assert_eq!(cat.group("readers")?.map(|g| g.members), Some(vec![]));
    assert_eq!(cat.schema_access("public")?.acl.len(), 1);
    Ok(())
}

/// Roles reach users directly and through other roles; a role cannot be granted to
/// itself; default privileges give a new table its first ACL.
#[test]
fn roles_and_default_privileges() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cat = Catalog::open(
        dir.path(),
        ClusterLayout {
            nodes: 1,
            slices_per_node: 1,
        },
    )?;
    let bob = cat.create_user(&user("bob"))?;
    let reader = cat.create_role("reader", 100)?;
    let analyst = cat.create_role("analyst", 100)?;
    // reader is granted to analyst, analyst to bob: bob holds both.
    cat.alter_role("reader", |r| {
        r.roles.push(analyst.id);
        Ok(())
    })?;
    cat.alter_role("analyst", |r| {
        r.users.push(bob.id);
        Ok(())
    })?;
    let mut held = cat.principal(bob.id)?.map(|p| p.roles).unwrap_or_default();
    held.sort();
    assert_eq!(held, vec![reader.id, analyst.id]);
    let circle = cat.alter_role("analyst", |r| {
        r.roles.push(reader.id);
        Ok(())
    });
    assert!(
        matches!(circle, Err(StorageError::InvalidGrant(_))),
        "{circle:?}"
    );
    assert!(matches!(
        cat.drop_role("analyst", false),
        Err(StorageError::Dependents { .. })
    ));
    cat.alter_default_acl(bob.id, Some("public"), |acl| {
        access::grant(
            acl,
            access::Grantee::Role(reader.id),
            Privileges::SELECT,
            Privileges::NONE,
            bob.id,
        );
        Ok(())
    })?;
    let acl = cat.initial_acl(bob.id, "public")?;
    assert_eq!(acl.len(), 1);
    assert_eq!(acl[0].grantee, access::Grantee::Role(reader.id));
    assert!(cat.initial_acl(bob.id, "other")?.is_empty());
    assert!(matches!(
        cat.drop_user("bob"),
        Err(StorageError::Dependents { .. })
    ));
    cat.drop_role("analyst", true)?;
    assert_eq!(cat.role("reader")?.map(|r| r.roles), Some(vec![]));
    Ok(())
}

/// A transaction block reads every table as it was at its first read, also a table
/// it reads only after another commit changed it; the segments of its snapshot stay
/// live.
#[test]
fn a_block_reads_one_snapshot() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cat = Catalog::open(
        dir.path(),
        ClusterLayout {
            nodes: 1,
            slices_per_node: 1,
        },
    )?;
    let a = cat.create_table(table("a"), None)?;
    let b = cat.create_table(table("b"), None)?;
    cat.append_segments(b.id, &segments(0, "old", 1))?;
    let txn = cat.begin();
    assert_eq!(txn.version(a.id)?.version, 1);
    // Another session empties b after the block's first read.
    cat.truncate(b.id)?;
    assert_eq!(cat.version(b.id)?.version, 3);
    let seen = txn.version(b.id)?;
    assert_eq!(seen.version, 2, "the block sees b as of its first read");
    assert_eq!(txn.tables_in("public")?.len(), 2);
    let live = cat.live_segments()?;
    assert_eq!(live.get(&0), Some(&vec!["old".to_string()]));
    drop(txn);
    assert!(cat.live_segments()?.get(&0).is_none_or(|s| s.is_empty()));
    Ok(())
}

fn view(name: &str, reads: &[&str], columns: &[(&str, DataType)]) -> ViewDef {
    ViewDef {
        id: 0,
        schema: "public".into(),
        name: name.into(),
        query: "select 1".into(),
        column_names: vec![],
        columns: columns
            .iter()
            .map(|(n, t)| ViewColumn {
                name: n.to_string(),
                data_type: t.clone(),
                declared_type: None,
            })
            .collect(),
        late_binding: false,
        depends_on: reads.iter().map(|r| r.to_string()).collect(),
        owner: access::BOOTSTRAP_USER_ID,
        acl: vec![],
        materialized: None,
    }
}

/// Views share the tables' namespace, keep the tables they read from being dropped,
/// renamed or losing columns, and go with them on CASCADE, with their comments.
#[test]
fn views_depend_on_what_they_read() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let layout = ClusterLayout {
        nodes: 1,
        slices_per_node: 1,
    };
    let cat = Catalog::open(dir.path(), layout)?;
    let t = cat.create_table(table("t"), None)?;
    let v = cat.create_view(view("v", &["public.t"], &[("a", DataType::Int32)]), false)?;
    cat.create_view(view("w", &["public.v"], &[("a", DataType::Int32)]), false)?;
    assert!(v.id > t.id, "one id space");
    assert!(matches!(
        cat.create_view(view("t", &[], &[]), true),
        Err(StorageError::TableExists(_))
    ));
    assert!(matches!(
        cat.create_table(table("v"), None),
        Err(StorageError::TableExists(_))
    ));
    assert!(matches!(
        cat.create_view(view("v", &[], &[]), false),
        Err(StorageError::TableExists(_))
    ));
    // OR REPLACE keeps the id; it may add columns but not drop or retype them.
    let two = [("a", DataType::Int32), ("b", DataType::Utf8)];
    let replaced = cat.create_view(view("v", &["public.t"], &two), true)?;
    assert_eq!(replaced.id, v.id);
    assert!(matches!(
        cat.create_view(view("v", &["public.t"], &[("a", DataType::Int64)]), true),
        Err(StorageError::InvalidDefinition(_))
    ));
    let e = cat
        .drop_table("public", "t", false)
        .expect_err("views read it");
    assert!(
        e.to_string()
            .contains("view public.v depends on table public.t"),
        "{e}"
    );
    assert!(e.to_string().contains("view public.w"), "{e}");
    let e = cat
        .alter_table("public", "t", false, |d| {
            d.name = "t2".into();
            Ok(())
        })
        .expect_err("renaming a table views read");
    assert!(matches!(e, StorageError::Dependents { .. }), "{e}");
    cat.alter_table("public", "t", false, |d| {
        d.columns.push(ColumnDef {
            id: 1,
            name: "b".into(),
            ..d.columns[0].clone()
        });
        Ok(())
    })?;
    cat.set_comment(
        &CommentTarget::Relation {
            id: v.id,
            column: None,
        },
        Some("the view"),
    )?;
    assert_eq!(cat.comments()?.len(), 1);
    cat.drop_table("public", "t", true)?;
    assert!(cat.all_views()?.is_empty(), "CASCADE drops both views");
    assert!(cat.comments()?.is_empty(), "and their comments");
    Ok(())
}

#[test]
fn identity_values_are_taken_once_across_threads_and_reopens() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let layout = ClusterLayout {
        nodes: 1,
        slices_per_node: 2,
    };
    let mut taken = vec![];
    {
        let cat = Catalog::open(dir.path(), layout)?;
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let cat = cat.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .map(|_| cat.take_identity_values(7, 0, 3))
                        .collect::<Result<Vec<u64>>>()
                })
            })
            .collect();
        for h in handles {
            taken.extend(h.join().expect("thread")?);
        }
        // Another column's counter is its own.
        assert_eq!(cat.take_identity_values(7, 1, 1)?, 0);
        cat.flush()?;
    }
    taken.sort_unstable();
    let expected: Vec<u64> = (0..200).map(|n| n * 3).collect();
    assert_eq!(taken, expected, "each block of 3 is taken once");
    let cat = Catalog::open(dir.path(), layout)?;
    assert_eq!(
        cat.take_identity_values(7, 0, 1)?,
        600,
        "the counter survives reopening"
    );
    let identity = Identity {
        seed: 100,
        step: -10,
        by_default: false,
    };
    assert_eq!(identity.value(2), Some(80));
    assert_eq!(identity.value(u64::MAX), None);
    Ok(())
}

//! DDL statements of the [`Engine`]: CREATE TABLE (with Redshift attributes, and AS
//! SELECT), DROP TABLE and DROP SCHEMA.

use super::outcome::Outcome;
use std::collections::HashMap;

use blueshift_storage::catalog::{ColumnDef, DistStyle, SortStyle, TableDef, TableVersion};
use blueshift_storage::distribution::DistHash;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{ObjectName, ObjectType, Statement};

use super::{Engine, name_key, object_reference, resolve, statement_name};
use crate::engine::admission::StatementKind;
use crate::error::LeaderError;
use crate::interrupt::Interrupt;
use crate::planner::table::SliceSink;
use crate::session::Session;
use crate::sql::redshift_ddl::TableAttributes;

impl Engine {
    pub(super) fn drop(
        &self,
        session: &Session,
        object_type: ObjectType,
        if_exists: bool,
        names: &[ObjectName],
        cascade: bool,
    ) -> Result<Outcome, LeaderError> {
        use blueshift_storage::StorageError as S;
        match object_type {
            ObjectType::View | ObjectType::MaterializedView => {
                self.drop_views(session, object_type, if_exists, names, cascade)
            }
            ObjectType::Table => {
                for name in names {
                    let (schema, table) = self.relation_name(session, name)?;
                    self.refuse_view(session, &schema, &table, "DROP TABLE", "DROP VIEW")?;
                    match self
                        .commits_of(session)
                        .drop_table(&schema, &table, cascade)
                    {
                        Err(S::TableNotFound(_)) if if_exists => {}
                        Err(S::TableNotFound(_)) => {
                            return Err(S::TableNotFound(table).into());
                        }
                        other => {
                            other?;
                        }
                    }
                }
                self.collect_garbage_when_idle();
                Ok(Outcome::done("DROP TABLE"))
            }
            ObjectType::Schema => {
                for name in names {
                    let schema = name_key(name);
                    if !self.catalog_of(session).schema_exists(&schema)? {
                        if if_exists {
                            continue;
                        }
                        return Err(S::SchemaNotFound(schema).into());
                    }
                    if cascade {
                        for v in self.catalog_of(session).views_in(&schema)? {
                            // An earlier view's CASCADE may have dropped it.
                            match self.commits_of(session).drop_view(&schema, &v.name, true) {
                                Err(S::TableNotFound(_)) => {}
                                other => {
                                    other?;
                                }
                            }
                        }
                        for t in self.catalog_of(session).tables_in(&schema)? {
                            self.commits_of(session)
                                .drop_table(&schema, &t.name, true)?;
                        }
                    }
                    self.commits_of(session).drop_schema(&schema)?;
                }
                Ok(Outcome::done("DROP SCHEMA"))
            }
            other => Err(LeaderError::Unsupported(format!("DROP {other}"))),
        }
    }

    pub(super) async fn create_table(
        &self,
        session: &Session,
        stmt: &Statement,
        attrs: TableAttributes,
        interrupt: Interrupt,
    ) -> Result<Outcome, LeaderError> {
        let (mut expanded, attrs) = self.expand_like(session, stmt, attrs)?;
        if let Statement::CreateTable(ct) = &mut expanded
            && !ct.temporary
        {
            self.qualify_created(session, &mut ct.name)?;
        }
        let stmt = &expanded;
        let Statement::CreateTable(ct) = stmt else {
            return Err(LeaderError::Unsupported(statement_name(stmt)));
        };
        for column in &ct.columns {
            refuse_column_options(column)?;
        }
        let state = self.state_for(session);
        self.prepare_views(&state, stmt, &mut vec![]).await?;
        // DataFusion plans the columns (and a CTAS's query); where a temporary
        // table goes is ours.
        let mut planned = ct.clone();
        planned.temporary = false;
        let keys =
            super::constraints::take_constraints(&mut planned.columns, &mut planned.constraints)?;
        if let Some(query) = planned.query.take() {
            let mut query = Statement::Query(query);
            self.qualify_temp_tables(session, &mut query)?;
            if let Statement::Query(query) = query {
                planned.query = Some(query);
            }
        }
        let plan = state
            .statement_to_plan(DfStatement::Statement(Box::new(Statement::CreateTable(
                planned,
            ))))
            .await?;
        let LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) = plan else {
            return Err(LeaderError::Unsupported(statement_name(stmt)));
        };
        let (mut schema, table) = resolve(&create.name)?;
        // A `#name` table is temporary, as on Redshift.
        if ct.temporary || table.starts_with('#') {
            schema = self.temp_schema_for(session, &ct.name)?;
        }
        if !self.catalog_of(session).schema_exists(&schema)? {
            return Err(blueshift_storage::StorageError::SchemaNotFound(schema).into());
        }
        if self.catalog_of(session).table(&schema, &table)?.is_some() {
            if create.if_not_exists {
                return Ok(Outcome::done("CREATE TABLE"));
            }
            return Err(blueshift_storage::StorageError::TableExists(table).into());
        }
        let input_schema = create.input.schema().as_arrow().clone();
        let defaults: HashMap<String, String> = ct
            .columns
            .iter()
            .filter_map(|c| {
                c.options.iter().find_map(|o| match &o.option {
                    datafusion::sql::sqlparser::ast::ColumnOption::Default(e) => {
                        Some((ident_name(&c.name), e.to_string()))
                    }
                    _ => None,
                })
            })
            .collect();
        let declared: HashMap<String, String> = ct
            .columns
            .iter()
            .map(|c| {
                let name = if c.name.quote_style.is_some() {
                    c.name.value.clone()
                } else {
                    c.name.value.to_lowercase()
                };
                (name, c.data_type.to_string().to_lowercase())
            })
            .collect();
        // A CTAS column that shows a table's column as it is keeps its declared type.
        let from_query = crate::planner::views::declared_types(&create.input);
        let columns: Vec<ColumnDef> = input_schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| ColumnDef {
                id: i as u32,
                missing_value: None,
                default: defaults.get(f.name()).cloned(),
                identity: attrs.identities.get(f.name()).copied(),
                name: f.name().clone(),
                data_type: f.data_type().clone(),
                // An IDENTITY column is NOT NULL, as on Redshift.
                nullable: (f.is_nullable() || ct.query.is_some())
                    && !attrs.identities.contains_key(f.name()),
                // A CTAS column has its values' type: `numeric(10,2)` keeps its
                // precision and scale.
                declared_type: declared
                    .get(f.name())
                    .cloned()
                    .or_else(|| from_query.get(i).cloned().flatten())
                    .unwrap_or_else(|| {
                        crate::system_tables::pg_types::from_arrow(f.data_type()).name
                    }),
                encoding: attrs.encodings.get(f.name()).cloned(),
            })
            .collect();
        check_identities(&columns, &attrs)?;
        // The creator owns the table; its default privileges give others theirs.
        let acl = self
            .catalog_of(session)
            .initial_acl(session.user_id(), &schema)?;
        let mut def = TableDef {
            owner: session.user_id(),
            acl,
            ..table_def(schema, table, columns, &attrs)?
        };
        self.add_constraints(session, &mut def, keys, true)?;
        let is_ctas = ct.query.is_some();
        if is_ctas {
            self.authorize_plan(session, &create.input)?;
        }
        if !is_ctas {
            self.commits_of(session).create_table(def, None)?;
            return Ok(Outcome::done("CREATE TABLE"));
        }
        // CREATE TABLE AS: stage the rows, then create the table and its first
        // version in one catalog transaction.
        let (state, _guard) = self.admit(session, StatementKind::CreateTableAs).await?;
        let query = session.current_query().unwrap_or(0);
        let (_, stream) =
            super::results::start_spilling(state, create.input.as_ref().clone(), query).await?;
        let sink = SliceSink::new(def.clone(), self.commits_of(session), self.cluster.clone());
        let (rows, segments) = interrupt.run(sink.stage(stream)).await?;
        let version = TableVersion {
            version: 0,
            slices: segments,
        };
        self.commits_of(session).create_table(def, Some(version))?;
        Ok(Outcome::done_rows("SELECT", rows))
    }
}

/// Builds a table definition from columns and Redshift attributes, checking them as
/// Redshift does.
fn table_def(
    schema: String,
    name: String,
    columns: Vec<ColumnDef>,
    attrs: &TableAttributes,
) -> Result<TableDef, LeaderError> {
    let index_of = |col: &str, what: &str| {
        columns.iter().position(|c| c.name == col).ok_or_else(|| {
            LeaderError::DataFusion(datafusion::error::DataFusionError::SchemaError(
                Box::new(datafusion::common::SchemaError::FieldNotFound {
                    field: Box::new(datafusion::common::Column::from_name(col)),
                    valid_fields: vec![],
                }),
                Box::new(Some(format!(
                    "column \"{col}\" named in {what} does not exist"
                ))),
            ))
        })
    };
    let dist_key = attrs
        .dist_key
        .as_deref()
        .map(|c| index_of(c, "DISTKEY"))
        .transpose()?;
    let dist_style = match (attrs.dist_style, dist_key) {
        (None, Some(_)) | (Some(DistStyle::Key), Some(_)) => DistStyle::Key,
        (Some(DistStyle::Key), None) => {
            return Err(LeaderError::InvalidDefinition(
                "DISTSTYLE KEY needs a DISTKEY column".into(),
            ));
        }
        (Some(style), Some(_)) => {
            return Err(LeaderError::InvalidDefinition(format!(
                "DISTKEY cannot be used with DISTSTYLE {}",
                style.name()
            )));
        }
        (Some(style), None) => style,
        (None, None) => DistStyle::Auto,
    };
    let sort_key = attrs
        .sort_key
        .iter()
        .map(|c| index_of(c, "SORTKEY"))
        .collect::<Result<Vec<_>, _>>()?;
    let sort_style = attrs.sort_style.unwrap_or(SortStyle::Compound);
    if sort_style == SortStyle::Interleaved && sort_key.len() > 8 {
        return Err(LeaderError::InvalidDefinition(
            "an INTERLEAVED SORTKEY has at most 8 columns".into(),
        ));
    }
    if sort_key.len() > 400 {
        return Err(LeaderError::InvalidDefinition(
            "a SORTKEY has at most 400 columns".into(),
        ));
    }
    // New tables place KEY rows with the stable hash; it must know the key's type.
    let dist_hash = DistHash::CanonicalV1;
    if let Some(column) = dist_key.and_then(|k| columns.get(k))
        && !dist_hash.supports(&column.data_type)
    {
        return Err(LeaderError::Unsupported(format!(
            "DISTKEY column \"{}\" of type {}",
            column.name, column.declared_type
        )));
    }
    Ok(TableDef {
        id: 0,
        schema,
        name,
        next_column_id: columns.len() as u32,
        columns,
        dist_style,
        dist_key,
        sort_key,
        sort_style,
        backup: attrs.backup.unwrap_or(true),
        dist_hash,
        owner: blueshift_storage::catalog::access::BOOTSTRAP_USER_ID,
        acl: vec![],
        constraints: vec![],
    })
}

/// A column name as written: quoted names keep their case.
fn ident_name(ident: &datafusion::sql::sqlparser::ast::Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

impl Engine {
    /// ALTER TABLE: ADD COLUMN [DEFAULT] [NOT NULL], DROP COLUMN, RENAME COLUMN and
    /// RENAME TO. Each changes only the catalog: segment files name columns by id, so
    /// old segments read an added column as its default (or NULL) and ignore a
    /// dropped one.
    pub(super) async fn alter_table(
        &self,
        session: &Session,
        alter: &datafusion::sql::sqlparser::ast::AlterTable,
        attrs: Option<&TableAttributes>,
    ) -> Result<Outcome, LeaderError> {
        use blueshift_storage::StorageError as S;
        use datafusion::sql::sqlparser::ast::{AlterTableOperation as Op, RenameTableNameKind};
        let (schema, table) = self.relation_name(session, &alter.name)?;
        // RENAME TO alone, of a table or a view: the views that read it follow it.
        if let [Op::RenameTable { table_name }] = alter.operations.as_slice() {
            let (RenameTableNameKind::To(name) | RenameTableNameKind::As(name)) = table_name;
            let (new_schema, new_name) = object_reference(name)?;
            if name.0.len() > 1 && new_schema != schema {
                return Err(LeaderError::Unsupported(
                    "ALTER TABLE ... RENAME TO another schema".into(),
                ));
            }
            let catalog = self.catalog_of(session);
            if catalog.table(&schema, &table)?.is_none() && catalog.view(&schema, &table)?.is_none()
            {
                if alter.if_exists {
                    return Ok(Outcome::done("ALTER TABLE"));
                }
                return Err(S::TableNotFound(table).into());
            }
            self.commits_of(session)
                .rename_relation(&schema, &table, &new_name, |view| {
                    self.follow_rename(view, &schema, &table, &new_name)
                })?;
            return Ok(Outcome::done("ALTER TABLE"));
        }
        let Some(def) = self.catalog_of(session).table(&schema, &table)? else {
            if alter.if_exists {
                return Ok(Outcome::done("ALTER TABLE"));
            }
            return Err(S::TableNotFound(table).into());
        };
        let original = def.clone();
        let mut def = def;
        let mut cascade = false;
        for operation in &alter.operations {
            match operation {
                Op::AddColumn {
                    if_not_exists,
                    column_def,
                    ..
                } => {
                    let name = ident_name(&column_def.name);
                    if def.column_index(&name).is_some() {
                        if *if_not_exists {
                            continue;
                        }
                        return Err(LeaderError::DuplicateColumn(name));
                    }
                    let mut column_def = column_def.clone();
                    let declared = super::constraints::take_column_constraints(&mut column_def)?;
                    let mut column = self.new_column(session, &def, &column_def, name).await?;
                    column.encoding = attrs.and_then(|a| a.encodings.get(&column.name).cloned());
                    def.next_column_id = def.next_column_id.max(column.id) + 1;
                    def.columns.push(column);
                    self.add_constraints(session, &mut def, declared, false)?;
                }
                Op::AddConstraint { constraint, .. } => {
                    let declared = super::constraints::declared_one(constraint)?;
                    self.add_constraints(session, &mut def, vec![declared], false)?;
                }
                Op::DropConstraint {
                    if_exists,
                    name,
                    drop_behavior,
                } => {
                    let name = ident_name(name);
                    let before = def.constraints.len();
                    def.constraints.retain(|c| c.name != name);
                    if def.constraints.len() == before && !*if_exists {
                        return Err(LeaderError::Failure {
                            kind: crate::error::ErrorKind::UndefinedObject,
                            message: format!(
                                "constraint \"{name}\" of relation \"{}\" does not exist",
                                def.name
                            ),
                        });
                    }
                    cascade |= matches!(
                        drop_behavior,
                        Some(datafusion::sql::sqlparser::ast::DropBehavior::Cascade)
                    );
                }
                Op::DropColumn {
                    column_names,
                    if_exists,
                    ..
                } => {
                    for ident in column_names {
                        let name = ident_name(ident);
                        let Some(index) = def.column_index(&name) else {
                            if *if_exists {
                                continue;
                            }
                            return Err(column_not_found(&name));
                        };
                        if def.dist_key == Some(index) || def.sort_key.contains(&index) {
                            return Err(LeaderError::InvalidDefinition(format!(
                                "cannot drop column \"{name}\": it is the table's DISTKEY or \
                                 part of its SORTKEY"
                            )));
                        }
                        if def.columns.len() == 1 {
                            return Err(LeaderError::InvalidDefinition(format!(
                                "cannot drop column \"{name}\": it is the table's only column"
                            )));
                        }
                        def.columns.remove(index);
                        let shift = |i: usize| if i > index { i - 1 } else { i };
                        def.dist_key = def.dist_key.map(shift);
                        def.sort_key = def.sort_key.iter().map(|&i| shift(i)).collect();
                    }
                }
                Op::RenameColumn {
                    old_column_name,
                    new_column_name,
                } => {
                    let old = ident_name(old_column_name);
                    let new = ident_name(new_column_name);
                    let index = def
                        .column_index(&old)
                        .ok_or_else(|| column_not_found(&old))?;
                    if def.column_index(&new).is_some() {
                        return Err(LeaderError::DuplicateColumn(new));
                    }
                    def.columns[index].name = new;
                }
                Op::RenameTable { table_name } => {
                    let (RenameTableNameKind::To(name) | RenameTableNameKind::As(name)) =
                        table_name;
                    let (new_schema, new_name) = object_reference(name)?;
                    if name.0.len() > 1 && new_schema != def.schema {
                        return Err(LeaderError::Unsupported(
                            "ALTER TABLE ... RENAME TO another schema".into(),
                        ));
                    }
                    def.name = new_name;
                }
                other => {
                    return Err(LeaderError::Unsupported(format!("ALTER TABLE ... {other}")));
                }
            }
        }
        let altered = def;
        self.commits_of(session)
            .alter_table(&schema, &table, cascade, |current| {
                // Another ALTER committed meanwhile: refuse rather than lose it.
                if *current != original {
                    return Err(S::Conflict {
                        table: current.qualified_name(),
                        reason: "a concurrent ALTER TABLE changed it".into(),
                    });
                }
                *current = altered.clone();
                Ok(())
            })?;
        Ok(Outcome::done("ALTER TABLE"))
    }

    /// The column an ADD COLUMN defines: its type (as CREATE TABLE would give it),
    /// and its DEFAULT, which old rows read.
    async fn new_column(
        &self,
        session: &Session,
        def: &TableDef,
        column_def: &datafusion::sql::sqlparser::ast::ColumnDef,
        name: String,
    ) -> Result<ColumnDef, LeaderError> {
        use datafusion::sql::sqlparser::ast::ColumnOption;
        refuse_column_options(column_def)?;
        let state = self.state_for(session);
        let probe = format!("CREATE TABLE blueshift_alter_probe ({column_def})");
        let stmt = self
            .parse_statements(&probe)?
            .into_iter()
            .next()
            .and_then(|p| match p {
                super::Parsed::Sql(s, _) => Some(*s),
                _ => None,
            })
            .ok_or_else(|| LeaderError::Unsupported(format!("the column {column_def}")))?;
        let plan = state
            .statement_to_plan(DfStatement::Statement(Box::new(stmt)))
            .await?;
        let LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) = plan else {
            return Err(LeaderError::Unsupported(format!("the column {column_def}")));
        };
        let schema = create.input.schema().as_arrow().clone();
        let field = schema
            .fields()
            .first()
            .ok_or_else(|| LeaderError::Unsupported(format!("the column {column_def}")))?;
        let default = column_def.options.iter().find_map(|o| match &o.option {
            ColumnOption::Default(expr) => Some(expr.clone()),
            _ => None,
        });
        let default_text = default.as_ref().map(|e| e.to_string());
        let missing_value = match &default_text {
            Some(expr) => self.default_value(expr).await?,
            None => None,
        };
        let nullable = field.is_nullable();
        if !nullable
            && missing_value.is_none()
            && self.catalog_of(session).version(def.id)?.rows() > 0
        {
            return Err(LeaderError::NotNullViolation(name));
        }
        // The value must read back as the column's type.
        if let Some(text) = &missing_value {
            datafusion::common::ScalarValue::try_from_string(text.clone(), field.data_type())?;
        }
        Ok(ColumnDef {
            id: def.next_column_id,
            name,
            data_type: field.data_type().clone(),
            nullable,
            declared_type: column_def.data_type.to_string().to_lowercase(),
            encoding: None,
            missing_value,
            default: default_text,
            identity: None,
        })
    }
}

impl Engine {
    /// The value of DEFAULT `expr` (SQL text) as text, evaluated now; `None` for NULL.
    pub(super) async fn default_value(&self, expr: &str) -> Result<Option<String>, LeaderError> {
        let sql = format!("SELECT CAST(({expr}) AS VARCHAR)");
        let batches = self.ctx.sql(&sql).await?.collect().await?;
        Ok(batches.iter().find(|b| b.num_rows() > 0).and_then(|b| {
            let column = b.column(0);
            let strings = column
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()?;
            arrow::array::Array::is_valid(strings, 0).then(|| strings.value(0).to_string())
        }))
    }

    /// The columns a load's column list leaves out take their DEFAULT, evaluated
    /// once for the load.
    pub(super) async fn fill_defaults(
        &self,
        def: &TableDef,
        columns: &mut [blueshift_operators::load::LoadColumn],
    ) -> Result<(), LeaderError> {
        for (column, c) in columns.iter_mut().zip(&def.columns) {
            if column.input.is_none()
                && let Some(expr) = &c.default
            {
                column.default = self.default_value(expr).await?;
            }
        }
        Ok(())
    }
}

/// IDENTITY columns as Redshift allows them: of INTEGER or BIGINT, without a
/// DEFAULT, in a table that names its columns.
fn check_identities(columns: &[ColumnDef], attrs: &TableAttributes) -> Result<(), LeaderError> {
    for name in attrs.identities.keys() {
        let Some(c) = columns.iter().find(|c| &c.name == name) else {
            return Err(column_not_found(name));
        };
        if !matches!(
            c.data_type,
            arrow::datatypes::DataType::Int32 | arrow::datatypes::DataType::Int64
        ) {
            return Err(LeaderError::InvalidDefinition(format!(
                "the IDENTITY column \"{name}\" must be INTEGER or BIGINT, not {}",
                c.declared_type
            )));
        }
        if c.default.is_some() {
            return Err(LeaderError::InvalidDefinition(format!(
                "the IDENTITY column \"{name}\" cannot have a DEFAULT"
            )));
        }
    }
    Ok(())
}

fn column_not_found(name: &str) -> LeaderError {
    datafusion::common::unqualified_field_not_found(name, &datafusion::common::DFSchema::empty())
        .into()
}

/// Column options Blueshift does not have yet, refused (0A000) rather than ignored:
/// an identity or generated column would otherwise be NULL in every row.
pub(super) fn refuse_column_options(
    column: &datafusion::sql::sqlparser::ast::ColumnDef,
) -> Result<(), LeaderError> {
    use datafusion::sql::sqlparser::ast::ColumnOption;
    for option in &column.options {
        let what = match &option.option {
            ColumnOption::Identity(_) => "an IDENTITY column",
            ColumnOption::Generated { .. } => "a GENERATED column",
            ColumnOption::Check(_) => "a CHECK constraint",
            ColumnOption::Materialized(_)
            | ColumnOption::Ephemeral(_)
            | ColumnOption::Alias(_)
            | ColumnOption::OnUpdate(_) => "a computed column",
            _ => continue,
        };
        return Err(LeaderError::Unsupported(format!(
            "{what} (column \"{}\")",
            column.name.value
        )));
    }
    Ok(())
}

//! Transaction blocks in the engine: which catalog view a statement of a session
//! reads and commits to, and how a failed statement fails its block.

use super::*;

/// Whether `stmt` ends a transaction block (COMMIT, END, ROLLBACK, ABORT).
pub(super) fn ends_block(stmt: &Statement) -> bool {
    matches!(stmt, Statement::Commit { .. } | Statement::Rollback { .. })
}

/// Whether `planned` changes table data or the catalog when it runs.
pub(super) fn changes_something(planned: &Planned) -> bool {
    match planned {
        Planned::Insert(_)
        | Planned::Dml(_)
        | Planned::Copy(_)
        | Planned::Access(_)
        | Planned::Refresh(_) => true,
        Planned::Empty | Planned::Query(_) | Planned::Unload(_) => false,
        Planned::Command(stmt, _) => matches!(
            stmt.as_ref(),
            Statement::CreateTable(_)
                | Statement::CreateView(_)
                | Statement::Comment { .. }
                | Statement::CreateSchema { .. }
                | Statement::Drop { .. }
                | Statement::AlterTable(_)
                | Statement::AlterSchema(_)
                | Statement::Truncate(_)
                | Statement::Vacuum(_)
                | Statement::Analyze(_)
        ),
    }
}

/// The statement `planned` runs, named as in its command tag.
pub(super) fn planned_name(planned: &Planned) -> String {
    match planned {
        Planned::Empty => String::new(),
        Planned::Query(_) => "SELECT".into(),
        Planned::Insert(_) => "INSERT".into(),
        Planned::Dml(LogicalPlan::Dml(dml)) => dml.op.to_string().to_ascii_uppercase(),
        Planned::Dml(_) => "DELETE".into(),
        Planned::Command(stmt, _) => statement_name(stmt),
        Planned::Copy(_) => "COPY".into(),
        Planned::Unload(_) => "UNLOAD".into(),
        Planned::Access(a) => a.tag().into(),
        Planned::Refresh(_) => "REFRESH MATERIALIZED VIEW".into(),
    }
}

impl Engine {
    /// The catalog a statement of `session` reads and writes: its transaction
    /// block's view, or the committed catalog.
    pub(super) fn catalog_of(&self, session: &Session) -> Catalog {
        session
            .block_catalog()
            .unwrap_or_else(|| self.catalog.clone())
    }

    /// Where a statement of `session` commits: into its transaction block, or on its
    /// own.
    pub(super) fn commits_of(&self, session: &Session) -> CommitPoint {
        CommitPoint::new(self.catalog_of(session))
    }

    /// Plans or runs one statement of `session` (`ends`: it ends a transaction
    /// block): in a failed block only the block's end runs (25P02 otherwise), and a
    /// statement that fails fails its block.
    pub(super) async fn in_block<T>(
        &self,
        session: &Session,
        ends: bool,
        statement: impl std::future::Future<Output = Result<T, LeaderError>>,
    ) -> Result<T, LeaderError> {
        if session.block_failed() && !ends {
            return Err(LeaderError::InFailedTransaction);
        }
        let result = statement.await;
        if result.is_err() {
            self.fail_block(session);
        }
        result
    }

    /// What fails `session`'s open block later: a statement whose rows meet an
    /// error after it started.
    pub fn block_failer(&self, session: Arc<Session>) -> impl Fn() + Send + Sync + 'static {
        let collect = self.garbage_collector();
        move || {
            if session.fail_block() {
                collect();
            }
        }
    }

    /// A statement of the session's open block failed: the block fails, and the
    /// segments its changes had staged are collected.
    pub fn fail_block(&self, session: &Session) {
        if session.fail_block() {
            self.collect_garbage_when_idle();
        }
    }
}

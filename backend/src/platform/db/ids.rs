//! Ids reserved ahead of the statements that insert their rows.

use super::{Db, Executor, Result, Value};

/// Ids reserved from a table's identity sequence a block at a time (one round trip per block), so
/// a write knows its row's id before the statement that inserts it, and can embed it in what that
/// statement writes alongside (a job's payload, say). Ids are unique, not gap-free: a process
/// that exits drops the rest of its block.
pub struct IdBlock {
    /// Returns a block of fresh ids, one per row.
    reserve_sql: &'static str,
    ids: std::sync::Mutex<Vec<i64>>,
}

impl IdBlock {
    pub const fn new(reserve_sql: &'static str) -> Self {
        Self { reserve_sql, ids: std::sync::Mutex::new(Vec::new()) }
    }

    /// The statement must return one column named `value` per reserved id.
    pub async fn next(&self, db: &Db) -> Result<i64> {
        if let Some(id) = self.lock().pop() {
            return Ok(id);
        }
        let rows: Vec<Value<i64>> = db.writer().await?.fetch_all(self.reserve_sql, &[]).await?;
        // Handed out from the end: reversed, so a process's ids ascend.
        let mut ids: Vec<i64> = rows.into_iter().rev().map(|Value(id)| id).collect();
        let id = ids.pop().ok_or(super::Error::RowCount(0))?;
        self.lock().extend(ids);
        Ok(id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<i64>> {
        // The guarded Vec is valid whatever a panicking holder did.
        self.ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

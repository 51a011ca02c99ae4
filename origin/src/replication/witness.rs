//! A note, kept beside the local database (`<data_dir>/replication-witness.json`), of the
//! newest replication position this origin has committed and the epoch it belongs to.
//!
//! Edges replicate positions under an epoch. A local database put back from a backup, or
//! copied from another machine, keeps its epoch while its positions go back: an edge that
//! had applied changes past the restored head would keep them, skip the positions origin
//! hands out again, and mix two histories. At start, a database of the noted epoch whose
//! head is behind the note gets a new epoch, so every edge bootstraps again from a snapshot.
//!
//! The note is written after the position is durable (at once, then at most every 250 ms
//! while commits go on), so it never runs ahead of the database; a note that lags misses
//! only a backup taken within its last 250 ms before the process stopped. A database with
//! no note (first start, or the note was deleted) keeps its epoch.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::store::{epoch, head, set_meta};
use crate::db::{Db, DbError};

const FILE: &str = "replication-witness.json";

/// How often, at most, the note is written while commits go on.
const EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Note {
    epoch: String,
    head: i64,
}

/// Why the note could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Checks the local database against the note (a new epoch if the database went back),
/// writes the note, and keeps it current while the process runs. Answers the database's
/// epoch (the new one, if it was renewed).
pub async fn keep(db: &Db, data_dir: &Path) -> Result<String, WitnessError> {
    let path = data_dir.join(FILE);
    let (current, at) = {
        let conn = db.reader().await;
        (epoch(&conn).await?, head(&conn).await?)
    };
    let noted = read(&path);
    let mut now = Note { epoch: current, head: at };
    if let Some(n) = noted.filter(|n| n.epoch == now.epoch && n.head > now.head) {
        let fresh = uuid::Uuid::new_v4().to_string();
        let value = fresh.clone();
        db.write(move |c| async move { set_meta(&c, "epoch", &value).await }).await?;
        tracing::warn!(
            noted_head = n.head,
            head = now.head,
            epoch = %fresh,
            "the database is behind the replication position this origin last noted (restored from a backup?); it has a new replication epoch, and edges bootstrap again"
        );
        metrics::counter!("aethex_replication_epoch_renewals_total").increment(1);
        now.epoch = fresh;
    }
    write(&path, &now)?;
    let renewed_or_kept = now.epoch.clone();
    let mut committed = db.committed();
    tokio::spawn(async move {
        let mut last = now.head;
        while committed.changed().await.is_ok() {
            let position = *committed.borrow_and_update();
            if position > last {
                last = position;
                if let Err(e) = write(&path, &Note { epoch: now.epoch.clone(), head: position }) {
                    tracing::warn!(error = %e, "could not write the replication witness");
                }
            }
            tokio::time::sleep(EVERY).await;
        }
    });
    Ok(renewed_or_kept)
}

fn read(path: &Path) -> Option<Note> {
    let text = std::fs::read_to_string(path).ok()?;
    match serde_json::from_str(&text) {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable replication witness");
            None
        }
    }
}

/// Writes the note whole (a temporary file renamed over it).
fn write(path: &Path, note: &Note) -> Result<(), WitnessError> {
    let io = |source| WitnessError::Io { path: path.to_path_buf(), source };
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(note).expect("a note serializes")).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_is_written_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        assert_eq!(read(&path), None, "no note yet");
        let n = Note { epoch: "e1".into(), head: 42 };
        write(&path, &n).unwrap();
        assert_eq!(read(&path), Some(n));
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(read(&path), None, "an unreadable note is ignored");
    }
}

//! SQLite's one writer: commands that arrive together share one commit, each in its own
//! savepoint, acknowledged only once that commit is done; readers cannot write.

#![allow(clippy::expect_used)]
use std::time::Duration;

use medibook_store::Database;
use medibook_testkit::{Backend, TestDatabase};

async fn scratch_database() -> (TestDatabase, Database) {
    let scratch = TestDatabase::create(Backend::Sqlite)
        .await
        .expect("SQLite needs no server");
    let database = Database::connect(&scratch.url).await.expect("connect");
    database.migrate().await.expect("migrate");
    let mut conn = database.open_writing_connection().await.expect("writer");
    conn.execute_script("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        .await
        .expect("scratch table");
    (scratch, database)
}

async fn stored_ids(database: &Database) -> Vec<i64> {
    medibook_store::sql::query("SELECT id FROM notes ORDER BY id")
        .fetch_all(database.pool())
        .await
        .expect("read notes")
        .iter()
        .map(|row| row.get::<i64, _>("id"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_command_leaves_the_rest_of_its_batch_stored() {
    let (_dir, database) = scratch_database().await;
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..30_i64 {
        let database = database.clone();
        tasks.spawn(async move {
            let mut tx = database.begin_write().await?;
            medibook_store::sql::query("INSERT INTO notes (id, body) VALUES ($1, 'kept')")
                .bind(id)
                .execute(&mut tx)
                .await?;
            // Holding the turn a moment lets the others queue up behind it, into one batch.
            tokio::time::sleep(Duration::from_millis(2)).await;
            if id == 13 {
                // A second row with the same key: this command fails and is dropped.
                medibook_store::sql::query("INSERT INTO notes (id, body) VALUES ($1, 'twice')")
                    .bind(id)
                    .execute(&mut tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, medibook_store::StoreError>(id)
        });
    }
    let mut committed = Vec::new();
    let mut failed = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("task") {
            Ok(id) => committed.push(id),
            Err(error) => failed.push(error.to_string()),
        }
    }
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].contains("UNIQUE"), "{failed:?}");
    let expected: Vec<i64> = (0..30).filter(|id| *id != 13).collect();
    assert_eq!(stored_ids(&database).await, expected);
    let counts = database.writer_counts().expect("SQLite has a writer");
    assert!(
        counts.commands >= 29 && counts.commits < counts.commands,
        "commands that queued together should share commits: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_is_acknowledged_only_once_its_batch_has_committed() {
    let (_dir, database) = scratch_database().await;
    let mut first = database.begin_write().await.expect("first turn");
    medibook_store::sql::query("INSERT INTO notes (id, body) VALUES (1, 'first')")
        .execute(&mut first)
        .await
        .expect("insert");

    // A second command queues while the first holds the writer.
    let mut second = Box::pin(database.begin_write());
    let _ = tokio::time::timeout(Duration::ZERO, &mut second).await;

    let first_commit = tokio::spawn(first.commit());
    let mut second = second.await.expect("second turn, in the same batch");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !first_commit.is_finished(),
        "the first command must not be acknowledged before its batch commits"
    );
    assert!(
        stored_ids(&database).await.is_empty(),
        "nothing is visible before the commit"
    );

    medibook_store::sql::query("INSERT INTO notes (id, body) VALUES (2, 'second')")
        .execute(&mut second)
        .await
        .expect("insert");
    second.commit().await.expect("second commit");
    first_commit
        .await
        .expect("task")
        .expect("first acknowledged with the batch");
    assert_eq!(stored_ids(&database).await, [1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_dropped_midway_is_undone_without_undoing_its_batch() {
    let (_dir, database) = scratch_database().await;
    let mut kept = database.begin_write().await.expect("turn");
    medibook_store::sql::query("INSERT INTO notes (id, body) VALUES (1, 'kept')")
        .execute(&mut kept)
        .await
        .expect("insert");
    let mut abandoned = Box::pin(database.begin_write());
    let _ = tokio::time::timeout(Duration::ZERO, &mut abandoned).await;
    let kept_commit = tokio::spawn(kept.commit());
    let mut abandoned = abandoned.await.expect("second turn");
    medibook_store::sql::query("INSERT INTO notes (id, body) VALUES (2, 'abandoned')")
        .execute(&mut abandoned)
        .await
        .expect("insert");
    drop(abandoned);
    kept_commit.await.expect("task").expect("kept");
    assert_eq!(stored_ids(&database).await, [1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_cannot_write() {
    let (_dir, database) = scratch_database().await;
    let refused = medibook_store::sql::query("INSERT INTO notes (id, body) VALUES (1, 'sneaked')")
        .execute(database.pool())
        .await
        .expect_err("the readers' pool is read-only");
    assert!(
        refused.to_string().contains("readonly"),
        "unexpected error: {refused}"
    );
    assert!(stored_ids(&database).await.is_empty());
}

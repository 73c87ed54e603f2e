//! PostgreSQL: the metadata of several gateways in one database that its users already
//! run, back up and make highly available.
//!
//! The keyspace is one table, `fastgate_kv (k bytea primary key, v bytea)`: `bytea`
//! compares as `memcmp`, the order sled and fjall give, so every key layout and every
//! range scan of the model works unchanged. Scans are paged by keyset (`k > $last ORDER
//! BY k LIMIT n`), so a listing never loads a whole table and each page is an index
//! range; a scan's first page is small (most stop early), its later ones large.
//!
//! **Transactions.** Each group commit of a gateway is one SERIALIZABLE transaction
//! ([`MetaStore::transact`]): the requests' bodies read through it, their writes are
//! applied in it, then COMMIT. PostgreSQL detects every read-modify-write that
//! another gateway's transaction overlapped (a chunk's reference count, an object
//! record, an upload's parts) and fails one of them with SQLSTATE 40001 (or 40P01 for a
//! deadlock); the whole batch is then run again from its bodies, a bounded number of
//! times with a growing, jittered pause. A body's own error still fails only its
//! request, as on the embedded engines. `COMMIT` is durable (`synchronous_commit` as
//! the server has it), so [`MetaStore::flush`] has nothing left to do, and PostgreSQL's
//! own group commit of its WAL replaces ours.
//!
//! **Hot rows.** A chunk's reference count in one row would make writes that
//! reference the same content at the same moment (the empty object, a popular file
//! copied many times) conflict on it across gateways, each conflict a retry of a whole
//! batch: measured with three gateways PUTting two contents, 20 to 82 of 192 group
//! commits ran again. So each gateway is a writer with an id of its own
//! ([`MetaStore::writer`], drawn at open), and the model keeps its share of each count
//! in a row of its own, which it changes with [`WriteBatch::add`]: an `INSERT ... ON
//! CONFLICT DO UPDATE` that sums in the database, so the transaction never reads the
//! row. That matters as much as the row being its own: PostgreSQL's serializable
//! checks lock what a transaction *reads* by index page, and the gateways' rows of one
//! chunk share a page, so reading one's own row still conflicted as often as the single
//! row did (`writers_that_add_to_counters_of_their_own_...` in the tests measures the
//! four ways). Garbage collection folds the rows (see the model's `refs`). With
//! PostgreSQL's default predicate lock limits a group commit's read locks grow to
//! whole pages, then the whole table, and conflict with every write anyway: [`open`]
//! warns when they are below what `deploy/README.md` asks (with them, 2 to 9 of those
//! 192 commits ran again, against 41 to 54 with the defaults). What still conflicts is
//! what shares an index page for real: new keys written at once into one bucket (the
//! same test writing a new key each time: 35 to 56 of 192), since a transaction that
//! finds a key absent holds the page where it would be.
//!
//! [`open`]: PgStore::open
//!
//! **Garbage collection** deletes a chunk's record and then its file. No gateway may
//! link that file again, or decide it is already stored, in between: the gates
//! ([`MetaStore::shared_gate`] for a group commit, from its first publish to its
//! COMMIT, [`MetaStore::exclusive_gate`] for a collection step) are a PostgreSQL
//! advisory lock, shared or exclusive, so they reach every gateway of the database.
//!
//! The trait is synchronous and is called from the committer thread and from tokio's
//! blocking pool; the engine owns a small runtime that drives its connections, and
//! those threads block on it. Point reads from an async task would block a worker, so
//! the model sends them to the blocking pool when [`MetaStore::reads_inline`] says so.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deadpool_postgres::{ManagerConfig, Object, Pool, PoolConfig, RecyclingMethod, Runtime, Timeouts};
use tokio::runtime::RuntimeFlavor;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, NoTls};

use super::{Entry, Gate, MetaError, MetaStore, Reads, Scan, TransactBody, UNAVAILABLE, WriteBatch, prefix_end};

/// Rows fetched by the first page of a range scan. Small, because many scans stop
/// after a row or a few: a delimiter listing starts a new scan past every common
/// prefix it rolls up and usually reads one key of it, and a reverse scan looks for
/// the one last key below a bound. 100 common prefixes at 512 rows a seek were 51,200
/// rows read and sent for 100 keys used.
const FIRST_PAGE: i64 = 32;

/// Rows fetched by every later page: a scan that outgrew its first page is a walk
/// (a listing page of up to 1,000 keys), which then takes one more query, not two.
const PAGE: i64 = 1024;

/// Connections per gateway: the committer's transaction and its gate, garbage
/// collection, and the blocking pool's reads.
const POOL_SIZE: usize = 16;

/// How long a request waits for a connection, or for one to be made, before it is
/// told the database is unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs of one transaction at most, the first included, before a conflict is the
/// caller's error.
const MAX_RUNS: u32 = 12;

/// The predicate lock limits `deploy/README.md` asks for: below them a group commit's
/// serializable read locks soon cover pages and the table rather than rows (a batch of
/// the committer's largest still may: its reads are that batch's).
const MIN_PRED_LOCKS_PER_TRANSACTION: i64 = 1024;
const MIN_PRED_LOCKS_PER_PAGE: i64 = 1000;

/// The advisory lock key of the gates ("fastgate" in ASCII).
const GATE_KEY: i64 = 0x6661_7374_6761_7465;

/// The advisory lock key that makes the schema's creation one gateway's at a time.
const SCHEMA_KEY: i64 = GATE_KEY + 1;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS fastgate_kv (k bytea PRIMARY KEY, v bytea NOT NULL)";

pub struct PgStore {
    /// Drives the pool's connections; the engine's callers block on it. An `Option`
    /// only so that `drop` can shut it down without waiting (a store may be dropped
    /// on an async task, where a blocking shutdown panics).
    rt: Option<tokio::runtime::Runtime>,
    /// A handle of `rt`, which lives as long as the store.
    handle: tokio::runtime::Handle,
    pool: Pool,
    /// Runs of transactions started again after a conflict ([`MetaStore::conflicts`]).
    conflicts: AtomicU64,
    /// This gateway's id among the database's writers ([`MetaStore::writer`]).
    writer: u64,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Why a run of a transaction failed: a conflict worth running it again for, or not.
enum Failure {
    Conflict(MetaError),
    Final(MetaError),
}

fn pg_error(e: tokio_postgres::Error) -> MetaError {
    let unavailable = match e.code() {
        // No SQLSTATE: the connection broke or could not be made.
        None => true,
        Some(c) => {
            let c = c.code();
            c.starts_with("08") || c.starts_with("57P")
        }
    };
    if unavailable {
        MetaError(format!("{UNAVAILABLE}{e}"))
    } else {
        MetaError(format!("postgres: {e}"))
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> MetaError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg_error(e),
        e => MetaError(format!("{UNAVAILABLE}{e}")),
    }
}

fn classify(e: tokio_postgres::Error) -> Failure {
    let conflict = e
        .code()
        .is_some_and(|c| *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED);
    if conflict {
        Failure::Conflict(pg_error(e))
    } else {
        Failure::Final(pg_error(e))
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:pass@host:port/db`, or
    /// `host=/run/postgresql dbname=fastgate` key-value form) and creates the table
    /// when it is missing.
    pub fn open(url: &str) -> Result<Self, MetaError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fastgate-pg")
            .enable_all()
            .build()
            .map_err(|e| MetaError(format!("postgres runtime: {e}")))?;
        let cfg = deadpool_postgres::Config {
            url: Some(url.to_owned()),
            manager: Some(ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            }),
            pool: Some(PoolConfig {
                max_size: POOL_SIZE,
                timeouts: Timeouts {
                    wait: Some(CONNECT_TIMEOUT),
                    create: Some(CONNECT_TIMEOUT),
                    recycle: Some(CONNECT_TIMEOUT),
                },
                ..PoolConfig::default()
            }),
            ..deadpool_postgres::Config::default()
        };
        let pool = cfg
            .create_pool(Some(Runtime::Tokio1), NoTls)
            .map_err(|e| MetaError(format!("postgres {url:?}: {e}")))?;
        let store = Self {
            handle: rt.handle().clone(),
            rt: Some(rt),
            pool,
            conflicts: AtomicU64::new(0),
            writer: rand::random(),
        };
        store.block(async {
            let mut client = store.pool.get().await.map_err(pool_error)?;
            let tx = client.transaction().await.map_err(pg_error)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_KEY])
                .await
                .map_err(pg_error)?;
            tx.batch_execute(SCHEMA).await.map_err(pg_error)?;
            tx.commit().await.map_err(pg_error)
        })?;
        store.check_predicate_locks();
        Ok(store)
    }

    /// Warns when the server's predicate lock limits would turn a group commit's read
    /// locks into locks of whole pages or of the whole table (see "Hot rows" above).
    /// A server that does not say is not worth failing the start for.
    fn check_predicate_locks(&self) {
        let settings = self.block(async {
            let client = self.pool.get().await.ok()?;
            let row = client
                .query_one(
                    "SELECT current_setting('max_pred_locks_per_transaction')::int8, \
                     current_setting('max_pred_locks_per_page')::int8",
                    &[],
                )
                .await
                .ok()?;
            Some((row.try_get::<_, i64>(0).ok()?, row.try_get::<_, i64>(1).ok()?))
        });
        if let Some((per_transaction, per_page)) = settings
            && (per_transaction < MIN_PRED_LOCKS_PER_TRANSACTION || per_page < MIN_PRED_LOCKS_PER_PAGE)
        {
            tracing::warn!(
                max_pred_locks_per_transaction = per_transaction,
                max_pred_locks_per_page = per_page,
                "PostgreSQL's predicate lock limits are low: gateways will run their transactions again far more \
                 often than they need to; set max_pred_locks_per_transaction = {MIN_PRED_LOCKS_PER_TRANSACTION} and \
                 max_pred_locks_per_page = {MIN_PRED_LOCKS_PER_PAGE} or more (deploy/README.md, section 10)"
            );
        }
    }

    /// Runs `f` on the engine's runtime and waits for it. On a worker of a
    /// multi-threaded runtime the wait is announced with `block_in_place`, so that the
    /// worker's other tasks move elsewhere; on a current-thread runtime it happens on
    /// a thread of its own. Neither should be the common case: the model sends
    /// metadata calls of async tasks to the blocking pool.
    fn block<F>(&self, f: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        match tokio::runtime::Handle::try_current() {
            Err(_) => self.handle.block_on(f),
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| self.handle.block_on(f))
            }
            Ok(_) => std::thread::scope(|s| match s.spawn(|| self.handle.block_on(f)).join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            }),
        }
    }

    fn client(&self) -> Result<Object, MetaError> {
        self.block(self.pool.get()).map_err(pool_error)
    }

    /// One page of a scan: at most `limit` entries within the bounds, in order.
    fn page(
        &self,
        lower: &Bound<Vec<u8>>,
        upper: &Bound<Vec<u8>>,
        rev: bool,
        limit: i64,
    ) -> Result<Vec<Entry>, MetaError> {
        let mut sql = String::from("SELECT k, v FROM fastgate_kv WHERE true");
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
        for (bound, incl, excl) in [(lower, ">=", ">"), (upper, "<=", "<")] {
            let (op, key) = match bound {
                Bound::Included(k) => (incl, k),
                Bound::Excluded(k) => (excl, k),
                Bound::Unbounded => continue,
            };
            params.push(key);
            sql.push_str(&format!(" AND k {op} ${}", params.len()));
        }
        sql.push_str(if rev { " ORDER BY k DESC" } else { " ORDER BY k" });
        params.push(&limit);
        sql.push_str(&format!(" LIMIT ${}", params.len()));
        self.block(async {
            let client = self.pool.get().await.map_err(pool_error)?;
            let stmt = client.prepare_cached(&sql).await.map_err(pg_error)?;
            let rows = client.query(&stmt, &params).await.map_err(pg_error)?;
            rows.iter()
                .map(|r| Ok((r.try_get(0).map_err(pg_error)?, r.try_get(1).map_err(pg_error)?)))
                .collect()
        })
    }

    /// One run of a transaction: the body, its writes, COMMIT.
    fn run_once(&self, body: &mut TransactBody<'_>) -> Result<(), Failure> {
        let final_error = |e: MetaError| Failure::Final(e);
        let mut client = self.client().map_err(final_error)?;
        let tx = self
            .block(
                client
                    .build_transaction()
                    .isolation_level(IsolationLevel::Serializable)
                    .start(),
            )
            .map_err(classify)?;
        let reads = TxReads {
            store: self,
            tx: &tx,
            broken: RefCell::new(None),
        };
        let out = body(&reads);
        // A failed statement aborts the whole transaction, whatever the body made of
        // the error: the transaction's fate is the database's.
        if let Some(e) = reads.broken.into_inner() {
            return Err(classify(e));
        }
        let batch = out.map_err(final_error)?;
        self.block(async {
            write_batch(&tx, batch).await?;
            tx.commit().await
        })
        .map_err(classify)
    }
}

/// The writes of `batch`, inside `tx`: one statement for the puts, one for the
/// deletions, one for the additions to counters.
async fn write_batch(
    tx: &deadpool_postgres::Transaction<'_>,
    mut batch: WriteBatch,
) -> Result<(), tokio_postgres::Error> {
    let adds = batch.take_adds();
    let mut keys = Vec::new();
    let mut values = Vec::new();
    let mut gone = Vec::new();
    for (k, v) in batch {
        match v {
            Some(v) => {
                keys.push(k);
                values.push(v);
            }
            None => gone.push(k),
        }
    }
    if !keys.is_empty() {
        let stmt = tx
            .prepare_cached(
                "INSERT INTO fastgate_kv (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
                 ON CONFLICT (k) DO UPDATE SET v = excluded.v",
            )
            .await?;
        tx.execute(&stmt, &[&keys, &values]).await?;
    }
    if !gone.is_empty() {
        let stmt = tx
            .prepare_cached("DELETE FROM fastgate_kv WHERE k = ANY($1::bytea[])")
            .await?;
        tx.execute(&stmt, &[&gone]).await?;
    }
    if !adds.is_empty() {
        // The sum is made by the database, on the row as it is when this statement
        // runs: the transaction has not read it, so it holds no predicate lock on it
        // (nor on its index page) for another writer's write to break. `int8send`
        // writes the big-endian bytes of `counter`; a value of another length is
        // replaced rather than summed.
        let stmt = tx
            .prepare_cached(
                "INSERT INTO fastgate_kv (k, v) SELECT k, int8send(n) FROM unnest($1::bytea[], $2::int8[]) AS a(k, n) \
                 ON CONFLICT (k) DO UPDATE SET v = CASE WHEN length(fastgate_kv.v) = 8 \
                 THEN int8send(('x' || encode(fastgate_kv.v, 'hex'))::bit(64)::int8 + ('x' || encode(excluded.v, 'hex'))::bit(64)::int8) \
                 ELSE excluded.v END",
            )
            .await?;
        let (keys, ns): (Vec<Vec<u8>>, Vec<i64>) = adds.into_iter().unzip();
        tx.execute(&stmt, &[&keys, &ns]).await?;
    }
    Ok(())
}

/// The reads of a transaction body, made inside the database's transaction. The first
/// failure is kept: after it the transaction is aborted and the run must end.
struct TxReads<'a> {
    store: &'a PgStore,
    tx: &'a deadpool_postgres::Transaction<'a>,
    broken: RefCell<Option<tokio_postgres::Error>>,
}

impl TxReads<'_> {
    fn check<T>(&self, r: Result<T, tokio_postgres::Error>) -> Result<T, MetaError> {
        r.map_err(|e| {
            let out = MetaError(format!("postgres: {e}"));
            self.broken.borrow_mut().get_or_insert(e);
            out
        })
    }
}

impl Reads for TxReads<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MetaError> {
        if self.broken.borrow().is_some() {
            return Err(MetaError("postgres: the transaction is aborted".into()));
        }
        let r = self.store.block(async {
            let stmt = self.tx.prepare_cached("SELECT v FROM fastgate_kv WHERE k = $1").await?;
            let row = self.tx.query_opt(&stmt, &[&key]).await?;
            row.map(|r| r.try_get::<_, Vec<u8>>(0)).transpose()
        });
        self.check(r)
    }

    fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, MetaError> {
        if self.broken.borrow().is_some() {
            return Err(MetaError("postgres: the transaction is aborted".into()));
        }
        let end = prefix_end(prefix);
        let r = self.store.block(async {
            let rows = match &end {
                Some(end) => {
                    let stmt = self
                        .tx
                        .prepare_cached("SELECT k FROM fastgate_kv WHERE k >= $1 AND k < $2 ORDER BY k")
                        .await?;
                    self.tx.query(&stmt, &[&prefix, end]).await?
                }
                None => {
                    let stmt = self
                        .tx
                        .prepare_cached("SELECT k FROM fastgate_kv WHERE k >= $1 ORDER BY k")
                        .await?;
                    self.tx.query(&stmt, &[&prefix]).await?
                }
            };
            rows.iter().map(|r| r.try_get::<_, Vec<u8>>(0)).collect()
        });
        self.check(r)
    }

    fn writer(&self) -> Option<u64> {
        Some(self.store.writer)
    }
}

/// A range scan, one page at a time.
struct PgScan<'a> {
    store: &'a PgStore,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    rev: bool,
    /// Rows the next page asks for: [`FIRST_PAGE`], then [`PAGE`].
    limit: i64,
    page: VecDeque<Entry>,
    done: bool,
}

impl Iterator for PgScan<'_> {
    type Item = Result<Entry, MetaError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.page.is_empty() && !self.done {
            match self.store.page(&self.lower, &self.upper, self.rev, self.limit) {
                Ok(rows) => {
                    self.done = (rows.len() as i64) < self.limit;
                    self.limit = PAGE;
                    if let Some((last, _)) = rows.last() {
                        // The next page starts past the last key seen (keyset paging).
                        let past = Bound::Excluded(last.clone());
                        if self.rev {
                            self.upper = past;
                        } else {
                            self.lower = past;
                        }
                    }
                    self.page = rows.into();
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        self.page.pop_front().map(Ok)
    }
}

fn owned(b: Bound<&[u8]>) -> Bound<Vec<u8>> {
    super::owned_bound(b)
}

/// A gate held as a PostgreSQL advisory lock on a connection of its own.
struct AdvisoryGate {
    client: Option<Object>,
    unlock: &'static str,
    handle: tokio::runtime::Handle,
}

impl Drop for AdvisoryGate {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else { return };
        let unlock = self.unlock;
        // Unlocked in the background: dropping a gate must not block. A connection
        // whose unlock failed is closed rather than pooled, which releases the lock.
        self.handle.spawn(async move {
            if client.execute(unlock, &[&GATE_KEY]).await.is_err() {
                drop(Object::take(client));
            }
        });
    }
}

impl PgStore {
    fn gate(&self, lock: &str, unlock: &'static str) -> Result<Gate, MetaError> {
        let client = self.client()?;
        self.block(client.execute(lock, &[&GATE_KEY])).map_err(pg_error)?;
        Ok(Box::new(AdvisoryGate {
            client: Some(client),
            unlock,
            handle: self.handle.clone(),
        }))
    }
}

impl MetaStore for PgStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MetaError> {
        self.block(async {
            let client = self.pool.get().await.map_err(pool_error)?;
            let stmt = client
                .prepare_cached("SELECT v FROM fastgate_kv WHERE k = $1")
                .await
                .map_err(pg_error)?;
            let row = client.query_opt(&stmt, &[&key]).await.map_err(pg_error)?;
            row.map(|r| r.try_get::<_, Vec<u8>>(0)).transpose().map_err(pg_error)
        })
    }

    fn range<'a>(&'a self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Scan<'a> {
        Box::new(PgScan {
            store: self,
            lower: owned(from),
            upper: owned(to),
            rev: false,
            limit: FIRST_PAGE,
            page: VecDeque::new(),
            done: false,
        })
    }

    fn range_rev<'a>(&'a self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Scan<'a> {
        Box::new(PgScan {
            store: self,
            lower: owned(from),
            upper: owned(to),
            rev: true,
            limit: FIRST_PAGE,
            page: VecDeque::new(),
            done: false,
        })
    }

    fn apply(&self, batch: WriteBatch) -> Result<(), MetaError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.block(async {
            let mut client = self.pool.get().await.map_err(pool_error)?;
            let tx = client.transaction().await.map_err(pg_error)?;
            write_batch(&tx, batch).await.map_err(pg_error)?;
            tx.commit().await.map_err(pg_error)
        })
    }

    /// Every COMMIT is already durable.
    fn flush(&self) -> Result<(), MetaError> {
        Ok(())
    }

    fn transact(&self, body: &mut TransactBody<'_>) -> Result<(), MetaError> {
        let mut pause = Duration::from_millis(2);
        let mut runs = 0;
        loop {
            runs += 1;
            match self.run_once(body) {
                Ok(()) => return Ok(()),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Conflict(e)) if runs >= MAX_RUNS => {
                    return Err(MetaError(format!(
                        "{UNAVAILABLE}still conflicting after {runs} runs: {}",
                        e.0
                    )));
                }
                Err(Failure::Conflict(e)) => {
                    self.conflicts.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(runs, error = %e, "metadata transaction conflicted; running it again");
                    // Jittered, so that the gateways that collided do not collide again.
                    let jitter = rand::random_range(0..=pause.as_micros() as u64);
                    std::thread::sleep(pause + Duration::from_micros(jitter));
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
            }
        }
    }

    fn reads_inline(&self) -> bool {
        false
    }

    fn conflicts(&self) -> u64 {
        self.conflicts.load(Ordering::Relaxed)
    }

    fn writer(&self) -> Option<u64> {
        Some(self.writer)
    }

    fn shared_gate(&self) -> Result<Gate, MetaError> {
        self.gate(
            "SELECT pg_advisory_lock_shared($1)",
            "SELECT pg_advisory_unlock_shared($1)",
        )
    }

    fn exclusive_gate(&self) -> Result<Gate, MetaError> {
        self.gate("SELECT pg_advisory_lock($1)", "SELECT pg_advisory_unlock($1)")
    }
}

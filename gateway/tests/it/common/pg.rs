//! A real PostgreSQL server for the tests: one per test process, started on first use
//! from Debian's `postgresql` package (`/usr/lib/postgresql/*/bin`), with a database
//! of its own for every server (or group of gateways) that asks.
//!
//! It listens only on a Unix socket in its temp dir (no port to race for with other
//! test processes), keeps `fsync` on (the durability tests mean it), and runs as the
//! `postgres` user when the tests run as root, since PostgreSQL refuses root. A
//! guardian shell holds the other end of a pipe from this process: when the process
//! ends, however it ends, the pipe closes and the guardian stops the server and
//! deletes its dir.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

/// The server's socket port (a name inside its socket dir, not a TCP port).
const PORT: u16 = 5432;

/// The server's settings. The predicate lock limits are the ones `deploy/README.md`
/// (section 10) asks for: with PostgreSQL's defaults a group commit that reads more
/// than two rows of one heap page, or a few dozen rows of the table, holds its
/// serializable read locks on the whole page or the whole table, and then conflicts
/// with every other gateway's write there, whatever rows it touches.
const SETTINGS: &str = concat!(
    "-c listen_addresses='' -c fsync=on -c max_connections=400 -c shared_buffers=32MB ",
    "-c max_pred_locks_per_transaction=1024 -c max_pred_locks_per_page=1000"
);

pub struct Postgres {
    /// Holds the socket, `data/` and `server.log`.
    dir: PathBuf,
    bin: PathBuf,
    /// Whether commands run as the `postgres` user (the tests run as root).
    as_postgres: bool,
    /// Closing this stops the server (see the module doc).
    _guardian: Mutex<(Child, ChildStdin)>,
}

static SERVER: OnceLock<Postgres> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The directory of PostgreSQL's server programs, if the package is installed.
pub fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    // The newest major version.
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Postgres {
    /// The process's server, started on first use.
    pub fn get() -> &'static Postgres {
        SERVER.get_or_init(Postgres::start)
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn start() -> Postgres {
        let bin = bin_dir().expect(
            "PostgreSQL's server programs (Debian's postgresql package, /usr/lib/postgresql/*/bin) \
             are needed for FASTGATE_META_ENGINE=postgres and the gateway tests",
        );
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("fastgate-pg-")
            .tempdir()
            .expect("tempdir")
            .keep();
        if as_postgres {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(ok.success(), "chown postgres {}", dir.display());
        }
        // The guardian first, so that nothing below can leak the dir.
        let mut guardian = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "read _ignored; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
                stop = stop_command(&bin, &dir, as_postgres),
                dir = dir.display()
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the PostgreSQL guardian");
        let pipe = guardian.stdin.take().expect("guardian stdin");
        let pg = Postgres {
            dir: dir.clone(),
            bin,
            as_postgres,
            _guardian: Mutex::new((guardian, pipe)),
        };
        let data = dir.join("data");
        pg.run(pg.command("initdb").arg("-D").arg(&data).args([
            "--auth=trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ]));
        let options = format!("-k {} -p {PORT} {SETTINGS}", dir.display());
        pg.run(
            pg.command("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.join("server.log"))
                .args(["-w", "-t", "60", "-o", &options, "start"]),
        );
        pg
    }

    fn run(&self, cmd: &mut Command) {
        let out = cmd.stdin(Stdio::null()).output().expect("run a PostgreSQL program");
        if !out.status.success() {
            let mut log = String::new();
            if let Ok(mut f) = std::fs::File::open(self.dir.join("server.log")) {
                let _ = f.read_to_string(&mut log);
            }
            panic!(
                "{cmd:?} failed: {}\n{}\n{}\nserver log:\n{log}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// Connection parameters of database `db`, in libpq's key-value form.
    pub fn url(&self, db: &str) -> String {
        format!("host={} port={PORT} user=postgres dbname={db}", self.dir.display())
    }

    /// A new, empty database; returns its connection parameters.
    pub fn new_database(&self) -> String {
        let name = format!("fastgate_{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// Runs SQL in database `db`; returns what psql printed (unaligned, tuples only).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.url(db),
                "-c",
                sql,
            ])
            .stdin(Stdio::null())
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Stops the server (fast shutdown: connections are cut) until [`Postgres::start_again`].
    pub fn stop(&self) {
        self.run(
            self.command("pg_ctl")
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-w", "-m", "fast", "stop"]),
        );
    }

    pub fn start_again(&self) {
        let options = format!("-k {} -p {PORT} {SETTINGS}", self.dir.display());
        self.run(
            self.command("pg_ctl")
                .arg("-D")
                .arg(self.dir.join("data"))
                .arg("-l")
                .arg(self.dir.join("server.log"))
                .args(["-w", "-t", "60", "-o", &options, "start"]),
        );
    }
}

fn stop_command(bin: &Path, dir: &Path, as_postgres: bool) -> String {
    let pg_ctl = format!(
        "'{}' -D '{}/data' -m immediate stop",
        bin.join("pg_ctl").display(),
        dir.display()
    );
    if as_postgres {
        format!("runuser -u postgres -- {pg_ctl}")
    } else {
        pg_ctl
    }
}

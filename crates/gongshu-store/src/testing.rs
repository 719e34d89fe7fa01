//! Test support (feature `testing`): a fresh, empty PostgreSQL database per call.
//!
//! With `GONGSHU_TEST_PG_URL` set (a server URL whose role may `CREATE DATABASE`, e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`), databases are made on that server.
//! Without it, the first call starts a throwaway cluster for the test process: `initdb`
//! into a new directory under the temporary directory (as the `postgres` user when
//! running as root, since the server refuses root), a free loopback port, the socket in
//! that directory. A watcher process stops the cluster and removes the directory when the
//! test process has gone, however it ended. When neither is possible the call panics
//! with the reason: PostgreSQL tests never pass by being skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection;

/// The environment variable naming a server to make test databases on.
pub const SERVER_ENV: &str = "GONGSHU_TEST_PG_URL";

/// The URL of a new, empty database (UTF-8, C collation) for one test.
pub async fn pg_url() -> String {
    let server = server();
    let name = database_name();
    let mut admin = sqlx::PgConnection::connect(server)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL server {server}: {e}"));
    sqlx::query(&format!(
        "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' \
         LC_COLLATE 'C' LC_CTYPE 'C'"
    ))
    .execute(&mut admin)
    .await
    .unwrap_or_else(|e| panic!("cannot create the test database {name} on {server}: {e}"));
    // Closing politely is best effort: the database exists either way.
    let _ = admin.close().await;
    with_database(server, &name)
}

/// The admin URL of the server the test databases go on, started on first use.
fn server() -> &'static str {
    static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
    let server = SERVER.get_or_init(|| match std::env::var(SERVER_ENV) {
        Ok(url) if !url.trim().is_empty() => Ok(url.trim().to_owned()),
        _ => start_cluster(),
    });
    match server {
        Ok(url) => url,
        Err(why) => panic!(
            "no PostgreSQL for the tests: {SERVER_ENV} is not set, and a throwaway cluster \
             could not be started: {why}"
        ),
    }
}

/// `gs_test_<pid>_<time>_<n>`: unique on a shared server across processes and runs.
fn database_name() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000_000)
        .unwrap_or(0);
    format!("gs_test_{}_{nanos}_{n}", std::process::id())
}

/// `url` with its database (the path) replaced by `name`, query parameters kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// The directory holding `initdb` and `pg_ctl`: the PATH, or the newest Debian package.
fn pg_bin_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    });
    on_path.or_else(|| {
        let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| {
                let e = e.ok()?;
                let major: u32 = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
                    .then_some((major, bin))
            })
            .collect();
        found.sort();
        found.pop().map(|(_, bin)| bin)
    })
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs a PostgreSQL program, as the `postgres` user when we are root.
fn pg_command(bin: &Path, program: &str, as_postgres: bool) -> Command {
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    }
}

fn run(mut c: Command, what: &str) -> Result<(), String> {
    let out = c
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("port: {e}"))
}

/// Starts the throwaway cluster and returns its admin URL.
fn start_cluster() -> Result<String, String> {
    let bin = pg_bin_dir().ok_or(
        "no initdb/pg_ctl on the PATH or under /usr/lib/postgresql/*/bin \
         (install PostgreSQL or set GONGSHU_TEST_PG_URL)",
    )?;
    let as_postgres = running_as_root();
    let dir = std::env::temp_dir().join(format!(
        "gongshu-pg-{}-{}",
        std::process::id(),
        database_name()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if as_postgres {
        let mut chown = Command::new("chown");
        chown.arg("postgres").arg(&dir);
        run(chown, "chown postgres <test cluster dir>")?;
    }
    let data = dir.join("data");
    let mut initdb = pg_command(&bin, "initdb", as_postgres);
    initdb
        .arg("-D")
        .arg(&data)
        .args([
            "--encoding=UTF8",
            "--locale=C",
            "-A",
            "trust",
            "-U",
            "postgres",
        ])
        .arg("--no-sync");
    run(initdb, "initdb")?;
    // The watcher: once this process has gone, stop the cluster and remove its directory.
    let pg_ctl = pg_command(&bin, "pg_ctl", as_postgres);
    let stop = format!(
        "{} {} -D '{}' -m immediate stop",
        pg_ctl.get_program().to_string_lossy(),
        pg_ctl
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" "),
        data.display()
    );
    let watcher = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        dir = dir.display()
    );
    Command::new("sh")
        .args(["-c", &watcher])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the cluster's watcher: {e}"))?;
    let mut last = String::new();
    for _ in 0..5 {
        let port = free_port()?;
        let mut start = pg_command(&bin, "pg_ctl", as_postgres);
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .arg("-o")
            .arg(format!(
                "-p {port} -k '{}' -c listen_addresses=127.0.0.1 -c max_connections=300 \
                 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                dir.display()
            ))
            .args(["-w", "-t", "60", "start"]);
        match run(start, "pg_ctl start") {
            Ok(()) => return Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres")),
            Err(e) => {
                let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                last = format!("{e}\n{log}");
            }
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_replaced_in_url() {
        assert_eq!(
            with_database("postgres://u:p@h:5/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:5", "x"), "postgres://h:5/x");
        assert_eq!(with_database("postgresql://h/", "x"), "postgresql://h/x");
    }
}

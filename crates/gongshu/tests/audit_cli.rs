//! Issue 7: `gongshu audit verify` recomputes the log a stopped server left and exits
//! non-zero when one byte of an entry was changed, an entry removed, two swapped, or the
//! log cut short — however the database was got at. The server's log holds no secret.

mod common;

use std::path::Path;
use std::process::{Command, Output};

const KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfe";

fn verify(data: &Path, key_file: &Path) -> Output {
    common::gongshu()
        .args(["audit", "verify", "--data-dir"])
        .arg(data)
        .arg("--key-file")
        .arg(key_file)
        .output()
        .unwrap()
}

/// Copies the database (with its write-ahead log) into a fresh data directory and runs
/// `statements` on the copy, as someone with the file would.
fn tampered(from: &Path, to: &Path, statements: &[&str]) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("gongshu.db") {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
    let db = to.join("gongshu.db");
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
                .await
                .unwrap();
            for sql in statements {
                sqlx::query(sql).execute(&mut c).await.unwrap();
            }
        });
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn audit_verify_passes_an_intact_log_and_fails_every_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key_file = dir.path().join("master.key");
    std::fs::write(&key_file, KEY).unwrap();

    let mut serve = common::gongshu();
    serve
        .args(["serve", "--addr", "127.0.0.1:0", "--admin-password"])
        .arg("admin-password-1")
        .args(["--audit-checkpoint-secs", "1", "--data-dir"])
        .arg(&data)
        .arg("--key-file")
        .arg(&key_file);
    let (mut server, addr, log) = common::start_logged(serve);
    // Six audited requests: refused sign-ins, then one that succeeds.
    for _ in 0..5 {
        assert!(
            common::ask_token(&addr, "admin", "wrong-password")
                .0
                .contains(" 401 ")
        );
    }
    assert!(
        common::ask_token(&addr, "admin", "admin-password-1")
            .0
            .contains(" 200 ")
    );
    // Stopping signs a checkpoint over everything recorded.
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(server.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(server.wait().unwrap().success());
    // Secrets never reach the log: not the passwords tried, not the master key.
    let log = log.lock().unwrap().join("\n");
    assert!(
        log.contains("audit log checkpoint signed at shutdown"),
        "{log}"
    );
    for secret in ["admin-password-1", "wrong-password", KEY] {
        assert!(!log.contains(secret), "{secret} is in the log");
    }

    let ok = verify(&data, &key_file);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let said = String::from_utf8_lossy(&ok.stdout);
    assert!(
        said.contains("audit log verified: 6 entries") && said.contains("0 entries after"),
        "{said}"
    );

    // Another key does not vouch for these checkpoints.
    let other = common::gongshu()
        .args(["audit", "verify", "--data-dir"])
        .arg(&data)
        .env("GONGSHU_MASTER_KEY", "11".repeat(32))
        .output()
        .unwrap();
    assert!(!other.status.success());
    assert!(
        stderr(&other).contains("signed by key"),
        "{}",
        stderr(&other)
    );
    // A public key that is not one is refused as such; without any key it says what it
    // needs.
    let bad = common::gongshu()
        .args(["audit", "verify", "--public-key", "00", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        stderr(&bad).contains("64 hexadecimal digits"),
        "{}",
        stderr(&bad)
    );
    let none = common::gongshu()
        .args(["audit", "verify", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!none.status.success());
    assert!(stderr(&none).contains("--public-key"), "{}", stderr(&none));

    let cases: [(&str, &[&str], &str); 4] = [
        (
            "flipped",
            &[
                "DROP TRIGGER audit_log_append_only_update",
                "UPDATE audit_log SET entry = replace(entry, '\"status\":401', '\"status\":400') \
                 WHERE seq = 3",
            ],
            "do not hash to the signed checkpoint",
        ),
        (
            "deleted",
            &[
                "DROP TRIGGER audit_log_append_only_delete",
                "DELETE FROM audit_log WHERE seq = 2",
            ],
            "entry 2 is missing",
        ),
        (
            "swapped",
            &[
                "DROP TRIGGER audit_log_append_only_update",
                "UPDATE audit_log SET seq = -1 WHERE seq = 4",
                "UPDATE audit_log SET seq = 4 WHERE seq = 5",
                "UPDATE audit_log SET seq = 5 WHERE seq = -1",
            ],
            "do not hash to the signed checkpoint",
        ),
        (
            "truncated",
            &[
                "DROP TRIGGER audit_log_append_only_delete",
                "DELETE FROM audit_log WHERE seq = 6",
            ],
            "it was truncated",
        ),
    ];
    for (name, statements, said) in cases {
        let copy = dir.path().join(name);
        tampered(&data, &copy, statements);
        let out = verify(&copy, &key_file);
        assert!(!out.status.success(), "{name} was not caught");
        assert!(stderr(&out).contains(said), "{name}: {}", stderr(&out));
    }
}

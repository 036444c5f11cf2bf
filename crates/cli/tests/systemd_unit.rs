//! contrib/systemd/portwatch.service passes `systemd-analyze verify` (with ExecStart pointed
//! at the binary under test), takes its configuration (the file with the secrets) through
//! `LoadCredential=` and keeps its state in `StateDirectory=`.

use std::process::Command;

const UNIT: &str = include_str!("../../../contrib/systemd/portwatch.service");

#[test]
fn the_unit_verifies_and_takes_secrets_as_credentials() {
    let lines: Vec<&str> = UNIT.lines().filter(|l| !l.starts_with('#')).collect();
    let has = |prefix: &str| lines.iter().any(|l| l.starts_with(prefix));
    assert!(
        has("LoadCredential=portwatch.toml:/etc/portwatch/portwatch.toml"),
        "the configuration comes as a credential"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ExecStart=") && l.contains("--config %d/portwatch.toml")),
        "the service reads the credential's copy"
    );
    assert!(has("StateDirectory=portwatch") && has("DynamicUser=yes"));

    // `systemd-analyze verify` works without a running systemd (as in a container), but it
    // checks that ExecStart names an executable: point it at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("portwatch.service");
    std::fs::write(
        &unit,
        UNIT.replace("/usr/local/bin/portwatch", env!("CARGO_BIN_EXE_portwatch")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze runs (the systemd package; scripts/install-test-deps.sh)");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {said}");
    assert!(
        !said.contains("portwatch.service"),
        "warnings about the unit: {said}"
    );
}

//! A test PKI for the HTTPS tests: a CA of the test's own and a server certificate for
//! 127.0.0.1 and `localhost` signed by it, made with `openssl` (EC P-256, valid two days).

use anyhow::{Context, Result, ensure};
use std::path::Path;
use std::process::Command;

/// Makes CA `name` and a server certificate signed by it in `dir`: `<name>-ca.pem` and
/// `<name>-ca.key` (the CA), `cert.pem` and `key.pem` (the server's, overwritten each time, so
/// a second call with another name makes the certificate a reload switches to). Returns the
/// CA certificate (PEM), for a client that trusts only it.
pub fn ca_and_server(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let run = |args: &[&str]| -> Result<()> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .context("run openssl")?;
        ensure!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    };
    let (ca, ca_key) = (format!("{name}-ca.pem"), format!("{name}-ca.key"));
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend(["-keyout", &ca_key, "-out", &ca, "-days", "2"]);
    args.extend(["-subj", "/CN=portwatch test CA"]);
    run(&args)?;
    let mut args = vec!["req"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ]);
    run(&args)?;
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )?;
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ])?;
    Ok(std::fs::read(dir.join(&ca))?)
}

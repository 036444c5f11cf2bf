//! Banner identification against answers captured from this machine's loopback
//! services (MariaDB, PostgreSQL, Redis, Mosquitto, RabbitMQ; see tests/capture/).

use portwatch_proto::banner::{self, identify};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn summary(name: &str) -> String {
    identify(&fixture(name))
        .unwrap_or_else(|| panic!("{name} not identified"))
        .summary()
}

#[test]
fn mariadb_greeting() {
    assert_eq!(
        summary("banner_mysql.bin"),
        "mysql MariaDB 10.11.19 (server version 5.5.5-10.11.19-MariaDB-0+deb12u1)"
    );
}

#[test]
fn postgres_answers() {
    assert_eq!(
        summary("banner_postgres.bin"),
        "postgresql PostgreSQL (SSL supported)"
    );
    assert_eq!(
        summary("banner_postgres_error.bin"),
        "postgresql PostgreSQL (FATAL 28000: role \"portwatch_nobody\" does not exist)"
    );
}

#[test]
fn redis_pong() {
    assert_eq!(
        summary("banner_redis.bin"),
        "redis Redis (no authentication required)"
    );
}

#[test]
fn mosquitto_connack() {
    assert_eq!(
        summary("banner_mqtt.bin"),
        "mqtt (MQTT 3.1.1 CONNACK: connection accepted)"
    );
}

#[test]
fn rabbitmq_connection_start() {
    let m = identify(&fixture("banner_amqp.bin")).unwrap();
    assert_eq!(m.service, "amqp");
    assert_eq!(m.product.as_deref(), Some("RabbitMQ"));
    assert!(m.version.as_deref().unwrap().starts_with('3'), "{m:?}");
    assert!(
        m.info
            .as_deref()
            .unwrap()
            .starts_with("AMQP 0-9, Erlang/OTP"),
        "{m:?}"
    );
}

/// The printable form of a captured answer (what tables, JSON and the dashboard show).
fn shown(name: &str) -> banner::BannerView {
    let data = fixture(name);
    banner::view(&data, identify(&data).as_ref())
}

#[test]
fn binary_answers_are_escaped_never_lossy_text() {
    // The dashboard showed "d", "S" and a replacement character for these three.
    let mariadb = shown("banner_mysql.bin");
    assert_eq!(mariadb.text, None);
    let escaped = mariadb.escaped.unwrap();
    assert!(
        escaped.contains("\\0\\0\\0\\n5.5.5-10.11.19-MariaDB-0+deb12u1\\0"),
        "{escaped}"
    );
    let postgres = shown("banner_postgres.bin");
    assert_eq!(
        (postgres.text, postgres.escaped.as_deref()),
        (None, Some("S"))
    );
    let rabbit = shown("banner_amqp.bin");
    assert_eq!(rabbit.text, None);
    let escaped = rabbit.escaped.unwrap();
    assert!(escaped.starts_with("\\x01\\0\\0\\0\\0"), "{escaped}");
    assert!(escaped.ends_with('…'), "{escaped}");
    assert!(!escaped.contains('\u{fffd}'), "{escaped}");
}

#[test]
fn text_answers_stay_text() {
    let redis = shown("banner_redis.bin");
    assert_eq!(redis.text.as_deref(), Some("+PONG"));
    assert_eq!(redis.escaped, None);
}

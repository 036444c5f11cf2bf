//! Banner identification against answers captured from this machine's loopback
//! services (MariaDB, PostgreSQL, Redis, Mosquitto, RabbitMQ; see tests/capture/).

use portwatch_proto::banner::identify;

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

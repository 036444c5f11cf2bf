//! HTTP responses, and the HTTP APIs worth naming (Docker, Elasticsearch, Kubernetes).

use super::ServiceMatch;
use super::text_banners::split_product;
use crate::head::Head;
use crate::text;

/// An HTTP (or RTSP) response: status line, Server header, and a look at the body.
pub(super) fn http(data: &[u8]) -> Option<ServiceMatch> {
    let head = Head::parse(data, "HTTP response").ok()?;
    let (proto, code, reason) = head.status()?;
    let service = if proto.starts_with("HTTP/") {
        "http"
    } else if proto.starts_with("RTSP/") {
        "rtsp"
    } else {
        return None;
    };
    let body = head.body_offset.and_then(|o| data.get(o..)).unwrap_or(&[]);
    let body_text = String::from_utf8_lossy(&body[..body.len().min(8192)]);
    let server = head.get("server");
    let status = format!("{code} {reason}");

    if let Some(m) = docker(&head, &body_text) {
        return Some(m.info(status));
    }
    if let Some(m) = elasticsearch(&head, &body_text) {
        return Some(m.info(status));
    }
    if let Some(m) = kubernetes(&body_text) {
        return Some(m.info(status));
    }
    let mut m = ServiceMatch::new(service);
    if let Some(server) = server {
        let first = server.split_whitespace().next().unwrap_or(server);
        let (product, version) = split_product(first);
        let rest = server[first.len()..].trim();
        m = m.product(product).version(version);
        m = if rest.is_empty() {
            m.info(&status)
        } else {
            m.info(format!("{status}; {rest}"))
        };
    } else {
        m = m.info(&status);
    }
    if let Some(title) = html_title(&body_text) {
        let info = format!("{}; title {title:?}", m.info.clone().unwrap_or_default());
        m = m.info(info);
    }
    Some(m)
}

/// Docker Engine API: `Server: Docker/24.0.5 (linux)` or `Api-Version` header, or /version JSON.
fn docker(head: &Head, body: &str) -> Option<ServiceMatch> {
    let server = head.get("server").unwrap_or("");
    let api = head.get("api-version");
    if !server.starts_with("Docker/") && api.is_none() && !body.contains("\"ApiVersion\"") {
        return None;
    }
    let version = json_string(body, "Version").or_else(|| {
        server
            .strip_prefix("Docker/")
            .map(|v| v.split_whitespace().next().unwrap_or(v).to_string())
    });
    let m = ServiceMatch::new("docker").product("Docker Engine API");
    Some(match version {
        Some(v) => m.version(v),
        None => m,
    })
}

/// Elasticsearch (and OpenSearch) root document, or its product header.
fn elasticsearch(head: &Head, body: &str) -> Option<ServiceMatch> {
    let header = head.get("x-elastic-product").is_some();
    let tagline = body.contains("You Know, for Search") || body.contains("The OpenSearch Project");
    if !header && !tagline {
        return None;
    }
    let product = if body.contains("opensearch") {
        "OpenSearch"
    } else {
        "Elasticsearch"
    };
    let m = ServiceMatch::new("elasticsearch").product(product);
    Some(match json_string(body, "number") {
        Some(v) => m.version(v),
        None => m,
    })
}

/// Kubernetes API server or kubelet: its Status objects, path list or version document.
fn kubernetes(body: &str) -> Option<ServiceMatch> {
    let status_object =
        body.contains("\"kind\"") && body.contains("\"Status\"") && body.contains("\"apiVersion\"");
    let path_list = body.contains("\"paths\"") && body.contains("\"/api\"");
    let version_doc = body.contains("\"gitVersion\"");
    if !status_object && !path_list && !version_doc {
        return None;
    }
    let m = ServiceMatch::new("kubernetes").product("Kubernetes API");
    Some(match json_string(body, "gitVersion") {
        Some(v) => m.version(v),
        None => m,
    })
}

/// The string value of the first `"key": "value"` in a JSON text (no JSON parser needed for this).
fn json_string(body: &str, key: &str) -> Option<String> {
    let needle = format!("\"{key}\"");
    let at = body.find(&needle)? + needle.len();
    let rest = body[at..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(text::clean_str(&rest[..end], 64))
}

/// Text of the first `<title>` element.
fn html_title(body: &str) -> Option<String> {
    let lower = body.to_ascii_lowercase();
    let start = lower.find("<title>")? + "<title>".len();
    let end = lower[start..].find("</title>")? + start;
    let title = text::clean_str(body.get(start..end)?, 80);
    (!title.is_empty()).then_some(title)
}

#[cfg(test)]
mod tests {
    use super::super::identify;

    #[test]
    fn plain_servers() {
        let m = identify(b"HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nContent-Type: text/html\r\n\r\n<html><title>Welcome to nginx!</title>").unwrap();
        assert_eq!(
            m.summary(),
            "http nginx 1.24.0 (200 OK; title \"Welcome to nginx!\")"
        );
        let a =
            identify(b"HTTP/1.0 403 Forbidden\r\nServer: Apache/2.4.57 (Debian)\r\n\r\n").unwrap();
        assert_eq!(
            (a.product.as_deref(), a.version.as_deref()),
            (Some("Apache"), Some("2.4.57"))
        );
        assert_eq!(a.info.as_deref(), Some("403 Forbidden; (Debian)"));
        assert_eq!(
            identify(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n")
                .unwrap()
                .service,
            "rtsp"
        );
        assert_eq!(
            identify(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                .unwrap()
                .info
                .as_deref(),
            Some("400 Bad Request")
        );
    }

    #[test]
    fn apis() {
        let d = identify(b"HTTP/1.1 200 OK\r\nApi-Version: 1.43\r\nServer: Docker/24.0.5 (linux)\r\n\r\n{\"Platform\":{\"Name\":\"Docker Engine - Community\"},\"Version\":\"24.0.5\",\"ApiVersion\":\"1.43\"}").unwrap();
        assert_eq!(
            (d.service, d.version.as_deref()),
            ("docker", Some("24.0.5"))
        );
        let e = identify(b"HTTP/1.1 200 OK\r\nX-elastic-product: Elasticsearch\r\ncontent-type: application/json\r\n\r\n{\n  \"name\" : \"node-1\",\n  \"version\" : {\n    \"number\" : \"8.11.1\"\n  },\n  \"tagline\" : \"You Know, for Search\"\n}").unwrap();
        assert_eq!(
            (e.service, e.version.as_deref()),
            ("elasticsearch", Some("8.11.1"))
        );
        let k = identify(b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n\r\n{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"forbidden: User \\\"system:anonymous\\\" cannot get path \\\"/\\\"\"}").unwrap();
        assert_eq!(k.service, "kubernetes");
    }
}

//! Hostile data from the network (a hostname, a banner, what answered) is shown as text and
//! never becomes markup on any page.

mod common_pages;

use anyhow::Result;
use common_pages::{EVIL, HOSTILE_BANNER, HOSTILE_NAME, configured, fixture, windows_config};
use portwatch_web::auth::Role;

#[tokio::test]
async fn hostile_hostnames_and_banners_are_escaped() -> Result<()> {
    let server = fixture(true).await?;
    let cookie = server.cookie(Role::Admin).await?;
    for path in ["/".to_string(), format!("/hosts/{EVIL}")] {
        let html = server.page(&cookie, &path).await?;
        assert!(!html.contains("<script"), "{path}: unescaped markup");
        assert!(!html.contains(HOSTILE_NAME) && !html.contains(HOSTILE_BANNER));
        assert!(
            html.contains("&#60;script&#62;alert("),
            "{path}: the hostile text is shown escaped"
        );
    }
    let html = server.page(&cookie, &format!("/hosts/{EVIL}")).await?;
    assert!(html.contains("SSH-2.0-&#60;script&#62;alert(&#34;banner&#34;)&#60;/script&#62;"));
    // A path that is not an address is echoed escaped in the error page too.
    let r = server
        .get_with(&cookie, "/hosts/%3Cscript%3Ex%3C%2Fscript%3E")
        .await?;
    assert_eq!(r.status(), reqwest::StatusCode::BAD_REQUEST);
    let html = r.text().await?;
    assert!(!html.contains("<script>") && html.contains("&#60;script&#62;x"));
    Ok(())
}

#[tokio::test]
async fn a_window_reason_from_the_config_is_shown_as_text() -> Result<()> {
    let server = configured(&windows_config("<script>alert('why')</script> & co")).await?;
    let cookie = server.cookie(Role::Admin).await?;
    for path in ["/", "/config"] {
        let html = server.page(&cookie, path).await?;
        assert!(
            !html.contains("<script"),
            "{path}: unescaped markup: {html}"
        );
        assert!(
            html.contains("<span class=\"muted\">&#60;script&#62;alert(&#39;why&#39;)&#60;/script&#62; &#38; co</span>"),
            "{path}: the reason is shown escaped: {html}"
        );
    }
    Ok(())
}

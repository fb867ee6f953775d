//! The debug page served at `/`: one self-contained HTML file compiled into
//! the binary (no build step, no CDN), with the hub's settings injected.

use serde_json::json;

const PAGE: &str = include_str!("../assets/debug.html");
const MARKER: &str = "<!--SSE_DEBUG_CONFIG-->";

/// The page for a hub at `hub_path`. The development tokens pre-fill the
/// publish form and the subscription (sent as a cookie); pass them only for
/// a development key that the hub generated itself on loopback, never for a
/// production key.
///
/// ```
/// let html = sse_hub::debug_page::render("/.well-known/mercure", None, None);
/// assert!(html.contains("window.SSE_DEBUG"));
/// ```
pub fn render(
    hub_path: &str,
    dev_publisher_token: Option<&str>,
    dev_subscriber_token: Option<&str>,
) -> String {
    let config = json!({
        "hub": hub_path,
        "devToken": dev_publisher_token.unwrap_or(""),
        "devSubscriberToken": dev_subscriber_token.unwrap_or(""),
    })
    .to_string();
    // JSON inside <script> must not be able to close the tag or open a
    // comment: escape `<` (and the JS line separators) as unicode escapes.
    let config = config
        .replace('<', "\\u003c")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    PAGE.replacen(
        MARKER,
        &format!("<script>window.SSE_DEBUG = {config};</script>"),
        1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_has_the_marker_once_and_it_is_replaced() {
        assert_eq!(PAGE.matches(MARKER).count(), 1);
        let html = render("/hub", Some("tok"), Some("sub"));
        assert!(!html.contains(MARKER));
        let line = html
            .lines()
            .find(|l| l.contains("window.SSE_DEBUG"))
            .unwrap();
        for part in [
            r#""hub":"/hub""#,
            r#""devToken":"tok""#,
            r#""devSubscriberToken":"sub""#,
        ] {
            assert!(line.contains(part), "{line}");
        }
    }

    #[test]
    fn injected_values_cannot_close_the_script_tag() {
        let html = render(
            "/hub</script><script>alert(1)</script>",
            Some("a\u{2028}b"),
            None,
        );
        let config_line = html
            .lines()
            .find(|l| l.contains("window.SSE_DEBUG"))
            .unwrap();
        assert!(!config_line.contains("</script><script>"), "{config_line}");
        assert!(config_line.contains("\\u003c/script>"));
        assert!(config_line.contains("a\\u2028b"));
    }

    #[test]
    fn page_loads_nothing_from_elsewhere() {
        // No script, stylesheet, image or font is fetched: the page works
        // offline and on a closed network.
        for attr in [" src=", " href=", "<link", "@import", "url("] {
            assert!(!PAGE.contains(attr), "the page references {attr}");
        }
    }
}

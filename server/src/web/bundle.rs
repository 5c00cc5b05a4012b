//! The browser client as this binary serves it, pinned: the page carries the Subresource
//! Integrity of every script and style, and the page's own hash names the whole client.
//!
//! The server hands the client its code, so a compromised server could hand a different
//! one (docs/PROTOCOL.md §12.3). This does not stop that by itself; it makes it checkable.
//! Every module is listed with its SHA-384 in the page's import map, which the browser
//! enforces for every `import`, so the page's hash covers every line of code the browser
//! runs. A release publishes that hash (`passerelle client-hash`), and anyone can compare a
//! running server against it (`passerelle check-client`, [`super::check`]).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::digest::{digest, SHA256, SHA384};

use super::Assets;

/// The served page and what pins it.
pub struct Bundle {
    /// `index.html` with the import map and the `integrity` attributes.
    pub page: axum::body::Bytes,
    /// The page's Content-Security-Policy: [`super::CSP`] plus the hash of its one inline
    /// script, the import map (inline code stays refused).
    pub page_csp: String,
    /// `sha256:` and the page's SHA-256 in lower-case hex: the client's published name.
    pub hash: String,
    /// Each script and style by its URL path, with its SRI value (`sha384-…`).
    pub integrity: BTreeMap<String, String>,
}

/// The bundle of this binary's embedded client, computed once.
pub fn bundle() -> &'static Bundle {
    static BUNDLE: OnceLock<Bundle> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let files = Assets::iter().filter_map(|path| {
            let file = Assets::get(&path)?;
            Some((path.into_owned(), file.data.into_owned()))
        });
        let page = Assets::get("index.html")
            .map(|file| String::from_utf8_lossy(&file.data).into_owned())
            .unwrap_or_default();
        build(&page, files)
    })
}

/// The SRI value of `bytes` (`sha384-` and the base64 digest).
pub fn sri(bytes: &[u8]) -> String {
    format!("sha384-{}", STANDARD.encode(digest(&SHA384, bytes)))
}

/// The client's published name for a page: `sha256:` and its hex digest.
pub fn page_hash(page: &[u8]) -> String {
    let digest = digest(&SHA256, page);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Renders `page` with the integrity of every `.js` and `.css` file of `files`.
fn build(page: &str, files: impl Iterator<Item = (String, Vec<u8>)>) -> Bundle {
    let integrity: BTreeMap<String, String> = files
        .filter(|(path, _)| path.ends_with(".js") || path.ends_with(".css"))
        .map(|(path, bytes)| (format!("/{path}"), sri(&bytes)))
        .collect();
    let scripts: BTreeMap<&String, &String> = integrity
        .iter()
        .filter(|(path, _)| path.ends_with(".js"))
        .collect();
    let import_map = serde_json::json!({ "integrity": scripts }).to_string();
    let mut rendered = String::with_capacity(page.len() + import_map.len() + 64 * integrity.len());
    let mut rest = page;
    let mut map_placed = false;
    // Each tag that loads a script or a style from this server gets its `integrity`;
    // the import map goes before the first module script, as browsers require.
    while let Some(start) = rest.find('<') {
        rendered.push_str(&rest[..start]);
        let Some(length) = rest[start..].find('>') else {
            break;
        };
        let tag = &rest[start..start + length];
        rest = &rest[start + length..];
        if !map_placed && tag.starts_with("<script") && tag.contains("type=\"module\"") {
            rendered.push_str("<script type=\"importmap\">");
            rendered.push_str(&import_map);
            rendered.push_str("</script>\n  ");
            map_placed = true;
        }
        rendered.push_str(tag);
        let loads = if tag.starts_with("<script") {
            attribute(tag, "src")
        } else if tag.starts_with("<link") && tag.contains("rel=\"stylesheet\"") {
            attribute(tag, "href")
        } else {
            None
        };
        if let Some(value) = loads.and_then(|path| integrity.get(path)) {
            rendered.push_str(&format!(" integrity=\"{value}\""));
        }
    }
    rendered.push_str(rest);
    let map_hash = STANDARD.encode(digest(&SHA256, import_map.as_bytes()));
    let page_csp = super::CSP.replacen(
        "script-src 'self'",
        &format!("script-src 'self' 'sha256-{map_hash}'"),
        1,
    );
    let page = axum::body::Bytes::from(rendered);
    Bundle {
        hash: page_hash(&page),
        page,
        page_csp,
        integrity,
    }
}

/// The value of `name="…"` in `tag`.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let marker = format!(" {name}=\"");
    let start = tag.find(&marker)? + marker.len();
    let length = tag[start..].find('"')?;
    Some(&tag[start..start + length])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Bundle {
        let page = "<html><head><link rel=\"icon\" href=\"/favicon.svg\">\
<link rel=\"stylesheet\" href=\"/style.css\">\
<script type=\"module\" src=\"/js/app.js\"></script></head></html>";
        let files = [
            ("js/app.js", "import './dom.js';"),
            ("js/dom.js", "export {};"),
            ("style.css", "body {}"),
            ("favicon.svg", "<svg/>"),
        ]
        .map(|(path, text)| (path.to_owned(), text.as_bytes().to_vec()));
        build(page, files.into_iter())
    }

    #[test]
    fn every_script_and_style_is_pinned_and_the_map_comes_before_the_first_module() {
        let bundle = sample();
        let page = String::from_utf8(bundle.page.to_vec()).unwrap();
        let map_at = page.find("<script type=\"importmap\">").unwrap();
        assert!(map_at < page.find("src=\"/js/app.js\"").unwrap());
        for (path, text) in [
            ("/js/app.js", "import './dom.js';"),
            ("/js/dom.js", "export {};"),
        ] {
            assert!(page.contains(&format!("\"{path}\":\"{}\"", sri(text.as_bytes()))));
        }
        assert!(page.contains(&format!(
            "src=\"/js/app.js\" integrity=\"{}\"",
            sri(b"import './dom.js';")
        )));
        assert!(page.contains(&format!(
            "href=\"/style.css\" integrity=\"{}\"",
            sri(b"body {}")
        )));
        assert!(
            !page.contains("favicon.svg\" integrity"),
            "an icon is not code"
        );
        assert_eq!(bundle.hash, page_hash(&bundle.page));
    }

    #[test]
    fn the_page_policy_allows_the_import_map_and_no_other_inline_script() {
        let bundle = sample();
        let page = String::from_utf8(bundle.page.to_vec()).unwrap();
        let opening = "<script type=\"importmap\">";
        let start = page.find(opening).unwrap() + opening.len();
        let map = &page[start..start + page[start..].find("</script>").unwrap()];
        let expected = STANDARD.encode(digest(&SHA256, map.as_bytes()));
        assert!(bundle
            .page_csp
            .contains(&format!("script-src 'self' 'sha256-{expected}';")));
        assert!(!bundle.page_csp.contains("unsafe-inline"));
    }

    #[test]
    fn changing_any_module_changes_the_clients_hash() {
        let before = sample().hash;
        let page = "<script type=\"module\" src=\"/js/app.js\"></script>";
        let files = |dom: &str| {
            vec![
                ("js/app.js".to_owned(), b"import './dom.js';".to_vec()),
                ("js/dom.js".to_owned(), dom.as_bytes().to_vec()),
            ]
            .into_iter()
        };
        assert_ne!(
            build(page, files("export {};")).hash,
            build(page, files("export const x = 1;")).hash
        );
        assert_ne!(before, build(page, files("export {};")).hash);
    }
}

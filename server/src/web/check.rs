//! `passerelle check-client`: is the client a running server hands out the published one?
//!
//! It fetches the page as a browser would, compares its hash with the expected one (by
//! default this binary's own client), then fetches every script and style the page pins
//! and compares each with its pinned SHA-384, as the browser will. A server that serves a
//! different page, or a module that does not match the page, is named.

use std::collections::BTreeMap;

use anyhow::Context as _;

use super::bundle::{page_hash, sri};

/// What a check found.
#[derive(Debug, PartialEq, Eq)]
pub struct Report {
    /// The served page's hash.
    pub page_hash: String,
    /// Whether it is the expected one.
    pub page_matches: bool,
    /// How many scripts and styles were fetched and matched their pin.
    pub files_checked: usize,
    /// The files whose content differs from the pin the page gives (by URL path).
    pub mismatched: Vec<String>,
}

impl Report {
    /// The served client is the expected one, file by file.
    pub fn holds(&self) -> bool {
        self.page_matches && self.mismatched.is_empty()
    }
}

/// Checks the client served at `base` (e.g. `https://passerelle.example.fr`) against
/// `expected` (a `sha256:…` page hash).
pub async fn check(base: &str, expected: &str) -> anyhow::Result<Report> {
    let base = base.trim_end_matches('/');
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let fetch = |path: String| {
        let client = client.clone();
        async move {
            let response = client
                .get(format!("{base}{path}"))
                .send()
                .await
                .with_context(|| format!("could not fetch {path}"))?
                .error_for_status()
                .with_context(|| format!("{path} was refused"))?;
            anyhow::Ok(response.bytes().await?.to_vec())
        }
    };
    let page = fetch("/".to_owned()).await?;
    let page_hash = page_hash(&page);
    let pins = pins(&String::from_utf8_lossy(&page));
    let mut mismatched = Vec::new();
    for (path, pin) in &pins {
        if sri(&fetch(path.clone()).await?) != *pin {
            mismatched.push(path.clone());
        }
    }
    Ok(Report {
        page_matches: page_hash == expected,
        page_hash,
        files_checked: pins.len() - mismatched.len(),
        mismatched,
    })
}

/// Every pin the page gives: the import map's entries and the `integrity` attributes.
fn pins(page: &str) -> BTreeMap<String, String> {
    let mut pins = BTreeMap::new();
    if let Some(start) = page.find("<script type=\"importmap\">") {
        let map = &page[start + "<script type=\"importmap\">".len()..];
        let map = &map[..map.find("</script>").unwrap_or(map.len())];
        if let Ok(serde_json::Value::Object(root)) = serde_json::from_str(map) {
            if let Some(serde_json::Value::Object(entries)) = root.get("integrity") {
                for (path, pin) in entries {
                    if let Some(pin) = pin.as_str() {
                        pins.insert(path.clone(), pin.to_owned());
                    }
                }
            }
        }
    }
    let mut rest = page;
    while let Some(at) = rest.find(" integrity=\"") {
        let before = &rest[..at];
        let value_start = at + " integrity=\"".len();
        let value_end = rest[value_start..]
            .find('"')
            .map_or(rest.len(), |e| value_start + e);
        let tag_start = before.rfind('<').unwrap_or(0);
        let tag = &before[tag_start..];
        let url = [" src=\"", " href=\""].iter().find_map(|marker| {
            let start = tag.find(marker)? + marker.len();
            Some(tag[start..start + tag[start..].find('"')?].to_owned())
        });
        if let Some(url) = url {
            pins.insert(url, rest[value_start..value_end].to_owned());
        }
        rest = &rest[value_end..];
    }
    pins
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pins_are_read_from_the_import_map_and_the_tags() {
        let page = "<link rel=\"stylesheet\" href=\"/style.css\" integrity=\"sha384-css\">\
<script type=\"importmap\">{\"integrity\":{\"/js/a.js\":\"sha384-a\",\"/js/b.js\":\"sha384-b\"}}</script>\
<script type=\"module\" src=\"/js/a.js\" integrity=\"sha384-a\"></script>";
        let found = pins(page);
        assert_eq!(found.len(), 3);
        assert_eq!(found["/style.css"], "sha384-css");
        assert_eq!(found["/js/b.js"], "sha384-b");
    }
}

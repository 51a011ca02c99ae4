//! Transport pieces shared by every domain's routes: extractors that reject with the
//! seed's error object, caller authentication, request ids, metrics, health, and the
//! escaping of text put into the few HTML pages origin serves.

pub mod extract;
pub mod middleware;
pub mod ops;

/// `s` as HTML text or a quoted attribute value: `& < > " '` escaped.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

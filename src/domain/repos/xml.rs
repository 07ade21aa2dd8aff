//! The little XML rpm-md needs: escaping text and attribute values, with the
//! characters XML 1.0 cannot carry dropped (an RPM header is free to hold
//! them; createrepo_c drops them too), so one odd changelog cannot make the
//! whole document unreadable.

use std::fmt::Write;

/// `text` escaped for element content or a double-quoted attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            '\u{fffe}' | '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `<name>text</name>` (`<name/>` when empty).
pub fn element(out: &mut String, indent: &str, name: &str, text: &str) {
    if text.is_empty() {
        let _ = writeln!(out, "{indent}<{name}/>");
    } else {
        let _ = writeln!(out, "{indent}<{name}>{}</{name}>", escape(text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_what_xml_cannot_hold() {
        assert_eq!(escape(r#"a<b>&"c""#), "a&lt;b&gt;&amp;&quot;c&quot;");
        assert_eq!(escape("x\u{1}y\tz\n"), "xy\tz\n");
        assert_eq!(escape("é ✓"), "é ✓");
    }
}

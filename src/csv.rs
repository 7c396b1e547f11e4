//! CSV for spreadsheets (statements, records): UTF-8 with a byte-order mark so spreadsheet
//! programs show Chinese, and fields people typed made safe to open.

/// Put this first in a CSV file.
pub const BOM: &str = "\u{feff}";

/// One field: quoted when it holds a separator, quote or line break; and text that a
/// spreadsheet would run as a formula (starting with = + - @, or a tab or carriage return)
/// is prefixed with an apostrophe, so it shows as typed.
pub fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("x\"y\n"), "\"x\"\"y\n\"");
        assert_eq!(
            field("=HYPERLINK(\"http://x\")"),
            "\"'=HYPERLINK(\"\"http://x\"\")\""
        );
        assert_eq!(field("-1"), "'-1");
        assert_eq!(field("茶叶"), "茶叶");
    }
}

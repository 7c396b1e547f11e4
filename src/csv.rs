//! CSV for spreadsheets (statements, records), written by the `csv` crate: UTF-8 with a
//! byte-order mark so spreadsheet programs show Chinese, and text made safe to open.

use std::borrow::Cow;

/// Put first in a CSV file: without it spreadsheet programs read UTF-8 as the local code page.
const BOM: &[u8] = "\u{feff}".as_bytes();

/// One cell of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell<'a> {
    /// Text, whoever wrote it. Text that a spreadsheet would run as a formula (starting with
    /// = + - @, or a tab or carriage return) is written with an apostrophe before it, so it
    /// shows as typed: what people typed cannot become a formula.
    Text(Cow<'a, str>),
    /// A number the server wrote: left as it is, so a negative one stays a number.
    Number(i64),
}

impl<'a> From<&'a str> for Cell<'a> {
    fn from(s: &'a str) -> Self {
        Self::Text(Cow::Borrowed(s))
    }
}

impl<'a> From<&'a String> for Cell<'a> {
    fn from(s: &'a String) -> Self {
        Self::Text(Cow::Borrowed(s))
    }
}

impl From<String> for Cell<'_> {
    fn from(s: String) -> Self {
        Self::Text(Cow::Owned(s))
    }
}

impl From<i64> for Cell<'_> {
    fn from(n: i64) -> Self {
        Self::Number(n)
    }
}

impl From<i32> for Cell<'_> {
    fn from(n: i32) -> Self {
        Self::Number(n.into())
    }
}

/// An absent number is an empty cell.
impl From<Option<i64>> for Cell<'_> {
    fn from(n: Option<i64>) -> Self {
        n.map_or(Self::Text(Cow::Borrowed("")), Self::Number)
    }
}

impl Cell<'_> {
    fn bytes(&self) -> Cow<'_, [u8]> {
        match self {
            Self::Text(s) if s.starts_with(['=', '+', '-', '@', '\t', '\r']) => {
                Cow::Owned(format!("'{s}").into_bytes())
            }
            Self::Text(s) => Cow::Borrowed(s.as_bytes()),
            Self::Number(n) => Cow::Owned(n.to_string().into_bytes()),
        }
    }
}

/// A CSV file being written in memory, row by row. Rows may differ in length (a statement
/// has sections of two and three columns).
pub struct Sheet {
    out: ::csv::Writer<Vec<u8>>,
}

/// Why the `csv` crate has no error to give here: the writer is flexible (no row-length
/// check) and writes into memory, which takes every byte.
const IN_MEMORY: &str = "a flexible CSV writer into memory cannot fail";

impl Default for Sheet {
    fn default() -> Self {
        Self::new()
    }
}

impl Sheet {
    /// An empty file: only the byte-order mark.
    pub fn new() -> Self {
        Self {
            out: ::csv::WriterBuilder::new()
                .flexible(true)
                .from_writer(BOM.to_vec()),
        }
    }

    /// Writes one row; fields holding a comma, quote or line break are quoted by the writer.
    pub fn row(&mut self, cells: &[Cell<'_>]) {
        self.out
            .write_record(cells.iter().map(Cell::bytes))
            .expect(IN_MEMORY);
    }

    /// An empty row between sections (one empty cell, which the writer writes as `""`).
    pub fn blank(&mut self) {
        self.row(&[Cell::from("")]);
    }

    /// The finished file.
    pub fn finish(self) -> String {
        let bytes = self.out.into_inner().expect(IN_MEMORY);
        // Every cell came from a `str` and the writer adds only ASCII, so the bytes are UTF-8;
        // the lossy branch is never taken.
        String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(cells: &[Cell<'_>]) -> String {
        let mut sheet = Sheet::new();
        sheet.row(cells);
        sheet.finish()
    }

    #[test]
    fn starts_with_the_byte_order_mark() {
        assert_eq!(Sheet::new().finish(), "\u{feff}");
        assert_eq!(one(&["a".into(), 1i64.into()]), "\u{feff}a,1\n");
    }

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        let cells = [
            "a,b".into(),
            "x\"y\n".into(),
            "=HYPERLINK(\"http://x\")".into(),
            "-1".into(),
            "+1".into(),
            "@SUM(A1)".into(),
            "\tcmd".into(),
            "\rcmd".into(),
            "茶叶".into(),
            "a=b".into(),
        ];
        assert_eq!(
            one(&cells),
            "\u{feff}\"a,b\",\"x\"\"y\n\",\"'=HYPERLINK(\"\"http://x\"\")\",'-1,'+1,'@SUM(A1),\
             '\tcmd,\"'\rcmd\",茶叶,a=b\n"
        );
    }

    #[test]
    fn server_numbers_are_not_defused() {
        assert_eq!(
            one(&[
                (-5i64).into(),
                7i32.into(),
                None::<i64>.into(),
                Some(3i64).into()
            ]),
            "\u{feff}-5,7,,3\n"
        );
    }

    #[test]
    fn rows_may_differ_in_length_with_blank_rows_between() {
        let mut sheet = Sheet::new();
        sheet.row(&["商户".into(), "茶叶店".into()]);
        sheet.blank();
        sheet.row(&["商品".into(), "笔数".into(), "金豆".into()]);
        assert_eq!(
            sheet.finish(),
            "\u{feff}商户,茶叶店\n\"\"\n商品,笔数,金豆\n"
        );
    }
}

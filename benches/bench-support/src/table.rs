//! Markdown tables: a header row with an alignment per column, then rows of cells, written
//! padded (columns lined up in plain text) or compact (one space around each cell).
//!
//! ```
//! use bench_support::table::{Align, Table};
//!
//! let mut t = Table::new([("name", Align::Left), ("n", Align::Right)]);
//! t.row(["a", "1"]);
//! t.row(["long name", "22"]);
//! assert_eq!(
//!     t.markdown(),
//!     "| name      |   n |\n|-----------|----:|\n| a         |   1 |\n| long name |  22 |\n"
//! );
//! assert_eq!(t.compact(), "| name | n |\n|---|--:|\n| a | 1 |\n| long name | 22 |\n");
//! ```

use std::fmt::Write as _;

/// How a column's cells are aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Align {
    /// Text to the left (the rule cell is all dashes).
    Left,
    /// Text to the right (the rule cell ends with a colon): numbers.
    Right,
}

/// A Markdown table being built.
///
/// ```
/// use bench_support::table::{Align, Table};
///
/// let mut t = Table::new([("x", Align::Right)]);
/// t.row(["1.5"]);
/// assert_eq!(t.len(), 1);
/// assert!(t.markdown().ends_with("| 1.5 |\n"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    headers: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers and no rows.
    ///
    /// ```
    /// use bench_support::table::{Align, Table};
    ///
    /// let t = Table::new([("a", Align::Left)]);
    /// assert!(t.is_empty());
    /// assert_eq!(t.compact(), "| a |\n|---|\n");
    /// ```
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = (S, Align)>) -> Table {
        Table {
            headers: headers.into_iter().map(|(h, a)| (h.into(), a)).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row. Missing cells are left empty; cells beyond the headers are dropped.
    ///
    /// ```
    /// use bench_support::table::{Align, Table};
    ///
    /// let mut t = Table::new([("a", Align::Left), ("b", Align::Right)]);
    /// t.row(["1", "2"]).row(["3"]);
    /// assert!(t.compact().ends_with("| 1 | 2 |\n| 3 |  |\n"));
    /// ```
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Table {
        let mut row: Vec<String> = cells
            .into_iter()
            .take(self.headers.len())
            .map(Into::into)
            .collect();
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
        self
    }

    /// Rows added so far.
    ///
    /// ```
    /// use bench_support::table::{Align, Table};
    ///
    /// let mut t = Table::new([("a", Align::Left)]);
    /// t.row(["x"]);
    /// assert_eq!(t.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row was added.
    ///
    /// ```
    /// use bench_support::table::{Align, Table};
    ///
    /// assert!(Table::new([("a", Align::Left)]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table with every column padded to its widest cell (at least 3 characters), each
    /// line ending with a newline.
    ///
    /// ```
    /// use bench_support::table::{Align, Table};
    ///
    /// let mut t = Table::new([("n", Align::Right)]);
    /// t.row(["1234"]);
    /// assert_eq!(t.markdown(), "|    n |\n|-----:|\n| 1234 |\n");
    /// ```
    pub fn markdown(&self) -> String {
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|i| {
                self.rows
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([self.headers[i].0.chars().count(), 3])
                    .max()
                    .unwrap_or(3)
            })
            .collect();
        let mut out = String::new();
        let header: Vec<&str> = self.headers.iter().map(|(h, _)| h.as_str()).collect();
        self.padded_line(&mut out, &header, &widths);
        // Each rule cell spans the cell and its two spaces; a colon at the end right-aligns.
        let rule: Vec<String> = self
            .headers
            .iter()
            .zip(&widths)
            .map(|((_, a), &w)| match a {
                Align::Left => "-".repeat(w + 2),
                Align::Right => format!("{}:", "-".repeat(w + 1)),
            })
            .collect();
        let _ = writeln!(out, "|{}|", rule.join("|"));
        for row in &self.rows {
            let cells: Vec<&str> = row.iter().map(String::as_str).collect();
            self.padded_line(&mut out, &cells, &widths);
        }
        out
    }

    fn padded_line(&self, out: &mut String, cells: &[&str], widths: &[usize]) {
        let padded: Vec<String> = cells
            .iter()
            .zip(self.headers.iter().zip(widths))
            .map(|(text, ((_, align), &width))| {
                let fill = " ".repeat(width - text.chars().count());
                match align {
                    Align::Left => format!("{text}{fill}"),
                    Align::Right => format!("{fill}{text}"),
                }
            })
            .collect();
        let _ = writeln!(out, "| {} |", padded.join(" | "));
    }

    /// The table without padding: `| a | b |` lines and a `|---|--:|` rule.
    ///
    /// ```
    /// use bench_support::table::{Align, Table};
    ///
    /// let mut t = Table::new([("a", Align::Left), ("b", Align::Right)]);
    /// t.row(["x", "1"]);
    /// assert_eq!(t.compact(), "| a | b |\n|---|--:|\n| x | 1 |\n");
    /// ```
    pub fn compact(&self) -> String {
        let mut out = String::new();
        let header: Vec<&str> = self.headers.iter().map(|(h, _)| h.as_str()).collect();
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let rule: Vec<&str> = self
            .headers
            .iter()
            .map(|(_, a)| match a {
                Align::Left => "---",
                Align::Right => "--:",
            })
            .collect();
        let _ = writeln!(out, "|{}|", rule.join("|"));
        for row in &self.rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_rows_are_filled_and_long_ones_cut() {
        let mut t = Table::new([("a", Align::Left), ("b", Align::Right)]);
        t.row(["x"]).row(["1", "2", "3"]);
        assert_eq!(t.compact(), "| a | b |\n|---|--:|\n| x |  |\n| 1 | 2 |\n");
        assert_eq!(t.markdown().lines().nth(2), Some("| x   |     |"));
    }

    #[test]
    fn wide_characters_count_once() {
        let mut t = Table::new([("µs", Align::Right)]);
        t.row(["1"]);
        assert_eq!(t.markdown(), "|  µs |\n|----:|\n|   1 |\n");
    }
}

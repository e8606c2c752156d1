//! Aligned text tables for people (`list`, `admin`): no borders, a header line, numbers
//! right-aligned, each line indented by two spaces and without trailing blanks.

use comfy_table::{presets, CellAlignment, Table};

/// A table with `header`; the columns whose index is in `numeric` are right-aligned.
pub fn table(header: &[&str], numeric: &[usize], rows: Vec<Vec<String>>) -> String {
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    table.set_header(header.to_vec());
    for row in rows {
        table.add_row(row);
    }
    for &i in numeric {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    // NOTHING pads each cell with one blank on both sides: one more makes the two-space indent.
    table
        .lines()
        .map(|line| format!(" {}", line.trim_end()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_numbers_align_right() {
        let text = table(
            &["NAME", "FREE"],
            &[1],
            vec![
                vec!["DVD burner".into(), "1".into()],
                vec!["BD".into(), "12".into()],
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "  NAME        FREE");
        assert_eq!(lines[1], "  DVD burner     1");
        assert_eq!(lines[2], "  BD            12");
    }
}

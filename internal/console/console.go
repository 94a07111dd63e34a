// Package console prints what the `make demo` and `make bench` programs show on the
// terminal: "==> " step lines and aligned tables.
package console

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Step prints one "==> " line to stdout, formatted as by fmt.Printf.
func Step(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }

// Table writes rows to w as aligned columns, each line indented by two spaces and columns
// two spaces apart, without trailing blanks. align has one letter per column: l(eft),
// r(ight) or c(enter); no row may have more cells than align has letters. Widths count
// runes, so "✓" or "×" take one column.
func Table(w io.Writer, rows [][]string, align string) {
	widths := make([]int, len(align))
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	for _, row := range rows {
		var b strings.Builder
		for i, cell := range row {
			pad := widths[i] - utf8.RuneCountInString(cell)
			switch align[i] {
			case 'r':
				b.WriteString(strings.Repeat(" ", pad) + cell)
			case 'c':
				b.WriteString(strings.Repeat(" ", pad/2) + cell + strings.Repeat(" ", pad-pad/2))
			default:
				b.WriteString(cell + strings.Repeat(" ", pad))
			}
			b.WriteString("  ")
		}
		fmt.Fprintln(w, "  "+strings.TrimRight(b.String(), " "))
	}
}

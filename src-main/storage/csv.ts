/**
 * CSV records the studio writes. A text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage
 * return would be read as a formula by a spreadsheet, so it is prefixed with `'` (OWASP's rule for
 * CSV injection) and then quoted as RFC 4180 asks. Numbers are written as they are.
 */
export type CsvValue = string | number

const FORMULA_START = /^[=+\-@\t\r]/

/** One cell: a text cell made safe to open in a spreadsheet, quoted when it must be. */
export function csvCell(value: CsvValue): string {
  if (typeof value === 'number') return String(value)
  const text = FORMULA_START.test(value) ? `'${value}` : value
  return /[",\r\n]/.test(text) || text !== value ? `"${text.replace(/"/g, '""')}"` : text
}

/** Rows of cells as CSV text, one line a row, ending in a newline. */
export function csvText(rows: readonly (readonly CsvValue[])[]): string {
  return `${rows.map((r) => r.map(csvCell).join(',')).join('\n')}\n`
}

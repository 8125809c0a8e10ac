// Human-readable by default, `--json` for scripts.
export interface Output {
  json: boolean;
  /** Prints a record: `key  value` lines, or the object as JSON. */
  record(value: Record<string, unknown>, human?: Array<[string, unknown]>): void;
  /** Prints rows as an aligned table, or the array as JSON under `key`. */
  table(key: string, rows: Array<Record<string, unknown>>, columns: string[]): void;
  /** A line for people; suppressed in --json mode. */
  note(line: string): void;
}

const show = (value: unknown): string => (value === null || value === undefined ? '-' : Array.isArray(value) ? value.join(',') : typeof value === 'object' ? JSON.stringify(value) : String(value));

export function createOutput(json: boolean, write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Output {
  return {
    json,
    record(value, human) {
      if (json) return write(JSON.stringify(value, null, 2));
      const pairs = human ?? Object.entries(value);
      const width = Math.max(...pairs.map(([k]) => k.length));
      for (const [k, v] of pairs) write(`${k.padEnd(width)}  ${show(v)}`);
    },
    table(key, rows, columns) {
      if (json) return write(JSON.stringify({ [key]: rows }, null, 2));
      if (rows.length === 0) return write(`no ${key}`);
      const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => show(r[c]).length)));
      write(columns.map((c, i) => c.toUpperCase().padEnd(widths[i] as number)).join('  ').trimEnd());
      for (const row of rows) write(columns.map((c, i) => show(row[c]).padEnd(widths[i] as number)).join('  ').trimEnd());
    },
    note(line) {
      if (!json) write(line);
    },
  };
}

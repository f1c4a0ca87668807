// The rosters the import tests upload, zipped here from the demo district's CSV files that
// `./herald.sh test` generated (HERALD_E2E_DIR/demo): the district as it is, and the same
// district with one bad email, so the import must refuse it whole.
import * as fs from "node:fs";
import * as path from "node:path";
import JSZip from "jszip";

const demo = path.join(process.env.HERALD_E2E_DIR ?? "../target/e2e", "demo");

/** A file for Playwright's `setInputFiles`. */
export type Upload = { name: string; mimeType: string; buffer: Buffer };

async function zip(name: string, edit: (file: string, text: string) => string): Promise<Upload> {
  const z = new JSZip();
  for (const file of fs.readdirSync(demo).filter((f) => f.endsWith(".csv")).sort()) {
    z.file(file, edit(file, fs.readFileSync(path.join(demo, file), "utf8")));
  }
  const buffer = await z.generateAsync({ type: "nodebuffer", compression: "DEFLATE" });
  return { name, mimeType: "application/zip", buffer };
}

/** The demo district's OneRoster files, zipped. */
export function demoRoster(): Promise<Upload> {
  return zip("roster.zip", (_, text) => text);
}

/** The demo roster with `users.csv` line `line` (1 is the header) carrying "not-an-address". */
export function rosterWithBadEmail(line: number): Promise<Upload> {
  return zip("roster-bad.zip", (file, text) => {
    if (file !== "users.csv") return text;
    const lines = text.split("\n");
    const column = lines[0].split(",").indexOf("email");
    const row = lines[line - 1];
    if (column < 0 || row === undefined || row.includes('"')) {
      throw new Error(`users.csv line ${line}: expected an unquoted row with an email column`);
    }
    const fields = row.split(",");
    fields[column] = "not-an-address";
    lines[line - 1] = fields.join(",");
    return lines.join("\n");
  });
}

// The bundled corpus: 1,000 real-world links (title, URL, tags) in corpus.tsv, the simulator's first bookmarks.
import fs from "node:fs";
import { fileURLToPath } from "node:url";

export interface CorpusEntry {
  title: string;
  url: string;
  tags: string[];
}

export const CORPUS_FILE = fileURLToPath(new URL("./corpus.tsv", import.meta.url));
const HEADER = "title\turl\ttags";

/**
 * Parses the TSV (a header, then `title<TAB>url<TAB>tag,tag`). Only the file's shape is checked
 * here: whether a title or URL is acceptable is decided by the command path, like any API call.
 */
export function parseCorpus(text: string, source = "corpus"): CorpusEntry[] {
  const lines = text.split("\n").filter((line) => line !== "");
  if (lines[0] !== HEADER) throw new Error(`${source}: the first line must be the header '${HEADER.replaceAll("\t", "<TAB>")}'`);
  return lines.slice(1).map((line, index) => {
    const fields = line.split("\t");
    if (fields.length !== 3) throw new Error(`${source} line ${index + 2}: expected 3 tab-separated fields, found ${fields.length}`);
    const [title, url, tags] = fields as [string, string, string];
    return { title, url, tags: tags === "" ? [] : tags.split(",") };
  });
}

let bundled: CorpusEntry[] | null = null;

export function bundledCorpus(): CorpusEntry[] {
  bundled ??= parseCorpus(fs.readFileSync(CORPUS_FILE, "utf8"), CORPUS_FILE);
  return bundled;
}

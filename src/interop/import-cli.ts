// `npm run nasty -- import FILE --user NAME`: a bookmark file imported through the command path into the data directory's log.
import fs from "node:fs";
import path from "node:path";
import type { Store } from "../store/store.ts";
import type { Commands } from "../commands/commands.ts";

/** What the import needs of the CLI's context (cli/commands.ts StateContext has it, in the server or offline). */
export interface ImportContext {
  store: Store;
  commands: Commands;
  /** The caller's working directory: FILE is read relative to it. */
  cwd: string;
  io: { out(line: string): void; err(line: string): void };
}
import { BookmarkImport, type ImportProgress } from "./import.ts";

/** Thrown for a usage mistake; the CLI prints its message and exits with 2. */
export type UsageErrorFactory = (message: string) => Error;

function describeProgress(progress: ImportProgress, fileBytes: number): string {
  if (progress.phase === "reading") {
    const percent = fileBytes > 0 ? Math.round((progress.bytes / fileBytes) * 100) : 100;
    return `reading: ${percent}% of the file, ${progress.entries.toLocaleString("en")} bookmarks so far`;
  }
  return `saving: ${progress.saved.toLocaleString("en")} bookmarks checked and saved`;
}

/**
 * Reads FILE in chunks into a BookmarkImport for --user, printing progress to stderr, each
 * problem as FILE:LINE: message, and a summary. --no-folders keeps folder names out of the tags;
 * --public makes entries without their own PRIVATE attribute public (they are private otherwise).
 */
export async function importCommand(context: ImportContext, args: readonly string[], usage: UsageErrorFactory, option: (args: readonly string[], name: string) => string | undefined): Promise<void> {
  const given = args[0];
  if (!given || given.startsWith("--")) throw usage("import needs a FILE (a Netscape bookmark file)");
  const file = path.resolve(context.cwd, given);
  const name = option(args, "user");
  if (!name) throw usage("import needs --user NAME");
  const user = context.store.userByName(name);
  if (!user) throw usage(`no user named ${name} (create one with: npm run nasty -- user add ${name})`);
  let fileBytes: number;
  try {
    fileBytes = fs.statSync(file).size;
  } catch (error) {
    throw usage(`cannot read ${given}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const job = new BookmarkImport(context.commands, user, {
    foldersAsTags: !args.includes("--no-folders"),
    public: args.includes("--public"),
    onProgress: (progress) => context.io.err(describeProgress(progress, fileBytes)),
  });
  let report: Awaited<ReturnType<BookmarkImport["finish"]>>;
  try {
    for await (const chunk of fs.createReadStream(file, { highWaterMark: 256 * 1024 })) job.write(chunk as Buffer);
    report = await job.finish();
  } finally {
    job.dispose();
  }
  for (const problem of report.problems) context.io.out(`${given}:${problem.line}: ${problem.message}`);
  if (report.problems_total > report.problems.length) context.io.out(`… and ${report.problems_total - report.problems.length} more problems`);
  context.io.out(`imported ${report.imported} of ${report.entries} bookmarks for ${user.username}: ${report.duplicates} already saved, ${report.skipped} skipped`);
}

// Reading a secret for the CLI: typed at a prompt without echo on a terminal, or the first line of piped stdin.

/** A mistake in how a command was called: the CLI prints its message and exits with 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A secret longer than this is refused before it is read further (passwords stop at 1,024 characters). */
const SECRET_BYTES_MAX = 64 * 1024;

/** The first line of stdin when it is not a terminal; a prompt without echo (asked twice) when it is. */
export async function readSecret(prompt: string): Promise<string> {
  if (!process.stdin.isTTY) return firstLine(await readPiped());
  const first = await promptHidden(prompt);
  const again = await promptHidden("again: ");
  if (first !== again) throw new UsageError("the two passwords differ; nothing was changed");
  return first;
}

async function readPiped(): Promise<string> {
  let text = "";
  for await (const chunk of process.stdin) {
    text += (chunk as Buffer).toString("utf8");
    if (text.includes("\n")) break;
    if (text.length > SECRET_BYTES_MAX) throw new UsageError(`the password on stdin is longer than ${SECRET_BYTES_MAX} bytes`);
  }
  return text;
}

function firstLine(text: string): string {
  const line = text.split("\n", 1)[0] ?? "";
  if (line.endsWith("\r")) return line.slice(0, -1);
  return line;
}

/** Reads one line in raw mode so nothing typed is shown; Ctrl-C or Ctrl-D gives up. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise<string>((resolve, reject) => {
    let typed = "";
    const finish = (error: Error | null) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: Buffer) => {
      for (const character of chunk.toString("utf8")) {
        if (character === "\r" || character === "\n") return finish(null);
        if (character === "\u0003" || character === "\u0004") return finish(new UsageError("cancelled; nothing was changed"));
        if (character === "\u007f" || character === "\b") typed = typed.slice(0, -1);
        else if (typed.length < SECRET_BYTES_MAX) typed += character;
      }
    };
    stdin.on("data", onData);
  });
}

// Command-line flags for the traffic tools and `npm start`: `--name value` or `--name=value`, checked against a spec.

export class UsageError extends Error {
  override name = "UsageError";
}

export type FlagSpec =
  | { kind: "integer"; min: number; max: number; describe: string }
  | { kind: "string"; describe: string; repeatable?: boolean }
  | { kind: "switch"; describe: string };

export type FlagValues = Record<string, number | string | string[] | boolean | undefined>;

/** One line per flag, for usage messages. */
export function describeFlags(spec: Record<string, FlagSpec>): string {
  return Object.entries(spec)
    .map(([name, flag]) => `  --${name}${flag.kind === "switch" ? "" : flag.kind === "integer" ? ` <${flag.min}..${flag.max}>` : " <value>"}  ${flag.describe}`)
    .join("\n");
}

function parseValue(name: string, flag: FlagSpec, raw: string): number | string {
  if (flag.kind !== "integer") return raw;
  if (!/^\d+$/.test(raw.trim())) throw new UsageError(`--${name} needs a whole number (${flag.describe}), got '${raw.slice(0, 40)}'`);
  const value = Number(raw);
  if (value < flag.min || value > flag.max) throw new UsageError(`--${name} must be from ${flag.min} to ${flag.max} (${flag.describe}), got ${raw}`);
  return value;
}

/** Parses `argv` (without node and script); throws UsageError naming the first problem. */
export function parseFlags(argv: readonly string[], spec: Record<string, FlagSpec>): FlagValues {
  const values: FlagValues = {};
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index]!;
    const match = /^--([a-z][a-z-]*)(?:=(.*))?$/s.exec(argument);
    if (!match) throw new UsageError(`unexpected argument '${argument.slice(0, 40)}'; flags are:\n${describeFlags(spec)}`);
    const name = match[1]!;
    const flag = spec[name];
    if (!flag) throw new UsageError(`unknown flag --${name}; flags are:\n${describeFlags(spec)}`);
    if (flag.kind === "switch") {
      if (match[2] !== undefined) throw new UsageError(`--${name} takes no value`);
      values[name] = true;
      continue;
    }
    let raw = match[2];
    if (raw === undefined) {
      const next = argv[index + 1];
      if (next === undefined || next.startsWith("--")) throw new UsageError(`--${name} needs a value (${flag.describe})`);
      raw = next;
      index += 1;
    }
    const value = parseValue(name, flag, raw);
    if (flag.kind === "string" && flag.repeatable) values[name] = [...((values[name] as string[] | undefined) ?? []), String(value)];
    else values[name] = value;
  }
  return values;
}

// Test support: checks an answer of the native JSON API (/api/*) against docs/openapi.yaml — route, method, status, content type and JSON shape.
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import formatsModule, { type FormatsPlugin } from "ajv-formats";
import { loadOpenApi } from "../../src/http/openapi.ts";

// ajv-formats is CommonJS: under tsx its default export may arrive wrapped once more.
const addFormats = ((formatsModule as unknown as { default?: FormatsPlugin }).default ?? formatsModule) as FormatsPlugin;

/** The id the description is registered under, so response schemas can point into it. */
const SPEC_ID = "nasty-openapi";
const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"] as const;

type Json = Record<string, any>;

export interface ApiAnswer {
  method: string;
  /** The path without the query string. */
  path: string;
  status: number;
  contentType: string;
  text: string;
}

/** True for the paths the description covers: /api/..., except linkding's (they all end in a slash). */
export function isNativeApiPath(path: string): boolean {
  return path.startsWith("/api/") && !path.endsWith("/");
}

/** A path template of the description ("/api/bookmarks/{id}") as segments; "{…}" matches one segment. */
function segmentsOf(template: string): string[] {
  return template.split("/");
}

export class OpenApiChecker {
  readonly spec: Json;
  private readonly ajv: Ajv2020;
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly templates: { template: string; segments: string[]; literals: number }[];

  constructor(spec: Json = loadOpenApi()) {
    this.spec = spec;
    // OpenAPI 3.1 schemas are JSON Schema 2020-12; the document itself is not a schema, so it is
    // registered without being compiled and only the schemas it holds are compiled, strictly.
    this.ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, validateSchema: false, keywords: ["openapi", "info", "servers", "paths", "components", "security", "tags", "x-nasty-unknown-route", "x-nasty-every-route", "summary", "example"] });
    addFormats(this.ajv);
    this.ajv.addSchema(spec, SPEC_ID);
    this.templates = Object.keys(spec.paths ?? {}).map((template) => {
      const segments = segmentsOf(template);
      return { template, segments, literals: segments.filter((segment) => !segment.startsWith("{")).length };
    });
  }

  /** The path template an actual path falls under; literal segments win over parameters, as in OpenAPI. */
  templateOf(path: string): string | null {
    const actual = path.split("/");
    let best: { template: string; literals: number } | null = null;
    for (const candidate of this.templates) {
      if (candidate.segments.length !== actual.length) continue;
      const fits = candidate.segments.every((segment, index) => (segment.startsWith("{") && segment.endsWith("}") ? actual[index] !== "" : segment === actual[index]));
      if (fits && (!best || candidate.literals > best.literals)) best = candidate;
    }
    return best?.template ?? null;
  }

  /** Every (METHOD, template) the description documents. */
  operations(): { method: string; template: string }[] {
    return Object.entries(this.spec.paths as Json).flatMap(([template, item]) =>
      METHODS.filter((method) => item[method] !== undefined).map((method) => ({ method: method.toUpperCase(), template })));
  }

  /** Follows a `$ref` inside the description ("#/components/responses/NotFound"). */
  private resolve(node: Json): Json {
    let current = node;
    for (let hops = 0; typeof current?.$ref === "string" && hops < 8; hops += 1) {
      const pointer = (current.$ref as string).replace(/^#\//, "").split("/").map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"));
      current = pointer.reduce<any>((value, key) => value?.[key], this.spec);
      if (current === undefined) throw new Error(`docs/openapi.yaml: unresolved $ref ${node.$ref}`);
    }
    return current;
  }

  private validator(pointer: string): ValidateFunction {
    let validate = this.validators.get(pointer);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `${SPEC_ID}#${pointer}` });
      this.validators.set(pointer, validate);
    }
    return validate;
  }

  /**
   * The documented response for an answer, with the JSON pointer of where it sits, or the reason
   * there is none. An undocumented route or method must get the catch-all (x-nasty-unknown-route).
   */
  private responseFor(answer: ApiAnswer): { response: Json; pointer: string; route: string } | { problem: string; route: string } {
    const template = this.templateOf(answer.path);
    const item = template === null ? undefined : (this.spec.paths[template] as Json);
    // Every GET route also answers HEAD, without the body: the GET operation describes it.
    const method = answer.method.toLowerCase() === "head" && item?.get !== undefined ? "get" : answer.method.toLowerCase();
    const operation = item?.[method] as Json | undefined;
    if (template !== null && operation === undefined && answer.method.toLowerCase() !== "options" && answer.status === 405) {
      const fallback = this.spec["x-nasty-every-route"]["405"] as Json;
      return { response: this.resolve(fallback), pointer: (fallback.$ref as string).slice(1), route: `${answer.method.toUpperCase()} ${template}` };
    }
    if (template !== null && answer.method.toLowerCase() === "options") {
      const route = `OPTIONS ${template}`;
      return answer.status === 204 ? { response: {}, pointer: "", route } : { problem: `OPTIONS answered ${answer.status}, not 204`, route };
    }
    if (template === null || operation === undefined) {
      const route = `${answer.method.toUpperCase()} ${answer.path}`;
      const fallback = this.spec["x-nasty-unknown-route"];
      if (answer.status !== 404 || !fallback) return { problem: `undocumented route (not in docs/openapi.yaml), answered ${answer.status}`, route };
      return { response: this.resolve(fallback), pointer: (fallback.$ref as string).slice(1), route };
    }
    const route = `${answer.method.toUpperCase()} ${template}`;
    const key = String(answer.status);
    // Answers every route gives alike (an unexpected error, a method the route does not take) are described once, in x-nasty-every-route.
    const response = (operation.responses?.[key] ?? this.spec["x-nasty-every-route"]?.[key]) as Json | undefined;
    if (!response) return { problem: `undocumented status ${answer.status} (documented: ${Object.keys(operation.responses ?? {}).join(", ")})`, route };
    const escaped = template.replace(/~/g, "~0").replace(/\//g, "~1");
    const pointer = typeof response.$ref === "string" ? response.$ref.slice(1) : `/paths/${escaped}/${method}/responses/${key}`;
    return { response: this.resolve(response), pointer, route };
  }

  /** Problems with an answer, as one message naming the route, the status and each schema error; null when it matches. */
  check(answer: ApiAnswer): string | null {
    const found = this.responseFor(answer);
    const where = `${found.route} → ${answer.status}`;
    if ("problem" in found) return `${where}: ${found.problem}`;
    const content = found.response.content as Json | undefined;
    if (!content) return answer.text === "" ? null : `${where}: documented without a body, but the answer has one (${answer.text.slice(0, 80)})`;
    const type = answer.contentType.split(";")[0]!.trim().toLowerCase();
    if (!(type in content)) return `${where}: content type '${type}' is not documented (documented: ${Object.keys(content).join(", ")})`;
    // A HEAD answer has the headers of its GET and no body to check.
    if (!/json/.test(type) || content[type].schema === undefined || answer.method.toUpperCase() === "HEAD") return null;
    let body: unknown;
    try {
      body = JSON.parse(answer.text);
    } catch (error) {
      return `${where}: the body is not JSON (${(error as Error).message})`;
    }
    const validate = this.validator(`${found.pointer}/content/${type.replace(/\//g, "~1")}/schema`);
    if (validate(body)) return null;
    const errors = (validate.errors ?? []).map((error) => `${error.instancePath || "(body)"} ${error.message}${error.params && Object.keys(error.params).length ? ` ${JSON.stringify(error.params)}` : ""}`);
    return `${where}: the answer does not match docs/openapi.yaml: ${errors.join("; ")}\n  body: ${answer.text.slice(0, 400)}`;
  }
}

let shared: OpenApiChecker | null = null;

/** The one checker the request helper uses, built on first use. */
export function openApiChecker(): OpenApiChecker {
  return (shared ??= new OpenApiChecker());
}

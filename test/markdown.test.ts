// render/markdown.ts: notes Markdown rendered to HTML that a spec HTML parser (parse5) reads as allowed elements only.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseFragment, type DefaultTreeAdapterTypes } from "parse5";
import { NOTES_LINK_REL, NOTES_RENDERED_CHARS_MAX, renderNotes, renderedOrPlain } from "../src/render/markdown.ts";
import { below, mulberry32, pick } from "../src/simulator/random.ts";

/** The elements and, per element, the attributes notes may contain: what markdown.ts is meant to let through. */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  p: [], br: [], em: [], strong: [], code: [], pre: [], blockquote: [], ul: [], ol: ["start"], li: [], a: ["href", "rel"],
  h4: [], h5: [], h6: [], hr: [], s: [], table: [], thead: [], tbody: [], tr: [], th: [], td: [],
};
const LINK_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);

interface Element {
  name: string;
  attributes: Map<string, string>;
  depth: number;
}

interface Parsed {
  elements: Element[];
  text: string;
  links: { href: string | undefined; rel: string | undefined; text: string }[];
}

type Node = DefaultTreeAdapterTypes.ChildNode | DefaultTreeAdapterTypes.DocumentFragment;

function textOf(node: Node): string {
  if (node.nodeName === "#text" && "value" in node) return node.value;
  return "childNodes" in node ? node.childNodes.map(textOf).join("") : "";
}

/** The HTML as a browser's parser reads it: every element with its attributes and depth, the text, the links. */
function parse(html: string): Parsed {
  const parsed: Parsed = { elements: [], text: "", links: [] };
  const walk = (nodes: readonly DefaultTreeAdapterTypes.ChildNode[], depth: number): void => {
    for (const node of nodes) {
      if (node.nodeName === "#text") continue;
      assert.ok("tagName" in node, `only elements and text, found ${node.nodeName} in ${html}`);
      const attributes = new Map(node.attrs.map((attribute) => [attribute.name, attribute.value]));
      parsed.elements.push({ name: node.tagName, attributes, depth });
      if (node.tagName === "a") parsed.links.push({ href: attributes.get("href"), rel: attributes.get("rel"), text: textOf(node) });
      walk(node.childNodes, depth + 1);
    }
  };
  const fragment = parseFragment(html);
  walk(fragment.childNodes, 0);
  parsed.text = textOf(fragment);
  return parsed;
}

/** The safety property itself: allowed elements and attributes only; every link an allowed scheme with the rel. */
function assertSafe(html: string, source: string): Parsed {
  const parsed = parse(html);
  const where = `notes ${JSON.stringify(source.slice(0, 200))} gave ${html.slice(0, 400)}`;
  for (const element of parsed.elements) {
    const allowed = ALLOWED[element.name];
    assert.ok(allowed !== undefined, `element <${element.name}> is not allowed: ${where}`);
    for (const [name, value] of element.attributes) {
      const fallback = element.name === "p" && name === "class" && value === "notes-plain";
      assert.ok(allowed.includes(name) || fallback, `attribute ${name} on <${element.name}> is not allowed: ${where}`);
    }
  }
  for (const link of parsed.links) {
    assert.equal(link.rel, NOTES_LINK_REL, `a link without rel="${NOTES_LINK_REL}": ${where}`);
    if (link.href === undefined) continue;
    assert.ok(/^(?:https?|mailto):/i.test(link.href), `href ${link.href} is not http, https or mailto: ${where}`);
    const url = URL.parse(link.href, "https://nasty.example/b/1");
    assert.ok(url === null || LINK_PROTOCOLS.has(url.protocol), `href ${link.href} resolves to ${url?.protocol}: ${where}`);
  }
  return parsed;
}

function rendered(notes: string): Parsed {
  return assertSafe(renderNotes(notes), notes);
}

test("no notes render nothing; Markdown renders as HTML: emphasis, lists, code, quotes, tables, demoted headings", () => {
  assert.equal(renderNotes(""), "");
  assert.equal(renderNotes(" \n\t\r\n "), "");
  const parsed = rendered("# Title\n\n## Sub\n\nSome *soft* and **strong** and ~~gone~~ `code`.\n\n- one\n- two\n\n3. three\n4. four\n\n> quoted\n\n```\nlet x = 1;\n```\n\n| a | b |\n|--:|---|\n| 1 | 2 |\n\n---\nline one\nline two");
  const names = parsed.elements.map((element) => element.name);
  for (const name of ["h4", "h5", "em", "strong", "s", "code", "ul", "li", "ol", "blockquote", "pre", "table", "th", "td", "hr", "br"]) assert.ok(names.includes(name), `<${name}> missing from ${names.join(",")}`);
  assert.ok(!names.includes("h1") && !names.includes("h2"), "headings are demoted below the card's h3");
  assert.equal(parsed.elements.find((element) => element.name === "ol")?.attributes.get("start"), "3");
  assert.match(parsed.text, /Title[\s\S]*soft[\s\S]*let x = 1;[\s\S]*line one\nline two/);
  assert.equal(parsed.links.length, 0);
});

test("raw HTML is never markup: script, event handlers, style, iframes and svg come out as the text they were", () => {
  const hostile = [
    "<script>window.pwned = 1</script>",
    "<img src=x onerror=\"window.pwned = 1\">",
    "inline <b onmouseover=\"window.pwned=1\" style=\"position:fixed\">bold</b> tag",
    "<div style=\"background:url(javascript:alert(1))\">x</div>",
    "<iframe src=\"/evil\"></iframe>",
    "<svg onload=alert(1)><circle/></svg>",
    "<a href=\"javascript:alert(1)\">click</a>",
    "<!-- comment --><style>body{display:none}</style>",
    "<details open ontoggle=alert(1)>",
    "<p>\n\n<script>\nalert(1)\n</script>\n\n</p>",
  ];
  for (const notes of hostile) {
    const parsed = rendered(notes);
    assert.deepEqual(parsed.links, [], notes);
    assert.ok(parsed.elements.every((element) => element.name === "p" || element.name === "br"), `${notes}: ${parsed.elements.map((element) => element.name)}`);
    assert.equal(parsed.text.replace(/\s+/g, ""), notes.replace(/\s+/g, ""), `the raw HTML is shown as text: ${notes}`);
  }
  const linked = rendered("<iframe src=\"https://evil.example/\"></iframe>");
  assert.deepEqual(linked.links, [{ href: "https://evil.example/", rel: NOTES_LINK_REL, text: "https://evil.example/" }], "a URL inside raw HTML is linked as text, no more");
});

test("only http, https and mailto links survive; every other scheme, however spelled, stays text", () => {
  const refused = [
    "[x](javascript:alert(1))", "[x](JaVaScRiPt:alert(1))", "[x](  javascript:alert(1))", "[x](<javascript:alert(1)>)",
    "[x](jav&#x09;ascript:alert(1))", "[x](&#106;avascript:alert(1))", "[x](&#x6A;&#x61;vascript:alert(1))", "[x](java\\script:alert(1))",
    "[x](%6A%61vascript:alert(1))", "[x](javascript&colon;alert(1))", "[x](\u0000javascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)", "[x](DATA:image/png;base64,iVBORw0KGgo=)",
    "[x](vbscript:msgbox(1))", "[x](file:///etc/passwd)", "[x](ftp://example.com/)", "[x](//evil.example/)", "[x](/b/1)", "[x](#top)", "[x](relative/path)",
    "[x][r]\n\n[r]: javascript:alert(1)", "[x]\n\n[x]: data:text/html,hi",
    "<javascript:alert(1)>", "<JAVASCRIPT:alert(1)>", "<data:text/html,hi>", "<vbscript:msgbox>",
    "javascript:alert(1)", "see javascript://%0aalert(1)",
  ];
  for (const notes of refused) {
    const parsed = rendered(notes);
    assert.deepEqual(parsed.links, [], `no link from ${notes}`);
    assert.ok(parsed.text.length > 0, `${notes} is still shown`);
  }
  const accepted: [string, string][] = [
    ["[x](https://example.com/a?b=c#d)", "https://example.com/a?b=c#d"],
    ["[x](HTTP://EXAMPLE.COM/)", "HTTP://EXAMPLE.COM/"],
    ["[x]( https://example.com/ )", "https://example.com/"],
    ["[x](mailto:someone@example.com)", "mailto:someone@example.com"],
    ["<https://example.com/auto>", "https://example.com/auto"],
    ["plain https://example.com/bare text", "https://example.com/bare"],
    ["write to someone@example.com", "mailto:someone@example.com"],
    ["[x][r]\n\n[r]: https://example.com/ref", "https://example.com/ref"],
    ["[x](https://example.com/\"onmouseover=\"alert(1))", "https://example.com/%22onmouseover=%22alert(1)"],
  ];
  for (const [notes, href] of accepted) {
    const parsed = rendered(notes);
    assert.equal(parsed.links.length, 1, `one link from ${notes}`);
    assert.equal(parsed.links[0]!.href, href, notes);
  }
});

test("images are not fetched by viewers: ![alt](src) becomes a link to the image, or its alt text inside a link", () => {
  const image = rendered("![a tracking pixel](https://tracker.example/p.gif)");
  assert.deepEqual(image.links, [{ href: "https://tracker.example/p.gif", rel: NOTES_LINK_REL, text: "a tracking pixel" }]);
  assert.deepEqual(rendered("![](https://tracker.example/p.gif)").links.map((link) => link.text), ["image"]);
  const inLink = rendered("[![badge *alt*](https://img.example/b.svg)](https://example.com/)");
  assert.deepEqual(inLink.links, [{ href: "https://example.com/", rel: NOTES_LINK_REL, text: "badge alt" }]);
  for (const notes of ["![x](javascript:alert(1))", "![x](data:image/png;base64,iVBORw0KGgo=)", "![x\"onerror=alert(1)](https://a.example/i.png)"]) {
    const parsed = rendered(notes);
    assert.ok(parsed.elements.every((element) => element.name !== "img"), notes);
    assert.ok(parsed.links.every((link) => link.href?.startsWith("https://a.example/")), notes);
  }
  assert.doesNotMatch(renderNotes("![x](https://a.example/i.png)"), /<img/i);
});

test("entities decode to text, never to markup; link titles are dropped", () => {
  const parsed = rendered("&lt;script&gt;alert(1)&lt;/script&gt; &#60;img src=x onerror=alert(1)&#62; &amp;lt;b&amp;gt; &#0; &#xD800; &#99999999; &rarr;");
  assert.deepEqual(parsed.elements.map((element) => element.name), ["p"]);
  assert.match(parsed.text, /^<script>alert\(1\)<\/script> <img src=x onerror=alert\(1\)> &lt;b&gt; \uFFFD \uFFFD &#99999999; →$/);
  const titled = rendered("[x](https://example.com/ \"a\\\" onclick=\\\"alert(1)\")");
  assert.deepEqual(titled.links, [{ href: "https://example.com/", rel: NOTES_LINK_REL, text: "x" }]);
  assert.deepEqual([...titled.elements[1]!.attributes.keys()], ["href", "rel"]);
});

test("every link carries rel=\"nofollow noopener ugc\" and nothing else decides where it opens", () => {
  const parsed = rendered("[a](https://a.example/) <https://b.example/> https://c.example/ d@e.example ![f](https://f.example/f.png)");
  assert.equal(parsed.links.length, 5);
  for (const element of parsed.elements.filter((element) => element.name === "a")) {
    assert.equal(element.attributes.get("rel"), NOTES_LINK_REL);
    assert.equal(element.attributes.has("target"), false);
  }
});

test("pathological nesting and long input render bounded and never throw", () => {
  const size = NOTES_RENDERED_CHARS_MAX;
  const bombs: Record<string, string> = {
    quotes: ">".repeat(size), brackets: "[".repeat(size), closers: "[".repeat(size / 2) + "]".repeat(size / 2), images: "![".repeat(size / 2),
    stars: "*".repeat(size), emphasis: "*a ".repeat(size / 3), strong: "**a".repeat(size / 3), mixed: "*_".repeat(size / 2), links: "[a](".repeat(size / 4),
    lists: "- ".repeat(size / 2), indented: Array.from({ length: 1000 }, (_, index) => `${" ".repeat(index % 60)}- x`).join("\n"), quotedLists: "> - 1. ".repeat(size / 7),
    backticks: "`".repeat(size), spans: "`a".repeat(size / 2), lessThans: "<".repeat(size), autolinks: "<http://".repeat(size / 8), tables: "|a".repeat(size / 4) + "\n" + "|-".repeat(size / 4),
    line: "a".repeat(size), backslashes: "\\".repeat(size), entities: "&#x6A;".repeat(size / 6), references: "[a]: https://x.example/\n".repeat(size / 24) + "[a]".repeat(100),
  };
  for (const [name, notes] of Object.entries(bombs)) {
    const html = renderNotes(notes);
    assert.equal(typeof html, "string", name);
    assert.ok(html.length > 0, `${name} renders something`);
    const parsed = assertSafe(html, notes);
    const deepest = Math.max(0, ...parsed.elements.map((element) => element.depth));
    assert.ok(deepest <= 45, `${name}: elements nest ${deepest} deep`);
  }
  const long = rendered("b".repeat(size * 3));
  assert.equal(long.text, "b".repeat(size), "rendering looks at the first NOTES_RENDERED_CHARS_MAX characters");
  assert.equal(rendered("a".repeat(size - 1) + "😀😀").text, "a".repeat(size - 1) + "😀", "the cut counts characters (code points, as the limit does) and never splits a surrogate pair");
  assert.equal(rendered("😀".repeat(size + 1)).text, "😀".repeat(size), "notes of 10,000 emoji render whole");
});

test("text no page can carry comes out as U+FFFD, not as a broken document", () => {
  const parsed = rendered("a\u0000b\ud800c\uffff\u001bd");
  assert.equal(parsed.text, "a\uFFFDb\uFFFDc\uFFFD\uFFFDd");
});

test("a library failing falls back to the notes as escaped plain text", () => {
  const html = renderedOrPlain("<script>window.pwned = 1</script>\n*x*", () => {
    throw new RangeError("Maximum call stack size exceeded");
  });
  assert.equal(html, `<p class="notes-plain">&lt;script&gt;window.pwned = 1&lt;/script&gt;\n*x*</p>`);
  const parsed = assertSafe(html, "fallback");
  assert.equal(parsed.text, "<script>window.pwned = 1</script>\n*x*");
  assert.equal(renderedOrPlain("  ", () => "never called"), "");
});

const PIECES = [
  "<", ">", "[", "]", "(", ")", "!", "*", "_", "`", "~", "#", "-", "|", "\\", "&", ";", ":", "\"", "'", " ", "\n", "\t", "=",
  "javascript:", "JaVaScRiPt:", "data:", "vbscript:", "http://", "https://x.example/", "mailto:", "//", "&#x09;", "&#106;", "&colon;", "%0a", "\u0000", "\ud800",
  "<script>", "</script>", "<img src=x onerror=alert(1)>", "onerror=", "style=", "<a href=", "<svg", "<!--", "-->", "<![CDATA[", "a@b.example", "www.x.example",
  "](", "![", "[x]: ", "> ", "- ", "1. ", "```", "    ", "***", "~~", "|-|",
];

test("seeded random hostile notes always render safe (seed printed on failure)", () => {
  const seeds = process.env.MARKDOWN_SEED ? [Number(process.env.MARKDOWN_SEED)] : [1, 2, Date.now() % 100_000];
  for (const seed of seeds) {
    const random = mulberry32(seed);
    try {
      for (let round = 0; round < 300; round += 1) {
        const count = 1 + below(random, 60);
        const notes = Array.from({ length: count }, () => pick(random, PIECES)).join("");
        rendered(notes);
      }
    } catch (error) {
      console.error(`markdown test failed with seed ${seed} (rerun with MARKDOWN_SEED=${seed})`);
      throw error;
    }
  }
});

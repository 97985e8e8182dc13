/**
 * A reader of the YAML that hand-written configuration files use (ops/prometheus/alerts.yml):
 * block mappings and sequences by indentation, `- key: value` items, plain and quoted scalars,
 * folded (`>`, `>-`) and literal (`|`, `|-`) block scalars, and # comments. Anything else (flow
 * collections, anchors, tabs, multi-document files) is refused with the line number, so a file the
 * tests accept is one Prometheus reads the same way.
 */
export type YamlValue = string | YamlValue[] | { [key: string]: YamlValue };

type Line = { indent: number; text: string; no: number };

export class YamlSubsetError extends Error {
  constructor(no: number, what: string) {
    super(`line ${no}: ${what}`);
  }
}

export function parseYamlSubset(source: string): YamlValue {
  const raw = source.split("\n");
  const lines: Line[] = [];
  raw.forEach((l, i) => {
    if (/^\s*(#.*)?$/.test(l)) return;
    if (/^\t| \t/.test(l)) throw new YamlSubsetError(i + 1, "tab in indentation");
    const indent = l.length - l.trimStart().length;
    lines.push({ indent, text: l.trim(), no: i + 1 });
  });
  let pos = 0;

  /** The block scalar after `key: |` or `key: >`: the raw lines indented deeper than `parent`. */
  const blockScalar = (style: string, parent: number, startNo: number): string => {
    const body: string[] = [];
    let i = startNo; // raw index of the line after the indicator
    let indent = -1;
    while (i < raw.length) {
      const l = raw[i] as string;
      if (l.trim() !== "") {
        const ind = l.length - l.trimStart().length;
        if (ind <= parent) break;
        if (indent < 0) indent = ind;
        body.push(l.slice(indent));
      } else body.push("");
      i++;
    }
    while (body.length && body.at(-1) === "") body.pop();
    // Skip the parsed lines that belong to the scalar.
    while (pos < lines.length && (lines[pos] as Line).no <= i) pos++;
    const text = style.startsWith(">") ? body.join(" ").replace(/\s+/g, " ").trim() : body.join("\n");
    return style.endsWith("-") ? text : `${text}\n`;
  };

  const scalar = (text: string, no: number): string => {
    if (/^[[{&*!|>]/.test(text) && !/^[|>]-?$/.test(text))
      throw new YamlSubsetError(no, `unsupported value ${text}`);
    const quoted = /^"((?:[^"\\]|\\.)*)"$/.exec(text) ?? /^'((?:[^']|'')*)'$/.exec(text);
    if (quoted)
      return text.startsWith('"') ? (JSON.parse(text) as string) : (quoted[1] as string).replace(/''/g, "'");
    if (/^["']/.test(text)) throw new YamlSubsetError(no, "unterminated quote");
    return text.replace(/\s+#.*$/, "");
  };

  const block = (indent: number): YamlValue => {
    const first = lines[pos];
    if (!first || first.indent < indent) throw new YamlSubsetError(first?.no ?? raw.length, "empty block");
    if (first.text.startsWith("- ") || first.text === "-") return sequence(first.indent);
    return mapping(first.indent);
  };

  /** `key: value` pairs at exactly `indent`; `inline` is the first pair's text after a `- `. */
  const mapping = (indent: number, inline?: Line): { [key: string]: YamlValue } => {
    const out: { [key: string]: YamlValue } = {};
    let line = inline ?? lines[pos];
    while (line && line.indent === indent) {
      if (!inline) pos++;
      inline = undefined;
      const m = /^([A-Za-z_][\w.-]*|"[^"]+"):(?:\s+(.*))?$/.exec(line.text);
      if (!m) throw new YamlSubsetError(line.no, `expected "key: value", got ${line.text}`);
      const key = (m[1] as string).replace(/^"|"$/g, "");
      if (key in out) throw new YamlSubsetError(line.no, `duplicate key ${key}`);
      const rest = m[2]?.replace(/^#.*$/, "").trim() ?? "";
      if (/^[|>]-?$/.test(rest)) out[key] = blockScalar(rest, indent, line.no);
      else if (rest !== "") out[key] = scalar(rest, line.no);
      else out[key] = block(indent + 1);
      line = lines[pos];
    }
    if (line && line.indent > indent) throw new YamlSubsetError(line.no, "unexpected indentation");
    return out;
  };

  const sequence = (indent: number): YamlValue[] => {
    const out: YamlValue[] = [];
    let line = lines[pos];
    while (line && line.indent === indent && (line.text.startsWith("- ") || line.text === "-")) {
      pos++;
      const item = line.text.slice(1).trimStart();
      const itemIndent = indent + (line.text.length - item.length);
      if (item === "") out.push(block(indent + 1));
      else if (/^([A-Za-z_][\w.-]*|"[^"]+"):(\s|$)/.test(item))
        out.push(mapping(itemIndent, { indent: itemIndent, text: item, no: line.no }));
      else out.push(scalar(item, line.no));
      line = lines[pos];
    }
    return out;
  };

  if (lines.some((l) => l.text === "---" || l.text === "..."))
    throw new YamlSubsetError(0, "one document only");
  const doc = block(0);
  if (pos < lines.length) throw new YamlSubsetError((lines[pos] as Line).no, "unexpected content");
  return doc;
}

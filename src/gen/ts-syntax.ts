/**
 * The pieces of TypeScript generated code is made of, as documents laid out the way Biome lays
 * them out (two-space indentation, trailing commas where a list breaks, double quotes), and the
 * rules for the names it declares.
 */
import { type Doc, group, hardline, ifBreak, indent, indentIfBreak, join, line, softline } from "./doc.js";

/** The line width generated code is laid out for (the project's Biome setting). */
export const LINE_WIDTH = 110;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * Words that cannot name a declared type or constant: JavaScript's reserved words, TypeScript's
 * predefined type names, and the globals generated code refers to.
 */
const RESERVED: ReadonlySet<string> = new Set(
  (
    "break case catch class const continue debugger default delete do else enum export extends " +
    "false finally for function if import in instanceof new null return super switch this throw " +
    "true try typeof var void while with implements interface let package private protected public " +
    "static yield await arguments eval any unknown never number bigint boolean string symbol object " +
    "undefined type keyof readonly infer is asserts as satisfies declare namespace module global " +
    "Uint8Array Readonly Record URL Symbol Promise Object Array"
  ).split(" "),
);

/** Whether `name` is a plain identifier (no escape needed as a property key). */
export function isIdentifier(name: string): boolean {
  return IDENTIFIER.test(name);
}

/** Whether `name` can be declared as a type or constant of a module. */
export function isDeclarableName(name: string): boolean {
  return isIdentifier(name) && !RESERVED.has(name);
}

/** A property key: the name itself, or quoted when it is not an identifier. */
export function propertyKey(name: string): string {
  return isIdentifier(name) ? name : JSON.stringify(name);
}

/** A string literal, double-quoted. */
export function stringLiteral(text: string): string {
  return JSON.stringify(text);
}

/**
 * Hands out the names a module declares, each once: a wanted name that is taken or cannot be
 * declared gets `_2`, `_3`... Deterministic for the same sequence of requests.
 */
export class NameAllocator {
  readonly #taken = new Set<string>();

  /** Reserves names the module declares or imports itself. */
  reserve(...names: string[]): void {
    for (const n of names) this.#taken.add(n);
  }

  /** Whether `name` is taken. */
  has(name: string): boolean {
    return this.#taken.has(name);
  }

  /** A free name close to `wanted`. */
  allocate(wanted: string): string {
    let base = wanted.replace(/[^A-Za-z0-9_$]/g, "_");
    if (base === "" || /^[0-9]/.test(base)) base = `_${base}`;
    let name = base;
    for (let n = 2; this.#taken.has(name) || !isDeclarableName(name); n++) name = `${base}_${n}`;
    this.#taken.add(name);
    return name;
  }
}

/** `{ a, b }` flat when it fits, one entry a line (with a trailing comma) when not. */
export function objectGroup(entries: readonly Doc[]): Doc {
  if (entries.length === 0) return "{}";
  return group(["{", indent([line, join([",", line], entries)]), ifBreak(","), line, "}"]);
}

/** `{` one entry a line `}`, always broken (Biome keeps an object broken once it is). */
export function objectExpanded(entries: readonly Doc[]): Doc {
  if (entries.length === 0) return "{}";
  return ["{", indent([hardline, join([",", hardline], entries)]), ",", hardline, "}"];
}

/** `[a, b]` flat when it fits, one element a line when not. */
export function arrayGroup(elements: readonly Doc[]): Doc {
  if (elements.length === 0) return "[]";
  return group(["[", indent([softline, join([",", line], elements)]), ifBreak(","), softline, "]"]);
}

/** `key: value` in an object literal (`["__proto__"]: value`, which would set the prototype otherwise). */
export function objectEntry(key: string, value: Doc): Doc {
  return [key === "__proto__" ? '["__proto__"]' : propertyKey(key), ": ", value];
}

/**
 * `Name<A, B>`, the arguments one a line when they do not fit; a lone argument that is a plain
 * name or string literal never breaks away (`Readonly<X>`), as Biome has it.
 */
export function typeReference(name: string, args: readonly Doc[] = []): Doc {
  if (args.length === 0) return name;
  const [only] = args;
  if (args.length === 1 && typeof only === "string" && /^([\w$]+|"[^"]*")$/.test(only)) {
    return `${name}<${only}>`;
  }
  return group([name, "<", indent([softline, join([",", line], args)]), softline, ">"]);
}

/**
 * `export type Name = Type;`: the type moves to the next line, indented, when the line up to the
 * type's first place to break does not fit (Biome's "fluid" layout of assignments).
 */
export function typeAlias(head: Doc, type: Doc): Doc {
  const id = Symbol("type-alias");
  return [head, " =", group(indent(line), id), indentIfBreak(id, type), ";"];
}

/** The members of an interface or object type, one a line: `{`, members, `}`. */
export function typeBody(members: readonly Doc[]): Doc {
  if (members.length === 0) return "{}";
  return ["{", indent([hardline, join(hardline, members)]), hardline, "}"];
}

/** `key: type;` (or `readonly key?: type;`) in an interface or object type. */
export function propertySignature(
  key: string,
  type: Doc,
  opts: { optional?: boolean; readonly?: boolean } = {},
): Doc {
  return [opts.readonly ? "readonly " : "", propertyKey(key), opts.optional ? "?: " : ": ", type, ";"];
}

/** `get key(): type;` and `set key(value: input);` where reading and writing differ. */
export function accessorPair(key: string, type: Doc, input: Doc): Doc {
  const k = propertyKey(key);
  return [`get ${k}(): `, type, ";", hardline, `set ${k}(value: `, input, ");"];
}

/** `export type Name = A | B;`, the members one a line (each after `|`) when they do not fit. */
export function unionAlias(name: string, members: readonly Doc[]): Doc {
  return [`export type ${name} =`, group(indent([line, ifBreak("| "), join([line, "| "], members)])), ";"];
}

/** `import { a, type B } from "module";` */
export function namedImport(specifiers: readonly string[], module: string): Doc {
  return group([
    "import {",
    indent([line, join([",", line], specifiers)]),
    ifBreak(","),
    line,
    `} from ${stringLiteral(module)};`,
  ]);
}

/** A `/** ... *\/` comment over a declaration; `text` is one paragraph, wrapped to the line width. */
export function docComment(text: string, indentWidth = 0): Doc {
  const width = LINE_WIDTH - indentWidth - 3;
  const words = text.split(/\s+/).filter((w) => w !== "");
  const lines: string[] = [];
  let current = "";
  for (const w of words) {
    if (current !== "" && current.length + 1 + w.length > width) {
      lines.push(current);
      current = w;
    } else {
      current = current === "" ? w : `${current} ${w}`;
    }
  }
  if (current !== "") lines.push(current);
  if (lines.length === 1 && (lines[0] as string).length + 7 <= LINE_WIDTH - indentWidth) {
    return `/** ${lines[0]} */`;
  }
  return ["/**", ...lines.map((l) => [hardline, ` * ${l}`]), hardline, " */"];
}

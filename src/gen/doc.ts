/**
 * A small document printer in the style of Wadler's "prettier printer", as Prettier and Biome lay
 * out code: text, line breaks that a group either keeps flat (a space, or nothing) or breaks
 * (a newline at the current indentation), indentation and groups. A group is printed flat when
 * it fits in what is left of the line up to the next place the enclosing layout may break;
 * otherwise its lines break. Generated code built from these documents comes out as the
 * project's formatter would print it, so no formatter runs at generation time.
 */

/** A line break: `" "` when flat (`""` for a soft one); a hard one always breaks. */
export interface DocLine {
  readonly kind: "line";
  readonly soft: boolean;
  readonly hard: boolean;
}

/** Contents printed flat when they fit, broken otherwise. */
export interface DocGroup {
  readonly kind: "group";
  readonly contents: Doc;
  /** Set when the contents hold a hard line: such a group can never be flat. */
  broken: boolean;
  /** Names the group for {@link DocIndentIfBreak}. */
  readonly id: symbol | undefined;
}

/** Contents indented by one level when the group `groupId` broke (printed before them). */
export interface DocIndentIfBreak {
  readonly kind: "indent-if-break";
  readonly groupId: symbol;
  readonly contents: Doc;
}

/** Contents indented by one level where their lines break. */
export interface DocIndent {
  readonly kind: "indent";
  readonly contents: Doc;
}

/** One thing when the enclosing group breaks, another when it is flat. */
export interface DocIfBreak {
  readonly kind: "if-break";
  readonly broken: Doc;
  readonly flat: Doc;
}

/** A document: text, a list printed in order, or one of the layout nodes. */
export type Doc = string | readonly Doc[] | DocLine | DocGroup | DocIndent | DocIfBreak | DocIndentIfBreak;

type DocNode = DocLine | DocGroup | DocIndent | DocIfBreak | DocIndentIfBreak;

/** A space when flat, a newline when broken. */
export const line: DocLine = { kind: "line", soft: false, hard: false };
/** Nothing when flat, a newline when broken. */
export const softline: DocLine = { kind: "line", soft: true, hard: false };
/** Always a newline. */
export const hardline: DocLine = { kind: "line", soft: false, hard: true };

/** A group: flat when it fits; `id` names it for {@link indentIfBreak}. */
export function group(contents: Doc, id?: symbol): DocGroup {
  return { kind: "group", contents, broken: false, id };
}

/** `contents`, indented one level when group `groupId` (printed before it) broke. */
export function indentIfBreak(groupId: symbol, contents: Doc): DocIndentIfBreak {
  return { kind: "indent-if-break", groupId, contents };
}

/** Indents the lines of `contents` that break. */
export function indent(contents: Doc): DocIndent {
  return { kind: "indent", contents };
}

/** `broken` when the enclosing group breaks, `flat` otherwise. */
export function ifBreak(broken: Doc, flat: Doc = ""): DocIfBreak {
  return { kind: "if-break", broken, flat };
}

/** `docs` with `separator` between each two. */
export function join(separator: Doc, docs: readonly Doc[]): Doc[] {
  const out: Doc[] = [];
  docs.forEach((d, i) => {
    if (i > 0) out.push(separator);
    out.push(d);
  });
  return out;
}

type Mode = "flat" | "break";
interface Command {
  indent: number;
  mode: Mode;
  doc: Doc;
}

const INDENT = 2;

/** Marks every group that holds a hard line as broken; returns whether `doc` holds one. */
function propagateBreaks(doc: Doc): boolean {
  if (typeof doc === "string") return false;
  if (Array.isArray(doc)) {
    let hard = false;
    for (const d of doc as readonly Doc[]) hard = propagateBreaks(d) || hard;
    return hard;
  }
  const node = doc as DocNode;
  switch (node.kind) {
    case "line":
      return node.hard;
    case "indent-if-break":
      return propagateBreaks(node.contents);
    case "group": {
      const hard = propagateBreaks(node.contents);
      if (hard) node.broken = true;
      return hard;
    }
    case "indent":
      return propagateBreaks(node.contents);
    case "if-break":
      return propagateBreaks(node.broken) || propagateBreaks(node.flat);
  }
}

/**
 * Whether `next` printed flat fits in `width` columns, counting what follows it (`rest`, in its
 * own mode) up to the first line that breaks there.
 */
function fits(next: Command, rest: readonly Command[], width: number): boolean {
  let restIndex = rest.length;
  const stack: { mode: Mode; doc: Doc }[] = [{ mode: next.mode, doc: next.doc }];
  let left = width;
  while (left >= 0) {
    const top = stack.pop();
    if (top === undefined) {
      if (restIndex === 0) return true;
      const r = rest[--restIndex] as Command;
      stack.push({ mode: r.mode, doc: r.doc });
      continue;
    }
    const { mode, doc } = top;
    if (typeof doc === "string") {
      left -= doc.length;
      continue;
    }
    if (Array.isArray(doc)) {
      const list = doc as readonly Doc[];
      for (let i = list.length - 1; i >= 0; i--) stack.push({ mode, doc: list[i] as Doc });
      continue;
    }
    const node = doc as DocNode;
    switch (node.kind) {
      case "line":
        if (mode === "break" || node.hard) return true;
        if (!node.soft) left -= 1;
        break;
      case "group":
        stack.push({ mode: node.broken ? "break" : mode, doc: node.contents });
        break;
      case "indent":
      case "indent-if-break":
        stack.push({ mode, doc: node.contents });
        break;
      case "if-break":
        stack.push({ mode, doc: mode === "break" ? node.broken : node.flat });
        break;
    }
  }
  return false;
}

/** Prints `doc` in lines of at most `width` columns where the layout allows. */
export function printDoc(doc: Doc, width: number): string {
  propagateBreaks(doc);
  const out: string[] = [];
  let column = 0;
  const commands: Command[] = [{ indent: 0, mode: "break", doc }];
  const groupModes = new Map<symbol, Mode>();
  while (commands.length > 0) {
    const { indent: ind, mode, doc: d } = commands.pop() as Command;
    if (typeof d === "string") {
      out.push(d);
      column += d.length;
      continue;
    }
    if (Array.isArray(d)) {
      const list = d as readonly Doc[];
      for (let i = list.length - 1; i >= 0; i--) commands.push({ indent: ind, mode, doc: list[i] as Doc });
      continue;
    }
    const node = d as DocNode;
    switch (node.kind) {
      case "group": {
        const flat: Command = { indent: ind, mode: "flat", doc: node.contents };
        const fitsFlat = !node.broken && (mode === "flat" || fits(flat, commands, width - column));
        const chosen = fitsFlat ? flat : { indent: ind, mode: "break" as const, doc: node.contents };
        if (node.id !== undefined) groupModes.set(node.id, chosen.mode);
        commands.push(chosen);
        break;
      }
      case "indent-if-break":
        commands.push({
          indent: groupModes.get(node.groupId) === "break" ? ind + INDENT : ind,
          mode,
          doc: node.contents,
        });
        break;
      case "indent":
        commands.push({ indent: ind + INDENT, mode, doc: node.contents });
        break;
      case "if-break":
        commands.push({ indent: ind, mode, doc: mode === "break" ? node.broken : node.flat });
        break;
      case "line":
        if (mode === "flat" && !node.hard) {
          if (!node.soft) {
            out.push(" ");
            column += 1;
          }
          break;
        }
        trimTrailingSpaces(out);
        out.push(`\n${" ".repeat(ind)}`);
        column = ind;
        break;
    }
  }
  trimTrailingSpaces(out);
  return out.join("");
}

/** Drops spaces at the end of what was printed so far (a line never ends in spaces). */
function trimTrailingSpaces(out: string[]): void {
  while (out.length > 0) {
    const trimmed = (out[out.length - 1] as string).replace(/[ \t]+$/, "");
    if (trimmed.length > 0) {
      out[out.length - 1] = trimmed;
      return;
    }
    out.pop();
  }
}

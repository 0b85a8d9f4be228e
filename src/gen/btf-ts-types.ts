/**
 * TypeScript types for BTF types, matching what the BTF codec (`btf/codec.ts`) reads and writes:
 * integers up to 32 bits are `number` and wider ones `bigint`, `_Bool` is `boolean`, `char[N]` a
 * `string`, pointers `bigint`, other arrays JS arrays, structs and unions objects (anonymous
 * members flattened into their parent), enums their value. Named structs, unions and enums
 * become declarations named as in C; each has a read type (`flow_key`) and an input type
 * (`flow_key_input`: members optional, since members left out are written as zero; enum names
 * accepted). Anonymous ones are written inline, and an anonymous enum is a plain number.
 */
import { isBtfCharArray } from "../btf/codec.js";
import { btfSizeof, btfTypeById } from "../btf/type-helpers.js";
import type { Btf, BtfComposite, BtfEnum, BtfEnum64, BtfType } from "../btf/types.js";
import { ParseError } from "../errors.js";
import type { Doc } from "./doc.js";
import { hardline } from "./doc.js";
import {
  docComment,
  type NameAllocator,
  objectEntry,
  objectExpanded,
  propertySignature,
  typeAlias,
  typeBody,
  unionAlias,
} from "./ts-syntax.js";

/** Deepest nesting of types followed before the BTF is called cyclic. */
const MAX_DEPTH = 32;

/** A struct, union or enum that gets a declaration of its own. */
interface NamedType {
  id: number;
  /** The name in C: the tag, or the typedef's name for an anonymous one. */
  cName: string;
  /** How C spells it, for comments (`struct flow_key`). */
  cSpelling: string;
  /** Declared names, once allocated. */
  name: string;
  inputName: string;
}

/** A type with the modifiers (typedefs, const, volatile...) before it looked through. */
interface Resolved {
  id: number;
  t: BtfType;
  /** The typedef nearest the type, which names an anonymous struct, union or enum. */
  typedef: string | undefined;
}

/** A member as the codec sees it: anonymous struct and union members flattened. */
interface Member {
  name: string;
  type: number;
}

/**
 * The TypeScript types of one object's BTF. First {@link use} every type the module will mention,
 * then {@link allocateNames}, then ask for {@link read}/{@link input} types and the
 * {@link declarations}.
 */
export class BtfTsTypes {
  readonly #btf: Btf | undefined;
  readonly #named = new Map<number, NamedType>();
  #allocated = false;

  constructor(btf: Btf | undefined) {
    this.#btf = btf;
  }

  /** Whether there is BTF to type anything with. */
  get hasBtf(): boolean {
    return this.#btf !== undefined;
  }

  /** Records the named types that type `id` uses, at any depth. */
  use(id: number): void {
    this.#use(id, 0);
  }

  /** Gives every named type used its declared names, in BTF order, after `names` reserved its own. */
  allocateNames(names: NameAllocator): void {
    const list = [...this.#named.values()].sort((a, b) => a.id - b.id);
    for (const n of list) n.name = names.allocate(n.cName);
    for (const n of list) n.inputName = names.allocate(`${n.name}_input`);
    this.#allocated = true;
  }

  /** The type a value of BTF type `id` reads as. */
  read(id: number): Doc {
    return this.#type(id, "read", 0);
  }

  /** The type a value of BTF type `id` is written as. */
  input(id: number): Doc {
    return this.#type(id, "input", 0);
  }

  /** Size in bytes of type `id`. */
  sizeOf(id: number): number {
    return btfSizeof(this.#need(), id);
  }

  /** A C-like name for comments (`struct flow_key`, `__u32`). */
  spelling(id: number): string {
    const r = this.#resolve(id);
    const n = this.#named.get(r.id);
    if (n !== undefined) return n.cSpelling;
    const t = btfTypeById(this.#need(), id);
    return t.name !== "" ? t.name : r.t.kind.toLowerCase();
  }

  /** The declarations of every named type used: enums (values, read and input types) and composites. */
  declarations(): Doc[] {
    if (!this.#allocated) throw new Error("BtfTsTypes: names are not allocated");
    const out: Doc[] = [];
    for (const n of [...this.#named.values()].sort((a, b) => a.id - b.id)) {
      const t = btfTypeById(this.#need(), n.id);
      if (t.kind === "ENUM" || t.kind === "ENUM64") out.push(...this.#enumDeclarations(n, t));
      else if (t.kind === "STRUCT" || t.kind === "UNION") out.push(...this.#compositeDeclarations(n, t));
    }
    return out;
  }

  #need(): Btf {
    if (this.#btf === undefined) throw new ParseError("the object has no BTF");
    return this.#btf;
  }

  #resolve(id: number): Resolved {
    const btf = this.#need();
    let typedef: string | undefined;
    for (let depth = 0; depth <= MAX_DEPTH; depth++) {
      const t = btfTypeById(btf, id);
      switch (t.kind) {
        case "TYPEDEF":
          typedef = t.name;
          id = t.type;
          break;
        case "CONST":
        case "VOLATILE":
        case "RESTRICT":
        case "TYPE_TAG":
        case "VAR":
          id = t.type;
          break;
        default:
          return { id, t, typedef };
      }
    }
    throw new ParseError(`BTF type ${id}: modifier chain is too long or cyclic`);
  }

  #use(id: number, depth: number): void {
    if (depth > MAX_DEPTH) throw new ParseError(`BTF type ${id}: types nest deeper than ${MAX_DEPTH} levels`);
    const r = this.#resolve(id);
    const { t } = r;
    switch (t.kind) {
      case "ARRAY":
        if (!isBtfCharArray(this.#need(), r.id)) this.#use(t.type, depth + 1);
        return;
      case "ENUM":
      case "ENUM64": {
        const cName = t.name || r.typedef;
        if (cName !== undefined && t.values.length > 0 && !this.#named.has(r.id)) {
          this.#named.set(r.id, named(r.id, cName, t.name ? `enum ${t.name}` : `${cName} (an enum)`));
        }
        return;
      }
      case "STRUCT":
      case "UNION": {
        const cName = t.name || r.typedef;
        if (cName !== undefined) {
          if (this.#named.has(r.id)) return;
          const kind = t.kind.toLowerCase();
          this.#named.set(r.id, named(r.id, cName, t.name ? `${kind} ${t.name}` : `${cName} (a ${kind})`));
        }
        for (const m of this.#members(t, depth)) this.#use(m.type, depth + 1);
        return;
      }
      default:
        return;
    }
  }

  /** Members as the codec reads them: anonymous struct/union members flattened, padding skipped. */
  #members(t: BtfComposite, depth: number, out: Member[] = []): Member[] {
    if (depth > MAX_DEPTH)
      throw new ParseError(`BTF: anonymous members nest deeper than ${MAX_DEPTH} levels`);
    for (const m of t.members) {
      if (m.name !== "") {
        out.push({ name: m.name, type: m.type });
        continue;
      }
      const inner = this.#resolve(m.type).t;
      if (inner.kind === "STRUCT" || inner.kind === "UNION") this.#members(inner, depth + 1, out);
    }
    return out;
  }

  #type(id: number, side: "read" | "input", depth: number): Doc {
    if (depth > MAX_DEPTH) throw new ParseError(`BTF type ${id}: types nest deeper than ${MAX_DEPTH} levels`);
    const r = this.#resolve(id);
    const { t } = r;
    const n = this.#named.get(r.id);
    switch (t.kind) {
      case "INT":
        if ((t.encoding & 4) !== 0) return "boolean";
        return t.size <= 4 ? "number" : "bigint";
      case "ENUM":
      case "ENUM64":
        if (n !== undefined) return side === "read" ? n.name : n.inputName;
        return t.size <= 4 ? "number" : "bigint";
      case "PTR":
        return "bigint";
      case "FLOAT":
        return "number";
      case "ARRAY":
        if (isBtfCharArray(this.#need(), r.id)) return "string";
        return [this.#type(t.type, side, depth + 1), "[]"];
      case "STRUCT":
      case "UNION":
        if (n !== undefined) return side === "read" ? n.name : n.inputName;
        return this.#body(t, side, depth + 1);
      default:
        return "Uint8Array";
    }
  }

  /** The members of a struct or union as an object type. */
  #body(t: BtfComposite, side: "read" | "input", depth: number): Doc {
    const members = this.#members(t, depth);
    if (members.length === 0) return "Record<string, never>";
    return typeBody(
      members.map((m) =>
        propertySignature(m.name, this.#type(m.type, side, depth + 1), { optional: side === "input" }),
      ),
    );
  }

  #enumDeclarations(n: NamedType, t: BtfEnum | BtfEnum64): Doc[] {
    const values: string[] = [];
    const entries: Doc[] = [];
    for (const e of t.values) {
      const v = enumLiteral(t, e.value);
      if (!values.includes(v)) values.push(v);
      entries.push(objectEntry(e.name, v));
    }
    return [
      [
        docComment(`\`${n.cSpelling}\`: the value of each enumerator, by name.`),
        hardline,
        `export const ${n.name} = `,
        objectExpanded(entries),
        " as const;",
      ],
      [
        docComment(
          `\`${n.cSpelling}\` as maps and globals read it: an enumerator's value (a value no enumerator has reads as itself).`,
        ),
        hardline,
        unionAlias(n.name, values),
      ],
      [
        docComment(`\`${n.cSpelling}\` as written: a value, or the name of an enumerator.`),
        hardline,
        unionAlias(n.inputName, [n.name, `keyof typeof ${n.name}`]),
      ],
    ];
  }

  #compositeDeclarations(n: NamedType, t: BtfComposite): Doc[] {
    const decl = (name: string, side: "read" | "input", comment: string): Doc => {
      const body = this.#body(t, side, 0);
      return [
        docComment(comment),
        hardline,
        typeof body === "string"
          ? typeAlias(`export type ${name}`, body)
          : [`export interface ${name} `, body],
      ];
    };
    return [
      decl(n.name, "read", `\`${n.cSpelling}\` (${t.size} bytes) as maps and globals read it.`),
      decl(n.inputName, "input", `\`${n.cSpelling}\` as written: members left out are zero.`),
    ];
  }
}

function named(id: number, cName: string, cSpelling: string): NamedType {
  return { id, cName, cSpelling, name: "", inputName: "" };
}

/** An enumerator's value as the codec reads it: signed when the enum is, at the enum's width. */
function enumLiteral(t: BtfEnum | BtfEnum64, value: number | bigint): string {
  const bits = Math.min(64, Math.max(8, t.size * 8));
  let v = BigInt.asUintN(bits, BigInt(value));
  if (t.kindFlag) v = BigInt.asIntN(bits, v);
  return t.size <= 4 ? String(Number(v)) : `${v}n`;
}

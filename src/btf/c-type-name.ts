import type { Btf } from "./types.js";

/**
 * A C-like spelling of a BTF type (`unsigned int`, `struct foo *`, `const volatile __u16`,
 * `char[4]`) for human-facing output such as `tsbpf inspect`. Depth-limited so a hostile
 * cyclic BTF cannot recurse forever.
 */
export function cTypeName(btf: Btf, id: number, depth = 0): string {
  if (depth > 32) return "…";
  const t = btf.types[id];
  if (t === undefined) return `<bad type ${id}>`;
  switch (t.kind) {
    case "VOID":
      return "void";
    case "INT":
    case "FLOAT":
    case "TYPEDEF":
      return t.name || "(anon)";
    case "STRUCT":
      return `struct ${t.name || "(anon)"}`;
    case "UNION":
      return `union ${t.name || "(anon)"}`;
    case "ENUM":
    case "ENUM64":
      return `enum ${t.name || "(anon)"}`;
    case "FWD":
      return `${t.kindFlag ? "union" : "struct"} ${t.name}`;
    case "PTR":
      return `${cTypeName(btf, t.type, depth + 1)} *`;
    case "CONST":
      return `const ${cTypeName(btf, t.type, depth + 1)}`;
    case "VOLATILE":
      return `volatile ${cTypeName(btf, t.type, depth + 1)}`;
    case "RESTRICT":
      return `${cTypeName(btf, t.type, depth + 1)} restrict`;
    case "TYPE_TAG":
      return `${cTypeName(btf, t.type, depth + 1)} __tag(${t.name})`;
    case "ARRAY":
      return `${cTypeName(btf, t.type, depth + 1)}[${t.nelems}]`;
    case "FUNC":
    case "VAR":
    case "DATASEC":
    case "DECL_TAG":
      return t.name;
    case "FUNC_PROTO":
      return "func";
  }
}

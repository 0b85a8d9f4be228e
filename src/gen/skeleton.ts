/**
 * `tsbpf gen skeleton`: one strict TypeScript module for one BPF object, as `bpftool gen
 * skeleton` writes a C header. It declares the types of the object's maps and globals from BTF
 * (named as in C), its programs with their program types, and a constant that opens and loads
 * the object (embedded, or read from a path) on either engine through `defineSkeleton`. Pure:
 * object model and BTF in, text out; the same object and options give the same bytes.
 */
import { Buffer } from "node:buffer";
import { isTsbpfError, UsageError } from "../errors.js";
import { encodePreparedSpec } from "../object/prepared-spec.js";
import type { CollectionSpec, MapSpec } from "../object/types.js";
import { BtfTsTypes } from "./btf-ts-types.js";
import { type Doc, group, hardline, ifBreak, indent, join, line, printDoc, softline } from "./doc.js";
import {
  defaultSkeletonName,
  findRecordType,
  progArrayProgramType,
  type SkeletonSection,
  skeletonMapKind,
  skeletonMaps,
  skeletonSections,
} from "./skeleton-model.js";
import {
  accessorPair,
  arrayGroup,
  docComment,
  isDeclarableName,
  LINE_WIDTH,
  NameAllocator,
  namedImport,
  objectEntry,
  objectExpanded,
  objectGroup,
  propertySignature,
  stringLiteral,
  typeAlias,
  typeBody,
  typeReference,
} from "./ts-syntax.js";

/** Options of {@link generateSkeleton}. */
export interface GenerateSkeletonOptions {
  /** The object's file name (`tail_call.bpf.o`), for comments and error messages. */
  file: string;
  /** The exported constant and the prefix of the module's types; default from `file` (`TailCall`). */
  name?: string;
  /**
   * Record types of ring buffers and perf event arrays, which BTF cannot give: map name → struct
   * or union (`{ events: "event" }`, `struct event` and typedef names work too).
   */
  recordTypes?: Record<string, string>;
  /**
   * Read the object at `open()` from this path, relative to the skeleton module (a URL relative
   * to its `import.meta.url`), instead of embedding it. Default: embedded.
   */
  objectPath?: string;
}

/** The module the generated code imports its runtime from. */
const PACKAGE = "tsbpf";
/** Names the module imports from the package, in the order it lists them. */
const IMPORTS = [
  "BackendName",
  "defineSkeleton",
  "MapOfMaps",
  "MapScalar",
  "OpenSkeleton",
  "PerCpuMap",
  "ProgArray",
  "RecordMap",
  "Skeleton",
  "SkeletonMap",
  "SkeletonModule",
] as const;
type ImportName = (typeof IMPORTS)[number];
/** The one import used as a value; the others are types. */
const VALUE_IMPORTS: ReadonlySet<ImportName> = new Set(["defineSkeleton"]);
/** The constant holding the embedded object. */
const OBJECT_CONST = "OBJECT";
/** The constant holding the prepared spec (object/prepared-spec.ts). */
const PREPARED_CONST = "PREPARED";
/** Characters of base64 per line of the embedded object. */
const BASE64_LINE = 100;

/** A map with what its view needs. */
interface MapPlan {
  spec: MapSpec;
  kind: ReturnType<typeof skeletonMapKind>;
  programType: string | undefined;
  /** The record type as given, and its BTF id. */
  record: { name: string; id: number } | undefined;
}

/**
 * The skeleton module of `spec` (parsed from `object`, which it embeds unless
 * {@link GenerateSkeletonOptions.objectPath} is given). Throws a {@link UsageError} for a name
 * that cannot be declared or a record type that names no map or no struct.
 */
export function generateSkeleton(
  spec: CollectionSpec,
  object: Uint8Array,
  opts: GenerateSkeletonOptions,
): string {
  const name = skeletonName(opts);
  // What a skeleton can carry prepared; an object the kernel engine could not load gets none
  // (its skeleton parses the object at open, and loading says why).
  let prepared: string | undefined;
  try {
    prepared = encodePreparedSpec(spec, object);
  } catch (e) {
    if (!isTsbpfError(e)) throw e;
  }
  const btf = spec.btf?.btf;
  const types = new BtfTsTypes(btf);
  const maps = planMaps(spec, opts);
  const sections = skeletonSections(spec);
  const programs = Object.values(spec.programs);

  // Every type the module mentions, so that each gets a declaration and a name.
  for (const m of maps) {
    if (m.kind === "typed" || m.kind === "per-cpu") {
      if (types.hasBtf && m.spec.keyTypeId) types.use(m.spec.keyTypeId);
      if (types.hasBtf && m.spec.valueTypeId) types.use(m.spec.valueTypeId);
    }
    if (m.record !== undefined) types.use(m.record.id);
  }
  for (const s of sections) for (const v of s.variables) if (types.hasBtf && v.typeId) types.use(v.typeId);

  const names = new NameAllocator();
  names.reserve(...IMPORTS, OBJECT_CONST, PREPARED_CONST);
  const typeNames = {
    programs: `${name}Programs`,
    maps: `${name}Maps`,
    open: `${name}Open`,
    section: (s: SkeletonSection) => `${name}${pascal(s.key)}`,
  };
  const own = [name, typeNames.programs, typeNames.maps, typeNames.open, ...sections.map(typeNames.section)];
  for (const n of own) {
    if (names.has(n)) {
      throw new UsageError(`skeleton name ${name}: ${n} clashes with a name the skeleton imports`, {
        hint: "choose another name (tsbpf gen skeleton --name NAME)",
      });
    }
  }
  names.reserve(...own);
  types.allocateNames(names);

  const used = new Set<ImportName>([
    "BackendName",
    "defineSkeleton",
    "OpenSkeleton",
    "Skeleton",
    "SkeletonModule",
  ]);
  const mapMembers = maps.map((m) => mapMember(m, types, used));
  const file = opts.file;

  const decls: Doc[] = [...types.declarations()];
  if (programs.length > 0) {
    decls.push([
      docComment(`The programs of ${file} by name, each with its program type.`),
      hardline,
      `export interface ${typeNames.programs} `,
      typeBody(programs.map((p) => propertySignature(p.name, stringLiteral(p.typeName)))),
    ]);
  }
  if (maps.length > 0) {
    decls.push([
      docComment(`The maps of ${file} by name, on engine \`B\`.`),
      hardline,
      `export interface ${typeNames.maps}`,
      typeParameters(),
      " ",
      typeBody(mapMembers),
    ]);
  }
  for (const s of sections) decls.push(sectionInterface(s, typeNames.section(s), types, file));

  const loaded = (readonly: boolean): Doc[] =>
    sections.map((s) =>
      propertySignature(
        s.key,
        readonly && s.map.readOnly ? typeReference("Readonly", [typeNames.section(s)]) : typeNames.section(s),
        { readonly: true },
      ),
    );
  // No programs or no maps: an object type without keys, so that any name fails to compile.
  const programsType = programs.length > 0 ? typeNames.programs : "Record<never, never>";
  const mapsType = maps.length > 0 ? typeReference(typeNames.maps, ["B"]) : "Record<never, never>";
  const withSections = (base: Doc, members: Doc[]): Doc =>
    members.length === 0 ? base : [base, " & ", typeBody(members)];

  decls.push([
    docComment(
      `${file} loaded on engine \`B\` ("vm" or "kernel"): its programs (\`progs\`), maps (\`maps\`) and global variables, typed from its BTF.` +
        (sections.some((x) => x.map.readOnly) ? " `.rodata` is read-only once loaded." : ""),
    ),
    hardline,
    typeAlias(
      [`export type ${name}`, typeParameters()],
      withSections(typeReference("Skeleton", ["B", programsType, mapsType]), loaded(true)),
    ),
  ]);
  decls.push([
    docComment(
      sections.length > 0
        ? `${file} opened and not loaded yet: set its global variables (\`const volatile\` configuration in \`.rodata\` too), then \`load({ backend })\`.`
        : `${file} opened and not loaded yet: \`load({ backend })\` loads it.`,
    ),
    hardline,
    typeAlias(
      `export type ${typeNames.open}`,
      withSections(
        typeReference("OpenSkeleton", [typeReference(name, ['"kernel"']), typeReference(name, ['"vm"'])]),
        loaded(false),
      ),
    ),
  ]);
  decls.push([
    docComment(
      `${file}: \`${name}.open()\` then \`.load({ backend })\`, or \`${name}.openAndLoad({ backend })\`.`,
    ),
    hardline,
    `export const ${name}: `,
    typeReference("SkeletonModule", [
      typeReference(name, ['"kernel"']),
      typeReference(name, ['"vm"']),
      typeNames.open,
    ]),
    " = defineSkeleton(",
    descriptor(name, file, opts.objectPath, spec, maps, sections, prepared !== undefined),
    ");",
  ]);
  if (opts.objectPath === undefined) {
    decls.push([
      docComment(`${file} (${object.byteLength} bytes), base64.`),
      hardline,
      `const ${OBJECT_CONST} = `,
      embeddedObject(object),
      ";",
    ]);
  }
  if (prepared !== undefined) {
    decls.push([
      docComment(
        `What opening ${file} gives that does not depend on the kernel (its maps, and its programs prepared for loading), as JSON: read instead of parsing the object when the object is the one it was made from.`,
      ),
      hardline,
      `const ${PREPARED_CONST} = `,
      arrayGroup(textLines(prepared)),
      ";",
    ]);
  }

  const command = [
    "tsbpf gen skeleton",
    file,
    ...(opts.name === undefined ? [] : [`--name ${name}`]),
    ...Object.entries(opts.recordTypes ?? {}).map(([m, t]) => `--type ${shellWord(`${m}=${t}`)}`),
    ...(opts.objectPath === undefined ? [] : ["--path"]),
  ].join(" ");
  const header = [
    `// Generated by \`${command}\`: do not edit, generate it again.`,
    "// With `-o FILE --check`, the same command tells whether FILE is still what the object generates.",
  ];
  const specifiers = IMPORTS.filter((i) => used.has(i)).map((i) => (VALUE_IMPORTS.has(i) ? i : `type ${i}`));
  const doc: Doc = [
    join(hardline, header),
    hardline,
    hardline,
    namedImport(specifiers, PACKAGE),
    hardline,
    ...decls.flatMap((d) => [hardline, d, hardline]),
  ];
  return `${printDoc(doc, LINE_WIDTH)}\n`.replace(/\n+$/, "\n");
}

/** The skeleton's name: the option, or the file's, checked to be declarable. */
function skeletonName(opts: GenerateSkeletonOptions): string {
  if (opts.name !== undefined) {
    if (!isDeclarableName(opts.name)) {
      throw new UsageError(`skeleton name '${opts.name}' is not a TypeScript identifier one can declare`, {
        hint: "use letters, digits and _ (not a reserved word), such as --name TailCall",
      });
    }
    return opts.name;
  }
  const name = defaultSkeletonName(opts.file);
  return isDeclarableName(name) && !(IMPORTS as readonly string[]).includes(name) ? name : `${name}Object`;
}

function pascal(key: string): string {
  return key
    .split("_")
    .filter((w) => w !== "")
    .map((w) => (w[0] as string).toUpperCase() + w.slice(1))
    .join("");
}

/** `<B extends BackendName>`, broken as Biome breaks type parameters. */
function typeParameters(): Doc {
  return group(["<", indent([softline, "B extends BackendName"]), ifBreak(","), softline, ">"]);
}

/** Each listed map with its view, record types checked against the object. */
function planMaps(spec: CollectionSpec, opts: GenerateSkeletonOptions): MapPlan[] {
  const maps = skeletonMaps(spec);
  const records = new Map<string, { name: string; id: number }>();
  for (const [map, struct] of Object.entries(opts.recordTypes ?? {})) {
    const what = `record type ${map}=${struct}`;
    const m = maps.find((x) => x.name === map);
    if (m === undefined) {
      throw new UsageError(`${what}: no map '${map}' in ${opts.file}`, {
        hint: `maps: ${maps.map((x) => x.name).join(", ") || "(none)"}`,
      });
    }
    if (skeletonMapKind(m.type) !== "records") {
      throw new UsageError(`${what}: map ${map} is a ${m.typeName}, which BTF types already`, {
        hint: "a record type is for ring buffers and perf event arrays, whose records BTF does not describe",
      });
    }
    const btf = spec.btf?.btf;
    const id = btf === undefined ? undefined : findRecordType(btf, struct);
    if (id === undefined) {
      throw new UsageError(
        `${what}: no struct or union '${struct}' in the BTF of ${opts.file}${btf === undefined ? " (it has no BTF)" : ""}`,
        {
          hint: `clang leaves out of BTF a struct that only local variables use: keep it with a global such as 'struct ${struct.replace(/^(struct|union)\s+/, "")} *unused_${struct.replace(/^(struct|union)\s+/, "")} __attribute__((unused));' (see README, Skeletons)`,
        },
      );
    }
    records.set(map, { name: struct, id });
  }
  return maps.map((m) => ({
    spec: m,
    kind: skeletonMapKind(m.type),
    programType: skeletonMapKind(m.type) === "prog-array" ? progArrayProgramType(spec, m.name) : undefined,
    record: records.get(m.name),
  }));
}

/** A map's member of the Maps interface: its view type. */
function mapMember(m: MapPlan, types: BtfTsTypes, used: Set<ImportName>): Doc {
  const s = m.spec;
  const side = (id: number | undefined, input: boolean): Doc => {
    if (id === undefined || id === 0 || !types.hasBtf) {
      if (input) used.add("MapScalar");
      return input ? "MapScalar" : "Uint8Array";
    }
    return input ? types.input(id) : types.read(id);
  };
  let type: Doc;
  switch (m.kind) {
    case "prog-array":
      used.add("ProgArray");
      type = typeReference("ProgArray", [
        "B",
        m.programType === undefined ? "string" : stringLiteral(m.programType),
      ]);
      break;
    case "map-of-maps":
      used.add("MapOfMaps");
      type = typeReference("MapOfMaps", ["B"]);
      break;
    case "records":
      used.add("RecordMap");
      type = typeReference("RecordMap", [
        "B",
        m.record === undefined ? "Uint8Array" : types.read(m.record.id),
        m.record === undefined ? "Uint8Array" : types.input(m.record.id),
      ]);
      break;
    case "per-cpu":
    case "typed": {
      const view = m.kind === "per-cpu" ? "PerCpuMap" : "SkeletonMap";
      used.add(view);
      type = typeReference(view, [
        "B",
        side(s.keyTypeId, false),
        side(s.valueTypeId, false),
        side(s.keyTypeId, true),
        side(s.valueTypeId, true),
      ]);
      break;
    }
  }
  return [docComment(mapComment(m, types), 2), hardline, propertySignature(s.name, type, { readonly: true })];
}

function mapComment(m: MapPlan, types: BtfTsTypes): string {
  const s = m.spec;
  const typeOf = (id: number | undefined, size: number): string =>
    id !== undefined && id !== 0 && types.hasBtf ? `\`${types.spelling(id)}\`` : count(size, "byte");
  const head = `\`${s.name}\`: ${s.typeName}`;
  switch (m.kind) {
    case "prog-array":
      return `${head}, ${count(s.maxEntries, "slot")}${m.programType === undefined ? "" : ` for ${m.programType} programs`}.`;
    case "map-of-maps":
      return `${head}, ${count(s.maxEntries, "slot")}.`;
    case "records":
      return m.record === undefined
        ? `${head}, records as bytes (\`--type ${s.name}=STRUCT\` names their type).`
        : `${head}, records of \`${types.spelling(m.record.id)}\`.`;
    default:
      return `${head}, ${count(s.maxEntries, "entry", "entries")}, ${typeOf(s.keyTypeId, s.keySize)} → ${typeOf(s.valueTypeId, s.valueSize)}${m.kind === "per-cpu" ? " on each CPU" : ""}.`;
  }
}

/** `word`, quoted for a shell when it holds anything but plain characters. */
function shellWord(word: string): string {
  return /^[\w.=,/+-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

/** `1 entry`, `2 entries`. */
function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The interface of one global-data section: a property per variable, accessors where writes differ. */
function sectionInterface(s: SkeletonSection, name: string, types: BtfTsTypes, file: string): Doc {
  const members = s.variables.map((v): Doc => {
    if (v.typeId === undefined || v.typeId === 0 || !types.hasBtf) {
      return propertySignature(v.name, "Uint8Array");
    }
    const read = types.read(v.typeId);
    const input = types.input(v.typeId);
    return printDoc(read, LINE_WIDTH) === printDoc(input, LINE_WIDTH)
      ? propertySignature(v.name, read)
      : accessorPair(v.name, read, input);
  });
  const what = s.map.readOnly
    ? "read-only once loaded: set it on the opened skeleton, before `load`"
    : "read and written in the live map once loaded (assign a whole value: a member of a read value is a copy)";
  return [
    docComment(`The global variables of \`${s.section}\` in ${file}, ${what}.`),
    hardline,
    `export interface ${name} `,
    typeBody(members),
  ];
}

/** The object literal `defineSkeleton` takes: what the runtime checks and builds. */
function descriptor(
  name: string,
  file: string,
  objectPath: string | undefined,
  spec: CollectionSpec,
  maps: MapPlan[],
  sections: SkeletonSection[],
  prepared: boolean,
): Doc {
  const object =
    objectPath === undefined
      ? objectGroup([objectEntry("base64", `() => ${OBJECT_CONST}`)])
      : objectGroup([
          objectEntry("url", callGroup("new URL", [stringLiteral(objectPath), "import.meta.url"])),
        ]);
  return objectExpanded([
    objectEntry("name", stringLiteral(name)),
    objectEntry("file", stringLiteral(file)),
    objectEntry("object", object),
    ...(prepared
      ? [objectEntry("prepared", objectGroup([objectEntry("json", `() => ${PREPARED_CONST}`)]))]
      : []),
    objectEntry(
      "programs",
      objectExpanded(Object.values(spec.programs).map((p) => objectEntry(p.name, stringLiteral(p.typeName)))),
    ),
    objectEntry(
      "maps",
      objectExpanded(
        maps.map((m) =>
          objectEntry(
            m.spec.name,
            objectGroup([
              objectEntry("type", stringLiteral(m.spec.typeName)),
              objectEntry("keySize", String(m.spec.keySize)),
              objectEntry("valueSize", String(m.spec.valueSize)),
              ...(m.kind === "prog-array" && m.programType !== undefined
                ? [objectEntry("programType", stringLiteral(m.programType))]
                : []),
              ...(m.record !== undefined ? [objectEntry("record", stringLiteral(m.record.name))] : []),
            ]),
          ),
        ),
      ),
    ),
    objectEntry(
      "globals",
      objectExpanded(
        sections.map((s) =>
          objectEntry(
            s.key,
            objectGroup([
              objectEntry("section", stringLiteral(s.section)),
              objectEntry("variables", arrayGroup(s.variables.map((v) => stringLiteral(v.name)))),
            ]),
          ),
        ),
      ),
    ),
  ]);
}

/** `callee(a, b)`, the arguments one a line when they do not fit. */
function callGroup(callee: string, args: readonly Doc[]): Doc {
  return group([`${callee}(`, indent([softline, join([",", line], args)]), ifBreak(","), softline, ")"]);
}

/**
 * `text` cut into string literals of {@link BASE64_LINE} characters, each quoted as Biome
 * quotes it (double quotes unless the piece holds more of them than single quotes).
 */
function textLines(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += BASE64_LINE) {
    const piece = text.slice(i, i + BASE64_LINE);
    const doubles = piece.split('"').length - 1;
    const singles = piece.split("'").length - 1;
    out.push(
      doubles > singles ? `'${piece.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'` : stringLiteral(piece),
    );
  }
  return out;
}

/** The object as an array of base64 lines. */
function embeddedObject(object: Uint8Array): Doc {
  const text = Buffer.from(object.buffer, object.byteOffset, object.byteLength).toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += BASE64_LINE)
    lines.push(stringLiteral(text.slice(i, i + BASE64_LINE)));
  return arrayGroup(lines);
}

/**
 * BTF type records as plain data. Names are strings (an empty string is anonymous); type
 * references are ids into {@link Btf.types}, where id 0 is `void`. Records stay editable so a
 * backend can sanitise them (replace kinds the kernel lacks) before marshalling.
 */

/** Numeric `BTF_KIND_*` values, keyed by the names bpftool prints. */
export const BtfKind = {
  UNKNOWN: 0,
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;

/** A kind name such as `"STRUCT"`. */
export type BtfKindName = Exclude<keyof typeof BtfKind, "UNKNOWN">;

/** Fields every record has. */
interface BtfTypeCommon {
  name: string;
  /** The `kind_flag` bit of `info`, kept for faithful re-encoding. */
  kindFlag: boolean;
}

/** `void`, type id 0; never encoded. */
export interface BtfVoid extends BtfTypeCommon {
  kind: "VOID";
}
/** An integer type. */
export interface BtfInt extends BtfTypeCommon {
  kind: "INT";
  size: number;
  /** `BTF_INT_SIGNED` (1), `BTF_INT_CHAR` (2), `BTF_INT_BOOL` (4) bits. */
  encoding: number;
  bitsOffset: number;
  bits: number;
}
/** A kind that only refers to another type. */
export interface BtfRef extends BtfTypeCommon {
  kind: "PTR" | "TYPEDEF" | "VOLATILE" | "CONST" | "RESTRICT" | "TYPE_TAG";
  type: number;
}
/** An array. */
export interface BtfArray extends BtfTypeCommon {
  kind: "ARRAY";
  type: number;
  indexType: number;
  nelems: number;
}
/** A struct or union member; `bitOffset` and `bitfieldSize` are decoded from the kind flag. */
export interface BtfMember {
  name: string;
  type: number;
  bitOffset: number;
  bitfieldSize: number;
}
/** A struct or union. */
export interface BtfComposite extends BtfTypeCommon {
  kind: "STRUCT" | "UNION";
  size: number;
  members: BtfMember[];
}
/** A 32-bit enum. */
export interface BtfEnum extends BtfTypeCommon {
  kind: "ENUM";
  size: number;
  /** Values as stored: signed when `kindFlag` is set, unsigned otherwise. */
  values: { name: string; value: number }[];
}
/** A 64-bit enum. */
export interface BtfEnum64 extends BtfTypeCommon {
  kind: "ENUM64";
  size: number;
  /** Values as unsigned 64-bit numbers (bit pattern); signedness is `kindFlag`. */
  values: { name: string; value: bigint }[];
}
/** A forward declaration; `kindFlag` set means union. */
export interface BtfFwd extends BtfTypeCommon {
  kind: "FWD";
}
/** A function: `type` is its FUNC_PROTO, `linkage` 0 static, 1 global, 2 extern. */
export interface BtfFunc extends BtfTypeCommon {
  kind: "FUNC";
  type: number;
  linkage: number;
}
/** A function signature. */
export interface BtfFuncProto extends BtfTypeCommon {
  kind: "FUNC_PROTO";
  returnType: number;
  params: { name: string; type: number }[];
}
/** A variable: linkage 0 static, 1 global, 2 extern. */
export interface BtfVar extends BtfTypeCommon {
  kind: "VAR";
  type: number;
  linkage: number;
}
/** One variable placed in a data section. */
export interface BtfVarSecinfo {
  type: number;
  offset: number;
  size: number;
}
/** A data section (`.data`, `.rodata`, `.maps`...) and the variables in it. */
export interface BtfDatasec extends BtfTypeCommon {
  kind: "DATASEC";
  size: number;
  vars: BtfVarSecinfo[];
}
/** A floating-point type. */
export interface BtfFloat extends BtfTypeCommon {
  kind: "FLOAT";
  size: number;
}
/** A declaration tag; `componentIdx` -1 tags the type itself, otherwise a member or parameter. */
export interface BtfDeclTag extends BtfTypeCommon {
  kind: "DECL_TAG";
  type: number;
  componentIdx: number;
}

/** Any BTF type record. */
export type BtfType =
  | BtfVoid
  | BtfInt
  | BtfRef
  | BtfArray
  | BtfComposite
  | BtfEnum
  | BtfEnum64
  | BtfFwd
  | BtfFunc
  | BtfFuncProto
  | BtfVar
  | BtfDatasec
  | BtfFloat
  | BtfDeclTag;

/** Parsed `.BTF`: types by id and the raw string section. */
export interface Btf {
  littleEndian: boolean;
  /** Types by id; index 0 is `void`. Editable. */
  types: BtfType[];
  /**
   * The string section as read. Marshalling keeps it as a prefix so that string offsets held
   * elsewhere (line_info file and line text) stay valid, and appends any new names.
   */
  strings: Uint8Array;
}

/** One `bpf_func_info` record of `.BTF.ext`, `insnOff` in bytes from the section start. */
export interface BtfExtFuncInfo {
  insnOff: number;
  typeId: number;
}
/** One `bpf_line_info` record, `insnOff` in bytes from the section start. */
export interface BtfExtLineInfo {
  insnOff: number;
  fileNameOff: number;
  lineOff: number;
  lineNumber: number;
  column: number;
}
/** One `bpf_core_relo` record, kept raw. */
export interface BtfExtCoreRelo {
  insnOff: number;
  typeId: number;
  accessStrOff: number;
  kind: number;
}

/** Parsed `.BTF.ext`, records grouped by the ELF section they describe. */
export interface BtfExt {
  funcInfo: Map<string, BtfExtFuncInfo[]>;
  lineInfo: Map<string, BtfExtLineInfo[]>;
  coreRelos: Map<string, BtfExtCoreRelo[]>;
  /** Record sizes as declared in the file. */
  funcInfoRecSize: number;
  lineInfoRecSize: number;
  coreReloRecSize: number;
}

import type { Btf, BtfExt } from "../btf/index.js";

/**
 * What {@link CollectionSpec.btf} holds when the object has BTF: the parsed `.BTF` (editable, for
 * sanitising and marshalling) and, when present, `.BTF.ext` with raw CO-RE records.
 */
export interface ObjectBtf {
  btf: Btf;
  ext: BtfExt | undefined;
}

/** Options of `loadCollectionSpec`. */
export interface LoadCollectionSpecOptions {
  /** The object's file name, used in error messages and {@link CollectionSpec.file}. */
  file?: string;
}

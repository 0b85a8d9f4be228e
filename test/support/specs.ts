import { emptyMapSpec } from "../../src/object/btf-maps.js";
import { mapTypeName } from "../../src/abi/index.js";
import type { MapSpec } from "../../src/object/types.js";

/**
 * A BTF-origin MapSpec as the object loader would give it, built from libbpf's defaults so tests
 * that make maps by hand follow any field the model gains; `more` overrides the rest.
 */
export function mapSpec(
  name: string,
  type: number,
  keySize: number,
  valueSize: number,
  maxEntries: number,
  more: Partial<MapSpec> = {},
): MapSpec {
  return {
    ...emptyMapSpec(name, "btf"),
    type,
    typeName: mapTypeName(type),
    keySize,
    valueSize,
    maxEntries,
    ...more,
  };
}

import type { BpfProgram } from "../../backend/types.js";
import type { MapSpec } from "../../object/types.js";
import { Errno, MapFailure } from "./errno.js";
import { FdArrayMap } from "./fd-array-map.js";
import type { VmMapOptions } from "./types.js";

/** Whether `obj` looks like a {@link BpfProgram} (of either engine; the VM only stores its own). */
export function isBpfProgram(obj: object): obj is BpfProgram {
  const p = obj as Partial<BpfProgram>;
  return typeof p.run === "function" && typeof p.name === "string" && typeof p.spec === "object";
}

/**
 * `BPF_MAP_TYPE_PROG_ARRAY`: the slots tail calls jump through. Like the kernel, the first
 * program that uses the array (inserted, or loaded with a reference to it) makes its program
 * type the array's owner type, and a program of another type is then refused with EINVAL.
 */
export class ProgArrayMap extends FdArrayMap<BpfProgram> {
  #ownerType: number | undefined;

  constructor(spec: MapSpec, opts: VmMapOptions) {
    super(spec, opts, { noun: "program", accepts: isBpfProgram });
  }

  protected override checkSlot(p: BpfProgram): void {
    if (!this.claimOwner(p)) {
      throw new MapFailure(
        Errno.EINVAL,
        `program ${p.name} has type ${p.spec.progType}, the array's owner type is ${this.#ownerType}`,
      );
    }
  }

  /** The program type that owns the array, once one has used it. */
  get ownerType(): number | undefined {
    return this.#ownerType;
  }

  /**
   * Records `prog`'s type as the owner type when there is none yet; returns whether `prog` is
   * compatible. The loader calls this for every program that references the array.
   */
  claimOwner(prog: BpfProgram): boolean {
    if (this.#ownerType === undefined) {
      this.#ownerType = prog.spec.progType;
      return true;
    }
    return this.#ownerType === prog.spec.progType;
  }

  /** The program a tail call through slot `index` jumps to; `undefined` makes the call fall through. */
  programAt(index: number): BpfProgram | undefined {
    return this.at(index);
  }
}

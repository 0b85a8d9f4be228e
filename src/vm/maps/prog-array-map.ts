import { Errno } from "../../abi/index.js";
import { isBpfProgram } from "../../backend/map-front.js";
import type { BpfProgram } from "../../backend/types.js";
import type { MapSpec } from "../../object/types.js";
import { MapFailure } from "./errno.js";
import { FdArrayMap } from "./fd-array-map.js";
import { isVmObject } from "./handles.js";
import type { VmMapOptions } from "./types.js";

/** A program this VM loaded: another engine's program has no handle a tail call could follow. */
function isVmProgram(obj: object): obj is BpfProgram {
  return isBpfProgram(obj) && isVmObject(obj);
}

/**
 * `BPF_MAP_TYPE_PROG_ARRAY`: the slots tail calls jump through. Like the kernel, the first
 * program that uses the array (inserted, or loaded with a reference to it) makes its program
 * type the array's owner type, and a program of another type is then refused with EINVAL.
 */
export class ProgArrayMap extends FdArrayMap<BpfProgram> {
  #ownerType: number | undefined;

  constructor(spec: MapSpec, opts: VmMapOptions) {
    super(spec, opts, { noun: "program", accepts: isVmProgram });
  }

  protected override checkSlot(p: BpfProgram): void {
    if (!this.claimOwner(p)) {
      throw new MapFailure(
        Errno.EINVAL,
        `program ${p.name} has type ${p.spec.type}, the array's owner type is ${this.#ownerType}`,
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
      this.#ownerType = prog.spec.type;
      return true;
    }
    return this.#ownerType === prog.spec.type;
  }

  /** The program a tail call through slot `index` jumps to; `undefined` makes the call fall through. */
  programAt(index: number): BpfProgram | undefined {
    return this.at(index);
  }
}

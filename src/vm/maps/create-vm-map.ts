import { Errno, MapType } from "../../abi/index.js";
import { NotSupportedError } from "../../errors.js";
import type { MapSpec } from "../../object/types.js";
import { ArrayMap } from "./array-map.js";
import type { VmMapBase } from "./base.js";
import { mapErrnoError } from "../../backend/map-error.js";
import { HashMap } from "./hash-map.js";
import { ArrayOfMaps, HashOfMaps } from "./map-in-map.js";
import { ProgArrayMap } from "./prog-array-map.js";
import { RingbufMap } from "./ringbuf-map.js";
import { PerfEventArrayMap } from "./perf-event-array-map.js";
import type { VmMapOptions } from "./types.js";

/** Largest array (all CPUs' values) the VM allocates: 1 GiB. */
export const MAX_ARRAY_BYTES = 1 << 30;

/**
 * Creates the live VM map for `spec`, refusing what BPF_MAP_CREATE would refuse with EINVAL
 * (a MapError) and map types the VM does not model (a NotSupportedError).
 */
export function createVmMap(spec: MapSpec, opts: VmMapOptions): VmMapBase {
  if (!Number.isInteger(opts.possibleCpus) || opts.possibleCpus < 1) {
    throw mapErrnoError(spec.name, "create", Errno.EINVAL, {
      hint: `possibleCpus ${opts.possibleCpus} must be at least 1`,
    });
  }
  const bad = (why: string) => mapErrnoError(spec.name, "create", Errno.EINVAL, { hint: why });
  const sizes = [spec.keySize, spec.valueSize, spec.maxEntries];
  if (sizes.some((n) => !Number.isInteger(n) || n < 0 || n > 0xffffffff)) {
    throw bad("key size, value size and max_entries must be u32");
  }
  switch (spec.type) {
    case MapType.array:
    case MapType.percpu_array:
    case MapType.prog_array:
    case MapType.array_of_maps: {
      if (spec.keySize !== 4) throw bad(`arrays need a 4-byte key, not ${spec.keySize}`);
      if (spec.maxEntries === 0) throw bad("max_entries must not be 0");
      const fdArray = spec.type === MapType.prog_array || spec.type === MapType.array_of_maps;
      if (fdArray && spec.valueSize !== 4)
        throw bad(`${spec.typeName} values are 4-byte fds, not ${spec.valueSize}`);
      if (!fdArray && spec.valueSize === 0) throw bad("value size must not be 0");
      // The kernel allocates an array up front (a pointer per slot for fd arrays); past the VM's
      // limit the answer is the kernel's for an allocation it cannot make.
      const cpus = spec.type === MapType.percpu_array ? opts.possibleCpus : 1;
      const slot = fdArray ? 8 : Math.ceil(spec.valueSize / 8) * 8;
      const bytes = slot * spec.maxEntries * cpus;
      if (bytes > MAX_ARRAY_BYTES) {
        throw mapErrnoError(spec.name, "create", Errno.ENOMEM, {
          hint: `${bytes} bytes for ${spec.maxEntries} entries; the VM allocates at most ${MAX_ARRAY_BYTES} per map`,
        });
      }
      if (spec.type === MapType.prog_array) return new ProgArrayMap(spec, opts);
      if (spec.type === MapType.array_of_maps) return new ArrayOfMaps(spec, opts);
      return new ArrayMap(spec, opts, spec.type === MapType.percpu_array);
    }
    case MapType.hash:
    case MapType.percpu_hash:
    case MapType.lru_hash:
    case MapType.lru_percpu_hash:
    case MapType.hash_of_maps: {
      if (spec.keySize === 0 || spec.maxEntries === 0) throw bad("key size and max_entries must not be 0");
      if (spec.type === MapType.hash_of_maps) {
        if (spec.valueSize !== 4) throw bad(`hash_of_maps values are 4-byte fds, not ${spec.valueSize}`);
        return new HashOfMaps(spec, opts);
      }
      if (spec.valueSize === 0) throw bad("value size must not be 0");
      const percpu = spec.type === MapType.percpu_hash || spec.type === MapType.lru_percpu_hash;
      const lru = spec.type === MapType.lru_hash || spec.type === MapType.lru_percpu_hash;
      return new HashMap(spec, opts, { percpu, lru });
    }
    case MapType.ringbuf:
      return new RingbufMap(spec, opts);
    case MapType.perf_event_array:
      return new PerfEventArrayMap(spec, opts);
    default:
      throw new NotSupportedError(`map ${spec.name}: the VM does not support ${spec.typeName} maps`, {
        map: spec.name,
        hint: "use the kernel backend for this map type",
      });
  }
}

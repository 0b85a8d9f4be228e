/**
 * What both engines check and build before they open an event reader: that the map is a ring
 * buffer or perf event array, and the decoder of its records (bytes, or the C struct the user
 * named, found in BTF as skeletons find it).
 */
import { MapType } from "../abi/index.js";
import {
  EventReader,
  type EventMapKind,
  type EventReaderOptions,
  type EventSource,
  type RecordDecoder,
} from "../backend/event-reader.js";
import { type BtfValue, decodeBtfValue } from "../btf/codec.js";
import { btfSizeof } from "../btf/type-helpers.js";
import { UsageError, isTsbpfError } from "../errors.js";
import type { CollectionSpec } from "../object/types.js";
import { findRecordType } from "./skeleton-model.js";

/** A struct name without its `struct`/`union` keyword. */
const bare = (type: string): string => type.trim().replace(/^(struct|union)\s+/, "");

/** The kind of event map `name` is in `spec`, or a {@link UsageError} saying why it cannot be read. */
export function eventMapKind(spec: CollectionSpec, name: string): EventMapKind {
  const m = spec.maps[name];
  if (m === undefined) {
    const events = Object.values(spec.maps)
      .filter((x) => x.type === MapType.ringbuf || x.type === MapType.perf_event_array)
      .map((x) => x.name);
    throw new UsageError(`no map '${name}' in this object`, {
      map: name,
      hint:
        events.length > 0
          ? `its event maps: ${events.join(", ")}`
          : "it has no ring buffer or perf event array",
    });
  }
  if (m.type === MapType.ringbuf) return "ringbuf";
  if (m.type === MapType.perf_event_array) return "perf_event_array";
  throw new UsageError(`map ${name} is a ${m.typeName} map: events come from a ringbuf or perf_event_array`, {
    map: name,
    hint: "read other maps with typed(coll, name) or map.entries()",
  });
}

/**
 * How records of map `map` are decoded: as they are (bytes) without `type`, else as the struct
 * or union `type` names (`event`, `struct event`, a typedef), from the first bytes of each
 * record; a record shorter than the type is an error naming both sizes.
 */
export function eventRecordDecoder(
  spec: CollectionSpec,
  map: string,
  type: string | undefined,
): RecordDecoder<BtfValue> {
  if (type === undefined) return (b) => b;
  const btf = spec.btf?.btf;
  const id = btf === undefined ? undefined : findRecordType(btf, type);
  if (btf === undefined || id === undefined) {
    throw new UsageError(
      `no struct or union '${type}' in the object's BTF${btf === undefined ? " (it has no BTF)" : ""}`,
      {
        map,
        hint: `clang keeps in BTF only types something global uses: keep it with a global such as 'struct ${bare(type)} *unused_${bare(type)} __attribute__((unused));'`,
      },
    );
  }
  const size = btfSizeof(btf, id);
  const le = spec.byteOrder === "little";
  return (bytes) => {
    if (bytes.byteLength < size) {
      throw new UsageError(`a record of ${bytes.byteLength} bytes, type ${type} needs ${size}`, { map });
    }
    try {
      return decodeBtfValue(btf, id, bytes.byteLength === size ? bytes : bytes.subarray(0, size), le, {
        path: "record",
      });
    } catch (e) {
      throw isTsbpfError(e) ? e.withContext({ map }) : e;
    }
  };
}

/**
 * The reader `coll.events(name, opts)` returns on either engine: checks the map (and that no
 * reader in `open` reads it already), builds the decoder, and asks the engine for its source of
 * `kind`; `onClose` runs once the reader closed.
 */
export function openEventReader<T>(
  spec: CollectionSpec,
  name: string,
  opts: Partial<EventReaderOptions>,
  source: (kind: EventMapKind) => EventSource,
  onClose: (reader: EventReader<T>) => void,
  open: Iterable<EventReader<unknown>> = [],
): EventReader<T> {
  const kind = eventMapKind(spec, name);
  // One consumer position per ring, one perf event per CPU slot: a second reader would steal records.
  for (const r of open) {
    if (r.map === name && !r.closed) {
      throw new UsageError(`map ${name} already has an open reader`, {
        map: name,
        hint: "read it with that reader, or close() it first",
      });
    }
  }
  const decode = eventRecordDecoder(spec, name, opts.type) as RecordDecoder<T>;
  let reader: EventReader<T> | undefined;
  reader = new EventReader<T>(name, kind, source(kind), decode, () => {
    if (reader !== undefined) onClose(reader);
  });
  return reader;
}

/**
 * What `attach --events` and `run --events` share: which collection of a loaded pipeline holds
 * the map, opening its reader, and printing a record (hex for bytes, JSON for a typed record).
 */
import type { EventReader, EventReaderOptions } from "../backend/event-reader.js";
import { UsageError } from "../errors.js";
import type { QualifiedName } from "../pipeline/definition.js";
import type { CollectionSpec } from "../object/types.js";

/** An event map asked for: `--events MAP [--type STRUCT]`, or an `events:` entry of a pipeline file. */
export interface EventsRequest {
  map: QualifiedName;
  type: string | undefined;
}

/** What a collection of either engine offers for events. */
interface EventCollection {
  readonly spec: CollectionSpec;
  events(name: string, opts: Partial<EventReaderOptions>): EventReader<unknown>;
}

/** `MAP` or `OBJECT:MAP` from `--events`, with `--type`. */
export function eventsFlag(value: string, type: string | undefined): EventsRequest {
  const m = /^(?:([^:\s]+):)?([^:\s]+)$/.exec(value);
  if (m === null) throw new UsageError(`--events '${value}' is not a map name (MAP or OBJECT:MAP)`);
  return { map: { object: m[1], name: m[2] as string, field: "--events" }, type };
}

/** Opens a reader for each request on the collection that holds its map (by alias, or the only one that has it). */
export function openEventReaders(
  collections: Record<string, unknown>,
  requests: readonly EventsRequest[],
): EventReader<unknown>[] {
  const colls = collections as Record<string, EventCollection>;
  const readers: EventReader<unknown>[] = [];
  try {
    for (const r of requests) {
      const holders =
        r.map.object === undefined
          ? Object.entries(colls).filter(([, c]) => c.spec.maps[r.map.name] !== undefined)
          : Object.entries(colls).filter(([alias]) => alias === r.map.object);
      if (holders.length > 1) {
        throw new UsageError(
          `${r.map.field}: map '${r.map.name}' is in ${holders.map(([a]) => a).join(" and ")}`,
          {
            hint: "name it OBJECT:MAP",
          },
        );
      }
      if (r.map.object !== undefined && holders.length === 0) {
        throw new UsageError(`${r.map.field}: no object '${r.map.object}'`, {
          hint: `objects: ${Object.keys(colls).join(", ")}`,
        });
      }
      // A map no object has: the first object's events() says so, naming its event maps.
      const [alias, coll] = holders[0] ?? Object.entries(colls)[0] ?? [];
      if (coll === undefined) throw new UsageError(`${r.map.field}: nothing is loaded`);
      try {
        readers.push(coll.events(r.map.name, r.type === undefined ? {} : { type: r.type }));
      } catch (e) {
        if (e instanceof UsageError) {
          const several = Object.keys(colls).length > 1;
          throw new UsageError(`${r.map.field}: ${several ? `${alias}: ` : ""}${e.message}`, {
            ...(e.hint === undefined ? {} : { hint: e.hint }),
          });
        }
        throw e;
      }
    }
  } catch (e) {
    for (const r of readers) void r.close();
    throw e;
  }
  return readers;
}

/** JSON for a decoded record: integers past 2^53 as strings, bytes as hex. */
export function recordJson(record: unknown): unknown {
  return JSON.parse(
    JSON.stringify(record, (_k, v: unknown) => {
      if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
      if (v instanceof Uint8Array) return Buffer.from(v).toString("hex");
      return v;
    }),
  );
}

/** One line for a record: `event MAP: <hex>` or `event MAP: {json}`. */
export function formatEvent(map: string, record: unknown): string {
  const body =
    record instanceof Uint8Array ? Buffer.from(record).toString("hex") : JSON.stringify(recordJson(record));
  return `event ${map}: ${body}`;
}

/**
 * The VM's stand-in for file descriptors and object ids. In the kernel a prog array is filled
 * with a program fd and read back as a program id, and a map-in-map likewise with map fds/ids.
 * The VM gives every map and every registered program one number that serves as both, drawn
 * from one namespace (like fds), so a map handle given to a prog array fails the same way a
 * map fd does in the kernel (EINVAL), and an unknown number fails like a closed fd (EBADF).
 */

const byId = new Map<number, WeakRef<object>>();
const idOf = new WeakMap<object, number>();
let next = 1;
/**
 * Drops a handle's entry once its object is collected: a long-running process that loads many
 * collections would otherwise keep one entry per map and program it ever made.
 */
const dropped = new FinalizationRegistry<number>((id) => {
  const ref = byId.get(id);
  if (ref !== undefined && ref.deref() === undefined) byId.delete(id);
});

/** Gives `obj` a handle (once; later calls return the same number). */
export function vmHandleOf(obj: object): number {
  const have = idOf.get(obj);
  if (have !== undefined) return have;
  const id = next++;
  idOf.set(obj, id);
  byId.set(id, new WeakRef(obj));
  dropped.register(obj, id);
  return id;
}

/** @internal How many handles the table holds (live, or dead and not yet swept); for leak tests. */
export function vmHandleCount(): number {
  return byId.size;
}

/** The object behind a handle, or `undefined` when the number names nothing live (EBADF). */
export function vmObjectOf(handle: number): object | undefined {
  const ref = byId.get(handle);
  if (ref === undefined) return undefined;
  const obj = ref.deref();
  if (obj === undefined) byId.delete(handle);
  return obj;
}

const vmObjects = new WeakSet<object>();

/** Records `obj` as a map or program of this VM, so fd slots can refuse another engine's objects. */
export function markVmObject(obj: object): void {
  vmObjects.add(obj);
}

/** Whether `obj` is a map or program the VM made (what its prog arrays and maps of maps may hold). */
export function isVmObject(obj: object): boolean {
  return vmObjects.has(obj);
}

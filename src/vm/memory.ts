import { vmFault } from "./fault.js";
import { hiOf, loOf, toU64 } from "./u64.js";

/**
 * The VM's address space: a set of separate regions (stack frames, packet, context, map values,
 * read-only data...). A region's address is `hi:lo` where `hi` names the region and `lo` is
 * {@link REGION_LO_BASE} plus the byte index, so pointer arithmetic and comparisons such as
 * `data + 14 > data_end` work on plain 64-bit integers, and an address that strays out of its
 * region can never land in another one.
 */

/** High word of region id 0; region `id` lives at `(REGION_HI_BASE + id) << 32`. Kernel-like. */
export const REGION_HI_BASE = 0xffff0000;
/** Low word of byte 0 of every region: small negative offsets from a region stay out of bounds. */
export const REGION_LO_BASE = 0x1000;
/** Largest region, so that `lo` never wraps and a carry never reaches a valid address. */
export const MAX_REGION_SIZE = 0x7000_0000;
const MAX_REGIONS = 0x10000;

/** Options for {@link Memory.map}. */
export interface MapRegionOptions {
  /** Whether stores are allowed (default false: read-only). */
  writable?: boolean;
  /** A label for fault messages ("stack", "packet", "map foo value"...). */
  name?: string;
  /** First accessible byte index (default 0). */
  start?: number;
  /** One past the last accessible byte index (default `bytes.length`). */
  end?: number;
  /** What the region belongs to (a map, a ring-buffer record...), so helpers can map a pointer back. */
  owner?: unknown;
  /**
   * Intercepts plain loads (`ldx{b,h,w,dw}`) from this region: returning a value puts it in the
   * destination register as is (all 64 bits); `undefined` reads the bytes. This is how a context
   * such as `xdp_md` gives full pointers from its 32-bit `data`/`data_end` fields, as the kernel's
   * verifier rewrites those loads.
   */
  onLoad?: LoadHook;
}

/** See {@link MapRegionOptions.onLoad}: `(index in bytes, size) => value | undefined`. */
export type LoadHook = (index: number, size: number) => bigint | undefined;

/** One mapped region. Only `[start, end)` of `bytes` is accessible; addresses stay fixed when it moves. */
export class Region {
  /** DataView over `bytes`, for typed little-endian access. */
  view: DataView;
  /** High word (signed int32) of this region's addresses. */
  readonly hi: number;
  /**
   * @internal Lowest byte index stored to since the owner last cleared the region (`bytes.length`
   * when nothing was). Lets the interpreter zero only the used part of a 512-byte stack frame.
   */
  dirtyFrom: number;
  /**
   * @internal For a region with a load hook whose every aligned 4-byte load the hook answers (a
   * context such as `xdp_md`): the words it gives, `[lo, hi]` per field at `index / 2`, kept up to
   * date by the region's owner. The compiled tier reads these instead of calling the hook, which
   * hands out bigints.
   */
  loadWords: Int32Array | undefined = undefined;
  constructor(
    /** Region id; the high word of its addresses is `REGION_HI_BASE + id`. */
    readonly id: number,
    /** Backing bytes, shared with the caller (no copy). */
    public bytes: Uint8Array,
    public writable: boolean,
    public name: string,
    public start: number,
    public end: number,
    /** What the region belongs to, as given to {@link Memory.map}. */
    public owner: unknown,
    /** Load interceptor, as given to {@link Memory.map}. */
    public onLoad: LoadHook | undefined,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.hi = (REGION_HI_BASE + id) | 0;
    this.dirtyFrom = bytes.length;
  }

  // Context hooks hand out the same few addresses (data, data_end) on every run; caching the
  // last two keeps those loads free of bigint allocation.
  private cacheIndexA = Number.NaN;
  private cacheAddrA = 0n;
  private cacheIndexB = Number.NaN;
  private cacheAddrB = 0n;

  /** The 64-bit address of byte index `index` of `bytes` (default 0). */
  address(index = 0): bigint {
    if (index === this.cacheIndexA) return this.cacheAddrA;
    if (index === this.cacheIndexB) return this.cacheAddrB;
    const a = toU64(this.hi, REGION_LO_BASE + index);
    this.cacheIndexB = this.cacheIndexA;
    this.cacheAddrB = this.cacheAddrA;
    this.cacheIndexA = index;
    this.cacheAddrA = a;
    return a;
  }
}

/** The set of regions one VM can address. Lookups are an array index; nothing allocates per access. */
export class Memory {
  /** Regions by id; `undefined` where unmapped. Read by the interpreter's hot loop. */
  readonly regions: (Region | undefined)[] = [undefined];
  /** Byte index of the last successful {@link resolve}. */
  index = 0;
  /**
   * @internal Told of a region mapped, unmapped, rebound or given new bounds (the wasm tier
   * keeps a table of regions it reaches directly, src/vm/wasm/runtime.ts).
   */
  onChange: ((r: Region) => void) | undefined = undefined;
  private free: number[] = [];

  /** Maps `bytes` (shared, not copied) as a new region and returns it. */
  map(bytes: Uint8Array, opts: MapRegionOptions = {}): Region {
    if (bytes.length > MAX_REGION_SIZE) {
      throw vmFault("out-of-bounds", `region of ${bytes.length} bytes is larger than ${MAX_REGION_SIZE}`);
    }
    let id = this.free.pop();
    if (id === undefined) {
      id = this.regions.length;
      if (id >= MAX_REGIONS) throw vmFault("out-of-bounds", "too many memory regions");
      this.regions.push(undefined);
    }
    const r = new Region(
      id,
      bytes,
      opts.writable ?? false,
      opts.name ?? `region ${id}`,
      opts.start ?? 0,
      opts.end ?? bytes.length,
      opts.owner,
      opts.onLoad,
    );
    this.setBounds(r, r.start, r.end);
    this.regions[id] = r;
    return r;
  }

  /** Maps `bytes` and returns the address of its first byte. */
  mapRegion(bytes: Uint8Array, opts: MapRegionOptions = {}): bigint {
    return this.map(bytes, opts).address();
  }

  /** Removes a region (by object or any address inside it); its id may be reused later. */
  unmap(region: Region | bigint): void {
    const r = typeof region === "bigint" ? this.region(hiOf(region)) : region;
    if (r === undefined || this.regions[r.id] !== r) return;
    this.regions[r.id] = undefined;
    this.free.push(r.id);
    if (this.onChange !== undefined) this.onChange(r);
  }

  /** Moves the accessible window of `r` (packet bounds after xdp_adjust_head/tail/meta). */
  setBounds(r: Region, start: number, end: number): void {
    if (
      !Number.isInteger(start) ||
      !Number.isInteger(end) ||
      start < 0 ||
      end < start ||
      end > r.bytes.length
    ) {
      throw vmFault(
        "out-of-bounds",
        `bounds [${start}, ${end}) do not fit ${r.name} (${r.bytes.length} bytes)`,
      );
    }
    r.start = start;
    r.end = end;
    if (this.onChange !== undefined) this.onChange(r);
  }

  /** Replaces the backing bytes of `r` keeping its id (and so its addresses). */
  rebind(r: Region, bytes: Uint8Array, start = 0, end = bytes.length): void {
    r.bytes = bytes;
    r.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    r.dirtyFrom = 0; // unknown contents
    this.setBounds(r, start, end);
  }

  /** The region whose high address word is `hi` (signed or unsigned int32), if mapped. */
  region(hi: number): Region | undefined {
    const id = ((hi | 0) - (REGION_HI_BASE | 0)) >>> 0;
    return id < this.regions.length ? this.regions[id] : undefined;
  }

  /** The region containing address `addr` (mapped, whether or not `addr` is inside its bounds). */
  regionOf(addr: bigint): Region | undefined {
    return this.region(hiOf(addr));
  }

  /** The byte index of `addr` within its region's `bytes` (may lie outside the accessible window). */
  indexOf(addr: bigint): number {
    return (loOf(addr) >>> 0) - REGION_LO_BASE;
  }

  /**
   * Checks that `size` bytes at `hi:lo` lie in one region (and, for a store, a writable one).
   * Returns the region and leaves the byte index in {@link index}; faults otherwise.
   */
  resolve(hi: number, lo: number, size: number, write: boolean): Region {
    const id = ((hi | 0) - (REGION_HI_BASE | 0)) >>> 0;
    const r = id < this.regions.length ? this.regions[id] : undefined;
    if (r !== undefined) {
      const i = (lo >>> 0) - REGION_LO_BASE;
      if (i >= r.start && i + size <= r.end) {
        if (write) {
          if (!r.writable) throw this.fault("read-only", hi, lo, size, write, r);
          if (i < r.dirtyFrom) r.dirtyFrom = i;
        }
        this.index = i;
        return r;
      }
    }
    throw this.fault("out-of-bounds", hi, lo, size, write, r);
  }

  /**
   * {@link view} for an address given as its two words (`vm.hi[i]`, `vm.lo[i]`), so a helper
   * reading a pointer argument allocates no bigint.
   */
  viewWords(hi: number, lo: number, len: number, write: boolean): Uint8Array {
    if (!Number.isInteger(len) || len < 0) throw vmFault("out-of-bounds", `bad length ${len}`);
    const r = this.resolve(hi, lo, len, write);
    return r.bytes.subarray(this.index, this.index + len);
  }

  /** Copies `len` bytes at `addr` out of the VM. */
  readBytes(addr: bigint, len: number): Uint8Array {
    return this.view(addr, len, false).slice();
  }

  /** A live view of `len` bytes at `addr` (writes through when `write` and the region is writable). */
  view(addr: bigint, len: number, write: boolean): Uint8Array {
    if (!Number.isInteger(len) || len < 0) throw vmFault("out-of-bounds", `bad length ${len}`);
    const r = this.resolve(hiOf(addr), loOf(addr), len, write);
    return r.bytes.subarray(this.index, this.index + len);
  }

  /** Copies `data` into the VM at `addr`. */
  writeBytes(addr: bigint, data: Uint8Array): void {
    this.view(addr, data.length, true).set(data);
  }

  /** Reads a little-endian unsigned integer of 1, 2, 4 or 8 bytes. */
  readUint(addr: bigint, size: 1 | 2 | 4 | 8): bigint {
    const r = this.resolve(hiOf(addr), loOf(addr), size, false);
    const i = this.index;
    switch (size) {
      case 1:
        return BigInt(r.view.getUint8(i));
      case 2:
        return BigInt(r.view.getUint16(i, true));
      case 4:
        return BigInt(r.view.getUint32(i, true));
      default:
        return r.view.getBigUint64(i, true);
    }
  }

  /** Writes a little-endian integer of 1, 2, 4 or 8 bytes (taken modulo its width). */
  writeUint(addr: bigint, size: 1 | 2 | 4 | 8, value: bigint): void {
    const r = this.resolve(hiOf(addr), loOf(addr), size, true);
    const i = this.index;
    switch (size) {
      case 1:
        r.view.setUint8(i, Number(BigInt.asUintN(8, value)));
        break;
      case 2:
        r.view.setUint16(i, Number(BigInt.asUintN(16, value)), true);
        break;
      case 4:
        r.view.setUint32(i, Number(BigInt.asUintN(32, value)), true);
        break;
      default:
        r.view.setBigUint64(i, BigInt.asUintN(64, value), true);
    }
  }

  /** Reads a NUL-terminated string of at most `max` bytes at `addr` (for helpers such as printk). */
  readCString(addr: bigint, max = 4096): string {
    const r = this.resolve(hiOf(addr), loOf(addr), 1, false);
    const from = this.index;
    const limit = Math.min(r.end, from + max);
    let end = from;
    while (end < limit && r.bytes[end] !== 0) end++;
    if (end >= limit) {
      throw vmFault("out-of-bounds", `string at 0x${addr.toString(16)} is not NUL-terminated in ${r.name}`);
    }
    return new TextDecoder().decode(r.bytes.subarray(from, end));
  }

  private fault(
    code: "out-of-bounds" | "read-only",
    hi: number,
    lo: number,
    size: number,
    write: boolean,
    r: Region | undefined,
  ): Error {
    const addr = `0x${toU64(hi, lo).toString(16)}`;
    const what = write ? "store" : "load";
    if (r === undefined) return vmFault(code, `${what} of ${size} bytes at ${addr}: no memory there`);
    const off = (lo >>> 0) - REGION_LO_BASE;
    if (code === "read-only")
      return vmFault(code, `${what} of ${size} bytes at ${addr}: ${r.name} is read-only`);
    return vmFault(
      code,
      `${what} of ${size} bytes at ${addr} (${r.name} offset ${off - r.start}) is outside [0, ${r.end - r.start})`,
    );
  }
}

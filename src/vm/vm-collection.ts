import { disassemble } from "../asm/disasm.js";
import { AluOp, Class, EXIT, Mode, PseudoLd, Size, Source } from "../asm/opcodes.js";
import { MapType, ProgType, TcAction, XdpAction } from "../abi/index.js";
import { hostPossibleCpus } from "../backend/possible-cpus.js";
import type {
  BpfMap,
  BpfProgram,
  LoadedCollection,
  RedirectTarget,
  RunOptions,
  RunResult,
} from "../backend/types.js";
import {
  type ErrorContext,
  isTsbpfError,
  LoadError,
  NotSupportedError,
  UsageError,
  VerifierError,
  type VmFault,
} from "../errors.js";
import type { EventReader, EventReaderOptions } from "../backend/event-reader.js";
import type { BtfValue } from "../btf/codec.js";
import { openEventReader } from "../gen/event-records.js";
import { VmPerfSource, VmRingbufSource } from "./vm-event-source.js";
import { calleeNamer, formatSourceLocation, sourceLocationAt } from "../object/insn-location.js";
import type { CollectionSpec, MapSpec, ProgramSpec } from "../object/types.js";
import { sizePerfEventArrays } from "../object/size-perf-event-arrays.js";
import type { PacketBatch } from "../net/pcap.js";
import { applyWiring, staticSlots } from "../tailcall/wiring.js";
import { faultCode, vmFault } from "./fault.js";
import { compileProgram, primeProgram } from "./compiler.js";
import { adoptForWasm, compileWasm, execFreshMany, isWasm, primeWasm } from "./wasm/wasm-tier.js";
import { lacksMemory, pinRuntime, releaseRuntime, unpinRuntime } from "./wasm/runtime.js";
import { createHelpers, mapPointer, newRunState, type RunState } from "./helpers.js";
import { Interpreter, loadProgram, type Program } from "./interpreter.js";
import {
  createVmMap,
  type FdArrayMap,
  type HashOfMaps,
  markVmObject,
  PerfEventArrayMap,
  ProgArrayMap,
  RingbufMap,
  type VmMapBase,
} from "./maps/index.js";
import { Memory, REGION_LO_BASE } from "./memory.js";
import { rewriteLegacyLoads } from "./skb/legacy-loads.js";
import { SkbBuffer } from "./skb/skb-buffer.js";
import { XdpBuffer } from "./xdp-buffer.js";

/** Options of {@link loadVmCollection}. */
export interface VmCollectionOptions {
  /**
   * CPUs per-CPU maps hold values for. Default: the host's possible CPUs, as the kernel engine
   * uses, so both engines lay per-CPU values out alike on one machine.
   */
  possibleCpus: number;
  /** The CPU programs run on (`bpf_get_smp_processor_id`, per-CPU slots). */
  cpu: number;
  /** Most instructions one run may execute, tail calls included. */
  budget: number;
  /** Seed of `bpf_get_prandom_u32`, so runs are repeatable. */
  seed: number;
  /** Source of `bpf_ktime_get_ns`; monotonic nanoseconds by default. */
  now: () => bigint;
  /**
   * The clock runs are timed with (`durationNs`, `prepareNs`); monotonic nanoseconds by default.
   * Apart from `now`, so a test's fixed ktime does not move when runs are timed.
   */
  clock: () => bigint;
  /** Most trace messages kept per run (a `repeat` of a million printk calls stays bounded). */
  maxTrace: number;
  /**
   * Execution tier. `"compiled"` (the default) translates each program to WebAssembly (the wasm
   * tier, src/vm/wasm/), with the JS tier below it; `"wasm"` is the same but a program the wasm
   * tier cannot translate fails the load instead of running on the JS tier; `"js"` translates
   * each program to JavaScript (src/vm/compiler.ts); `"interpreter"` runs the reference
   * interpreter. All agree on every conformance, fixture, generated and random program in the
   * tests. The wasm tier hands a run to the JS tier for what it does not do (faults, the
   * budget's last block, atomics, callx), and runs whole on it when no WebAssembly memory can be
   * had (V8 allows a process only so many: see docs/vm-semantics.md); {@link VmProgram.tier} and
   * `RunResult.tier` say which tier ran.
   */
  tier: VmTierOption;
  /**
   * The address space to load into. Collections loaded into one space can tail-call each other's
   * programs (a pipeline of several objects); each gets its own space by default. The space's
   * budget, CPU and trace limit are those of the first collection loaded into it.
   */
  space: VmSpace | undefined;
}

/** The tiers {@link VmCollectionOptions.tier} names. */
export type VmTierOption = "compiled" | "wasm" | "js" | "interpreter";

/** The tiers {@link VmCollectionOptions.tier} accepts, the default first. */
export const VM_TIERS: readonly VmTierOption[] = ["compiled", "wasm", "js", "interpreter"];

/** The tier a program runs on: see {@link VmProgram.tier}. */
export type VmTier = "wasm" | "js" | "interpreter";

/** Readies `prog` for `tier` (see {@link VmCollectionOptions.tier}). */
function compileFor(prog: Program, tier: VmTierOption): void {
  if (tier === "js") compileProgram(prog);
  else if (tier === "wasm") compileWasm(prog);
  else if (tier === "compiled") {
    try {
      compileWasm(prog);
    } catch {
      // What the wasm tier cannot translate runs on the JS tier (VmProgram.tierFallback says so).
      compileProgram(prog);
    }
  }
}

const DEFAULTS: Omit<VmCollectionOptions, "possibleCpus"> = Object.freeze({
  space: undefined,
  cpu: 0,
  budget: 10_000_000,
  seed: 0x5eed,
  now: () => process.hrtime.bigint(),
  clock: () => process.hrtime.bigint(),
  maxTrace: 100_000,
  tier: "compiled",
});

/**
 * Map value regions one `run()` keeps mapped across its iterations (so a repeated lookup costs
 * nothing); past this many they are released between iterations instead.
 */
const MAX_RUN_VALUE_REGIONS = 1024;

/** Program types the VM can run, with the context each gets. */
const RUNNABLE = new Set<number>([ProgType.xdp, ProgType.sched_cls, ProgType.sched_act]);

/**
 * Per tier, the XDP program {@link VmCollection.prepare} runs on a zeroed packet of its own: it
 * reads `data`, `data_end` and `ingress_ifindex` from the context and a byte, a half and a word of
 * the packet, and returns XDP_PASS. That goes through the VM's execution loop, the context's
 * load hook and the packet's memory, as every XDP run does.
 */
const warmUpPrograms: Partial<Record<VmCollectionOptions["tier"], Program>> = {};
const WARM_UP_PACKET = new Uint8Array(64);

function warmUpProgram(tier: VmCollectionOptions["tier"]): Program {
  let p = warmUpPrograms[tier];
  if (p === undefined) {
    const ldx = (size: number, dst: number, src: number, off: number) => ({
      opcode: Class.LDX | size | Mode.MEM,
      dst,
      src,
      off,
      imm: 0,
    });
    p = loadProgram(
      [
        ldx(Size.W, 2, 1, 0), // r2 = ctx->data
        ldx(Size.W, 3, 1, 4), // r3 = ctx->data_end
        ldx(Size.W, 4, 1, 12), // r4 = ctx->ingress_ifindex
        ldx(Size.B, 4, 2, 0),
        ldx(Size.H, 4, 2, 12),
        ldx(Size.W, 4, 2, 16),
        { opcode: Class.ALU64 | AluOp.MOV | Source.K, dst: 0, src: 0, off: 0, imm: XdpAction.PASS },
        { opcode: EXIT, dst: 0, src: 0, off: 0, imm: 0 },
      ],
      { name: "warm-up" },
    );
    compileFor(p, tier);
    warmUpPrograms[tier] = p;
  }
  return p;
}

/** xorshift32: small, fast, deterministic for a given seed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** Whether `p` is a packed batch rather than an array of packets. */
function isPacketBatch(p: readonly Uint8Array[] | PacketBatch): p is PacketBatch {
  return !Array.isArray(p);
}

/** Options of {@link VmProgram.runBatch}. */
export interface BatchRunOptions {
  /** `ingress_ifindex` of every packet (default 1, as test_run). */
  ingressIfindex?: number;
  /** `rx_queue_index` of every packet (default 0). */
  rxQueueIndex?: number;
  /** Where the verdicts go, one per packet (reuse one array across batches); default a new array. */
  retvals?: Uint32Array;
  /**
   * Called after each packet with its index in the batch, its verdict (r0) and its outcome. The
   * {@link BatchPacket} is one object reused for every packet: read it during the call.
   */
  onPacket?: (index: number, retval: number, packet: BatchPacket) => void;
}

/** One packet's outcome in {@link VmProgram.runBatch}; valid only during `onPacket`. */
export interface BatchPacket {
  /** The XDP page: the packet as the program left it is `bytes.subarray(start, end)` (data_meta to data_end). */
  bytes: Uint8Array;
  start: number;
  end: number;
  /** Bytes past the linear part (packets over 3520 bytes), as in `RunResult.dataOut`. */
  frags: Uint8Array;
  /** The programs that ran, entry first (tail calls followed). */
  chain: readonly string[];
  /** The redirect target the packet's last redirect helper recorded. */
  redirect: RedirectTarget | undefined;
  /** The fault that aborted the packet's run (its verdict is then XDP_ABORTED). */
  fault: VmFault | undefined;
}

/** What {@link VmProgram.runBatch} returns. */
export interface BatchResult {
  /** Packets run. */
  packets: number;
  /** Verdict (r0) per packet: `retvals[i]` for `packets[i]`. */
  retvals: Uint32Array;
  /** Packets whose run faulted. */
  faults: number;
  /** The whole batch's time, packet layout included, in nanoseconds. */
  durationNs: number;
  /** Nanoseconds spent preparing the collection before the batch (0 when it was already). */
  prepareNs: number;
  /** Trace messages of the whole batch, in order (at most the VM's maxTrace). */
  trace: string[];
  /** The tier the batch ran on (see {@link VmProgram.tier}). */
  tier: VmTier;
}

/** A program loaded into the VM. */
export class VmProgram implements BpfProgram {
  /** The validated, pre-decoded program. */
  compiled!: Program;
  constructor(
    readonly spec: ProgramSpec,
    private readonly coll: VmCollection,
  ) {
    markVmObject(this);
  }

  get name(): string {
    return this.spec.name;
  }

  /**
   * The tier the program runs on now: `"wasm"`, or `"js"` when it is on the JS tier (asked for,
   * or the wasm tier's fallback: the program could not be translated, or no WebAssembly memory
   * was to be had; see {@link tierFallback}), or `"interpreter"`. A wasm program's memory is
   * taken at its collection's first run: before it, the wasm tier is reported.
   */
  get tier(): VmTier {
    return this.coll.tierOf(this);
  }

  /** Why the program runs on the JS tier when the wasm tier was asked for; undefined otherwise. */
  get tierFallback(): string | undefined {
    return this.coll.tierFallbackOf(this);
  }

  /** @internal Whether this program lives in `space` (its global-data addresses are that memory's). */
  livesIn(space: VmSpace): boolean {
    return this.coll.space === space;
  }

  /** Runs the program as `BPF_PROG_TEST_RUN` would; a fault gives XdpAction.ABORTED and `fault`. */
  async run(data: Uint8Array, opts: Partial<RunOptions> = {}): Promise<RunResult> {
    return this.coll.runSync(this, data, opts);
  }

  /**
   * Runs the program once on each of `packets` (a capture replay), synchronously: an array of
   * packets, or a {@link PacketBatch} packed in one buffer (`readPcapBatch`). Each packet is
   * laid out and run as {@link run} would with `repeat` 1, but nothing is allocated per packet:
   * verdicts go into `retvals`, and `onPacket` sees each packet's outcome through one reused
   * {@link BatchPacket}. Maps, globals and the trace carry over from packet to packet, as they
   * do across runs.
   */
  runBatch(packets: readonly Uint8Array[] | PacketBatch, opts: BatchRunOptions = {}): BatchResult {
    return this.coll.runBatchSync(this, packets, opts);
  }
}

/**
 * An address space of the VM: memory, the interpreter and the run state. Programs of the
 * collections loaded into one space address the same memory, so they can tail-call each other,
 * as programs of several objects can in the kernel.
 */
export class VmSpace {
  /** Global data, map values and packets of every collection in the space. */
  readonly memory = new Memory();
  /** One interpreter for the space: runs never overlap, so its registers are reused. */
  readonly interpreter: Interpreter;
  /** @internal Collections loaded into the space and not closed: the last one to close frees its wasm memory. */
  open = 0;
  /** @internal The state helpers see during a run. */
  readonly state: RunState;
  /** @internal The XDP frame runs lay packets out in. */
  readonly xdp: XdpBuffer;
  /** @internal The skb tc runs lay packets out in. */
  readonly skb: SkbBuffer;

  /** Options not given are the VM's defaults, as for a collection. */
  constructor(given: Partial<Pick<VmCollectionOptions, "budget" | "maxTrace" | "cpu">> = {}) {
    const opts = { ...DEFAULTS, ...given };
    this.interpreter = new Interpreter({ memory: this.memory, budget: opts.budget });
    this.xdp = new XdpBuffer(this.memory);
    this.skb = new SkbBuffer(this.memory);
    this.state = newRunState(opts.maxTrace);
    this.state.xdp = this.xdp;
    this.state.cpu = opts.cpu;
  }
}

/** A collection loaded into the built-in VM. */
export class VmCollection implements LoadedCollection {
  readonly backend = "vm" as const;
  readonly maps: Record<string, BpfMap> = {};
  readonly programs: Record<string, VmProgram> = {};
  /** The address space the collection lives in (its own unless it was loaded into a shared one). */
  readonly space: VmSpace;
  private closed = false;
  private isPrepared = false;

  constructor(
    readonly spec: CollectionSpec,
    readonly options: VmCollectionOptions,
  ) {
    this.space = options.space ?? new VmSpace(options);
  }

  /** The address space's memory (global data, map values, packets). */
  get memory(): Memory {
    return this.space.memory;
  }

  /** The address space's interpreter. */
  get interpreter(): Interpreter {
    return this.space.interpreter;
  }

  /** Whether the collection is ready for timed runs (see {@link prepare}). */
  get prepared(): boolean {
    return this.isPrepared;
  }

  /**
   * Readies the collection for timed runs, once. V8 compiles JavaScript on a function's first
   * call, so a first run would otherwise also time the compilation of the VM's execution loop, of
   * its XDP context and packet access, and of each program's translated code (compiled tier): a
   * millisecond or more, against microseconds for the run itself. This runs an XDP program of
   * its own (it reads the context and the packet) on the collection's tier and packet buffer, and
   * enters every program's translated code once where it returns at once; no map, global or
   * trace a program sees changes, and the next run lays out its packet afresh. A run does this
   * before starting its timer (and reports the time as `prepareNs`), so `durationNs` never
   * includes it. What it cannot reach is each helper's own code, which the JS engine still
   * compiles when a program first calls it. Returns the nanoseconds it took, 0 when the
   * collection was prepared already.
   */
  prepare(): number {
    if (this.isPrepared) return 0;
    const t0 = this.options.clock();
    this.prepareNow();
    return Number(this.options.clock() - t0);
  }

  private prepareNow(): void {
    const { interpreter: vm, xdp } = this.space;
    xdp.reset(WARM_UP_PACKET, 1, 0);
    vm.lo.fill(0);
    vm.hi.fill(0);
    vm.lo[1] = REGION_LO_BASE | 0;
    vm.hi[1] = xdp.ctx.hi;
    vm.exec(warmUpProgram(this.options.tier));
    xdp.output();
    for (const p of Object.values(this.programs)) {
      if (!primeWasm(p.compiled, vm)) primeProgram(p.compiled, vm);
    }
    this.isPrepared = true;
  }

  /**
   * Releases the collection; later runs fail, and its event readers close. Its maps stay readable.
   * When it is the last open collection of its address space, the space's WebAssembly memory
   * goes back to the pool for the next collection (see src/vm/wasm/runtime.ts).
   */
  close(): void {
    if (!this.closed && --this.space.open === 0) releaseRuntime(this.space.interpreter);
    this.closed = true;
    for (const r of this.readers) void r.close();
  }

  /** @internal See {@link VmProgram.tier}. */
  tierOf(p: VmProgram): VmTier {
    const c = p.compiled;
    if (c.jit === undefined) return "interpreter";
    if (!isWasm(c)) return "js";
    return lacksMemory(this.space.interpreter) ? "js" : "wasm";
  }

  /** @internal See {@link VmProgram.tierFallback}. */
  tierFallbackOf(p: VmProgram): string | undefined {
    const asked = this.options.tier;
    if ((asked !== "compiled" && asked !== "wasm") || this.tierOf(p) !== "js") return undefined;
    return isWasm(p.compiled)
      ? "no WebAssembly memory was free: a process may hold only so many"
      : "the wasm tier could not translate it";
  }

  /** The wasm runtime pinned for the runs under way (see pinRuntime), if the tier uses one. */
  private pin(): ReturnType<typeof pinRuntime> {
    const t = this.options.tier;
    return t === "compiled" || t === "wasm" ? pinRuntime(this.space.interpreter) : undefined;
  }

  private readonly readers = new Set<EventReader<unknown>>();

  /**
   * Reads the records programs send through ring buffer or perf event array `name`, as the
   * kernel engine's `events` does (see docs/events.md): bytes, or each record decoded as the C
   * struct `type` names. A perf event array gets a buffer of `pages` pages on each of the VM's
   * CPUs while the reader is open (outside it, `bpf_perf_event_output` gives -ENOENT).
   */
  events(name: string, opts?: Partial<EventReaderOptions> & { type?: undefined }): EventReader<Uint8Array>;
  /** With `type`: records decoded as that struct (`T` annotates what it decodes to). */
  events<T = BtfValue>(name: string, opts: Partial<EventReaderOptions> & { type: string }): EventReader<T>;
  events<T>(name: string, opts: Partial<EventReaderOptions> = {}): EventReader<T> {
    if (this.closed) throw new LoadError("the collection is closed", { map: name });
    const reader = openEventReader<T>(
      this.spec,
      name,
      opts,
      (kind) => {
        const m = this.maps[name];
        if (kind === "ringbuf" && m instanceof RingbufMap) return new VmRingbufSource(m);
        if (m instanceof PerfEventArrayMap) {
          const pages = opts.pages ?? 64;
          if (!Number.isInteger(pages) || pages < 1 || (pages & (pages - 1)) !== 0)
            throw new UsageError(`perf buffer pages must be a power of 2, not ${pages}`, { map: name });
          return new VmPerfSource(m, Math.min(m.possibleCpus, m.spec.maxEntries), pages);
        }
        throw new NotSupportedError(`map ${name} cannot be read as events on the VM`, { map: name });
      },
      (r) => this.readers.delete(r as EventReader<unknown>),
      this.readers,
    );
    this.readers.add(reader as EventReader<unknown>);
    return reader;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * @internal Runs `prog` on `data` `repeat` times; see {@link VmProgram.run}.
   *
   * As BPF_PROG_TEST_RUN does, the packet is laid out once and every iteration runs on the same
   * buffer (what one run writes or adjusts, the next one sees), and the loop is timed as a whole.
   * The first run prepares the collection (see {@link prepare}) before it lays out the packet and
   * starts its timer.
   * Nothing is allocated per iteration unless the program prints, reserves ring-buffer records or
   * tail-calls; map value regions stay mapped until the call returns (or, when an iteration
   * leaves more than {@link MAX_RUN_VALUE_REGIONS}, until it ends).
   */
  runSync(prog: VmProgram, data: Uint8Array, opts: Partial<RunOptions>): RunResult {
    this.checkRunnable(prog);
    const repeat = Math.max(1, Math.floor(opts.repeat ?? 1));
    const clock = this.options.clock;
    // The first run prepares the collection (see prepare), timed apart from the run.
    let prepareNs: number | undefined;
    if (!this.isPrepared) {
      const p0 = clock();
      this.prepareNow();
      prepareNs = Number(clock() - p0);
    }
    const { state, memory, xdp, skb } = this.space;
    const isTc = prog.spec.type !== ProgType.xdp;
    if (isTc) {
      skb.reset(data, opts.ctxIn);
      state.skb = skb;
    } else {
      xdp.reset(data, opts.ingressIfindex ?? 1, opts.rxQueueIndex ?? 0);
      state.skb = undefined;
    }
    state.trace = [];
    state.chain = [];
    state.redirect = undefined;
    const chain = state.chain;
    const pinned = this.pin();
    const t0 = clock();
    let retval: number;
    try {
      chain.push(prog.name);
      retval = this.iterate(prog.compiled, repeat, isTc ? skb.ctx.hi : xdp.ctx.hi, isTc);
    } finally {
      unpinRuntime(pinned);
      this.releaseValueRegions();
      for (const r of state.records) memory.unmap(r);
      state.records.length = 0;
    }
    const fault = this.fault;
    const total = clock() - t0;
    // A fault stops the loop: the mean is over the runs made.
    const runs = fault === undefined ? repeat : this.runsMade;
    const result: RunResult = {
      retval,
      dataOut: isTc ? skb.output() : xdp.output(),
      durationNs: Number(total / BigInt(runs)),
      trace: state.trace,
      chain: chain.slice(),
      tier: this.tierOf(prog),
    };
    if (prepareNs !== undefined) result.prepareNs = prepareNs;
    const ctxOut = isTc ? skb.ctxOut() : undefined;
    if (ctxOut !== undefined) result.ctxOut = ctxOut;
    if (state.redirect !== undefined) result.redirect = state.redirect;
    if (fault !== undefined) result.fault = fault;
    if (fault !== undefined && repeat > 1) result.runs = runs;
    return result;
  }

  /** Unmaps the map value regions a run mapped. */
  private releaseValueRegions(): void {
    const { state, memory } = this.space;
    for (const r of state.regions) memory.unmap(r);
    state.regions.length = 0;
    state.valueRegions.clear();
  }

  /**
   * The iterations of {@link runSync}, on the packet laid out: a small function of its own, which
   * the JS engine optimises as a whole. Stops at the first fault.
   */
  private iterate(code: Program, repeat: number, ctxHi: number, isTc: boolean): number {
    const { interpreter: vm, state, memory } = this.space;
    const chain = state.chain;
    const records = state.records;
    const regions = state.regions;
    const L = vm.lo;
    const H = vm.hi;
    const ctxLo = REGION_LO_BASE | 0;
    // The wasm tier repeats runs inside WebAssembly, back here only when a run needs JavaScript.
    const wasm = repeat > 1 && isWasm(code);
    let retval = 0;
    this.fault = undefined;
    for (let i = 0; i < repeat; i++) {
      while (chain.length > 1) chain.pop(); // cheaper than setting length
      // Registers start as the kernel leaves them for a verified program: r1 = ctx, the rest
      // zero (the verifier forbids reading them), r10 set by exec.
      L[1] = ctxLo;
      H[1] = ctxHi;
      try {
        if (wasm) i += execFreshMany(vm, code, repeat - i, chain, this.begun) - 1;
        else vm.execFresh(code);
        retval = (L[0] as number) >>> 0;
      } catch (e) {
        if (faultCode(e) === undefined) throw e;
        this.fault = e as VmFault;
        // The wasm tier's repeat loop made begun[0] runs, the last one the faulting one.
        this.runsMade = i + (wasm ? (this.begun[0] as number) : 1);
        return isTc ? TcAction.SHOT : XdpAction.ABORTED;
      }
      if (records.length > 0) {
        for (const r of records) memory.unmap(r);
        records.length = 0;
      }
      // No pointer outlives an iteration (registers restart, the verifier forbids reading
      // stack a run did not write), so when iterations keep meeting new map values (inserted
      // and deleted elements) their regions go before the region table fills up and faults.
      if (regions.length > MAX_RUN_VALUE_REGIONS) this.releaseValueRegions();
    }
    return retval;
  }

  /** The fault that ended the last {@link iterate}, if one did. */
  private fault: VmFault | undefined;
  /** Runs the last {@link iterate} made when a fault ended it, the faulting one included. */
  private runsMade = 0;
  /** Where the wasm tier's repeat loop leaves how many runs it began (see execFreshMany). */
  private readonly begun = new Int32Array(1);

  /** @internal Runs `prog` once on each packet; see {@link VmProgram.runBatch}. */
  runBatchSync(
    prog: VmProgram,
    packets: readonly Uint8Array[] | PacketBatch,
    opts: BatchRunOptions,
  ): BatchResult {
    this.checkRunnable(prog);
    if (prog.spec.type !== ProgType.xdp) {
      throw new NotSupportedError(
        `runBatch runs XDP programs; ${prog.name} is a ${prog.spec.typeName} program`,
        {
          program: prog.name,
          hint: "run each packet with run()",
        },
      );
    }
    const clock = this.options.clock;
    const prepareNs = this.prepare();
    const { state, xdp } = this.space;
    const packed = isPacketBatch(packets) ? packets : undefined;
    const list = packed === undefined ? (packets as readonly Uint8Array[]) : undefined;
    const n = packed === undefined ? (list as readonly Uint8Array[]).length : packed.count;
    const retvals = opts.retvals ?? new Uint32Array(n);
    if (retvals.length < n) {
      throw new UsageError(`retvals holds ${retvals.length} verdicts, the batch has ${n} packets`);
    }
    const ifindex = opts.ingressIfindex ?? 1;
    const rxq = opts.rxQueueIndex ?? 0;
    const onPacket = opts.onPacket;
    state.trace = [];
    state.chain = [prog.name];
    state.skb = undefined;
    const chain = state.chain;
    // Before the view: getting a wasm memory moves the XDP page.
    const pinned = this.pin();
    const view: BatchPacket = {
      bytes: xdp.page,
      start: 0,
      end: 0,
      frags: xdp.frags,
      chain,
      redirect: undefined,
      fault: undefined,
    };
    let faults = 0;
    const t0 = clock();
    try {
      for (let i = 0; i < n; i++) {
        if (packed === undefined) xdp.reset((list as readonly Uint8Array[])[i] as Uint8Array, ifindex, rxq);
        else
          xdp.resetFrom(packed.bytes, packed.offsets[i] as number, packed.lengths[i] as number, ifindex, rxq);
        state.redirect = undefined;
        const retval = this.iterate(prog.compiled, 1, xdp.ctx.hi, false);
        retvals[i] = retval;
        if (this.fault !== undefined) faults++;
        if (onPacket !== undefined) {
          view.start = xdp.meta;
          view.end = xdp.end;
          view.frags = xdp.frags;
          view.redirect = state.redirect;
          view.fault = this.fault;
          onPacket(i, retval, view);
        }
        // Value regions stay mapped across packets (a lookup of the same value costs nothing)
        // until there are many of them; iterate releases them then.
      }
    } finally {
      unpinRuntime(pinned);
      this.releaseValueRegions();
    }
    const durationNs = Number(clock() - t0);
    return {
      packets: n,
      retvals,
      faults,
      durationNs,
      prepareNs,
      trace: state.trace,
      tier: this.tierOf(prog),
    };
  }

  /** Refuses a run on a closed collection or of a program the VM cannot run. */
  private checkRunnable(prog: VmProgram): void {
    if (this.closed) throw new LoadError("the collection is closed", { program: prog.name });
    if (!RUNNABLE.has(prog.spec.type)) {
      throw new NotSupportedError(
        `the VM runs XDP and tc programs; ${prog.name} is a ${prog.spec.typeName} program`,
        {
          program: prog.name,
          hint: "run it with --backend kernel",
        },
      );
    }
  }

  /** @internal For helpers. */
  currentState(): RunState {
    return this.space.state;
  }
}

/** A fault's instruction as llvm-objdump prints it (calls naming their callee) and its C line. */
function describeInsn(p: ProgramSpec): (insn: number) => { text?: string; sourceLine?: string } {
  const calleeFor = calleeNamer(p);
  return (i) => {
    const insn = p.instructions[i];
    const out: { text?: string; sourceLine?: string } = {};
    if (insn !== undefined) out.text = disassemble(insn, i, { calleeFor });
    const src = sourceLocationAt(p.lineInfo, i);
    if (src !== undefined) out.sourceLine = `${src.text} (${formatSourceLocation(src)})`;
    return out;
  };
}

/**
 * Loads `spec` into the built-in VM: maps in memory with the kernel's semantics, programs
 * validated and pre-decoded, global data and map references resolved, static prog-array slots
 * filled. Same contract as the kernel backend.
 */
export function loadVmCollection(
  spec: CollectionSpec,
  opts: Partial<VmCollectionOptions> = {},
): VmCollection {
  const options: VmCollectionOptions = { ...DEFAULTS, possibleCpus: hostPossibleCpus(), ...opts };
  // A perf event array without max_entries gets a slot per CPU, as libbpf (and the kernel engine) size it.
  spec = sizePerfEventArrays(spec, options.possibleCpus);
  const fileCtx: ErrorContext = spec.file === undefined ? {} : { file: spec.file };
  if (spec.byteOrder !== "little") {
    throw new NotSupportedError("the VM runs little-endian objects; this one is big-endian", {
      ...fileCtx,
      hint: "build it with -target bpfel (or bpf on a little-endian host)",
    });
  }
  const coll = new VmCollection(spec, options);

  const vmMaps: Record<string, VmMapBase> = {};
  for (const m of Object.values(spec.maps)) {
    try {
      vmMaps[m.name] = createVmMap(m, { possibleCpus: options.possibleCpus, littleEndian: true });
    } catch (e) {
      throw wrapLoad(e, `map ${m.name}`, { ...fileCtx, map: m.name });
    }
    coll.maps[m.name] = vmMaps[m.name] as VmMapBase;
  }
  // Maps of maps: fill static `.values` with their inner maps.
  for (const m of Object.values(spec.maps)) {
    if (m.type !== MapType.array_of_maps && m.type !== MapType.hash_of_maps) continue;
    for (const slot of m.contents) {
      const inner = vmMaps[slot.value];
      if (inner === undefined)
        throw new LoadError(`map ${m.name}[${slot.key}]: no map named ${slot.value}`, fileCtx);
      (vmMaps[m.name] as unknown as FdArrayMap<BpfMap> | HashOfMaps).set(slot.key, inner);
    }
  }
  // Read-only global data is frozen once filled, as libbpf does for .rodata.
  for (const m of Object.values(spec.maps)) if (m.readOnly) vmMaps[m.name]?.freeze();
  if (options.tier === "compiled" || options.tier === "wasm")
    adoptForWasm(coll.space.interpreter, coll.space.xdp, Object.values(vmMaps));

  // Global data values are addressed directly by the instructions, so their regions live as long
  // as the collection.
  const globalAddress = new Map<string, bigint>();
  const globalBase = (m: MapSpec): bigint => {
    let a = globalAddress.get(m.name);
    if (a === undefined) {
      const vm = vmMaps[m.name] as VmMapBase;
      const ref = vm.lookupForProgram(new Uint8Array(4), options.cpu);
      if (ref === undefined)
        throw new LoadError(`global data ${m.name} has no value`, { ...fileCtx, map: m.name });
      const r = coll.memory.map(ref.bytes, {
        writable: !vm.readOnlyForProgram,
        name: `global data ${m.name}`,
        start: ref.offset,
        end: ref.offset + ref.size,
        owner: vm,
      });
      a = r.address(ref.offset);
      globalAddress.set(m.name, a);
    }
    return a;
  };

  const helpers = createHelpers({
    state: () => coll.currentState(),
    programFor: (p) => {
      if (!(p instanceof VmProgram) || p.compiled === undefined) return undefined;
      // Its lddw addresses point into its own space's memory: run here, it would read whatever
      // this space has at those addresses. The kernel would run it; say how to get that.
      if (!p.livesIn(coll.space)) {
        throw vmFault(
          "helper",
          `tail call into ${p.name}, a program of a VM collection in another address space`,
          {
            hint: "load collections that tail-call each other into one space (a pipeline does; or pass the same vm.space to each load)",
          },
        );
      }
      return p.compiled;
    },
    random: prng(options.seed),
    now: options.now,
  });

  for (const p of Object.values(spec.programs)) {
    // A `?` section's program is loaded only when asked for (autoload set), as by libbpf.
    if (p.autoload === false) continue;
    const prog = new VmProgram(p, coll);
    // skb programs' legacy packet loads become helper calls, as the kernel's verifier makes them.
    const code = p.type === ProgType.xdp ? p : rewriteLegacyLoads(p);
    const refs = new Map(code.references.map((r) => [r.insn, r]));
    const pctx = { ...fileCtx, section: p.section, program: p.name };
    try {
      prog.compiled = loadProgram(code.instructions, {
        name: p.name,
        helpers,
        describe: describeInsn(code),
        resolveLddw: (insn, src) => {
          const ref = refs.get(insn);
          const m = ref === undefined ? undefined : spec.maps[ref.map];
          if (ref === undefined || m === undefined) {
            throw new VerifierError(`lddw with pseudo source ${src} refers to no map`, { ...pctx, insn });
          }
          if (src === PseudoLd.MAP_VALUE || ref.kind === "map_value")
            return globalBase(m) + BigInt(ref.offset);
          return mapPointer((vmMaps[m.name] as VmMapBase).handle);
        },
      });
      compileFor(prog.compiled, options.tier);
    } catch (e) {
      throw wrapLoad(e, `program ${p.name}`, pctx);
    }
    coll.programs[p.name] = prog;
    // A prog array takes the type of the first program that uses it, as in the kernel.
    for (const r of p.references) {
      const m = vmMaps[r.map];
      if (m instanceof ProgArrayMap && !m.claimOwner(prog)) {
        throw new LoadError(
          `program ${p.name} uses prog array ${r.map}, which holds programs of another type`,
          pctx,
        );
      }
    }
  }
  applyWiring(coll, staticSlots(spec));
  // Counted once loaded: a load that failed is never closed.
  coll.space.open++;
  return coll;
}

/** Gives a load failure the file, map or program it happened in; a foreign error becomes a LoadError. */
function wrapLoad(e: unknown, what: string, ctx: ErrorContext): unknown {
  if (isTsbpfError(e)) return e.withContext(ctx);
  return new LoadError(`${what}: ${(e as Error)?.message ?? String(e)}`, { ...ctx, cause: e });
}

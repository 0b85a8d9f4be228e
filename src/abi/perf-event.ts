/**
 * The perf event ABI a perf event array reader needs (include/uapi/linux/perf_event.h), and the
 * memory-mapping and epoll numbers both event readers use (include/uapi/asm-generic/mman.h,
 * include/uapi/linux/eventpoll.h). Only the kernel engine sends these; the VM's perf event array
 * writes the same record layout so both engines' readers parse one format.
 */

/** `perf_event_attr.type` for software events. */
export const PERF_TYPE_SOFTWARE = 1;
/** `perf_event_attr.config` of the event `bpf_perf_event_output` writes into. */
export const PERF_COUNT_SW_BPF_OUTPUT = 10;
/** `perf_event_attr.sample_type` bit: samples carry the raw bytes the program gave. */
export const PERF_SAMPLE_RAW = 1 << 10;
/** Size of `struct perf_event_attr` (PERF_ATTR_SIZE_VER8) sent to `perf_event_open`. */
export const PERF_ATTR_SIZE = 136;
/** Byte offsets of the `perf_event_attr` fields the reader sets. */
export const PerfAttrOffset = {
  type: 0,
  size: 4,
  config: 8,
  samplePeriod: 16,
  sampleType: 24,
  /** The flags bitfield word (disabled, inherit, ..., watermark is bit 14). */
  flags: 40,
  wakeupEvents: 48,
} as const;
/** `perf_event_attr` flag bit: wake up after `wakeup_watermark` bytes rather than events. */
export const PERF_ATTR_FLAG_WATERMARK = 1n << 14n;
/** `perf_event_open` flag: the new fd is close-on-exec. */
export const PERF_FLAG_FD_CLOEXEC = 8;
/** `ioctl` request `PERF_EVENT_IOC_ENABLE` (`_IO('$', 0)`). */
export const PERF_EVENT_IOC_ENABLE = 0x2400;
/** `ioctl` request `PERF_EVENT_IOC_DISABLE` (`_IO('$', 1)`). */
export const PERF_EVENT_IOC_DISABLE = 0x2401;

/** Byte offsets in `struct perf_event_mmap_page` (the first page of a perf buffer). */
export const PerfMmapPage = {
  /** u64 producer position, written by the kernel (read with acquire). */
  dataHead: 1024,
  /** u64 consumer position, written by user space (written with release). */
  dataTail: 1032,
  /** u64 where the data area starts (one page in). */
  dataOffset: 1040,
  /** u64 bytes of the data area. */
  dataSize: 1048,
} as const;

/** `perf_event_header.type` values a perf event array's buffer holds. */
export const PerfRecordType = {
  /** `PERF_RECORD_LOST`: { id u64, lost u64 } — samples the kernel dropped for lack of room. */
  LOST: 2,
  /** `PERF_RECORD_SAMPLE`: with PERF_SAMPLE_RAW, { size u32, data[size] }. */
  SAMPLE: 9,
} as const;
/** Size of `struct perf_event_header`: u32 type, u16 misc, u16 size. */
export const PERF_EVENT_HEADER_SZ = 8;

/** `BPF_F_INDEX_MASK`: the low 32 bits of `bpf_perf_event_output`'s flags pick the CPU's slot. */
export const BPF_F_INDEX_MASK = 0xffffffffn;
/** `BPF_F_CURRENT_CPU`: the slot of the CPU the program runs on. */
export const BPF_F_CURRENT_CPU = 0xffffffffn;
/** `BPF_F_CTXLEN_MASK`: bits 32..51 of the flags give how many packet bytes to append. */
export const BPF_F_CTXLEN_MASK = 0xfffffn << 32n;

/** `mmap` protections and flags. */
export const Mmap = { PROT_READ: 1, PROT_WRITE: 2, MAP_SHARED: 1 } as const;
/** epoll: `EPOLLIN`, `EPOLL_CTL_ADD`, `EPOLL_CLOEXEC`, and `EFD_CLOEXEC` for the wake-up eventfd. */
export const Epoll = { IN: 1, CTL_ADD: 1, CLOEXEC: 0o2000000, EFD_CLOEXEC: 0o2000000 } as const;

/** One parsed line of /sys/kernel/tracing/trace_pipe. */
export interface TraceLine {
  /** The task (comm) that was running; may contain spaces and dashes, `<idle>` for the idle task. */
  task: string;
  pid: number;
  /** The thread-group id, when the `record-tgid` trace option added a `(tgid)` column. */
  tgid?: number;
  cpu: number;
  /** The irqs-off/need-resched/softirq/preempt-depth/migrate-disable column, such as `b..11`. */
  flags: string;
  /** Seconds since boot on the trace clock. */
  timestamp: number;
  /** The event, `bpf_trace_printk` for BPF printk lines. */
  fn: string;
  /** Everything after `fn: `, exactly as the kernel wrote it (the line's newline removed). */
  message: string;
}

// Greedy task capture backtracks to the LAST "-<pid> [cpu]", so tasks like "kworker/u8:2-ev 1" parse.
const LINE =
  /^\s*(.*\S|)-(\d+)\s+(?:\(\s*(\d+|-+)\)\s+)?\[(\d+)\]\s+(?:([^\s\d][^\s]*|[.\dA-Za-z]{4,6})\s+)?(\d+\.\d+):\s+([^\s:]+):(?: (.*)|)$/s;

/**
 * Parses a trace_pipe line such as
 * `<idle>-0       [003] ..s2.  8853.538349: bpf_trace_printk: Packet to port 8080 processed`;
 * undefined for headers, continuation lines of multi-line messages, and anything else.
 */
export function parseTraceLine(line: string): TraceLine | undefined {
  const text = line.endsWith("\n") ? line.slice(0, -1) : line;
  const m = LINE.exec(text);
  if (!m) return undefined;
  const [, task, pid, tgid, cpu, flags, ts, fn, message] = m;
  if (task === undefined || pid === undefined || cpu === undefined || ts === undefined || fn === undefined) {
    return undefined;
  }
  const out: TraceLine = {
    task,
    pid: Number(pid),
    cpu: Number(cpu),
    flags: flags ?? "",
    timestamp: Number(ts),
    fn,
    message: message ?? "",
  };
  if (tgid !== undefined && /^\d+$/.test(tgid)) out.tgid = Number(tgid);
  return out;
}

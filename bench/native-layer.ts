/**
 * What the tsbpf loader benchmarks do before their clock starts for open, so that "import" holds
 * the kernel engine's native layer (koffi's binary, libc and the `syscall()` binding), as the C
 * loaders have libbpf and libc mapped and bound by the dynamic linker before main(). No bpf()
 * call is made: the engine's first call, and the native memory it makes for it, stay in the timed
 * phases, as libbpf's first calls are in the C loader's.
 */
import type { kernel as Kernel } from "tsbpf";

/** Loads tsbpf's native layer through `kernel` (the namespace the loader imported). */
export function loadNativeLayer(kernel: typeof Kernel): void {
  kernel.loadNativeLayer();
}

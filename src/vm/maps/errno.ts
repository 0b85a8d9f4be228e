/**
 * A map rule the VM enforces failed: the kernel's errno and the VM's exact reason. Thrown inside
 * map code and turned, at its edge, into the MapError user space sees or the negative errno a
 * helper returns to a program.
 */
export class MapFailure {
  constructor(
    readonly errno: number,
    readonly why?: string,
  ) {}
}

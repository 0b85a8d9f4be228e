/** Size of one `struct bpf_func_info` record as BPF_PROG_LOAD takes it. */
export const FUNC_INFO_REC_SIZE = 8;
/** Size of one `struct bpf_line_info` record as BPF_PROG_LOAD takes it. */
export const LINE_INFO_REC_SIZE = 16;

/**
 * Encodes func_info for BPF_PROG_LOAD (`func_info`, rec size {@link FUNC_INFO_REC_SIZE}); `insn` is
 * an instruction index in the linked program, as the kernel wants (not a byte offset). The kernel
 * reads the records in its own byte order: pass the host's. The only encoder of these records.
 */
export function marshalFuncInfo(
  records: readonly { insn: number; typeId: number }[],
  littleEndian = true,
): Uint8Array {
  const out = new Uint8Array(records.length * FUNC_INFO_REC_SIZE);
  const dv = new DataView(out.buffer);
  records.forEach((r, i) => {
    dv.setUint32(i * FUNC_INFO_REC_SIZE, r.insn, littleEndian);
    dv.setUint32(i * FUNC_INFO_REC_SIZE + 4, r.typeId, littleEndian);
  });
  return out;
}

/**
 * Encodes line_info for BPF_PROG_LOAD (rec size {@link LINE_INFO_REC_SIZE}): insn_off, file_name_off,
 * line_off, line_col = line << 10 | column, in the host's byte order like func_info. String offsets
 * refer to the BTF string section, which marshalBtf keeps unchanged.
 */
export function marshalLineInfo(
  records: readonly {
    insn: number;
    fileNameOff: number;
    lineOff: number;
    lineNumber: number;
    column: number;
  }[],
  littleEndian = true,
): Uint8Array {
  const out = new Uint8Array(records.length * LINE_INFO_REC_SIZE);
  const dv = new DataView(out.buffer);
  records.forEach((r, i) => {
    const o = i * LINE_INFO_REC_SIZE;
    dv.setUint32(o, r.insn, littleEndian);
    dv.setUint32(o + 4, r.fileNameOff, littleEndian);
    dv.setUint32(o + 8, r.lineOff, littleEndian);
    dv.setUint32(o + 12, ((r.lineNumber << 10) | (r.column & 0x3ff)) >>> 0, littleEndian);
  });
  return out;
}

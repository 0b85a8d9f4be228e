export * from "./printk.js";
export * from "./trace-line.js";
export * from "./trace-pipe.js";

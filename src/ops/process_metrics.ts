/**
 * The process metrics Prometheus expects of every exporter, under the names its client
 * libraries use (prom-client, client_golang): open and maximum file descriptors, CPU time and
 * start time. They are read from the OS at scrape time, so they cost the hot path nothing.
 *
 * File descriptors are read on Linux only, through libc: Deno lets a program read
 * `/proc/self` only with `--allow-all`, but the gateway's permission set has `ffi` (for the
 * QUIC engines), and libc's `getrlimit`, `stat` and `readdir` need no file permission. Without
 * FFI (another OS, or an embedding program without the permission) those two metrics are left
 * out, as prom-client leaves them out off Linux.
 *
 * @module
 */
import process from "node:process";

/** The process's figures at one scrape. */
export interface ProcessStats {
  /** Open file descriptors (Linux only). */
  openFds?: number;
  /** The soft limit on open file descriptors, `ulimit -n` (Linux only). */
  maxFds?: number;
  /** User plus system CPU time, in seconds. */
  cpuSeconds: number;
  /** When the process started, in seconds since the epoch. */
  startTimeSeconds: number;
}

const LIBC_SYMBOLS = {
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  // glibc exports `stat` since 2.33; older ones only `__xstat`, so it is optional.
  stat: { parameters: ["buffer", "buffer"], result: "i32", optional: true },
  opendir: { parameters: ["buffer"], result: "pointer" },
  readdir: { parameters: ["pointer"], result: "pointer" },
  closedir: { parameters: ["pointer"], result: "i32" },
} as const;

/** `RLIMIT_NOFILE` on Linux (x86_64 and aarch64). */
const RLIMIT_NOFILE = 7;
/** Byte offset of `st_size` in Linux's `struct stat` on x86_64 and on aarch64 alike. */
const ST_SIZE_OFFSET = 48;
/** `sizeof(struct stat)` is 144 on x86_64 and 128 on aarch64; room for either. */
const STAT_BYTES = 256;
const FD_DIR = new TextEncoder().encode("/proc/self/fd\0");

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

// Opened on first use and kept for the life of the process, like libc itself: opening it
// costs about 0.7 ms, too much to repeat on every scrape.
let libc: Libc | null | undefined;

function openLibc(): Libc | null {
  if (libc !== undefined) return libc;
  try {
    libc = Deno.build.os === "linux" ? Deno.dlopen("libc.so.6", LIBC_SYMBOLS).symbols : null;
  } catch {
    libc = null;
  }
  return libc;
}

/**
 * Open file descriptors, or undefined where they cannot be read. Since Linux 6.2 the size of
 * `/proc/self/fd` is the count, which the kernel reads off its descriptor bitmap: 0.03 ms at
 * 19,000 descriptors. Older kernels report 0; then the entries are counted, which took 47 ms at
 * 19,000, so it is only the fallback; `countEntries` forces it.
 */
export function readOpenFds(countEntries = false): number | undefined {
  const c = openLibc();
  if (!c) return undefined;
  if (c.stat && !countEntries) {
    const stat = new DataView(new ArrayBuffer(STAT_BYTES));
    if (c.stat(FD_DIR, stat) === 0) {
      const size = Number(stat.getBigUint64(ST_SIZE_OFFSET, true));
      if (size > 0) return size;
    }
  }
  const dir = c.opendir(FD_DIR);
  if (dir === null) return undefined;
  let entries = 0;
  try {
    while (c.readdir(dir) !== null) entries++;
  } finally {
    c.closedir(dir);
  }
  // Not counted: `.`, `..` and the descriptor the listing itself holds.
  return entries - 3;
}

/** The soft open-files limit (`ulimit -n`), or undefined where unknown or unlimited. */
export function readMaxFds(): number | undefined {
  const c = openLibc();
  if (!c) return undefined;
  const limit = new BigUint64Array(2);
  if (c.getrlimit(RLIMIT_NOFILE, limit) !== 0) return undefined;
  // RLIM_INFINITY is all ones.
  return limit[0] === 0xffff_ffff_ffff_ffffn ? undefined : Number(limit[0]);
}

/** Reads every process figure now. */
export function readProcessStats(): ProcessStats {
  const cpu = process.cpuUsage();
  return {
    openFds: readOpenFds(),
    maxFds: readMaxFds(),
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    // The time origin is set as Deno starts the runtime: 12 to 14 ms after the kernel's start
    // time for `deno run main.ts` (three runs), the precision of that clock (10 ms ticks).
    startTimeSeconds: performance.timeOrigin / 1000,
  };
}

/** The process metrics in Prometheus text format, one line each (HELP and TYPE included). */
export function renderProcessMetrics(stats: ProcessStats = readProcessStats()): string[] {
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string, value: number | undefined) => {
    if (value === undefined) return;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
  };
  metric("process_open_fds", "gauge", "Number of open file descriptors.", stats.openFds);
  metric("process_max_fds", "gauge", "Maximum number of open file descriptors.", stats.maxFds);
  metric(
    "process_cpu_seconds_total",
    "counter",
    "Total user and system CPU time spent in seconds.",
    stats.cpuSeconds,
  );
  metric(
    "process_start_time_seconds",
    "gauge",
    "Start time of the process since unix epoch in seconds.",
    stats.startTimeSeconds,
  );
  return lines;
}

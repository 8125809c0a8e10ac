// CPU time of another process, from /proc (Linux), for the benchmarks that measure a
// server they start.
import { readFileSync } from 'node:fs';

export const TICKS_PER_SECOND = 100;

/** User + system CPU ticks the process has used so far. */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

export function cpuAvailable(): boolean {
  try {
    cpuTicks(process.pid);
    return true;
  } catch {
    return false;
  }
}

/**
 * CPU time of the calling thread, µs: wall-clock figures on a busy machine include
 * time the thread was not running. Node 22 lacks threadCpuUsage; the process's CPU
 * time stands in (it adds the GC's helper threads).
 */
export const threadCpu: () => number = typeof process.threadCpuUsage === 'function'
  ? () => {
    const { user, system } = process.threadCpuUsage();
    return user + system;
  }
  : () => {
    const { user, system } = process.cpuUsage();
    return user + system;
  };

/** Whether threadCpu is this thread's alone (else the whole process's). */
export const threadCpuMeasured = typeof process.threadCpuUsage === 'function';

/** The machine a stage ran on, as written into result rows (load studies compare machines in SQL). */
import os from 'node:os';
import type { MachineInfo } from '../core/types';
import { onnxruntimeVersion } from './session';

export function machineInfo(): MachineInfo {
  return {
    host: os.hostname(),
    cores: os.availableParallelism(),
    memoryTotalMb: Math.round(os.totalmem() / 2 ** 20),
    memoryFreeMb: Math.round(os.freemem() / 2 ** 20),
    platform: `${os.platform()}-${os.arch()}`,
    osRelease: os.release(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    nodeVersion: process.version,
    onnxruntimeVersion: onnxruntimeVersion(),
  };
}

import { UsageError } from '../errors.js';

/** `--addr HOST:PORT` of krill's own servers (`listen`, `serve`): `[::1]:8080`, `0.0.0.0:5050`. Pure. */
export function parseListenAddress(addr: string, example: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(addr);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new UsageError(`invalid --addr "${addr}": expected HOST:PORT, such as ${example}`);
  return { host: match[1] ?? match[2]!, port };
}

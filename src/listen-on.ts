import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Listens on host:port (port 0: any free port) and resolves with the bound address, or the listen
 * error. For krill's own servers (`listen`, `serve`): no registry, engine or state here, so both
 * the ledger and the web client may use it.
 */
export function listenOn(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

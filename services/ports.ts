import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { ServiceError } from '../core/errors.js';

/** All local services listen on loopback only: nothing is exposed to the network. */
export const HOST = '127.0.0.1';

/** A port the OS considers free right now (it may be taken again before the service binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

/**
 * A free port below the OS's ephemeral range, for a service that stops and starts again on the
 * same port: the OS never hands such a port out for `listen(0)` or an outgoing connection, so
 * another process cannot take it while the service is down.
 */
export async function freeStablePort(): Promise<number> {
  const low = ephemeralLow();
  for (let tries = 0; tries < 100; tries++) {
    const port = 10_000 + Math.floor(Math.random() * (low - 10_000));
    if (await portIsFree(port)) return port;
  }
  throw new ServiceError(`no free port between 10000 and ${low}`);
}

/** The lowest port the OS picks by itself (Linux: /proc/sys/net/ipv4/ip_local_port_range). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 11_000) return low;
  } catch {
    // Not Linux: IANA's dynamic range starts at 49152.
  }
  return 49_152;
}

/** True when nothing listens on HOST:port (binding succeeds). */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: HOST, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Fails before anything starts when a port the user chose is taken, naming the flag to change it. */
export async function assertPortFree(port: number, flag: string): Promise<void> {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new ServiceError(`port ${port} is not a valid TCP port`, {
      hint: `choose a port between 1 and 65535 with ${flag}`,
    });
  }
  if (!(await portIsFree(port))) {
    throw new ServiceError(`port ${port} is in use; choose another with ${flag} or stop what uses it`);
  }
}

/** A port chosen by the user (checked) or by the OS. */
export async function choosePort(requested: number | undefined, flag: string): Promise<number> {
  if (requested === undefined) return freePort();
  await assertPortFree(requested, flag);
  return requested;
}

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { freePort, freeStablePort, portIsFree } from '../../services/ports.js';

describe('freeStablePort', () => {
  it('gives a free port below the range the OS hands out by itself', async () => {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0]);
    const ephemeral = await freePort();
    expect(ephemeral).toBeGreaterThanOrEqual(low);
    for (let i = 0; i < 20; i++) {
      const port = await freeStablePort();
      expect(port).toBeGreaterThanOrEqual(10_000);
      expect(port).toBeLessThan(low);
      expect(await portIsFree(port)).toBe(true);
    }
  });
});

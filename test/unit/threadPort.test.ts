import { availableParallelism } from 'node:os';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type ConfigInput } from '../../core/config.js';
import { ConfigError, isRetriable, PipelineError, SinkError, storageCondition } from '../../core/errors.js';
import { Moved, ThreadPort, type Handler } from '../../streams/threadPort.js';
import { streamThreadCount, sumStats } from '../../topology/streamThreads.js';
import { emptyStats, type TopologyStats } from '../../topology/topology.js';

/** A promise and the function that resolves it, for handlers the test lets answer when it wants. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** An error as chDB throws it (a ChdbQueryError: `code` 'CHDB_QUERY', the engine's `clickhouseCode`). */
function chdbError(message: string, clickhouseCode: number): Error {
  const error = new Error(message) as Error & { code?: string; clickhouseCode?: number };
  error.name = 'ChdbQueryError';
  error.code = 'CHDB_QUERY';
  error.clickhouseCode = clickhouseCode;
  return error;
}

/** What the pipeline decides from an error: the storage condition it waits out, and whether to retry. */
function classified(error: unknown): [ReturnType<typeof storageCondition>, boolean] {
  return [storageCondition(error), isRetriable(error)];
}

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error('expected the call to reject');
}

const open: MessagePort[] = [];
// An open port keeps the process alive: every test's ports are closed after it.
afterEach(() => {
  for (const port of open.splice(0)) port.close();
});

/** Two ThreadPorts on the two ends of one MessageChannel (both in this thread). */
function channel(
  handlersA: Record<string, Handler> = {},
  handlersB: Record<string, Handler> = {},
  onNoteB?: (name: string, value: unknown) => void,
): { a: ThreadPort; b: ThreadPort; portA: MessagePort; portB: MessagePort } {
  const { port1, port2 } = new MessageChannel();
  open.push(port1, port2);
  return {
    a: new ThreadPort(port1, handlersA),
    b: new ThreadPort(port2, handlersB, onNoteB),
    portA: port1,
    portB: port2,
  };
}

describe('ThreadPort over a MessageChannel', () => {
  it("resolves a call with the other side's answer, structured values and all, both ways", async () => {
    const { a, b } = channel(
      { twice: (n: number) => 2 * n },
      {
        echo: (...args: unknown[]) => args,
        nothing: () => undefined,
        askBack: async (n: number) => `back: ${await b.call<number>('twice', [n])}`,
      },
    );
    const values = [
      1,
      'two',
      { three: [3, { four: null }] },
      new Map([['k', new Set([1, 2])]]),
      new Date(0),
      10n,
      new Uint8Array([1, 2, 3]),
      undefined,
    ];
    expect(await a.call('echo', values)).toEqual(values);
    expect(await a.call('echo')).toEqual([]);
    await expect(a.call('nothing')).resolves.toBeUndefined();
    // B answers A by calling A over the same channel first.
    expect(await a.call('askBack', [21])).toBe('back: 42');
  });

  it('matches answers to their calls when they come back out of order', async () => {
    const slow = deferred<string>();
    const { a } = channel({}, { slow: () => slow.promise, echo: (v: unknown) => v });
    const first = a.call<string>('slow');
    const second = a.call<string>('echo', ['second']);
    expect(await second).toBe('second');
    slow.resolve('first');
    expect(await first).toBe('first');
  });

  it('rejects with the error a handler throws, synchronously or asynchronously', async () => {
    const { a } = channel(
      {},
      {
        sync: () => {
          throw new TypeError('bad input');
        },
        async: async () => {
          await new Promise((resolve) => setImmediate(resolve));
          throw new RangeError('out of range, later');
        },
        rejected: () => Promise.reject(new Error('a rejected promise')),
        notAnError: () => {
          throw 'a bare string';
        },
      },
    );
    const sync = await rejection(a.call('sync'));
    expect(sync).toBeInstanceOf(Error);
    expect([sync.name, sync.message]).toEqual(['TypeError', 'bad input']);
    // The stack is the thrower's (a TypeError's), not that of the Error rebuilt on this side.
    expect(sync.stack?.split('\n')[0]).toBe('TypeError: bad input');
    expect(sync.stack).not.toContain('at received');
    const async = await rejection(a.call('async'));
    expect([async.name, async.message]).toEqual(['RangeError', 'out of range, later']);
    await expect(a.call('rejected')).rejects.toThrow('a rejected promise');
    const bare = await rejection(a.call('notAnError'));
    expect([bare.name, bare.message]).toEqual(['Error', 'a bare string']);
  });

  it('rejects a call of a method the other side has no handler for, naming it', async () => {
    const { a } = channel({}, { echo: (v: unknown) => v });
    await expect(a.call('clickhouse.nope', [1])).rejects.toThrow(
      'no handler for clickhouse.nope on this thread',
    );
    // The port still answers afterwards.
    expect(await a.call('echo', ['still here'])).toBe('still here');
  });

  it("rebuilds the project's errors as their classes (the CLI tells them apart by instanceof), hint and cause kept", async () => {
    const { a } = channel(
      {},
      {
        bad: () => {
          throw new ConfigError('repartition topic has 1 partition', {
            hint: 'delete it',
            cause: new SinkError('inner', { retriable: true }),
          });
        },
      },
    );
    const error = await a.call('bad').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({
      name: 'ConfigError',
      message: 'repartition topic has 1 partition',
      hint: 'delete it',
      retriable: false,
    });
    const cause = (error as Error).cause;
    expect(cause).toBeInstanceOf(SinkError);
    expect(cause).toMatchObject({ message: 'inner', retriable: true });
  });

  it('answers with an error, instead of never, when the answer or the error cannot be cloned', async () => {
    const { a } = channel(
      {},
      {
        fn: () => ({ f: () => 1 }),
        odd: () => {
          throw Object.assign(new Error('with a function'), { hint: () => 'no', code: 'E1' });
        },
        plain: () => {
          throw { clickhouseCode: 243, message: 'Too many bytes' };
        },
      },
    );
    await expect(a.call('fn')).rejects.toThrow(/could not be cloned/);
    await expect(a.call('odd')).rejects.toMatchObject({ message: 'with a function', code: 'E1' });
    const plain = await a.call('plain').catch((e: unknown) => e);
    expect(storageCondition(plain)).toBe('disk_full');
    await expect(a.call('x', [() => 1])).rejects.toThrow(/could not be cloned/);
  });

  it('keeps what classifies an error across: storage conditions and retriability, along the cause chain', async () => {
    const errors: Record<string, Error> = {
      'chDB disk full': chdbError('Code: 243. Cannot reserve space', 243),
      // No code in the text: only the clickhouseCode field says what it is.
      'chDB too many parts, by the field only': chdbError('Too many parts in the table', 252),
      'SinkError caused by chDB disk full': new SinkError('insert into samples failed', {
        cause: chdbError('Code: 243. Cannot reserve space', 243),
        retriable: false,
        hint: 'free some disk space',
      }),
      'SinkError caused by a wrapped network error': new SinkError('insert failed', {
        cause: new Error('request failed', {
          cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' }),
        }),
      }),
      'ClickHouseError with a string code': Object.assign(new Error('Memory limit exceeded'), {
        code: '241',
      }),
      'retriable PipelineError': new PipelineError('try again', { retriable: true }),
      'SinkError no retry helps': new SinkError('syntax error in the statement', { retriable: false }),
      'kafkajs-like retriable error': Object.assign(new Error('leader not available'), {
        name: 'KafkaJSProtocolError',
        code: 5,
        retriable: true,
      }),
    };
    const { a } = channel(
      {},
      {
        fail: (which: string) => {
          throw errors[which];
        },
      },
    );
    const expected: Record<string, [ReturnType<typeof storageCondition>, boolean]> = {
      'chDB disk full': ['disk_full', true],
      'chDB too many parts, by the field only': ['too_many_parts', true],
      'SinkError caused by chDB disk full': ['disk_full', true],
      'SinkError caused by a wrapped network error': ['unreachable', true],
      'ClickHouseError with a string code': ['memory', true],
      'retriable PipelineError': [undefined, true],
      'SinkError no retry helps': [undefined, false],
      'kafkajs-like retriable error': [undefined, true],
    };
    for (const [which, original] of Object.entries(errors)) {
      const received = await rejection(a.call('fail', [which]));
      expect(classified(original), which).toEqual(expected[which]);
      expect(classified(received), which).toEqual(classified(original));
      expect([received.name, received.message], which).toEqual([original.name, original.message]);
    }

    const sink = await rejection(a.call('fail', ['SinkError caused by chDB disk full']));
    expect(sink).toMatchObject({ name: 'SinkError', retriable: false, hint: 'free some disk space' });
    expect(sink.cause).toBeInstanceOf(Error);
    expect(sink.cause).toMatchObject({
      name: 'ChdbQueryError',
      message: 'Code: 243. Cannot reserve space',
      code: 'CHDB_QUERY',
      clickhouseCode: 243,
    });
    const network = await rejection(a.call('fail', ['SinkError caused by a wrapped network error']));
    expect((network.cause as Error).cause).toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('rejects the calls still waiting, and every later one, when closed', async () => {
    const hang = deferred<string>();
    const notes: string[] = [];
    const marker = deferred();
    const { a, portA } = channel({}, { hang: () => hang.promise, echo: (v: unknown) => v }, (name) => {
      notes.push(name);
      if (name === 'marker') marker.resolve();
    });
    const waiting = a.call('hang');
    // The call reached B before A closes (B answers calls in the order they come).
    expect(await a.call('echo', [1])).toBe(1);
    const reason = new Error('stream thread 0 exited with code 1');
    a.close(reason);
    await expect(waiting).rejects.toBe(reason);
    await expect(a.call('echo', [2])).rejects.toBe(reason);
    // B's late answer finds nobody waiting, and does no harm.
    hang.resolve('too late');
    // A closed port sends no notes: B sees the marker posted after this one, and nothing before it.
    a.note('after close', null);
    portA.postMessage({ kind: 'note', name: 'marker', value: null });
    await marker.promise;
    expect(notes).toEqual(['marker']);

    const { a: other } = channel({}, { hang: () => new Promise(() => undefined) });
    const pending = other.call('hang');
    other.close();
    await expect(pending).rejects.toThrow('the thread is gone');
  });

  it("moves a handler's Moved buffers with its answer: the answering side's copy is detached", async () => {
    let kept: ArrayBuffer | undefined;
    let copied: ArrayBuffer | undefined;
    const { a } = channel(
      {},
      {
        moved: (n: number) => {
          kept = new ArrayBuffer(n);
          new Uint8Array(kept).fill(7);
          return new Moved({ block: kept, rows: n }, [kept]);
        },
        copied: (n: number) => {
          copied = new ArrayBuffer(n);
          return { block: copied, rows: n };
        },
        length: (buffer: ArrayBuffer) => buffer.byteLength,
      },
    );
    const answer = await a.call<{ block: ArrayBuffer; rows: number }>('moved', [1024]);
    expect(answer.rows).toBe(1024);
    expect(answer.block.byteLength).toBe(1024);
    expect(new Uint8Array(answer.block).every((byte) => byte === 7)).toBe(true);
    expect(kept?.byteLength).toBe(0);
    expect(() => new Uint8Array(kept as ArrayBuffer)).toThrow(TypeError);

    // Without Moved the answer is a copy: the handler's buffer stays readable.
    expect((await a.call<{ block: ArrayBuffer }>('copied', [64])).block.byteLength).toBe(64);
    expect(copied?.byteLength).toBe(64);

    // A caller's transfer list moves its arguments' buffers the other way.
    const args = new ArrayBuffer(32);
    expect(await a.call('length', [args], [args])).toBe(32);
    expect(args.byteLength).toBe(0);
    const copy = new ArrayBuffer(16);
    expect(await a.call('length', [copy])).toBe(16);
    expect(copy.byteLength).toBe(16);
  });

  it('delivers notes in the order they were sent, interleaved with calls, buffers moved', async () => {
    const notes: Array<[string, unknown]> = [];
    const all = deferred();
    const { a } = channel({}, { echo: (v: unknown) => v }, (name, value) => {
      notes.push([name, value]);
      if (name === 'last') all.resolve();
    });
    const sent: Array<[string, unknown]> = [];
    const calls: Array<Promise<unknown>> = [];
    for (let i = 0; i < 500; i++) {
      a.note('n', i);
      sent.push(['n', i]);
      if (i % 100 === 0) calls.push(a.call('echo', [i]));
    }
    const buffer = new Uint8Array([1, 2, 3]).buffer;
    a.note('block', buffer, [buffer]);
    expect(buffer.byteLength).toBe(0);
    a.note('last', null);
    await all.promise;
    expect(notes.slice(0, 500)).toEqual(sent);
    expect(notes[500]?.[0]).toBe('block');
    expect(new Uint8Array(notes[500]?.[1] as ArrayBuffer)).toEqual(new Uint8Array([1, 2, 3]));
    expect(notes[501]).toEqual(['last', null]);
    expect(await Promise.all(calls)).toEqual([0, 100, 200, 300, 400]);
  });
});

/**
 * A worker thread running streams/threadPort.ts itself, booted through tsx as
 * topology/streamWorker.js boots a stream thread; its handlers answer the tests below.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { register } = await import(workerData.tsx);
  register();
  const { ThreadPort, Moved } = await import(workerData.threadPort);
  const { SinkError } = await import(workerData.errors);
  let kept;
  const port = new ThreadPort(parentPort, {
    echo: (value) => value,
    fail: () => {
      const engine = Object.assign(new Error('Code: 243. Cannot reserve space'), {
        name: 'ChdbQueryError',
        code: 'CHDB_QUERY',
        clickhouseCode: 243,
      });
      throw new SinkError('insert into samples failed', { cause: engine, retriable: false });
    },
    failLater: async (clickhouseCode, message) => {
      await new Promise((resolve) => setImmediate(resolve));
      throw Object.assign(new Error(message), { name: 'ChdbQueryError', code: 'CHDB_QUERY', clickhouseCode });
    },
    moved: (n) => {
      kept = new ArrayBuffer(n);
      new Uint8Array(kept).fill(9);
      return new Moved({ block: kept }, [kept]);
    },
    keptLength: () => kept.byteLength,
    length: (buffer) => buffer.byteLength,
    ask: async (n) => 'thread: ' + (await port.call('twice', [n])),
    notes: (n) => {
      for (let i = 0; i < n; i++) port.note('n', i);
      return n;
    },
    hang: () => new Promise(() => undefined),
  });
  port.note('ready', null);
})();
`;

describe('ThreadPort between threads (a Worker running streams/threadPort.ts through tsx)', () => {
  let worker: Worker;
  let port: ThreadPort;
  const notes: unknown[] = [];

  beforeAll(async () => {
    worker = new Worker(WORKER, {
      eval: true,
      workerData: {
        tsx: import.meta.resolve('tsx/esm/api'),
        threadPort: new URL('../../streams/threadPort.ts', import.meta.url).href,
        errors: new URL('../../core/errors.ts', import.meta.url).href,
      },
    });
    const ready = deferred();
    port = new ThreadPort(worker, { twice: (n: number) => 2 * n }, (name, value) =>
      name === 'ready' ? ready.resolve() : notes.push(value),
    );
    // As topology/streamThreads.ts does: a thread gone rejects what still waits for it.
    worker.once('exit', (code) => port.close(new Error(`stream thread exited with code ${code}`)));
    const failed = new Promise<never>((_, reject) => worker.once('error', reject));
    await Promise.race([ready.promise, failed]);
  });
  afterAll(async () => {
    await worker.terminate();
  });

  it('calls the thread, and the thread calls back', async () => {
    const value = { rows: [1, 2, 3], labels: new Map([['job', 'api']]), at: new Date(5) };
    expect(await port.call('echo', [value])).toEqual(value);
    expect(await port.call('ask', [21])).toBe('thread: 42');
    await expect(port.call('nope')).rejects.toThrow('no handler for nope on this thread');
  });

  it("classifies the thread's storage errors as the thread would", async () => {
    const sink = await rejection(port.call('fail'));
    expect(sink).toMatchObject({
      name: 'SinkError',
      message: 'insert into samples failed',
      retriable: false,
    });
    expect(sink.cause).toMatchObject({ name: 'ChdbQueryError', code: 'CHDB_QUERY', clickhouseCode: 243 });
    expect(classified(sink)).toEqual(['disk_full', true]);
    const parts = await rejection(port.call('failLater', [252, 'Too many parts']));
    expect(classified(parts)).toEqual(['too_many_parts', true]);
  });

  it('moves buffers both ways: the sending thread can no longer read them', async () => {
    const answer = await port.call<{ block: ArrayBuffer }>('moved', [4096]);
    expect(new Uint8Array(answer.block)).toEqual(new Uint8Array(4096).fill(9));
    expect(await port.call('keptLength')).toBe(0);
    const block = new ArrayBuffer(100);
    expect(await port.call('length', [block], [block])).toBe(100);
    expect(block.byteLength).toBe(0);
  });

  it("delivers the thread's notes in order, before the answer of the call that sent them", async () => {
    notes.length = 0;
    expect(await port.call('notes', [1000])).toBe(1000);
    expect(notes).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('rejects a call still waiting when the thread exits, and every later call', async () => {
    const waiting = port.call('hang');
    expect(await port.call('echo', ['first'])).toBe('first');
    await worker.terminate();
    await expect(waiting).rejects.toThrow('stream thread exited with code 1');
    await expect(port.call('echo', ['later'])).rejects.toThrow('stream thread exited with code 1');
  });
});

describe('stream threads', () => {
  const config = (overrides: ConfigInput = {}) => loadConfig(undefined, {}, overrides);

  it('streamThreadCount: auto is one thread per core but one, at least one, at most the partitions; a number is kept', () => {
    const auto = config();
    expect(auto.streams.threads).toBe('auto');
    expect(auto.topics.partitions).toBe(4);
    expect([0, 1, 2, 3, 4, 16].map((cores) => streamThreadCount(auto, cores))).toEqual([1, 1, 1, 2, 3, 4]);
    const wide = config({ topics: { partitions: 32 } });
    expect(streamThreadCount(wide, 16)).toBe(15);
    expect(streamThreadCount(auto)).toBe(Math.max(1, Math.min(4, availableParallelism() - 1)));
    const three = config({ streams: { threads: 3 } });
    expect(three.streams.threads).toBe(3);
    expect([1, 2, 4, 64].map((cores) => streamThreadCount(three, cores))).toEqual([3, 3, 3, 3]);
    expect(streamThreadCount(config({ streams: { threads: 1 } }), 16)).toBe(1);
  });

  it('sumStats adds every count and every tier of several threads, leaving theirs as they were', () => {
    const a: TopologyStats = {
      records: 10,
      stored: 8,
      deadLettered: 1,
      late: 1,
      rollups: { '1m': 3, '1h': 1 },
      repartitioned: 4,
      toAlerts: 2,
      flushes: 5,
    };
    const b: TopologyStats = {
      records: 5,
      stored: 5,
      deadLettered: 0,
      late: 2,
      rollups: { '1m': 2, '1d': 7 },
      repartitioned: 0,
      toAlerts: 1,
      flushes: 2,
    };
    const before = structuredClone([a, b]);
    expect(sumStats([a, b])).toEqual({
      records: 15,
      stored: 13,
      deadLettered: 1,
      late: 3,
      rollups: { '1m': 5, '1h': 1, '1d': 7 },
      repartitioned: 4,
      toAlerts: 3,
      flushes: 7,
    });
    expect([a, b]).toEqual(before);
    expect(sumStats([])).toEqual(emptyStats());
    const one = sumStats([a]);
    expect(one).toEqual(a);
    one.rollups['1m'] = 100;
    expect(a.rollups['1m']).toBe(3);
  });
});

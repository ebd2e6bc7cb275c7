import type { Transferable } from 'node:worker_threads';
import { ConfigError, PipelineError, RejectError, ServiceError, SinkError } from '../core/errors.js';

/** The side of a `Worker` or a `MessagePort` that a `ThreadPort` talks through. */
export interface MessageEnd {
  postMessage(value: unknown, transferList?: readonly Transferable[]): void;
  on(event: 'message', listener: (value: unknown) => void): unknown;
  off(event: 'message', listener: (value: unknown) => void): unknown;
}

/** What crosses a thread boundary: a call, its answer, or a one-way note. */
type Message =
  | { kind: 'call'; id: number; method: string; args: unknown[] }
  | { kind: 'answer'; id: number; value?: unknown; error?: SentError }
  | { kind: 'note'; name: string; value: unknown };

/**
 * An error as it crosses a thread: the fields that classify it (`core/errors.ts`: `code`,
 * `clickhouseCode`, `retriable`, `hint`, the text) and its causes, since a structured clone keeps
 * none of a custom error's class.
 */
interface SentError {
  name: string;
  message: string;
  stack?: string;
  code?: unknown;
  clickhouseCode?: unknown;
  retriable?: unknown;
  hint?: unknown;
  cause?: SentError;
}

/** A handler answers a call with a value, or with the value and the buffers to move with it. */
export type Handler = (...args: never[]) => unknown;

/** What a handler can return to move buffers (rather than copy them) with its answer. */
export class Moved<T> {
  constructor(
    readonly value: T,
    readonly transfer: readonly Transferable[],
  ) {}
}

/**
 * Calls between two threads over one message channel: `call` asks the other side's handler and
 * resolves with its answer (or rejects with its error, classification kept); `note` sends a
 * one-way message. Buffers given as `transfer` move to the other thread without a copy (the
 * sender can no longer read them).
 */
export class ThreadPort {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  private readonly listener = (message: unknown) => this.receive(message as Message);
  private closed: Error | undefined;

  constructor(
    private readonly end: MessageEnd,
    private readonly handlers: Readonly<Record<string, Handler>> = {},
    private readonly onNote: (name: string, value: unknown) => void = () => undefined,
  ) {
    end.on('message', this.listener);
  }

  call<T>(method: string, args: unknown[] = [], transfer: readonly Transferable[] = []): Promise<T> {
    if (this.closed) return Promise.reject(this.closed);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      try {
        this.end.postMessage({ kind: 'call', id, method, args } satisfies Message, transfer);
      } catch (error) {
        // Arguments that cannot be cloned: nothing was sent.
        this.waiting.delete(id);
        reject(error);
      }
    });
  }

  note(name: string, value: unknown, transfer: readonly Transferable[] = []): void {
    if (!this.closed) this.end.postMessage({ kind: 'note', name, value } satisfies Message, transfer);
  }

  /** Stops listening; calls still waiting reject with `reason`. */
  close(reason: Error = new Error('the thread is gone')): void {
    this.closed = reason;
    this.end.off('message', this.listener);
    for (const { reject } of this.waiting.values()) reject(reason);
    this.waiting.clear();
  }

  private receive(message: Message): void {
    if (message.kind === 'note') return this.onNote(message.name, message.value);
    if (message.kind === 'answer') {
      const waiting = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      if (message.error) waiting?.reject(received(message.error));
      else waiting?.resolve(message.value);
      return;
    }
    const handler = this.handlers[message.method];
    const fail = (error: unknown) =>
      this.closed ||
      this.end.postMessage({ kind: 'answer', id: message.id, error: sent(error) } satisfies Message);
    const answer = (value: unknown, transfer: readonly Transferable[] = []) => {
      if (this.closed) return;
      try {
        this.end.postMessage({ kind: 'answer', id: message.id, value } satisfies Message, transfer);
      } catch (error) {
        // An answer that cannot be cloned: the caller gets why, rather than waiting forever.
        fail(error);
      }
    };
    if (!handler) return void fail(new Error(`no handler for ${message.method} on this thread`));
    try {
      Promise.resolve((handler as (...args: unknown[]) => unknown)(...message.args)).then(
        (value) => (value instanceof Moved ? answer(value.value, value.transfer) : answer(value)),
        fail,
      );
    } catch (error) {
      fail(error);
    }
  }
}

/** The fields that classify an error, kept when they are plain values (anything else cannot cross). */
const CLASSIFYING = ['code', 'clickhouseCode', 'retriable', 'hint'] as const;

function sent(error: unknown, depth = 0): SentError {
  if (typeof error !== 'object' || error === null) return { name: 'Error', message: String(error) };
  const e = error as Record<string, unknown>;
  const out: SentError = {
    name: typeof e.name === 'string' ? e.name : 'Error',
    message: typeof e.message === 'string' ? e.message : String(error),
  };
  if (typeof e.stack === 'string') out.stack = e.stack;
  for (const key of CLASSIFYING) {
    const value = e[key];
    if (['string', 'number', 'boolean'].includes(typeof value)) out[key] = value;
  }
  if (e.cause !== undefined && depth < 8) out.cause = sent(e.cause, depth + 1);
  return out;
}

/** The project's errors by name, rebuilt as such: callers tell them apart with `instanceof`. */
const CLASSES: Record<string, typeof PipelineError> = {
  PipelineError,
  ConfigError,
  ServiceError,
  SinkError,
  RejectError,
};

function received(error: SentError): Error {
  const cause = error.cause ? received(error.cause) : undefined;
  const Class = CLASSES[error.name];
  const e = Class
    ? new Class(error.message, {
        cause,
        retriable: error.retriable === true,
        hint: typeof error.hint === 'string' ? error.hint : undefined,
      })
    : new Error(error.message, cause ? { cause } : undefined);
  e.name = error.name;
  if (error.stack) e.stack = error.stack;
  for (const key of CLASSIFYING)
    if (!Class && error[key] !== undefined) (e as unknown as Record<string, unknown>)[key] = error[key];
  if (Class)
    for (const key of ['code', 'clickhouseCode'] as const)
      if (error[key] !== undefined) (e as unknown as Record<string, unknown>)[key] = error[key];
  return e;
}

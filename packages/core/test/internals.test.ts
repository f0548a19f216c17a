// The load-time detection of Node's private APIs (src/internals/node.ts): what it reports on this
// runtime, what SWITCHYARD_INTERNALS=0 turns off, the public fallbacks it then uses, and the
// one warning when a detection fails. Each case loads the module afresh.
import { EventEmitter } from 'node:events';
import { Server } from 'node:http';
import v8 from 'node:v8';
import { afterEach, describe, expect, it, vi } from 'vitest';

async function loadInternals(): Promise<typeof import('../src/internals/node.js')> {
  vi.resetModules();
  return import('../src/internals/node.js');
}

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe('internals: load-time detection', () => {
  it('finds every private API on this Node and uses the internal route', async () => {
    const { internalRoute } = await loadInternals();
    expect(internalRoute).toEqual({
      enabled: true,
      disabledBy: undefined,
      parser: true,
      listenerStore: true,
      responseSocket: true,
      missing: [],
    });
    expect(Object.isFrozen(internalRoute)).toBe(true);
  });

  it('SWITCHYARD_INTERNALS=0 turns the route and the listener store off, and warns about nothing', async () => {
    vi.stubEnv('SWITCHYARD_INTERNALS', '0');
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const internals = await loadInternals();
    expect(internals.internalRoute).toEqual({
      enabled: false,
      disabledBy: 'env',
      parser: false,
      listenerStore: false,
      responseSocket: true,
      missing: [],
    });
    internals.warnIfDegraded();
    expect(warn).not.toHaveBeenCalled();
    expect(internals.onRequestStart(() => {})).toBe(false);
  });

  it('a failed detection falls back to the public route and says so once, as SWITCHYARD_PUBLIC_ROUTE', async () => {
    // A Node whose HTTP server sets no parser up on a connection, as a future release might.
    const emit = Server.prototype.emit;
    vi.spyOn(Server.prototype, 'emit').mockImplementation(function (
      this: Server,
      event: string | symbol,
      ...args: unknown[]
    ) {
      return event === 'connection' ? false : (Reflect.apply(emit, this, [event, ...args]) as boolean);
    });
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const internals = await loadInternals();
    vi.mocked(Server.prototype.emit).mockRestore();
    expect(internals.internalRoute).toMatchObject({
      enabled: false,
      disabledBy: 'detection',
      parser: false,
      listenerStore: true,
      missing: ['http parser kOnExecute'],
    });
    internals.warnIfDegraded();
    internals.warnIfDegraded();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toMatch(/http parser kOnExecute.*routeUpgrades\(server\)/s);
    expect(warn.mock.calls[0]![1]).toEqual({ code: 'SWITCHYARD_PUBLIC_ROUTE' });
    expect(internals.onRequestStart(() => {})).toBe(false);
  });

  it('reads listeners the same way through the store and through rawListeners()', async () => {
    const emitter = new EventEmitter();
    const a = (): void => {};
    const b = (): void => {};
    const fromStore = await loadInternals();
    vi.stubEnv('SWITCHYARD_INTERNALS', '0');
    const fromPublic = await loadInternals();
    for (const internals of [fromStore, fromPublic]) {
      expect(internals.storedListeners(emitter, 'x')).toBeUndefined();
      expect(internals.hasNoListeners(emitter)).toBe(true);
    }
    emitter.on('x', a);
    for (const internals of [fromStore, fromPublic]) {
      expect(internals.storedListeners(emitter, 'x')).toBe(a);
      expect(internals.hasNoListeners(emitter)).toBe(false);
    }
    emitter.once('x', b);
    const stored = fromStore.storedListeners(emitter, 'x') as Array<(...args: unknown[]) => unknown>;
    const raw = fromPublic.storedListeners(emitter, 'x') as Array<(...args: unknown[]) => unknown>;
    // A once() wrapper stays a wrapper either way: removeListener() takes it as stored. Compared
    // element by element: on Node 24 and 26, vitest finds the stored array and rawListeners()'
    // copy unequal as arrays although every element is the same function.
    expect([...raw]).toEqual([...stored]);
    expect(raw[1]).not.toBe(b);
    emitter.removeListener('x', raw[1] as () => void);
    expect(emitter.listenerCount('x')).toBe(1);
  });
});

describe('internals: the compact listener table (compactListeners)', () => {
  // V8's own verdict on an object's storage: fast (a hidden class) or a dictionary.
  const hasFastProperties = (() => {
    v8.setFlagsFromString('--allow-natives-syntax');
    const check = new Function('object', 'return %HasFastProperties(object)') as (object: object) => boolean;
    v8.setFlagsFromString('--no-allow-natives-syntax');
    return check;
  })();
  const tableOf = (emitter: EventEmitter): object => (emitter as unknown as { _events: object })._events;

  it("replaces an empty emitter's dictionary table with a fast one (272 B less per idle connection's WebSocket)", async () => {
    const { compactListeners } = await loadInternals();
    const emitter = new EventEmitter();
    compactListeners(emitter);
    expect(hasFastProperties(tableOf(emitter))).toBe(true);
  });

  it('EventEmitter works on it as on its own: on, once, off, emit, eventNames, and no inherited event names', async () => {
    const { compactListeners } = await loadInternals();
    const emitter = new EventEmitter();
    compactListeners(emitter);
    for (const name of ['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf']) {
      expect(emitter.listenerCount(name), name).toBe(0);
      expect(emitter.emit(name), name).toBe(false);
    }
    expect(emitter.eventNames()).toEqual([]);
    const seen: string[] = [];
    const one = (value: string): void => void seen.push(`one:${value}`);
    emitter.on('message', one);
    emitter.once('message', (value: string) => seen.push(`once:${value}`));
    emitter.on('constructor', (value: string) => seen.push(`constructor:${value}`));
    expect(emitter.emit('message', 'a')).toBe(true);
    expect(emitter.emit('message', 'b')).toBe(true);
    expect(emitter.emit('constructor', 'c')).toBe(true);
    expect(seen).toEqual(['one:a', 'once:a', 'one:b', 'constructor:c']);
    expect(emitter.eventNames()).toEqual(['message', 'constructor']);
    emitter.off('message', one);
    emitter.removeAllListeners('constructor');
    expect(emitter.eventNames()).toEqual([]);
    expect(emitter.emit('message', 'd')).toBe(false);
  });

  it('leaves an emitter with listeners alone, and does nothing under SWITCHYARD_INTERNALS=0', async () => {
    const { compactListeners } = await loadInternals();
    const busy = new EventEmitter();
    const listener = (): void => {};
    busy.on('x', listener);
    const table = tableOf(busy);
    compactListeners(busy);
    expect(tableOf(busy)).toBe(table);
    expect(busy.listeners('x')).toEqual([listener]);

    vi.stubEnv('SWITCHYARD_INTERNALS', '0');
    const internals = await loadInternals();
    const plain = new EventEmitter();
    const own = tableOf(plain);
    internals.compactListeners(plain);
    expect(tableOf(plain)).toBe(own);
  });
});

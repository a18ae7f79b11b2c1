import { describe, expect, it } from 'vitest';
import {
  callSignal,
  runInCall,
  runInVerb,
  scopedLogger,
  setVerbDestination,
  verbDestination,
} from '../../src/http/call-scope.js';
import type { Logger } from '../../src/logger.js';

const recorder = (debugEnabled = true) => {
  const lines: string[] = [];
  const logger: Logger = { debugEnabled, debug: (m) => lines.push(`debug ${m}`), warn: (m) => lines.push(`warn ${m}`) };
  return { logger, lines };
};

describe('per-call scope', () => {
  it("a call's signal and the facade's both stop it; without either there is no signal", async () => {
    expect(await runInCall({}, undefined, async () => callSignal())).toBeUndefined();
    const facade = new AbortController();
    const call = new AbortController();
    const signal = await runInCall({ signal: call.signal }, facade.signal, async () => callSignal());
    expect(signal!.aborted).toBe(false);
    facade.abort();
    expect(signal!.aborted).toBe(true);
    const second = new AbortController();
    const own = await runInCall({ signal: second.signal }, new AbortController().signal, async () => callSignal());
    second.abort();
    expect(own!.aborted).toBe(true);
    // Only the facade's: the call runs under it.
    const onlyFacade = new AbortController();
    expect(await runInCall({ logger: recorder().logger }, onlyFacade.signal, async () => callSignal())).toBe(
      onlyFacade.signal,
    );
    expect(await runInCall({ signal: call.signal }, undefined, async () => callSignal())).toBe(call.signal);
  });

  it("lines go to the call's logger inside the call, to the fallback outside", async () => {
    const fallback = recorder(false);
    const mine = recorder(true);
    const logger = scopedLogger(fallback.logger);
    logger.warn('outside');
    expect(logger.debugEnabled).toBe(false);
    await runInCall({ logger: mine.logger }, undefined, async () => {
      logger.debug('inside');
      logger.warn('inside too');
      expect(logger.debugEnabled).toBe(true);
    });
    expect(fallback.lines).toEqual(['warn outside']);
    expect(mine.lines).toEqual(['debug inside', 'warn inside too']);
  });
});

describe('the destination of a verb (where credentials go)', () => {
  it('the first destination named wins; verbs do not see each other; a nested verb shares its caller', async () => {
    expect(verbDestination()).toBeUndefined();
    setVerbDestination('outside.example'); // no verb: nothing recorded
    expect(verbDestination()).toBeUndefined();
    const [a, b] = await Promise.all([
      runInVerb(async () => {
        setVerbDestination('a.example');
        setVerbDestination('later.example');
        await new Promise((r) => setTimeout(r, 5));
        return runInVerb(async () => verbDestination());
      }),
      runInVerb(async () => {
        await new Promise((r) => setTimeout(r, 1));
        return verbDestination();
      }),
    ]);
    expect(a).toBe('a.example');
    expect(b).toBeUndefined();
  });
});

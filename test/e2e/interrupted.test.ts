import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, isolatedEnv, krill } from '../harness/cli.js';
import { seedNumberedImages } from '../harness/fixtures.js';
import { Pusher } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';
import { startFaultProxy } from '../harness/fault-proxy.js';

/**
 * A cleanup killed (SIGTERM) at random points and run again converges on exactly its plan: never
 * more deleted than planned after any interruption. (Split from faults.test.ts so the two run side
 * by side.)
 */
let registry: TestRegistry;

const seed = (repository: string, images: number) => seedNumberedImages(registry, repository, images);

beforeAll(async () => {
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
});

describe('interrupted cleanups converge', () => {
  it('a cleanup killed at random points and rerun ends with exactly the planned tags', async () => {
    await seed('apps/killed', 80);
    const env = isolatedEnv();
    const planPath = join(env.HOME!, 'plan.json');
    await krill(['cleanup', `${registry.host}/apps/killed`, '--keep', '10', '--dry-run', '--plan-out', planPath], {
      env,
    });
    const plan = JSON.parse(readFileSync(planPath, 'utf8'));
    const expected = plan.repositories[0].keep.map((t: { tag: string }) => t.tag).sort();
    const initial = (await new Pusher(registry).tags('apps/killed')).length;
    const codes: Array<number | null> = [];
    const left: number[] = [];
    // Each run is stopped once it has removed a few more tags: an interruption at a write, not
    // while it still reads (a timer alone stopped every run before its first delete).
    for (const step of [6, 12, 18]) {
      const before = (await new Pusher(registry).tags('apps/killed')).length;
      const child = spawn(process.execPath, [BIN, 'apply', planPath, '--yes'], { env, stdio: 'ignore' });
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      let done = false;
      void exited.then(() => (done = true));
      for (let i = 0; i < 800 && !done; i++) {
        if ((await new Pusher(registry).tags('apps/killed')).length <= before - step) break;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      child.kill('SIGTERM');
      codes.push(await exited);
      const remaining = await new Pusher(registry).tags('apps/killed');
      left.push(remaining.length);
      // Never more than the plan: every kept tag is still there after each interruption.
      for (const tag of expected) expect(remaining).toContain(tag);
    }
    // 130: interrupted cleanly; 0: finished before the signal; null: killed before krill installed its handlers.
    for (const code of codes) expect([0, 130, null]).toContain(code);
    // At least one run was stopped mid-way, at a write: some planned tags gone, not all.
    expect(codes, `exit codes ${codes.join(', ')}`).toContain(130);
    expect(
      left.some((n) => n < initial && n > expected.length),
      `tags left ${left.join(', ')}`,
    ).toBe(true);
    const rerun = await krill(['apply', planPath, '--yes'], { env });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(await new Pusher(registry).tags('apps/killed')).toEqual(expected);
  });

  it('Ctrl-C during cleanup --yes --journal J: one instruction, how much was done, and the finishing apply appends to J', async () => {
    await seed('apps/ctrl-c', 30);
    const proxy = await startFaultProxy(registry.host, { delay: 0.999, methods: ['DELETE'] });
    try {
      const env = isolatedEnv();
      const journal = join(env.HOME!, 'run.jsonl');
      const args = ['cleanup', `${proxy.host}/apps/ctrl-c`, '--keep', '5', '--yes', '--journal', journal];
      const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      let remaining = await new Pusher(registry).tags('apps/ctrl-c');
      for (let i = 0; i < 400 && remaining.length > 50; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        remaining = await new Pusher(registry).tags('apps/ctrl-c');
      }
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      const finish =
        /^krill: stopped after (\d+) of (\d+) changes \(each in the undo journal (.+)\); to finish, run: krill apply (\S+) --journal (\S+)$/m.exec(
          stderr,
        );
      expect(finish, stderr).not.toBeNull();
      expect(Number(finish![1])).toBeGreaterThan(0);
      expect(Number(finish![1])).toBeLessThan(Number(finish![2]));
      expect(finish![3]).toBe(journal);
      expect(finish![5]).toBe(journal);
      expect(stderr).not.toMatch(/krill undo|to finish the job/); // one instruction, not two
      const linesBefore = readFileSync(journal, 'utf8').trim().split('\n').length;
      const rerun = await krill(['apply', finish![4]!, '--yes', '--journal', journal], { env });
      expect(rerun.code, rerun.stderr).toBe(0);
      expect(readFileSync(journal, 'utf8').trim().split('\n').length).toBeGreaterThan(linesBefore);
      const plan = JSON.parse(readFileSync(finish![4]!, 'utf8'));
      const kept = plan.repositories[0].keep.map((t: { tag: string }) => t.tag).sort();
      expect(await new Pusher(registry).tags('apps/ctrl-c')).toEqual(kept);
    } finally {
      await proxy.stop();
    }
  });

  it('cleanup --yes SIGKILLed mid-way: the documented rerun (cleanup again) finishes exactly the plan, no orphaned platform manifest; undoing every journal (a SIGKILLed undo rerun) restores every tag', async () => {
    await seed('apps/sigkill', 40); // 80 tags; every 10th image is a two-platform index
    const original = new Map<string, string | undefined>();
    for (const tag of await new Pusher(registry).tags('apps/sigkill'))
      original.set(tag, await new Pusher(registry).resolve('apps/sigkill', tag));
    // DELETEs slowed (200-500 ms each) so that the kill lands between deletes, not before or after.
    const proxy = await startFaultProxy(registry.host, { delay: 0.999, methods: ['DELETE'] });
    try {
      const env = isolatedEnv();
      const repo = `${proxy.host}/apps/sigkill`;
      const planPath = join(env.HOME!, 'plan.json');
      const dry = await krill(['cleanup', repo, '--keep', '5', '--dry-run', '--plan-out', planPath], { env });
      expect(dry.code, dry.stderr).toBe(0);
      const plan = JSON.parse(readFileSync(planPath, 'utf8'));
      const expected = plan.repositories[0].keep.map((t: { tag: string }) => t.tag).sort();
      const going: string[] = plan.repositories[0].actions
        .filter((a: { kind: string }) => a.kind === 'delete-manifest')
        .map((a: { digest: string }) => a.digest);
      expect(going.some((d) => plan.repositories[0].actions.some((a: { parent?: string }) => a.parent === d))).toBe(
        true,
      );
      const child = spawn(process.execPath, [BIN, 'cleanup', repo, '--keep', '5', '--yes'], { env, stdio: 'ignore' });
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      // Kill once more than 30% of the tags are gone: enough for the old listing check to blame the registry.
      let remaining = await new Pusher(registry).tags('apps/sigkill');
      for (let i = 0; i < 400 && remaining.length > 54; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        remaining = await new Pusher(registry).tags('apps/sigkill');
      }
      child.kill('SIGKILL');
      await exited;
      remaining = await new Pusher(registry).tags('apps/sigkill');
      // The kill happened mid-way, at a write: some deleted, not all.
      expect(remaining.length).toBeLessThanOrEqual(54);
      expect(remaining.length).toBeGreaterThan(expected.length);
      for (const tag of expected) expect(remaining).toContain(tag);

      const rerun = await krill(['cleanup', repo, '--keep', '5', '--yes'], { env });
      expect(rerun.code, rerun.stderr).toBe(0);
      expect(rerun.stderr).not.toMatch(/listing looks wrong/);
      expect(await new Pusher(registry).tags('apps/sigkill')).toEqual(expected);
      // Nothing the plan deleted is left, platform manifests of deleted indexes included.
      const pusher = new Pusher(registry);
      const left = [];
      for (const digest of [
        ...going,
        ...plan.repositories[0].actions.flatMap((a: { parent?: string; digest: string }) =>
          a.parent ? [a.digest] : [],
        ),
      ])
        if ((await pusher.resolve('apps/sigkill', digest)) !== undefined) left.push(digest);
      expect(left).toEqual([]);

      // Undo every journal newest-first (two: the killed run's and the rerun's); the first undo is
      // itself SIGKILLed mid-way (PUTs slowed the same way) and run again.
      proxy.setMix({ delay: 0.999, methods: ['PUT'] });
      const journalDir = join(env.XDG_STATE_HOME!, 'krill', 'journals');
      const journals = readdirSync(journalDir).sort().reverse();
      expect(journals).toHaveLength(2);
      const undo = spawn(process.execPath, [BIN, 'undo', join(journalDir, journals[0]!), '--yes'], {
        env,
        stdio: 'ignore',
      });
      const undone = new Promise<number | null>((resolve) => undo.on('close', (code) => resolve(code)));
      const afterCleanup = expected.length;
      let back = afterCleanup;
      for (let i = 0; i < 400 && back < afterCleanup + 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        back = (await pusher.tags('apps/sigkill')).length;
      }
      undo.kill('SIGKILL');
      expect(await undone).toBeNull(); // killed, not finished
      const partial = (await pusher.tags('apps/sigkill')).length;
      expect(partial).toBeGreaterThan(afterCleanup);
      proxy.setMix({});
      for (const journal of journals) {
        const res = await krill(['undo', join(journalDir, journal), '--yes'], { env });
        expect(res.code, `${journal}: ${res.stderr}`).toBe(0);
      }
      const restored = new Map<string, string | undefined>();
      for (const tag of await pusher.tags('apps/sigkill')) restored.set(tag, await pusher.resolve('apps/sigkill', tag));
      expect(restored).toEqual(original);
    } finally {
      await proxy.stop();
    }
  });
});

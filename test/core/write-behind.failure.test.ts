/**
 * Failures of the journal under a running pipeline never take the process down: a payload
 * that cannot be decoded is dead-lettered as it is stored, a read that fails is retried,
 * and one that keeps failing (a damaged page, a journal closed under the pipeline) stops
 * the pipeline with a typed error that writes, flushes and close report — never an
 * unhandled rejection.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  ClosedError,
  DeadLetteredError,
  JournalReadError,
  JournalWriteError,
  MemoryJournal,
  MemorySink,
  type AppendOptions,
  type JournalEntry,
  type JournalRecord,
  type ReadOptions,
} from '../../src/index.js';
import { SqliteJournal } from '../../src/adapters/sqlite/index.js';
import { damagedJournal } from '../helpers/damage.js';
import { withoutTail } from '../helpers/read-back.js';
import { tempDir } from '../helpers/temp.js';
import { trackedPipelines } from '../helpers/tracked-pipelines.js';

type Row = { account: string; seq: number };
const dir = tempDir();
const h = trackedPipelines();
/** A hang becomes a failure. */
const within = { timeout: 10_000 };
const fast = { batch: { maxSize: 100, maxDelayMs: 1 }, retry: { minDelayMs: 1, maxDelayMs: 4 } };

/** Fails the test if anything rejects unhandled while it runs. */
function noUnhandled(t: TestContext): void {
  const seen: unknown[] = [];
  const track = (reason: unknown): void => void seen.push(reason);
  process.on('unhandledRejection', track);
  t.after(() => {
    process.off('unhandledRejection', track);
    assert.deepEqual(seen, [], 'no unhandled rejection');
  });
}

test(
  'one undecodable payload among 1,000: 999 land, it is a dead letter holding the stored text, later writes land',
  within,
  async (t) => {
    noUnhandled(t);
    const path = join(dir, 'undecodable.db');
    const journal = await SqliteJournal.open(path);
    for (let i = 0; i < 1_000; i++) {
      await journal.append([{ key: `k${i % 10}`, payload: { account: `k${i % 10}`, seq: i } }]);
    }
    // One byte changed, as a bad disk or a stray write would: `{` becomes `X`.
    journal.database
      .prepare("UPDATE sluice_entries SET payload = 'X' || substr(payload, 2) WHERE position = 500")
      .run();
    const sink = new MemorySink<Row>({ mode: 'insert' });
    const wb = await h.open<Row>({ journal, sink, ...fast });
    await h.drive(wb.flush());
    assert.equal(sink.rows.size, 999);
    const [letter, ...others] = await wb.deadLetters.list();
    assert.deepEqual(others, []);
    assert.equal(letter?.position, 500);
    assert.equal(letter?.payload, 'X"account":"k9","seq":499}');
    assert.match(letter?.error ?? '', /could not decode entry 500/);
    await h.drive(wb.writeAndWait('k1', { account: 'k1', seq: 1_000 }));
    assert.equal(sink.rows.size, 1_000);
    await h.drive(wb.close());
    await journal.close();
  },
);

/** A MemoryJournal whose reads fail while `failing` says so. */
/**
 * A journal outside the package that breaks `append`'s type: it throws, or it returns the
 * positions themselves instead of a promise (here: those of a record already stored).
 */
class CarelessJournal extends MemoryJournal {
  mode: 'throw' | 'array' | 'keep' = 'keep';
  stored: number[] = [];
  override append(records: readonly JournalRecord[], options?: AppendOptions): Promise<number[]> {
    if (this.mode === 'throw') throw new Error('append broke');
    if (this.mode === 'array') return this.stored as unknown as Promise<number[]>;
    return super.append(records, options);
  }
}

test(
  'a journal whose append throws or returns no promise: write rejects or resolves, and its room is given back',
  within,
  async (t) => {
    noUnhandled(t);
    const journal = new CarelessJournal();
    const sink = new MemorySink<Row>({ mode: 'insert' });
    const wb = await h.open<Row>({ journal, sink, maxBacklog: 2, ...fast });
    journal.mode = 'throw';
    for (let i = 0; i < 3; i++) {
      // A rejection, never a throw at the call; more of them than maxBacklog, so room that
      // was not given back would make the next writes wait.
      await assert.rejects(
        wb.write('k', { account: 'k', seq: i }),
        (e: unknown) => e instanceof JournalWriteError && /append broke/.test(String(e)),
      );
    }
    journal.mode = 'keep';
    const position = await wb.write('k', { account: 'k', seq: 3 }, { id: 'once' });
    journal.mode = 'array';
    journal.stored = [position];
    for (let i = 0; i < 3; i++) {
      assert.equal(await wb.write('k', { account: 'k', seq: 3 }, { id: 'once' }), position);
    }
    journal.mode = 'keep';
    await wb.write('k', { account: 'k', seq: 4 });
    await h.drive(wb.flush());
    assert.equal(sink.rows.size, 2);
    await h.drive(wb.close());
  },
);

class FlakyJournal extends MemoryJournal {
  failing = 0;
  reads = 0;
  override read(after: number, options?: ReadOptions): Promise<JournalEntry[]> {
    this.reads++;
    if (this.failing > 0) {
      this.failing--;
      return Promise.reject(Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' }));
    }
    return super.read(after, options);
  }
}

test(
  'a read that fails a few times is retried (journal:readFailed); nothing is lost',
  within,
  async (t) => {
    noUnhandled(t);
    const journal = new FlakyJournal();
    const sink = new MemorySink<Row>({ mode: 'insert' });
    // Read back: this process's own entries would come from memory, past the failing reads.
    const wb = await h.open<Row>({ journal: withoutTail(journal), sink, ...fast });
    const failed: number[] = [];
    wb.on('journal:readFailed', ({ attempt }) => failed.push(attempt));
    journal.failing = 3;
    for (let i = 0; i < 50; i++) await wb.write(`k${i % 5}`, { account: `k${i % 5}`, seq: i });
    await h.drive(wb.flush());
    assert.equal(sink.rows.size, 50);
    assert.deepEqual(failed, [1, 2, 3]);
    await h.drive(wb.close());
  },
);

test(
  'reads that keep failing stop the pipeline: writeAndWait, write, flush and close report a JournalReadError',
  within,
  async (t) => {
    noUnhandled(t);
    const journal = new FlakyJournal();
    const sink = new MemorySink<Row>({ mode: 'insert' });
    const wb = await h.open<Row>({ journal: withoutTail(journal), sink, ...fast });
    let stopped: unknown;
    wb.on('pipeline:failed', ({ error }) => (stopped = error));
    journal.failing = Infinity;
    const waiting = wb.writeAndWait('k', { account: 'k', seq: 1 });
    await assert.rejects(
      h.drive(waiting),
      (e: unknown) =>
        e instanceof JournalReadError &&
        e.code === 'ERR_SLUICE_JOURNAL_READ' &&
        (e.cause as { code?: string }).code === 'SQLITE_IOERR',
    );
    assert.ok(stopped instanceof JournalReadError);
    await assert.rejects(wb.write('k', { account: 'k', seq: 2 }), JournalReadError);
    await assert.rejects(wb.flush(), JournalReadError);
    await assert.rejects(h.drive(wb.close()), JournalReadError);
    // The entry that could not be read stays in the journal for the next open.
    journal.failing = 0;
    assert.equal((await journal.stats()).head, 1);
    const next = await h.open<Row>({ journal, sink, ...fast });
    await h.drive(next.flush());
    assert.equal(sink.rows.size, 1);
    await h.drive(next.close());
  },
);

test(
  'closing the journal before the pipeline: a clear ClosedError at the calls, never a crash',
  within,
  async (t) => {
    noUnhandled(t);
    const journal = await SqliteJournal.open(join(dir, 'closed-first.db'));
    const wb = await h.open<Row>({ journal, sink: new MemorySink<Row>(), ...fast });
    await wb.write('k', { account: 'k', seq: 1 });
    await h.drive(wb.flush());
    await journal.close();
    await assert.rejects(wb.write('k', { account: 'k', seq: 2 }), ClosedError);
    await assert.rejects(h.drive(wb.close()), ClosedError);
  },
);

test('a damaged page: the pipeline reports a typed error instead of dying', within, async (t) => {
  noUnhandled(t);
  const path = join(dir, 'damaged.db');
  await damagedJournal(path);

  const journal = await SqliteJournal.open(path);
  const sink = new MemorySink<{ seq: number }>({ mode: 'insert' });
  const wb = await h.open<{ seq: number }>({ journal, sink, ...fast });
  const failure = await h.drive(wb.flush()).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(failure instanceof JournalReadError, String(failure));
  assert.match(String((failure.cause as { code?: string }).code), /^SQLITE_CORRUPT/);
  assert.ok(sink.rows.size > 0 && sink.rows.size < 4_000, 'what precedes the damage landed');
  await assert.rejects(h.drive(wb.close()), JournalReadError);
  await journal.close();
});

test(
  'a dead-lettered writeAndWait still says DeadLetteredError, not a pipeline failure',
  within,
  async () => {
    const wb = await h.open<Row>({
      journal: new MemoryJournal(),
      sink: new MemorySink<Row>({
        check: () => {
          throw new RangeError('no');
        },
        classify: () => 'rejected',
      }),
      ...fast,
    });
    await assert.rejects(
      h.drive(wb.writeAndWait('k', { account: 'k', seq: 1 })),
      DeadLetteredError,
    );
    await h.drive(wb.close());
  },
);

test(
  'a checkpoint commit that fails is reported (checkpoint:failed) and made again with the next batch',
  within,
  async (t) => {
    noUnhandled(t);
    let failing = 1;
    const journal = new (class extends MemoryJournal {
      override commit(consumer: string, position: number): Promise<void> {
        if (failing-- > 0) return Promise.reject(new Error('checkpoint table is locked'));
        return super.commit(consumer, position);
      }
    })();
    const wb = await h.open<Row>({ journal, sink: new MemorySink<Row>(), ...fast });
    const failures: unknown[] = [];
    wb.on('checkpoint:failed', ({ error }) => failures.push(error));
    await h.drive(wb.writeAndWait('k', { account: 'k', seq: 1 }));
    await h.clock.tick(); // the checkpoint commit follows the write's landing
    assert.equal(failures.length, 1);
    assert.equal(await journal.committed('write-behind'), 0, 'the first commit did not happen');
    await h.drive(wb.writeAndWait('k', { account: 'k', seq: 2 }));
    await h.drive(wb.close());
    assert.equal(await journal.committed('write-behind'), 2);
  },
);

test(
  'close() reports a raw journal error met while draining as a JournalReadError, the error as cause',
  within,
  async () => {
    const raw = new Error('disk gone');
    class StatsFail extends MemoryJournal {
      failing = false;
      override stats(): ReturnType<MemoryJournal['stats']> {
        return this.failing ? Promise.reject(raw) : super.stats();
      }
    }
    const journal = new StatsFail();
    const wb = await h.open<Row>({ journal, sink: new MemorySink<Row>(), ...fast });
    await h.drive(wb.write('k', { account: 'k', seq: 1 }));
    journal.failing = true;
    await assert.rejects(h.drive(wb.close()), (error: unknown) => {
      assert.ok(error instanceof JournalReadError);
      assert.match(error.message, /close could not drain the journal: disk gone/);
      assert.equal(error.cause, raw);
      return true;
    });
  },
);

test(
  'an append the journal refuses with a foreign error, rejected or thrown, fails that write alone as a JournalWriteError',
  within,
  async (t) => {
    noUnhandled(t);
    class Refusing extends MemoryJournal {
      refuse: 'reject' | 'throw' | undefined;
      override append(records: readonly JournalRecord[], options?: AppendOptions) {
        const refuse = this.refuse;
        this.refuse = undefined;
        if (refuse === 'throw') throw new Error('disk gone');
        if (refuse === 'reject') return Promise.reject(new Error('disk gone'));
        return super.append(records, options);
      }
    }
    const journal = new Refusing();
    const sink = new MemorySink<Row>({ mode: 'insert' });
    const wb = await h.open<Row>({ journal, sink, ...fast });
    for (const refuse of ['reject', 'throw'] as const) {
      journal.refuse = refuse;
      await assert.rejects(wb.write('k', { account: 'k', seq: 0 }), (error: unknown) => {
        assert.ok(error instanceof JournalWriteError, String(error));
        assert.match(error.message, /the journal refused the write: Error: disk gone/);
        assert.equal((error.cause as Error).message, 'disk gone');
        return true;
      });
    }
    // The pipeline goes on: later writes land.
    await wb.write('k', { account: 'k', seq: 1 });
    await h.drive(wb.flush());
    assert.deepEqual(
      [...sink.rows.values()].map((r) => r.value.seq),
      [1],
    );
    await h.drive(wb.close());
  },
);

test(
  'writers waiting for room are let in when an append adds nothing to the backlog: a known id, or an append the journal refused',
  within,
  async (t) => {
    noUnhandled(t);
    class RefusesOnce extends MemoryJournal {
      refuse = false;
      override append(records: readonly JournalRecord[], options?: AppendOptions) {
        if (this.refuse) {
          this.refuse = false;
          return Promise.reject(new Error('disk gone'));
        }
        return super.append(records, options);
      }
    }
    const journal = new RefusesOnce();
    const sink = new MemorySink<Row>({ mode: 'insert' });
    const wb = await h.open<Row>({ journal, sink, maxBacklog: 1, ...fast });
    await wb.write('k', { account: 'k', seq: 0 }, { id: 'x' });
    await h.drive(wb.flush());
    // Room for one: the known id takes it, the others wait in line behind it.
    const again = h.track(wb.write('k', { account: 'k', seq: 0 }, { id: 'x' }));
    const b = h.track(wb.write('k', { account: 'k', seq: 1 }));
    const c = h.track(wb.write('k', { account: 'k', seq: 2 }));
    await h.until(() => c.state === 'resolved', 'every writer is let in');
    assert.equal(again.state, 'resolved');
    assert.equal(b.state, 'resolved');
    await h.drive(wb.flush());
    journal.refuse = true;
    const refused = wb.write('k', { account: 'k', seq: 3 });
    const d = h.track(wb.write('k', { account: 'k', seq: 4 }));
    await assert.rejects(refused, JournalWriteError);
    await h.until(() => d.state === 'resolved', 'the writer behind a refused append is let in');
    await h.drive(wb.flush());
    assert.deepEqual([...sink.rows.values()].map((r) => r.value.seq).sort(), [0, 1, 2, 4]);
    await h.drive(wb.close());
  },
);

/**
 * A pipeline's value type, checked by the compiler: it is inferred from the sink, an
 * `interface` row type works, `write` refuses a value of another shape, and a sink whose
 * values the journal cannot store as they are is refused at `open`. `npm run typecheck`
 * compiles this file (a `@ts-expect-error` that meets no error fails it); the functions
 * named `compiles…` are compiled, never called. The one test that runs writes through a
 * pipeline whose type was inferred.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MemorySink,
  WriteBehind,
  functionSink,
  type Encodable,
  type Payload,
  type Sink,
  type SinkEntry,
} from '../../src/index.js';
import { postgresSink } from '../../src/adapters/postgres/index.js';
import { sqliteSink, type SqliteJournal } from '../../src/adapters/sqlite/index.js';

interface Balance {
  account: string;
  balance: number;
  note?: string;
  tags: readonly string[];
}
interface Tree {
  name: string;
  children: Tree[];
}

/** `true` only when `A` and `B` are the same type (not merely assignable to each other). */
type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Compiles only when given `true`; takes the values it speaks of, so they count as used. */
const same = <T extends true>(...values: unknown[]): T | number => values.length;

const table = { table: 'balances', columns: ['account', 'balance'], mode: 'upsert' } as const;
const upsert = { ...table, conflict: ['account'] };

export async function compilesInferredFromTheSink(journal: SqliteJournal): Promise<void> {
  // The README's first example: no type argument anywhere.
  const untyped = await WriteBehind.open({
    journal,
    sink: await postgresSink({ connectionString: 'postgres://127.0.0.1/app', ...upsert }),
  });
  same<Equal<typeof untyped, WriteBehind<Record<string, unknown>>>>(untyped);
  await untyped.write('acct-7', { account: 'acct-7', balance: 10 });
  // @ts-expect-error the sink takes rows (objects), not numbers
  await untyped.write('acct-7', 10);

  const pg = await WriteBehind.open({
    journal,
    sink: await postgresSink<Balance>({ connectionString: 'postgres://127.0.0.1/app', ...upsert }),
  });
  same<Equal<typeof pg, WriteBehind<Balance>>>(pg);

  const sqlite = await WriteBehind.open({
    journal: 'memory',
    sink: sqliteSink<Balance>({ database: ':memory:', ...upsert }),
  });
  same<Equal<typeof sqlite, WriteBehind<Balance>>>(sqlite);

  const fn = await WriteBehind.open({
    journal,
    sink: functionSink(async (entries: readonly SinkEntry<Balance>[]) => {
      await Promise.resolve(entries.map((e) => e.value.balance));
    }),
  });
  same<Equal<typeof fn, WriteBehind<Balance>>>(fn);

  // From `toRow`'s parameter: the value need not be a row at all.
  const fromToRow = await postgresSink({
    connectionString: 'postgres://127.0.0.1/app',
    ...upsert,
    toRow: (e: SinkEntry<number>) => ({ account: e.key, balance: e.value }),
  });
  same<Equal<typeof fromToRow, Awaited<ReturnType<typeof postgresSink<number>>>>>(fromToRow);

  const memory = await WriteBehind.open({ journal, sink: new MemorySink<Balance>() });
  same<Equal<typeof memory, WriteBehind<Balance>>>(memory);

  // A type argument, when given, must agree with the sink.
  await WriteBehind.open<Balance>({ journal, sink: new MemorySink<Balance>() });
  // @ts-expect-error a Sink<number> does not take Balance values
  await WriteBehind.open<Balance>({ journal, sink: new MemorySink<number>() });
}

export async function compilesWriteChecksTheValue(wb: WriteBehind<Balance>): Promise<void> {
  await wb.write('acct-7', { account: 'acct-7', balance: 10, tags: [] });
  await wb.write('acct-7', { account: 'acct-7', balance: 10, tags: ['vip'], note: 'hi' });
  await wb.writeAndWait('acct-7', { account: 'acct-7', balance: 12, tags: [] }, { id: 'r1' });
  const balance: Balance = { account: 'acct-7', balance: 1, tags: [] };
  await wb.write('acct-7', balance);

  // @ts-expect-error `balance` is missing
  await wb.write('acct-7', { account: 'acct-7', tags: [] });
  // @ts-expect-error `balance` is a number
  await wb.write('acct-7', { account: 'acct-7', balance: '10', tags: [] });
  // @ts-expect-error `balanse` is not a property of Balance
  await wb.write('acct-7', { account: 'acct-7', balanse: 10, tags: [] });
  // @ts-expect-error a string is not a Balance
  await wb.writeAndWait('acct-7', 'acct-7');
}

export async function compilesValueTypesTheJournalStores(): Promise<void> {
  const open = <V extends Encodable<V>>(sink: Sink<V>) =>
    WriteBehind.open({ journal: 'memory', sink });
  same<Equal<Awaited<ReturnType<typeof open<Balance>>>, WriteBehind<Balance>>>();
  await open(new MemorySink<Tree>());
  await open(new MemorySink<number>());
  await open(new MemorySink<'deposit' | 'withdrawal'>());
  await open(new MemorySink<string | null>());
  await open(new MemorySink<[string, number]>());
  await open(new MemorySink<readonly { at: string }[]>());
  await open(new MemorySink<{ byDay: Record<string, number> }>());
  await open(new MemorySink<{ meta: unknown }>());
  await open(new MemorySink<Payload>());
  await open(new MemorySink<Uint8Array>());
  // A sink that says nothing of its values: write() takes anything the codec stores.
  const anything = await WriteBehind.open({ journal: 'memory', sink: new MemorySink() });
  same<Equal<typeof anything, WriteBehind<Encodable<unknown>>>>(anything);
  await anything.write('k', { any: ['json'] });
  // @ts-expect-error JSON has no bigint
  await anything.write('k', 1n);
}

export async function compilesRefusesWhatTheJournalChanges(): Promise<void> {
  // @ts-expect-error a Map is refused at write() (EncodeError)
  await WriteBehind.open({ journal: 'memory', sink: new MemorySink<{ m: Map<string, 1> }>() });
  // @ts-expect-error a Set likewise
  await WriteBehind.open({ journal: 'memory', sink: new MemorySink<Set<string>>() });
  // @ts-expect-error a Date arrives as its ISO string: the row type says `string`
  await WriteBehind.open({ journal: 'memory', sink: new MemorySink<{ at: Date }>() });
  // @ts-expect-error JSON has no bigint
  await WriteBehind.open({ journal: 'memory', sink: new MemorySink<{ n: bigint }>() });
  // @ts-expect-error nor functions
  await WriteBehind.open({ journal: 'memory', sink: new MemorySink<{ f: () => void }>() });
  // @ts-expect-error bytes only as the whole value
  await WriteBehind.open({ journal: 'memory', sink: new MemorySink<{ b: Uint8Array }>() });
  // @ts-expect-error undefined in an array would arrive as null
  await WriteBehind.open({ journal: 'memory', sink: new MemorySink<(number | undefined)[]>() });
  // @ts-expect-error one member of a union is enough
  await WriteBehind.open({ journal: 'memory', sink: new MemorySink<string | Set<string>>() });
}

test('WriteBehind.open() takes its value type from the sink', async () => {
  const sink = new MemorySink<Balance>();
  const wb = await WriteBehind.open({ journal: 'memory', sink, batch: { maxDelayMs: 1 } });
  same<Equal<typeof wb, WriteBehind<Balance>>>(wb);
  await wb.writeAndWait('acct-7', { account: 'acct-7', balance: 10, tags: ['vip'] });
  await wb.close();
  assert.deepEqual(sink.rows.get('acct-7')?.value, {
    account: 'acct-7',
    balance: 10,
    tags: ['vip'],
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyMysqlError } from '../../../src/adapters/mysql/index.js';

const server = (errno: number, sqlState: string): Error =>
  Object.assign(new Error(`server error ${errno}`), { errno, sqlState, code: `E${errno}` });

test('classifyMysqlError() blames the entry only for data, constraint, limit and SIGNAL errors', () => {
  for (const [errno, sqlState] of [
    [1406, '22001'], // data too long
    [1292, '22007'], // incorrect datetime value
    [1366, 'HY000'], // incorrect integer value
    [1048, '23000'], // NULL into NOT NULL
    [1062, '23000'], // duplicate on a unique key
    [1452, '23000'], // foreign key
    [1264, '22003'], // out of range
    [1690, '22003'], // arithmetic overflow
    [4025, '23000'], // MariaDB CHECK
    [3819, 'HY000'], // MySQL CHECK
    [1644, '45000'], // SIGNAL from a trigger
    [1001, '45000'], // SIGNAL with an error number of its own
    [1153, '08S01'], // a row past max_allowed_packet
    [1118, '42000'], // a row past InnoDB's row size
  ] as const) {
    assert.equal(classifyMysqlError(server(errno, sqlState)), 'rejected', String(errno));
  }
  for (const [errno, sqlState] of [
    [1205, 'HY000'], // lock wait timeout
    [1213, '40001'], // deadlock
    [1146, '42S02'], // table renamed away
    [1054, '42S22'], // column renamed away
    [1142, '42000'], // INSERT revoked
    [1290, 'HY000'], // --read-only
    [1836, 'HY000'], // read-only mode
    [1040, '08004'], // too many connections
    [1045, '28000'], // access denied
    [1049, '42000'], // unknown database
    [1927, '70100'], // connection killed
    [1969, '70100'], // max_statement_time (MariaDB)
    [3024, 'HY000'], // max_execution_time (MySQL)
    [1114, 'HY000'], // table is full
    [1364, 'HY000'], // a NOT NULL column without a default, added by a migration
  ] as const) {
    assert.equal(classifyMysqlError(server(errno, sqlState)), 'unavailable', String(errno));
  }
  const coded = (code: string, extra: object = {}): Error =>
    Object.assign(new Error(code), { code, ...extra });
  for (const code of [
    'ECONNREFUSED',
    'ECONNRESET',
    'ETIMEDOUT',
    'ENOTFOUND',
    'PROTOCOL_CONNECTION_LOST',
    'PROTOCOL_SEQUENCE_TIMEOUT',
  ]) {
    assert.equal(classifyMysqlError(coded(code, { errno: -111 })), 'unavailable', code);
  }
  assert.equal(
    classifyMysqlError(
      Object.assign(new Error("Can't add new command when connection is in closed state"), {
        fatal: true,
      }),
    ),
    'unavailable',
  );
  assert.equal(classifyMysqlError(new TypeError('toRow failed')), 'unknown');
  assert.equal(classifyMysqlError(new Error('Pool is closed.')), 'unknown');
  assert.equal(classifyMysqlError('nope'), 'unknown');
  assert.equal(classifyMysqlError(null), 'unknown');
});

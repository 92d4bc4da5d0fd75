/**
 * `sluice/mysql`: the MySQL and MariaDB sink (needs the `mysql2` package).
 *
 * @module sluice/mysql
 */
export { mysqlSink, type MysqlSink, type MysqlSinkOptions } from './mysql-sink.js';
export { classifyMysqlError } from './classify.js';

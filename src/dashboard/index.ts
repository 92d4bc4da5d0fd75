/**
 * `sluice/dashboard`: the live page, for a pipeline in this process or a journal file.
 *
 * @module sluice/dashboard
 */
export {
  startDashboard,
  type Dashboard,
  type DashboardOptions,
  type DashboardPoint,
} from './server.js';
export {
  journalSource,
  pipelineSource,
  type DashboardSample,
  type DashboardSource,
  type PrometheusText,
  type WatchedJournal,
} from './source.js';

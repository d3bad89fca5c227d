export { PostgresAlertStore, SqliteAlertStore, type AlertStore, type AlertFilter, type AlertOpening, type Alert } from './alert-store.js';
export { RuleStateCache, SqliteRuleStateStore, type RuleStateStore } from './rule-state-store.js';
export { PostgresRuleStateRows, SqliteRuleStateRows, type RuleStateRows, type RuleStateWrite } from './rule-state-rows.js';
export { RuleRunner, type AlertEvents, type AppliedEvent, type RuleRunnerDeps } from './rule-runner.js';

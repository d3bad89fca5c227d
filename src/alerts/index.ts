export { SqliteAlertStore, type AlertStore, type AlertFilter, type Alert } from './alert-store.js';
export { SqliteRuleStateStore, type RuleStateStore } from './rule-state-store.js';
export { RuleRunner, type AlertEvents, type AppliedEvent } from './rule-runner.js';

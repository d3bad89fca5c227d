export { AlertStore, type Alert } from './alert-store.js';
export { RuleRunner, type AlertEvents, type AppliedEvent } from './rule-runner.js';

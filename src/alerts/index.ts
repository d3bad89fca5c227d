export { AlertStore, type Alert } from './alert-store.js';
export { RuleRunner, type AppliedEvent } from './rule-runner.js';

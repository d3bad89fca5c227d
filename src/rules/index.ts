export {
  ALERT_TYPES,
  initialRuleState,
  openAlerts,
  type AlertType,
  type BinEvent,
  type BinEventType,
  type BinRuleState,
  type FillPoint,
  type RuleReading,
  type SuspectCause,
} from './types.js';
export { evaluateReading, evaluateReport, evaluateSilence, type RuleResult } from './evaluate.js';
export { resolveRules } from './resolve-rules.js';
export { forecast } from './forecast.js';
export { orderTs, orderTsSql } from './reading-order.js';

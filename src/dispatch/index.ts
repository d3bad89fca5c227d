export { Dispatcher, type DispatchEvents, type DispatcherDeps, type DispatchOutbox, type OutboxResult } from './dispatcher.js';
export { SqliteDispatchStore, PostgresDispatchStore, OPEN_STATUSES, type DispatchStore, type NewJob, type Dispatch, type DispatchStatus, type DispatchFilter, type QueueEntry } from './dispatch-store.js';
export { planJobs, type QueuedBin, type PlannedJob } from './batcher.js';
export { routeOrder, routeKm, mapLink, type Stop } from './route.js';
export { onShift, localMinutes, crewsOnShift } from './shift.js';
export { crewIntent, crewCatalog, templateParams } from './crew-messages.js';

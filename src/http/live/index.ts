export { LiveHub, type LiveEventType, type LiveListener } from './hub.js';
export { ReadingWindow, type ReadingWindowOptions } from './reading-window.js';
export { SandboxFeed } from './sandbox-feed.js';
export { liveEventsRoute, type LiveEventsRouteOptions } from './events-route.js';
export { alertEventView, readingView } from './views.js';

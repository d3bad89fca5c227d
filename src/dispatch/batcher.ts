/** A bin waiting to be dispatched. */
export interface QueuedBin {
  binId: string;
  zone: string;
  queuedAt: number;
  urgent: boolean;
}

export interface PlannedJob {
  zone: string;
  binIds: string[];
  urgent: boolean;
}

/**
 * Which queued bins go out now, grouped into one job per zone. Urgent bins (fire) go at once, each alone.
 * Other bins of a zone wait until the oldest of them has waited `windowMs`, then all of that zone's waiting
 * bins go together (at most maxBinsPerJob to a job). A bin that is already in an open job is dropped from the queue,
 * never sent again.
 */
export function planJobs(
  queue: readonly QueuedBin[],
  now: number,
  windowMs: number,
  inOpenJob: (binId: string) => boolean,
  maxBinsPerJob = Infinity,
): { jobs: PlannedJob[]; dropped: string[]; waiting: QueuedBin[] } {
  const jobs: PlannedJob[] = [];
  const dropped: string[] = [];
  const byZone = new Map<string, QueuedBin[]>();
  const seen = new Set<string>();
  for (const q of queue) {
    if (seen.has(q.binId)) continue;
    seen.add(q.binId);
    if (inOpenJob(q.binId)) {
      dropped.push(q.binId);
      continue;
    }
    if (q.urgent) {
      jobs.push({ zone: q.zone, binIds: [q.binId], urgent: true });
      continue;
    }
    const list = byZone.get(q.zone) ?? [];
    list.push(q);
    byZone.set(q.zone, list);
  }
  const waiting: QueuedBin[] = [];
  for (const [zone, list] of byZone) {
    const oldest = Math.min(...list.map((q) => q.queuedAt));
    if (now - oldest >= windowMs) {
      // one round is as many bins as a crew can take: a longer queue becomes several jobs
      for (let i = 0; i < list.length; i += maxBinsPerJob) jobs.push({ zone, binIds: list.slice(i, i + maxBinsPerJob).map((q) => q.binId), urgent: false });
    }
    else waiting.push(...list);
  }
  return { jobs, dropped, waiting };
}

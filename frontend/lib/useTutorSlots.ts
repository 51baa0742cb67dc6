"use client";

import { useCallback, useEffect, useRef, useState } from "react";
import { api, ApiError, errorMessage } from "./api";
import { liveClient } from "./live";
import { applyChanges, sortedSlots, toSlotMap } from "./slots";
import type { Slot } from "./types";

export interface TutorSlotsState {
  slots: Slot[];
  version: number | null;
  loading: boolean;
  error: string | null;
  notFound: boolean;
  reload: () => void;
}

/**
 * Slots of one tutor in `[fromMs, toMs)`, loaded over REST and kept current by the live
 * feed. The REST answer carries a version; live changes newer than it are applied in
 * order, and changes that raced the request are replayed from the live client's log.
 * When the live feed had to start over (a snapshot newer than ours), or when the view
 * uses a lesson length other than the feed's, the window is simply re-fetched.
 */
export function useTutorSlots(
  tutorId: string | null,
  fromMs: number,
  toMs: number,
  minutes: number | undefined,
  liveExact: boolean,
): TutorSlotsState {
  const [slotMap, setSlotMap] = useState<Map<string, Slot>>(new Map());
  const [version, setVersion] = useState<number | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [notFound, setNotFound] = useState(false);
  const [reloadToken, setReloadToken] = useState(0);
  const mapRef = useRef(slotMap);
  const verRef = useRef<number | null>(null);

  const reload = useCallback(() => setReloadToken((n) => n + 1), []);

  useEffect(() => {
    if (!tutorId) return;
    const live = liveClient();
    const win = { from: fromMs, to: toMs };
    let cancelled = false;
    let loadingNow = true;
    let staleTries = 0;
    let controller: AbortController | null = null;
    let refetchTimer: ReturnType<typeof setTimeout> | null = null;

    const commit = (map: Map<string, Slot>, v: number | null) => {
      mapRef.current = map;
      verRef.current = v;
      setSlotMap(map);
      setVersion(v);
    };

    const load = async (): Promise<void> => {
      loadingNow = true;
      controller?.abort();
      const ac = new AbortController();
      controller = ac;
      try {
        const r = await api.tutors.slots(
          tutorId,
          { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), minutes },
          ac.signal,
        );
        if (cancelled || ac.signal.aborted) return;
        let map = toSlotMap(r.slots.filter((s) => Date.parse(s.start) >= fromMs && Date.parse(s.start) < toMs));
        let v = r.version;
        const missed = live.changesSince(tutorId, v);
        if (missed === "stale" && staleTries < 3) {
          staleTries += 1;
          return load();
        }
        if (missed && missed !== "stale") {
          if (liveExact) {
            map = applyChanges(map, missed.changes, win);
            v = missed.version;
          } else if (staleTries < 3) {
            staleTries += 1;
            return load();
          }
        }
        staleTries = 0;
        loadingNow = false;
        commit(map, v);
        setError(null);
        setNotFound(false);
        setLoading(false);
      } catch (err) {
        if (cancelled || (err instanceof DOMException && err.name === "AbortError")) return;
        loadingNow = false;
        setNotFound(err instanceof ApiError && err.status === 404);
        setError(errorMessage(err));
        setLoading(false);
      }
    };

    const scheduleRefetch = () => {
      if (refetchTimer) clearTimeout(refetchTimer);
      refetchTimer = setTimeout(() => {
        refetchTimer = null;
        if (!cancelled) void load();
      }, 150);
    };

    const unwatch = live.watch(tutorId, (ev) => {
      if (loadingNow) return; // the REST answer replays these from the live log
      const v = verRef.current;
      if (v !== null && ev.version <= v) return;
      if (ev.kind === "snapshot" || !liveExact) {
        scheduleRefetch();
        return;
      }
      commit(applyChanges(mapRef.current, ev.changes, win), ev.version);
    });

    setLoading(true);
    void load();
    return () => {
      cancelled = true;
      controller?.abort();
      if (refetchTimer) clearTimeout(refetchTimer);
      unwatch();
    };
  }, [tutorId, fromMs, toMs, minutes, liveExact, reloadToken]);

  return { slots: sortedSlots(slotMap), version, loading, error, notFound, reload };
}

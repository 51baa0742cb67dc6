/**
 * Pure slot-state helpers shared by the live client and the week view.
 * A slot is keyed by its normalised start instant (`Date#toISOString`), so `...Z` and
 * `...+00:00` spellings of the same instant are one slot.
 */
import type { Slot, SlotChange, SlotStatus } from "./types";

export type SlotMap = ReadonlyMap<string, Slot>;

export function slotKey(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : new Date(t).toISOString();
}

export function toSlotMap(slots: readonly Slot[]): Map<string, Slot> {
  const m = new Map<string, Slot>();
  for (const s of slots) m.set(slotKey(s.start), { ...s });
  return m;
}

export interface Window {
  from: number;
  to: number;
}

function overlaps(slot: Slot, startMs: number, endMs: number): boolean {
  return Date.parse(slot.start) < endMs && Date.parse(slot.end) > startMs;
}

/**
 * Apply `slots.changed` changes in order: "booked" removes every overlapping slot,
 * "held" marks overlapping slots held (adding the slot if it is new), "open" marks the
 * slot and any overlapping held slots open (adding the slot if it is new).
 * New slots are only added inside `window` when one is given.
 */
export function applyChanges(map: SlotMap, changes: readonly SlotChange[], window?: Window): Map<string, Slot> {
  const next = new Map(map);
  for (const c of changes) {
    const startMs = Date.parse(c.start);
    const endMs = Date.parse(c.end);
    if (Number.isNaN(startMs) || Number.isNaN(endMs)) continue;
    const key = slotKey(c.start);
    const inWindow = !window || (startMs >= window.from && startMs < window.to);
    if (c.status === "booked") {
      for (const [k, s] of next) if (overlaps(s, startMs, endMs)) next.delete(k);
      continue;
    }
    const status: SlotStatus = c.status;
    const held_until = status === "held" ? (c.held_until ?? null) : null;
    let touched = false;
    for (const [k, s] of next) {
      if (k === key || (overlaps(s, startMs, endMs) && (status === "held" || s.status === "held"))) {
        next.set(k, { ...s, status, held_until });
        touched = true;
      }
    }
    if (!next.has(key) && inWindow && (!touched || status === "open")) {
      next.set(key, { start: key, end: new Date(endMs).toISOString(), status, held_until });
    }
  }
  return next;
}

/**
 * What a slot means right now: a hold whose `held_until` has passed no longer blocks
 * the slot (the server treats expiry as a query condition), so show it open.
 */
export function effectiveStatus(slot: Slot, now: number): SlotStatus {
  if (slot.status === "held" && slot.held_until) {
    const until = Date.parse(slot.held_until);
    if (!Number.isNaN(until) && until <= now) return "open";
  }
  return slot.status;
}

export function sortedSlots(map: SlotMap): Slot[] {
  return [...map.values()].sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
}

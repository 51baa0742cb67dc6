/** IANA time zones for pickers: the browser's list, with the given zones always in it. */

const FALLBACK = [
  "UTC",
  "Europe/London",
  "Europe/Paris",
  "Europe/Berlin",
  "America/New_York",
  "America/Chicago",
  "America/Denver",
  "America/Los_Angeles",
  "America/Sao_Paulo",
  "Asia/Kolkata",
  "Asia/Singapore",
  "Asia/Tokyo",
  "Australia/Sydney",
];

export function timeZones(...include: (string | null | undefined)[]): string[] {
  let zones: string[] = FALLBACK;
  try {
    const listed = Intl.supportedValuesOf?.("timeZone");
    if (listed && listed.length) zones = listed;
  } catch {
    // An older browser: the short list will do.
  }
  const all = new Set(["UTC", ...zones]);
  for (const z of include) if (z) all.add(z);
  return [...all].sort((a, b) => (a === "UTC" ? -1 : b === "UTC" ? 1 : a.localeCompare(b)));
}

/** "Europe/London (GMT+1)": the zone and its current offset, for option labels. */
export function zoneLabel(zone: string, at: Date = new Date()): string {
  try {
    const part = new Intl.DateTimeFormat("en-GB", { timeZone: zone, timeZoneName: "shortOffset" })
      .formatToParts(at)
      .find((p) => p.type === "timeZoneName");
    const name = zone.replace(/_/g, " ");
    return part ? `${name} (${part.value})` : name;
  } catch {
    return zone;
  }
}

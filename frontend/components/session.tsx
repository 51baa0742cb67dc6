"use client";

import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { api, ApiError } from "@/lib/api";
import type { PublicConfig, User } from "@/lib/types";

interface SessionApi {
  /** `undefined` while loading, `null` when signed out. */
  user: User | null | undefined;
  setUser: (u: User | null) => void;
  reload: () => Promise<void>;
  signOut: () => Promise<void>;
}

const SessionContext = createContext<SessionApi | null>(null);

export function useSession(): SessionApi {
  const ctx = useContext(SessionContext);
  if (!ctx) throw new Error("useSession outside SessionProvider");
  return ctx;
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<User | null | undefined>(undefined);

  const reload = useCallback(async () => {
    try {
      setUser(await api.me());
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) setUser(null);
      else setUser((u) => (u === undefined ? null : u));
    }
  }, []);

  useEffect(() => {
    void reload();
  }, [reload]);

  const signOut = useCallback(async () => {
    try {
      await api.auth.logout();
    } catch {
      // Already signed out server-side: nothing to undo.
    }
    setUser(null);
  }, []);

  const value = useMemo(() => ({ user, setUser, reload, signOut }), [user, reload, signOut]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

// ---- public config (GET /config), fetched once per tab ----------------------------

let configPromise: Promise<PublicConfig> | null = null;

/** Without `/config` the app assumes no optional integration is on. */
const CONFIG_UNAVAILABLE: PublicConfig = {
  stripe_publishable_key: null,
  google_sign_in: false,
  google_calendar: false,
  video_meetings: false,
  email: false,
  uploads: false,
  payouts: false,
  platform_fee_bps: 1500,
};

function loadConfig(): Promise<PublicConfig> {
  if (!configPromise) {
    configPromise = api.config().catch(() => {
      configPromise = null;
      return CONFIG_UNAVAILABLE;
    });
  }
  return configPromise;
}

export function usePublicConfig(): PublicConfig | null {
  const [config, setConfig] = useState<PublicConfig | null>(null);
  useEffect(() => {
    let alive = true;
    void loadConfig().then((c) => alive && setConfig(c));
    return () => {
      alive = false;
    };
  }, []);
  return config;
}

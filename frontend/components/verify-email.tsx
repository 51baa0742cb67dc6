"use client";

import { useSearchParams } from "next/navigation";
import { useEffect, useRef, useState } from "react";
import { api, errorMessage } from "@/lib/api";
import { Alert, ButtonLink, Card, Spinner } from "./ui";

type State = { kind: "working" } | { kind: "done"; email: string } | { kind: "failed"; message: string };

/** Posts the token of the e-mailed link once (`POST /auth/verify-email`) and says how it went. */
export function VerifyEmail() {
  const token = useSearchParams().get("token");
  const [state, setState] = useState<State>(
    token ? { kind: "working" } : { kind: "failed", message: "This link has no token. Open the link from the e-mail again." },
  );
  const sent = useRef(false);

  useEffect(() => {
    // A link works once: do not post it twice (React may run effects twice in development).
    if (!token || sent.current) return;
    sent.current = true;
    api.auth
      .verifyEmail(token)
      .then((user) => setState({ kind: "done", email: user.email }))
      .catch((err: unknown) => setState({ kind: "failed", message: errorMessage(err) }));
  }, [token]);

  return (
    <Card className="mx-auto max-w-md p-6" data-testid="verify-email">
      <h1 className="mb-4 text-xl font-semibold text-slate-900">Confirm your e-mail address</h1>
      {state.kind === "working" && (
        <p className="flex items-center gap-2 text-sm text-slate-600">
          <Spinner /> Checking your link…
        </p>
      )}
      {state.kind === "done" && (
        <Alert kind="success" title="Address confirmed" testId="verify-email-result">
          {state.email} is verified.
        </Alert>
      )}
      {state.kind === "failed" && (
        <Alert kind="error" title="The address was not confirmed" testId="verify-email-result">
          {state.message}
        </Alert>
      )}
      <div className="mt-5">
        <ButtonLink href="/">Continue</ButtonLink>
      </div>
    </Card>
  );
}

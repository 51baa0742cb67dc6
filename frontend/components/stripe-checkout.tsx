"use client";

/**
 * Stripe Elements checkout. Loaded with next/dynamic only when the API's payment
 * provider is "stripe", so Stripe.js is never fetched otherwise (`/pure` does not
 * inject the script until `loadStripe` is called).
 */
import { Elements, PaymentElement, useElements, useStripe } from "@stripe/react-stripe-js";
import type { Stripe } from "@stripe/stripe-js";
import { loadStripe } from "@stripe/stripe-js/pure";
import { useState, type FormEvent } from "react";
import { Alert, Button } from "./ui";

const stripeByKey = new Map<string, Promise<Stripe | null>>();

function stripeFor(key: string): Promise<Stripe | null> {
  let p = stripeByKey.get(key);
  if (!p) {
    p = loadStripe(key);
    stripeByKey.set(key, p);
  }
  return p;
}

export default function StripeCheckout({
  publishableKey,
  clientSecret,
  amountLabel,
  onPaid,
}: {
  publishableKey: string;
  clientSecret: string;
  amountLabel: string;
  onPaid: () => void;
}) {
  return (
    <Elements
      stripe={stripeFor(publishableKey)}
      options={{
        clientSecret,
        appearance: { theme: "stripe", variables: { colorPrimary: "#4f46e5", borderRadius: "12px" } },
      }}
    >
      <PayForm amountLabel={amountLabel} onPaid={onPaid} />
    </Elements>
  );
}

function PayForm({ amountLabel, onPaid }: { amountLabel: string; onPaid: () => void }) {
  const stripe = useStripe();
  const elements = useElements();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    if (!stripe || !elements) return;
    setBusy(true);
    setError(null);
    const { error: err } = await stripe.confirmPayment({
      elements,
      redirect: "if_required",
      confirmParams: { return_url: window.location.href },
    });
    setBusy(false);
    if (err) setError(err.message ?? "The payment did not go through.");
    else onPaid();
  }

  return (
    <form onSubmit={onSubmit} className="space-y-3" data-testid="stripe-form">
      <PaymentElement />
      {error && <Alert testId="payment-error">{error}</Alert>}
      <Button type="submit" className="w-full" loading={busy} disabled={!stripe}>
        Pay {amountLabel}
      </Button>
    </form>
  );
}

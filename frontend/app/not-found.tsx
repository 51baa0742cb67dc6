import Link from "next/link";
import { EmptyState } from "@/components/ui";
import { buttonClass } from "@/lib/classes";

export default function NotFound() {
  return (
    <EmptyState
      icon="compass"
      title="This page wandered off"
      action={
        <Link href="/" className={buttonClass("primary")}>
          Back to tutors
        </Link>
      }
    >
      The link may be old or mistyped.
    </EmptyState>
  );
}

import type { Metadata } from "next";
import { AvailabilityEditorPage } from "@/components/availability-editor";

export const metadata: Metadata = { title: "Availability" };

export default function Page() {
  return <AvailabilityEditorPage />;
}

import type { Metadata } from "next";
import { TutorDashboardPage } from "@/components/tutor-dashboard";

export const metadata: Metadata = { title: "Dashboard" };

export default function Page() {
  return <TutorDashboardPage />;
}

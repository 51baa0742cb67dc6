import type { Metadata } from "next";
import { MyCreditsPage } from "@/components/packages";

export const metadata: Metadata = { title: "My credits" };

export default function Page() {
  return <MyCreditsPage />;
}

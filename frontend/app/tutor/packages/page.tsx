import type { Metadata } from "next";
import { PackageEditorPage } from "@/components/packages";

export const metadata: Metadata = { title: "Lesson packages" };

export default function Page() {
  return <PackageEditorPage />;
}

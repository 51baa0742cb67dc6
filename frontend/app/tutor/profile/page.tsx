import type { Metadata } from "next";
import { TutorProfileEditorPage } from "@/components/tutor-profile-editor";

export const metadata: Metadata = { title: "Tutor profile" };

export default function Page() {
  return <TutorProfileEditorPage />;
}
